//! One repository's metadata, changed by zot's rules: `SetRepoReference`, `RemoveRepoReference`, signatures, downloads, and the repository fields derived from tags.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use time::OffsetDateTime;

use super::image::{Image, Platform};
use super::signature::Tool;
use flotilla_protocol::digest::Digest;

/// A tag: what it names and when it was first set.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TagRef {
    pub digest: String,
    pub media_type: &'static str,
    /// When the tag was created; a tag moved to another image keeps it (zot).
    pub tagged: Option<OffsetDateTime>,
}

/// zot's `DescriptorStatistics` for one manifest or index. `Some(UNIX_EPOCH)`
/// is zot's empty protobuf timestamp, which it shows as 1970; `None` is Go's
/// zero time, shown as `null`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Stats {
    pub downloads: i64,
    pub last_pull: Option<OffsetDateTime>,
    pub pushed: Option<OffsetDateTime>,
    pub pushed_by: String,
}

/// One signature manifest; a `SignatureSummary` is given per layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Signature {
    pub digest: String,
    pub layers: usize,
}

/// A manifest or index whose subject is another one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Referrer {
    pub digest: String,
    pub media_type: &'static str,
    pub artifact_type: String,
    pub size: i64,
    pub annotations: BTreeMap<String, String>,
    /// How many references recorded it; it goes when the count reaches 0.
    pub count: i64,
}

/// zot's `LastUpdatedImage`: the tag and image `NewestImage` shows.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Newest {
    pub digest: String,
    pub tag: String,
    pub updated: Option<OffsetDateTime>,
}

/// Everything the search extension knows of one repository.
#[derive(Debug, Clone, Default)]
pub(crate) struct Repo {
    pub name: String,
    pub tags: BTreeMap<String, TagRef>,
    /// Every manifest and index recorded, by digest (zot's `ImageMeta`).
    pub images: HashMap<String, Image>,
    pub stats: HashMap<String, Stats>,
    /// Signatures by signed digest, then by tool.
    pub signatures: HashMap<String, BTreeMap<Tool, Vec<Signature>>>,
    /// Signature manifests: what each one signs.
    pub signature_of: HashMap<String, (Tool, String)>,
    /// Referrers by subject digest.
    pub referrers: HashMap<String, Vec<Referrer>>,
    pub newest: Option<Newest>,
    pub stars: i64,
    /// Derived: bytes of the blobs reachable from tags, counted once.
    pub size: i64,
    pub platforms: Vec<Platform>,
    pub vendors: Vec<String>,
    /// Derived: `RepoSummary.LastUpdated`.
    pub last_updated: Option<OffsetDateTime>,
    /// Derived: `RepoSummary.DownloadCount`, summed over tags.
    pub downloads: i64,
}

/// What a change touched, so the caller can persist exactly that.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Touched {
    pub stats: Vec<String>,
    pub stats_removed: Vec<String>,
    pub tags: Vec<String>,
    pub tags_removed: Vec<String>,
}

/// zot's `ReferenceIsDigest`.
pub(crate) fn is_digest(reference: &str) -> bool {
    reference.parse::<Digest>().is_ok()
}

impl Repo {
    pub(crate) fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            ..Self::default()
        }
    }

    /// zot's `SetRepoReference`: records `image` under `reference` (a tag or
    /// its digest). `pushed` is the push time to record for a new image
    /// (now, or the blob's time when rebuilding from storage).
    pub(crate) fn set_reference(
        &mut self,
        reference: &str,
        image: Image,
        pushed: OffsetDateTime,
        user: &str,
        now: OffsetDateTime,
    ) -> Touched {
        let mut touched = Touched::default();
        let digest = image.digest().to_owned();
        if let Some(subject) = image.subject().map(str::to_owned) {
            self.add_referrer(&subject, &image);
        }
        let is_tag = !is_digest(reference);
        if is_tag {
            let tagged = match self.tags.get(reference) {
                Some(existing) => existing.tagged,
                None => Some(now),
            };
            self.tags.insert(
                reference.to_owned(),
                TagRef {
                    digest: digest.clone(),
                    media_type: image.media_type(),
                    tagged,
                },
            );
            touched.tags.push(reference.to_owned());
        }
        let stats = self.stats.entry(digest.clone()).or_insert_with(|| Stats {
            downloads: 0,
            last_pull: Some(OffsetDateTime::UNIX_EPOCH),
            pushed: None,
            pushed_by: user.to_owned(),
        });
        if stats.pushed.is_none() {
            stats.pushed = Some(pushed);
        }
        if !user.is_empty() && stats.pushed_by.is_empty() {
            stats.pushed_by = user.to_owned();
        }
        touched.stats.push(digest.clone());
        self.images.insert(digest.clone(), image);
        if is_tag {
            let candidate = Newest {
                updated: self.blob_updated(&digest, 0),
                digest,
                tag: reference.to_owned(),
            };
            self.newest = Some(match self.newest.take() {
                Some(current) if current.updated >= candidate.updated => current,
                _ => candidate,
            });
            self.refresh_aggregates();
        }
        self.refresh_derived();
        touched
    }

    fn add_referrer(&mut self, subject: &str, image: &Image) {
        let list = self.referrers.entry(subject.to_owned()).or_default();
        if let Some(found) = list.iter_mut().find(|r| r.digest == image.digest()) {
            found.count += 1;
            return;
        }
        let (artifact_type, size, annotations) = match image {
            Image::Manifest(m) => (m.artifact_type.clone(), m.size, m.annotations.clone()),
            Image::Index(i) => (i.artifact_type.clone(), i.size, i.annotations.clone()),
        };
        list.push(Referrer {
            digest: image.digest().to_owned(),
            media_type: image.media_type(),
            artifact_type,
            size,
            annotations,
            count: 1,
        });
    }

    /// zot's `RemoveRepoReference` after a manifest delete by tag or digest.
    pub(crate) fn remove_reference(&mut self, reference: &str, digest: &str) -> Touched {
        let mut touched = Touched::default();
        let Some(image) = self.images.get(digest).cloned() else {
            return touched;
        };
        let by_digest = is_digest(reference);
        if let Some(list) = image.subject().and_then(|s| self.referrers.get_mut(s)) {
            if let Some(i) = list.iter().position(|r| r.digest == digest) {
                list[i].count -= 1;
                if list[i].count == 0 || by_digest {
                    list.remove(i);
                }
            }
        }
        let removed: Vec<String> = self
            .tags
            .iter()
            .filter(|(tag, t)| {
                if by_digest {
                    t.digest == reference
                } else {
                    tag.as_str() == reference
                }
            })
            .map(|(tag, _)| tag.clone())
            .collect();
        for tag in &removed {
            self.tags.remove(tag);
        }
        touched.tags_removed = removed;
        if !self.tags.values().any(|t| t.digest == digest) {
            if self.stats.remove(digest).is_some() {
                touched.stats_removed.push(digest.to_owned());
            }
            self.signatures.remove(digest);
            self.referrers.remove(digest);
        }
        if by_digest {
            self.images.remove(digest);
        }
        self.recompute_newest();
        self.refresh_aggregates();
        self.refresh_derived();
        touched
    }

    /// zot's `AddManifestSignature`. A cosign signature found by its
    /// `sha256-<hex>.sig` tag takes the first place of the cosign list,
    /// which other cosign signatures keep free.
    pub(crate) fn add_signature(&mut self, tool: Tool, signed: &str, sig: Signature, by_tag: bool) {
        self.signature_of
            .insert(sig.digest.clone(), (tool, signed.to_owned()));
        let list = self
            .signatures
            .entry(signed.to_owned())
            .or_default()
            .entry(tool)
            .or_default();
        if list.iter().any(|s| s.digest == sig.digest) {
            return;
        }
        match tool {
            Tool::Notation => list.push(sig),
            Tool::Cosign if by_tag => match list.first_mut() {
                Some(first) => *first = sig,
                None => list.push(sig),
            },
            Tool::Cosign => {
                if list.is_empty() {
                    list.push(Signature {
                        digest: String::new(),
                        layers: 0,
                    });
                }
                list.push(sig);
            }
        }
    }

    /// zot's `DeleteSignature`. The reserved cosign place stays, so an image
    /// whose last non-tag cosign signature goes still counts as signed until
    /// the next restart rebuilds it, as in zot.
    pub(crate) fn delete_signature(&mut self, sig_digest: &str) -> bool {
        let Some((tool, signed)) = self.signature_of.remove(sig_digest) else {
            return false;
        };
        if let Some(list) = self
            .signatures
            .get_mut(&signed)
            .and_then(|by_tool| by_tool.get_mut(&tool))
        {
            list.retain(|s| s.digest != sig_digest);
        }
        true
    }

    /// zot's `UpdateStatsOnDownload`: counts a pull by tag or digest of a
    /// recorded image; returns the digest counted.
    pub(crate) fn record_download(
        &mut self,
        reference: &str,
        now: OffsetDateTime,
    ) -> Option<String> {
        let digest = if is_digest(reference) {
            reference.to_owned()
        } else {
            self.tags.get(reference)?.digest.clone()
        };
        if !self.stats.contains_key(&digest) {
            if !self.tags.values().any(|t| t.digest == digest) {
                return None;
            }
            self.stats.insert(
                digest.clone(),
                Stats {
                    pushed: Some(OffsetDateTime::UNIX_EPOCH),
                    ..Stats::default()
                },
            );
        }
        let stats = self.stats.get_mut(&digest)?;
        stats.downloads += 1;
        stats.last_pull = Some(now);
        self.refresh_derived();
        Some(digest)
    }

    /// Is the image signed (zot's `isImageSigned`)?
    pub(crate) fn is_signed(&self, digest: &str) -> bool {
        self.signatures
            .get(digest)
            .is_some_and(|by_tool| by_tool.values().any(|l| !l.is_empty()))
    }

    /// The last-updated time zot records for an image's blob: a manifest's
    /// config time; an index's latest child (`AddImageMetaToRepoMeta`).
    fn blob_updated(&self, digest: &str, depth: usize) -> Option<OffsetDateTime> {
        match self.images.get(digest)? {
            Image::Manifest(m) => m.config_updated,
            Image::Index(index) if depth < 8 => index
                .manifests
                .iter()
                .filter_map(|c| self.blob_updated(&c.digest, depth + 1))
                .max(),
            Image::Index(_) => None,
        }
    }

    /// zot's `RemoveImageFromRepoMeta`: the newest image over every tag
    /// again, keeping the first of equals (tags in name order here, where
    /// zot walks a Go map).
    fn recompute_newest(&mut self) {
        let mut newest: Option<Newest> = None;
        for (tag, t) in &self.tags {
            if !self.images.contains_key(&t.digest) {
                continue;
            }
            let candidate = Newest {
                digest: t.digest.clone(),
                tag: tag.clone(),
                updated: self.blob_updated(&t.digest, 0),
            };
            newest = Some(match newest {
                Some(current) if current.updated >= candidate.updated => current,
                _ => candidate,
            });
        }
        self.newest = newest;
    }

    /// zot's `recalculateAggregateFields`: a breadth-first walk from every
    /// tag over manifests, configs and layers, each blob counted once.
    fn refresh_aggregates(&mut self) {
        let mut seen = HashSet::new();
        let (mut size, mut platforms, mut vendors) = (0, Vec::new(), Vec::new());
        for t in self.tags.values() {
            let mut queue = VecDeque::from([(t.digest.clone(), None)]);
            while let Some((digest, leaf_size)) = queue.pop_front() {
                if !seen.insert(digest.clone()) {
                    continue;
                }
                if let Some(bytes) = leaf_size {
                    size += bytes;
                    continue;
                }
                match self.images.get(&digest) {
                    Some(Image::Manifest(m)) => {
                        size += m.size;
                        let vendor = annotation(&m.annotations, VENDOR, LABEL_VENDOR);
                        if !vendor.is_empty() && !vendors.iter().any(|v| v == vendor) {
                            vendors.push(vendor.to_owned());
                        }
                        if !m.platform.is_empty() && !platforms.contains(&m.platform) {
                            platforms.push(m.platform.clone());
                        }
                        queue.push_back((m.config.digest.clone(), Some(m.config.size)));
                        for layer in &m.layers {
                            queue.push_back((layer.digest.clone(), Some(layer.size)));
                        }
                    }
                    Some(Image::Index(i)) => {
                        size += i.size;
                        queue.extend(i.manifests.iter().map(|c| (c.digest.clone(), None)));
                    }
                    // Not recorded: zot has no blob info for it and skips it.
                    None => {
                        seen.remove(&digest);
                    }
                }
            }
        }
        self.size = size;
        self.platforms = platforms;
        self.vendors = vendors;
    }

    /// `RepoSummary.LastUpdated` (newest image, or any later tag time) and
    /// `DownloadCount` (summed over tags, an image once per tag naming it).
    pub(crate) fn refresh_derived(&mut self) {
        let tagged = self.tags.values().filter_map(|t| t.tagged).max();
        let newest = self.newest.as_ref().and_then(|n| n.updated);
        self.last_updated = newest.max(tagged);
        self.downloads = self
            .tags
            .values()
            .filter_map(|t| self.stats.get(&t.digest))
            .map(|s| s.downloads)
            .sum();
    }
}

pub(crate) const VENDOR: &str = "org.opencontainers.image.vendor";
pub(crate) const LABEL_VENDOR: &str = "org.label-schema.vendor";

/// zot's `GetAnnotationValue`: the OCI key, else the label-schema one.
pub(crate) fn annotation<'a>(map: &'a BTreeMap<String, String>, key: &str, label: &str) -> &'a str {
    match map.get(key).filter(|v| !v.is_empty()) {
        Some(v) => v,
        None => map.get(label).map_or("", String::as_str),
    }
}

#[cfg(test)]
mod tests;
