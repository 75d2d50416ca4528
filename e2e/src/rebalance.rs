//! `flotilla-gateway rebalance` as an operator runs it: the plan, `--apply`, killed at any instant and run again; and the checks that nothing was lost.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use serde_json::Value;
use tempfile::TempDir;

use crate::layout::sha256_digest;
use crate::process::{self, Output};
use crate::{env, Registry};

/// How long one rebalance may take in a test.
const TIMEOUT: Duration = Duration::from_secs(300);

/// The command, its config file and the operator's credentials.
#[derive(Debug)]
pub struct Rebalance {
    _dir: TempDir,
    config: PathBuf,
    credentials: Option<(String, String)>,
}

impl Rebalance {
    /// A rebalance for the gateway config `config`.
    pub fn new(config: &Value) -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("rebalance-").tempdir()?;
        let path = dir.path().join("config.json");
        fs::write(&path, serde_json::to_vec_pretty(config)?)?;
        Ok(Self {
            _dir: dir,
            config: path,
            credentials: None,
        })
    }

    /// As `user`, the password given in the environment.
    pub fn as_user(mut self, user: &str, password: &str) -> Self {
        self.credentials = Some((user.to_owned(), password.to_owned()));
        self
    }

    fn command(&self, args: &[&str]) -> Result<Command> {
        let mut cmd = Command::new(env::binary("flotilla-gateway")?);
        cmd.arg("rebalance").arg(&self.config).args(args);
        if let Some((user, password)) = &self.credentials {
            cmd.env("FLOTILLA_REBALANCE_USER", user)
                .env("FLOTILLA_REBALANCE_PASSWORD", password);
        }
        Ok(cmd)
    }

    /// Runs it with `args`, to the end; the password must appear nowhere in what it printed.
    pub fn run(&self, args: &[&str]) -> Result<Output> {
        let output = process::run(&mut self.command(args)?, TIMEOUT)?;
        self.ensure_secret(&output)?;
        Ok(output)
    }

    /// The plan, as `--json` prints it.
    pub fn plan(&self) -> Result<Value> {
        let output = self.run(&["--json"])?.check()?;
        events(&output)?
            .into_iter()
            .find(|e| e["event"] == "plan")
            .with_context(|| format!("no plan in\n{output}"))
    }

    /// `--apply` with `args`, run to the end.
    pub fn apply(&self, args: &[&str]) -> Result<Output> {
        let mut all = vec!["--apply"];
        all.extend_from_slice(args);
        self.run(&all)
    }

    /// `--apply` with `args`, SIGKILLed `after` its start; `false` if it had
    /// already finished by then (and then it must have succeeded).
    pub fn apply_killed_after(&self, after: Duration, args: &[&str]) -> Result<bool> {
        let mut cmd = self.command(&[&["--apply"], args].concat())?;
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        thread::sleep(after);
        if let Some(status) = child.try_wait()? {
            ensure!(
                status.success(),
                "the rebalance failed before its kill: {status}"
            );
            return Ok(false);
        }
        child.kill()?;
        child.wait()?;
        Ok(true)
    }

    fn ensure_secret(&self, output: &Output) -> Result<()> {
        if let Some((_, password)) = &self.credentials {
            let printed = format!("{}{}", output.stdout_text(), output.stderr_text());
            ensure!(
                !printed.contains(password.as_str()),
                "the password was printed:\n{output}"
            );
        }
        Ok(())
    }
}

/// The JSON lines of a `--json` run.
pub fn events(output: &Output) -> Result<Vec<Value>> {
    output
        .stdout_text()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).with_context(|| format!("not JSON: {l}")))
        .collect()
}

/// Every repository of a registry's catalog, following `Link`.
pub fn catalog(registry: &Registry) -> Result<BTreeSet<String>> {
    let mut names = BTreeSet::new();
    let mut path = "/v2/_catalog?n=1000".to_owned();
    loop {
        let resp = registry.get(&path).send()?;
        ensure!(resp.status() == 200, "catalog: {}", resp.status());
        let next = resp
            .headers()
            .get("link")
            .and_then(|l| l.to_str().ok())
            .and_then(|l| l.split(['<', '>']).nth(1))
            .map(str::to_owned);
        let body: Value = resp.json()?;
        for name in body["repositories"].as_array().into_iter().flatten() {
            names.insert(name.as_str().unwrap_or_default().to_owned());
        }
        match next {
            Some(next) => path = next,
            None => return Ok(names),
        }
    }
}

/// The tags of `repo` on `registry`; empty when it has none or lacks the repository.
pub fn tags(registry: &Registry, repo: &str) -> Result<Vec<String>> {
    let resp = registry.get(&format!("/v2/{repo}/tags/list")).send()?;
    if resp.status() == 404 {
        return Ok(Vec::new());
    }
    let body: Value = resp.json()?;
    Ok(body["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t.as_str().map(str::to_owned))
        .collect())
}

/// `repo:tag` pulls from `registry` exactly as from `reference`: the
/// manifest's bytes, every child's, and every blob's (each also hashing to its name).
pub fn ensure_pulls_alike(
    reference: &Registry,
    registry: &Registry,
    repo: &str,
    tag: &str,
) -> Result<()> {
    let mut pending = vec![tag.to_owned()];
    let mut seen = BTreeSet::new();
    while let Some(reference_name) = pending.pop() {
        if !seen.insert(reference_name.clone()) {
            continue;
        }
        let want = reference.manifest(repo, &reference_name)?;
        let got = registry
            .manifest(repo, &reference_name)
            .with_context(|| format!("{repo}:{reference_name}"))?;
        ensure!(
            want == got,
            "{repo}:{reference_name}: the manifest's bytes differ"
        );
        let doc: Value = serde_json::from_slice(&got)?;
        for child in doc["manifests"].as_array().into_iter().flatten() {
            pending.push(child["digest"].as_str().unwrap_or_default().to_owned());
        }
        let blobs = doc["layers"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(doc.get("config"));
        for blob in blobs {
            let digest = blob["digest"].as_str().unwrap_or_default();
            let bytes = registry
                .blob(repo, digest)
                .with_context(|| format!("{repo}@{digest}"))?;
            ensure!(
                sha256_digest(&bytes) == digest,
                "{repo}@{digest}: the blob's bytes hash to another digest"
            );
        }
    }
    Ok(())
}

/// Every blob under a node's storage root hashes to its name.
pub fn ensure_blobs_hash_to_names(root: &Path) -> Result<usize> {
    let mut checked = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir)?.flatten() {
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                stack.push(path);
                continue;
            }
            let in_blobs = path
                .parent()
                .and_then(Path::file_name)
                .is_some_and(|p| p == "sha256")
                && path
                    .ancestors()
                    .any(|a| a.file_name().is_some_and(|n| n == "blobs"));
            if !in_blobs {
                continue;
            }
            let name = format!("sha256:{}", entry.file_name().to_string_lossy());
            let bytes = fs::read(&path)?;
            ensure!(
                sha256_digest(&bytes) == name,
                "{} does not hash to its name",
                path.display()
            );
            checked += 1;
        }
    }
    Ok(checked)
}
