//! Request targets that are not paths (`OPTIONS *`, `GET *`, `CONNECT`) never reach a member: the gateway answers them itself, over HTTP/1.1, HTTP/2 and through HAProxy.
//!
//! The hole: the gateway built a member URI from `*`, connected to port 80
//! on the member's host with the client's `Authorization` and `Cookie`, and
//! marked the member down when nothing listened there, so three anonymous
//! requests took the whole fleet out.

use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use flotilla_e2e::balancer::Balancer;
use flotilla_e2e::conns::{open_with, until_closed};
use flotilla_e2e::Cluster;

/// Port 80 on loopback, where the hole sent requests; `None` if it is taken.
fn port_80() -> Option<TcpListener> {
    let listener = TcpListener::bind("127.0.0.1:80").ok()?;
    listener.set_nonblocking(true).ok()?;
    Some(listener)
}

/// curl with a literal request target, as `--request-target` sends it.
fn curl(base: &str, method: &str, target: &str, extra: &[&str]) -> Result<(u16, String)> {
    let out = Command::new("curl")
        .args(["-s", "-o", "-", "-w", "\n%{http_code}", "-X", method])
        .args(["--request-target", target])
        .args([
            "-H",
            "Authorization: Basic c2VjcmV0OnNlY3JldA==",
            "-H",
            "Cookie: session=x",
        ])
        .args(extra)
        .arg(base)
        .output()
        .context("running curl")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    Ok((code.trim().parse().unwrap_or(0), body.to_owned()))
}

#[test]
fn asterisk_and_authority_targets_are_answered_by_the_gateway() -> Result<()> {
    let trap = port_80();
    let cluster = Cluster::start(3)?;
    let gateway = cluster.gateway();
    let base = gateway.url();
    for extra in [&["--http1.1"][..], &["--http2-prior-knowledge"][..]] {
        for _ in 0..5 {
            let (status, body) = curl(&base, "OPTIONS", "*", extra)?;
            ensure!(
                status == 200 && body.is_empty(),
                "OPTIONS * {extra:?}: {status} {body}"
            );
            let (status, body) = curl(&base, "GET", "*", extra)?;
            ensure!(
                status == 400 && body.contains("UNSUPPORTED") && body.contains("\"target\":\"*\""),
                "GET * {extra:?}: {status} {body}"
            );
        }
    }
    let mut connect = open_with(
        &gateway.host_port(),
        b"CONNECT 127.0.0.1:80 HTTP/1.1\r\nHost: 127.0.0.1:80\r\nConnection: close\r\n\r\n",
    )?;
    let (_, said) = until_closed(&mut connect, Duration::from_secs(5))?;
    let said = String::from_utf8_lossy(&said);
    ensure!(said.starts_with("HTTP/1.1 400"), "CONNECT: {said}");

    // Every member is still up, and nothing reached port 80.
    std::thread::sleep(Duration::from_secs(1));
    ensure!(
        cluster.gateway().http().get("/readyz").send()?.status() == 200,
        "a member was marked down"
    );
    let metrics = gateway.http().get("/metrics").send()?.text()?;
    let down: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("flotilla_gateway_member_up") && l.ends_with(" 0"))
        .collect();
    ensure!(down.is_empty(), "members marked down: {down:?}");
    ensure!(
        !metrics.contains("flotilla_gateway_upstream_errors_total{"),
        "a member exchange failed:\n{metrics}"
    );
    if let Some(trap) = trap {
        ensure!(
            trap.accept().is_err(),
            "the gateway connected to port 80 for a target that is not a path"
        );
    }
    Ok(())
}

#[test]
fn asterisk_targets_through_haproxy_never_reach_a_member() -> Result<()> {
    let cluster = Cluster::start(3)?;
    let second = cluster.another_gateway().start()?;
    let lb = Balancer::haproxy(&[cluster.gateway().host_port(), second.host_port()])?;
    for _ in 0..5 {
        let (status, _) = curl(&lb.url(), "OPTIONS", "*", &[])?;
        // HAProxy may answer `OPTIONS *` itself or pass it on; either way it is never a member's.
        ensure!(
            status == 200 || status == 400,
            "OPTIONS * via haproxy: {status}"
        );
        let (status, body) = curl(&lb.url(), "GET", "*", &[])?;
        ensure!(status == 400, "GET * via haproxy: {status} {body}");
    }
    ensure!(
        cluster.gateway().http().get("/readyz").send()?.status() == 200,
        "a member was marked down"
    );
    Ok(())
}
