//! The referrers API's answer: the manifests and indexes of a repository whose `subject` is a given digest.

use serde::Serialize;

use super::layout::{Descriptor, ManifestView, OCI_INDEX, OCI_MANIFEST};
use super::Store;
use crate::error::Result;
use flotilla_protocol::digest::Digest;

/// The image index the referrers API returns, shaped as Go's `ispec.Index`
/// (an empty `annotations` map is omitted there, so it is here).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReferrersIndex {
    pub schema_version: u32,
    pub media_type: &'static str,
    pub manifests: Vec<Descriptor>,
}

impl Store {
    /// zot's `GetReferrers`: scans `index.json`; a missing repository is an
    /// empty answer, as zot gives. `artifact_types` empty means no filter.
    pub(crate) async fn referrers(
        &self,
        repo: &str,
        subject: &Digest,
        artifact_types: &[String],
    ) -> Result<ReferrersIndex> {
        let mut manifests = Vec::new();
        if self.repo_exists(repo).await {
            let index = self.read_index(repo).await?;
            let subject = subject.to_string();
            let mut seen = std::collections::HashSet::new();
            for desc in &index.manifests {
                if desc.digest == subject || !seen.insert(desc.digest.clone()) {
                    continue;
                }
                if desc.media_type != OCI_MANIFEST && desc.media_type != OCI_INDEX {
                    continue;
                }
                if let Some(found) = self.referrer(repo, desc, &subject, artifact_types).await? {
                    manifests.push(found);
                }
            }
        }
        Ok(ReferrersIndex {
            schema_version: 2,
            media_type: OCI_INDEX,
            manifests,
        })
    }

    async fn referrer(
        &self,
        repo: &str,
        desc: &Descriptor,
        subject: &str,
        artifact_types: &[String],
    ) -> Result<Option<Descriptor>> {
        let Ok(digest) = desc.digest.parse::<Digest>() else {
            return Ok(None);
        };
        let bytes = self.read_blob(repo, &digest).await?;
        let Ok(view) = serde_json::from_slice::<ManifestView>(&bytes) else {
            return Ok(None);
        };
        if view.subject.as_ref().map(|s| s.digest.as_str()) != Some(subject) {
            return Ok(None);
        }
        let artifact_type = view.artifact_type_for(&desc.media_type);
        if !artifact_types.is_empty() && !artifact_types.contains(&artifact_type) {
            return Ok(None);
        }
        Ok(Some(Descriptor {
            media_type: desc.media_type.clone(),
            digest: desc.digest.clone(),
            size: desc.size,
            urls: None,
            annotations: view.annotations,
            data: None,
            platform: None,
            artifact_type: Some(artifact_type).filter(|a| !a.is_empty()),
        }))
    }
}
