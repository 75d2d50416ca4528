//! Small files made visible atomically: written beside their target, synced, then renamed into place.

use std::path::Path;

use tokio::io::AsyncWriteExt;

use super::UPLOADS_DIR;

/// Writes `repo_dir/rel` so readers see either the old file or the whole new
/// one. The temporary file lives in the directory's `.uploads/` (a
/// repository's, or the UI session store's), which catalog walks skip, so a
/// crash leaves nothing visible.
pub(crate) async fn write_atomic(repo_dir: &Path, rel: &str, body: &[u8]) -> std::io::Result<()> {
    let tmp_dir = repo_dir.join(UPLOADS_DIR);
    tokio::fs::create_dir_all(&tmp_dir).await?;
    let tmp = tmp_dir.join(format!("write.{}", uuid::Uuid::new_v4()));
    let mut file = tokio::fs::File::create(&tmp).await?;
    let written = async {
        file.write_all(body).await?;
        file.sync_data().await
    }
    .await;
    if let Err(e) = written {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(e);
    }
    drop(file);
    publish(&tmp, &repo_dir.join(rel)).await
}

/// Renames a finished temporary file to its final name and syncs the
/// directory, so the rename itself survives a power loss.
pub(super) async fn publish(tmp: &Path, dest: &Path) -> std::io::Result<()> {
    if let Some(parent) = dest.parent() {
        tokio::fs::create_dir_all(parent).await?;
    }
    tokio::fs::rename(tmp, dest).await?;
    if let Some(parent) = dest.parent() {
        let parent = parent.to_path_buf();
        // A directory fsync is best effort: some filesystems refuse it.
        let _ = tokio::task::spawn_blocking(move || std::fs::File::open(parent)?.sync_all()).await;
    }
    Ok(())
}
