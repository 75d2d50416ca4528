//! skopeo, always with its plain-HTTP flags and an isolated home (no stray credentials or policy).

use std::fs;
use std::process::Command;

use anyhow::{Context, Result};
use serde_json::Value;
use tempfile::TempDir;

use crate::process::{self, Output, CLIENT_TIMEOUT};

/// A skopeo user: anonymous, or logged in as one htpasswd user.
#[derive(Debug)]
pub struct Skopeo {
    home: TempDir,
    creds: Option<String>,
}

impl Skopeo {
    /// Anonymous skopeo; fails if skopeo is not installed.
    pub fn new() -> Result<Self> {
        process::require_tool("skopeo")?;
        let home = tempfile::Builder::new().prefix("skopeo-home-").tempdir()?;
        // Accept any image: the tests check digests themselves.
        fs::write(
            home.path().join("policy.json"),
            br#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
        )?;
        Ok(Self { home, creds: None })
    }

    /// skopeo sending `user:password` to every `docker://` reference.
    pub fn as_user(user: &str, password: &str) -> Result<Self> {
        let mut skopeo = Self::new()?;
        skopeo.creds = Some(format!("{user}:{password}"));
        Ok(skopeo)
    }

    /// `skopeo copy SRC DST`; fails with skopeo's output if it fails.
    pub fn copy(&self, src: &str, dst: &str) -> Result<()> {
        self.try_copy(&[], src, dst)?.check().map(drop)
    }

    /// Pulls `image` (a `docker://` reference) into the OCI layout `dir` as
    /// `tag` and fails unless it is `pushed`'s `tag`, byte for byte.
    pub fn pull_same_image(
        &self,
        image: &str,
        dir: &std::path::Path,
        tag: &str,
        pushed: &crate::Layout,
    ) -> Result<()> {
        self.copy(image, &crate::oci_ref(dir, tag))?;
        crate::Layout::open(dir)?.ensure_same_image(tag, pushed, tag)
    }

    /// `skopeo copy --all SRC DST`: an index and every image in it.
    pub fn copy_all(&self, src: &str, dst: &str) -> Result<()> {
        self.try_copy(&["--all"], src, dst)?.check().map(drop)
    }

    /// `skopeo copy --format v2s2 SRC DST`: the manifest converted to Docker
    /// schema 2 (layers and config keep their bytes).
    pub fn copy_as_docker_v2s2(&self, src: &str, dst: &str) -> Result<()> {
        self.try_copy(&["--format", "v2s2"], src, dst)?
            .check()
            .map(drop)
    }

    /// `skopeo copy FLAGS SRC DST`, returning the output whether or not it succeeded.
    pub fn try_copy(&self, flags: &[&str], src: &str, dst: &str) -> Result<Output> {
        let mut cmd = self.command("copy");
        cmd.args(["--src-tls-verify=false", "--dest-tls-verify=false"]);
        cmd.args(flags);
        if let Some(creds) = &self.creds {
            if src.starts_with("docker://") {
                cmd.args(["--src-creds", creds]);
            }
            if dst.starts_with("docker://") {
                cmd.args(["--dest-creds", creds]);
            }
        }
        process::run(cmd.args([src, dst]), CLIENT_TIMEOUT)
    }

    /// `skopeo list-tags docker://HOST/REPO`: the tags, in the order skopeo prints them.
    pub fn list_tags(&self, repo_ref: &str) -> Result<Vec<String>> {
        let out = self.registry_command("list-tags", repo_ref)?.check()?;
        let listing: Value =
            serde_json::from_slice(&out.stdout).context("parsing list-tags output")?;
        Ok(listing["Tags"]
            .as_array()
            .map(|tags| {
                tags.iter()
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// `skopeo inspect docker://…`: skopeo's summary (`Digest`, `Layers`, …).
    pub fn inspect(&self, image_ref: &str) -> Result<Value> {
        let out = self.registry_command("inspect", image_ref)?.check()?;
        serde_json::from_slice(&out.stdout).context("parsing inspect output")
    }

    /// `skopeo inspect --raw docker://…`: the manifest bytes as served.
    pub fn inspect_raw(&self, image_ref: &str) -> Result<Vec<u8>> {
        let mut cmd = self.command("inspect");
        cmd.args(["--tls-verify=false", "--raw"]);
        self.add_creds(&mut cmd);
        Ok(process::run(cmd.arg(image_ref), CLIENT_TIMEOUT)?
            .check()?
            .stdout)
    }

    /// `skopeo delete docker://…`.
    pub fn delete(&self, image_ref: &str) -> Result<()> {
        self.registry_command("delete", image_ref)?
            .check()
            .map(drop)
    }

    fn registry_command(&self, verb: &str, reference: &str) -> Result<Output> {
        let mut cmd = self.command(verb);
        cmd.arg("--tls-verify=false");
        self.add_creds(&mut cmd);
        process::run(cmd.arg(reference), CLIENT_TIMEOUT)
    }

    fn add_creds(&self, cmd: &mut Command) {
        if let Some(creds) = &self.creds {
            cmd.args(["--creds", creds]);
        }
    }

    /// `skopeo --policy … VERB`, with HOME and the auth file inside this
    /// skopeo's own temp dir so no credentials of the machine leak in.
    fn command(&self, verb: &str) -> Command {
        let home = self.home.path();
        let mut cmd = Command::new("skopeo");
        cmd.env("HOME", home)
            .env("REGISTRY_AUTH_FILE", home.join("auth.json"))
            .env_remove("XDG_RUNTIME_DIR")
            .arg("--policy")
            .arg(home.join("policy.json"))
            .arg(verb);
        cmd
    }
}
