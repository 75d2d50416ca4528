//! One `flotilla-gateway` process in front of registry members: its zot-style config in a temp dir, on a loopback port.
//!
//! The gateway prints exactly one stdout line once bound,
//! `listening on http://127.0.0.1:<port>` (or `https://`); that is how the
//! harness learns its port. Its logs go to `gateway.log` in the temp dir and
//! the tail is printed when it is dropped, which the test runner shows only
//! for a failing test. Tests stop it as an orchestrator would: SIGTERM, then
//! wait for the exit.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use flotilla_gateway::config::Config;
use flotilla_gateway::placement::Ring;
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::time::Instant;

use crate::daemon::{self, Announced};
use crate::{env, Registry};

/// The `hashKey` every test gateway uses (zot's documentation example).
pub const HASH_KEY: &str = "loremipsumdolors";

/// Options for a gateway that is not started yet; see [`Gateway::builder`].
#[derive(Debug, Clone)]
pub struct GatewayBuilder {
    members: Vec<String>,
    placement: &'static str,
    on_member_failure: &'static str,
    port: u16,
    listener_tls: Option<Value>,
    members_tls: Option<Value>,
    drain: Duration,
    fan_out: Duration,
    settings: Vec<(String, Value)>,
}

impl GatewayBuilder {
    /// `cluster.members`, `host:port` each, in placement order.
    pub fn members(mut self, members: &[String]) -> Self {
        self.members = members.to_vec();
        self
    }

    /// `placement`: `rendezvous` (default) or `zot`.
    pub fn placement(mut self, placement: &'static str) -> Self {
        self.placement = placement;
        self
    }

    /// `onMemberFailure: partial`: a catalog leaves a failed member out and says so in `Warning`.
    pub fn partial(mut self) -> Self {
        self.on_member_failure = "partial";
        self
    }

    /// Listen on this port instead of one the gateway picks (to put it in its own member list).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// `http.tls`: serve HTTPS with this certificate and key.
    pub fn listener_tls(mut self, cert: &Path, key: &Path) -> Self {
        self.listener_tls = Some(json!({ "cert": cert, "key": key }));
        self
    }

    /// `cluster.tls`: reach members over HTTPS, trusting `cacert`, presenting `client` (cert, key) if given.
    pub fn members_tls(mut self, cacert: &Path, client: Option<(&Path, &Path)>) -> Self {
        let mut tls = json!({ "cacert": cacert });
        if let Some((cert, key)) = client {
            tls["cert"] = json!(cert);
            tls["key"] = json!(key);
        }
        self.members_tls = Some(tls);
        self
    }

    /// `timeouts.drain`: how long in-flight requests may finish after SIGTERM (default 10 s).
    pub fn drain(mut self, drain: Duration) -> Self {
        self.drain = drain;
        self
    }

    /// `timeouts.fanOut`: how long a fan-out waits for members (default 30 s).
    pub fn fan_out(mut self, fan_out: Duration) -> Self {
        self.fan_out = fan_out;
        self
    }

    /// Any config key, dotted (`"limits.connections"`), set last.
    pub fn setting(mut self, key: &str, value: Value) -> Self {
        self.settings.push((key.to_owned(), value));
        self
    }

    /// `timeouts.response`: the wait for a member's answer after the request body ends (default 60 s).
    pub fn response(self, response: Duration) -> Self {
        self.timeout("timeouts.response", response)
    }

    /// `timeouts.bodyStall`: the longest pause of a body, either way (default 60 s).
    pub fn body_stall(self, stall: Duration) -> Self {
        self.timeout("timeouts.bodyStall", stall)
    }

    /// `timeouts.poolIdle`: how long an unused connection to a member is kept (default 90 s).
    pub fn pool_idle(self, idle: Duration) -> Self {
        self.timeout("timeouts.poolIdle", idle)
    }

    /// `timeouts.probe`: how long one health probe may take (default 1 s).
    pub fn probe(self, probe: Duration) -> Self {
        self.timeout("timeouts.probe", probe)
    }

    fn timeout(self, key: &str, value: Duration) -> Self {
        self.setting(key, json!(format!("{}ms", value.as_millis())))
    }

    /// `limits.<key>` (`"mergedBodyBytes"`, say), beside the defaults.
    pub fn limit(self, key: &str, value: impl Into<Value>) -> Self {
        self.setting(&format!("limits.{key}"), value.into())
    }

    /// The config file's JSON, as the gateway will read it.
    pub fn config(&self) -> Value {
        let mut http = json!({ "address": "127.0.0.1", "port": self.port.to_string() });
        if let Some(tls) = &self.listener_tls {
            http["tls"] = tls.clone();
        }
        let mut cluster = json!({ "members": self.members, "hashKey": HASH_KEY });
        if let Some(tls) = &self.members_tls {
            cluster["tls"] = tls.clone();
        }
        let mut config = json!({
            "http": http,
            "cluster": cluster,
            "placement": self.placement,
            "timeouts": {
                "connect": "1s",
                "probeInterval": "500ms",
                "drain": format!("{}ms", self.drain.as_millis()),
                "fanOut": format!("{}ms", self.fan_out.as_millis()),
            },
            "onMemberFailure": self.on_member_failure,
            "log": { "level": "info" },
        });
        for (key, value) in &self.settings {
            crate::settings::set(&mut config, key, value.clone());
        }
        config
    }

    /// The placement this gateway will compute from its config.
    pub fn ring(&self) -> Result<Ring> {
        ring_of(&self.config())
    }

    pub fn start(self) -> Result<Gateway> {
        let dir = tempfile::Builder::new()
            .prefix("flotilla-gateway-")
            .tempdir()?;
        let config_path = dir.path().join("config.json");
        let config = self.config();
        fs::write(&config_path, serde_json::to_vec_pretty(&config)?)?;
        let ring = ring_of(&config)?;
        let log_path = dir.path().join("gateway.log");
        let mut cmd = Command::new(env::binary("flotilla-gateway")?);
        cmd.arg("serve").arg(&config_path);
        let Announced {
            child,
            scheme,
            port,
        } = daemon::spawn_announced("flotilla-gateway", cmd, &log_path)?;
        Ok(Gateway {
            dir,
            config_path,
            log_path,
            ring,
            scheme,
            port,
            child: Some(child),
            exit: None,
        })
    }
}

/// A running (or stopped) `flotilla-gateway`; dropping it kills the process.
#[derive(Debug)]
pub struct Gateway {
    dir: TempDir,
    config_path: PathBuf,
    log_path: PathBuf,
    ring: Ring,
    scheme: String,
    port: u16,
    child: Option<Child>,
    exit: Option<ExitStatus>,
}

impl Gateway {
    /// A gateway with no members yet: set them with [`GatewayBuilder::members`].
    pub fn builder() -> GatewayBuilder {
        GatewayBuilder {
            members: Vec::new(),
            placement: "rendezvous",
            on_member_failure: "fail",
            port: 0,
            listener_tls: None,
            members_tls: None,
            drain: Duration::from_secs(10),
            fan_out: Duration::from_secs(30),
            settings: Vec::new(),
        }
    }

    /// The process id, while the gateway runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `http://127.0.0.1:<port>` (or `https://`).
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.host_port())
    }

    /// `127.0.0.1:<port>`, as image references spell the registry.
    pub fn host_port(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `docker://127.0.0.1:<port>/<repo_ref>`, as skopeo names an image behind this gateway.
    pub fn image(&self, repo_ref: &str) -> String {
        format!("docker://{}/{repo_ref}", self.host_port())
    }

    /// Raw HTTP to this gateway, anonymous (plain HTTP; an HTTPS gateway needs [`crate::TestPki::client`]).
    pub fn http(&self) -> Registry {
        Registry::new(&self.url())
    }

    /// The placement this gateway computes from its own config.
    pub fn ring(&self) -> &Ring {
        &self.ring
    }

    /// Index in `cluster.members` of the member that owns `repo`.
    pub fn owner(&self, repo: &str) -> usize {
        self.ring.owner(repo)
    }

    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// Writes `config` (text, so a broken one can be tried too) over the
    /// gateway's config file and sends SIGHUP, as an operator reloads it.
    /// The harness's placement follows when the text is a usable config.
    pub fn reload(&mut self, config: &str) -> Result<()> {
        fs::write(&self.config_path, config)?;
        let Some(child) = &self.child else {
            bail!("the gateway is not running")
        };
        daemon::signal(child, "HUP")?;
        if let Ok(ring) = serde_json::from_str(config)
            .map_err(anyhow::Error::from)
            .and_then(|c| ring_of(&c))
        {
            self.ring = ring;
        }
        Ok(())
    }

    /// [`Gateway::reload`] with a valid config, then waits until the gateway
    /// says the new config is in force.
    pub fn reload_in_force(&mut self, config: &str) -> Result<()> {
        const IN_FORCE: &str = "config reloaded";
        let before = self.log().matches(IN_FORCE).count();
        self.reload(config)?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.log().matches(IN_FORCE).count() <= before {
            if Instant::now() >= deadline {
                bail!("the config was not reloaded:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Sends SIGTERM: the gateway stops accepting and drains.
    pub fn terminate(&self) -> Result<()> {
        match &self.child {
            Some(child) => daemon::terminate(child),
            None => bail!("the gateway is not running"),
        }
    }

    /// Waits up to `timeout` for the process to exit; `None` if it still runs.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<Option<ExitStatus>> {
        if self.exit.is_none() {
            if let Some(child) = self.child.as_mut() {
                self.exit = daemon::wait_exit(child, timeout)?;
            }
        }
        Ok(self.exit)
    }

    /// Kills the process with SIGKILL and reaps it.
    pub fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            if self.exit.is_none() {
                child.kill().context("killing flotilla-gateway")?;
                self.exit = Some(child.wait().context("reaping flotilla-gateway")?);
            }
        }
        Ok(())
    }

    /// The gateway's log so far (stderr, plus any stdout after the first line).
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The value of the `/metrics` sample whose series starts with `series`
    /// (`flotilla_gateway_upstream_errors_total{member="…"`), summed over the
    /// rest of its labels; 0 when there is none.
    pub fn metric(&self, series: &str) -> Result<f64> {
        let text = self.http().get("/metrics").send()?.text()?;
        Ok(text
            .lines()
            .filter(|line| line.starts_with(series))
            .filter_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok())
            .sum())
    }

    /// The temp dir holding config and log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.kill();
        // Captured by the test runner: shown only when the test fails.
        eprintln!("{}", daemon::log_tail("flotilla-gateway", &self.log_path));
    }
}

/// The placement the gateway will compute, from the same config text and library.
fn ring_of(config: &Value) -> Result<Ring> {
    let config = Config::parse(&config.to_string())?.validate()?;
    Ok(Ring::new(
        config.placement,
        config.hash_key(),
        config.cluster.members.clone(),
    ))
}
