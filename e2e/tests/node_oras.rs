//! A user keeps artifacts on one `flotilla-node` with oras (Python) and attaches them to images as referrers.
//!
//! The referrers API (OCI Distribution 1.1) lists every manifest whose
//! `subject` is a given manifest, filtered by `artifactType` on request.

use std::fs;
use std::path::Path;

use anyhow::Result;
use flotilla_e2e::layout::{seeded_bytes, sha256_digest, OCI_EMPTY, OCI_INDEX, OCI_MANIFEST};
use flotilla_e2e::{Descriptor, Layout, Node, Oras, Push, Registry, Skopeo};
use serde_json::{json, Value};
use tempfile::TempDir;

const SBOM_TYPE: &str = "application/vnd.flotilla.sbom.v1+json";
const SIGNATURE_TYPE: &str = "application/vnd.flotilla.signature.v1";

#[test]
fn oras_push_then_pull_returns_the_same_file() -> Result<()> {
    let node = Node::start()?;
    let oras = Oras::new(&node.host_port())?;
    let work = TempDir::new()?;
    let artifact = seeded_bytes("oras artifact", 150_000);
    fs::write(work.path().join("artifact.bin"), &artifact)?;

    let pushed = oras.push(
        "oras/artifact:v1",
        &Push::files(work.path(), &["artifact.bin"]),
    )?;
    assert_eq!(pushed.status, 201);
    let files = oras.pull("oras/artifact:v1", &work.path().join("out"))?;

    assert_eq!(files, [work.path().join("out/artifact.bin")]);
    assert_eq!(fs::read(&files[0])?, artifact);
    Ok(())
}

#[test]
fn oras_chunked_push_is_pulled_back_intact() -> Result<()> {
    let node = Node::start()?;
    let oras = Oras::new(&node.host_port())?;
    let work = TempDir::new()?;
    let artifact = seeded_bytes("chunked artifact", 300_001);
    fs::write(work.path().join("big.bin"), &artifact)?;

    // 64 KiB PATCHes with Content-Range, then a closing PUT.
    oras.push(
        "oras/chunked:v1",
        &Push::files(work.path(), &["big.bin"]).chunked(64 * 1024),
    )?;
    let files = oras.pull("oras/chunked:v1", &work.path().join("out"))?;

    assert_eq!(fs::read(&files[0])?, artifact);
    Ok(())
}

#[test]
fn oras_get_tags_lists_every_tag_of_the_artifact() -> Result<()> {
    let node = Node::start()?;
    let oras = Oras::new(&node.host_port())?;
    let work = TempDir::new()?;
    fs::write(work.path().join("notes.txt"), "release notes\n")?;

    for tag in ["v1", "v2", "stable"] {
        oras.push(
            &format!("oras/notes:{tag}"),
            &Push::files(work.path(), &["notes.txt"]),
        )?;
    }

    assert_eq!(oras.tags("oras/notes")?, ["stable", "v1", "v2"]);
    Ok(())
}

#[test]
fn referrers_list_every_artifact_pushed_with_the_image_as_subject() -> Result<()> {
    let node = Node::start()?;
    let work = TempDir::new()?;
    let attached = image_with_two_referrers(&node, work.path())?;

    let response = node
        .http()
        .get(&referrers_path(&attached.image.digest))
        .send()?;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], OCI_INDEX);
    assert!(
        response.headers().get("oci-filters-applied").is_none(),
        "no filter was asked for"
    );
    let index: Value = response.json()?;
    assert_eq!(index["mediaType"], OCI_INDEX, "{index}");
    let mut listed = listed_referrers(&index);
    listed.sort();
    let mut expected = vec![
        (attached.sbom.clone(), SBOM_TYPE.to_owned()),
        (attached.signature.clone(), SIGNATURE_TYPE.to_owned()),
    ];
    expected.sort();
    assert_eq!(listed, expected, "{index}");
    Ok(())
}

#[test]
fn referrers_filtered_by_artifact_type_list_only_that_type_and_say_so() -> Result<()> {
    let node = Node::start()?;
    let work = TempDir::new()?;
    let attached = image_with_two_referrers(&node, work.path())?;

    // `.query` percent-encodes the `+` of the media type, as clients must.
    let response = node
        .http()
        .get(&referrers_path(&attached.image.digest))
        .query(&[("artifactType", SBOM_TYPE)])
        .send()?;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["oci-filters-applied"], "artifactType");
    let index: Value = response.json()?;
    assert_eq!(
        listed_referrers(&index),
        [(attached.sbom, SBOM_TYPE.to_owned())],
        "{index}"
    );
    Ok(())
}

#[test]
fn referrers_of_a_manifest_without_any_are_an_empty_index() -> Result<()> {
    let node = Node::start()?;
    let work = TempDir::new()?;
    let (layout, image) = Layout::with_image(&work.path().join("image"), "v1", "lonely")?;
    Skopeo::new()?.copy(&layout.reference("v1"), &node.image("oras/app:v1"))?;

    let response = node.http().get(&referrers_path(&image.digest)).send()?;

    assert_eq!(response.status(), 200);
    let index: Value = response.json()?;
    assert_eq!(index["manifests"], json!([]), "{index}");
    Ok(())
}

/// An image in `oras/app` with two artifacts attached: an SBOM pushed by
/// oras (its type is its config's media type) and a signature manifest PUT by
/// hand with an `artifactType` and the empty config, as the 1.1 spec shows.
struct Attached {
    image: Descriptor,
    sbom: String,
    signature: String,
}

fn image_with_two_referrers(node: &Node, work: &Path) -> Result<Attached> {
    let (layout, image) = Layout::with_image(&work.join("image"), "v1", "referred")?;
    Skopeo::new()?.copy(&layout.reference("v1"), &node.image("oras/app:v1"))?;

    fs::write(work.join("sbom.json"), r#"{"packages":["flotilla"]}"#)?;
    fs::write(
        work.join("sbom-config.json"),
        r#"{"format":"flotilla-sbom"}"#,
    )?;
    let push = Push::files(work, &["sbom.json"])
        .config("sbom-config.json", SBOM_TYPE)
        .subject(&image);
    let pushed = Oras::new(&node.host_port())?.push("oras/app:sbom", &push)?;
    assert_eq!(pushed.status, 201);
    assert_eq!(
        pushed.subject.as_deref(),
        Some(image.digest.as_str()),
        "OCI-Subject header"
    );
    let sbom = pushed
        .digest
        .expect("the manifest PUT answers with Docker-Content-Digest");

    let signature = put_signature(&node.http(), "oras/app", &image)?;
    Ok(Attached {
        image,
        sbom,
        signature,
    })
}

/// Uploads the empty blob `{}` in one POST and PUTs a signature manifest whose subject is `subject`.
fn put_signature(http: &Registry, repo: &str, subject: &Descriptor) -> Result<String> {
    let empty = Descriptor::of(OCI_EMPTY, b"{}");
    let upload = http
        .post(&format!(
            "/v2/{repo}/blobs/uploads/?digest={}",
            empty.digest
        ))
        .header("Content-Type", "application/octet-stream")
        .body("{}")
        .send()?;
    assert_eq!(upload.status(), 201, "monolithic POST of the empty blob");

    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": SIGNATURE_TYPE,
        "config": empty.to_json(),
        "layers": [empty.to_json()],
        "subject": subject.to_json(),
        "annotations": { "org.flotilla.e2e": "signature" },
    }))?;
    let digest = sha256_digest(&manifest);
    let response = http
        .put(&format!("/v2/{repo}/manifests/{digest}"))
        .header("Content-Type", OCI_MANIFEST)
        .body(manifest)
        .send()?;
    assert_eq!(response.status(), 201, "PUT of the signature manifest");
    assert_eq!(response.headers()["oci-subject"], subject.digest.as_str());
    Ok(digest)
}

fn referrers_path(digest: &str) -> String {
    format!("/v2/oras/app/referrers/{digest}")
}

/// `(digest, artifactType)` of each entry of a referrers index.
fn listed_referrers(index: &Value) -> Vec<(String, String)> {
    index["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let text = |key: &str| m[key].as_str().unwrap_or_default().to_owned();
            (text("digest"), text("artifactType"))
        })
        .collect()
}
