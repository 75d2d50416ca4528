//! A `flotilla-node` serving HTTPS with a test CA's certificate and requiring client certificates (mTLS).
//!
//! The harness's [`crate::Node`] speaks plain HTTP; this one is started from
//! its own config with `http.tls` and is ready once it answers a verified
//! HTTPS request from a client that presents the test CA's client certificate.

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::thread;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use reqwest::blocking::Client;
use serde_json::json;
use tempfile::TempDir;
use tokio::time::Instant;

use crate::daemon::{self, Announced};
use crate::{env, TestPki};

/// A `flotilla-node` serving HTTPS (`http.tls`) with a test CA's server
/// certificate, and accepting only clients with a certificate from that CA.
#[derive(Debug)]
pub struct TlsNode {
    dir: TempDir,
    port: u16,
    child: Option<Child>,
    client: Client,
}

impl TlsNode {
    /// Starts the node and waits until it answers `https://…/v2/` verified by
    /// `pki.ca`, to a client presenting `pki`'s client certificate.
    pub fn start(pki: &TestPki) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("flotilla-tls-node-")
            .tempdir()?;
        let config = json!({
            "distSpecVersion": "1.1.1",
            "storage": { "rootDirectory": dir.path().join("data") },
            "http": {
                "address": "127.0.0.1",
                "port": "0",
                "tls": {
                    "cert": pki.server_cert,
                    "key": pki.server_key,
                    "cacert": pki.ca,
                },
            },
            "log": { "level": "info" },
        });
        let config_path = dir.path().join("config.json");
        fs::write(&config_path, serde_json::to_vec_pretty(&config)?)?;
        let mut cmd = Command::new(env::binary("flotilla-node")?);
        cmd.arg("serve").arg(&config_path);
        let log_path = dir.path().join("node.log");
        let Announced { child, port, .. } =
            daemon::spawn_announced("flotilla-node (TLS)", cmd, &log_path)?;
        let node = Self {
            dir,
            port,
            child: Some(child),
            client: pki.mtls_client()?,
        };
        node.wait_for_https()?;
        Ok(node)
    }

    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("https://{}", self.host_port())
    }

    /// A client that verifies this node and presents the client certificate it requires.
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn host_port(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().context("killing flotilla-node")?;
            child.wait().context("reaping flotilla-node")?;
        }
        Ok(())
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("node.log")
    }

    fn wait_for_https(&self) -> Result<()> {
        const HTTPS_TIMEOUT: Duration = Duration::from_secs(10);
        let deadline = Instant::now() + HTTPS_TIMEOUT;
        let url = format!("{}/v2/", self.url());
        loop {
            let last = match self.client.get(&url).timeout(Duration::from_secs(1)).send() {
                Ok(r) if r.status() == 200 => return Ok(()),
                Ok(r) => format!("answered {}", r.status()),
                Err(e) => format!("{e:#}"),
            };
            if Instant::now() >= deadline {
                bail!(
                    "flotilla-node with http.tls did not answer {url} over verified HTTPS within \
                     {HTTPS_TIMEOUT:?} (last: {last})\n{}",
                    daemon::log_tail("flotilla-node (TLS)", &self.log_path())
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for TlsNode {
    fn drop(&mut self) {
        let _ = self.kill();
        eprintln!(
            "{}",
            daemon::log_tail("flotilla-node (TLS)", &self.log_path())
        );
    }
}
