//! The node is killed (SIGKILL) in the middle of a chunked upload and restarted on the same data.
//!
//! What a crash must never do: make a partial blob visible, or report an
//! upload `Range` that does not match what it kept. What it must allow: the
//! client goes on from the reported `Range`, or starts over, and the blob then
//! verifies against its digest.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use flotilla_e2e::layout::{seeded_bytes, sha256_digest};
use flotilla_e2e::{Node, Registry};
use reqwest::blocking::Response;
use tokio::time::Instant;

const REPO: &str = "crash/upload";
const CHUNK: usize = 64 * 1024;

#[test]
fn an_upload_cut_between_chunks_resumes_from_the_reported_range() -> Result<()> {
    let mut node = Node::start()?;
    let blob = seeded_bytes("crash between chunks", 3 * CHUNK + 123);
    let digest = sha256_digest(&blob);
    let session = start_upload(&node.http())?;
    let session = patch_chunk(&node.http(), &session, &blob, 0, CHUNK)?;

    node.kill()?;
    node.restart()?;
    let http = node.http();

    assert_blob_absent(&http, &digest)?;
    assert_eq!(
        uploaded_range(&http, &session)?,
        Some(CHUNK - 1),
        "the first chunk was acknowledged"
    );
    let session = patch_chunk(&http, &session, &blob, CHUNK, blob.len())?;
    finish_upload(&http, &session, &digest)?;
    assert_eq!(http.blob(REPO, &digest)?, blob);
    Ok(())
}

#[test]
fn a_patch_cut_off_by_a_crash_leaves_no_blob_and_resumes_from_what_was_kept() -> Result<()> {
    let mut node = Node::start()?;
    let blob = seeded_bytes("crash inside a patch", 16 * CHUNK + 5);
    let digest = sha256_digest(&blob);
    let session = start_upload(&node.http())?;
    let session = patch_chunk(&node.http(), &session, &blob, 0, CHUNK)?;

    // The second PATCH streams half of the rest, then the node dies under it.
    let half = CHUNK + (blob.len() - CHUNK) / 2;
    let _cut = send_partial_patch(&node, &session, blob.len() - CHUNK, &blob[CHUNK..half])?;
    wait_for_range_past(&node.http(), &session, CHUNK - 1);
    node.kill()?;
    node.restart()?;
    let http = node.http();

    assert_blob_absent(&http, &digest)?;
    let kept = uploaded_range(&http, &session)?.map_or(0, |end| end + 1);
    ensure!(
        (CHUNK..=half).contains(&kept),
        "after the crash the session reports {kept} bytes; {CHUNK} were acknowledged and {half} sent"
    );
    let session = patch_chunk(&http, &session, &blob, kept, blob.len())?;
    finish_upload(&http, &session, &digest)?;
    assert_eq!(http.blob(REPO, &digest)?, blob);
    Ok(())
}

#[test]
fn after_a_crash_the_same_blob_can_be_uploaded_again_from_scratch() -> Result<()> {
    let mut node = Node::start()?;
    let blob = seeded_bytes("crash then start over", 4 * CHUNK);
    let digest = sha256_digest(&blob);
    let abandoned = start_upload(&node.http())?;
    let abandoned = patch_chunk(&node.http(), &abandoned, &blob, 0, CHUNK)?;

    node.kill()?;
    node.restart()?;
    let http = node.http();

    let fresh = start_upload(&http)?;
    let fresh = patch_chunk(&http, &fresh, &blob, 0, 2 * CHUNK)?;
    let fresh = patch_chunk(&http, &fresh, &blob, 2 * CHUNK, blob.len())?;
    finish_upload(&http, &fresh, &digest)?;
    assert_eq!(http.blob(REPO, &digest)?, blob);
    let cancel = http.delete(&abandoned).send()?;
    assert_eq!(cancel.status(), 204, "DELETE of the abandoned session");
    assert_eq!(
        http.get(&abandoned).send()?.status(),
        404,
        "the cancelled session is gone"
    );
    Ok(())
}

/// `POST /v2/<repo>/blobs/uploads/`: the session's `Location`.
fn start_upload(http: &Registry) -> Result<String> {
    let response = http.post(&format!("/v2/{REPO}/blobs/uploads/")).send()?;
    let response = expect(response, 202, "POST to start an upload")?;
    location(&response)
}

/// PATCHes `blob[from..to]` with its `Content-Range`; returns the next `Location`.
fn patch_chunk(
    http: &Registry,
    session: &str,
    blob: &[u8],
    from: usize,
    to: usize,
) -> Result<String> {
    let response = http
        .patch(session)
        .header("Content-Type", "application/octet-stream")
        .header("Content-Range", format!("{from}-{}", to - 1))
        .body(blob[from..to].to_vec())
        .send()?;
    let response = expect(response, 202, &format!("PATCH of bytes {from}-{}", to - 1))?;
    let range = header(&response, "range")?;
    ensure!(
        range == format!("0-{}", to - 1),
        "PATCH up to {to} answered Range: {range}"
    );
    location(&response)
}

/// `PUT <session>?digest=`: the upload becomes blob `digest`.
fn finish_upload(http: &Registry, session: &str, digest: &str) -> Result<()> {
    let separator = if session.contains('?') { '&' } else { '?' };
    let response = http
        .put(&format!("{session}{separator}digest={digest}"))
        .send()?;
    let response = expect(response, 201, "PUT closing the upload")?;
    ensure!(
        header(&response, "docker-content-digest")? == digest,
        "closing PUT named another digest"
    );
    Ok(())
}

/// The last byte offset the session holds (`Range: 0-<end>`), `None` for an empty session.
fn uploaded_range(http: &Registry, session: &str) -> Result<Option<usize>> {
    let response = expect(http.get(session).send()?, 204, "GET of the upload session")?;
    let range = header(&response, "range")?;
    let end: usize = range
        .strip_prefix("0-")
        .and_then(|end| end.parse().ok())
        .with_context(|| format!("upload status Range is {range:?}, not 0-<end>"))?;
    // zot answers `0-0` for an empty session; a real 1-byte upload is never asked here.
    Ok((end > 0).then_some(end))
}

fn assert_blob_absent(http: &Registry, digest: &str) -> Result<()> {
    let head = http.head(&format!("/v2/{REPO}/blobs/{digest}")).send()?;
    ensure!(
        head.status() == 404,
        "HEAD of the unfinished blob: expected 404, got {}",
        head.status()
    );
    let get = http.get(&format!("/v2/{REPO}/blobs/{digest}")).send()?;
    ensure!(
        get.status() == 404,
        "GET of the unfinished blob: expected 404, got {}",
        get.status()
    );
    Ok(())
}

/// Opens a raw connection and sends a PATCH announcing `total` bytes but only
/// `part` of them, leaving the request open; the stream is returned so that
/// it stays open until the node is killed.
fn send_partial_patch(node: &Node, session: &str, total: usize, part: &[u8]) -> Result<TcpStream> {
    let path = match session.find("/v2/") {
        Some(start) => &session[start..],
        None => bail!("upload Location {session} has no /v2/ path"),
    };
    let mut stream = TcpStream::connect(node.host_port())?;
    write!(
        stream,
        "PATCH {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/octet-stream\r\nContent-Length: {total}\r\n\r\n",
        node.host_port()
    )?;
    stream.write_all(part)?;
    stream.flush()?;
    Ok(stream)
}

/// Gives a streaming node the chance to write part of an open PATCH: polls the
/// session until it holds more than `end` bytes, for at most two seconds. A
/// node that buffers a PATCH until it is complete never gets there, which is
/// as valid, so running out of time is not a failure.
fn wait_for_range_past(http: &Registry, session: &str, end: usize) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        // A node may hold the session busy while the PATCH is open; that is no answer yet.
        let probe = http.get(session).timeout(Duration::from_millis(500)).send();
        let grown = probe.ok().is_some_and(|response| {
            response
                .headers()
                .get("range")
                .and_then(|r| r.to_str().ok()?.strip_prefix("0-")?.parse::<usize>().ok())
                .is_some_and(|now| now > end)
        });
        if grown {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn expect(response: Response, status: u16, what: &str) -> Result<Response> {
    if response.status() == status {
        return Ok(response);
    }
    let got = response.status();
    let body = response.text().unwrap_or_default();
    bail!("{what}: expected {status}, got {got}: {body}")
}

fn header(response: &Response, name: &str) -> Result<String> {
    let value = response
        .headers()
        .get(name)
        .with_context(|| format!("no {name} header"))?;
    Ok(value.to_str()?.to_owned())
}

fn location(response: &Response) -> Result<String> {
    header(response, "location")
}
