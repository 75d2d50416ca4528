//! Images as zot's metadata sees them: a manifest with its config, or an index with its children, parsed once from storage.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Deserializer};
use time::OffsetDateTime;

use super::time as mtime;
use crate::storage::layout::{
    is_index_media_type, DOCKER_LIST, DOCKER_MANIFEST, OCI_IMAGE_CONFIG, OCI_INDEX, OCI_MANIFEST,
};

/// Docker's image config media type, read as an image config (zot's compat).
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// An operating system and architecture; `arch` carries the variant as
/// `arch/variant`, as zot's `getArch` writes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Platform {
    pub os: String,
    pub arch: String,
}

impl Platform {
    fn new(os: &str, arch: &str, variant: &str) -> Self {
        let arch = if variant.is_empty() {
            arch.to_owned()
        } else {
            format!("{arch}/{variant}")
        };
        Self {
            os: os.to_owned(),
            arch,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.os.is_empty() && self.arch.is_empty()
    }
}

/// A descriptor inside a manifest: config or layer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Blob {
    pub digest: String,
    pub size: i64,
}

/// One entry of an image config's history.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct History {
    pub created: Option<OffsetDateTime>,
    pub created_by: String,
    pub author: String,
    pub comment: String,
    pub empty_layer: bool,
}

/// A single-platform manifest (or artifact) and its image config.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Manifest {
    pub digest: String,
    /// The manifest's own length in bytes.
    pub size: i64,
    /// The `mediaType` field of the manifest body ("" when absent), which zot shows as `MediaType`.
    pub media_type: String,
    /// zot's `GetManifestArtifactType`: `artifactType`, else the config's media type.
    pub artifact_type: String,
    pub config: Blob,
    pub layers: Vec<Blob>,
    pub annotations: BTreeMap<String, String>,
    pub subject: Option<String>,
    /// From the image config; empty for artifacts whose config is not an image config.
    pub platform: Platform,
    pub author: String,
    pub labels: BTreeMap<String, String>,
    pub history: Vec<History>,
    /// zot's `GetImageLastUpdated`: config `created`, else the last history entry's.
    pub config_updated: Option<OffsetDateTime>,
}

/// One entry of an index's `manifests`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Child {
    pub digest: String,
    pub media_type: String,
    pub platform: Option<Platform>,
}

/// A multi-platform index.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Index {
    pub digest: String,
    pub size: i64,
    pub artifact_type: String,
    pub annotations: BTreeMap<String, String>,
    pub subject: Option<String>,
    pub manifests: Vec<Child>,
}

/// What a tag or digest in a repository names.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Image {
    Manifest(Arc<Manifest>),
    Index(Arc<Index>),
}

impl Image {
    pub(crate) fn digest(&self) -> &str {
        match self {
            Self::Manifest(m) => &m.digest,
            Self::Index(i) => &i.digest,
        }
    }

    pub(crate) fn subject(&self) -> Option<&str> {
        match self {
            Self::Manifest(m) => m.subject.as_deref(),
            Self::Index(i) => i.subject.as_deref(),
        }
    }

    /// The media type zot's metadata records for it: always the OCI one, Docker's included.
    pub(crate) fn media_type(&self) -> &'static str {
        match self {
            Self::Manifest(_) => OCI_MANIFEST,
            Self::Index(_) => OCI_INDEX,
        }
    }
}

/// Is this a media type zot's metadata parses as a manifest?
pub(crate) fn is_manifest_type(media_type: &str) -> bool {
    matches!(media_type, OCI_MANIFEST | DOCKER_MANIFEST)
}

/// Is this one it parses as an index?
pub(crate) fn is_index_type(media_type: &str) -> bool {
    matches!(media_type, OCI_INDEX | DOCKER_LIST)
}

/// A manifest or index body, as much of it as the metadata needs.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct RawManifest {
    #[serde(deserialize_with = "null_default")]
    media_type: String,
    #[serde(deserialize_with = "null_default")]
    artifact_type: String,
    #[serde(deserialize_with = "null_default")]
    config: RawDescriptor,
    #[serde(deserialize_with = "null_default")]
    layers: Vec<RawDescriptor>,
    #[serde(deserialize_with = "null_default")]
    manifests: Vec<RawDescriptor>,
    subject: Option<RawDescriptor>,
    #[serde(deserialize_with = "null_default")]
    annotations: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct RawDescriptor {
    #[serde(deserialize_with = "null_default")]
    media_type: String,
    #[serde(deserialize_with = "null_default")]
    digest: String,
    size: i64,
    platform: Option<RawPlatform>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawPlatform {
    #[serde(deserialize_with = "null_default")]
    os: String,
    #[serde(deserialize_with = "null_default")]
    architecture: String,
    #[serde(deserialize_with = "null_default")]
    variant: String,
}

/// The parts of an OCI image config zot reads.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawConfig {
    created: Option<String>,
    #[serde(deserialize_with = "null_default")]
    author: String,
    #[serde(deserialize_with = "null_default")]
    architecture: String,
    #[serde(deserialize_with = "null_default")]
    os: String,
    #[serde(deserialize_with = "null_default")]
    variant: String,
    #[serde(deserialize_with = "null_default")]
    config: RawRuntime,
    #[serde(deserialize_with = "null_default")]
    history: Vec<RawHistory>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawRuntime {
    #[serde(rename = "Labels", alias = "labels", deserialize_with = "null_default")]
    labels: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawHistory {
    created: Option<String>,
    #[serde(deserialize_with = "null_default")]
    created_by: String,
    #[serde(deserialize_with = "null_default")]
    author: String,
    #[serde(deserialize_with = "null_default")]
    comment: String,
    empty_layer: bool,
}

/// Go's JSON leaves a field at its zero value when the document says `null`.
fn null_default<'de, D, T>(de: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(de)?.unwrap_or_default())
}

impl RawManifest {
    pub(crate) fn parse(body: &[u8]) -> Option<Self> {
        serde_json::from_slice(body).ok()
    }

    /// The config blob zot reads for this manifest: only image configs are.
    pub(crate) fn config_to_read(&self) -> Option<&str> {
        matches!(
            self.config.media_type.as_str(),
            OCI_IMAGE_CONFIG | DOCKER_CONFIG
        )
        .then_some(self.config.digest.as_str())
    }

    /// zot's `GetManifestArtifactType`.
    pub(crate) fn artifact_type(&self) -> &str {
        if self.artifact_type.is_empty() {
            &self.config.media_type
        } else {
            &self.artifact_type
        }
    }

    pub(crate) fn subject(&self) -> Option<&str> {
        self.subject.as_ref().map(|s| s.digest.as_str())
    }

    pub(crate) fn layer_count(&self) -> usize {
        self.layers.len()
    }

    pub(crate) fn body_is_index(&self) -> bool {
        is_index_media_type(&self.media_type)
    }

    /// A manifest image; `config` is the image config's bytes when one was read.
    pub(crate) fn into_manifest(self, digest: &str, size: i64, config: Option<&[u8]>) -> Manifest {
        let cfg: RawConfig = config
            .and_then(|c| serde_json::from_slice(c).ok())
            .unwrap_or_default();
        let created = cfg.created.as_deref().and_then(mtime::parse);
        let history: Vec<History> = cfg
            .history
            .into_iter()
            .map(|h| History {
                created: h.created.as_deref().and_then(mtime::parse),
                created_by: h.created_by,
                author: h.author,
                comment: h.comment,
                empty_layer: h.empty_layer,
            })
            .collect();
        let config_updated = created.or_else(|| history.last().and_then(|h| h.created));
        Manifest {
            digest: digest.to_owned(),
            size,
            artifact_type: self.artifact_type().to_owned(),
            media_type: self.media_type,
            config: Blob {
                digest: self.config.digest,
                size: self.config.size,
            },
            layers: self
                .layers
                .into_iter()
                .map(|l| Blob {
                    digest: l.digest,
                    size: l.size,
                })
                .collect(),
            annotations: self.annotations,
            subject: self.subject.map(|s| s.digest),
            platform: Platform::new(&cfg.os, &cfg.architecture, &cfg.variant),
            author: cfg.author,
            labels: cfg.config.labels,
            history,
            config_updated,
        }
    }

    /// An index image. Children of unexpected media types (buildkit cache
    /// entries, say) are dropped, as zot's `GetManifests` drops them.
    pub(crate) fn into_index(self, digest: &str, size: i64) -> Index {
        Index {
            digest: digest.to_owned(),
            size,
            artifact_type: self.artifact_type,
            annotations: self.annotations,
            subject: self.subject.map(|s| s.digest),
            manifests: self
                .manifests
                .into_iter()
                .filter(|m| is_manifest_type(&m.media_type) || is_index_type(&m.media_type))
                .map(|m| Child {
                    platform: m
                        .platform
                        .map(|p| Platform::new(&p.os, &p.architecture, &p.variant)),
                    digest: m.digest,
                    media_type: m.media_type,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_reads_its_config() {
        let body = br#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:c","size":7},
            "layers":[{"mediaType":"x","digest":"sha256:l","size":5}],"annotations":{"a":"b"}}"#;
        let raw = RawManifest::parse(body).unwrap();
        assert_eq!(raw.config_to_read(), Some("sha256:c"));
        let config =
            br#"{"architecture":"arm","variant":"v7","os":"linux","config":{"Labels":{"k":"v"}},
            "history":[{"created":"2024-01-02T03:04:05Z","created_by":"RUN x"}]}"#;
        let m = raw.into_manifest("sha256:m", 99, Some(config));
        assert_eq!(m.media_type, "");
        assert_eq!(m.artifact_type, OCI_IMAGE_CONFIG);
        assert_eq!(
            m.platform,
            Platform {
                os: "linux".into(),
                arch: "arm/v7".into()
            }
        );
        assert_eq!(m.labels["k"], "v");
        assert_eq!(m.config_updated, mtime::parse("2024-01-02T03:04:05Z"));
    }

    #[test]
    fn an_index_keeps_only_manifest_children() {
        let body = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:a","size":1,"platform":{"os":"linux","architecture":"amd64"}},
            {"mediaType":"application/vnd.buildkit.cacheconfig.v0","digest":"sha256:b","size":1}],"layers":null}"#;
        let raw = RawManifest::parse(body).unwrap();
        assert!(raw.body_is_index());
        let index = raw.into_index("sha256:i", 10);
        assert_eq!(index.manifests.len(), 1);
        assert_eq!(index.manifests[0].platform.as_ref().unwrap().arch, "amd64");
    }
}
