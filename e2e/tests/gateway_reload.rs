//! An operator edits the gateway's config and sends SIGHUP: a usable config is in force for every request that starts after it, with no connection dropped and no request in flight failed; an unusable one is refused, with its reason logged, and the old one stays.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use flotilla_e2e::cluster::upload_blob;
use flotilla_e2e::gateway::GatewayBuilder;
use flotilla_e2e::layout::{seeded_bytes, sha256_digest};
use flotilla_e2e::{push_small_image, Gateway, Node};
use serde_json::{json, Value};
use tokio::time::Instant;

/// How long a reload may take to be in force.
const RELOAD: Duration = Duration::from_secs(5);

/// One member behind the gateway at first, a second one ready to be added.
fn one_of_two() -> Result<(Vec<Node>, GatewayBuilder, Gateway)> {
    let nodes = vec![Node::start()?, Node::start()?];
    let builder = Gateway::builder().members(&[nodes[0].host_port()]);
    let gateway = builder.clone().start()?;
    Ok((nodes, builder, gateway))
}

fn text(config: &Value) -> String {
    config.to_string()
}

/// Polls `check` until it holds or [`RELOAD`] passes.
fn eventually(what: &str, mut check: impl FnMut() -> Result<bool>) -> Result<()> {
    let deadline = Instant::now() + RELOAD;
    loop {
        if check()? {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("{what} did not happen within {RELOAD:?}");
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// One `GET path` over an open HTTP/1.1 connection: the status and body.
fn get_on(stream: &mut TcpStream, path: &str) -> Result<(u16, String)> {
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: gateway\r\nAccept: application/json\r\n\r\n"
    )?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut status_line = String::new();
    reader.read_line(&mut status_line)?;
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .context("no status")?
        .parse()?;
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        if line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse()?;
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok((status, String::from_utf8(body)?))
}

fn catalog_of(gateway: &Gateway) -> Result<Value> {
    Ok(gateway.http().get("/v2/_catalog").send()?.json()?)
}

#[test]
fn a_member_added_by_a_reload_serves_at_once_even_on_a_connection_opened_before() -> Result<()> {
    let (nodes, builder, mut gateway) = one_of_two()?;
    let both = builder
        .clone()
        .members(&[nodes[0].host_port(), nodes[1].host_port()]);
    // Repositories the second member will own, pushed to it directly.
    let grown = both.ring()?;
    let moved: Vec<String> = (0..40)
        .map(|i| format!("reload/repo-{i}"))
        .filter(|repo| grown.owner(repo) == 1)
        .take(3)
        .collect();
    ensure!(moved.len() == 3, "too few repositories for the new member");
    for repo in &moved {
        push_small_image(&nodes[1].http(), repo, "v1")?;
    }
    push_small_image(&gateway.http(), "reload/first", "v1")?;
    ensure!(catalog_of(&gateway)? == json!({"repositories": ["reload/first"]}));

    let mut kept = TcpStream::connect(gateway.host_port())?;
    kept.set_read_timeout(Some(Duration::from_secs(10)))?;
    ensure!(get_on(&mut kept, "/v2/")?.0 == 200);

    gateway.reload(&text(&both.config()))?;
    let mut all: Vec<String> = moved.clone();
    all.push("reload/first".into());
    all.sort();
    let want = json!({ "repositories": all });
    eventually("the catalog spanning the new member", || {
        Ok(catalog_of(&gateway)? == want)
    })?;
    // The connection opened before the reload serves the new config.
    let (status, body) = get_on(&mut kept, "/v2/_catalog")?;
    ensure!(
        status == 200 && serde_json::from_str::<Value>(&body)? == want,
        "{status} {body}"
    );
    for repo in &moved {
        let tags: Value = gateway
            .http()
            .get(&format!("/v2/{repo}/tags/list"))
            .send()?
            .json()?;
        ensure!(tags["tags"] == json!(["v1"]), "{repo}: {tags}");
    }
    let log = gateway.log();
    ensure!(log.contains("config reloaded"), "{log}");
    ensure!(
        !log.contains("keep their old values"),
        "a member change needs no restart:\n{log}"
    );
    Ok(())
}

#[test]
fn a_pull_in_flight_completes_across_a_reload() -> Result<()> {
    let (nodes, builder, mut gateway) = one_of_two()?;
    let bytes = seeded_bytes("a long pull across a reload", 24 << 20);
    let digest = upload_blob(&gateway.http(), "reload/big", &bytes)?;
    // curl reads at 8 MiB/s: three seconds, the reload in the middle.
    let mut curl = Command::new("curl")
        .args(["-sS", "--fail", "--limit-rate", "8M", "-o", "-"])
        .arg(format!("{}/v2/reload/big/blobs/{digest}", gateway.url()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting curl")?;
    let mut stdout = curl.stdout.take().context("no stdout")?;
    let reader = thread::spawn(move || {
        let mut got = Vec::new();
        stdout.read_to_end(&mut got).map(|_| got)
    });
    thread::sleep(Duration::from_secs(1));
    let both = builder.members(&[nodes[0].host_port(), nodes[1].host_port()]);
    gateway.reload(&text(&both.config()))?;
    eventually("the reload", || {
        Ok(gateway.log().contains("config reloaded"))
    })?;
    let got = reader
        .join()
        .map_err(|_| anyhow::anyhow!("reader panicked"))??;
    let status = curl.wait()?;
    ensure!(status.success(), "curl: {status}");
    ensure!(
        sha256_digest(&got) == digest,
        "the pull got {} bytes that do not hash to {digest}",
        got.len()
    );
    Ok(())
}

#[test]
fn an_unusable_config_is_refused_with_its_reason_and_the_old_one_stays() -> Result<()> {
    let (nodes, builder, mut gateway) = one_of_two()?;
    push_small_image(&gateway.http(), "reload/stays", "v1")?;
    let before = json!({"repositories": ["reload/stays"]});
    let mut missing_ca = builder
        .clone()
        .members(&[nodes[0].host_port(), nodes[1].host_port()])
        .config();
    missing_ca["cluster"]["tls"] = json!({ "cacert": gateway.dir().join("no-such-ca.pem") });
    let mut short_key = builder.clone().config();
    short_key["cluster"]["hashKey"] = json!("short");
    let broken = [
        ("{ \"http\": ".to_owned(), "config reload refused"),
        (text(&short_key), "cluster.hashKey"),
        (text(&missing_ca), "no-such-ca.pem"),
    ];
    for (config, reason) in broken {
        let refusals = gateway.log().matches("config reload refused").count();
        gateway.reload(&config)?;
        eventually("the refusal", || {
            Ok(gateway.log().matches("config reload refused").count() > refusals)
        })?;
        let log = gateway.log();
        let line = log
            .lines()
            .filter(|l| l.contains("config reload refused"))
            .nth(refusals)
            .context("no refusal line")?;
        ensure!(
            line.contains(reason),
            "the refusal does not name {reason:?}: {line}"
        );
        ensure!(
            catalog_of(&gateway)? == before,
            "the old config is not in force"
        );
        let status = gateway
            .http()
            .get("/v2/reload/stays/tags/list")
            .send()?
            .status();
        ensure!(status == 200, "{status}");
    }
    ensure!(!gateway.log().contains("config reloaded"));
    Ok(())
}

#[test]
fn listener_keys_changed_by_a_reload_wait_for_a_restart_and_the_rest_applies() -> Result<()> {
    let (nodes, builder, mut gateway) = one_of_two()?;
    push_small_image(&nodes[1].http(), "reload/elsewhere", "v1")?;
    let mut moved = builder
        .members(&[nodes[1].host_port()])
        .setting("timeouts.idle", json!("7s"))
        .config();
    moved["http"]["port"] = json!("1");
    gateway.reload(&text(&moved))?;
    eventually("the reload", || {
        Ok(gateway.log().contains("config reloaded"))
    })?;
    let log = gateway.log();
    let warning = log
        .lines()
        .find(|l| l.contains("keep their old values"))
        .with_context(|| format!("no warning:\n{log}"))?;
    ensure!(
        warning.contains("http.port") && warning.contains("timeouts.idle"),
        "{warning}"
    );
    // Still on its old port, now in front of the other member only.
    ensure!(catalog_of(&gateway)? == json!({"repositories": ["reload/elsewhere"]}));
    let metrics = gateway.http().get("/metrics").send()?.text()?;
    let series = |node: &Node| {
        format!(
            "flotilla_gateway_member_up{{member=\"{}\"}}",
            node.host_port()
        )
    };
    ensure!(
        !metrics.contains(&series(&nodes[0])) && metrics.contains(&series(&nodes[1])),
        "member_up should name only the member in force:\n{metrics}"
    );
    Ok(())
}
