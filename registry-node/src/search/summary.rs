//! `ImageSummary`, `ManifestSummary` and `RepoSummary` as zot's converters build them (`pkg/extensions/search/convert/metadb.go`), once for every query.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::annotations::{
    created, index_annotations, manifest_annotations, manifest_created, manifest_updated,
    Annotations,
};
use super::Ctx;
use crate::meta::image::{Image, Index, Manifest, Platform};
use crate::meta::repo::{Referrer, Repo};
use crate::meta::time as mtime;
use crate::search::paging::{ImageKey, RepoKey};
use crate::storage::layout::OCI_INDEX;

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
            last_updated: self.last_updated(),
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

fn stats_fields(repo: &Repo, digest: &str, tag: &str, out: &mut Map<String, Value>) {
    let stats = repo.stats.get(digest).cloned().unwrap_or_default();
    let tagged = repo.tags.get(tag).and_then(|t| t.tagged).or(stats.pushed);
    out.insert("DownloadCount".into(), stats.downloads.into());
    out.insert("LastPullTimestamp".into(), mtime::json(stats.last_pull));
    out.insert("PushTimestamp".into(), mtime::json(stats.pushed));
    out.insert("PushedBy".into(), stats.pushed_by.into());
    out.insert("TaggedTimestamp".into(), mtime::json(tagged));
}

fn annotation_fields(a: Annotations, authors: String, out: &mut Map<String, Value>) {
    out.insert("Description".into(), a.description.into());
    out.insert("Title".into(), a.title.into());
    out.insert("Documentation".into(), a.documentation.into());
    out.insert("Licenses".into(), a.licenses.into());
    out.insert("Labels".into(), a.labels.into());
    out.insert("Source".into(), a.source.into());
    out.insert("Vendor".into(), a.vendor.into());
    out.insert("Authors".into(), authors.into());
}

/// zot's `ImageManifest2ImageSummary`'s manifest part.
fn manifest_summary(repo: &Repo, index: Option<&Index>, m: &Manifest) -> Value {
    let (size, _) = blob_sizes(m);
    json!({
        "Digest": m.digest,
        "ConfigDigest": m.config.digest,
        "LastUpdated": mtime::json(manifest_updated(m)),
        "Size": size.to_string(),
        "IsSigned": repo.is_signed(&m.digest),
        "SignatureInfo": signature_info(repo, &m.digest),
        "Platform": platform_json(&shown_platform(index, m)),
        "DownloadCount": repo.stats.get(&m.digest).map_or(0, |s| s.downloads),
        "Layers": layers_json(m),
        "History": history_json(m),
        // zot fills a manifest's summary only after scanning, which is off:
        // `updateImageSummaryVulnerabilities` returns before its manifest loop.
        "Vulnerabilities": null,
        "Referrers": referrers_json(repo.referrers.get(&m.digest).into_iter().flatten()),
        "ArtifactType": m.artifact_type,
    })
}

/// zot's `FullImageMeta2ImageSummary`. `deletable` is set by `ExpandedRepoInfo` only.
pub(crate) fn image_summary(found: &Found<'_>, deletable: Option<bool>) -> Value {
    let repo = found.repo;
    let digest = found.digest();
    let mut out = Map::new();
    out.insert("RepoName".into(), repo.name.clone().into());
    out.insert("Tag".into(), found.tag.into());
    out.insert("Digest".into(), digest.into());
    match found.image {
        Image::Manifest(m) => {
            let (size, _) = blob_sizes(m);
            let a = manifest_annotations(m);
            let authors = if a.authors.is_empty() {
                m.author.clone()
            } else {
                a.authors.clone()
            };
            out.insert("MediaType".into(), m.media_type.clone().into());
            out.insert("Manifests".into(), json!([manifest_summary(repo, None, m)]));
            out.insert("Size".into(), size.to_string().into());
            out.insert("ArtifactType".into(), m.artifact_type.clone().into());
            annotation_fields(a, authors, &mut out);
        }
        Image::Index(index) => {
            // Per manifest, blobs it repeats count once; across manifests, each time.
            let size: i64 = found
                .manifests
                .iter()
                .map(|m| blob_sizes(m).1.values().sum::<i64>())
                .sum();
            let first = found
                .manifests
                .first()
                .map(|m| manifest_annotations(m))
                .unwrap_or_default();
            let a = index_annotations(index, first);
            let authors = a.authors.clone();
            let manifests: Vec<Value> = found
                .manifests
                .iter()
                .map(|m| manifest_summary(repo, Some(index), m))
                .collect();
            out.insert("MediaType".into(), OCI_INDEX.into());
            out.insert("Manifests".into(), Value::Array(manifests));
            out.insert("Size".into(), size.to_string().into());
            out.insert("ArtifactType".into(), index.artifact_type.clone().into());
            annotation_fields(a, authors, &mut out);
        }
    }
    out.insert("LastUpdated".into(), mtime::json(found.last_updated()));
    out.insert("IsSigned".into(), repo.is_signed(digest).into());
    out.insert("SignatureInfo".into(), signature_info(repo, digest));
    stats_fields(repo, digest, found.tag, &mut out);
    out.insert("Vulnerabilities".into(), no_vulnerabilities());
    out.insert(
        "Referrers".into(),
        referrers_json(repo.referrers.get(digest).into_iter().flatten()),
    );
    out.insert(
        "IsDeletable".into(),
        deletable.map_or(Value::Null, Value::Bool),
    );
    Value::Object(out)
}

/// The sort key of a repository.
pub(crate) fn repo_key(repo: &Repo, rank: i64) -> RepoKey<'_> {
    RepoKey {
        name: &repo.name,
        rank,
        last_updated: repo.last_updated,
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
    let newest = repo.newest.as_ref().and_then(|n| {
        let image = repo.images.get(&n.digest)?;
        Some(image_summary(&Found::whole(repo, &n.tag, image), None))
    });
    json!({
        "Name": repo.name,
        "LastUpdated": mtime::json(repo.last_updated),
        "Size": repo.size.to_string(),
        "Platforms": repo.platforms.iter().map(platform_json).collect::<Vec<_>>(),
        "Vendors": repo.vendors,
        "NewestImage": newest,
        "DownloadCount": repo.downloads,
        "StarCount": repo.stars,
        "IsBookmarked": ctx.is_bookmarked(&repo.name),
        "IsStarred": ctx.is_starred(&repo.name),
        "Rank": rank,
    })
}
