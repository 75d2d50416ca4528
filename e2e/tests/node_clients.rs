//! A user pushes, copies, lists, inspects and deletes images on one `flotilla-node` with skopeo and umoci.
//!
//! Every image comes back byte for byte: skopeo copies manifests and
//! compressed layers as they are, so any change the node made to a manifest,
//! a config or a layer shows up as a different digest.

use anyhow::{ensure, Result};
use flotilla_e2e::layout::{sha256_digest, OCI_INDEX};
use flotilla_e2e::{oci_ref, Layout, Node, Platform, Skopeo, Umoci};
use serde_json::Value;
use tempfile::TempDir;

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

#[test]
fn skopeo_push_then_pull_returns_the_same_bytes() -> Result<()> {
    let node = Node::start()?;
    let skopeo = Skopeo::new()?;
    let work = TempDir::new()?;
    let (pushed, image) = Layout::with_image(&work.path().join("pushed"), "v1", "round-trip")?;

    skopeo.copy(&pushed.reference("v1"), &node.image("test/hello:v1"))?;
    let pulled_dir = work.path().join("pulled");
    skopeo.copy(&node.image("test/hello:v1"), &oci_ref(&pulled_dir, "v1"))?;

    Layout::open(&pulled_dir)?.ensure_same_image("v1", &pushed, "v1")?;
    assert_eq!(
        node.http().manifest("test/hello", "v1")?,
        pushed.blob(&image.digest)?
    );
    Ok(())
}

#[test]
fn skopeo_copies_an_image_between_repositories_of_the_node() -> Result<()> {
    let node = Node::start()?;
    let skopeo = Skopeo::new()?;
    let work = TempDir::new()?;
    let (pushed, _) = Layout::with_image(&work.path().join("pushed"), "v1", "cross-repo")?;
    skopeo.copy(&pushed.reference("v1"), &node.image("test/hello:v1"))?;

    skopeo.copy(&node.image("test/hello:v1"), &node.image("other/copy:v2"))?;

    assert_eq!(
        skopeo.inspect_raw(&node.image("other/copy:v2"))?,
        skopeo.inspect_raw(&node.image("test/hello:v1"))?
    );
    let pulled_dir = work.path().join("pulled");
    skopeo.copy(&node.image("other/copy:v2"), &oci_ref(&pulled_dir, "v2"))?;
    Layout::open(&pulled_dir)?.ensure_same_image("v2", &pushed, "v1")
}

#[test]
fn skopeo_list_tags_shows_every_pushed_tag() -> Result<()> {
    let node = Node::start()?;
    let skopeo = Skopeo::new()?;
    let work = TempDir::new()?;
    let (pushed, _) = Layout::with_image(&work.path().join("pushed"), "v1", "tags")?;

    for tag in ["v1", "v2", "latest"] {
        skopeo.copy(
            &pushed.reference("v1"),
            &node.image(&format!("test/tags:{tag}")),
        )?;
    }

    let mut tags = skopeo.list_tags(&node.image("test/tags"))?;
    tags.sort();
    assert_eq!(tags, ["latest", "v1", "v2"]);
    Ok(())
}

#[test]
fn skopeo_inspect_reports_the_pushed_manifest() -> Result<()> {
    let node = Node::start()?;
    let skopeo = Skopeo::new()?;
    let work = TempDir::new()?;
    let (pushed, image) = Layout::with_image(&work.path().join("pushed"), "v1", "inspect")?;
    skopeo.copy(&pushed.reference("v1"), &node.image("test/inspect:v1"))?;

    let summary = skopeo.inspect(&node.image("test/inspect:v1"))?;

    assert_eq!(summary["Digest"], image.digest.as_str());
    assert_eq!(summary["Architecture"], "amd64");
    assert_eq!(summary["Os"], "linux");
    let manifest: Value = serde_json::from_slice(&pushed.blob(&image.digest)?)?;
    let layer_digests: Vec<&Value> = manifest["layers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| &l["digest"])
        .collect();
    let reported: Vec<&Value> = summary["Layers"].as_array().into_iter().flatten().collect();
    assert_eq!(reported, layer_digests);
    assert_eq!(
        skopeo.inspect_raw(&node.image("test/inspect:v1"))?,
        pushed.blob(&image.digest)?
    );
    Ok(())
}

#[test]
fn skopeo_delete_removes_the_tag_and_keeps_the_others() -> Result<()> {
    let node = Node::start()?;
    let skopeo = Skopeo::new()?;
    let work = TempDir::new()?;
    let (pushed, _) = Layout::with_image(&work.path().join("pushed"), "v1", "keep")?;
    let other = pushed.add_image("delete-me", &Platform::linux("amd64"), 1)?;
    pushed.tag("v2", &other)?;
    skopeo.copy(&pushed.reference("v1"), &node.image("test/delete:v1"))?;
    skopeo.copy(&pushed.reference("v2"), &node.image("test/delete:v2"))?;

    skopeo.delete(&node.image("test/delete:v2"))?;

    assert_eq!(skopeo.list_tags(&node.image("test/delete"))?, ["v1"]);
    let gone = node.http().get("/v2/test/delete/manifests/v2").send()?;
    assert_eq!(gone.status(), 404);
    let body: Value = gone.json()?;
    assert_eq!(
        body["errors"][0]["code"], "MANIFEST_UNKNOWN",
        "body: {body}"
    );
    let pulled_dir = work.path().join("pulled");
    skopeo.copy(&node.image("test/delete:v1"), &oci_ref(&pulled_dir, "v1"))?;
    Layout::open(&pulled_dir)?.ensure_same_image("v1", &pushed, "v1")
}

#[test]
fn a_docker_v2s2_manifest_pushed_with_skopeo_is_served_with_its_media_type() -> Result<()> {
    let node = Node::start()?;
    let skopeo = Skopeo::new()?;
    let work = TempDir::new()?;
    let (pushed, image) = Layout::with_image(&work.path().join("pushed"), "v1", "docker")?;

    skopeo.copy_as_docker_v2s2(&pushed.reference("v1"), &node.image("test/docker:v1"))?;

    let response = node
        .http()
        .get("/v2/test/docker/manifests/v1")
        .header("Accept", DOCKER_MANIFEST)
        .send()?;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], DOCKER_MANIFEST);
    let served_digest = response.headers()["docker-content-digest"]
        .to_str()?
        .to_owned();
    let served = response.bytes()?.to_vec();
    assert_eq!(served_digest, sha256_digest(&served));
    assert_eq!(skopeo.inspect_raw(&node.image("test/docker:v1"))?, served);
    // Converting the manifest leaves config and layers as they were.
    let docker: Value = serde_json::from_slice(&served)?;
    let oci: Value = serde_json::from_slice(&pushed.blob(&image.digest)?)?;
    assert_eq!(docker["mediaType"], DOCKER_MANIFEST);
    assert_eq!(docker["config"]["digest"], oci["config"]["digest"]);
    let digests = |m: &Value| {
        m["layers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| l["digest"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(digests(&docker), digests(&oci));
    Ok(())
}

#[test]
fn a_umoci_built_image_pushed_with_skopeo_comes_back_identical() -> Result<()> {
    let node = Node::start()?;
    let skopeo = Skopeo::new()?;
    let work = TempDir::new()?;
    let built = Umoci::new()?.build(
        &work.path().join("umoci"),
        "latest",
        &[
            ("etc/motd", b"built by umoci\n"),
            ("usr/share/flotilla/data.txt", b"one two three\n"),
        ],
    )?;

    skopeo.copy(&built.reference("latest"), &node.image("umoci/app:1.0"))?;
    let pulled_dir = work.path().join("pulled");
    skopeo.copy(&node.image("umoci/app:1.0"), &oci_ref(&pulled_dir, "1.0"))?;

    Layout::open(&pulled_dir)?.ensure_same_image("1.0", &built, "latest")
}

#[test]
fn a_multi_arch_index_pushed_with_copy_all_is_served_and_pulled_back_byte_for_byte() -> Result<()> {
    let node = Node::start()?;
    let skopeo = Skopeo::new()?;
    let work = TempDir::new()?;
    let platforms = [
        Platform::linux("amd64"),
        Platform::linux("arm64"),
        Platform::linux_variant("arm", "v7"),
    ];
    let (pushed, index) = Layout::with_multi_arch(
        &work.path().join("pushed"),
        "multi",
        "multi-arch",
        &platforms,
    )?;

    skopeo.copy_all(&pushed.reference("multi"), &node.image("test/multi:v1"))?;

    // The index is served as pushed, with its media type.
    let http = node.http();
    let response = http
        .get("/v2/test/multi/manifests/v1")
        .header("Accept", OCI_INDEX)
        .send()?;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], OCI_INDEX);
    assert_eq!(
        response.headers()["docker-content-digest"],
        index.digest.as_str()
    );
    assert_eq!(response.bytes()?.to_vec(), pushed.blob(&index.digest)?);
    // So is every manifest by digest, and every blob they name.
    for (digest, bytes) in pushed.closure(&index)? {
        let served = if is_manifest(&bytes) {
            http.manifest("test/multi", &digest)?
        } else {
            http.blob("test/multi", &digest)?
        };
        ensure!(served == bytes, "{digest} is served with different bytes");
    }
    // And skopeo pulls the whole index back unchanged.
    let pulled_dir = work.path().join("pulled");
    skopeo.copy_all(&node.image("test/multi:v1"), &oci_ref(&pulled_dir, "multi"))?;
    Layout::open(&pulled_dir)?.ensure_same_image("multi", &pushed, "multi")
}

/// Whether `bytes` is a manifest or an index (has `schemaVersion`) rather than a config or a layer.
fn is_manifest(bytes: &[u8]) -> bool {
    serde_json::from_slice::<Value>(bytes).is_ok_and(|v| v.get("schemaVersion").is_some())
}
