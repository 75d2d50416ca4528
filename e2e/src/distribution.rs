//! One `docker-registry` (CNCF distribution 2.8, the Debian package) process: a real node that Flotilla did not write.
//!
//! distribution cannot bind port 0 and report it, so the harness picks a
//! port that was free a moment ago, writes it into `http.addr`, and polls
//! `/v2/` until the registry answers; a lost race for the port is retried.

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tempfile::TempDir;
use tokio::time::Instant;

use crate::daemon::{self, START_TIMEOUT};
use crate::{process, Registry};

/// A running (or killed) `docker-registry`; dropping it kills the process.
#[derive(Debug)]
pub struct Distribution {
    dir: TempDir,
    port: u16,
    child: Option<Child>,
}

impl Distribution {
    /// A registry on a fresh storage dir, with deletes enabled; fails if the package is missing.
    pub fn start() -> Result<Self> {
        process::require_tool("docker-registry")?;
        let dir = tempfile::Builder::new()
            .prefix("docker-registry-")
            .tempdir()?;
        let mut registry = Self {
            dir,
            port: 0,
            child: None,
        };
        daemon::start_on_a_free_port("docker-registry", |port| registry.spawn(port))?;
        Ok(registry)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.host_port())
    }

    /// `127.0.0.1:<port>`.
    pub fn host_port(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Raw HTTP to this registry, anonymous.
    pub fn http(&self) -> Registry {
        Registry::new(&self.url())
    }

    /// Kills the process with SIGKILL and reaps it.
    pub fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().context("killing docker-registry")?;
            child.wait().context("reaping docker-registry")?;
        }
        Ok(())
    }

    /// Starts the registry again on the same storage and port.
    pub fn restart(&mut self) -> Result<()> {
        self.kill()?;
        self.spawn(self.port)
    }

    /// The registry's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("registry.log")
    }

    fn spawn(&mut self, port: u16) -> Result<()> {
        let config_path = self.dir.path().join("config.yml");
        fs::write(&config_path, self.config(port))?;
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())?;
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting docker-registry")?;
        self.port = port;
        self.child = Some(child);
        self.wait_until_serving().inspect_err(|_| drop(self.kill()))
    }

    /// Polls `/v2/` until it answers 200; fails early if the process exits (its port was taken).
    fn wait_until_serving(&mut self) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        let http = self.http();
        loop {
            let answered = http
                .get("/v2/")
                .timeout(Duration::from_millis(500))
                .send()
                .is_ok_and(|r| r.status() == 200);
            if answered {
                return Ok(());
            }
            if let Some(status) = self
                .child
                .as_mut()
                .map(Child::try_wait)
                .transpose()?
                .flatten()
            {
                bail!(
                    "docker-registry on port {} exited ({status})\n{}",
                    self.port,
                    daemon::log_tail("docker-registry", &self.log_path())
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "docker-registry on port {} did not answer /v2/ within {START_TIMEOUT:?}\n{}",
                    self.port,
                    daemon::log_tail("docker-registry", &self.log_path())
                );
            }
            thread::sleep(Duration::from_millis(25));
        }
    }

    fn config(&self, port: u16) -> String {
        format!(
            "version: 0.1\n\
             log:\n  level: info\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  \
             cache:\n    blobdescriptor: inmemory\n\
             http:\n  addr: 127.0.0.1:{port}\n",
            self.dir.path().join("data").display()
        )
    }
}

impl Drop for Distribution {
    fn drop(&mut self) {
        let _ = self.kill();
        eprintln!("{}", daemon::log_tail("docker-registry", &self.log_path()));
    }
}
