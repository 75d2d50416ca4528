//! OCI image layouts on disk: built by hand for fixtures, read back, and compared byte for byte.
//!
//! A layout is what `skopeo copy oci:DIR:TAG` reads and writes: an
//! `oci-layout` file, an `index.json` whose entries carry the tag in the
//! `org.opencontainers.image.ref.name` annotation, and `blobs/sha256/<hex>`.
//! Fixture content is pseudo-random but derived from a seed, so a test that
//! fails fails the same way again.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// `os`/`architecture`/`variant` of one image in a multi-arch index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn linux(architecture: &str) -> Self {
        Self {
            os: "linux".into(),
            architecture: architecture.into(),
            variant: None,
        }
    }

    pub fn linux_variant(architecture: &str, variant: &str) -> Self {
        Self {
            variant: Some(variant.into()),
            ..Self::linux(architecture)
        }
    }

    fn to_json(&self) -> Value {
        let mut platform = json!({ "architecture": self.architecture, "os": self.os });
        if let Some(variant) = &self.variant {
            platform["variant"] = json!(variant);
        }
        platform
    }
}

/// An OCI content descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    pub platform: Option<Platform>,
}

impl Descriptor {
    /// The descriptor of `bytes` stored with `media_type`.
    pub fn of(media_type: &str, bytes: &[u8]) -> Self {
        Self {
            media_type: media_type.into(),
            digest: sha256_digest(bytes),
            size: bytes.len() as u64,
            platform: None,
        }
    }

    pub fn to_json(&self) -> Value {
        let mut desc =
            json!({ "mediaType": self.media_type, "digest": self.digest, "size": self.size });
        if let Some(platform) = &self.platform {
            desc["platform"] = platform.to_json();
        }
        desc
    }

    pub fn from_json(value: &Value) -> Result<Self> {
        let text = |key: &str| {
            value[key]
                .as_str()
                .map(str::to_owned)
                .with_context(|| format!("descriptor without `{key}`: {value}"))
        };
        let platform = value.get("platform").map(|p| Platform {
            os: p["os"].as_str().unwrap_or_default().into(),
            architecture: p["architecture"].as_str().unwrap_or_default().into(),
            variant: p["variant"].as_str().map(str::to_owned),
        });
        Ok(Self {
            media_type: text("mediaType")?,
            digest: text("digest")?,
            size: value["size"]
                .as_u64()
                .with_context(|| format!("descriptor without `size`: {value}"))?,
            platform,
        })
    }
}

/// `oci:<dir>:<tag>`, for a layout that skopeo is about to create.
pub fn oci_ref(dir: &Path, tag: &str) -> String {
    format!("oci:{}:{tag}", dir.display())
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// `len` pseudo-random bytes determined by `seed`: SHA-256 in counter mode.
pub fn seeded_bytes(seed: &str, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut counter = 0u64;
    while out.len() < len {
        let mut hasher = Sha256::new();
        hasher.update(seed.as_bytes());
        hasher.update(counter.to_le_bytes());
        out.extend_from_slice(&hasher.finalize());
        counter += 1;
    }
    out.truncate(len);
    out
}

/// An OCI image layout directory.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// An empty layout at `root` (created if needed).
    pub fn create(root: &Path) -> Result<Self> {
        fs::create_dir_all(root.join("blobs/sha256"))?;
        fs::write(
            root.join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )?;
        fs::write(
            root.join("index.json"),
            br#"{"schemaVersion":2,"manifests":[]}"#,
        )?;
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    /// A layout some tool wrote at `root`.
    pub fn open(root: &Path) -> Result<Self> {
        ensure!(
            root.join("oci-layout").is_file(),
            "{} is not an OCI layout",
            root.display()
        );
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    /// A layout holding one image (two gzip layers) tagged `tag`.
    pub fn with_image(root: &Path, tag: &str, seed: &str) -> Result<(Self, Descriptor)> {
        let layout = Self::create(root)?;
        let image = layout.add_image(seed, &Platform::linux("amd64"), 2)?;
        layout.tag(tag, &image)?;
        Ok((layout, image))
    }

    /// A layout holding an OCI index over one image per platform, tagged `tag`.
    pub fn with_multi_arch(
        root: &Path,
        tag: &str,
        seed: &str,
        platforms: &[Platform],
    ) -> Result<(Self, Descriptor)> {
        let layout = Self::create(root)?;
        let images = platforms
            .iter()
            .map(|platform| {
                let seed = format!("{seed}/{}/{}", platform.os, platform.architecture);
                layout.add_image(&seed, platform, 2)
            })
            .collect::<Result<Vec<_>>>()?;
        let index = layout.add_index(&images)?;
        layout.tag(tag, &index)?;
        Ok((layout, index))
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The skopeo/containers transport reference, `oci:<dir>:<tag>`.
    pub fn reference(&self, tag: &str) -> String {
        oci_ref(&self.root, tag)
    }

    pub fn write_blob(&self, media_type: &str, bytes: &[u8]) -> Result<Descriptor> {
        let desc = Descriptor::of(media_type, bytes);
        fs::write(self.blob_path(&desc.digest)?, bytes)?;
        Ok(desc)
    }

    /// The bytes of blob `digest`, checked against the digest.
    pub fn blob(&self, digest: &str) -> Result<Vec<u8>> {
        let path = self.blob_path(digest)?;
        let bytes = fs::read(&path).with_context(|| format!("reading blob {}", path.display()))?;
        ensure!(
            sha256_digest(&bytes) == digest,
            "{} does not hash to its name",
            path.display()
        );
        Ok(bytes)
    }

    /// Adds an image for `platform` with `layers` gzip'd tar layers; returns
    /// its manifest's descriptor (with the platform set, ready for an index).
    pub fn add_image(&self, seed: &str, platform: &Platform, layers: usize) -> Result<Descriptor> {
        let mut layer_descs = Vec::new();
        let mut diff_ids = Vec::new();
        for i in 0..layers {
            let tar = tar_layer(&format!("{seed}/layer-{i}"))?;
            diff_ids.push(sha256_digest(&tar));
            layer_descs.push(self.write_blob(OCI_LAYER_GZIP, &gzip(&tar)?)?.to_json());
        }
        let mut config = json!({
            "created": "2024-01-01T00:00:00Z",
            "architecture": platform.architecture,
            "os": platform.os,
            "config": { "Env": ["PATH=/usr/bin:/bin"], "Labels": { "org.flotilla.e2e.seed": seed } },
            "rootfs": { "type": "layers", "diff_ids": diff_ids },
        });
        if let Some(variant) = &platform.variant {
            config["variant"] = json!(variant);
        }
        let config = self.write_blob(OCI_CONFIG, &serde_json::to_vec(&config)?)?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": config.to_json(),
            "layers": layer_descs,
        });
        let mut desc = self.write_blob(OCI_MANIFEST, &serde_json::to_vec(&manifest)?)?;
        desc.platform = Some(platform.clone());
        Ok(desc)
    }

    /// Adds an OCI index over `manifests`; returns its descriptor.
    pub fn add_index(&self, manifests: &[Descriptor]) -> Result<Descriptor> {
        let index = json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": manifests.iter().map(Descriptor::to_json).collect::<Vec<_>>(),
        });
        self.write_blob(OCI_INDEX, &serde_json::to_vec(&index)?)
    }

    /// Points `tag` at `desc` in `index.json`, replacing any earlier entry for it.
    pub fn tag(&self, tag: &str, desc: &Descriptor) -> Result<()> {
        let mut index = self.index()?;
        let entries = index["manifests"]
            .as_array_mut()
            .context("index.json without manifests")?;
        entries.retain(|entry| entry["annotations"][REF_NAME] != tag);
        let mut entry = desc.to_json();
        entry["annotations"] = json!({ REF_NAME: tag });
        entries.push(entry);
        fs::write(self.root.join("index.json"), serde_json::to_vec(&index)?)?;
        Ok(())
    }

    /// The descriptor `tag` points at.
    pub fn resolve(&self, tag: &str) -> Result<Descriptor> {
        let index = self.index()?;
        let entry = index["manifests"]
            .as_array()
            .and_then(|entries| entries.iter().find(|e| e["annotations"][REF_NAME] == tag))
            .with_context(|| format!("no tag {tag} in {}/index.json", self.root.display()))?;
        Descriptor::from_json(entry)
    }

    /// Every blob reachable from `desc` (index → manifests → config and
    /// layers), by digest, each checked against its digest.
    pub fn closure(&self, desc: &Descriptor) -> Result<BTreeMap<String, Vec<u8>>> {
        let mut blobs = BTreeMap::new();
        self.collect(desc, &mut blobs)?;
        Ok(blobs)
    }

    /// Fails unless `tag` here and `other_tag` in `other` are the same
    /// content: same root digest and the same bytes for every reachable blob.
    pub fn ensure_same_image(&self, tag: &str, other: &Layout, other_tag: &str) -> Result<()> {
        let (mine, theirs) = (self.resolve(tag)?, other.resolve(other_tag)?);
        ensure!(
            mine.digest == theirs.digest,
            "{tag} is {} here but {other_tag} is {} in {}",
            mine.digest,
            theirs.digest,
            other.root.display()
        );
        let (a, b) = (self.closure(&mine)?, other.closure(&theirs)?);
        let only_a: Vec<_> = a.keys().filter(|d| !b.contains_key(*d)).collect();
        let only_b: Vec<_> = b.keys().filter(|d| !a.contains_key(*d)).collect();
        ensure!(
            only_a.is_empty() && only_b.is_empty(),
            "blob sets differ: only in {}: {only_a:?}; only in {}: {only_b:?}",
            self.root.display(),
            other.root.display()
        );
        for (digest, bytes) in &a {
            ensure!(b[digest] == *bytes, "blob {digest} differs");
        }
        Ok(())
    }

    fn collect(&self, desc: &Descriptor, blobs: &mut BTreeMap<String, Vec<u8>>) -> Result<()> {
        let bytes = self.blob(&desc.digest)?;
        ensure!(
            bytes.len() as u64 == desc.size,
            "blob {} has size {}, descriptor says {}",
            desc.digest,
            bytes.len(),
            desc.size
        );
        let children = match desc.media_type.as_str() {
            OCI_INDEX | DOCKER_LIST => {
                let index: Value = serde_json::from_slice(&bytes)?;
                index["manifests"].as_array().cloned().unwrap_or_default()
            }
            OCI_MANIFEST | DOCKER_MANIFEST => {
                let manifest: Value = serde_json::from_slice(&bytes)?;
                let mut children = vec![manifest["config"].clone()];
                children.extend(manifest["layers"].as_array().cloned().unwrap_or_default());
                children
            }
            _ => Vec::new(),
        };
        blobs.insert(desc.digest.clone(), bytes);
        for child in &children {
            self.collect(&Descriptor::from_json(child)?, blobs)?;
        }
        Ok(())
    }

    fn index(&self) -> Result<Value> {
        let path = self.root.join("index.json");
        let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        Ok(serde_json::from_slice(&bytes)?)
    }

    fn blob_path(&self, digest: &str) -> Result<PathBuf> {
        let Some(hex) = digest.strip_prefix("sha256:") else {
            bail!("only sha256 blobs are expected in a fixture layout, got {digest}");
        };
        Ok(self.root.join("blobs/sha256").join(hex))
    }
}

/// An uncompressed tar of a directory with two seeded files.
fn tar_layer(seed: &str) -> Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for (i, len) in [(0, 96 * 1024), (1, 40 * 1024 + 7)] {
        let data = seeded_bytes(&format!("{seed}/file-{i}"), len);
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(1_700_000_000);
        header.set_cksum();
        let name = format!("{}/file-{i}.bin", seed.replace('/', "_"));
        builder.append_data(&mut header, name, data.as_slice())?;
    }
    Ok(builder.into_inner()?)
}

fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes)?;
    Ok(encoder.finish()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_multi_arch_fixture_reaches_its_index_manifests_configs_and_layers() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let platforms = [Platform::linux("amd64"), Platform::linux("arm64")];
        let (layout, index) = Layout::with_multi_arch(dir.path(), "multi", "fixture", &platforms)?;

        assert_eq!(layout.resolve("multi")?, index);
        // 1 index + 2 × (manifest + config + 2 layers).
        assert_eq!(layout.closure(&index)?.len(), 1 + 2 * 4);
        layout.ensure_same_image("multi", &layout, "multi")
    }

    #[test]
    fn a_changed_blob_makes_images_differ() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let (a, image) = Layout::with_image(&dir.path().join("a"), "v1", "same")?;
        let (b, _) = Layout::with_image(&dir.path().join("b"), "v1", "same")?;
        a.ensure_same_image("v1", &b, "v1")?;

        let manifest: Value = serde_json::from_slice(&b.blob(&image.digest)?)?;
        let layer = manifest["layers"][0]["digest"].as_str().unwrap_or_default();
        fs::write(b.blob_path(layer)?, b"tampered")?;

        assert!(a.ensure_same_image("v1", &b, "v1").is_err());
        Ok(())
    }
}
