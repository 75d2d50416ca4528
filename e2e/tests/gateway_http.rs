//! The gateway as HTTP infrastructure: HTTP/2 cleartext clients, Prometheus metrics, load-balancer probes.

use std::thread;
use std::time::Duration;

use anyhow::{Context, Result};
use flotilla_e2e::cluster::expect_status;
use flotilla_e2e::layout::{seeded_bytes, sha256_digest, OCI_EMPTY, OCI_MANIFEST};
use flotilla_e2e::{push_small_image, Cluster, Descriptor};
use reqwest::blocking::Client;
use reqwest::Version;
use serde_json::json;
use tokio::time::Instant;

#[test]
fn an_http2_prior_knowledge_client_pushes_and_pulls_through_the_gateway() -> Result<()> {
    let cluster = Cluster::start(3)?;
    let base = cluster.gateway().url();
    let h2c = Client::builder().http2_prior_knowledge().build()?;
    let repo = "h2c/artifact";

    let ping = h2c.get(format!("{base}/v2/")).send()?;
    assert_eq!(ping.version(), Version::HTTP_2);
    assert_eq!(ping.status(), 200);
    let layer = seeded_bytes("over h2c", 100_000);
    let layer_digest = sha256_digest(&layer);
    let empty = Descriptor::of(OCI_EMPTY, b"{}");
    for (bytes, digest) in [
        (layer.clone(), layer_digest.clone()),
        (b"{}".to_vec(), empty.digest.clone()),
    ] {
        let start = h2c
            .post(format!("{base}/v2/{repo}/blobs/uploads/"))
            .send()?;
        let start = expect_status(start, 202, "POST over h2c")?;
        let session = start.headers()["location"].to_str()?.to_owned();
        let url = if session.starts_with('/') {
            format!("{base}{session}")
        } else {
            session
        };
        let separator = if url.contains('?') { '&' } else { '?' };
        let put = h2c
            .put(format!("{url}{separator}digest={digest}"))
            .header("Content-Type", "application/octet-stream")
            .body(bytes)
            .send()?;
        assert_eq!(put.version(), Version::HTTP_2);
        expect_status(put, 201, "PUT over h2c")?;
    }
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": empty.to_json(),
        "layers": [Descriptor::of("application/octet-stream", &layer).to_json()],
    }))?;
    let put = h2c
        .put(format!("{base}/v2/{repo}/manifests/v1"))
        .header("Content-Type", OCI_MANIFEST)
        .body(manifest.clone())
        .send()?;
    expect_status(put, 201, "manifest PUT over h2c")?;

    let got = h2c
        .get(format!("{base}/v2/{repo}/manifests/v1"))
        .header("Accept", OCI_MANIFEST)
        .send()?;
    assert_eq!(got.version(), Version::HTTP_2);
    assert_eq!(got.bytes()?.to_vec(), manifest);
    let blob = h2c
        .get(format!("{base}/v2/{repo}/blobs/{layer_digest}"))
        .send()?;
    assert_eq!(blob.bytes()?.to_vec(), layer);
    cluster.ensure_only_on_owner(repo)
}

#[test]
fn metrics_count_manifest_requests_in_prometheus_text() -> Result<()> {
    let cluster = Cluster::start(3)?;
    let http = cluster.gateway().http();
    push_small_image(&http, "metrics/app", "v1")?;
    for _ in 0..3 {
        http.manifest("metrics/app", "v1")?;
    }

    let response = http.get("/metrics").send()?;

    assert_eq!(response.status(), 200);
    let text = response.text()?;
    let manifest_requests: f64 = text
        .lines()
        .filter(|line| {
            line.starts_with("flotilla_gateway_requests_total{")
                && line.contains("class=\"manifest\"")
        })
        .map(|line| {
            line.rsplit(' ')
                .next()
                .and_then(|v| v.parse::<f64>().ok())
                .with_context(|| format!("unparsable sample {line}"))
        })
        .sum::<Result<f64>>()?;
    // One PUT and three GETs.
    assert!(
        manifest_requests >= 4.0,
        "{manifest_requests} manifest requests counted:\n{text}"
    );
    Ok(())
}

#[test]
fn readyz_and_livez_answer_200_while_members_are_up() -> Result<()> {
    let cluster = Cluster::start(3)?;
    let http = cluster.gateway().http();

    assert_eq!(http.get("/livez").send()?.status(), 200);
    assert_eq!(http.get("/readyz").send()?.status(), 200);
    Ok(())
}

#[test]
fn readyz_turns_503_once_no_member_is_reachable() -> Result<()> {
    let mut cluster = Cluster::start(2)?;
    for i in 0..2 {
        cluster.member_mut(i).kill()?;
    }
    let http = cluster.gateway().http();

    // Probes run every 500 ms; give them a few rounds.
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut status = http.get("/readyz").send()?.status();
    while status != 503 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
        status = http.get("/readyz").send()?.status();
    }
    assert_eq!(status, 503, "readyz with every member dead");
    assert_eq!(
        http.get("/livez").send()?.status(),
        200,
        "the process itself is alive"
    );
    Ok(())
}

/// The upstream pool had no timer, so its idle timeout never ran: 1,083
/// connections to members stayed open after a load test. Twelve uploads
/// at once open twelve connections to the member; with `poolIdle` at 1 s
/// they are closed soon after, but for the one the probes keep using.
#[test]
fn idle_connections_to_members_are_closed_after_the_pool_idle_timeout() -> Result<()> {
    flotilla_e2e::process::require_tool("curl")?;
    let cluster = Cluster::builder()
        .nodes(1)
        .gateway(|g| g.pool_idle(Duration::from_secs(1)))
        .start()?;
    let member_port: u16 = cluster
        .member(0)
        .host_port()
        .rsplit_once(':')
        .context("port")?
        .1
        .parse()?;
    let http = cluster.gateway().http();
    let work = tempfile::TempDir::new()?;
    let file = work.path().join("blob");
    let blob = seeded_bytes("held open while it uploads", 2 << 20);
    std::fs::write(&file, &blob)?;
    let digest = sha256_digest(&blob);
    let urls = (0..12)
        .map(|i| -> Result<String> {
            let start = http.post(&format!("/v2/pool/r{i}/blobs/uploads/")).send()?;
            let session = expect_status(start, 202, "POST")?.headers()["location"]
                .to_str()?
                .to_owned();
            let sep = if session.contains('?') { '&' } else { '?' };
            Ok(http.url(&format!("{session}{sep}digest={digest}")))
        })
        .collect::<Result<Vec<_>>>()?;
    // Two seconds each, started together: all twelve are in flight at once.
    let mut uploads = urls
        .iter()
        .map(|url| {
            std::process::Command::new("curl")
                .args([
                    "-sS",
                    "-f",
                    "--limit-rate",
                    "1M",
                    "-X",
                    "PUT",
                    "-o",
                    "/dev/null",
                    "-T",
                ])
                .arg(&file)
                .arg(url)
                .spawn()
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    let mut open = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while uploads
        .iter_mut()
        .any(|u| u.try_wait().is_ok_and(|s| s.is_none()))
    {
        if Instant::now() > deadline {
            uploads.iter_mut().for_each(|u| drop(u.kill()));
            anyhow::bail!("the uploads did not finish within 30 s");
        }
        open = open.max(established_to(member_port)?);
        thread::sleep(Duration::from_millis(50));
    }
    for mut upload in uploads {
        assert!(upload.wait()?.success(), "an upload failed");
    }
    assert!(
        open >= 12,
        "at most {open} connections to the member during 12 uploads at once"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut left = open;
    while left > 2 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(100));
        left = established_to(member_port)?;
    }
    assert!(
        left <= 2,
        "{left} of {open} connections still open 5 s after the uploads"
    );
    Ok(())
}

/// Established IPv4 TCP connections to `port` (from any local port), per the kernel.
fn established_to(port: u16) -> Result<usize> {
    let table = std::fs::read_to_string("/proc/net/tcp")?;
    let remote = format!(":{port:04X}");
    Ok(table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // sl, local_address, rem_address, st (01 is ESTABLISHED), …
            fields.len() > 3 && fields[2].ends_with(&remote) && fields[3] == "01"
        })
        .count())
}
