//! What one member holds of one repository, as far as the Distribution API can tell: tags, manifests (children, subjects and referrers included) and blobs.

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;

use super::fleet::{Answer, Fleet, Manifest};

/// A repository's content on one member.
#[derive(Debug, Default)]
pub(super) struct Inventory {
    /// Each tag and the digest it names.
    pub(super) tags: BTreeMap<String, String>,
    /// Every manifest reachable from a tag, in an order a registry accepts
    /// them: children and subjects before the manifests that name them.
    pub(super) manifests: Vec<Manifest>,
    /// Every config and layer blob, with its size.
    pub(super) blobs: BTreeMap<String, u64>,
}

impl Inventory {
    pub(super) fn bytes(&self) -> u64 {
        self.blobs.values().sum::<u64>()
            + self
                .manifests
                .iter()
                .map(|m| m.bytes.len() as u64)
                .sum::<u64>()
    }

    /// Nothing the API can reach: the empty layout a move leaves (no API call removes a repository).
    pub(super) fn is_empty(&self) -> bool {
        self.tags.is_empty() && self.manifests.is_empty()
    }
}

/// The parts of a manifest or index that name other content.
#[derive(Deserialize)]
struct References {
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
    #[serde(default)]
    subject: Option<Descriptor>,
}

#[derive(Deserialize)]
struct Descriptor {
    digest: String,
    #[serde(default)]
    size: u64,
}

/// Reads the inventory of `repo` on member `index`; `None` when the member does not hold it.
pub(super) async fn take(fleet: &Fleet, index: usize, repo: &str) -> Answer<Option<Inventory>> {
    let Some(tags) = fleet.tags(index, repo).await? else {
        return Ok(None);
    };
    let mut walk = Walk {
        fleet,
        index,
        repo,
        seen: HashSet::new(),
        inventory: Inventory::default(),
    };
    for tag in tags {
        // A tag deleted since the list was read is simply not there.
        if let Some(manifest) = fleet.manifest(index, repo, &tag).await? {
            walk.inventory.tags.insert(tag, manifest.digest.clone());
            walk.visit(manifest).await?;
        }
    }
    Ok(Some(walk.inventory))
}

struct Walk<'a> {
    fleet: &'a Fleet,
    index: usize,
    repo: &'a str,
    seen: HashSet<String>,
    inventory: Inventory,
}

impl Walk<'_> {
    /// Adds `manifest` after what it names (subject, children, blobs), then its referrers.
    async fn visit(&mut self, manifest: Manifest) -> Answer<()> {
        if !self.seen.insert(manifest.digest.clone()) {
            return Ok(());
        }
        let refs: References = serde_json::from_slice(&manifest.bytes).map_err(|e| {
            format!(
                "{}@{} on {} is not a manifest: {e}",
                self.repo,
                manifest.digest,
                self.fleet.name(self.index)
            )
        })?;
        let named = refs
            .subject
            .iter()
            .chain(&refs.manifests)
            .map(|d| d.digest.clone())
            .collect::<Vec<_>>();
        for digest in named {
            if self.seen.contains(&digest) {
                continue;
            }
            // A subject may be absent (OCI 1.1 allows pushing a referrer first).
            if let Some(child) = self.fleet.manifest(self.index, self.repo, &digest).await? {
                Box::pin(self.visit(child)).await?;
            }
        }
        for blob in refs.config.iter().chain(&refs.layers) {
            self.inventory.blobs.insert(blob.digest.clone(), blob.size);
        }
        let digest = manifest.digest.clone();
        self.inventory.manifests.push(manifest);
        for referrer in self.fleet.referrers(self.index, self.repo, &digest).await? {
            if self.seen.contains(&referrer) {
                continue;
            }
            if let Some(m) = self
                .fleet
                .manifest(self.index, self.repo, &referrer)
                .await?
            {
                Box::pin(self.visit(m)).await?;
            }
        }
        Ok(())
    }
}
