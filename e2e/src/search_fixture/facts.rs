//! What zot would answer about the fixture, worked out from the stored manifests, configs and indexes.
//!
//! The rules are zot-reference §1.3.3 and §1.7 (sizes, `LastUpdated`,
//! NewestImage, platforms), filled in where the reference is terse from
//! zot's `pkg/extensions/search/convert/metadb.go`, `convert/annotations.go`
//! and `pkg/meta/common/common.go` at the reference's commit.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};
use serde_json::Value;

use crate::layout::{OCI_CONFIG, OCI_INDEX};

use super::images::{
    AUTHORS, CREATED, DESCRIPTION, DOCUMENTATION, LABELS, LICENSES, SOURCE, TITLE, VENDOR,
};

/// Reads a blob of the repository by digest.
pub type Blobs<'a> = dyn Fn(&str) -> Result<Vec<u8>> + 'a;

/// The annotation-derived text fields of an `ImageSummary` ("" when absent, never null).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields {
    pub description: String,
    pub title: String,
    pub vendor: String,
    pub licenses: String,
    pub source: String,
    pub documentation: String,
    pub authors: String,
    pub labels: String,
}

/// One `ManifestSummary`.
#[derive(Debug, Clone)]
pub struct ManifestFacts {
    pub digest: String,
    pub config_digest: String,
    /// manifest + config + layers, bytes.
    pub size: u64,
    pub os: String,
    /// `arch` or `arch/variant`.
    pub arch: String,
    /// (digest, size) per layer.
    pub layers: Vec<(String, u64)>,
    pub last_updated: Option<String>,
    pub artifact_type: String,
    /// `(created_by, empty_layer)` per config history entry.
    pub history: Vec<(String, bool)>,
}

/// One `ImageSummary`: a tag of a repository.
#[derive(Debug, Clone)]
pub struct ImageFacts {
    pub repo: String,
    pub tag: String,
    pub digest: String,
    pub media_type: String,
    pub size: u64,
    /// RFC 3339, `None` where zot answers `null`.
    pub last_updated: Option<String>,
    pub manifests: Vec<ManifestFacts>,
    pub fields: Fields,
    pub signed: bool,
    pub artifact_type: String,
    pub downloads: u64,
    /// What picks a repository's NewestImage: the config's time (never the annotation).
    pub(super) newest_key: String,
}

impl ImageFacts {
    /// `(os, arch)` of every manifest.
    pub fn platforms(&self) -> Vec<(String, String)> {
        self.manifests
            .iter()
            .map(|m| (m.os.clone(), m.arch.clone()))
            .collect()
    }
}

/// One `RepoSummary`.
#[derive(Debug, Clone)]
pub struct RepoFacts {
    pub name: String,
    /// Every distinct blob reachable from the tags, bytes.
    pub size: u64,
    pub platforms: BTreeSet<(String, String)>,
    /// Vendors from manifest annotations only.
    pub vendors: BTreeSet<String>,
    pub downloads: u64,
    pub stars: u64,
    /// The NewestImage tag; `newest_ties` are tags of the same digest and time.
    pub newest: String,
    pub newest_ties: Vec<String>,
}

/// The facts of `tag` → `digest` in `repo`, a manifest or an index.
pub fn image_facts(
    repo: &str,
    tag: &str,
    digest: &str,
    blobs: &Blobs<'_>,
    signed: &BTreeSet<String>,
) -> Result<ImageFacts> {
    let root: Value = serde_json::from_slice(&blobs(digest)?)?;
    let is_index = root["mediaType"] == OCI_INDEX || root.get("manifests").is_some();
    if !is_index {
        let (m, fields, _) = manifest_facts(digest, blobs, None)?;
        return Ok(ImageFacts {
            repo: repo.into(),
            tag: tag.into(),
            digest: digest.into(),
            media_type: root["mediaType"].as_str().unwrap_or_default().into(),
            size: m.size,
            last_updated: m.last_updated.clone(),
            newest_key: config_time(digest, blobs)?,
            fields,
            signed: signed.contains(digest),
            artifact_type: m.artifact_type.clone(),
            manifests: vec![m],
            downloads: 0,
        });
    }
    let annotations = strings(&root["annotations"]);
    let mut manifests = Vec::new();
    let mut first: Option<(Fields, Option<String>)> = None;
    let mut newest_key = String::new();
    for child in root["manifests"]
        .as_array()
        .context("an index without manifests")?
    {
        let child_digest = child["digest"]
            .as_str()
            .context("a descriptor without digest")?;
        let (m, fields, created) = manifest_facts(child_digest, blobs, Some(child))?;
        newest_key = newest_key.max(config_time(child_digest, blobs)?);
        first.get_or_insert((fields, created));
        manifests.push(m);
    }
    let (first_fields, first_created) = first.unwrap_or_default();
    let pick = |key: &str, from_manifest: &str| {
        non_empty(annotations.get(key)).unwrap_or_else(|| from_manifest.to_owned())
    };
    let fields = Fields {
        description: pick(DESCRIPTION, &first_fields.description),
        title: pick(TITLE, &first_fields.title),
        vendor: pick(VENDOR, &first_fields.vendor),
        licenses: pick(LICENSES, &first_fields.licenses),
        source: pick(SOURCE, &first_fields.source),
        documentation: pick(DOCUMENTATION, &first_fields.documentation),
        authors: pick(AUTHORS, &first_fields.authors),
        labels: pick(LABELS, &first_fields.labels),
    };
    let last_updated = non_empty(annotations.get(CREATED))
        .or(first_created)
        .or_else(|| {
            manifests
                .iter()
                .filter_map(|m| m.last_updated.clone())
                .max()
        });
    Ok(ImageFacts {
        repo: repo.into(),
        tag: tag.into(),
        digest: digest.into(),
        media_type: OCI_INDEX.into(),
        size: manifests.iter().map(|m| m.size).sum(),
        last_updated,
        newest_key,
        fields,
        signed: signed.contains(digest),
        artifact_type: root["artifactType"].as_str().unwrap_or_default().into(),
        manifests,
        downloads: 0,
    })
}

/// A manifest's summary, its annotation fields, and its `created`
/// annotation (or label), which an index falls back to.
fn manifest_facts(
    digest: &str,
    blobs: &Blobs<'_>,
    index_entry: Option<&Value>,
) -> Result<(ManifestFacts, Fields, Option<String>)> {
    let bytes = blobs(digest)?;
    let manifest: Value = serde_json::from_slice(&bytes)?;
    let config_desc = &manifest["config"];
    let config = image_config(config_desc, blobs)?;
    let annotations = strings(&manifest["annotations"]);
    let labels = strings(&config["config"]["Labels"]);
    let field = |key: &str| {
        non_empty(annotations.get(key))
            .or_else(|| non_empty(labels.get(key)))
            .unwrap_or_default()
    };
    let mut fields = Fields {
        description: field(DESCRIPTION),
        title: field(TITLE),
        vendor: field(VENDOR),
        licenses: field(LICENSES),
        source: field(SOURCE),
        documentation: field(DOCUMENTATION),
        authors: field(AUTHORS),
        labels: field(LABELS),
    };
    if fields.authors.is_empty() {
        fields.authors = config["author"].as_str().unwrap_or_default().into();
    }
    let created_annotation =
        non_empty(annotations.get(CREATED)).or_else(|| non_empty(labels.get(CREATED)));
    let config_created = non_empty_str(&config["created"]).or_else(|| {
        config["history"]
            .as_array()
            .and_then(|h| h.last())
            .and_then(|h| non_empty_str(&h["created"]))
    });
    let layers: Vec<(String, u64)> = manifest["layers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| (text(&l["digest"]), l["size"].as_u64().unwrap_or(0)))
        .collect();
    let (mut os, mut arch) = platform_of(&config);
    if os.is_empty() && arch.is_empty() {
        if let Some(entry) = index_entry {
            (os, arch) = platform_of(&entry["platform"]);
        }
    }
    let history = config["history"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| {
            (
                text(&h["created_by"]),
                h["empty_layer"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    let facts = ManifestFacts {
        digest: digest.into(),
        config_digest: text(&config_desc["digest"]),
        size: bytes.len() as u64
            + config_desc["size"].as_u64().unwrap_or(0)
            + layers.iter().map(|(_, size)| size).sum::<u64>(),
        os,
        arch,
        layers,
        last_updated: created_annotation.clone().or(config_created),
        artifact_type: non_empty_str(&manifest["artifactType"])
            .unwrap_or_else(|| text(&config_desc["mediaType"])),
        history,
    };
    Ok((facts, fields, created_annotation))
}

/// zot's `GetImageLastUpdated(config)`: `created`, else the last history entry's, else zero ("").
fn config_time(manifest_digest: &str, blobs: &Blobs<'_>) -> Result<String> {
    let manifest: Value = serde_json::from_slice(&blobs(manifest_digest)?)?;
    let config = image_config(&manifest["config"], blobs)?;
    Ok(non_empty_str(&config["created"])
        .or_else(|| {
            config["history"]
                .as_array()
                .and_then(|h| h.last())
                .and_then(|h| non_empty_str(&h["created"]))
        })
        .unwrap_or_default())
}

/// The config, parsed only when it is an image config (as zot does); else `{}`.
fn image_config(desc: &Value, blobs: &Blobs<'_>) -> Result<Value> {
    if desc["mediaType"] != OCI_CONFIG {
        return Ok(Value::Object(Default::default()));
    }
    Ok(serde_json::from_slice(&blobs(
        desc["digest"].as_str().unwrap_or_default(),
    )?)?)
}

/// The repository summary of `tags` (facts already worked out), in push order.
pub fn repo_facts(name: &str, tags: &[ImageFacts], blobs: &Blobs<'_>) -> Result<RepoFacts> {
    let mut sizes: BTreeMap<String, u64> = BTreeMap::new();
    let mut platforms = BTreeSet::new();
    let mut vendors = BTreeSet::new();
    for image in tags {
        let root: Value = serde_json::from_slice(&blobs(&image.digest)?)?;
        sizes.insert(image.digest.clone(), blobs(&image.digest)?.len() as u64);
        let manifests: Vec<String> = match root.get("manifests") {
            Some(list) => list
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| text(&m["digest"]))
                .collect(),
            None => vec![image.digest.clone()],
        };
        for digest in manifests {
            let manifest: Value = serde_json::from_slice(&blobs(&digest)?)?;
            sizes.insert(digest.clone(), blobs(&digest)?.len() as u64);
            for blob in std::iter::once(&manifest["config"])
                .chain(manifest["layers"].as_array().into_iter().flatten())
            {
                sizes.insert(text(&blob["digest"]), blob["size"].as_u64().unwrap_or(0));
            }
            let (os, arch) = platform_of(&image_config(&manifest["config"], blobs)?);
            if !(os.is_empty() && arch.is_empty()) {
                platforms.insert((os, arch));
            }
            if let Some(vendor) = non_empty(strings(&manifest["annotations"]).get(VENDOR)) {
                vendors.insert(vendor);
            }
        }
    }
    let mut newest = tags.first().context("a repository without tags")?;
    for image in tags {
        if image.newest_key > newest.newest_key {
            newest = image;
        }
    }
    let newest_ties = tags
        .iter()
        .filter(|t| t.digest == newest.digest && t.newest_key == newest.newest_key)
        .map(|t| t.tag.clone())
        .collect();
    Ok(RepoFacts {
        name: name.into(),
        size: sizes.values().sum(),
        platforms,
        vendors,
        downloads: 0,
        stars: 0,
        newest: newest.tag.clone(),
        newest_ties,
    })
}

fn platform_of(value: &Value) -> (String, String) {
    let os = text(&value["os"]);
    let mut arch = text(&value["architecture"]);
    if let Some(variant) = non_empty_str(&value["variant"]) {
        arch = format!("{arch}/{variant}");
    }
    (os, arch)
}

fn strings(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
        .collect()
}

fn non_empty(value: Option<&String>) -> Option<String> {
    value.filter(|v| !v.is_empty()).cloned()
}

fn non_empty_str(value: &Value) -> Option<String> {
    value.as_str().filter(|v| !v.is_empty()).map(str::to_owned)
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}
