//! Upload sessions: bytes stream to `.uploads/<uuid>` while being hashed, and become a blob only once the digest matches.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::Store;
use crate::error::{ErrorCode, NodeError, Result};
use flotilla_protocol::digest::{Algorithm, Digest, Hasher};

/// A client body: chunks of bytes, or the error that cut it short.
pub(crate) type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// What the node knows of one session between requests.
#[derive(Default)]
pub(crate) struct UploadState {
    /// sha256 of the bytes written so far, valid while `hashed == file length`.
    hasher: Option<Hasher>,
    hashed: u64,
}

impl std::fmt::Debug for UploadState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadState")
            .field("hashed", &self.hashed)
            .finish()
    }
}

/// Sessions by `repo/uuid`; each behind its own lock so chunks of one upload
/// are applied one at a time while other uploads go on.
#[derive(Debug, Default)]
pub(super) struct Sessions(Mutex<HashMap<String, Arc<tokio::sync::Mutex<UploadState>>>>);

impl Sessions {
    fn get(&self, key: &str) -> Arc<tokio::sync::Mutex<UploadState>> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(key.to_owned()).or_default().clone()
    }

    fn forget(&self, key: &str) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
    }
}

impl Store {
    /// Starts a session: creates the repository if needed and an empty upload file.
    pub(crate) async fn new_upload(&self, repo: &str) -> Result<String> {
        self.init_repo(repo).await?;
        let id = uuid::Uuid::new_v4().to_string();
        tokio::fs::File::create(self.upload_path(repo, &id)?).await?;
        Ok(id)
    }

    /// Bytes received so far; `BLOB_UPLOAD_UNKNOWN` for an unknown session.
    pub(crate) async fn upload_size(&self, repo: &str, id: &str) -> Result<u64> {
        let path = self.upload_path(repo, id)?;
        match tokio::fs::metadata(&path).await {
            Ok(meta) => Ok(meta.len()),
            Err(_) => Err(upload_unknown(id)),
        }
    }

    /// Appends a chunk. With `from`, the chunk must start where the upload
    /// ends (zot: `416 BLOB_UPLOAD_INVALID` otherwise). Returns the new size.
    pub(crate) async fn append_upload<S, E>(
        &self,
        repo: &str,
        id: &str,
        from: Option<u64>,
        body: S,
    ) -> Result<u64>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: Into<BodyError>,
    {
        let path = self.upload_path(repo, id)?;
        let session = self.uploads.get(&session_key(repo, id));
        let mut state = session.lock().await;
        let size = self.upload_size(repo, id).await?;
        if from.is_some_and(|from| from != size) {
            return Err(NodeError::oci(
                StatusCode::RANGE_NOT_SATISFIABLE,
                ErrorCode::BlobUploadInvalid,
            )
            .with("session_id", id));
        }
        append(&path, size, &mut state, body).await
    }

    /// Finishes a session with an optional last chunk: verifies `digest`, then
    /// renames the data into `blobs/`. On mismatch the session stays as it was.
    pub(crate) async fn finish_upload<S, E>(
        &self,
        repo: &str,
        id: &str,
        digest: &Digest,
        body: S,
    ) -> Result<()>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: Into<BodyError>,
    {
        let path = self.upload_path(repo, id)?;
        let key = session_key(repo, id);
        let session = self.uploads.get(&key);
        let mut state = session.lock().await;
        let size = self.upload_size(repo, id).await?;
        let size = append(&path, size, &mut state, body).await?;
        let actual = match (&state.hasher, digest.algorithm()) {
            (Some(h), alg) if state.hashed == size && h.algorithm() == alg => {
                state.hasher.take().map(Hasher::finish)
            }
            _ => None,
        };
        let actual = match actual {
            Some(d) => d,
            None => hash_file(&path, digest.algorithm()).await?,
        };
        if &actual != digest {
            *state = UploadState::default();
            return Err(digest_invalid(digest));
        }
        super::files::publish(&path, &self.blob_path(repo, digest)).await?;
        drop(state);
        self.uploads.forget(&key);
        Ok(())
    }

    /// A whole blob in one request (`POST ?digest=`): streamed to a temporary
    /// file, verified, published. Returns the session id it used.
    pub(crate) async fn put_blob<S, E>(
        &self,
        repo: &str,
        digest: &Digest,
        body: S,
    ) -> Result<String>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: Into<BodyError>,
    {
        let id = self.new_upload(repo).await?;
        let result = self.finish_upload(repo, &id, digest, body).await;
        if result.is_err() {
            let _ = self.cancel_upload(repo, &id).await;
        }
        result.map(|()| id)
    }

    /// Cancels a session and removes its data.
    pub(crate) async fn cancel_upload(&self, repo: &str, id: &str) -> Result<()> {
        let path = self.upload_path(repo, id)?;
        let key = session_key(repo, id);
        let session = self.uploads.get(&key);
        let _state = session.lock().await;
        let removed = tokio::fs::remove_file(&path).await;
        self.uploads.forget(&key);
        removed.map_err(|_| upload_unknown(id))
    }

    /// Removes every session not written for `delay` (zot's `gcDelay`):
    /// abandoned uploads, and those whose final PUT failed its digest check.
    /// A session being written holds its lock, so it is never cut mid-chunk
    /// (nor does the sweep wait for it).
    /// Returns how many were removed.
    pub(crate) async fn sweep_uploads(&self, delay: std::time::Duration) -> usize {
        let mut removed = 0;
        for repo in self.catalog() {
            let Ok(mut dir) = tokio::fs::read_dir(self.uploads_dir(&repo)).await else {
                continue;
            };
            while let Ok(Some(entry)) = dir.next_entry().await {
                let name = entry.file_name().to_string_lossy().into_owned();
                let Ok(path) = self.upload_path(&repo, &name) else {
                    continue;
                };
                if !idle_for(&path, delay).await {
                    continue;
                }
                let key = session_key(&repo, &name);
                let session = self.uploads.get(&key);
                // A request holding the session is using it: not idle.
                let Ok(_state) = session.try_lock() else {
                    continue;
                };
                if idle_for(&path, delay).await && tokio::fs::remove_file(&path).await.is_ok() {
                    removed += 1;
                }
                self.uploads.forget(&key);
            }
        }
        removed
    }

    /// The session's file. Session ids are UUIDs the node made; anything else
    /// is unknown, which also keeps ids from naming paths.
    fn upload_path(&self, repo: &str, id: &str) -> Result<PathBuf> {
        match uuid::Uuid::parse_str(id) {
            Ok(uuid) if uuid.hyphenated().to_string() == id => Ok(self.uploads_dir(repo).join(id)),
            _ => Err(upload_unknown(id)),
        }
    }
}

/// Was the file last written at least `delay` ago?
async fn idle_for(path: &Path, delay: std::time::Duration) -> bool {
    tokio::fs::metadata(path)
        .await
        .and_then(|meta| meta.modified())
        .is_ok_and(|written| written.elapsed().is_ok_and(|age| age >= delay))
}

fn session_key(repo: &str, id: &str) -> String {
    format!("{repo}/{id}")
}

/// Appends a body to the upload file, extending the running sha256 when it
/// covers the file so far. If a write fails midway the hash is dropped and
/// rebuilt from disk when the upload finishes.
async fn append<S, E>(path: &Path, size: u64, state: &mut UploadState, mut body: S) -> Result<u64>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
    E: Into<BodyError>,
{
    let mut file = tokio::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .await?;
    if state.hashed != size || state.hasher.is_none() {
        state.hasher = (size == 0).then(|| Algorithm::Sha256.hasher());
        state.hashed = 0;
    }
    let mut written = size;
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => {
                file.flush().await?;
                return Err(std::io::Error::other(e.into()).into());
            }
        };
        if let Err(e) = file.write_all(&chunk).await {
            state.hasher = None;
            return Err(e.into());
        }
        written += chunk.len() as u64;
        if let Some(h) = state.hasher.as_mut() {
            h.update(&chunk);
            state.hashed = written;
        }
    }
    file.flush().await?;
    file.sync_data().await?;
    Ok(written)
}

/// Hashes a file from disk: for sessions that outlived a restart, and sha512.
async fn hash_file(path: &Path, algorithm: Algorithm) -> Result<Digest> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut hasher = algorithm.hasher();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finish())
}

pub(crate) fn upload_unknown(id: &str) -> NodeError {
    NodeError::oci(StatusCode::NOT_FOUND, ErrorCode::BlobUploadUnknown).with("session_id", id)
}

pub(crate) fn digest_invalid(digest: &Digest) -> NodeError {
    NodeError::oci(StatusCode::BAD_REQUEST, ErrorCode::DigestInvalid)
        .with("digest", digest.to_string())
}
