//! An operator installs `deploy/systemd/`'s units and example configs: systemd accepts the units, they are hardened, and they give each process longer to drain than it takes.
//!
//! systemd is not PID 1 here, so the units are checked offline
//! (`systemd-analyze verify` and `security --offline`) on copies whose paths
//! point at the built binaries and the example configs; their
//! `ExecStartPre` (each binary's own config check) runs for real.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{anyhow, bail, ensure, Context, Result};
use flotilla_e2e::{env, process};
use flotilla_gateway::config::Config;
use tempfile::TempDir;

/// How long `flotilla-node` drains after SIGTERM (`DRAIN_DEADLINE` in registry-node/src/server.rs).
const NODE_DRAIN: Duration = Duration::from_secs(30);

#[test]
fn systemd_accepts_both_units_with_no_warning() -> Result<()> {
    let installed = Installed::new()?;
    let mut cmd = Command::new(systemd_analyze()?);
    cmd.args(["verify", "--man=no"]).args(&installed.units);
    let out = process::run(&mut cmd, Duration::from_secs(60))?.check()?;
    // verify exits 0 on unknown keys and bad values: it only warns.
    ensure!(
        out.stderr_text().trim().is_empty(),
        "systemd-analyze warned:\n{out}"
    );
    Ok(())
}

#[test]
fn both_units_are_hardened() -> Result<()> {
    let installed = Installed::new()?;
    for unit in &installed.units {
        // Exposure 0.0 (locked down) to 10.0 (none); 2.0 is systemd's "OK".
        let mut cmd = Command::new(systemd_analyze()?);
        cmd.args(["security", "--offline=true", "--threshold=20", "--no-pager"])
            .arg(unit);
        process::run(&mut cmd, Duration::from_secs(60))?.check()?;
        let keys = unit_keys(unit)?;
        for (key, want) in [
            ("DynamicUser", "yes"),
            ("ProtectSystem", "strict"),
            ("NoNewPrivileges", "yes"),
            ("KillSignal", "SIGTERM"),
            ("Restart", "on-failure"),
        ] {
            ensure!(
                keys.get(key).map(String::as_str) == Some(want),
                "{}: {key}={:?}, expected {want}",
                unit.display(),
                keys.get(key)
            );
        }
    }
    Ok(())
}

#[test]
fn each_unit_waits_longer_than_its_process_drains() -> Result<()> {
    let dir = deploy_dir();
    let gateway = Config::parse(&fs::read_to_string(dir.join("gateway.json"))?)?.validate()?;
    for (unit, drain) in [
        ("flotilla-gateway.service", gateway.timeouts.drain),
        ("flotilla-node.service", NODE_DRAIN),
    ] {
        let stop = seconds(&unit_keys(&dir.join(unit))?["TimeoutStopSec"])?;
        ensure!(
            stop > drain,
            "{unit}: TimeoutStopSec {stop:?} is not above the drain time {drain:?}: SIGKILL would cut in-flight requests"
        );
    }
    Ok(())
}

#[test]
fn the_node_stores_its_data_in_its_state_directory() -> Result<()> {
    let dir = deploy_dir();
    let keys = unit_keys(&dir.join("flotilla-node.service"))?;
    let node: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join("node.json"))?)?;
    let state = format!("/var/lib/{}", keys["StateDirectory"]);
    assert_eq!(node["storage"]["rootDirectory"], state.as_str());
    Ok(())
}

#[test]
fn the_example_configs_pass_the_units_own_config_checks() -> Result<()> {
    let installed = Installed::new()?;
    for unit in &installed.units {
        let pre = &unit_keys(unit)?["ExecStartPre"];
        let argv: Vec<&str> = pre.split_whitespace().collect();
        let out = process::run(
            Command::new(argv[0]).args(&argv[1..]),
            Duration::from_secs(30),
        )?
        .check()?;
        ensure!(out.stdout_text().contains(": ok"), "{out}");
    }
    Ok(())
}

/// The units and their configs as installed, in a temp dir: `/usr/local/bin/`
/// is the built binaries' directory and `/etc/flotilla/` the temp dir.
struct Installed {
    _dir: TempDir,
    units: Vec<PathBuf>,
}

impl Installed {
    fn new() -> Result<Self> {
        let dir = TempDir::new()?;
        let bin = env::bin_dir()?;
        for binary in ["flotilla-node", "flotilla-gateway"] {
            env::binary(binary)?;
        }
        let source = deploy_dir();
        for config in ["node.json", "gateway.json"] {
            fs::copy(source.join(config), dir.path().join(config))?;
        }
        let mut units = Vec::new();
        for unit in ["flotilla-node.service", "flotilla-gateway.service"] {
            let text = fs::read_to_string(source.join(unit))?;
            for path in ["/usr/local/bin/", "/etc/flotilla/"] {
                ensure!(
                    text.contains(path),
                    "{unit} no longer names {path}: update the test"
                );
            }
            let text = text
                .replace("/usr/local/bin/", &format!("{}/", bin.display()))
                .replace("/etc/flotilla/", &format!("{}/", dir.path().display()));
            let path = dir.path().join(unit);
            fs::write(&path, text)?;
            units.push(path);
        }
        Ok(Self { _dir: dir, units })
    }
}

fn deploy_dir() -> PathBuf {
    env::repo_root().join("deploy/systemd")
}

/// `systemd-analyze`, or a failure naming the package that brings it.
fn systemd_analyze() -> Result<PathBuf> {
    process::require_tool("systemd-analyze").map_err(|_| {
        anyhow!(
            "`systemd-analyze` is not installed: it comes with Debian's `systemd` package, \
             which scripts/install-deps must install (apt-get install -y systemd)"
        )
    })
}

/// `Key=value` of a unit file, the last value winning, as systemd reads single-valued keys.
fn unit_keys(unit: &Path) -> Result<BTreeMap<String, String>> {
    let text = fs::read_to_string(unit).with_context(|| format!("reading {}", unit.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|line| !line.starts_with('#') && !line.starts_with('['))
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect())
}

/// A systemd time span in seconds or minutes: `45s`, `45`, `2min`.
fn seconds(span: &str) -> Result<Duration> {
    let (number, unit) = span.split_at(
        span.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(span.len()),
    );
    let n: u64 = number
        .parse()
        .with_context(|| format!("time span `{span}`"))?;
    match unit {
        "" | "s" => Ok(Duration::from_secs(n)),
        "min" => Ok(Duration::from_secs(n * 60)),
        other => bail!("time span `{span}`: unit `{other}` not understood by the test"),
    }
}

/// The gateway's search needs search on every member: the shipped node config switches it on, with user preferences.
#[test]
fn the_shipped_node_config_serves_search() -> Result<()> {
    let node_json = serde_json::from_str::<serde_json::Value>(&fs::read_to_string(
        deploy_dir().join("node.json"),
    )?)?;
    let extensions = &node_json["extensions"];
    assert_eq!(extensions["search"]["enable"], true, "{node_json}");
    assert_eq!(extensions["ui"]["enable"], true, "{node_json}");
    Ok(())
}
