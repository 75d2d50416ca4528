//! The loop guard: a request that already passed through a gateway is refused with `508 Loop Detected`, never forwarded.
//!
//! Every request a gateway sends to a member carries `x-flotilla-hop`. A
//! member address that points back at a gateway (itself, or another one)
//! would otherwise bounce requests around forever.

use std::time::Duration;

use anyhow::Result;
use flotilla_e2e::cluster::error_body;
use flotilla_e2e::daemon::free_port;
use flotilla_e2e::layout::{seeded_bytes, sha256_digest};
use flotilla_e2e::{push_small_image, Cluster, Gateway, Node};
use tokio::time::Instant;

const HOP: &str = "x-flotilla-hop";

#[test]
fn a_request_carrying_the_hop_header_is_refused_with_508_and_reaches_no_member() -> Result<()> {
    let cluster = Cluster::start(3)?;
    let http = cluster.gateway().http();
    let repo = "loop/guarded";
    let blob = seeded_bytes("must never land", 1000);
    let digest = sha256_digest(&blob);

    // A monolithic upload: had any member seen it, the blob would exist there.
    let upload = http
        .post(&format!("/v2/{repo}/blobs/uploads/?digest={digest}"))
        .header(HOP, "1")
        .header("Content-Type", "application/octet-stream")
        .body(blob)
        .send()?;

    assert_eq!(upload.status(), 508);
    assert_eq!(error_body(upload)["errors"][0]["code"], "LOOP_DETECTED");
    let read = http.get("/v2/_catalog").header(HOP, "1").send()?;
    assert_eq!(read.status(), 508, "a catalog with the hop header");
    for (i, member) in cluster.members().iter().enumerate() {
        let head = member
            .http()
            .head(&format!("/v2/{repo}/blobs/{digest}"))
            .send()?;
        assert_eq!(head.status(), 404, "member {i} holds the refused blob");
        assert_eq!(
            member.status(&format!("/v2/{repo}/tags/list"))?,
            404,
            "member {i}"
        );
    }
    Ok(())
}

#[test]
fn a_gateway_listed_among_its_own_members_answers_508_instead_of_looping() -> Result<()> {
    let port = free_port()?;
    let gateway = Gateway::builder()
        .members(&[format!("127.0.0.1:{port}")])
        .port(port)
        .start()?;
    let started = Instant::now();

    let response = gateway
        .http()
        .get("/v2/itself/repo/manifests/v1")
        .timeout(Duration::from_secs(10))
        .send()?;

    let status = response.status();
    let body = error_body(response);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered after {:?}",
        started.elapsed()
    );
    assert_eq!(status, 508, "body: {body}");
    assert_eq!(body["errors"][0]["code"], "LOOP_DETECTED", "body: {body}");
    Ok(())
}

#[test]
fn a_gateway_whose_member_is_another_gateway_answers_508_for_its_repositories() -> Result<()> {
    let node = Node::start()?;
    let inner = Gateway::builder().members(&[node.host_port()]).start()?;
    let outer = Gateway::builder()
        .members(&[node.host_port(), inner.host_port()])
        .start()?;
    let names: Vec<String> = (0..50).map(|i| format!("chain/repo-{i}")).collect();
    let on_node = names
        .iter()
        .find(|r| outer.owner(r) == 0)
        .expect("a name on the node");
    let on_inner = names
        .iter()
        .find(|r| outer.owner(r) == 1)
        .expect("a name on the gateway");
    push_small_image(&outer.http(), on_node, "v1")?;

    let looped = outer
        .http()
        .get(&format!("/v2/{on_inner}/manifests/v1"))
        .timeout(Duration::from_secs(10))
        .send()?;

    let status = looped.status();
    let body = error_body(looped);
    assert_eq!(status, 508, "body: {body}");
    assert_eq!(body["errors"][0]["code"], "LOOP_DETECTED", "body: {body}");
    // The node's own repositories are unaffected.
    let fine = outer
        .http()
        .get(&format!("/v2/{on_node}/tags/list"))
        .send()?;
    assert_eq!(fine.status(), 200);
    Ok(())
}
