//! Moving one repository from a member to its owner: copy everything, verify the copy, then delete the source.
//!
//! Each step looks before it writes, so a run killed at any instant is
//! finished by the next: a blob or manifest the target has is not sent again,
//! and the source is deleted only after every tag, manifest and blob was
//! found on the target. A tag the target already has for another digest is
//! the owner's newer write in the migration window, and stays.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::stream;
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Incoming;

use flotilla_protocol::digest::Digest;

use super::fleet::{Answer, Fleet};
use super::inventory::{self, Inventory};
use super::progress::Progress;
use super::rate::Rate;
use super::Move;
use crate::members::UpstreamBody;

/// What became of one move.
#[derive(Debug)]
pub(super) enum Outcome {
    /// Copied, verified, and deleted from the source.
    Moved {
        tags: usize,
        manifests: usize,
        /// Blob bytes sent (not those the target had or mounted).
        copied: u64,
    },
    /// The source no longer holds the repository: nothing to do.
    Gone,
    /// The source holds an empty layout, with nothing the API can reach.
    Empty,
}

/// Which repository of each target member holds a blob, for mounts.
#[derive(Default)]
pub(super) struct Mounts(Mutex<HashMap<(usize, String), String>>);

impl Mounts {
    fn source(&self, target: usize, digest: &str, repo: &str) -> Option<String> {
        let known = self.0.lock().unwrap_or_else(|p| p.into_inner());
        known
            .get(&(target, digest.to_owned()))
            .filter(|r| r.as_str() != repo)
            .cloned()
    }

    fn record(&self, target: usize, digest: &str, repo: &str) {
        let mut known = self.0.lock().unwrap_or_else(|p| p.into_inner());
        known.insert((target, digest.to_owned()), repo.to_owned());
    }
}

pub(super) struct Mover<'a> {
    pub(super) fleet: &'a Fleet,
    pub(super) rate: Option<Arc<Rate>>,
    pub(super) mounts: &'a Mounts,
    pub(super) progress: Arc<Progress>,
}

impl Mover<'_> {
    pub(super) async fn run(&self, mv: &Move) -> Answer<Outcome> {
        let Some(inventory) = inventory::take(self.fleet, mv.from, &mv.repo).await? else {
            return Ok(Outcome::Gone);
        };
        if inventory.is_empty() {
            self.clear_remnant(mv).await?;
            return Ok(Outcome::Empty);
        }
        let copied = self.copy(mv, &inventory).await?;
        self.verify(mv, &inventory).await?;
        self.settle(mv, &inventory).await?;
        self.delete_source(mv, &inventory).await?;
        Ok(Outcome::Moved {
            tags: inventory.tags.len(),
            manifests: inventory.manifests.len(),
            copied,
        })
    }

    async fn copy(&self, mv: &Move, inventory: &Inventory) -> Answer<u64> {
        let (fleet, repo) = (self.fleet, mv.repo.as_str());
        let mut copied = 0;
        for (digest, &size) in &inventory.blobs {
            copied += self.blob(mv, digest, size).await?;
        }
        for manifest in &inventory.manifests {
            if fleet
                .manifest_digest(mv.to, repo, &manifest.digest)
                .await?
                .is_none()
            {
                fleet
                    .put_manifest(mv.to, repo, &manifest.digest, manifest)
                    .await?;
            }
        }
        for (tag, digest) in &inventory.tags {
            if fleet.manifest_digest(mv.to, repo, tag).await?.is_some() {
                continue;
            }
            let manifest = inventory
                .manifests
                .iter()
                .find(|m| &m.digest == digest)
                .ok_or_else(|| format!("{repo}:{tag} names {digest}, which was not read"))?;
            fleet.put_manifest(mv.to, repo, tag, manifest).await?;
        }
        Ok(copied)
    }

    /// One blob onto the target, unless it is there: mounted from another
    /// repository of the target that has it, else streamed from the source,
    /// hashed on the way and cut off if it does not match its name.
    async fn blob(&self, mv: &Move, digest: &str, size: u64) -> Answer<u64> {
        let (fleet, repo) = (self.fleet, mv.repo.as_str());
        if fleet.blob_size(mv.to, repo, digest).await?.is_some() {
            self.progress.skipped(size);
            self.mounts.record(mv.to, digest, repo);
            return Ok(0);
        }
        let from = self.mounts.source(mv.to, digest, repo);
        let mount = from.as_deref().map(|f| (digest, f));
        let Some(session) = fleet.open_upload(mv.to, repo, mount).await? else {
            self.progress.skipped(size);
            return Ok(0);
        };
        let body = fleet.blob(mv.from, repo, digest).await?;
        let expected: Digest = digest.parse().map_err(|e| format!("{repo}: {e}"))?;
        let body = verified(body, expected, self.rate.clone(), self.progress.clone());
        fleet
            .finish_upload(mv.to, &session, digest, size, body)
            .await?;
        self.mounts.record(mv.to, digest, repo);
        Ok(size)
    }

    /// Every tag, manifest and blob of the inventory is on the target.
    async fn verify(&self, mv: &Move, inventory: &Inventory) -> Answer<()> {
        let (fleet, repo, to) = (self.fleet, mv.repo.as_str(), mv.to);
        let missing = |what: String| {
            format!(
                "verification: {what} is not on {} after the copy; the source is kept",
                fleet.name(to)
            )
        };
        for (digest, &size) in &inventory.blobs {
            match fleet.blob_size(to, repo, digest).await? {
                Some(have) if have == size || size == 0 => {}
                Some(have) => {
                    return Err(missing(format!(
                        "{repo}@{digest} of {size} bytes (it has {have})"
                    )))
                }
                None => return Err(missing(format!("blob {repo}@{digest}"))),
            }
        }
        for manifest in &inventory.manifests {
            if fleet
                .manifest_digest(to, repo, &manifest.digest)
                .await?
                .as_deref()
                != Some(manifest.digest.as_str())
            {
                return Err(missing(format!("manifest {repo}@{}", manifest.digest)));
            }
        }
        for tag in inventory.tags.keys() {
            if fleet.manifest_digest(to, repo, tag).await?.is_none() {
                return Err(missing(format!("tag {repo}:{tag}")));
            }
        }
        Ok(())
    }

    /// Reads the source again. A manifest deleted there during the copy (a
    /// client's delete in the window reaches both owners, maybe before its
    /// copy did) is deleted from the target too; anything new on the source
    /// stops the move, to be taken by the next run.
    async fn settle(&self, mv: &Move, inventory: &Inventory) -> Answer<()> {
        let (fleet, repo) = (self.fleet, mv.repo.as_str());
        let now = fleet.tags(mv.from, repo).await?.unwrap_or_default();
        for tag in &now {
            let digest = fleet.manifest_digest(mv.from, repo, tag).await?;
            if digest.is_some() && inventory.tags.get(tag) != digest.as_ref() {
                return Err(format!(
                    "{repo}:{tag} changed on {} during the copy; run rebalance again",
                    fleet.name(mv.from)
                ));
            }
        }
        for manifest in inventory.manifests.iter().rev() {
            if fleet
                .manifest_digest(mv.from, repo, &manifest.digest)
                .await?
                .is_none()
            {
                fleet
                    .delete(mv.to, repo, "manifests", &manifest.digest)
                    .await?;
            }
        }
        Ok(())
    }

    /// A run killed while deleting the source can leave it holding manifests
    /// no tag reaches and blobs no manifest names: each [`leftovers`] is
    /// deleted. Nothing the owner lacks is touched.
    async fn clear_remnant(&self, mv: &Move) -> Answer<()> {
        let (manifests, blobs) = leftovers(self.fleet, mv).await?;
        for digest in manifests {
            self.fleet
                .delete(mv.from, &mv.repo, "manifests", &digest)
                .await?;
        }
        for digest in blobs {
            self.fleet
                .delete(mv.from, &mv.repo, "blobs", &digest)
                .await?;
        }
        Ok(())
    }

    /// Deletes the source's copy: manifests that name others first (indexes,
    /// referrers), so none is refused as still referenced, then the blobs.
    async fn delete_source(&self, mv: &Move, inventory: &Inventory) -> Answer<()> {
        let (fleet, repo) = (self.fleet, mv.repo.as_str());
        for manifest in inventory.manifests.iter().rev() {
            fleet
                .delete(mv.from, repo, "manifests", &manifest.digest)
                .await?;
        }
        for digest in inventory.blobs.keys() {
            fleet.delete(mv.from, repo, "blobs", digest).await?;
        }
        Ok(())
    }
}

/// What a source that no tag reaches any more still holds of the owner's
/// copy: manifests (those that name others first) and blobs.
pub(super) async fn leftovers(fleet: &Fleet, mv: &Move) -> Answer<(Vec<String>, Vec<String>)> {
    let repo = mv.repo.as_str();
    let Some(owned) = inventory::take(fleet, mv.to, repo).await? else {
        return Ok(Default::default());
    };
    let mut manifests = Vec::new();
    for manifest in owned.manifests.iter().rev() {
        if fleet
            .manifest_digest(mv.from, repo, &manifest.digest)
            .await?
            .is_some()
        {
            manifests.push(manifest.digest.clone());
        }
    }
    let mut blobs = Vec::new();
    for digest in owned.blobs.keys() {
        if fleet.blob_size(mv.from, repo, digest).await?.is_some() {
            blobs.push(digest.clone());
        }
    }
    Ok((manifests, blobs))
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The source's blob body, paced by `rate`, counted, and hashed: at its end
/// a digest other than `expected` fails the body, so the target's upload is
/// cut off and never completes.
fn verified(
    body: Incoming,
    expected: Digest,
    rate: Option<Arc<Rate>>,
    progress: Arc<Progress>,
) -> UpstreamBody {
    struct State {
        body: Incoming,
        hasher: Option<flotilla_protocol::digest::Hasher>,
        expected: Digest,
        rate: Option<Arc<Rate>>,
        progress: Arc<Progress>,
    }
    let hasher = Some(expected.algorithm().hasher());
    let state = State {
        body,
        hasher,
        expected,
        rate,
        progress,
    };
    let frames = stream::unfold(state, |mut s| async move {
        let hasher = s.hasher.as_mut()?;
        match s.body.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    if let Some(rate) = &s.rate {
                        rate.take(data.len()).await;
                    }
                    hasher.update(data);
                    s.progress.copied(data.len() as u64);
                }
                let frame: Frame<Bytes> = frame;
                Some((Ok(frame), s))
            }
            Some(Err(e)) => {
                s.hasher = None;
                Some((Err(Box::new(e) as BoxError), s))
            }
            None => {
                let got = s.hasher.take()?.finish();
                if got == s.expected {
                    None
                } else {
                    let err = format!("the source's blob {} hashes to {got}", s.expected);
                    Some((Err(BoxError::from(err)), s))
                }
            }
        }
    });
    StreamBody::new(frames).boxed()
}
