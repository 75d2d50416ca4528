//! oras, the Python client: push and pull artifacts, list tags, attach referrers.
//!
//! Each call runs one small Python program in the venv's python; the program
//! takes a JSON request as its argument and prints its result as one JSON line
//! after `ORAS-RESULT `, so whatever oras itself logs does not get in the way.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::process::{self, Output, CLIENT_TIMEOUT};
use crate::{env, Descriptor};

const PROGRAM: &str = r#"
import json, os, sys
import oras.client, oras.oci

req = json.loads(sys.argv[1])
client = oras.client.OrasClient(hostname=req["registry"], insecure=True)
op = req["op"]
if op == "push":
    os.chdir(req["workdir"])
    kwargs = {"target": req["target"], "files": req["files"]}
    if req.get("chunk_size"):
        kwargs.update(do_chunked=True, chunk_size=req["chunk_size"])
    if req.get("config"):
        kwargs["manifest_config"] = req["config"]
    if req.get("subject"):
        kwargs["subject"] = oras.oci.Subject(**req["subject"])
    response = client.push(**kwargs)
    result = {"status": response.status_code,
              "digest": response.headers.get("Docker-Content-Digest"),
              "subject": response.headers.get("OCI-Subject")}
elif op == "tags":
    result = client.get_tags(req["target"])
elif op == "pull":
    result = client.pull(target=req["target"], outdir=req["outdir"])
elif op == "manifest":
    result = client.get_manifest(req["target"])
else:
    raise SystemExit("unknown op " + op)
print("ORAS-RESULT " + json.dumps(result))
"#;

/// oras pointed at one registry (`host:port`, plain HTTP).
#[derive(Debug)]
pub struct Oras {
    python: PathBuf,
    registry: String,
}

/// One artifact to push: files from a directory, and optionally a config media type and a subject.
#[derive(Debug, Clone)]
pub struct Push<'a> {
    workdir: &'a Path,
    files: Vec<String>,
    config: Option<String>,
    subject: Option<Descriptor>,
    chunk_size: Option<usize>,
}

impl<'a> Push<'a> {
    /// `files`, relative to `workdir`; each becomes a layer titled with its name.
    pub fn files(workdir: &'a Path, files: &[&str]) -> Self {
        Self {
            workdir,
            files: files.iter().map(|f| f.to_string()).collect(),
            config: None,
            subject: None,
            chunk_size: None,
        }
    }

    /// The config blob is `path` (relative to `workdir`) with `media_type`,
    /// which is then the artifact's type.
    pub fn config(mut self, path: &str, media_type: &str) -> Self {
        self.config = Some(format!("{path}:{media_type}"));
        self
    }

    /// The manifest this artifact refers to; the referrers API lists it there.
    pub fn subject(mut self, subject: &Descriptor) -> Self {
        self.subject = Some(subject.clone());
        self
    }

    /// Uploads each blob in PATCH chunks of `chunk_size` bytes instead of one PUT.
    pub fn chunked(mut self, chunk_size: usize) -> Self {
        self.chunk_size = Some(chunk_size);
        self
    }
}

/// What oras answered to a push.
#[derive(Debug)]
pub struct Pushed {
    pub status: u16,
    /// `Docker-Content-Digest` of the pushed manifest.
    pub digest: Option<String>,
    /// The `OCI-Subject` header, when the manifest had a subject.
    pub subject: Option<String>,
}

impl Oras {
    /// oras against `registry` (`127.0.0.1:<port>`); fails if the venv lacks oras.
    pub fn new(registry: &str) -> Result<Self> {
        let python = env::python()?;
        let probe = process::run(
            Command::new(&python).args(["-c", "import oras.client"]),
            CLIENT_TIMEOUT,
        )?;
        if !probe.success() {
            bail!(
                "{} cannot import oras: run scripts/install-deps\n{probe}",
                python.display()
            );
        }
        Ok(Self {
            python,
            registry: registry.to_owned(),
        })
    }

    /// Pushes `files` as an artifact to `repo:tag`.
    pub fn push(&self, repo_tag: &str, push: &Push<'_>) -> Result<Pushed> {
        let subject = push
            .subject
            .as_ref()
            .map(|s| json!({ "mediaType": s.media_type, "digest": s.digest, "size": s.size }));
        let result = self.call(json!({
            "op": "push",
            "target": self.target(repo_tag),
            "workdir": push.workdir,
            "files": push.files,
            "config": push.config,
            "subject": subject,
            "chunk_size": push.chunk_size,
        }))?;
        Ok(Pushed {
            status: result["status"].as_u64().unwrap_or_default() as u16,
            digest: result["digest"].as_str().map(str::to_owned),
            subject: result["subject"].as_str().map(str::to_owned),
        })
    }

    /// `get_tags(repo)`: every tag, following `Link` pages.
    pub fn tags(&self, repo: &str) -> Result<Vec<String>> {
        let result = self.call(json!({ "op": "tags", "target": self.target(repo) }))?;
        serde_json::from_value(result).context("oras get_tags did not return a list of strings")
    }

    /// Pulls `repo:tag` into `outdir`; returns the files written.
    pub fn pull(&self, repo_tag: &str, outdir: &Path) -> Result<Vec<PathBuf>> {
        let result =
            self.call(json!({ "op": "pull", "target": self.target(repo_tag), "outdir": outdir }))?;
        serde_json::from_value(result).context("oras pull did not return a list of paths")
    }

    /// The manifest of `repo:reference`, as oras parses it.
    pub fn manifest(&self, repo_ref: &str) -> Result<Value> {
        self.call(json!({ "op": "manifest", "target": self.target(repo_ref) }))
    }

    fn target(&self, repo_ref: &str) -> String {
        format!("{}/{repo_ref}", self.registry)
    }

    fn call(&self, request: Value) -> Result<Value> {
        let mut request = request;
        request["registry"] = json!(self.registry);
        let mut cmd = Command::new(&self.python);
        cmd.args(["-c", PROGRAM, &request.to_string()]);
        let out = process::run(&mut cmd, CLIENT_TIMEOUT)?.check()?;
        parse_result(&out)
    }
}

fn parse_result(out: &Output) -> Result<Value> {
    let stdout = out.stdout_text();
    let line = stdout
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix("ORAS-RESULT "))
        .with_context(|| format!("oras printed no result line\n{out}"))?;
    serde_json::from_str(line).with_context(|| format!("oras printed a bad result line\n{out}"))
}
