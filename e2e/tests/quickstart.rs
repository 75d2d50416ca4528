//! A newcomer runs `scripts/quickstart`: the banner comes once every server answers and tells the truth, the data goes where it says, and a server that fails is named.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use flotilla_e2e::daemon::free_ports;
use flotilla_e2e::quickstart::{Ended, Quickstart};
use flotilla_e2e::{process, Layout, Registry, Skopeo};

#[test]
fn a_fresh_run_serves_one_registry_and_removes_its_temporary_data() -> Result<()> {
    let port = free_ports(4)?;
    let mut quickstart = Quickstart::spawn(port, None)?;
    let banner = quickstart.banner()?;
    for member in 0..4 {
        let status = Registry::new(&format!("http://127.0.0.1:{}", port + member))
            .get("/v2/")
            .send()?
            .status();
        ensure!(
            status == 200,
            "port {} answered {status} after the banner",
            port + member
        );
    }
    let data = data_dir(&banner)?;
    ensure!(
        banner.contains("removed when\nthe cluster stops"),
        "the banner does not say the temporary data is removed:\n{banner}"
    );

    // Follow the banner: push with skopeo through the gateway, then ask
    // verify-config which node holds the repository; its data is there.
    let scratch = tempfile::tempdir()?;
    let (layout, _) = Layout::with_image(&scratch.path().join("src"), "v1", "quickstart")?;
    let image = format!("docker://127.0.0.1:{port}/quick/start:v1");
    let skopeo = Skopeo::new()?;
    skopeo.copy(&layout.reference("v1"), &image)?;
    skopeo.pull_same_image(&image, &scratch.path().join("pulled"), "v1", &layout)?;
    let catalog: serde_json::Value = Registry::new(&format!("http://127.0.0.1:{port}"))
        .get("/v2/_catalog")
        .send()?
        .json()?;
    ensure!(
        catalog == serde_json::json!({ "repositories": ["quick/start"] }),
        "catalog: {catalog}"
    );
    let owner = owner_node(&banner, "quick/start", port)?;
    let repo_dir = data.join(format!("node{owner}/repos/quick/start"));
    ensure!(
        repo_dir.join("index.json").is_file(),
        "{} holds no repository",
        repo_dir.display()
    );

    let ended = quickstart.stop()?;
    ensure!(ended.status.success(), "stopping exited {:?}", ended);
    ensure!(
        ended.stderr.contains("removed the temporary data") && !data.exists(),
        "{} still exists after the stop: {ended:?}",
        data.display()
    );
    ports_free(port)
}

#[test]
fn flotilla_data_keeps_the_images_across_runs() -> Result<()> {
    let port = free_ports(4)?;
    let kept = tempfile::tempdir()?;
    let data = kept.path().join("fleet");
    let mut first = Quickstart::spawn(port, Some(&data))?;
    let banner = first.banner()?;
    ensure!(
        data_dir(&banner)? == data,
        "the banner names another directory:\n{banner}"
    );
    ensure!(banner.contains("kept when the cluster stops"), "{banner}");
    let gateway = Registry::new(&format!("http://127.0.0.1:{port}"));
    flotilla_e2e::push_small_image(&gateway, "kept/one", "v1")?;
    let ended = first.stop()?;
    ensure!(
        ended.status.success() && ended.stderr.contains("kept in"),
        "{ended:?}"
    );

    let mut second = Quickstart::spawn(port, Some(&data))?;
    second.banner()?;
    let tags: serde_json::Value = gateway.get("/v2/kept/one/tags/list").send()?.json()?;
    ensure!(
        tags["tags"] == serde_json::json!(["v1"]),
        "after a restart: {tags}"
    );
    second.stop()?;
    ensure!(data.join("gateway.log").is_file(), "the logs were not kept");
    Ok(())
}

#[test]
fn a_taken_member_port_names_the_node_and_stops_the_rest() -> Result<()> {
    let port = free_ports(4)?;
    let _squatter = TcpListener::bind(("127.0.0.1", port + 2))?;
    let ended = Quickstart::spawn(port, None)?.wait()?;
    expect_failure(
        &ended,
        &format!(
            "node2 (127.0.0.1:{}) exited with status 1 before answering",
            port + 2
        ),
        "Address already in use",
    )?;
    ensure!(
        !ended.stdout.contains("Ctrl-C"),
        "a banner was printed: {ended:?}"
    );
    for free in [port, port + 1, port + 3] {
        TcpListener::bind(("127.0.0.1", free))
            .with_context(|| format!("port {free} still taken"))?;
    }
    Ok(())
}

#[test]
fn a_taken_gateway_port_names_the_gateway() -> Result<()> {
    let port = free_ports(4)?;
    let _squatter = TcpListener::bind(("127.0.0.1", port))?;
    let ended = Quickstart::spawn(port, None)?.wait()?;
    expect_failure(
        &ended,
        &format!("gateway (127.0.0.1:{port}) exited with status 1 before answering"),
        "Address already in use",
    )?;
    for free in port + 1..port + 4 {
        TcpListener::bind(("127.0.0.1", free))
            .with_context(|| format!("port {free} still taken"))?;
    }
    Ok(())
}

#[test]
fn a_node_that_dies_is_named_and_the_cluster_stops() -> Result<()> {
    let port = free_ports(4)?;
    let kept = tempfile::tempdir()?;
    let data = kept.path().join("fleet");
    let mut quickstart = Quickstart::spawn(port, Some(&data))?;
    quickstart.banner()?;
    let config = data.join("node3.json");
    process::run(
        Command::new("pkill").args(["-KILL", "-f"]).arg(&config),
        Duration::from_secs(10),
    )?
    .check()?;
    let ended = quickstart.wait()?;
    expect_failure(
        &ended,
        &format!("node3 (127.0.0.1:{}) stopped", port + 3),
        &format!("{}", data.join("node3.log").display()),
    )?;
    ports_free(port)
}

#[test]
fn a_bad_port_is_refused_before_anything_starts() -> Result<()> {
    let mut cmd = Command::new(flotilla_e2e::env::repo_root().join("scripts/quickstart"));
    cmd.env("FLOTILLA_PORT", "65534")
        .env("FLOTILLA_BIN_DIR", "/nonexistent");
    let out = process::run(&mut cmd, Duration::from_secs(10))?;
    ensure!(
        out.status.code() == Some(2)
            && out
                .stderr_text()
                .contains("FLOTILLA_PORT must be a port from 1 to 65532"),
        "{out}"
    );
    Ok(())
}

/// The data directory the banner names.
fn data_dir(banner: &str) -> Result<PathBuf> {
    let line = banner
        .lines()
        .find_map(|line| line.strip_prefix("Data, configs and logs: "))
        .with_context(|| format!("the banner names no data directory:\n{banner}"))?;
    let path = line.split(" (").next().unwrap_or(line);
    Ok(PathBuf::from(path))
}

/// Runs the banner's `verify-config` line for `repo` and returns which node
/// (1–3) it names.
fn owner_node(banner: &str, repo: &str, port: u16) -> Result<u16> {
    let line = banner
        .lines()
        .find(|line| line.contains("verify-config"))
        .with_context(|| format!("no verify-config line in the banner:\n{banner}"))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let (program, args) = words.split_first().context("an empty line")?;
    let args: Vec<&str> = args
        .iter()
        .map(|&a| if a == "REPO" { repo } else { a })
        .collect();
    let out = process::run(Command::new(program).args(args), Duration::from_secs(10))?.check()?;
    let stdout = out.stdout_text();
    let member = stdout
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{repo} -> 127.0.0.1:")))
        .with_context(|| format!("verify-config named no member:\n{stdout}"))?;
    Ok(member.trim().parse::<u16>()? - port)
}

/// The script exited 1 with `named` on stderr and `detail` after it.
fn expect_failure(ended: &Ended, named: &str, detail: &str) -> Result<()> {
    ensure!(
        ended.status.code() == Some(1),
        "exit status {:?}: {ended:?}",
        ended.status
    );
    let at = ended
        .stderr
        .find(named)
        .with_context(|| format!("stderr does not say {named:?}:\n{}", ended.stderr))?;
    ensure!(
        ended.stderr[at..].contains(detail),
        "stderr does not go on to say {detail:?}:\n{}",
        ended.stderr
    );
    Ok(())
}

/// Every port of the cluster is free again: no server outlived the script.
fn ports_free(port: u16) -> Result<()> {
    for free in port..port + 4 {
        TcpListener::bind(("127.0.0.1", free))
            .with_context(|| format!("port {free} still taken"))?;
    }
    Ok(())
}
