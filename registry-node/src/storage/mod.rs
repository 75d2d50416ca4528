//! One OCI image layout per repository under the root directory, laid out exactly as zot lays it out.
//!
//! ```text
//! <root>/<repo>/oci-layout            {"imageLayoutVersion":"1.0.0"}
//! <root>/<repo>/index.json            tags and untagged manifests
//! <root>/<repo>/blobs/<alg>/<hex>     content, named by digest
//! <root>/<repo>/.uploads/<uuid>       upload sessions and temporary files
//! <root>/_sessions/session_<sha256>    UI login sessions (`auth`), never a repository
//! ```
//!
//! Every object becomes visible by a rename after its digest is verified, so a
//! crash or a killed client never leaves a half-written blob, manifest or
//! index. Writers of one repository's `index.json` take that repository's lock.

mod blobs;
mod catalog;
mod files;
pub(crate) mod layout;
mod manifests;
mod referrers;
mod uploads;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use http::StatusCode;

use crate::error::{ErrorCode, NodeError, Result};
use layout::Index;

pub(crate) use files::write_atomic;
pub(crate) use manifests::ManifestPut;
pub(crate) use uploads::BodyError;

const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;
pub(crate) const UPLOADS_DIR: &str = ".uploads";
/// Where the UI login sessions live under the root. A name starting with `_`
/// is outside the repository grammar, and the catalog walk never enters it.
pub(crate) const SESSIONS_DIR: &str = "_sessions";

/// The node's storage: a root directory and the per-repository write locks.
#[derive(Debug)]
pub(crate) struct Store {
    root: PathBuf,
    /// One lock per repository that has been written since start; guards the
    /// read-modify-write of `index.json` so concurrent pushes never lose a tag.
    repo_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Upload sessions in progress: the running hash, so finishing an upload
    /// does not read the data back. Lost on restart, then rebuilt from disk.
    uploads: uploads::Sessions,
    /// What each repository's manifests say of its blobs' media types, so a
    /// blob GET does not read every manifest; see `blobs::Described`.
    described: blobs::Described,
    /// Every repository, in zot's walk order: walked at open, then kept by `init_repo`.
    catalog: catalog::Catalog,
}

impl Store {
    /// Opens (creating if needed) the storage root, and walks it once for the catalog.
    pub(crate) fn open(root: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(root)?;
        Ok(Self {
            catalog: catalog::Catalog::load(root)?,
            root: root.to_path_buf(),
            repo_locks: Mutex::default(),
            uploads: uploads::Sessions::default(),
            described: blobs::Described::default(),
        })
    }

    fn repo_dir(&self, repo: &str) -> PathBuf {
        self.root.join(repo)
    }

    /// A repository's `index.json`, for readers that bypass the async API.
    pub(crate) fn index_path(&self, repo: &str) -> PathBuf {
        self.repo_dir(repo).join("index.json")
    }

    fn repo_lock(&self, repo: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.repo_locks.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(repo.to_owned()).or_default().clone()
    }

    /// zot's `ValidateRepo` for the local driver: a directory holding
    /// `oci-layout`, `index.json` and `blobs/`.
    pub(crate) async fn repo_exists(&self, repo: &str) -> bool {
        let dir = self.repo_dir(repo);
        let (layout, index, blobs) = tokio::join!(
            tokio::fs::metadata(dir.join("oci-layout")),
            tokio::fs::metadata(dir.join("index.json")),
            tokio::fs::metadata(dir.join("blobs")),
        );
        layout.is_ok() && index.is_ok() && blobs.is_ok_and(|m| m.is_dir())
    }

    /// A repository that must exist for the request to go on.
    pub(crate) async fn require_repo(&self, repo: &str) -> Result<()> {
        if self.repo_exists(repo).await {
            Ok(())
        } else {
            Err(name_unknown(repo))
        }
    }

    /// zot's `initRepo`: creates the layout if missing; never touches an existing one.
    pub(crate) async fn init_repo(&self, repo: &str) -> Result<()> {
        let dir = self.repo_dir(repo);
        self.refuse_nested_in_layout(repo).await?;
        tokio::fs::create_dir_all(dir.join("blobs")).await?;
        tokio::fs::create_dir_all(dir.join(UPLOADS_DIR)).await?;
        if tokio::fs::metadata(dir.join("oci-layout")).await.is_err() {
            files::write_atomic(&dir, "oci-layout", OCI_LAYOUT).await?;
        }
        if tokio::fs::metadata(dir.join("index.json")).await.is_err() {
            let body = serde_json::to_vec(&Index::new()).map_err(corrupt)?;
            files::write_atomic(&dir, "index.json", &body).await?;
        }
        // Listed once it is a whole layout, as zot's walk lists it.
        if flotilla_protocol::name::is_valid(repo) {
            self.catalog.insert(repo);
        }
        Ok(())
    }

    /// A name such as `a/blobs/sha256` would put a repository inside the
    /// layout of repository `a`; refuse it rather than corrupt `a`.
    async fn refuse_nested_in_layout(&self, repo: &str) -> Result<()> {
        let parts: Vec<&str> = repo.split('/').collect();
        for i in 1..parts.len() {
            let reserved = matches!(parts[i], "blobs" | "index.json" | "oci-layout");
            if reserved && self.repo_exists(&parts[..i].join("/")).await {
                return Err(
                    NodeError::oci(StatusCode::BAD_REQUEST, ErrorCode::NameInvalid)
                        .with("name", repo),
                );
            }
        }
        Ok(())
    }

    pub(crate) async fn read_index(&self, repo: &str) -> Result<Index> {
        let path = self.repo_dir(repo).join("index.json");
        let bytes = match tokio::fs::read(&path).await {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(name_unknown(repo)),
            Err(e) => return Err(e.into()),
        };
        serde_json::from_slice(&bytes)
            .map_err(|e| NodeError::Corrupt(format!("{repo}/index.json: {e}")))
    }

    async fn write_index(&self, repo: &str, index: &Index) -> Result<()> {
        let body = serde_json::to_vec(index).map_err(corrupt)?;
        files::write_atomic(&self.repo_dir(repo), "index.json", &body).await?;
        Ok(())
    }

    /// Tags in the byte-wise order zot's `tags/list` uses.
    pub(crate) async fn tags(&self, repo: &str) -> Result<Vec<String>> {
        self.require_repo(repo).await?;
        let mut tags = self.read_index(repo).await?.tags();
        tags.sort();
        Ok(tags)
    }

    fn uploads_dir(&self, repo: &str) -> PathBuf {
        self.repo_dir(repo).join(UPLOADS_DIR)
    }
}

pub(crate) fn name_unknown(repo: &str) -> NodeError {
    NodeError::oci(StatusCode::NOT_FOUND, ErrorCode::NameUnknown).with("name", repo)
}

fn corrupt(e: serde_json::Error) -> NodeError {
    NodeError::Corrupt(e.to_string())
}

#[cfg(test)]
mod tests;
