//! Manifests and indexes: read by tag or digest, validated and stored on push, removed on delete, with zot's `index.json` rules.

use bytes::Bytes;
use http::StatusCode;

use super::layout::{
    is_index_media_type, Descriptor, Index, ManifestView, DOCKER_LIST, DOCKER_MANIFEST, OCI_EMPTY,
    OCI_IMAGE_CONFIG, OCI_INDEX, OCI_MANIFEST, REF_NAME,
};
use super::{files, Store};
use crate::error::{ErrorCode, NodeError, Result};
use flotilla_protocol::digest::{Algorithm, Digest};

/// A manifest as stored: its bytes, digest and the media type it was pushed with.
#[derive(Debug, Clone)]
pub(crate) struct StoredManifest {
    pub body: Bytes,
    pub digest: String,
    pub media_type: String,
}

/// A manifest push, already checked at the HTTP edge (media type supported, size within limit).
#[derive(Debug)]
pub(crate) struct ManifestPut<'a> {
    pub repo: &'a str,
    /// A tag, or the digest the body must hash to.
    pub reference: &'a str,
    pub media_type: &'a str,
    pub body: Bytes,
    /// `?tag=` values of a push by digest, de-duplicated in order.
    pub extra_tags: Vec<String>,
}

/// What a push did: the manifest's digest and, if it has one, its subject.
#[derive(Debug, Clone)]
pub(crate) struct Pushed {
    pub digest: Digest,
    pub subject: Option<String>,
}

impl Store {
    /// zot's `GetImageManifest`: the manifest named by tag or digest in `index.json`.
    pub(crate) async fn get_manifest(&self, repo: &str, reference: &str) -> Result<StoredManifest> {
        self.require_repo(repo).await?;
        let index = self.read_index(repo).await?;
        let desc = index
            .find(reference)
            .ok_or_else(|| manifest_unknown(reference))?;
        let digest: Digest = desc.digest.parse().map_err(|_| {
            NodeError::Corrupt(format!("{repo}/index.json: digest {}", desc.digest))
        })?;
        let body = match self.read_blob(repo, &digest).await {
            Ok(body) => body,
            Err(NodeError::Oci { .. }) => return Err(manifest_unknown(reference)),
            Err(e) => return Err(e),
        };
        Ok(StoredManifest {
            body: body.into(),
            digest: desc.digest.clone(),
            media_type: desc.media_type.clone(),
        })
    }

    /// zot's `PutImageManifest`: validate, write the blob, then update `index.json`.
    pub(crate) async fn put_manifest(&self, put: ManifestPut<'_>) -> Result<Pushed> {
        let repo = put.repo;
        self.init_repo(repo).await?;
        let by_digest = put.reference.parse::<Digest>().ok();
        let algorithm = by_digest
            .as_ref()
            .map_or(Algorithm::Sha256, Digest::algorithm);
        let digest = Digest::of(algorithm, &put.body);
        if by_digest.as_ref().is_some_and(|d| d != &digest) {
            return Err(manifest_invalid(put.reference));
        }
        let view = self.validate_manifest(&put).await?;

        let lock = self.repo_lock(repo);
        let _guard = lock.lock().await;
        let blob = self.blob_path(repo, &digest);
        let stored_len = tokio::fs::metadata(&blob).await.map(|m| m.len()).ok();
        if stored_len != Some(put.body.len() as u64) {
            let rel = format!("blobs/{}/{}", digest.algorithm().as_str(), digest.hex());
            files::write_atomic(&self.repo_dir(repo), &rel, &put.body).await?;
        }
        let mut index = self.read_index(repo).await?;
        let desc = Descriptor {
            media_type: put.media_type.to_owned(),
            digest: digest.to_string(),
            size: put.body.len() as i64,
            urls: None,
            annotations: None,
            data: None,
            platform: None,
            artifact_type: None,
        };
        let tags: Vec<String> = match (&by_digest, put.extra_tags.is_empty()) {
            (Some(_), true) => Vec::new(),
            (Some(_), false) => put.extra_tags.clone(),
            (None, _) => vec![put.reference.to_owned()],
        };
        if update_index(&mut index, &desc, &tags) {
            self.write_index(repo, &index).await?;
        }
        Ok(Pushed {
            digest,
            subject: view.subject.map(|s| s.digest),
        })
    }

    /// zot's `ValidateManifest`, plus the JSON-shape checks its schema validation makes.
    async fn validate_manifest(&self, put: &ManifestPut<'_>) -> Result<ManifestView> {
        let invalid = || manifest_invalid(put.reference);
        let view: ManifestView = serde_json::from_slice(&put.body).map_err(|_| invalid())?;
        if view.schema_version != Some(2) {
            return Err(invalid());
        }
        if view
            .media_type
            .as_deref()
            .is_some_and(|m| m != put.media_type)
        {
            return Err(invalid().with("mediaType", put.media_type));
        }
        let mut must_exist = Vec::new();
        match put.media_type {
            OCI_MANIFEST | DOCKER_MANIFEST => {
                let config = view.config.as_ref().ok_or_else(invalid)?;
                let layers = view.layers.as_ref();
                let checked = put.media_type == DOCKER_MANIFEST
                    || matches!(config.media_type.as_str(), OCI_IMAGE_CONFIG | OCI_EMPTY);
                if checked {
                    must_exist.push(&config.digest);
                    for layer in layers.into_iter().flatten() {
                        if !layer.media_type.contains("nondistributable") {
                            must_exist.push(&layer.digest);
                        }
                    }
                }
                for blob in std::iter::once(config).chain(layers.into_iter().flatten()) {
                    blob.digest.parse::<Digest>().map_err(|_| invalid())?;
                }
            }
            OCI_INDEX | DOCKER_LIST => {
                for child in view.manifests.as_ref().ok_or_else(invalid)? {
                    must_exist.push(&child.digest);
                }
            }
            _ => return Err(invalid().with("mediaType", put.media_type)),
        }
        for digest in must_exist {
            let digest: Digest = digest.parse().map_err(|_| invalid())?;
            if self.stat_blob(put.repo, &digest).await.is_none() {
                return Err(invalid());
            }
        }
        Ok(view)
    }

    /// zot's `DeleteImageManifest`: by tag removes the tag (the manifest stays
    /// reachable by digest); by digest removes every descriptor of it, unless
    /// an index in the repository still refers to it. With
    /// `detect_collisions`, a reference matching several descriptors is `409`.
    /// Returns the descriptor removed, for the metadata hooks.
    pub(crate) async fn delete_manifest(
        &self,
        repo: &str,
        reference: &str,
        detect_collisions: bool,
    ) -> Result<Descriptor> {
        if !self.repo_exists(repo).await {
            return Err(
                NodeError::oci(StatusCode::BAD_REQUEST, ErrorCode::NameUnknown).with("name", repo),
            );
        }
        let lock = self.repo_lock(repo);
        let _guard = lock.lock().await;
        let mut index = self.read_index(repo).await?;
        let matching = index
            .manifests
            .iter()
            .filter(|d| d.digest == reference || d.tag() == Some(reference));
        if detect_collisions && matching.count() > 1 {
            return Err(
                NodeError::oci(StatusCode::CONFLICT, ErrorCode::ManifestInvalid)
                    .with("reference", reference),
            );
        }
        let removed =
            remove_reference(&mut index, reference).ok_or_else(|| manifest_unknown(reference))?;
        let removed_digest: Digest = removed.digest.parse().map_err(|_| {
            NodeError::Corrupt(format!("{repo}/index.json: digest {}", removed.digest))
        })?;
        if reference.parse::<Digest>().is_ok()
            && self.in_some_index(repo, &index, &removed.digest).await
        {
            return Err(
                NodeError::oci(StatusCode::METHOD_NOT_ALLOWED, ErrorCode::Denied)
                    .with("reference", reference),
            );
        }
        self.write_index(repo, &index).await?;
        if !index.manifests.iter().any(|d| d.digest == removed.digest) {
            match tokio::fs::remove_file(self.blob_path(repo, &removed_digest)).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(removed)
    }

    /// Is `digest` a child of an index that `index.json` still lists?
    async fn in_some_index(&self, repo: &str, index: &Index, digest: &str) -> bool {
        for desc in index
            .manifests
            .iter()
            .filter(|d| is_index_media_type(&d.media_type))
        {
            let Ok(parsed) = desc.digest.parse::<Digest>() else {
                continue;
            };
            let Ok(bytes) = self.read_blob(repo, &parsed).await else {
                continue;
            };
            let Ok(view) = serde_json::from_slice::<ManifestView>(&bytes) else {
                continue;
            };
            if view
                .manifests
                .unwrap_or_default()
                .iter()
                .any(|m| m.digest == digest)
            {
                return true;
            }
        }
        false
    }
}

/// zot's `CheckIfIndexNeedsUpdate` and the descriptor bookkeeping around it.
/// `tags` empty means a push by digest. Returns whether `index` changed.
fn update_index(index: &mut Index, desc: &Descriptor, tags: &[String]) -> bool {
    if tags.is_empty() {
        if index.manifests.iter().any(|d| d.digest == desc.digest) {
            return false;
        }
        index.manifests.push(desc.clone());
        return true;
    }
    let before = index.manifests.len();
    // A manifest first pushed by digest loses its untagged entry once tagged.
    index
        .manifests
        .retain(|d| !(d.tag().is_none() && d.digest == desc.digest));
    let mut changed = index.manifests.len() != before;
    for tag in tags {
        match index.manifests.iter().position(|d| d.tag() == Some(tag)) {
            Some(i) if index.manifests[i].digest == desc.digest => continue,
            Some(i) => {
                index.manifests.remove(i);
            }
            None => {}
        }
        let mut tagged = desc.clone();
        tagged.annotations = Some([(REF_NAME.to_owned(), tag.clone())].into());
        index.manifests.push(tagged);
        changed = true;
    }
    changed
}

/// zot's `RemoveManifestDescByReference`: removes every descriptor matching
/// the tag or digest; a tag's last descriptor is kept untagged.
fn remove_reference(index: &mut Index, reference: &str) -> Option<Descriptor> {
    let mut removed = None;
    let mut by_tag = false;
    let mut counts = std::collections::HashMap::<String, usize>::new();
    let mut kept = Vec::with_capacity(index.manifests.len());
    for desc in index.manifests.drain(..) {
        *counts.entry(desc.digest.clone()).or_default() += 1;
        if desc.tag() == Some(reference) {
            by_tag = true;
            removed = Some(desc);
        } else if desc.digest == reference {
            removed = Some(desc);
        } else {
            kept.push(desc);
        }
    }
    index.manifests = kept;
    let removed = removed?;
    if by_tag && counts.get(&removed.digest) == Some(&1) {
        let mut untagged = removed.clone();
        if let Some(annotations) = untagged.annotations.as_mut() {
            annotations.remove(REF_NAME);
        }
        index.manifests.push(untagged);
    }
    Some(removed)
}

pub(crate) fn manifest_unknown(reference: &str) -> NodeError {
    NodeError::oci(StatusCode::NOT_FOUND, ErrorCode::ManifestUnknown).with("reference", reference)
}

fn manifest_invalid(reference: &str) -> NodeError {
    NodeError::oci(StatusCode::BAD_REQUEST, ErrorCode::ManifestInvalid).with("reference", reference)
}

#[cfg(test)]
mod index_tests {
    use super::*;

    fn desc(digest: &str) -> Descriptor {
        serde_json::from_value(
            serde_json::json!({"mediaType": OCI_MANIFEST, "digest": digest, "size": 1}),
        )
        .unwrap()
    }

    #[test]
    fn retagging_moves_the_tag_and_keeps_one_entry() {
        let mut index = Index::new();
        assert!(update_index(&mut index, &desc("sha256:a"), &["v1".into()]));
        assert!(!update_index(&mut index, &desc("sha256:a"), &["v1".into()]));
        assert!(update_index(&mut index, &desc("sha256:b"), &["v1".into()]));
        assert_eq!(index.manifests.len(), 1);
        assert_eq!(index.find("v1").unwrap().digest, "sha256:b");
    }

    #[test]
    fn tagging_a_digest_push_replaces_its_untagged_entry() {
        let mut index = Index::new();
        assert!(update_index(&mut index, &desc("sha256:a"), &[]));
        assert!(!update_index(&mut index, &desc("sha256:a"), &[]));
        assert!(update_index(
            &mut index,
            &desc("sha256:a"),
            &["v1".into(), "v2".into()]
        ));
        assert_eq!(index.tags(), vec!["v1", "v2"]);
        assert_eq!(index.manifests.len(), 2);
    }

    #[test]
    fn deleting_the_last_tag_keeps_the_manifest_by_digest() {
        let mut index = Index::new();
        update_index(&mut index, &desc("sha256:a"), &["v1".into()]);
        let removed = remove_reference(&mut index, "v1").unwrap();
        assert_eq!(removed.digest, "sha256:a");
        assert!(index.tags().is_empty());
        assert!(index.find("sha256:a").is_some());
        assert!(remove_reference(&mut index, "sha256:a").is_some());
        assert!(index.manifests.is_empty());
        assert!(remove_reference(&mut index, "v1").is_none());
    }
}
