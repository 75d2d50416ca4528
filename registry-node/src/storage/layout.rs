//! The OCI image layout types a repository is made of: `index.json`, descriptors, and the manifests the node reads.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The annotation that makes an `index.json` descriptor a tag.
pub(crate) const REF_NAME: &str = "org.opencontainers.image.ref.name";

pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub(crate) const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub(crate) const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub(crate) const OCI_IMAGE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub(crate) const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";

/// Manifest media types the node accepts on PUT, as zot's default build does.
pub(crate) fn is_manifest_media_type(media_type: &str) -> bool {
    matches!(
        media_type,
        OCI_MANIFEST | OCI_INDEX | DOCKER_MANIFEST | DOCKER_LIST
    )
}

pub(crate) fn is_index_media_type(media_type: &str) -> bool {
    matches!(media_type, OCI_INDEX | DOCKER_LIST)
}

/// A content descriptor. Field order follows Go's `ispec.Descriptor` so the
/// JSON the node writes is the JSON zot writes; fields the node does not
/// know are kept as they were.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    #[serde(default)]
    pub size: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "annotations_empty")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

fn annotations_empty(a: &Option<BTreeMap<String, String>>) -> bool {
    a.as_ref().is_none_or(BTreeMap::is_empty)
}

impl Descriptor {
    pub(crate) fn tag(&self) -> Option<&str> {
        self.annotations.as_ref()?.get(REF_NAME).map(String::as_str)
    }
}

/// A repository's `index.json`. zot writes `"manifests": null` for an empty
/// repository (a nil Go slice); both forms are read, the same is written.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Index {
    #[serde(default = "schema_version")]
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        serialize_with = "empty_as_null"
    )]
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "annotations_empty")]
    pub annotations: Option<BTreeMap<String, String>>,
}

fn schema_version() -> u32 {
    2
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Vec<Descriptor>, D::Error> {
    Ok(Option::<Vec<Descriptor>>::deserialize(de)?.unwrap_or_default())
}

fn empty_as_null<S: serde::Serializer>(v: &[Descriptor], s: S) -> Result<S::Ok, S::Error> {
    if v.is_empty() {
        s.serialize_none()
    } else {
        v.serialize(s)
    }
}

impl Index {
    pub(crate) fn new() -> Self {
        Self {
            schema_version: 2,
            ..Self::default()
        }
    }

    /// zot's `GetManifestDescByReference`: the first descriptor whose digest or tag is `reference`.
    pub(crate) fn find(&self, reference: &str) -> Option<&Descriptor> {
        self.manifests
            .iter()
            .find(|d| d.digest == reference || d.tag() == Some(reference))
    }

    /// Every tag, in `index.json` order.
    pub(crate) fn tags(&self) -> Vec<String> {
        self.manifests
            .iter()
            .filter_map(|d| d.tag().map(str::to_owned))
            .collect()
    }
}

/// The parts of a manifest or index the node acts on. Unknown fields are ignored.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ManifestView {
    #[serde(default)]
    pub schema_version: Option<i64>,
    #[serde(default)]
    pub media_type: Option<String>,
    #[serde(default)]
    pub artifact_type: Option<String>,
    #[serde(default)]
    pub config: Option<BlobRef>,
    #[serde(default)]
    pub layers: Option<Vec<BlobRef>>,
    #[serde(default)]
    pub manifests: Option<Vec<BlobRef>>,
    #[serde(default)]
    pub subject: Option<BlobRef>,
    #[serde(default)]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// A descriptor inside a manifest: only what validation needs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BlobRef {
    #[serde(default)]
    pub media_type: String,
    #[serde(default)]
    pub digest: String,
}

impl ManifestView {
    /// zot's `GetManifestArtifactType` / `GetIndexArtifactType`.
    pub(crate) fn artifact_type_for(&self, media_type: &str) -> String {
        let own = self.artifact_type.clone().unwrap_or_default();
        if is_index_media_type(media_type) || !own.is_empty() {
            return own;
        }
        self.config
            .as_ref()
            .map(|c| c.media_type.clone())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_index_is_written_as_zot_writes_it() {
        assert_eq!(
            serde_json::to_string(&Index::new()).unwrap(),
            r#"{"schemaVersion":2,"manifests":null}"#
        );
        let read: Index = serde_json::from_str(r#"{"schemaVersion":2,"manifests":null}"#).unwrap();
        assert!(read.manifests.is_empty());
    }

    #[test]
    fn descriptor_round_trips_in_go_field_order() {
        let text = r#"{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:aa","size":3,"annotations":{"org.opencontainers.image.ref.name":"v1"}}"#;
        let d: Descriptor = serde_json::from_str(text).unwrap();
        assert_eq!(d.tag(), Some("v1"));
        assert_eq!(serde_json::to_string(&d).unwrap(), text);
    }
}
