//! Blobs: content-addressed files under `blobs/<alg>/<hex>`: stat, read, delete, and mount from another repository.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use http::StatusCode;

use super::layout::{is_index_media_type, ManifestView};
use super::Store;
use crate::error::{ErrorCode, NodeError, Result};
use flotilla_protocol::digest::Digest;

impl Store {
    pub(crate) fn blob_path(&self, repo: &str, digest: &Digest) -> PathBuf {
        self.repo_dir(repo)
            .join("blobs")
            .join(digest.algorithm().as_str())
            .join(digest.hex())
    }

    /// The blob's size, or `None` when the repository does not hold it.
    pub(crate) async fn stat_blob(&self, repo: &str, digest: &Digest) -> Option<u64> {
        let meta = tokio::fs::metadata(self.blob_path(repo, digest))
            .await
            .ok()?;
        meta.is_file().then_some(meta.len())
    }

    /// Opens a blob for streaming; `BLOB_UNKNOWN` if absent.
    pub(crate) async fn open_blob(
        &self,
        repo: &str,
        digest: &Digest,
    ) -> Result<(tokio::fs::File, u64)> {
        match tokio::fs::File::open(self.blob_path(repo, digest)).await {
            Ok(file) => {
                let len = file.metadata().await?.len();
                Ok((file, len))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(blob_unknown(digest)),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads a small blob (a manifest) whole.
    pub(crate) async fn read_blob(&self, repo: &str, digest: &Digest) -> Result<Vec<u8>> {
        match tokio::fs::read(self.blob_path(repo, digest)).await {
            Ok(bytes) => Ok(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(blob_unknown(digest)),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes a blob that no manifest of the repository refers to (zot: a
    /// referenced blob is `405 DENIED`).
    pub(crate) async fn delete_blob(&self, repo: &str, digest: &Digest) -> Result<()> {
        self.require_repo(repo).await?;
        let lock = self.repo_lock(repo);
        let _guard = lock.lock().await;
        if self.stat_blob(repo, digest).await.is_none() {
            return Err(blob_unknown(digest));
        }
        if self
            .referenced_blobs(repo)
            .await?
            .contains(&digest.to_string())
        {
            return Err(
                NodeError::oci(StatusCode::METHOD_NOT_ALLOWED, ErrorCode::Denied)
                    .with("digest", digest.to_string()),
            );
        }
        match tokio::fs::remove_file(self.blob_path(repo, digest)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(blob_unknown(digest)),
            Err(e) => Err(e.into()),
        }
    }

    /// Every digest the repository's manifests use: the manifests themselves,
    /// their configs and layers, and the children of indexes.
    pub(crate) async fn referenced_blobs(&self, repo: &str) -> Result<HashSet<String>> {
        Ok(self.blob_descriptors(repo).await?.keys().cloned().collect())
    }

    /// The media type a manifest of the repository gives `digest`, as zot's
    /// `resolveBlobResponseMediaType` finds it (parameters stripped).
    pub(crate) async fn blob_media_type(&self, repo: &str, digest: &Digest) -> Option<String> {
        let described = self.blob_descriptors(repo).await.ok()?;
        let found = described.get(&digest.to_string())?;
        let base = found.split(';').next().unwrap_or("").trim().to_owned();
        (!base.is_empty() && base.contains('/')).then_some(base)
    }

    /// Digest → media type for everything the repository's manifests
    /// reference, computed again only when `index.json` has changed.
    async fn blob_descriptors(&self, repo: &str) -> Result<MediaTypes> {
        // The stamp is taken before the read: a file replaced in between is
        // read new under the old stamp, which only costs a recomputation.
        let stamp = IndexStamp::of(&self.index_path(repo)).await;
        if let Some(found) = stamp.as_ref().and_then(|s| self.described.get(repo, s)) {
            return Ok(found);
        }
        let found = Arc::new(self.read_descriptors(repo).await?);
        if let Some(stamp) = stamp {
            self.described.put(repo, stamp, found.clone());
        }
        Ok(found)
    }

    async fn read_descriptors(&self, repo: &str) -> Result<HashMap<String, String>> {
        let index = self.read_index(repo).await?;
        let mut seen = HashMap::new();
        let mut todo: Vec<(String, String)> = index
            .manifests
            .iter()
            .map(|d| (d.digest.clone(), d.media_type.clone()))
            .collect();
        while let Some((digest, media_type)) = todo.pop() {
            if seen.insert(digest.clone(), media_type.clone()).is_some() {
                continue;
            }
            let Ok(parsed) = digest.parse::<Digest>() else {
                continue;
            };
            let Ok(bytes) = self.read_blob(repo, &parsed).await else {
                continue;
            };
            let Ok(view) = serde_json::from_slice::<ManifestView>(&bytes) else {
                continue;
            };
            if is_index_media_type(&media_type) {
                for child in view.manifests.unwrap_or_default() {
                    todo.push((child.digest, child.media_type));
                }
            } else {
                for blob in view
                    .config
                    .into_iter()
                    .chain(view.layers.unwrap_or_default())
                {
                    seen.entry(blob.digest).or_insert(blob.media_type);
                }
            }
        }
        Ok(seen)
    }

    /// Makes `digest` present in `repo` by linking it from `from`, if `from`
    /// holds it. Hard links share the immutable file; copying is the fallback
    /// where links are refused. Returns whether the blob is now present.
    pub(crate) async fn mount_blob(&self, repo: &str, from: &str, digest: &Digest) -> Result<bool> {
        if self.stat_blob(repo, digest).await.is_some() {
            return Ok(true);
        }
        if self.stat_blob(from, digest).await.is_none() {
            return Ok(false);
        }
        self.init_repo(repo).await?;
        let src = self.blob_path(from, digest);
        let dest = self.blob_path(repo, digest);
        if let Some(parent) = dest.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        let tmp = self
            .uploads_dir(repo)
            .join(format!("mount.{}", uuid::Uuid::new_v4()));
        if tokio::fs::hard_link(&src, &tmp).await.is_err() {
            tokio::fs::copy(&src, &tmp).await?;
        }
        super::files::publish(&tmp, &dest).await?;
        Ok(true)
    }
}

pub(crate) fn blob_unknown(digest: &Digest) -> NodeError {
    NodeError::oci(StatusCode::NOT_FOUND, ErrorCode::BlobUnknown).with("digest", digest.to_string())
}

/// Which `index.json` a computation was made from: it is only ever replaced
/// by a rename, so a new file has a new inode (and most often a new size
/// and time too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct IndexStamp {
    inode: u64,
    len: u64,
    modified: Option<std::time::SystemTime>,
}

impl IndexStamp {
    async fn of(path: &Path) -> Option<Self> {
        let meta = tokio::fs::metadata(path).await.ok()?;
        Some(Self {
            inode: meta.ino(),
            len: meta.len(),
            modified: meta.modified().ok(),
        })
    }
}

/// Most repositories whose blob media types are kept; past it the memory
/// is given back and the next requests compute them again.
const DESCRIBED_REPOS: usize = 4096;

/// Digest → media type, for one repository's blobs.
type MediaTypes = Arc<HashMap<String, String>>;

/// Per repository, its blobs' media types and the `index.json` they were read from.
#[derive(Debug, Default)]
pub(super) struct Described(Mutex<HashMap<String, (IndexStamp, MediaTypes)>>);

impl Described {
    fn get(&self, repo: &str, stamp: &IndexStamp) -> Option<MediaTypes> {
        let kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        kept.get(repo)
            .filter(|(s, _)| s == stamp)
            .map(|(_, found)| found.clone())
    }

    fn put(&self, repo: &str, stamp: IndexStamp, found: MediaTypes) {
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() >= DESCRIBED_REPOS && !kept.contains_key(repo) {
            kept.clear();
        }
        kept.insert(repo.to_owned(), (stamp, found));
    }
}
