//! Images written by hand into an OCI layout: layers from seeds (equal seeds share a layer, as a base
//! image's layers are shared), configs with labels and history, manifests with annotations, indexes.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::Result;
use serde_json::{json, Map, Value};

use crate::layout::{seeded_bytes, OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST};
use crate::{Descriptor, Layout, Platform};

/// The OCI annotation keys zot reads into `ImageSummary` fields.
pub const CREATED: &str = "org.opencontainers.image.created";
pub const DESCRIPTION: &str = "org.opencontainers.image.description";
pub const TITLE: &str = "org.opencontainers.image.title";
pub const VENDOR: &str = "org.opencontainers.image.vendor";
pub const LICENSES: &str = "org.opencontainers.image.licenses";
pub const SOURCE: &str = "org.opencontainers.image.source";
pub const DOCUMENTATION: &str = "org.opencontainers.image.documentation";
pub const AUTHORS: &str = "org.opencontainers.image.authors";
/// zot's `Labels` field comes from this (label-schema) key.
pub const LABELS: &str = "org.label-schema.labels";

/// One single-platform image: what goes into its layers, config and manifest.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    platform: Platform,
    layers: Vec<String>,
    created: Option<String>,
    annotations: BTreeMap<String, String>,
    labels: BTreeMap<String, String>,
    history: Vec<(String, bool)>,
}

/// An image for `linux/<arch>` (`arch` may carry a variant, `arm/v7`) with
/// one layer of its own (seeded by `seed`), config `created` = `created`,
/// and the same instant in the `org.opencontainers.image.created` annotation.
pub fn image(seed: &str, arch: &str, created: &str) -> ImageSpec {
    let platform = match arch.split_once('/') {
        Some((arch, variant)) => Platform::linux_variant(arch, variant),
        None => Platform::linux(arch),
    };
    ImageSpec {
        platform,
        layers: vec![seed.to_owned()],
        created: Some(created.to_owned()),
        annotations: BTreeMap::from([(CREATED.to_owned(), created.to_owned())]),
        labels: BTreeMap::new(),
        history: Vec::new(),
    }
}

impl ImageSpec {
    /// Layers from these seeds, in order (replacing the default one).
    pub fn layers(mut self, seeds: &[&str]) -> Self {
        self.layers = seeds.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn os(mut self, os: &str) -> Self {
        self.platform.os = os.to_owned();
        self
    }

    /// A manifest annotation.
    pub fn annotate(mut self, key: &str, value: &str) -> Self {
        self.annotations.insert(key.to_owned(), value.to_owned());
        self
    }

    /// No manifest annotations at all.
    pub fn bare(mut self) -> Self {
        self.annotations.clear();
        self
    }

    /// A label in the config (`config.Labels`).
    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.labels.insert(key.to_owned(), value.to_owned());
        self
    }

    /// A config with no `created` (and no manifest `created` annotation).
    pub fn undated(mut self) -> Self {
        self.created = None;
        self.annotations.remove(CREATED);
        self
    }

    /// `description`, `title`, `vendor`, `licenses`, `source`,
    /// `documentation` and `authors` annotations, all at once.
    pub fn described(self, description: &str, vendor: &str) -> Self {
        let name = description.to_lowercase().replace(' ', "-");
        self.annotate(DESCRIPTION, description)
            .annotate(TITLE, &name)
            .annotate(VENDOR, vendor)
            .annotate(LICENSES, "Apache-2.0")
            .annotate(SOURCE, &format!("https://git.example.com/{name}"))
            .annotate(DOCUMENTATION, &format!("https://docs.example.com/{name}"))
            .annotate(AUTHORS, &format!("{vendor} maintainers"))
    }

    /// A config `history`: `(created_by, empty_layer)` per step; the
    /// non-empty steps must match the layers one to one.
    pub fn history(mut self, steps: &[(&str, bool)]) -> Self {
        self.history = steps.iter().map(|(s, e)| (s.to_string(), *e)).collect();
        self
    }

    /// Writes layers, config and manifest into `layout`; returns the
    /// manifest's descriptor with its platform set, ready for an index.
    pub fn write(&self, layout: &Layout) -> Result<Descriptor> {
        let mut layers = Vec::new();
        let mut diff_ids = Vec::new();
        for seed in &self.layers {
            let tar = tar_layer(seed)?;
            diff_ids.push(crate::layout::sha256_digest(&tar));
            layers.push(layout.write_blob(OCI_LAYER_GZIP, &gzip(&tar)?)?.to_json());
        }
        let config = layout.write_blob(OCI_CONFIG, &serde_json::to_vec(&self.config(diff_ids))?)?;
        let mut manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": config.to_json(),
            "layers": layers,
        });
        if !self.annotations.is_empty() {
            manifest["annotations"] = json!(self.annotations);
        }
        let mut desc = layout.write_blob(OCI_MANIFEST, &serde_json::to_vec(&manifest)?)?;
        desc.platform = Some(self.platform.clone());
        Ok(desc)
    }

    fn config(&self, diff_ids: Vec<String>) -> Value {
        let mut config = Map::new();
        if let Some(created) = &self.created {
            config.insert("created".into(), json!(created));
        }
        config.insert("architecture".into(), json!(self.platform.architecture));
        config.insert("os".into(), json!(self.platform.os));
        if let Some(variant) = &self.platform.variant {
            config.insert("variant".into(), json!(variant));
        }
        config.insert(
            "config".into(),
            json!({ "Env": ["PATH=/usr/bin:/bin"], "Labels": self.labels }),
        );
        config.insert(
            "rootfs".into(),
            json!({ "type": "layers", "diff_ids": diff_ids }),
        );
        if !self.history.is_empty() {
            let steps: Vec<Value> = self
                .history
                .iter()
                .map(|(by, empty)| {
                    let mut step = json!({ "created": self.created, "created_by": by });
                    if *empty {
                        step["empty_layer"] = json!(true);
                    }
                    step
                })
                .collect();
            config.insert("history".into(), json!(steps));
        }
        Value::Object(config)
    }
}

/// A small gzip'd tar layer whose content is determined by `seed`.
fn tar_layer(seed: &str) -> Result<Vec<u8>> {
    let data = seeded_bytes(seed, 2048);
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(1_700_000_000);
    header.set_cksum();
    let mut builder = tar::Builder::new(Vec::new());
    builder.append_data(
        &mut header,
        format!("{}.bin", seed.replace('/', "_")),
        data.as_slice(),
    )?;
    Ok(builder.into_inner()?)
}

fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes)?;
    Ok(encoder.finish()?)
}
