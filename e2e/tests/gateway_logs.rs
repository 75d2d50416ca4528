//! Access logs and request ids: one structured line per request on the gateway and on its members, tied together by `X-Request-Id`.

use std::time::Duration;

use tokio::time::Instant;

use anyhow::{bail, ensure, Result};
use flotilla_e2e::cluster::Member;
use flotilla_e2e::{push_small_image, Cluster};
use serde_json::Value;

/// The `access` lines of a JSON log whose request id is `id`.
fn access_lines(log: &str, id: &str) -> Vec<Value> {
    log.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|v| v["target"] == "access" && v["fields"]["request_id"] == id)
        .map(|v| v["fields"].clone())
        .collect()
}

/// Waits (a few seconds at most) for `log()` to hold an access line with `id`.
fn wait_for_line(what: &str, log: impl Fn() -> String, id: &str) -> Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(line) = access_lines(&log(), id).pop() {
            return Ok(line);
        }
        if Instant::now() > deadline {
            bail!(
                "no access line with request id {id:?} in the {what} log:\n{}",
                log()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn member_log(member: &Member) -> String {
    match member {
        Member::Node(node) => node.log(),
        _ => String::new(),
    }
}

/// GETs `path` on `base` with curl, sending `id` as `X-Request-Id` if given;
/// returns the status, the id the response carries and the body length.
fn curl(base: &str, path: &str, id: Option<&str>) -> Result<(u16, String, usize)> {
    let mut args = vec![
        "-sS".to_owned(),
        "-D".into(),
        "-".into(),
        "-o".into(),
        "/dev/null".into(),
        "-w".into(),
        "%{size_download}".into(),
    ];
    if let Some(id) = id {
        args.extend(["-H".into(), format!("X-Request-Id: {id}")]);
    }
    args.push(format!("{base}{path}"));
    let out = std::process::Command::new("curl").args(&args).output()?;
    ensure!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout)?;
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let returned = text
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("x-request-id")
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_default();
    let size = text.lines().last().unwrap_or_default().trim().parse()?;
    Ok((status, returned, size))
}

/// `xxxxxxxx-xxxx-4xxx-xxxx-xxxxxxxxxxxx`, lower-case hex.
fn is_uuid_v4(id: &str) -> bool {
    id.len() == 36
        && id.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            14 => c == '4',
            _ => c.is_ascii_digit() || ('a'..='f').contains(&c),
        })
}

#[test]
fn a_request_id_ties_the_gateways_access_line_to_the_members() -> Result<()> {
    let cluster = Cluster::start(2)?;
    let base = cluster.gateway().url();
    let repo = "logs/app";
    let image = push_small_image(&cluster.gateway().http(), repo, "1")?;
    let owner = cluster.member(cluster.owner(repo));
    let path = format!("/v2/{repo}/manifests/1");

    let (status, returned, size) = curl(&base, &path, Some("abc"))?;
    ensure!(status == 200 && returned == "abc", "{status} {returned:?}");
    ensure!(size as u64 == image.manifest.size);
    let line = wait_for_line("gateway", || cluster.gateway().log(), "abc")?;
    ensure!(
        line["method"] == "GET"
            && line["path"] == path
            && line["status"] == 200
            && line["bytes"] == image.manifest.size
            && line["member"] == owner.host_port()
            && line["duration_ms"].as_f64().is_some(),
        "gateway access line: {line}"
    );
    let line = wait_for_line("owner", || member_log(owner), "abc")?;
    ensure!(
        line["path"] == path && line["status"] == 200 && line["bytes"] == image.manifest.size,
        "member access line: {line}"
    );

    // A fan-out passes the id to every member.
    let (status, returned, _) = curl(&base, "/v2/_catalog", Some("fan.out-1"))?;
    ensure!(status == 200 && returned == "fan.out-1");
    for member in cluster.members() {
        wait_for_line("member", || member_log(member), "fan.out-1")?;
    }
    Ok(())
}

#[test]
fn a_missing_or_bad_request_id_is_replaced_by_a_fresh_one() -> Result<()> {
    let cluster = Cluster::start(1)?;
    let base = cluster.gateway().url();
    let long = "x".repeat(200);
    for sent in [None, Some(long.as_str()), Some("tab\there"), Some("a b")] {
        let (status, returned, _) = curl(&base, "/v2/none/tags/list", sent)?;
        ensure!(status == 404, "{status}");
        ensure!(
            is_uuid_v4(&returned),
            "sent {sent:?}, got back {returned:?} rather than a UUID v4"
        );
        let line = wait_for_line("gateway", || cluster.gateway().log(), &returned)?;
        ensure!(line["status"] == 404 && line["path"] == "/v2/none/tags/list");
        wait_for_line("member", || member_log(cluster.member(0)), &returned)?;
    }
    // The node alone sets and returns ids the same way.
    let Member::Node(node) = cluster.member(0) else {
        bail!("member 0 is not a node");
    };
    let (_, returned, _) = curl(&node.url(), "/v2/", Some("node-1"))?;
    ensure!(returned == "node-1");
    let (_, returned, _) = curl(&node.url(), "/v2/", Some(&long))?;
    ensure!(is_uuid_v4(&returned), "{returned:?}");
    Ok(())
}
