//! What an operator sees when a config or a member is wrong: `verify` reads the files a config names, `serve` announces itself only once it can serve, zot keys without effect are refused or named once, errors are one line, and a member without search is called that.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{ensure, Result};
use flotilla_e2e::{env, process, Cluster, Node};
use serde_json::{json, Value};
use tempfile::TempDir;

/// Long enough for a binary to read a config and fail; a hang is a failure.
const EXIT: Duration = Duration::from_secs(10);

/// Writes `config` to `<dir>/config.json` and returns its path.
fn write_config(dir: &TempDir, config: &Value) -> Result<std::path::PathBuf> {
    let path = dir.path().join("config.json");
    fs::write(&path, serde_json::to_vec_pretty(config)?)?;
    Ok(path)
}

fn node(args: &[&str], config: &Path) -> Result<process::Output> {
    let mut cmd = Command::new(env::binary("flotilla-node")?);
    cmd.args(args).arg(config);
    process::run(&mut cmd, EXIT)
}

/// The hole: `verify` passed a config whose htpasswd file did not exist, and
/// the node then started and refused every login.
#[test]
fn verify_fails_on_a_missing_htpasswd_file_naming_key_and_path() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let htpasswd = dir.path().join("no-such-htpasswd");
    let config = write_config(
        &dir,
        &json!({
            "storage": { "rootDirectory": dir.path().join("data") },
            "http": { "auth": { "htpasswd": { "path": htpasswd } } },
        }),
    )?;
    let out = node(&["verify"], &config)?;
    let stderr = out.stderr_text();
    ensure!(!out.success(), "{out}");
    ensure!(
        stderr.contains("http.auth.htpasswd.path")
            && stderr.contains(&htpasswd.display().to_string()),
        "{out}"
    );
    ensure!(!out.stdout_text().contains("ok"), "{out}");

    fs::write(&htpasswd, "")?;
    let out = node(&["verify"], &config)?.check()?;
    ensure!(out.stdout_text().contains(": ok"), "{out}");
    Ok(())
}

/// The hole: the node printed `listening on …` before opening its storage,
/// so a script took a node that was about to exit for a ready one.
#[test]
fn serve_announces_nothing_when_storage_cannot_be_opened() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("a-file");
    fs::write(&root, "not a directory")?;
    let config = write_config(
        &dir,
        &json!({
            "storage": { "rootDirectory": root },
            "http": { "address": "127.0.0.1", "port": "0" },
        }),
    )?;
    let out = node(&["serve"], &config)?;
    ensure!(!out.success(), "{out}");
    ensure!(!out.stdout_text().contains("listening on"), "{out}");
    ensure!(out.stderr_text().contains("storage.rootDirectory"), "{out}");
    Ok(())
}

/// The hole: `storageDriver: s3` was accepted and every push went to local disk.
#[test]
fn a_zot_key_that_would_move_data_is_refused_by_name() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let config = write_config(
        &dir,
        &json!({
            "storage": {
                "rootDirectory": dir.path().join("data"),
                "storageDriver": { "name": "s3", "bucket": "registry" },
            },
        }),
    )?;
    let out = node(&["verify"], &config)?;
    ensure!(!out.success(), "{out}");
    ensure!(
        out.stderr_text().contains("`storage.storageDriver`"),
        "{out}"
    );
    Ok(())
}

#[test]
fn zot_keys_without_effect_are_named_in_one_warning_at_start() -> Result<()> {
    let node = Node::builder()
        .setting("storage.gc", json!(true))
        .setting("storage.dedupe", json!(true))
        .setting("extensions.scrub", json!({ "interval": "24h" }))
        .start()?;
    let log = node.log();
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("no effect on this node"))
        .collect();
    ensure!(warnings.len() == 1, "{log}");
    for key in ["storage.gc", "storage.dedupe", "extensions.scrub"] {
        ensure!(warnings[0].contains(key), "{key} not named: {log}");
    }
    ensure!(warnings[0].contains("WARN"), "{log}");
    Ok(())
}

/// The hole: with `RUST_BACKTRACE` set, a config error came with a
/// backtrace of the binary's own frames.
#[test]
fn errors_are_one_line_even_with_rust_backtrace_set() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let missing = dir.path().join("missing.json");
    for (binary, command) in [
        ("flotilla-node", "verify"),
        ("flotilla-gateway", "verify-config"),
    ] {
        let mut cmd = Command::new(env::binary(binary)?);
        cmd.arg(command)
            .arg(&missing)
            .env("RUST_BACKTRACE", "1")
            .env("RUST_LIB_BACKTRACE", "1");
        let out = process::run(&mut cmd, EXIT)?;
        let stderr = out.stderr_text();
        ensure!(!out.success(), "{out}");
        ensure!(stderr.lines().count() == 1, "{binary}: {out}");
        ensure!(
            stderr.starts_with("Error: ") && stderr.contains(&missing.display().to_string()),
            "{binary}: {out}"
        );
    }
    Ok(())
}

/// The hole: a member running without zot's search extension answered 404,
/// and the gateway reported it "unavailable" as if it were down.
#[test]
fn a_member_without_search_is_said_to_have_no_search_extension() -> Result<()> {
    let cluster = Cluster::builder().nodes(2).start()?;
    let resp = cluster
        .gateway()
        .http()
        .get("/v2/_zot/ext/search")
        .query(&[("query", "{ RepoListWithNewestImage { Results { Name } } }")])
        .send()?;
    let body: Value = resp.json()?;
    let errors = body["errors"].as_array().cloned().unwrap_or_default();
    ensure!(errors.len() == 2, "{body}");
    for (i, error) in errors.iter().enumerate() {
        let message = error["message"].as_str().unwrap_or_default();
        ensure!(
            message.contains("has no search extension") && !message.contains("unavailable"),
            "{body}"
        );
        let member = error["extensions"]["member"].as_str().unwrap_or_default();
        ensure!(
            (0..2).any(|m| cluster.member(m).host_port() == member),
            "error {i} names no member: {body}"
        );
    }
    Ok(())
}
