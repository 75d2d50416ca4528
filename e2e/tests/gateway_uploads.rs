//! Uploads through the gateway: chunked sessions go to the repository's owner, mounts work across members, and a body's failures land on whoever caused them.
//!
//! A chunked upload is several requests (POST, PATCH…, PUT) that must all
//! reach the same node. A mount names two repositories, which may live on
//! different nodes: the gateway then copies the blob itself, and the client
//! gets the `201 Created` one registry would give.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::thread;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use flotilla_e2e::cluster::expect_status;
use flotilla_e2e::layout::{seeded_bytes, sha256_digest, OCI_MANIFEST};
use flotilla_e2e::process::{require_tool, run};
use flotilla_e2e::{
    oci_ref, push_small_image, Cluster, FakeMember, Gateway, Layout, Oras, Push, Registry, Skopeo,
};
use reqwest::blocking::Response;
use tempfile::TempDir;
use tokio::time::Instant;

const CHUNK: usize = 64 * 1024;

#[test]
fn a_chunked_upload_through_the_gateway_lands_on_the_owner_only() -> Result<()> {
    let cluster = Cluster::start(3)?;
    let http = cluster.gateway().http();
    let repo = "uploads/chunked-raw";
    let blob = seeded_bytes("chunked through the gateway", 4 * CHUNK + 77);
    let digest = sha256_digest(&blob);

    let start = http.post(&format!("/v2/{repo}/blobs/uploads/")).send()?;
    let mut session = location(&cluster, expect_status(start, 202, "POST to start")?)?;
    for from in (0..blob.len()).step_by(CHUNK) {
        let to = (from + CHUNK).min(blob.len());
        let patch = http
            .patch(&session)
            .header("Content-Type", "application/octet-stream")
            .header("Content-Range", format!("{from}-{}", to - 1))
            .body(blob[from..to].to_vec())
            .send()?;
        let patch = expect_status(patch, 202, &format!("PATCH {from}-{}", to - 1))?;
        assert_eq!(patch.headers()["range"], format!("0-{}", to - 1).as_str());
        session = location(&cluster, patch)?;
    }
    let separator = if session.contains('?') { '&' } else { '?' };
    let put = http
        .put(&format!("{session}{separator}digest={digest}"))
        .send()?;
    let put = expect_status(put, 201, "PUT closing the upload")?;
    assert_eq!(put.headers()["docker-content-digest"], digest.as_str());

    assert_eq!(http.blob(repo, &digest)?, blob, "through the gateway");
    let owner = cluster.owner(repo);
    assert_eq!(cluster.member(owner).http().blob(repo, &digest)?, blob);
    for (i, member) in cluster.members().iter().enumerate() {
        if i != owner {
            let head = member
                .http()
                .head(&format!("/v2/{repo}/blobs/{digest}"))
                .send()?;
            assert_eq!(head.status(), 404, "member {i} is not the owner");
        }
    }
    Ok(())
}

#[test]
fn an_oras_chunked_push_through_the_gateway_is_pulled_back_intact() -> Result<()> {
    let cluster = Cluster::start(3)?;
    let oras = Oras::new(&cluster.gateway().host_port())?;
    let work = TempDir::new()?;
    let artifact = seeded_bytes("oras chunked via gateway", 5 * CHUNK + 3);
    fs::write(work.path().join("big.bin"), &artifact)?;

    oras.push(
        "uploads/oras-chunked:v1",
        &Push::files(work.path(), &["big.bin"]).chunked(CHUNK),
    )?;

    cluster.ensure_only_on_owner("uploads/oras-chunked")?;
    let files = oras.pull("uploads/oras-chunked:v1", &work.path().join("out"))?;
    assert_eq!(fs::read(&files[0])?, artifact);
    Ok(())
}

#[test]
fn skopeo_copy_between_repositories_on_different_members_puts_the_blobs_on_the_targets_owner(
) -> Result<()> {
    let cluster = Cluster::start(3)?;
    let gateway = cluster.gateway();
    let skopeo = Skopeo::new()?;
    let work = TempDir::new()?;
    let (src, dst) = two_repos_on_different_members(&cluster)?;
    let (pushed, image) =
        cluster.copy_across_members(&skopeo, work.path(), (&src, &dst, "v2"), "mounted")?;
    let owner = cluster.member(cluster.owner(&dst)).http();
    let manifest = pushed.closure(&image)?.remove(&image.digest);
    ensure!(
        manifest.is_some_and(|bytes| owner.manifest(&dst, &image.digest).ok() == Some(bytes)),
        "{} differs on the owner of {dst}",
        image.digest
    );
    let pulled = work.path().join("pulled");
    skopeo.copy(
        &gateway.image(&format!("{dst}:v2")),
        &oci_ref(&pulled, "v2"),
    )?;
    Layout::open(&pulled)?.ensure_same_image("v2", &pushed, "v1")
}

#[test]
fn a_mount_across_members_answers_201_with_the_blob_at_the_target() -> Result<()> {
    let cluster = Cluster::start(3)?;
    let http = cluster.gateway().http();
    let (src, dst) = two_repos_on_different_members(&cluster)?;
    let image = push_small_image(&http, &src, "v1")?;
    let digest = &image.layer.digest;

    let mount = http
        .post(&format!(
            "/v2/{dst}/blobs/uploads/?mount={digest}&from={src}"
        ))
        .send()?;

    let mount = expect_status(mount, 201, "cross-member mount")?;
    assert_eq!(mount.headers()["docker-content-digest"], digest.as_str());
    let target = location(&cluster, mount)?;
    ensure!(
        target.ends_with(&format!("/v2/{dst}/blobs/{digest}")),
        "Location {target} does not name the mounted blob"
    );
    let owner = cluster.member(cluster.owner(&dst)).http();
    assert_eq!(owner.blob(&dst, digest)?, http.blob(&src, digest)?);
    assert_eq!(http.get(&target).send()?.status(), 200, "GET {target}");
    Ok(())
}

#[test]
fn a_mount_from_a_repository_without_the_blob_opens_an_upload_session_on_the_target() -> Result<()>
{
    let cluster = Cluster::start(3)?;
    let http = cluster.gateway().http();
    let (src, dst) = two_repos_on_different_members(&cluster)?;
    push_small_image(&http, &src, "v1")?;
    let blob = seeded_bytes("never pushed to the source", 3000);
    let digest = sha256_digest(&blob);

    let mount = http
        .post(&format!(
            "/v2/{dst}/blobs/uploads/?mount={digest}&from={src}"
        ))
        .send()?;

    let mount = expect_status(mount, 202, "mount of a blob the source lacks")?;
    let session = location(&cluster, mount)?;
    let separator = if session.contains('?') { '&' } else { '?' };
    let put = http
        .put(&format!("{session}{separator}digest={digest}"))
        .header("Content-Type", "application/octet-stream")
        .body(blob.clone())
        .send()?;
    expect_status(put, 201, "PUT into the session the mount opened")?;
    let owner = cluster.member(cluster.owner(&dst)).http();
    assert_eq!(owner.blob(&dst, &digest)?, blob);
    // The source's owner was only asked; it holds nothing new.
    let source_owner = cluster.member(cluster.owner(&src)).http();
    let head = source_owner
        .head(&format!("/v2/{src}/blobs/{digest}"))
        .send()?;
    assert_eq!(head.status(), 404);
    Ok(())
}

/// `timeouts.response` used to bound the whole exchange, the client's body
/// included: a 40 MiB upload slower than it got a 504 blaming the member.
/// The wait for the member's answer now starts when the body ends.
#[test]
fn an_upload_slower_than_the_response_timeout_succeeds() -> Result<()> {
    require_tool("curl")?;
    let cluster = Cluster::builder()
        .nodes(2)
        .gateway(|g| {
            g.response(Duration::from_secs(1))
                .body_stall(Duration::from_secs(5))
        })
        .start()?;
    let http = cluster.gateway().http();
    let work = TempDir::new()?;
    let blob = vec![0x3c_u8; 40 << 20];
    let digest = sha256_digest(&blob);
    let file = work.path().join("blob");
    fs::write(&file, &blob)?;
    let session = open_session(&cluster, "uploads/slow")?;
    let url = http.url(&format!("{session}{}digest={digest}", separator(&session)));

    let started = Instant::now();
    let out = run(
        Command::new("curl")
            .args(["-sS", "--limit-rate", "12M", "-X", "PUT", "-o", "/dev/null"])
            .args([
                "-w",
                "%{http_code}",
                "-H",
                "Content-Type: application/octet-stream",
                "-T",
            ])
            .arg(&file)
            .arg(&url),
        Duration::from_secs(60),
    )?
    .check()?;
    let took = started.elapsed();

    assert_eq!(out.stdout_text(), "201", "{out}");
    assert!(
        took > Duration::from_secs(2),
        "the upload took only {took:?}"
    );
    let owner = cluster.member(cluster.owner("uploads/slow")).http();
    assert_eq!(owner.blob("uploads/slow", &digest)?.len(), blob.len());
    Ok(())
}

/// A client that stops sending its body mid-upload is cut off at the stall
/// bound with its own error (408), and the member is not blamed: it stays
/// up, no upstream failure is counted, and it keeps serving.
#[test]
fn a_stalled_client_body_is_cut_at_the_stall_bound_and_the_member_stays_up() -> Result<()> {
    let cluster = Cluster::builder()
        .nodes(2)
        .gateway(|g| g.body_stall(Duration::from_secs(1)))
        .start()?;
    let repo = "uploads/stalled";
    let session = open_session(&cluster, repo)?;
    let mut stream = raw_upload(&cluster, &session, "content-length: 100000\r\n")?;
    stream.write_all(&[7; 1000])?;

    let started = Instant::now();
    let answer = read_answer(&mut stream)?;
    let took = started.elapsed();

    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(took < Duration::from_secs(4), "cut after {took:?}");
    ensure_member_not_blamed(&cluster, repo, "stall")
}

/// A member that stops taking an upload (SIGSTOP) is cut off at the stall
/// bound with a 504 naming it, not held until the response timeout.
#[test]
fn a_member_that_stops_taking_an_upload_gets_a_504_naming_it_at_the_stall_bound() -> Result<()> {
    let cluster = Cluster::builder()
        .nodes(1)
        .gateway(|g| {
            g.body_stall(Duration::from_secs(1))
                .response(Duration::from_secs(60))
                // Probes slow to give up, so the stall bound is what cuts.
                .probe(Duration::from_secs(10))
        })
        .start()?;
    let member = cluster.member(0).host_port();
    let session = open_session(&cluster, "uploads/unread")?;
    let http = cluster.gateway().http();
    let url = format!(
        "{session}{}digest=sha256:{}",
        separator(&session),
        "0".repeat(64)
    );

    cluster.member(0).pause()?;
    let started = Instant::now();
    let answer = http
        .put(&url)
        .header("Content-Type", "application/octet-stream")
        .body(vec![1_u8; 64 << 20])
        .send();
    let took = started.elapsed();
    cluster.member(0).resume()?;

    let answer = answer?;
    assert_eq!(answer.status(), 504);
    let body: serde_json::Value = answer.json()?;
    assert_eq!(
        body["errors"][0]["detail"]["member"],
        member.as_str(),
        "{body}"
    );
    assert!(took < Duration::from_secs(5), "cut after {took:?}");
    Ok(())
}

/// A client's malformed chunked body used to come back as 503 "member
/// unavailable" and count as a member failure. It is the client's error
/// now (400), and the member is not blamed.
#[test]
fn a_malformed_chunked_body_is_the_clients_error_not_the_members() -> Result<()> {
    let cluster = Cluster::start(2)?;
    let repo = "uploads/malformed";
    let session = open_session(&cluster, repo)?;
    let mut stream = raw_upload(&cluster, &session, "transfer-encoding: chunked\r\n")?;
    stream.write_all(b"10\r\n0123456789abcdef\r\nzz-not-a-size\r\n")?;

    let answer = read_answer(&mut stream)?;

    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("BODY_INVALID"), "{answer}");
    ensure_member_not_blamed(&cluster, repo, "error")
}

/// A client that disconnects mid-upload used to count as a member failure.
#[test]
fn a_client_that_disconnects_mid_upload_is_not_a_member_failure() -> Result<()> {
    let cluster = Cluster::start(2)?;
    let repo = "uploads/gone";
    let session = open_session(&cluster, repo)?;
    let mut stream = raw_upload(&cluster, &session, "content-length: 100000\r\n")?;
    stream.write_all(&[7; 1000])?;
    drop(stream);

    let gateway = cluster.gateway();
    let deadline = Instant::now() + Duration::from_secs(5);
    while gateway.metric("flotilla_gateway_request_body_failures_total{kind=\"error\"}")? < 1.0 {
        ensure!(
            Instant::now() < deadline,
            "the disconnect was not seen within 5 s"
        );
        thread::sleep(Duration::from_millis(20));
    }
    ensure_member_not_blamed(&cluster, repo, "error")
}

/// A member that answers before the body ends (the node's 413 for a
/// manifest over its 4 MiB limit) must have that answer reach the client:
/// 9 of 30 such pushes used to get 503 "member unavailable" instead. The
/// gateway relays an early answer (see the fake member's test above); that
/// it is not lost to a TCP reset also needs both binaries to close
/// lingering, reading what the client still sends.
#[test]
fn oversized_manifest_pushes_all_get_the_members_413() -> Result<()> {
    let cluster = Cluster::start(2)?;
    let http = cluster.gateway().http();
    let manifest = vec![b' '; 50 << 20];
    let statuses: Vec<u16> = thread::scope(|scope| {
        let workers: Vec<_> = (0..3)
            .map(|worker| {
                let (http, manifest) = (&http, &manifest);
                scope.spawn(move || {
                    (0..10)
                        .map(|i| {
                            http.put(&format!("/v2/uploads/huge-{worker}/manifests/v{i}"))
                                .header("Content-Type", OCI_MANIFEST)
                                .body(manifest.clone())
                                .send()
                                .map_or(0, |r| r.status().as_u16())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("no panic"))
            .collect()
    });
    assert_eq!(statuses, vec![413; 30]);
    for member in cluster.members() {
        let series = format!(
            "flotilla_gateway_upstream_errors_total{{member=\"{}\"",
            member.host_port()
        );
        assert_eq!(cluster.gateway().metric(&series)?, 0.0, "{series}");
    }
    Ok(())
}

/// A member that answers before it has read the whole body (413 for an
/// oversized body, 401) must have its answer reach the client: hyper's
/// client hands over a response head as soon as it arrives, and the gateway
/// relays it while the rest of the body still streams to the member. The
/// fake member reads the rest of each body after answering, as a member
/// that closes gracefully does, so no reset can lose the answer.
#[test]
fn a_members_early_answer_reaches_the_client_before_the_body_ends() -> Result<()> {
    let member = FakeMember::start(|mut exchange| {
        let body = br#"{"errors":[{"code":"MANIFEST_INVALID","message":"too big"}]}"#;
        exchange.send(
            format!("HTTP/1.1 413 Payload Too Large\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len())
                .as_bytes(),
        )?;
        exchange.send(body)?;
        let length = exchange.content_length().unwrap_or(0);
        exchange.drain(length).map(drop)
    })?;
    let gateway = Gateway::builder().members(&[member.host_port()]).start()?;
    let http = gateway.http();
    let manifest = vec![b' '; 8 << 20];
    for i in 0..30 {
        let resp = http
            .put(&format!("/v2/early/manifests/v{i}"))
            .header("Content-Type", OCI_MANIFEST)
            .body(manifest.clone())
            .send()?;
        let status = resp.status();
        let text = resp.text()?;
        assert_eq!(status, 413, "push {i}: {text}");
        assert!(text.contains("too big"), "push {i}: {text}");
    }
    let series = format!(
        "flotilla_gateway_upstream_errors_total{{member=\"{}\"",
        member.host_port()
    );
    assert_eq!(gateway.metric(&series)?, 0.0);
    Ok(())
}

/// A cross-member mount whose source's owner is hung (SIGSTOP) or dead used
/// to wait the whole response timeout and answer 503. It answers as one
/// registry that cannot mount does: 202 with an upload session on the
/// target, as soon as the source is known down.
#[test]
fn a_mount_whose_source_is_hung_or_dead_opens_an_upload_session_on_the_target() -> Result<()> {
    let mut cluster = Cluster::builder()
        .nodes(3)
        .gateway(|g| g.response(Duration::from_secs(60)))
        .start()?;
    let http = cluster.gateway().http();
    let (src, dst) = two_repos_on_different_members(&cluster)?;
    let image = push_small_image(&http, &src, "v1")?;
    let mount = format!(
        "/v2/{dst}/blobs/uploads/?mount={}&from={src}",
        image.layer.digest
    );
    let source = cluster.owner(&src);

    cluster.member(source).pause()?;
    let started = Instant::now();
    let hung = http.post(&mount).send();
    let took = started.elapsed();
    cluster.member(source).resume()?;
    let hung = expect_status(hung?, 202, "mount from a hung source")?;
    ensure!(took < Duration::from_secs(10), "answered after {took:?}");
    location(&cluster, hung)?;

    cluster.member_mut(source).kill()?;
    let started = Instant::now();
    let dead = expect_status(http.post(&mount).send()?, 202, "mount from a dead source")?;
    ensure!(
        started.elapsed() < Duration::from_secs(2),
        "answered after {:?}",
        started.elapsed()
    );
    let session = location(&cluster, dead)?;
    let put = http
        .put(&format!(
            "{session}{}digest={}",
            separator(&session),
            image.layer.digest
        ))
        .header("Content-Type", "application/octet-stream")
        .body(seeded_bytes(&format!("small image layer {src}"), 2048))
        .send()?;
    expect_status(put, 201, "PUT into the session the mount opened")?;
    Ok(())
}

/// An upload session on `repo`'s owner, opened through the gateway: its `Location`.
fn open_session(cluster: &Cluster, repo: &str) -> Result<String> {
    let start = cluster
        .gateway()
        .http()
        .post(&format!("/v2/{repo}/blobs/uploads/"))
        .send()?;
    location(cluster, expect_status(start, 202, "POST to start")?)
}

fn separator(url: &str) -> char {
    if url.contains('?') {
        '&'
    } else {
        '?'
    }
}

/// A raw `PATCH` of upload `session` through the gateway, its head sent
/// with `framing` (a length or chunked) and no body yet.
fn raw_upload(cluster: &Cluster, session: &str, framing: &str) -> Result<TcpStream> {
    let gateway = cluster.gateway();
    let mut stream = TcpStream::connect(gateway.host_port())?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let path = session.strip_prefix(&gateway.url()).unwrap_or(session);
    let head = format!(
        "PATCH {path} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/octet-stream\r\n{framing}\r\n",
        gateway.host_port()
    );
    stream.write_all(head.as_bytes())?;
    Ok(stream)
}

/// What the gateway answers on `stream`, read until it closes.
fn read_answer(stream: &mut TcpStream) -> Result<String> {
    let mut answer = Vec::new();
    match stream.read_to_end(&mut answer) {
        Ok(_) => {}
        // A reset after the answer (the rest of the body was never read) is fine.
        Err(e) if !answer.is_empty() && e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => return Err(e).context("reading the gateway's answer"),
    }
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

/// The client's body failure (`kind`) was counted as the client's: no
/// upstream failure of `repo`'s owner, which is up and serving.
fn ensure_member_not_blamed(cluster: &Cluster, repo: &str, kind: &str) -> Result<()> {
    let gateway = cluster.gateway();
    let owner = cluster.member(cluster.owner(repo)).host_port();
    let failures = gateway.metric(&format!(
        "flotilla_gateway_request_body_failures_total{{kind=\"{kind}\"}}"
    ))?;
    ensure!(failures == 1.0, "{failures} {kind} body failures counted");
    let blamed = gateway.metric(&format!(
        "flotilla_gateway_upstream_errors_total{{member=\"{owner}\""
    ))?;
    ensure!(
        blamed == 0.0,
        "{blamed} upstream failures counted against {owner}"
    );
    let up = gateway.metric(&format!("flotilla_gateway_member_up{{member=\"{owner}\"}}"))?;
    ensure!(up == 1.0, "{owner} is not up");
    push_small_image(&gateway.http(), repo, "after")?;
    Ok(())
}

/// Two repository names whose owners differ.
fn two_repos_on_different_members(cluster: &Cluster) -> Result<(String, String)> {
    let names = cluster.names_on_every_member(1, |i| format!("mount/repo-{i}"))?;
    Ok((names[0].clone(), names[1].clone()))
}

/// The response's `Location`, checked to name no member: relative, or the gateway's own origin.
fn location(cluster: &Cluster, response: Response) -> Result<String> {
    let location = response
        .headers()
        .get("location")
        .context("no Location header")?
        .to_str()?
        .to_owned();
    for member in cluster.members() {
        ensure!(
            !location.contains(&member.host_port()),
            "Location {location} names member {}",
            member.host_port()
        );
    }
    let gateway = Registry::new(&cluster.gateway().url());
    ensure!(
        location.starts_with('/') || location.starts_with(&gateway.url("/")),
        "Location {location} is neither relative nor on the gateway"
    );
    Ok(location)
}
