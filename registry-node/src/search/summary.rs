//! `ImageSummary`, `ManifestSummary` and `RepoSummary` as zot's converters build them (`pkg/extensions/search/convert/metadb.go`), once for every query.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::annotations::{
    created, index_annotations, manifest_annotations, manifest_created, manifest_updated,
    Annotations,
};
use super::wanted::Wanted;
use super::Ctx;
use crate::meta::image::{Image, Index, Manifest, Platform};
use crate::meta::repo::{Referrer, Repo};
use crate::meta::time as mtime;
use crate::storage::layout::OCI_INDEX;
use flotilla_protocol::search::paging::{ImageKey, RepoKey, Stamp};
use flotilla_protocol::search::ANNOTATED_FIELDS;

/// One tagged image as a query found it (zot's `FullImageMeta`): for an
/// index, `manifests` are the children shown, which a filter may narrow.
#[derive(Debug, Clone)]
pub(crate) struct Found<'a> {
    pub repo: &'a Repo,
    pub tag: &'a str,
    pub image: &'a Image,
    pub manifests: Vec<&'a Arc<Manifest>>,
}

impl<'a> Found<'a> {
    /// The image with every child an index has in the repository (zot's `getAllContainedMeta`).
    pub(crate) fn whole(repo: &'a Repo, tag: &'a str, image: &'a Image) -> Self {
        let manifests = match image {
            Image::Manifest(m) => vec![m],
            Image::Index(index) => contained(repo, index),
        };
        Self {
            repo,
            tag,
            image,
            manifests,
        }
    }

    pub(crate) fn digest(&self) -> &'a str {
        self.image.digest()
    }

    /// `ImageSummary.LastUpdated`.
    pub(crate) fn last_updated(&self) -> Option<OffsetDateTime> {
        match self.image {
            Image::Manifest(m) => manifest_updated(m),
            Image::Index(index) => created(&index.annotations)
                .or_else(|| self.manifests.first().and_then(|m| manifest_created(m)))
                .or_else(|| {
                    self.manifests
                        .iter()
                        .filter_map(|m| manifest_updated(m))
                        .max()
                }),
        }
    }

    pub(crate) fn key(&self) -> ImageKey<'a> {
        ImageKey {
            repo: &self.repo.name,
            tag: self.tag,
            last_updated: Stamp::of(self.last_updated()),
            downloads: self
                .repo
                .stats
                .get(self.digest())
                .map_or(0, |s| s.downloads),
        }
    }

    /// The platforms a filter looks at: every manifest's, as shown.
    pub(crate) fn platforms(&self) -> Vec<Platform> {
        self.manifests
            .iter()
            .map(|m| shown_platform(self.index(), m))
            .collect()
    }

    pub(crate) fn is_signed(&self) -> bool {
        self.repo.is_signed(self.digest())
    }

    fn index(&self) -> Option<&'a Index> {
        match self.image {
            Image::Index(index) => Some(index),
            Image::Manifest(_) => None,
        }
    }
}

/// Every manifest under an index, nested indexes flattened, missing ones skipped.
pub(crate) fn contained<'a>(repo: &'a Repo, index: &'a Index) -> Vec<&'a Arc<Manifest>> {
    let mut out = Vec::new();
    collect_children(repo, index, &mut out, 0);
    out
}

fn collect_children<'a>(
    repo: &'a Repo,
    index: &'a Index,
    out: &mut Vec<&'a Arc<Manifest>>,
    depth: usize,
) {
    for child in &index.manifests {
        match repo.images.get(&child.digest) {
            Some(Image::Manifest(m)) => out.push(m),
            Some(Image::Index(nested)) if depth < 8 => {
                collect_children(repo, nested, out, depth + 1)
            }
            _ => {}
        }
    }
}

/// A manifest's platform as `ManifestSummary.Platform` shows it: its
/// config's, or the index descriptor's when the config has none.
pub(crate) fn shown_platform(index: Option<&Index>, m: &Manifest) -> Platform {
    if !m.platform.is_empty() {
        return m.platform.clone();
    }
    index
        .and_then(|i| i.manifests.iter().find(|c| c.digest == m.digest))
        .and_then(|c| c.platform.clone())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| m.platform.clone())
}

/// zot's vulnerability summary with CVE scanning off: all zero, no severity.
pub(crate) fn no_vulnerabilities() -> Value {
    json!({"MaxSeverity": "", "Count": 0, "UnknownCount": 0, "LowCount": 0,
           "MediumCount": 0, "HighCount": 0, "CriticalCount": 0})
}

fn platform_json(p: &Platform) -> Value {
    json!({"Os": p.os, "Arch": p.arch})
}

/// `Referrer` entries; annotations in key order (zot's come from a Go map, in no order).
pub(crate) fn referrers_json<'r>(list: impl IntoIterator<Item = &'r Referrer>) -> Value {
    Value::Array(
        list.into_iter()
            .map(|r| {
                let annotations: Vec<Value> = r
                    .annotations
                    .iter()
                    .map(|(k, v)| json!({"Key": k, "Value": v}))
                    .collect();
                json!({"MediaType": r.media_type, "ArtifactType": r.artifact_type, "Size": r.size,
                       "Digest": r.digest, "Annotations": annotations})
            })
            .collect(),
    )
}

/// zot's `GetSignaturesInfo`: one entry per signature layer; trust is never
/// established here (no image-trust extension), so no author.
fn signature_info(repo: &Repo, digest: &str) -> Value {
    let mut out = Vec::new();
    for (tool, list) in repo.signatures.get(digest).into_iter().flatten() {
        for sig in list {
            for _ in 0..sig.layers {
                out.push(json!({"Tool": tool.as_str(), "IsTrusted": false, "Author": ""}));
            }
        }
    }
    Value::Array(out)
}

fn layers_json(m: &Manifest) -> Vec<Value> {
    m.layers
        .iter()
        .map(|l| json!({"Size": l.size.to_string(), "Digest": l.digest}))
        .collect()
}

/// zot's `getAllHistory`: history entries matched to non-empty layers in
/// order; without history, one empty entry per layer. A history longer than
/// the layers stops at the first entry without a layer, as zot does.
fn history_json(m: &Manifest) -> Value {
    let layers = layers_json(m);
    if m.history.is_empty() {
        let empty = json!({"Created": null, "CreatedBy": null, "Author": null, "Comment": null, "EmptyLayer": null});
        return layers
            .into_iter()
            .map(|l| json!({"Layer": l, "HistoryDescription": empty}))
            .collect();
    }
    let mut out = Vec::new();
    let mut next = layers.into_iter();
    for h in &m.history {
        let description = json!({"Created": mtime::json(h.created), "CreatedBy": h.created_by,
            "Author": h.author, "Comment": h.comment, "EmptyLayer": h.empty_layer});
        if h.empty_layer {
            out.push(json!({"Layer": null, "HistoryDescription": description}));
            continue;
        }
        match next.next() {
            Some(layer) => out.push(json!({"Layer": layer, "HistoryDescription": description})),
            None => {
                out.push(json!({"Layer": null, "HistoryDescription": description}));
                break;
            }
        }
    }
    Value::Array(out)
}

/// zot's `getImageBlobsInfo`: the summed size, and the sizes by digest.
fn blob_sizes(m: &Manifest) -> (i64, HashMap<&str, i64>) {
    let mut map = HashMap::with_capacity(2 + m.layers.len());
    map.insert(m.config.digest.as_str(), m.config.size);
    map.insert(m.digest.as_str(), m.size);
    let mut total = m.config.size + m.size;
    for l in &m.layers {
        map.insert(l.digest.as_str(), l.size);
        total += l.size;
    }
    (total, map)
}

/// A summary object holding only the fields some selection names.
struct Fields<'w, 's> {
    wanted: &'w Wanted<'s>,
    out: Map<String, Value>,
}

impl<'w, 's> Fields<'w, 's> {
    fn new(wanted: &'w Wanted<'s>) -> Self {
        Self {
            wanted,
            out: Map::new(),
        }
    }

    fn put(&mut self, name: &str, value: impl FnOnce() -> Value) {
        if self.wanted.has(name) {
            self.out.insert(name.to_owned(), value());
        }
    }

    fn done(self) -> Value {
        Value::Object(self.out)
    }
}

fn stats_fields(repo: &Repo, digest: &str, tag: &str, out: &mut Fields<'_, '_>) {
    let stats = repo.stats.get(digest).cloned().unwrap_or_default();
    let tagged = repo.tags.get(tag).and_then(|t| t.tagged).or(stats.pushed);
    out.put("DownloadCount", || stats.downloads.into());
    out.put("LastPullTimestamp", || mtime::json(stats.last_pull));
    out.put("PushTimestamp", || mtime::json(stats.pushed));
    out.put("PushedBy", || stats.pushed_by.clone().into());
    out.put("TaggedTimestamp", || mtime::json(tagged));
}

fn annotation_fields(a: Annotations, authors: String, out: &mut Fields<'_, '_>) {
    out.put("Description", || a.description.into());
    out.put("Title", || a.title.into());
    out.put("Documentation", || a.documentation.into());
    out.put("Licenses", || a.licenses.into());
    out.put("Labels", || a.labels.into());
    out.put("Source", || a.source.into());
    out.put("Vendor", || a.vendor.into());
    out.put("Authors", || authors.into());
}

/// zot's `ImageManifest2ImageSummary`'s manifest part.
fn manifest_summary(
    wanted: &Wanted<'_>,
    repo: &Repo,
    index: Option<&Index>,
    m: &Manifest,
) -> Value {
    let mut out = Fields::new(wanted);
    out.put("Digest", || json!(m.digest));
    out.put("ConfigDigest", || json!(m.config.digest));
    out.put("LastUpdated", || mtime::json(manifest_updated(m)));
    out.put("Size", || blob_sizes(m).0.to_string().into());
    out.put("IsSigned", || repo.is_signed(&m.digest).into());
    out.put("SignatureInfo", || signature_info(repo, &m.digest));
    out.put("Platform", || platform_json(&shown_platform(index, m)));
    out.put("DownloadCount", || {
        json!(repo.stats.get(&m.digest).map_or(0, |s| s.downloads))
    });
    out.put("Layers", || Value::Array(layers_json(m)));
    out.put("History", || history_json(m));
    // zot fills a manifest's summary only after scanning, which is off:
    // `updateImageSummaryVulnerabilities` returns before its manifest loop.
    out.put("Vulnerabilities", || Value::Null);
    out.put("Referrers", || {
        referrers_json(repo.referrers.get(&m.digest).into_iter().flatten())
    });
    out.put("ArtifactType", || json!(m.artifact_type));
    out.done()
}

/// zot's `FullImageMeta2ImageSummary`. `deletable` is set by `ExpandedRepoInfo` only.
pub(crate) fn image_summary(
    wanted: &Wanted<'_>,
    found: &Found<'_>,
    deletable: Option<bool>,
) -> Value {
    let repo = found.repo;
    let digest = found.digest();
    let mut out = Fields::new(wanted);
    out.put("RepoName", || repo.name.clone().into());
    out.put("Tag", || found.tag.into());
    out.put("Digest", || digest.into());
    let annotated = wanted.any(&ANNOTATED_FIELDS);
    match found.image {
        Image::Manifest(m) => {
            out.put("MediaType", || m.media_type.clone().into());
            out.put("Manifests", || {
                Value::Array(vec![manifest_summary(wanted, repo, None, m)])
            });
            out.put("Size", || blob_sizes(m).0.to_string().into());
            out.put("ArtifactType", || json!(m.artifact_type));
            if annotated {
                let a = manifest_annotations(m);
                let authors = if a.authors.is_empty() {
                    m.author.clone()
                } else {
                    a.authors.clone()
                };
                annotation_fields(a, authors, &mut out);
            }
        }
        Image::Index(index) => {
            out.put("MediaType", || OCI_INDEX.into());
            out.put("Manifests", || {
                found
                    .manifests
                    .iter()
                    .map(|m| manifest_summary(wanted, repo, Some(index), m))
                    .collect()
            });
            // Per manifest, blobs it repeats count once; across manifests, each time.
            out.put("Size", || {
                let size: i64 = found
                    .manifests
                    .iter()
                    .map(|m| blob_sizes(m).1.values().sum::<i64>())
                    .sum();
                size.to_string().into()
            });
            out.put("ArtifactType", || json!(index.artifact_type));
            if annotated {
                let first = found
                    .manifests
                    .first()
                    .map(|m| manifest_annotations(m))
                    .unwrap_or_default();
                let a = index_annotations(index, first);
                let authors = a.authors.clone();
                annotation_fields(a, authors, &mut out);
            }
        }
    }
    out.put("LastUpdated", || mtime::json(found.last_updated()));
    out.put("IsSigned", || repo.is_signed(digest).into());
    out.put("SignatureInfo", || signature_info(repo, digest));
    stats_fields(repo, digest, found.tag, &mut out);
    out.put("Vulnerabilities", no_vulnerabilities);
    out.put("Referrers", || {
        referrers_json(repo.referrers.get(digest).into_iter().flatten())
    });
    out.put("IsDeletable", || deletable.map_or(Value::Null, Value::Bool));
    out.done()
}

/// The sort key of a repository.
pub(crate) fn repo_key(repo: &Repo, rank: i64) -> RepoKey<'_> {
    RepoKey {
        name: &repo.name,
        rank,
        last_updated: Stamp::of(repo.last_updated),
        downloads: repo.downloads,
    }
}

/// Is the repository's newest image signed (the `HasToBeSigned` test for repositories)?
pub(crate) fn newest_signed(repo: &Repo) -> bool {
    repo.newest
        .as_ref()
        .is_some_and(|n| repo.is_signed(&n.digest))
}

/// zot's `RepoMeta2RepoSummary`; `NewestImage` is the image recorded as the
/// repository's last updated, shown under the tag it was recorded with.
pub(crate) fn repo_summary(ctx: &Ctx<'_>, repo: &Repo, rank: i64) -> Value {
    let mut out = Fields::new(&ctx.wanted);
    out.put("Name", || repo.name.clone().into());
    out.put("LastUpdated", || mtime::json(repo.last_updated));
    out.put("Size", || repo.size.to_string().into());
    out.put("Platforms", || {
        repo.platforms.iter().map(platform_json).collect()
    });
    out.put("Vendors", || json!(repo.vendors));
    out.put("NewestImage", || {
        let newest = repo.newest.as_ref().and_then(|n| {
            let image = repo.images.get(&n.digest)?;
            Some(image_summary(
                &ctx.wanted,
                &Found::whole(repo, &n.tag, image),
                None,
            ))
        });
        newest.unwrap_or(Value::Null)
    });
    out.put("DownloadCount", || repo.downloads.into());
    out.put("StarCount", || repo.stars.into());
    out.put("IsBookmarked", || ctx.is_bookmarked(&repo.name).into());
    out.put("IsStarred", || ctx.is_starred(&repo.name).into());
    out.put("Rank", || rank.into());
    out.done()
}
