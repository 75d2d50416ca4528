//! The Distribution API's edges on a real node, as curl and a raw HTTP client see them: ranges, chunk order, bad digests, bad names, paging, errors.
//!
//! Each test states one rule of the OCI Distribution Spec 1.1 as zot applies
//! it (zot-reference §2, §4) and checks status, headers and body bytes.

use std::process::Command;

use anyhow::{ensure, Context, Result};
use flotilla_e2e::layout::{seeded_bytes, sha256_digest};
use flotilla_e2e::{Node, Registry};
use reqwest::blocking::Response;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha512};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// Pushes a blob with POST + PUT and returns its digest.
fn push_blob(http: &Registry, repo: &str, bytes: &[u8]) -> Result<String> {
    let digest = sha256_digest(bytes);
    let resp = http
        .post(&format!("/v2/{repo}/blobs/uploads/?digest={digest}"))
        .header("Content-Type", "application/octet-stream")
        .body(bytes.to_vec())
        .send()?;
    ensure!(resp.status() == 201, "monolithic push: {}", resp.status());
    Ok(digest)
}

/// Pushes a one-layer image manifest under `reference` and returns (digest, bytes).
fn push_image(
    http: &Registry,
    repo: &str,
    reference: &str,
    seed: &str,
) -> Result<(String, Vec<u8>)> {
    let config = push_blob(http, repo, format!("{{\"seed\":\"{seed}\"}}").as_bytes())?;
    let layer_bytes = seeded_bytes(seed, 1000);
    let layer = push_blob(http, repo, &layer_bytes)?;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 13 + seed.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": 1000}]
    }))?;
    let resp = http
        .put(&format!("/v2/{repo}/manifests/{reference}"))
        .header("Content-Type", OCI_MANIFEST)
        .body(manifest.clone())
        .send()?;
    ensure!(
        resp.status() == 201,
        "manifest push: {} {}",
        resp.status(),
        resp.text()?
    );
    Ok((sha256_digest(&manifest), manifest))
}

fn error_code(resp: Response) -> Result<String> {
    let body: Value = resp.json().context("error body is JSON")?;
    Ok(body["errors"][0]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

/// Runs curl and returns (status line code, headers text, body bytes).
fn curl(args: &[&str]) -> Result<(u16, String, Vec<u8>)> {
    let dir = tempfile::tempdir()?;
    let headers = dir.path().join("headers");
    let body = dir.path().join("body");
    let out = Command::new("curl")
        .args(["-sS", "-D"])
        .arg(&headers)
        .arg("-o")
        .arg(&body)
        .args(args)
        .output()
        .context("curl is missing: run scripts/install-deps")?;
    ensure!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let headers = std::fs::read_to_string(headers)?;
    let status = headers
        .split_whitespace()
        .nth(1)
        .context("status line")?
        .parse()?;
    Ok((status, headers.to_ascii_lowercase(), std::fs::read(body)?))
}

#[test]
fn blob_ranges_are_served_as_zot_serves_them() -> Result<()> {
    let node = Node::start()?;
    let bytes = seeded_bytes("ranges", 10_000);
    let digest = push_blob(&node.http(), "r/ranges", &bytes)?;
    let url = format!("{}/v2/r/ranges/blobs/{digest}", node.url());

    let (status, headers, body) = curl(&["-H", "Range: bytes=100-199", &url])?;
    assert_eq!(status, 206);
    assert!(
        headers.contains("content-range: bytes 100-199/10000"),
        "{headers}"
    );
    assert_eq!(body, &bytes[100..200]);

    let (status, _, body) = curl(&["-H", "Range: bytes=-10", &url])?;
    assert_eq!((status, body.as_slice()), (206, &bytes[9990..]));
    let (status, _, body) = curl(&["-H", "Range: bytes=9000-", &url])?;
    assert_eq!((status, body.len()), (206, 1000));

    let (status, headers, body) = curl(&["-H", "Range: bytes=10000-", &url])?;
    assert_eq!(status, 416);
    assert!(
        headers.contains("content-range: bytes */10000"),
        "{headers}"
    );
    assert!(body.is_empty());

    let (status, headers, body) = curl(&["-H", "Range: bytes=0-9,5000-5009", &url])?;
    assert_eq!(status, 206);
    assert!(
        headers.contains("content-type: multipart/byteranges; boundary="),
        "{headers}"
    );
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains("Content-Range: bytes 0-9/10000")
            && text.contains("Content-Range: bytes 5000-5009/10000")
    );
    let (status, headers, body) = curl(&[&url])?;
    assert_eq!((status, body), (200, bytes));
    assert!(headers.contains(&format!("docker-content-digest: {digest}")));
    Ok(())
}

#[test]
fn chunks_must_arrive_in_order() -> Result<()> {
    let node = Node::start()?;
    let http = node.http();
    let blob = seeded_bytes("chunks", 300);
    let start = http.post("/v2/r/chunks/blobs/uploads/").send()?;
    assert_eq!(start.status(), 202);
    assert_eq!(start.headers()["range"], "0-0");
    let location = start.headers()["location"].to_str()?.to_owned();

    let first = http
        .patch(&location)
        .header("Content-Range", "0-99")
        .body(blob[..100].to_vec())
        .send()?;
    assert_eq!(first.status(), 202);
    assert_eq!(first.headers()["range"], "0-99");

    let gap = http
        .patch(&location)
        .header("Content-Range", "150-199")
        .body(blob[150..200].to_vec())
        .send()?;
    assert_eq!(gap.status(), 416);
    assert_eq!(error_code(gap)?, "BLOB_UPLOAD_INVALID");

    let short = http
        .patch(&location)
        .header("Content-Range", "100-299")
        .body(blob[100..150].to_vec())
        .send()?;
    assert_eq!(short.status(), 416, "Content-Length must match the range");

    let status = http.get(&location).send()?;
    assert_eq!(
        (
            status.status().as_u16(),
            status.headers()["range"].to_str()?
        ),
        (204, "0-99")
    );

    let rest = http
        .patch(&location)
        .header("Content-Range", "100-299")
        .body(blob[100..].to_vec())
        .send()?;
    assert_eq!(rest.status(), 202);
    let digest = sha256_digest(&blob);
    let done = http.put(&format!("{location}?digest={digest}")).send()?;
    assert_eq!(done.status(), 201);
    assert_eq!(
        done.headers()["location"],
        format!("/v2/r/chunks/blobs/{digest}").as_str()
    );
    assert_eq!(http.blob("r/chunks", &digest)?, blob);
    Ok(())
}

#[test]
fn a_wrong_digest_never_makes_a_blob_visible() -> Result<()> {
    let node = Node::start()?;
    let http = node.http();
    let wrong = sha256_digest(b"something else");
    let mono = http
        .post(&format!("/v2/r/digest/blobs/uploads/?digest={wrong}"))
        .header("Content-Type", "application/octet-stream")
        .body(b"payload".to_vec())
        .send()?;
    assert_eq!(mono.status(), 400);
    assert_eq!(error_code(mono)?, "DIGEST_INVALID");
    assert_eq!(
        http.head(&format!("/v2/r/digest/blobs/{wrong}"))
            .send()?
            .status(),
        404
    );

    let start = http.post("/v2/r/digest/blobs/uploads/").send()?;
    let location = start.headers()["location"].to_str()?.to_owned();
    let put = http
        .put(&format!("{location}?digest={wrong}"))
        .body(b"payload".to_vec())
        .send()?;
    assert_eq!(put.status(), 400);
    assert_eq!(error_code(put)?, "DIGEST_INVALID");
    assert_eq!(
        http.head(&format!("/v2/r/digest/blobs/{wrong}"))
            .send()?
            .status(),
        404
    );

    let malformed = http.put(&format!("{location}?digest=sha256:xyz")).send()?;
    assert_eq!(malformed.status(), 400);
    let get = http.get("/v2/r/digest/blobs/sha256:nothex").send()?;
    assert_eq!(get.status(), 400);
    assert_eq!(error_code(get)?, "DIGEST_INVALID");
    let manifest = http
        .put("/v2/r/digest/manifests/sha256:bad")
        .header("Content-Type", OCI_MANIFEST)
        .body("{}")
        .send()?;
    assert_eq!(manifest.status(), 400);
    assert_eq!(error_code(manifest)?, "DIGEST_INVALID");
    Ok(())
}

#[test]
fn sha512_blobs_and_manifests_verify() -> Result<()> {
    let node = Node::start()?;
    let http = node.http();
    let bytes = seeded_bytes("sha512", 4096);
    let digest = format!("sha512:{}", hex::encode(Sha512::digest(&bytes)));
    let resp = http
        .post(&format!("/v2/r/five12/blobs/uploads/?digest={digest}"))
        .header("Content-Type", "application/octet-stream")
        .body(bytes.clone())
        .send()?;
    assert_eq!(resp.status(), 201);
    assert_eq!(http.blob("r/five12", &digest)?, bytes);
    assert!(node
        .root_dir()
        .join("r/five12/blobs/sha512")
        .join(&digest[7..])
        .is_file());
    Ok(())
}

#[test]
fn names_that_could_leave_the_root_are_refused() -> Result<()> {
    let node = Node::start()?;
    for path in [
        "/v2/../escape/blobs/uploads/",
        "/v2/a/%2E%2E/b/blobs/uploads/",
        "/v2/a%2Fb/blobs/uploads/",
        "/v2/UPPER/blobs/uploads/",
        "/v2/a//b/blobs/uploads/",
    ] {
        let (status, _, body) = curl(&[
            "--path-as-is",
            "-X",
            "POST",
            &format!("{}{path}", node.url()),
        ])?;
        assert_eq!(status, 400, "{path}");
        let body: Value = serde_json::from_slice(&body)?;
        assert_eq!(body["errors"][0]["code"], "NAME_INVALID", "{path}");
    }
    let parent = node
        .root_dir()
        .parent()
        .context("root has a parent")?
        .to_path_buf();
    assert!(!parent.join("escape").exists());
    assert!(
        std::fs::read_dir(node.root_dir())?.next().is_none(),
        "nothing was created"
    );
    Ok(())
}

#[test]
fn manifest_errors_are_zots() -> Result<()> {
    let node = Node::start()?;
    let http = node.http();
    let unknown_repo = http.get("/v2/nobody/manifests/v1").send()?;
    assert_eq!(unknown_repo.status(), 404);
    assert_eq!(error_code(unknown_repo)?, "NAME_UNKNOWN");

    push_image(&http, "r/errors", "v1", "errors")?;
    let unknown = http.get("/v2/r/errors/manifests/v2").send()?;
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        unknown.text()?,
        r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"description":"This error is returned when the manifest, identified by name and tag is unknown to the repository.","reference":"v2"}}]}"#
    );
    let wrong_type = http
        .put("/v2/r/errors/manifests/v3")
        .header("Content-Type", "text/plain")
        .body("{}")
        .send()?;
    assert_eq!(wrong_type.status(), 415);
    assert_eq!(error_code(wrong_type)?, "MANIFEST_INVALID");

    let huge = vec![b' '; 4 * 1024 * 1024 + 1];
    let too_big = http
        .put("/v2/r/errors/manifests/v3")
        .header("Content-Type", OCI_MANIFEST)
        .body(huge)
        .send()?;
    assert_eq!(too_big.status(), 413);

    let missing_layer = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256_digest(b"nope"), "size": 4},
        "layers": []
    }))?;
    let invalid = http
        .put("/v2/r/errors/manifests/v3")
        .header("Content-Type", OCI_MANIFEST)
        .body(missing_layer)
        .send()?;
    assert_eq!(invalid.status(), 400);
    assert_eq!(error_code(invalid)?, "MANIFEST_INVALID");
    Ok(())
}

#[test]
fn tags_and_catalog_page_with_zots_link_headers() -> Result<()> {
    let node = Node::start()?;
    let http = node.http();
    for tag in ["c", "a", "b", "d"] {
        push_image(&http, "p/tags", tag, "tags")?;
    }
    for repo in ["p/a-c", "p/a", "p/a/b"] {
        push_image(&http, repo, "v1", repo)?;
    }
    let page = http.get("/v2/p/tags/tags/list?n=2").send()?;
    assert_eq!(
        page.headers()["link"],
        "</v2/p/tags/tags/list?n=2&last=b>; rel=\"next\""
    );
    assert_eq!(
        page.json::<Value>()?,
        json!({"name": "p/tags", "tags": ["a", "b"]})
    );
    let last = http.get("/v2/p/tags/tags/list?n=2&last=b").send()?;
    assert!(last.headers().get("link").is_none());
    assert_eq!(last.json::<Value>()?["tags"], json!(["c", "d"]));
    assert_eq!(http.get("/v2/p/tags/tags/list?n=-1").send()?.status(), 400);
    assert_eq!(
        http.get("/v2/p/tags/tags/list?last=zz").send()?.status(),
        404
    );
    assert_eq!(
        http.get("/v2/p/tags/tags/list?n=0")
            .send()?
            .json::<Value>()?["tags"],
        json!([])
    );

    let all = http.get("/v2/_catalog").send()?.json::<Value>()?;
    assert_eq!(
        all["repositories"],
        json!(["p/a", "p/a/b", "p/a-c", "p/tags"])
    );
    let first = http.get("/v2/_catalog?n=2").send()?;
    assert_eq!(
        first.headers()["link"],
        "</v2/_catalog?n=2&last=p/a/b>; rel=\"next\""
    );
    let second = http.get("/v2/_catalog?n=2&last=p/a/b").send()?;
    assert_eq!(
        second.headers()["link"],
        "</v2/_catalog?n=2&last=p/tags>; rel=\"next\"",
        "a full page always links on"
    );
    assert_eq!(
        second.json::<Value>()?["repositories"],
        json!(["p/a-c", "p/tags"])
    );
    let none = http
        .get("/v2/_catalog?n=2&last=p/zzz")
        .send()?
        .json::<Value>()?;
    assert_eq!(none["repositories"], json!([]));
    Ok(())
}

#[test]
fn mounts_link_within_the_node_and_fall_back_to_a_session() -> Result<()> {
    let node = Node::start()?;
    let http = node.http();
    let digest = push_blob(&http, "m/src", b"mount me")?;
    let mount = http
        .post(&format!(
            "/v2/m/dst/blobs/uploads/?mount={digest}&from=m/src"
        ))
        .send()?;
    assert_eq!(mount.status(), 201);
    assert_eq!(
        mount.headers()["location"],
        format!("/v2/m/dst/blobs/{digest}").as_str()
    );
    assert_eq!(http.blob("m/dst", &digest)?, b"mount me");

    let absent = sha256_digest(b"never pushed");
    let fallback = http
        .post(&format!(
            "/v2/m/dst/blobs/uploads/?mount={absent}&from=m/src"
        ))
        .send()?;
    assert_eq!(fallback.status(), 202);
    assert!(fallback.headers()["location"]
        .to_str()?
        .starts_with("/v2/m/dst/blobs/uploads/"));
    assert_eq!(
        http.post("/v2/m/dst/blobs/uploads/?from=m/src")
            .send()?
            .status(),
        405
    );
    Ok(())
}

#[test]
fn deletes_follow_references() -> Result<()> {
    let node = Node::start()?;
    let http = node.http();
    let (digest, _) = push_image(&http, "d/img", "v1", "delete")?;
    let layer = sha256_digest(&seeded_bytes("delete", 1000));
    assert_eq!(
        http.delete(&format!("/v2/d/img/blobs/{layer}"))
            .send()?
            .status(),
        405,
        "a referenced blob stays"
    );
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": digest, "size": 1}]
    }))?;
    let put = http
        .put("/v2/d/img/manifests/multi")
        .header("Content-Type", OCI_INDEX)
        .body(index)
        .send()?;
    assert_eq!(put.status(), 201);
    assert_eq!(
        http.delete(&format!("/v2/d/img/manifests/{digest}"))
            .send()?
            .status(),
        405,
        "an index child stays"
    );
    assert_eq!(
        http.delete("/v2/d/img/manifests/multi").send()?.status(),
        202
    );
    assert_eq!(http.delete("/v2/d/img/manifests/v1").send()?.status(), 202);
    assert_eq!(http.get("/v2/d/img/manifests/v1").send()?.status(), 404);
    assert_eq!(
        http.get(&format!("/v2/d/img/manifests/{digest}"))
            .send()?
            .status(),
        200,
        "by digest it remains"
    );
    assert_eq!(
        http.delete("/v2/nobody/manifests/v1").send()?.status(),
        400,
        "zot: unknown repo on delete is 400"
    );
    Ok(())
}

#[test]
fn a_referrer_push_reports_its_subject() -> Result<()> {
    let node = Node::start()?;
    let http = node.http();
    let (subject, manifest) = push_image(&http, "s/img", "v1", "subject")?;
    let empty = push_blob(&http, "s/img", b"{}")?;
    let referrer = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/vnd.example.sbom",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
        "layers": [],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": manifest.len()},
        "annotations": {"org.example": "yes"}
    }))?;
    let referrer_digest = sha256_digest(&referrer);
    let put = http
        .put(&format!("/v2/s/img/manifests/{referrer_digest}"))
        .header("Content-Type", OCI_MANIFEST)
        .body(referrer.clone())
        .send()?;
    assert_eq!(put.status(), 201);
    assert_eq!(put.headers()["oci-subject"], subject.as_str());
    let list = http.get(&format!("/v2/s/img/referrers/{subject}")).send()?;
    assert_eq!(list.headers()["content-type"], OCI_INDEX);
    assert_eq!(
        list.json::<Value>()?,
        json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [{
            "mediaType": OCI_MANIFEST, "digest": referrer_digest, "size": referrer.len(),
            "annotations": {"org.example": "yes"}, "artifactType": "application/vnd.example.sbom"}]})
    );
    assert_eq!(
        http.get("/v2/s/img/referrers/sha256:bad").send()?.status(),
        400
    );
    Ok(())
}

#[test]
fn an_upload_can_be_cancelled() -> Result<()> {
    let node = Node::start()?;
    let http = node.http();
    let start = http.post("/v2/c/img/blobs/uploads/").send()?;
    let location = start.headers()["location"].to_str()?.to_owned();
    assert_eq!(http.delete(&location).send()?.status(), 204);
    let gone = http.get(&location).send()?;
    assert_eq!(gone.status(), 404);
    assert_eq!(error_code(gone)?, "BLOB_UPLOAD_UNKNOWN");
    Ok(())
}

#[test]
fn health_and_version_endpoints_answer() -> Result<()> {
    let node = Node::start()?;
    for path in ["/livez", "/readyz", "/startupz"] {
        let resp = node.http().get(path).send()?;
        assert_eq!(
            (resp.status().as_u16(), resp.text()?),
            (200, "ok".to_owned()),
            "{path}"
        );
    }
    let base = node.http().get("/v2/").send()?;
    assert_eq!(base.status(), 200);
    assert_eq!(
        base.headers()["docker-distribution-api-version"],
        "registry/2.0"
    );
    Ok(())
}

/// Closes the hole where upload sessions that were abandoned, or whose final
/// PUT failed its digest check, stayed in `<repo>/.uploads/` for ever: with
/// `storage.gcDelay` they are removed once idle that long (404
/// `BLOB_UPLOAD_UNKNOWN` afterwards), while a session still being written
/// survives and completes.
#[test]
fn idle_upload_sessions_are_removed_after_gc_delay() -> Result<()> {
    let node = Node::builder()
        .setting("storage.gcDelay", json!("2s"))
        .start()?;
    let http = node.http();
    let start = |http: &Registry| -> Result<String> {
        let resp = http.post("/v2/gc/img/blobs/uploads/").send()?;
        ensure!(resp.status() == 202, "POST upload: {}", resp.status());
        Ok(resp.headers()["location"].to_str()?.to_owned())
    };
    let abandoned = start(&http)?;
    let patched = http.patch(&abandoned).body(b"half".to_vec()).send()?;
    ensure!(patched.status() == 202, "PATCH: {}", patched.status());
    let failed = start(&http)?;
    let wrong = sha256_digest(b"something else");
    let put = http
        .put(&format!("{failed}?digest={wrong}"))
        .body(b"payload".to_vec())
        .send()?;
    ensure!(
        put.status() == 400,
        "PUT with a wrong digest: {}",
        put.status()
    );
    let active = start(&http)?;
    let mut written = Vec::new();
    let session_file = |location: &str| {
        let id = location.rsplit('/').next().unwrap_or_default().to_owned();
        node.root_dir().join("gc/img/.uploads").join(id)
    };
    ensure!(session_file(&abandoned).is_file() && session_file(&failed).is_file());

    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        // The active session is written to well within the delay.
        let chunk = format!("chunk {}.", written.len()).into_bytes();
        let resp = http.patch(&active).body(chunk.clone()).send()?;
        ensure!(resp.status() == 202, "PATCH active: {}", resp.status());
        written.extend_from_slice(&chunk);
        let gone = [&abandoned, &failed]
            .iter()
            .map(|l| Ok(http.get(l).send()?.status() == 404))
            .collect::<Result<Vec<bool>>>()?;
        if gone.iter().all(|g| *g) {
            break;
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "idle sessions still answer after 15 s with gcDelay 2s: {gone:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    for location in [&abandoned, &failed] {
        let resp = http.get(location).send()?;
        ensure!(resp.status() == 404, "{location}: {}", resp.status());
        ensure!(error_code(resp)? == "BLOB_UPLOAD_UNKNOWN");
        ensure!(!session_file(location).exists(), "{location} left on disk");
        let patch = http.patch(location).body(b"more".to_vec()).send()?;
        ensure!(
            patch.status() == 404,
            "PATCH after removal: {}",
            patch.status()
        );
    }
    let digest = sha256_digest(&written);
    let done = http.put(&format!("{active}?digest={digest}")).send()?;
    ensure!(
        done.status() == 201,
        "the active session completes: {}",
        done.status()
    );
    let blob = http.get(&format!("/v2/gc/img/blobs/{digest}")).send()?;
    ensure!(blob.bytes()?.as_ref() == written.as_slice());
    Ok(())
}
