//! Fills a live node with the catalog, as users would: skopeo pushes, oras artifacts, cosign
//! signature tags, a referrer PUT by digest, manifest GETs, stars and bookmarks.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::thread;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, ensure, Context, Result};
use serde_json::{json, Value};

use crate::layout::{sha256_digest, OCI_CONFIG, OCI_EMPTY, OCI_INDEX, OCI_MANIFEST};
use crate::process::{self, CLIENT_TIMEOUT};
use crate::{env, Descriptor, Layout, Node, Registry, Skopeo};

use super::catalog::{self, Content, RepoSpec, ATTESTATION_TYPE};
use super::{credentials, ADMIN};

/// How many skopeo pushes run at once.
const PUSHERS: usize = 3;
const COSIGN_LAYER: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
const COSIGN_SIGNATURE: &str = "dev.cosignproject.cosign/signature";

/// What the build did, kept beside the template: enough to work out every fact again.
#[derive(Debug, Clone)]
pub(super) struct Record {
    /// (repository, tag, digest), in push order within each repository.
    pub tags: Vec<(String, String, String)>,
    /// Digests that got a cosign signature tag.
    pub signed: Vec<String>,
    /// `team-a/tools/cli:1.0`, and the two artifacts that refer to it.
    pub subject: String,
    pub sbom: String,
    pub attestation: String,
    /// Unix seconds around the pushes, bounds for push and tag times.
    pub pushed_from: u64,
    pub pushed_until: u64,
}

/// Pushes the whole catalog to `node` (started with the fixture's users),
/// then downloads, stars and bookmarks it.
pub(super) fn populate(node: &Node, work: &Path) -> Result<Record> {
    let record = push_catalog(node, work)?;
    let admin = node.http().as_user(ADMIN.0, ADMIN.1);
    download_all(&admin)?;
    toggle_all(&node.http(), "toggleStar", catalog::STARS)?;
    toggle_all(&node.http(), "toggleBookmark", catalog::BOOKMARKS)?;
    Ok(record)
}

/// The catalog's manifest GETs ([`catalog::DOWNLOADS`]), as `admin`, against `admin`'s registry.
pub(super) fn download_all(admin: &Registry) -> Result<()> {
    for (repo, tag, times) in catalog::DOWNLOADS {
        for _ in 0..*times {
            admin.manifest(repo, tag)?;
        }
    }
    Ok(())
}

/// Pushes the whole catalog to `node`: images, signatures, referrers and
/// artifacts, but no downloads, stars or bookmarks.
pub(super) fn push_catalog(node: &Node, work: &Path) -> Result<Record> {
    let pushed_from = unix_now();
    let skopeo = Skopeo::as_user(ADMIN.0, ADMIN.1)?;
    let admin = node.http().as_user(ADMIN.0, ADMIN.1);
    let mut tags = push_images(node, &skopeo, work)?;
    let mut signed = Vec::new();
    for spec in catalog::repositories() {
        for tag in &spec.signed {
            let digest = digest_of(&tags, spec.name, tag)?;
            put_cosign_signature(&admin, spec.name, &digest)?;
            signed.push(digest);
        }
    }
    let subject_digest = digest_of(&tags, "team-a/tools/cli", "1.0")?;
    let subject = head_descriptor(&admin, "team-a/tools/cli", &subject_digest)?;
    let attestation = put_attestation(&admin, "team-a/tools/cli", &subject)?;
    let mut sbom = String::new();
    for spec in catalog::last_pushed() {
        for (tag, content) in &spec.tags {
            let Content::Oras {
                file,
                artifact_type,
            } = content
            else {
                continue;
            };
            let subject = (spec.name == "team-a/tools/cli").then_some(&subject);
            let digest = push_oras(node, work, spec.name, tag, file, artifact_type, subject)?;
            if subject.is_some() {
                sbom = digest.clone();
            }
            tags.push((spec.name.into(), tag.to_string(), digest));
        }
    }
    Ok(Record {
        tags,
        signed,
        subject: subject_digest,
        sbom,
        attestation,
        pushed_from,
        pushed_until: unix_now() + 1,
    })
}

/// Every image repository, [`PUSHERS`] at a time; tags of one repository in order.
fn push_images(node: &Node, skopeo: &Skopeo, work: &Path) -> Result<Vec<(String, String, String)>> {
    let queue = Mutex::new(catalog::repositories());
    let pushed = Mutex::new(Vec::new());
    thread::scope(|scope| {
        let workers: Vec<_> = (0..PUSHERS)
            .map(|_| {
                scope.spawn(|| -> Result<()> {
                    while let Some(spec) = queue.lock().map_err(|_| anyhow!("poisoned"))?.pop() {
                        let tags = push_repo(node, skopeo, work, &spec)?;
                        pushed.lock().map_err(|_| anyhow!("poisoned"))?.extend(tags);
                    }
                    Ok(())
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|w| w.join().map_err(|_| anyhow!("a pusher panicked"))?)
    })?;
    pushed.into_inner().map_err(|_| anyhow!("poisoned"))
}

fn push_repo(
    node: &Node,
    skopeo: &Skopeo,
    work: &Path,
    spec: &RepoSpec,
) -> Result<Vec<(String, String, String)>> {
    let layout = Layout::create(&work.join(spec.name.replace('/', "_")))?;
    let mut tags: Vec<(String, String, String)> = Vec::new();
    for (tag, content) in &spec.tags {
        let desc = match content {
            Content::Image(image) => image.write(&layout)?,
            Content::Index(images, annotations) => {
                let children = images
                    .iter()
                    .map(|image| image.write(&layout))
                    .collect::<Result<Vec<_>>>()?;
                write_index(&layout, &children, annotations)?
            }
            Content::SameAs(other) => layout.resolve(other)?,
            Content::Oras { .. } => continue,
        };
        layout.tag(tag, &desc)?;
        let target = node.image(&format!("{}:{tag}", spec.name));
        if desc.media_type == OCI_INDEX {
            skopeo.copy_all(&layout.reference(tag), &target)?;
        } else {
            skopeo.copy(&layout.reference(tag), &target)?;
        }
        tags.push((spec.name.into(), tag.to_string(), desc.digest));
    }
    Ok(tags)
}

fn write_index(
    layout: &Layout,
    children: &[Descriptor],
    annotations: &[(&str, &str)],
) -> Result<Descriptor> {
    let mut index = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": children.iter().map(Descriptor::to_json).collect::<Vec<_>>(),
    });
    if !annotations.is_empty() {
        index["annotations"] = json!(catalog::annotation_map(annotations));
    }
    layout.write_blob(OCI_INDEX, &serde_json::to_vec(&index)?)
}

/// A cosign signature as `cosign sign` stores it: tag `sha256-<hex>.sig`,
/// one simple-signing layer carrying the signature annotation.
fn put_cosign_signature(http: &Registry, repo: &str, signed: &str) -> Result<()> {
    let payload = json!({
        "critical": {
            "identity": { "docker-reference": repo },
            "image": { "docker-manifest-digest": signed },
            "type": "cosign container image signature",
        },
        "optional": null,
    });
    let payload = upload(http, repo, COSIGN_LAYER, &serde_json::to_vec(&payload)?)?;
    let config = json!({
        "architecture": "", "os": "", "created": "0001-01-01T00:00:00Z",
        "config": {}, "rootfs": { "type": "layers", "diff_ids": [payload.digest] },
    });
    let config = upload(http, repo, OCI_CONFIG, &serde_json::to_vec(&config)?)?;
    let mut layer = payload.to_json();
    layer["annotations"] = json!({ COSIGN_SIGNATURE: "MEUCIQDflotillae2efakesignature" });
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.to_json(),
        "layers": [layer],
    });
    let tag = format!("{}.sig", signed.replace(':', "-"));
    put_manifest(http, repo, &tag, &serde_json::to_vec(&manifest)?).map(drop)
}

/// An attestation PUT by digest (no tag), with an `artifactType`, the empty
/// config, an annotation and `subject`: a referrer as the 1.1 spec shows one.
fn put_attestation(http: &Registry, repo: &str, subject: &Descriptor) -> Result<String> {
    let empty = upload(http, repo, OCI_EMPTY, b"{}")?;
    let statement = upload(
        http,
        repo,
        "application/vnd.in-toto+json",
        br#"{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://slsa.dev/provenance/v1"}"#,
    )?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": ATTESTATION_TYPE,
        "config": empty.to_json(),
        "layers": [statement.to_json()],
        "subject": subject.to_json(),
        "annotations": { "org.flotilla.e2e.kind": "attestation" },
    });
    let bytes = serde_json::to_vec(&manifest)?;
    put_manifest(http, repo, &sha256_digest(&bytes), &bytes)
}

/// oras (Python) logged in as admin with basic auth: one file, a config
/// whose media type is the artifact's type, and optionally a subject.
const ORAS_PUSH: &str = r#"
import json, os, sys
import oras.client, oras.oci
req = json.loads(sys.argv[1])
client = oras.client.OrasClient(hostname=req["registry"], insecure=True, auth_backend="basic")
client.auth.set_basic_auth(req["user"], req["password"])
os.chdir(req["workdir"])
kwargs = {"target": req["target"], "files": [req["file"]], "manifest_config": req["config"]}
if req.get("subject"):
    kwargs["subject"] = oras.oci.Subject(**req["subject"])
response = client.push(**kwargs)
print("ORAS-RESULT " + json.dumps({"status": response.status_code,
                                   "digest": response.headers.get("Docker-Content-Digest")}))
"#;

fn push_oras(
    node: &Node,
    work: &Path,
    repo: &str,
    tag: &str,
    file: &str,
    artifact_type: &str,
    subject: Option<&Descriptor>,
) -> Result<String> {
    let dir = work.join(format!("oras-{}", repo.replace('/', "_")));
    fs::create_dir_all(&dir)?;
    fs::write(dir.join(file), format!("{repo}:{tag}, {file}\n"))?;
    fs::write(
        dir.join("config.json"),
        format!(r#"{{"artifact":"{repo}"}}"#),
    )?;
    let request = json!({
        "registry": node.host_port(),
        "user": ADMIN.0,
        "password": ADMIN.1,
        "workdir": dir,
        "target": format!("{}/{repo}:{tag}", node.host_port()),
        "file": file,
        "config": format!("config.json:{artifact_type}"),
        "subject": subject.map(|s| json!({ "mediaType": s.media_type, "digest": s.digest, "size": s.size })),
    });
    let mut cmd = Command::new(env::python()?);
    cmd.args(["-c", ORAS_PUSH, &request.to_string()]);
    let out = process::run(&mut cmd, CLIENT_TIMEOUT)?.check()?;
    let stdout = out.stdout_text();
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("ORAS-RESULT "))
        .with_context(|| format!("oras printed no result\n{out}"))?;
    let result: Value = serde_json::from_str(line)?;
    ensure!(
        result["status"] == 201,
        "oras push of {repo}:{tag}: {result}"
    );
    result["digest"]
        .as_str()
        .map(str::to_owned)
        .context("oras push without Docker-Content-Digest")
}

/// `PUT /v2/_zot/ext/userprefs` for each (user, repository), against `registry` (a node or a gateway).
pub(super) fn toggle_all(
    registry: &Registry,
    action: &str,
    toggles: &[(&str, &str)],
) -> Result<()> {
    for (user, repo) in toggles {
        let (user, password) = credentials(user)?;
        let response = registry
            .as_user(user, password)
            .put("/v2/_zot/ext/userprefs")
            .query(&[("repo", *repo), ("action", action)])
            .send()?;
        ensure!(
            response.status() == 200,
            "{action} of {repo} by {user} answered {}",
            response.status()
        );
    }
    Ok(())
}

/// One monolithic upload (`POST ?digest=`); returns the blob's descriptor.
fn upload(http: &Registry, repo: &str, media_type: &str, bytes: &[u8]) -> Result<Descriptor> {
    let desc = Descriptor::of(media_type, bytes);
    let response = http
        .post(&format!("/v2/{repo}/blobs/uploads/?digest={}", desc.digest))
        .header("Content-Type", "application/octet-stream")
        .body(bytes.to_vec())
        .send()?;
    ensure!(
        response.status() == 201,
        "uploading a blob to {repo} answered {}",
        response.status()
    );
    Ok(desc)
}

fn put_manifest(http: &Registry, repo: &str, reference: &str, bytes: &[u8]) -> Result<String> {
    let response = http
        .put(&format!("/v2/{repo}/manifests/{reference}"))
        .header("Content-Type", OCI_MANIFEST)
        .body(bytes.to_vec())
        .send()?;
    ensure!(
        response.status() == 201,
        "PUT {repo}:{reference} answered {}: {}",
        response.status(),
        response.text().unwrap_or_default()
    );
    Ok(sha256_digest(bytes))
}

/// The descriptor of a manifest, from a HEAD (which counts no download).
fn head_descriptor(http: &Registry, repo: &str, digest: &str) -> Result<Descriptor> {
    let response = http
        .head(&format!("/v2/{repo}/manifests/{digest}"))
        .header("Accept", crate::http::MANIFEST_ACCEPT)
        .send()?;
    ensure!(
        response.status() == 200,
        "HEAD {repo}@{digest}: {}",
        response.status()
    );
    let header = |name: &str| -> Result<String> {
        Ok(response
            .headers()
            .get(name)
            .with_context(|| format!("HEAD {repo}@{digest} without {name}"))?
            .to_str()?
            .to_owned())
    };
    Ok(Descriptor {
        media_type: header("content-type")?,
        digest: digest.into(),
        size: header("content-length")?.parse()?,
        platform: None,
    })
}

fn digest_of(tags: &[(String, String, String)], repo: &str, tag: &str) -> Result<String> {
    tags.iter()
        .find(|(r, t, _)| r == repo && t == tag)
        .map(|(_, _, d)| d.clone())
        .with_context(|| format!("{repo}:{tag} was not pushed"))
}

pub(super) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

impl Record {
    pub(super) fn to_json(&self) -> Value {
        json!({
            "tags": self.tags,
            "signed": self.signed,
            "subject": self.subject,
            "sbom": self.sbom,
            "attestation": self.attestation,
            "pushed_from": self.pushed_from,
            "pushed_until": self.pushed_until,
        })
    }

    pub(super) fn from_json(value: &Value) -> Result<Self> {
        let text = |key: &str| -> Result<String> {
            value[key]
                .as_str()
                .map(str::to_owned)
                .with_context(|| format!("fixture.json without {key}"))
        };
        Ok(Self {
            tags: serde_json::from_value(value["tags"].clone())?,
            signed: serde_json::from_value(value["signed"].clone())?,
            subject: text("subject")?,
            sbom: text("sbom")?,
            attestation: text("attestation")?,
            pushed_from: value["pushed_from"].as_u64().unwrap_or_default(),
            pushed_until: value["pushed_until"].as_u64().unwrap_or_default(),
        })
    }

    /// Tags grouped by repository, in push order.
    pub(super) fn by_repo(&self) -> BTreeMap<String, Vec<(String, String)>> {
        let mut repos: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for (repo, tag, digest) in &self.tags {
            repos
                .entry(repo.clone())
                .or_default()
                .push((tag.clone(), digest.clone()));
        }
        repos
    }
}
