//! An orchestrator stops a gateway with SIGTERM while a client is pulling a large blob: the pull finishes, then the gateway exits 0.
//!
//! While draining, `/readyz` must turn away the load balancer (503, or no
//! listener at all) so no new work arrives; the request already in flight
//! runs to its end within `timeouts.drain`.

use std::io::Read;
use std::thread;
use std::time::Duration;

use anyhow::{bail, ensure, Result};
use flotilla_e2e::cluster::upload_blob;
use flotilla_e2e::{Cluster, Registry};
use sha2::{Digest as _, Sha256};
use tokio::time::Instant;

/// Bigger than what loopback socket buffers on both hops can hold, so the
/// gateway is still sending when SIGTERM arrives.
const BLOB_SIZE: usize = 32 << 20;
/// What the test gateway's `timeouts.drain` is (the harness default).
const DRAIN: Duration = Duration::from_secs(10);

#[test]
fn sigterm_lets_an_in_flight_blob_pull_finish_then_the_gateway_exits_0() -> Result<()> {
    let mut cluster = Cluster::start(3)?;
    let http = cluster.gateway().http();
    let repo = "drain/large";
    let blob = noise(BLOB_SIZE);
    let digest = upload_blob(&http, repo, &blob)?;
    drop(blob);
    assert_eq!(
        http.get("/readyz").send()?.status(),
        200,
        "ready before SIGTERM"
    );

    let mut pull = http
        .get(&format!("/v2/{repo}/blobs/{digest}"))
        .timeout(Duration::from_secs(60))
        .send()?;
    assert_eq!(pull.status(), 200);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 << 10];
    let mut received = read_some(&mut pull, &mut buf, 1 << 20, &mut hasher)?;

    cluster.gateway().terminate()?;
    let terminated = Instant::now();
    wait_until_not_ready(&cluster.gateway().http())?;
    thread::sleep(Duration::from_millis(200));
    ensure!(
        cluster.gateway_mut().wait_exit(Duration::ZERO)?.is_none(),
        "the gateway exited with {received} of {BLOB_SIZE} bytes sent"
    );
    // The slow reader goes on: 256 KiB every 5 ms.
    loop {
        let n = pull.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        received += n;
        thread::sleep(Duration::from_millis(5));
    }

    assert_eq!(received, BLOB_SIZE, "the in-flight pull was cut short");
    assert_eq!(format!("sha256:{}", hex::encode(hasher.finalize())), digest);
    let exit = cluster
        .gateway_mut()
        .wait_exit(DRAIN.saturating_sub(terminated.elapsed()) + Duration::from_secs(1))?;
    match exit {
        Some(status) => ensure!(status.success(), "the gateway exited with {status}"),
        None => bail!(
            "the gateway still runs {:?} after SIGTERM",
            terminated.elapsed()
        ),
    }
    Ok(())
}

/// Reads at least `at_least` bytes into the hasher.
fn read_some(
    body: &mut impl Read,
    buf: &mut [u8],
    at_least: usize,
    hasher: &mut Sha256,
) -> Result<usize> {
    let mut read = 0;
    while read < at_least {
        let n = body.read(buf)?;
        ensure!(n > 0, "the blob ended after {read} bytes");
        hasher.update(&buf[..n]);
        read += n;
    }
    Ok(read)
}

/// Polls `/readyz` on a new connection until it answers 503 or nothing listens, for at most 3 s.
fn wait_until_not_ready(gateway: &Registry) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let probe = gateway
            .get("/readyz")
            .header("Connection", "close")
            .timeout(Duration::from_millis(500))
            .send();
        let last = match probe {
            Ok(response) if response.status() == 503 => return Ok(()),
            Err(err) if err.is_connect() => return Ok(()),
            Ok(response) => format!("{}", response.status()),
            Err(err) => format!("{err:#}"),
        };
        if Instant::now() >= deadline {
            bail!("3 s after SIGTERM /readyz still answers: {last}");
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// `len` incompressible bytes, quickly (xorshift; SHA-256 would dominate the test in a debug build).
fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}
