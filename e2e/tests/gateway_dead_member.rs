//! One member dies or hangs: its repositories fail fast and say which member is at fault; everything else keeps working.
//!
//! Most tests kill a node with SIGKILL, as a crash would, or freeze it with
//! SIGSTOP, as a hung VM would. The gateway's connect timeout is 1 s and it
//! probes members every 500 ms (a probe may take 1 s; three missed probes
//! mark a member down), so "fast" means an answer within 2 s for a dead
//! member and within a few seconds for a hung one, and "back" means within
//! a few probe intervals.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use flotilla_e2e::cluster::{assert_member_unavailable, error_body, upload_blob};
use flotilla_e2e::{push_small_image, Cluster, FakeMember, Gateway, Registry, SmallImage};
use serde_json::Value;
use tempfile::TempDir;
use tokio::time::Instant;

/// A cluster of three nodes, one small image on each: `repos[i]` is owned by member `i`.
fn cluster_with_a_repo_per_member(
    cluster: Cluster,
) -> Result<(Cluster, Vec<String>, Vec<SmallImage>)> {
    let mut by_member = cluster.names_on_every_member(1, |i| format!("fleet/repo-{i}"))?;
    by_member.sort_by_key(|r| cluster.owner(r));
    let images = by_member
        .iter()
        .map(|repo| push_small_image(&cluster.gateway().http(), repo, "v1"))
        .collect::<Result<Vec<_>>>()?;
    Ok((cluster, by_member, images))
}

#[test]
fn a_dead_members_repository_gets_a_fast_503_unavailable_naming_the_member() -> Result<()> {
    let (mut cluster, repos, _) = cluster_with_a_repo_per_member(Cluster::start(3)?)?;
    let dead = cluster.member(0).host_port();
    cluster.member_mut(0).kill()?;

    for attempt in 0..3 {
        let started = Instant::now();
        let response = cluster
            .gateway()
            .http()
            .get(&format!("/v2/{}/manifests/v1", repos[0]))
            .timeout(Duration::from_secs(10))
            .send()?;
        let took = started.elapsed();
        assert_member_unavailable(response, &dead);
        assert!(
            took < Duration::from_secs(2),
            "attempt {attempt} took {took:?}"
        );
    }
    Ok(())
}

#[test]
fn repositories_on_live_members_still_work_while_one_member_is_dead() -> Result<()> {
    let (mut cluster, repos, images) = cluster_with_a_repo_per_member(Cluster::start(3)?)?;
    cluster.member_mut(0).kill()?;
    let http = cluster.gateway().http();

    for (repo, image) in repos.iter().zip(&images).skip(1) {
        let manifest = http.manifest(repo, "v1")?;
        assert_eq!(
            flotilla_e2e::layout::sha256_digest(&manifest),
            image.manifest.digest
        );
        assert_eq!(
            http.blob(repo, &image.layer.digest)?.len() as u64,
            image.layer.size
        );
    }
    let fresh = cluster.names_on_every_member(2, |i| format!("fleet/fresh-{i}"))?;
    for repo in fresh.iter().filter(|r| cluster.owner(r) != 0) {
        push_small_image(&http, repo, "v1")?;
        for live in 1..3 {
            let expected = if cluster.owner(repo) == live {
                200
            } else {
                404
            };
            let path = format!("/v2/{repo}/tags/list");
            assert_eq!(
                cluster.member(live).status(&path)?,
                expected,
                "{repo} on member {live}"
            );
        }
    }
    Ok(())
}

#[test]
fn the_catalog_answers_503_naming_a_dead_member() -> Result<()> {
    let (mut cluster, _, _) = cluster_with_a_repo_per_member(Cluster::start(3)?)?;
    let dead = cluster.member(1).host_port();
    cluster.member_mut(1).kill()?;

    let response = cluster.gateway().http().get("/v2/_catalog").send()?;
    assert_member_unavailable(response, &dead);
    Ok(())
}

#[test]
fn a_partial_catalog_lists_the_live_members_repositories_with_a_warning() -> Result<()> {
    let cluster = Cluster::builder().nodes(3).partial().start()?;
    let (mut cluster, repos, _) = cluster_with_a_repo_per_member(cluster)?;
    let dead = cluster.member(2).host_port();
    cluster.member_mut(2).kill()?;

    let response = cluster.gateway().http().get("/v2/_catalog").send()?;

    assert_eq!(response.status(), 200);
    let warnings: Vec<String> = response
        .headers()
        .get_all("warning")
        .iter()
        .filter_map(|w| w.to_str().ok().map(str::to_owned))
        .collect();
    assert!(
        warnings.iter().any(|w| w.contains(&dead)),
        "no Warning names {dead}: {warnings:?}"
    );
    let body: Value = response.json()?;
    let mut live = repos[..2].to_vec();
    live.sort_by(|a, b| a.split('/').cmp(b.split('/')));
    assert_eq!(body["repositories"], serde_json::json!(live));
    Ok(())
}

#[test]
fn a_restarted_member_serves_its_repositories_again_after_a_probe() -> Result<()> {
    let (mut cluster, repos, images) = cluster_with_a_repo_per_member(Cluster::start(3)?)?;
    let path = format!("/v2/{}/manifests/{}", repos[0], images[0].manifest.digest);
    cluster.member_mut(0).kill()?;
    let down = cluster.gateway().http().get(&path).send()?;
    assert_eq!(down.status(), 503);

    cluster.member_mut(0).restart()?;

    let http = cluster.gateway().http();
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let status = http.get(&path).send()?.status();
        if status == 200 {
            break;
        }
        if Instant::now() >= deadline {
            bail!("3 s after the restart, {path} still answers {status}");
        }
        thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        flotilla_e2e::layout::sha256_digest(&http.manifest(&repos[0], "v1")?),
        images[0].manifest.digest
    );
    Ok(())
}

/// A hung member (SIGSTOP) used to hold every request for its repositories
/// for the whole response timeout, and requests already waiting on it were
/// not cut off when probes marked it down. Now a waiting request fails the
/// moment the member is marked down, with a 503 naming it, long before a
/// 60 s response timeout; a gateway with a 1 s response timeout answers 504
/// naming it after 1 s; requests for the other members keep succeeding
/// throughout; and after SIGCONT the member serves again.
#[test]
fn a_hung_member_fails_its_waiting_requests_naming_it_and_serves_again_after_sigcont() -> Result<()>
{
    let cluster = Cluster::builder()
        .nodes(3)
        .gateway(|g| g.response(Duration::from_secs(60)))
        .start()?;
    let (cluster, repos, images) = cluster_with_a_repo_per_member(cluster)?;
    let hung = cluster.member(0).host_port();
    let impatient = cluster
        .another_gateway()
        .response(Duration::from_secs(1))
        .start()?;
    let stop = AtomicBool::new(false);
    let (served, failed) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let path = format!("/v2/{}/manifests/v1", repos[0]);

    thread::scope(|scope| -> Result<()> {
        for repo in &repos[1..] {
            let http = cluster.gateway().http();
            let (stop, served, failed) = (&stop, &served, &failed);
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let ok = http
                        .get(&format!("/v2/{repo}/manifests/v1"))
                        .send()
                        .is_ok_and(|r| r.status() == 200);
                    let counter = if ok { served } else { failed };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        let result = (|| -> Result<()> {
            cluster.member(0).pause()?;
            let quick = scope.spawn(|| timed(&impatient.http(), &path));
            let waiting = timed(&cluster.gateway().http(), &path)?;
            ensure_failed_naming(waiting, 503, &hung, Duration::from_secs(10))?;
            let impatient = quick.join().expect("no panic")?;
            ensure_failed_naming(impatient, 504, &hung, Duration::from_secs(3))?;
            let (status, _, took) = timed(&cluster.gateway().http(), &path)?;
            ensure!(
                status == 503 && took < Duration::from_secs(1),
                "{status} after {took:?}"
            );

            cluster.member(0).resume()?;
            let http = cluster.gateway().http();
            let deadline = Instant::now() + Duration::from_secs(5);
            while http.get(&path).send()?.status() != 200 {
                ensure!(
                    Instant::now() < deadline,
                    "5 s after SIGCONT, {path} still fails"
                );
                thread::sleep(Duration::from_millis(50));
            }
            Ok(())
        })();
        stop.store(true, Ordering::Relaxed);
        let _ = cluster.member(0).resume();
        result
    })?;
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "requests for live members failed"
    );
    assert!(served.load(Ordering::Relaxed) > 0);
    assert_eq!(
        flotilla_e2e::layout::sha256_digest(&cluster.gateway().http().manifest(&repos[0], "v1")?),
        images[0].manifest.digest
    );
    Ok(())
}

/// `answer` (from [`timed`]) has `status`, names `member` and came within `bound`.
fn ensure_failed_naming(
    (got, body, took): (u16, Value, Duration),
    status: u16,
    member: &str,
    bound: Duration,
) -> Result<()> {
    ensure!(got == status, "expected {status}, got {got}: {body}");
    ensure!(body["errors"][0]["detail"]["member"] == member, "{body}");
    ensure!(took < bound, "{status} naming {member} came after {took:?}");
    Ok(())
}

/// GET `path`: its status, error body and how long it took.
fn timed(http: &Registry, path: &str) -> Result<(u16, Value, Duration)> {
    let started = Instant::now();
    let response = http.get(path).timeout(Duration::from_secs(30)).send()?;
    let status = response.status().as_u16();
    Ok((status, error_body(response), started.elapsed()))
}

/// A member killed 137 MiB into a 500 MiB pull left the client with a
/// short body it could take for complete. Now the gateway aborts the
/// client's response (closes the HTTP/1.1 connection, resets the HTTP/2
/// stream), so curl fails, and counts the abort against the member.
#[test]
fn a_member_killed_mid_pull_aborts_the_download_over_http1_and_http2() -> Result<()> {
    let mut cluster = Cluster::start(1)?;
    let member = cluster.member(0).host_port();
    let work = TempDir::new()?;
    let repo = "pull/big";
    // Far more than loopback socket buffers hold, and curl takes it slowly,
    // so the member is still sending when it dies.
    let size = 256 << 20;
    let digest = big_blob_on_disk(&cluster, repo, size)?;
    let url = format!("{}/v2/{repo}/blobs/{digest}", cluster.gateway().url());
    let aborts = format!("flotilla_gateway_upstream_body_aborts_total{{member=\"{member}\"");

    for (i, protocol) in ["--http1.1", "--http2-prior-knowledge"]
        .into_iter()
        .enumerate()
    {
        let out = work.path().join(format!("pulled-{i}"));
        let mut curl = pull_under_way(&url, &out, protocol)?;
        cluster.member_mut(0).kill()?;
        let status = wait(&mut curl, Duration::from_secs(20))?;
        let got = std::fs::metadata(&out)?.len();
        ensure!(
            !status.success(),
            "{protocol}: curl exited {status} with {got} of {size} bytes"
        );
        ensure!(got < size as u64, "{protocol}: all {got} bytes arrived");
        ensure!(
            cluster.gateway().metric(&aborts)? == (i + 1) as f64,
            "{protocol}: the abort was not counted against {member}"
        );
        cluster.member_mut(0).restart()?;
        wait_until_served(
            &cluster.gateway().http(),
            &format!("/v2/{repo}/blobs/{digest}"),
        )?;
    }
    Ok(())
}

/// A member that hangs mid-answer (SIGSTOP) used to hold the client's
/// download open forever: bodies had no stall bound. Now the gateway
/// aborts the download once the member has sent nothing for
/// `timeouts.bodyStall`, and counts the stall against the member.
#[test]
fn a_member_that_hangs_mid_pull_has_the_download_aborted_at_the_stall_bound() -> Result<()> {
    let cluster = Cluster::builder()
        .nodes(1)
        .gateway(|g| g.body_stall(Duration::from_secs(1)))
        .start()?;
    let member = cluster.member(0).host_port();
    let digest = big_blob_on_disk(&cluster, "pull/stalled", 64 << 20)?;
    let url = format!("{}/v2/pull/stalled/blobs/{digest}", cluster.gateway().url());
    let work = TempDir::new()?;
    let out = work.path().join("pulled");
    let mut curl = pull_under_way(&url, &out, "--http1.1")?;

    cluster.member(0).pause()?;
    let paused = Instant::now();
    let status = wait(&mut curl, Duration::from_secs(20));
    let took = paused.elapsed();
    cluster.member(0).resume()?;

    let status = status?;
    ensure!(!status.success(), "curl exited {status}");
    ensure!(
        took < Duration::from_secs(8),
        "aborted {took:?} after the member hung"
    );
    let stalls = format!(
        "flotilla_gateway_upstream_body_aborts_total{{member=\"{member}\",cause=\"stall\"}}"
    );
    ensure!(
        cluster.gateway().metric(&stalls)? == 1.0,
        "the stall was not counted"
    );
    Ok(())
}

/// Puts a blob of `size` bytes into `repo` on member 0, a node, straight
/// into its storage: a debug node hashing a large upload takes many seconds.
fn big_blob_on_disk(cluster: &Cluster, repo: &str, size: usize) -> Result<String> {
    let flotilla_e2e::Member::Node(node) = cluster.member(0) else {
        bail!("member 0 is not a flotilla-node");
    };
    // A small upload through the API makes the repository.
    upload_blob(&node.http(), repo, b"makes the repository")?;
    let blobs = node.root_dir().join(repo).join("blobs/sha256");
    let staged = blobs.join("staged");
    std::fs::write(&staged, vec![0x5a_u8; size])?;
    let sum = flotilla_e2e::process::run(
        Command::new("sha256sum").arg(&staged),
        Duration::from_secs(20),
    )?
    .check()?
    .stdout_text();
    let hex = sum
        .split_whitespace()
        .next()
        .context("sha256sum printed nothing")?;
    std::fs::rename(&staged, blobs.join(hex))?;
    Ok(format!("sha256:{hex}"))
}

/// A member whose chunked answer breaks off (no terminating chunk) must
/// not give the client a body that looks complete: the gateway must not
/// write the terminating chunk itself, nor end the HTTP/2 stream cleanly.
#[test]
fn a_members_chunked_answer_that_breaks_off_aborts_the_download() -> Result<()> {
    // No real node breaks off mid-chunk: a fake member sends one chunk and
    // closes without the terminating one.
    const SENT: usize = 4096;
    let member = FakeMember::start(|mut exchange| {
        exchange.send(b"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ntransfer-encoding: chunked\r\n\r\n")?;
        exchange.send(format!("{SENT:x}\r\n").as_bytes())?;
        exchange.send(&[b'x'; SENT])?;
        exchange.send(b"\r\n")
    })?;
    let gateway = Gateway::builder().members(&[member.host_port()]).start()?;
    wait_until_served(&gateway.http(), "/v2/")?;
    let work = TempDir::new()?;
    let url = format!(
        "{}/v2/broken/blobs/sha256:{}",
        gateway.url(),
        "a".repeat(64)
    );
    let aborts = format!(
        "flotilla_gateway_upstream_body_aborts_total{{member=\"{}\"",
        member.host_port()
    );
    for (i, protocol) in ["--http1.1", "--http2-prior-knowledge"]
        .into_iter()
        .enumerate()
    {
        let out = work.path().join(format!("pulled-{i}"));
        let status = wait(
            &mut curl_to_file(&url, &out, protocol)?,
            Duration::from_secs(20),
        )?;
        let got = std::fs::metadata(&out).map_or(0, |m| m.len());
        ensure!(
            !status.success(),
            "{protocol}: curl exited {status} with {got} bytes"
        );
        ensure!(got <= SENT as u64, "{protocol}: got {got} bytes");
        ensure!(
            gateway.metric(&aborts)? == (i + 1) as f64,
            "{protocol}: not counted"
        );
    }
    Ok(())
}

/// curl pulling `url` into `out` with `protocol`, once 4 MiB have arrived.
fn pull_under_way(url: &str, out: &Path, protocol: &str) -> Result<Child> {
    let mut curl = curl_to_file(url, out, protocol)?;
    let started = Instant::now();
    while std::fs::metadata(out).map_or(0, |m| m.len()) < 4 << 20 {
        if started.elapsed() > Duration::from_secs(20) {
            let _ = curl.kill();
            bail!("{protocol}: the pull of {url} did not start");
        }
        thread::sleep(Duration::from_millis(10));
    }
    Ok(curl)
}

/// `curl URL -o out` with `protocol`, started in the background.
fn curl_to_file(url: &str, out: &Path, protocol: &str) -> Result<Child> {
    flotilla_e2e::process::require_tool("curl")?;
    Command::new("curl")
        .args(["-sS", "--limit-rate", "16M", protocol, "-o"])
        .arg(out)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting curl")
}

/// `child`'s exit status; killed and an error after `timeout`.
fn wait(child: &mut Child, timeout: Duration) -> Result<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("curl did not finish within {timeout:?}");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Polls `path` through the gateway until it answers 200 (the member is
/// probed up again), for at most 5 s.
fn wait_until_served(http: &Registry, path: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let status = http.head(path).send()?.status();
        if status == 200 {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "{path} still answers {status} after 5 s"
        );
        thread::sleep(Duration::from_millis(50));
    }
}
