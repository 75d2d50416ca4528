//! One `flotilla-node` process: its own zot-style config and data dir in a temp dir, on a loopback port.
//!
//! The node prints exactly one line on stdout once bound,
//! `listening on http://127.0.0.1:<port>`; that line is how the harness
//! learns the port. Its logs (stderr) go to `node.log` in the temp dir and the
//! tail is printed when the node is dropped, which the test runner shows only
//! for a failing test.

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command};

use anyhow::{Context, Result};
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::{daemon, env, Registry, Users};

/// Options for a node that is not started yet; see [`Node::builder`].
#[derive(Debug, Default)]
pub struct NodeBuilder {
    users: Option<Users>,
    access_control: Option<Value>,
    search: bool,
    settings: Vec<(&'static str, Value)>,
    descriptors: Option<u64>,
}

impl NodeBuilder {
    /// Basic authentication against an htpasswd file holding `users`.
    pub fn htpasswd(mut self, users: &Users) -> Self {
        self.users = Some(users.clone());
        self
    }

    /// zot's `http.accessControl` block, as JSON.
    pub fn access_control(mut self, access_control: Value) -> Self {
        self.access_control = Some(access_control);
        self
    }

    /// zot's search extension (`/v2/_zot/ext/search`) with user preferences
    /// (`/v2/_zot/ext/userprefs`), switched on by zot's own keys:
    /// `extensions.search.enable` and `extensions.ui.enable`.
    pub fn search(mut self) -> Self {
        self.search = true;
        self
    }

    /// Any config key, dotted (`"timeouts.idle"`), set last.
    pub fn setting(mut self, key: &'static str, value: Value) -> Self {
        self.settings.push((key, value));
        self
    }

    /// Run under this descriptor limit, soft and hard (`prlimit --nofile`).
    pub fn descriptor_limit(mut self, limit: u64) -> Self {
        self.descriptors = Some(limit);
        self
    }

    pub fn start(self) -> Result<Node> {
        let dir = tempfile::Builder::new()
            .prefix("flotilla-node-")
            .tempdir()?;
        let mut http = json!({ "address": "127.0.0.1", "port": "0" });
        if let Some(users) = &self.users {
            let path = dir.path().join("htpasswd");
            fs::write(&path, users.htpasswd()?)?;
            http["auth"] = json!({ "htpasswd": { "path": path } });
        }
        if let Some(access_control) = self.access_control {
            http["accessControl"] = access_control;
        }
        let mut config = json!({
            "distSpecVersion": "1.1.1",
            "storage": { "rootDirectory": dir.path().join("data") },
            "http": http,
            "log": { "level": "info" },
        });
        if self.search {
            config["extensions"] =
                json!({ "search": { "enable": true }, "ui": { "enable": true } });
        }
        for (key, value) in self.settings {
            crate::settings::set(&mut config, key, value);
        }
        let mut node = Node {
            dir,
            config,
            port: 0,
            child: None,
            descriptors: self.descriptors,
        };
        daemon::start_on_a_free_port("flotilla-node", |port| node.spawn(port))?;
        Ok(node)
    }
}

/// A running (or killed) `flotilla-node`; dropping it kills the process.
#[derive(Debug)]
pub struct Node {
    dir: TempDir,
    config: Value,
    port: u16,
    child: Option<Child>,
    descriptors: Option<u64>,
}

impl Node {
    /// A node with no authentication, on a fresh data dir.
    pub fn start() -> Result<Self> {
        Self::builder().start()
    }

    pub fn builder() -> NodeBuilder {
        NodeBuilder::default()
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.host_port())
    }

    /// `127.0.0.1:<port>`, as image references spell the registry.
    pub fn host_port(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `docker://127.0.0.1:<port>/<repo_ref>`, as skopeo names an image on this node.
    pub fn image(&self, repo_ref: &str) -> String {
        format!("docker://{}/{repo_ref}", self.host_port())
    }

    /// `storage.rootDirectory`: one OCI layout per repository.
    pub fn root_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The process id, while the node runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Raw HTTP to this node, anonymous.
    pub fn http(&self) -> Registry {
        Registry::new(&self.url())
    }

    /// Kills the process with SIGKILL, as a crash would, and reaps it.
    pub fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().context("killing flotilla-node")?;
            child.wait().context("reaping flotilla-node")?;
        }
        Ok(())
    }

    /// Freezes the process with SIGSTOP, as a hung VM would: its port still
    /// accepts connections (the kernel does), but nothing answers.
    pub fn pause(&self) -> Result<()> {
        self.signal("STOP")
    }

    /// Thaws a [`Node::pause`]d process with SIGCONT.
    pub fn resume(&self) -> Result<()> {
        self.signal("CONT")
    }

    fn signal(&self, name: &str) -> Result<()> {
        match &self.child {
            Some(child) => daemon::signal(child, name),
            None => anyhow::bail!("flotilla-node is not running"),
        }
    }

    /// Starts the node again on the same data dir and the same port, which
    /// stays free meanwhile: it is below the ephemeral range ([`daemon::free_port`]).
    pub fn restart(&mut self) -> Result<()> {
        self.kill()?;
        self.spawn(self.port)
    }

    /// The node's log so far (stderr, plus any stdout after the first line).
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("node.log")
    }

    fn spawn(&mut self, port: u16) -> Result<()> {
        let binary = env::binary("flotilla-node")?;
        let mut config = self.config.clone();
        config["http"]["port"] = json!(port.to_string());
        let config_path = self.dir.path().join("config.json");
        fs::write(&config_path, serde_json::to_vec_pretty(&config)?)?;
        let mut cmd = match self.descriptors {
            // prlimit execs the node, so the child is the node itself.
            Some(limit) => {
                let mut cmd = Command::new("prlimit");
                cmd.arg(format!("--nofile={limit}:{limit}"))
                    .arg("--")
                    .arg(&binary);
                cmd
            }
            None => Command::new(&binary),
        };
        cmd.arg("serve").arg(&config_path);
        let announced = daemon::spawn_announced("flotilla-node", cmd, &self.log_path())?;
        self.port = announced.port;
        self.child = Some(announced.child);
        Ok(())
    }

    fn log_tail(&self) -> String {
        daemon::log_tail("flotilla-node", &self.log_path())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.kill();
        // Captured by the test runner: shown only when the test fails.
        eprintln!("{}", self.log_tail());
    }
}
