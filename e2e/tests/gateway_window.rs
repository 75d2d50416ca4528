//! A member joins: while `cluster.previousMembers` names the fleet before the change, repositories not yet moved are still served from their previous owner, pushes land on the new owner and succeed even when they began before the change or skipped blobs the previous owner holds.

use anyhow::{ensure, Context, Result};
use flotilla_e2e::cluster::upload_blob;
use flotilla_e2e::gateway::GatewayBuilder;
use flotilla_e2e::layout::{seeded_bytes, sha256_digest};
use flotilla_e2e::search_fixture::Gql;
use flotilla_e2e::{Gateway, Layout, Node, Skopeo};
use serde_json::{json, Value};

/// Two nodes; the gateway in front of the first alone, then of both with
/// the first as `previousMembers`.
struct Grown {
    nodes: Vec<Node>,
    gateway: Gateway,
    window: GatewayBuilder,
}

impl Grown {
    fn start() -> Result<Self> {
        Self::of(vec![Node::start()?, Node::start()?])
    }

    /// With zot's search extension on both nodes.
    fn searchable() -> Result<Self> {
        Self::of(vec![
            Node::builder().search().start()?,
            Node::builder().search().start()?,
        ])
    }

    fn of(nodes: Vec<Node>) -> Result<Self> {
        let one = Gateway::builder().members(&[nodes[0].host_port()]);
        let gateway = one.clone().start()?;
        let window = one
            .members(&[nodes[0].host_port(), nodes[1].host_port()])
            .setting("cluster.previousMembers", json!([nodes[0].host_port()]));
        Ok(Self {
            nodes,
            gateway,
            window,
        })
    }

    /// A repository the change moves to the second node.
    fn moved(&self, prefix: &str) -> Result<String> {
        self.all_moved(prefix, 1)?
            .pop()
            .context("no repository moves")
    }

    /// `count` repositories the change moves to the second node.
    fn all_moved(&self, prefix: &str, count: usize) -> Result<Vec<String>> {
        let ring = self.window.ring()?;
        let moved: Vec<String> = (0..256)
            .map(|i| format!("{prefix}-{i}"))
            .filter(|repo| ring.owner(repo) == 1)
            .take(count)
            .collect();
        ensure!(moved.len() == count, "too few repositories move");
        Ok(moved)
    }

    /// Opens the window, and waits until the gateway has it in force.
    fn open_window(&mut self) -> Result<()> {
        self.gateway
            .reload_in_force(&self.window.config().to_string())
    }

    fn tags(&self, repo: &str) -> Result<Value> {
        Ok(self
            .gateway
            .http()
            .get(&format!("/v2/{repo}/tags/list"))
            .send()?
            .json()?)
    }
}

#[test]
fn an_image_not_yet_moved_pulls_from_its_previous_owner_and_a_new_tag_lands_on_the_new_one(
) -> Result<()> {
    let mut grown = Grown::start()?;
    let repo = grown.moved("window/app")?;
    let scratch = tempfile::tempdir()?;
    let (layout, _) = Layout::with_image(&scratch.path().join("src"), "v1", "window")?;
    let skopeo = Skopeo::new()?;
    skopeo.copy(
        &layout.reference("v1"),
        &grown.gateway.image(&format!("{repo}:v1")),
    )?;
    grown.open_window()?;

    // Before any data moves, the image pulls byte for byte through the gateway.
    let pulled = scratch.path().join("pulled");
    skopeo.pull_same_image(
        &grown.gateway.image(&format!("{repo}:v1")),
        &pulled,
        "v1",
        &layout,
    )?;
    let catalog: Value = grown.gateway.http().get("/v2/_catalog").send()?.json()?;
    ensure!(catalog == json!({ "repositories": [repo] }), "{catalog}");

    // A second tag of the same image: skopeo finds every blob (on the
    // previous owner) and skips it; the manifest lands on the new owner.
    skopeo.copy(
        &layout.reference("v1"),
        &grown.gateway.image(&format!("{repo}:v2")),
    )?;
    let on_new: Value = grown.nodes[1]
        .http()
        .get(&format!("/v2/{repo}/tags/list"))
        .send()?
        .json()?;
    ensure!(
        on_new["tags"] == json!(["v2"]),
        "the new owner holds {on_new}"
    );
    ensure!(
        grown.tags(&repo)?["tags"] == json!(["v1", "v2"]),
        "{}",
        grown.tags(&repo)?
    );
    let page: Value = grown
        .gateway
        .http()
        .get(&format!("/v2/{repo}/tags/list?n=1&last=v1"))
        .send()?
        .json()?;
    ensure!(page == json!({ "name": repo, "tags": ["v2"] }), "{page}");
    // v2 pulls from the new owner alone: its blobs were copied there.
    let direct = format!("docker://{}/{repo}:v2", grown.nodes[1].host_port());
    skopeo
        .pull_same_image(&direct, &scratch.path().join("direct"), "v1", &layout)
        .context("the new owner cannot serve v2 by itself")?;

    // A tag nobody has is a manifest unknown in a known repository.
    let missing = grown
        .gateway
        .http()
        .get(&format!("/v2/{repo}/manifests/v9"))
        .send()?;
    ensure!(missing.status() == 404);
    let body: Value = missing.json()?;
    ensure!(body["errors"][0]["code"] == "MANIFEST_UNKNOWN", "{body}");
    Ok(())
}

#[test]
fn an_upload_begun_before_the_change_finishes_and_its_blob_follows_the_manifest() -> Result<()> {
    let mut grown = Grown::start()?;
    let repo = grown.moved("window/upload")?;
    let http = grown.gateway.http();
    let opened = http.post(&format!("/v2/{repo}/blobs/uploads/")).send()?;
    ensure!(opened.status() == 202, "{}", opened.status());
    let location = opened
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .context("no Location")?
        .to_owned();
    grown.open_window()?;

    let bytes = seeded_bytes("an upload across the change", 300_000);
    let digest = sha256_digest(&bytes);
    let separator = if location.contains('?') { '&' } else { '?' };
    let closed = http
        .put(&format!("{location}{separator}digest={digest}"))
        .header("Content-Type", "application/octet-stream")
        .body(bytes.clone())
        .send()?;
    ensure!(
        closed.status() == 201,
        "closing the upload: {}",
        closed.status()
    );
    let got = http.get(&format!("/v2/{repo}/blobs/{digest}")).send()?;
    ensure!(
        got.status() == 200 && got.bytes()? == bytes,
        "the blob does not read back"
    );

    // A manifest naming it (and a config uploaded now) is stored on the new owner.
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let config_digest = upload_blob(&http, &repo, config)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len() },
        "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest, "size": bytes.len() }],
    });
    let put = http
        .put(&format!("/v2/{repo}/manifests/latest"))
        .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        .body(serde_json::to_vec(&manifest)?)
        .send()?;
    ensure!(
        put.status() == 201,
        "manifest PUT: {} {}",
        put.status(),
        put.text()?
    );
    let on_new = grown.nodes[1]
        .http()
        .get(&format!("/v2/{repo}/blobs/{digest}"))
        .send()?;
    ensure!(
        on_new.status() == 200 && on_new.bytes()? == bytes,
        "the layer was not copied to the new owner"
    );
    Ok(())
}

#[test]
fn a_delete_in_the_window_leaves_nothing_behind_on_either_owner() -> Result<()> {
    let mut grown = Grown::start()?;
    let repo = grown.moved("window/delete")?;
    let http = grown.gateway.http();
    let image = flotilla_e2e::push_small_image(&http, &repo, "v1")?;
    grown.open_window()?;
    let digest = image.manifest.digest;
    let deleted = http
        .delete(&format!("/v2/{repo}/manifests/{digest}"))
        .send()?;
    ensure!(deleted.status() == 202, "{}", deleted.status());
    for node in &grown.nodes {
        let status = node
            .http()
            .head(&format!("/v2/{repo}/manifests/{digest}"))
            .send()?
            .status();
        ensure!(status == 404, "{} still has it: {status}", node.host_port());
    }
    let gone = http
        .get(&format!("/v2/{repo}/manifests/{digest}"))
        .send()?
        .status();
    ensure!(gone == 404, "{gone}");
    Ok(())
}

#[test]
fn search_fields_about_one_repository_answer_from_its_previous_owner_as_one_registry() -> Result<()>
{
    let mut grown = Grown::searchable()?;
    let repo = grown.moved("window/search")?;
    flotilla_e2e::push_small_image(&grown.gateway.http(), &repo, "v1")?;
    grown.open_window()?;
    // Before the change, the first node held everything: it is the one registry.
    let one = Gql::new(grown.nodes[0].http());
    let fleet = Gql::new(grown.gateway.http());
    for query in [
        format!(
            r#"{{ExpandedRepoInfo(repo:"{repo}"){{Summary{{Name Size}} Images{{Tag Digest}}}}}}"#
        ),
        format!(r#"{{Image(image:"{repo}:v1"){{RepoName Tag Digest Size}}}}"#),
        format!(
            r#"{{ImageList(repo:"{repo}"){{Page{{TotalCount ItemCount}} Results{{Tag Digest}}}}}}"#
        ),
        format!(r#"{{GlobalSearch(query:"{repo}:v1"){{Images{{RepoName Tag}}}}}}"#),
        format!(r#"{{Image(image:"{repo}:nope"){{Tag}}}}"#),
    ] {
        let (want, got) = (one.get(&query)?, fleet.get(&query)?);
        ensure!(
            got.body == want.body,
            "{query}\n one registry: {}\n the fleet: {}",
            want.body,
            got.body
        );
    }
    Ok(())
}

#[test]
fn a_mount_from_a_repository_not_yet_moved_copies_from_its_previous_owner() -> Result<()> {
    let mut grown = Grown::start()?;
    let moved = grown.all_moved("window/mount", 2)?;
    let (from, to) = (&moved[0], &moved[1]);
    let http = grown.gateway.http();
    let bytes = seeded_bytes("a blob mounted across the change", 200_000);
    let digest = upload_blob(&http, from, &bytes)?;
    grown.open_window()?;
    let mounted = http
        .post(&format!(
            "/v2/{to}/blobs/uploads/?mount={digest}&from={from}"
        ))
        .send()?;
    ensure!(
        mounted.status() == 201,
        "one registry mounts what it holds: {}",
        mounted.status()
    );
    let on_owner = grown.nodes[1]
        .http()
        .get(&format!("/v2/{to}/blobs/{digest}"))
        .send()?;
    ensure!(
        on_owner.status() == 200 && on_owner.bytes()? == bytes,
        "the blob is not on the owner of {to}"
    );
    Ok(())
}
