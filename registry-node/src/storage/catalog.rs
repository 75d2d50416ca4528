//! The list of repositories, in the order zot's local-storage walk produces it.

use std::path::PathBuf;

use super::{Store, SESSIONS_DIR};

/// Directory names the walk never descends into: layout internals, as zot skips them.
fn skipped(name: &str) -> bool {
    matches!(name, "blobs" | ".uploads" | ".sync")
}

impl Store {
    /// Every repository, depth-first with each directory's entries sorted
    /// byte-wise: component-wise lexicographic (`a`, `a/b`, `a-c`), the order
    /// of zot's local driver (zot-reference §2.3.1).
    pub(crate) async fn catalog(&self) -> std::io::Result<Vec<String>> {
        let root = self.root.clone();
        // One blocking task for the whole walk: per-directory async stats
        // cost a thread hand-off each, which dominated large catalogs.
        tokio::task::spawn_blocking(move || walk(&root))
            .await
            .map_err(std::io::Error::other)?
    }

    /// [`Store::catalog`] for callers already off the async threads (the metadata rebuild).
    pub(crate) fn catalog_blocking(&self) -> std::io::Result<Vec<String>> {
        walk(&self.root)
    }
}

/// zot's `ValidateRepo` for the local driver, synchronously: `oci-layout`,
/// `index.json` and a `blobs/` directory.
fn is_layout(dir: &std::path::Path) -> bool {
    dir.join("oci-layout").exists() && dir.join("index.json").exists() && dir.join("blobs").is_dir()
}

/// Repositories under `root`, in walk order.
fn walk(root: &std::path::Path) -> std::io::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack: Vec<(PathBuf, String)> = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        let mut children = Vec::new();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            if !entry.file_type()?.is_dir() {
                continue;
            }
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            // The session store can hold thousands of files: not worth a listing.
            if skipped(&name) || (prefix.is_empty() && name == SESSIONS_DIR) {
                continue;
            }
            children.push(name);
        }
        children.sort();
        // Pushed in reverse so the smallest child is visited next, depth first.
        for name in children.into_iter().rev() {
            let rel = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            stack.push((dir.join(&name), rel));
        }
        if !prefix.is_empty() && flotilla_protocol::name::is_valid(&prefix) && is_layout(&dir) {
            out.push(prefix);
        }
    }
    Ok(out)
}
