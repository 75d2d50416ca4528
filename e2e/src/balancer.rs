//! A real load balancer (haproxy or nginx) in front of gateways, run from the checked-in configs in `deploy/`.
//!
//! The configs are rendered for loopback, never rewritten by hand: each
//! substitution names the exact text it replaces in the checked-in file and
//! fails if that text is not there exactly once, so an edit to `deploy/` that
//! the tests no longer cover breaks them instead of being tested silently
//! around. What a test copy changes: the listen ports (free loopback ports),
//! the pid, log and temp paths (a temp dir), the user (the current one), and
//! for haproxy the health-check timing (200 ms instead of 2 s). The gateways'
//! `${GATEWAY_n_ADDR}` placeholders are filled as production fills them:
//! haproxy from its environment (as is `HAPROXY_STATS_SOCKET`, put in the
//! temp dir), nginx by an envsubst-like render.
//!
//! The balancer runs in the foreground as the current user; its output goes
//! to `balancer.log` in the temp dir, and the tail is printed when it is
//! dropped (shown by the test runner only for a failing test).

use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use tempfile::TempDir;
use tokio::time::Instant;

use crate::daemon::{self, START_TIMEOUT};
use crate::process::{self, Output};
use crate::{env, Registry};

/// Which load balancer, and where its config lives in `deploy/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Haproxy,
    Nginx,
}

impl Kind {
    /// The tool's name, as on `PATH`.
    pub fn tool(self) -> &'static str {
        match self {
            Self::Haproxy => "haproxy",
            Self::Nginx => "nginx",
        }
    }

    /// The checked-in config.
    pub fn config_path(self) -> PathBuf {
        let root = env::repo_root().join("deploy");
        match self {
            Self::Haproxy => root.join("haproxy/haproxy.cfg"),
            Self::Nginx => root.join("nginx/nginx.conf"),
        }
    }
}

/// A config rendered for loopback, and the environment it runs with.
#[derive(Debug)]
pub struct Rendered {
    pub kind: Kind,
    pub path: PathBuf,
    /// `GATEWAY_n_ADDR=…`: haproxy reads the placeholders from its environment.
    pub env: Vec<(String, String)>,
    /// The port clients use.
    pub port: u16,
}

impl Rendered {
    /// `deploy/`'s config for `kind` in front of `gateways` (`host:port` each),
    /// written into `dir` with every path and port pointing at loopback and `dir`.
    pub fn new(kind: Kind, dir: &Path, gateways: &[String]) -> Result<Self> {
        let source = kind.config_path();
        let text =
            fs::read_to_string(&source).with_context(|| format!("reading {}", source.display()))?;
        let placeholders = gateway_placeholders(&text);
        ensure!(
            placeholders.len() == gateways.len(),
            "{} has {} gateway placeholders ({placeholders:?}), the test has {} gateways",
            source.display(),
            placeholders.len(),
            gateways.len()
        );
        let env: Vec<(String, String)> = placeholders
            .into_iter()
            .zip(gateways.iter().cloned())
            .collect();
        let port = daemon::free_port()?;
        let (user, group) = current_user()?;
        let d = dir.display();
        let text = match kind {
            Kind::Haproxy => substitute(
                &source,
                &text,
                &[
                    ("bind *:5000", format!("bind 127.0.0.1:{port}")),
                    (
                        "bind *:8405",
                        format!("bind 127.0.0.1:{}", daemon::free_port()?),
                    ),
                    ("user haproxy", format!("user {user}")),
                    ("group haproxy", format!("group {group}")),
                    (
                        "check inter 2s fastinter 500ms downinter 2s fall 2 rise 2",
                        "check inter 200ms fastinter 200ms downinter 200ms fall 1 rise 1".into(),
                    ),
                ],
            )?,
            Kind::Nginx => {
                let text = envsubst(&text, &env);
                substitute(
                    &source,
                    &text,
                    &[
                        ("user www-data;", format!("user {user};")),
                        ("pid /run/nginx.pid;", format!("pid {d}/nginx.pid;")),
                        ("/var/log/nginx/error.log", format!("{d}/error.log")),
                        ("/var/log/nginx/access.log", format!("{d}/access.log")),
                        ("listen 5000;", format!("listen 127.0.0.1:{port};")),
                        // Debian's compiled-in temp paths are root's; nginx -t creates them.
                        (
                            "\nhttp {\n",
                            format!(
                                "\nhttp {{\n    client_body_temp_path {d}/body;\n    \
                                 proxy_temp_path {d}/proxy;\n    fastcgi_temp_path {d}/fastcgi;\n    \
                                 uwsgi_temp_path {d}/uwsgi;\n    scgi_temp_path {d}/scgi;\n"
                            ),
                        ),
                    ],
                )?
            }
        };
        let path = dir.join(source.file_name().context("config without a file name")?);
        fs::write(&path, text)?;
        let env = match kind {
            Kind::Haproxy => {
                let socket = ("HAPROXY_STATS_SOCKET".to_owned(), format!("{d}/admin.sock"));
                env.into_iter().chain([socket]).collect()
            }
            Kind::Nginx => Vec::new(),
        };
        Ok(Self {
            kind,
            path,
            env,
            port,
        })
    }

    /// `haproxy -c -f FILE` or `nginx -t -c FILE`: the tool's own check; fails on any warning too.
    pub fn check(&self) -> Result<Output> {
        let tool = process::require_tool(self.kind.tool())?;
        let mut cmd = Command::new(tool);
        match self.kind {
            Kind::Haproxy => cmd.arg("-c").arg("-f").arg(&self.path),
            Kind::Nginx => cmd
                .arg("-t")
                .arg("-c")
                .arg(&self.path)
                .arg("-e")
                .arg(self.path.with_file_name("error.log")),
        };
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        let out = process::run(&mut cmd, Duration::from_secs(30))?.check()?;
        let text = format!("{}{}", out.stdout_text(), out.stderr_text());
        ensure!(
            !["[WARNING]", "[ALERT]", "[warn]", "[emerg]"]
                .iter()
                .any(|level| text.contains(level)),
            "{} passed its check with warnings:\n{out}",
            self.kind.tool()
        );
        Ok(out)
    }
}

/// A running load balancer; dropping it stops the process.
#[derive(Debug)]
pub struct Balancer {
    rendered: Rendered,
    dir: TempDir,
    log_path: PathBuf,
    child: Option<Child>,
}

impl Balancer {
    /// haproxy from `deploy/haproxy/haproxy.cfg` in front of `gateways`.
    pub fn haproxy(gateways: &[String]) -> Result<Self> {
        Self::start(Kind::Haproxy, gateways)
    }

    /// nginx from `deploy/nginx/nginx.conf` in front of `gateways`.
    pub fn nginx(gateways: &[String]) -> Result<Self> {
        Self::start(Kind::Nginx, gateways)
    }

    /// Renders, checks and starts `kind`; a port taken in the meantime is tried again.
    pub fn start(kind: Kind, gateways: &[String]) -> Result<Self> {
        let tool = process::require_tool(kind.tool())?;
        let mut last = None;
        for _ in 0..3 {
            let dir = tempfile::Builder::new()
                .prefix(&format!("flotilla-{}-", kind.tool()))
                .tempdir()?;
            let rendered = Rendered::new(kind, dir.path(), gateways)?;
            rendered.check()?;
            let log_path = dir.path().join("balancer.log");
            let mut balancer = Self {
                rendered,
                dir,
                log_path,
                child: None,
            };
            match balancer.spawn(&tool) {
                Ok(()) => return Ok(balancer),
                Err(err) => last = Some(err),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("{} never started", kind.tool())))
    }

    fn spawn(&mut self, tool: &Path) -> Result<()> {
        let log = fs::File::create(&self.log_path)?;
        let mut cmd = Command::new(tool);
        let config = &self.rendered.path;
        match self.rendered.kind {
            // Master-worker in the foreground, so that a pid file is written.
            Kind::Haproxy => cmd
                .args(["-W", "-db", "-f"])
                .arg(config)
                .arg("-p")
                .arg(self.dir.path().join("haproxy.pid")),
            Kind::Nginx => cmd
                .arg("-c")
                .arg(config)
                .arg("-e")
                .arg(self.dir.path().join("error.log"))
                .args(["-g", "daemon off;"]),
        };
        let child = cmd
            .envs(self.rendered.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", tool.display()))?;
        self.child = Some(child);
        self.wait_listening()
    }

    /// Waits until the balancer answers HTTP on its port.
    fn wait_listening(&mut self) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        let tool = self.rendered.kind.tool();
        loop {
            // Any HTTP answer will do (a bare connect would be logged as a bad request).
            let probe = reqwest::blocking::Client::new()
                .get(format!("http://127.0.0.1:{}/livez", self.rendered.port))
                .timeout(Duration::from_secs(1))
                .send();
            if probe.is_ok() {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    self.child = None;
                    bail!(
                        "{tool} exited ({status}) before listening\n{}",
                        self.log_tail()
                    );
                }
            }
            if Instant::now() >= deadline {
                bail!(
                    "{tool} did not listen within {START_TIMEOUT:?}\n{}",
                    self.log_tail()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn kind(&self) -> Kind {
        self.rendered.kind
    }

    /// `127.0.0.1:<port>`, as image references spell the registry.
    pub fn host_port(&self) -> String {
        format!("127.0.0.1:{}", self.rendered.port)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.host_port())
    }

    /// `docker://127.0.0.1:<port>/<repo_ref>`, as skopeo names an image behind the balancer.
    pub fn image(&self, repo_ref: &str) -> String {
        format!("docker://{}/{repo_ref}", self.host_port())
    }

    /// Raw HTTP through the balancer.
    pub fn http(&self) -> Registry {
        Registry::new(&self.url())
    }

    /// The rendered config the balancer runs.
    pub fn config(&self) -> &Rendered {
        &self.rendered
    }

    /// Everything the balancer printed and logged so far.
    pub fn log(&self) -> String {
        let mut log = fs::read_to_string(&self.log_path).unwrap_or_default();
        for extra in ["error.log", "access.log"] {
            if let Ok(text) = fs::read_to_string(self.dir.path().join(extra)) {
                log.push_str(&format!("--- {extra} ---\n{text}"));
            }
        }
        log
    }

    /// haproxy only: each server of backend `gateways` and whether its health check has it UP,
    /// from the runtime API (`show stat`).
    pub fn servers_up(&self) -> Result<Vec<(String, bool)>> {
        ensure!(
            self.kind() == Kind::Haproxy,
            "only haproxy has a runtime API"
        );
        let socket = self.dir.path().join("admin.sock");
        let mut stream = UnixStream::connect(&socket)
            .with_context(|| format!("connecting to {}", socket.display()))?;
        stream.write_all(b"show stat\n")?;
        let mut csv = String::new();
        stream.read_to_string(&mut csv)?;
        let header: Vec<&str> = csv
            .lines()
            .next()
            .context("empty `show stat`")?
            .trim_start_matches("# ")
            .split(',')
            .collect();
        let column = |name: &str| header.iter().position(|h| *h == name);
        let (px, sv, status) = match (column("pxname"), column("svname"), column("status")) {
            (Some(px), Some(sv), Some(status)) => (px, sv, status),
            _ => bail!("`show stat` without pxname/svname/status: {csv}"),
        };
        Ok(csv
            .lines()
            .skip(1)
            .map(|line| line.split(',').collect::<Vec<_>>())
            .filter(|f| f.len() > status && f[px] == "gateways" && f[sv] != "BACKEND")
            .map(|f| (f[sv].to_owned(), f[status].starts_with("UP")))
            .collect())
    }

    /// Waits up to `timeout` until `servers_up` says `want`.
    pub fn wait_servers(&self, want: &[(&str, bool)], timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            // The worker opens the runtime API a moment after the port.
            let now = self.servers_up();
            let matches = now.as_ref().is_ok_and(|now| {
                want.iter()
                    .all(|(name, up)| now.iter().any(|(n, u)| n == name && u == up))
            });
            if matches {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("haproxy servers after {timeout:?}: {now:?}, wanted {want:?}");
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn log_tail(&self) -> String {
        daemon::log_tail(self.rendered.kind.tool(), &self.log_path)
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGTERM lets haproxy's master and nginx's master stop their workers.
            let _ = daemon::terminate(&child);
            if !matches!(
                daemon::wait_exit(&mut child, Duration::from_secs(3)),
                Ok(Some(_))
            ) {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        // Captured by the test runner: shown only when the test fails.
        eprintln!("{}", self.log_tail());
        let log = self.log();
        let unusual: Vec<&str> = log.lines().filter(|l| unusual(l)).collect();
        let from = unusual.len().saturating_sub(80);
        eprintln!(
            "--- {} warnings, errors and requests that did not end normally ---\n{}",
            self.rendered.kind.tool(),
            unusual[from..].join("\n")
        );
    }
}

/// A log line worth showing after a failure: a warning or error (haproxy,
/// nginx), or a request haproxy did not end normally (termination state not
/// `----`) or nginx answered 5xx.
fn unusual(line: &str) -> bool {
    let haproxy_request = line.contains(" registry ");
    let nginx_request = line.contains(" upstream=");
    if haproxy_request {
        !line.contains(" ---- ")
    } else if nginx_request {
        line.contains("\" 5")
    } else {
        !line.trim().is_empty() && !line.starts_with("---")
    }
}

/// Clients going through a balancer over and over on their own threads (each
/// with its own connections), counting every request, until stopped: what a
/// fleet of clients does while a gateway is rolled. Bounded: it stops by
/// itself after [`Traffic::MAX_RUN`].
#[derive(Debug)]
pub struct Traffic {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
    threads: Vec<thread::JoinHandle<Vec<String>>>,
}

/// What a [`Traffic`] saw.
#[derive(Debug)]
pub struct TrafficReport {
    /// Requests answered as expected.
    pub ok: usize,
    /// Each failed request: what was asked and what came back.
    pub failures: Vec<String>,
}

impl TrafficReport {
    /// Every request succeeded while a gateway drained.
    pub fn ensure_no_failures(&self) -> Result<()> {
        ensure!(
            self.failures.is_empty(),
            "{} of {} requests failed while a gateway drained: {:#?}",
            self.failures.len(),
            self.ok + self.failures.len(),
            &self.failures[..self.failures.len().min(5)]
        );
        Ok(())
    }
}

/// The image the load-balancer stories push, pull and keep under traffic.
pub const STORY_REPO: &str = "deploy/app";
pub const STORY_TAG: &str = "v1";

/// Pulls the story's image through the balancer into `work/name` and
/// compares it byte for byte with `pushed`.
pub fn pull_and_compare(
    skopeo: &crate::Skopeo,
    lb: &Balancer,
    work: &Path,
    name: &str,
    pushed: &crate::Layout,
) -> Result<()> {
    let image = lb.image(&format!("{STORY_REPO}:{STORY_TAG}"));
    skopeo.pull_same_image(&image, &work.join(name), STORY_TAG, pushed)
}

/// The story every balancer is tested with: an image pushed through `lb`
/// pulls back the same; with pulls and pushes running, `second` (which `lb`
/// balances to) is drained with SIGTERM, `noticed` waiting until the
/// balancer has taken it out where the balancer can say so; no request
/// fails, `second` had served some and exits 0, and the image still pulls
/// back the same. `what` names the balancer in failures.
pub fn drain_under_traffic(
    lb: &Balancer,
    second: &mut crate::Gateway,
    what: &str,
    noticed: impl FnOnce(&Balancer) -> Result<()>,
) -> Result<()> {
    let skopeo = crate::Skopeo::new()?;
    let work = tempfile::TempDir::new()?;
    let (pushed, _) = crate::Layout::with_image(
        &work.path().join("pushed"),
        STORY_TAG,
        &format!("behind {what}"),
    )?;
    skopeo.copy(
        &pushed.reference(STORY_TAG),
        &lb.image(&format!("{STORY_REPO}:{STORY_TAG}")),
    )?;
    pull_and_compare(&skopeo, lb, work.path(), "first", &pushed)?;

    let traffic = Traffic::start(&lb.url(), STORY_REPO, STORY_TAG, 3, 1);
    traffic.wait_for_more(200, Duration::from_secs(20))?;
    let served_before = requests_served(second)?;
    second.terminate()?;
    noticed(lb)?;
    let exit = second.wait_exit(Duration::from_secs(10))?;
    traffic.wait_for_more(200, Duration::from_secs(20))?;
    let report = traffic.stop();

    report.ensure_no_failures()?;
    ensure!(
        served_before > 0.0,
        "{what} never sent traffic to the second gateway"
    );
    ensure!(
        exit.is_some_and(|status| status.success()),
        "the drained gateway exited with {exit:?}"
    );
    pull_and_compare(&skopeo, lb, work.path(), "after", &pushed)
}

impl Traffic {
    /// The longest a loop runs if nobody stops it.
    pub const MAX_RUN: Duration = Duration::from_secs(60);

    /// `pullers` threads pulling `repo:tag` (manifest, every blob by digest,
    /// tags/list), and `pushers` threads pushing small images to
    /// `traffic/pushed-<n>` (blobs by POST and PUT, then the manifest).
    pub fn start(base: &str, repo: &str, tag: &str, pullers: usize, pushers: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicUsize::new(0));
        let threads = (0..pullers + pushers)
            .map(|n| {
                let (stop, ok) = (stop.clone(), ok.clone());
                let http = Registry::new(base);
                let (repo, tag) = (repo.to_owned(), tag.to_owned());
                thread::spawn(move || {
                    let step = |i: usize| -> Result<usize> {
                        if n < pullers {
                            pull_once(&http, &repo, &tag)
                        } else {
                            let pushed = format!("traffic/pushed-{n}");
                            crate::cluster::push_small_image(&http, &pushed, &format!("v{i}"))?;
                            Ok(5)
                        }
                    };
                    let deadline = Instant::now() + Self::MAX_RUN;
                    let mut failures = Vec::new();
                    let mut i = 0;
                    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                        match step(i) {
                            Ok(requests) => {
                                ok.fetch_add(requests, Ordering::Relaxed);
                            }
                            Err(err) => failures.push(format!("{err:#}")),
                        }
                        i += 1;
                    }
                    failures
                })
            })
            .collect();
        Self { stop, ok, threads }
    }

    /// Requests answered as expected so far.
    pub fn ok(&self) -> usize {
        self.ok.load(Ordering::Relaxed)
    }

    /// Waits until `more` requests beyond those counted now have succeeded.
    pub fn wait_for_more(&self, more: usize, timeout: Duration) -> Result<()> {
        let target = self.ok() + more;
        let deadline = Instant::now() + timeout;
        while self.ok() < target {
            ensure!(
                Instant::now() < deadline,
                "only {} of {target} requests succeeded within {timeout:?}",
                self.ok()
            );
            thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// Stops every thread and reports.
    pub fn stop(self) -> TrafficReport {
        self.stop.store(true, Ordering::Relaxed);
        let failures = self
            .threads
            .into_iter()
            .flat_map(|t| {
                t.join()
                    .unwrap_or_else(|_| vec!["a traffic thread panicked".into()])
            })
            .collect();
        TrafficReport {
            ok: self.ok.load(Ordering::Relaxed),
            failures,
        }
    }
}

/// One pull of `repo:tag`, every byte checked against its digest; the number of requests made.
fn pull_once(http: &Registry, repo: &str, tag: &str) -> Result<usize> {
    let manifest = http.manifest(repo, tag)?;
    let manifest: serde_json::Value = serde_json::from_slice(&manifest)?;
    let mut digests = vec![manifest["config"]["digest"].as_str().unwrap_or_default()];
    if let Some(layers) = manifest["layers"].as_array() {
        digests.extend(
            layers
                .iter()
                .map(|l| l["digest"].as_str().unwrap_or_default()),
        );
    }
    for digest in &digests {
        let blob = http.blob(repo, digest)?;
        ensure!(
            crate::layout::sha256_digest(&blob) == *digest,
            "GET /v2/{repo}/blobs/{digest}: the bytes have another digest"
        );
    }
    let path = format!("/v2/{repo}/tags/list");
    let status = http
        .get(&path)
        .send()
        .with_context(|| format!("GET {path}"))?
        .status();
    ensure!(status == 200, "GET {path}: {status}");
    Ok(digests.len() + 2)
}

/// How many requests `gateway` has answered, by its own `/metrics`.
pub fn requests_served(gateway: &crate::Gateway) -> Result<f64> {
    gateway.metric("flotilla_gateway_requests_total{")
}

/// `GATEWAY_1_ADDR`, `GATEWAY_2_ADDR`, … in the order they first appear in `text`.
pub fn gateway_placeholders(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    for (start, _) in text.match_indices("${GATEWAY_") {
        let rest = &text[start + 2..];
        if let Some(end) = rest.find('}') {
            let name = rest[..end].to_owned();
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names
}

/// `${NAME}` → value for the names in `vars` only, as `envsubst '${A} ${B}'` does.
pub fn envsubst(text: &str, vars: &[(String, String)]) -> String {
    vars.iter().fold(text.to_owned(), |text, (name, value)| {
        text.replace(&format!("${{{name}}}"), value)
    })
}

/// Replaces each `from` with its `to`; each `from` must occur in `text` exactly once.
pub fn substitute(source: &Path, text: &str, pairs: &[(&str, String)]) -> Result<String> {
    let mut out = text.to_owned();
    for (from, to) in pairs {
        let count = out.matches(from).count();
        ensure!(
            count == 1,
            "the test renders {} by replacing `{from}`, which occurs there {count} times instead of once: \
             update the test with the config",
            source.display()
        );
        out = out.replacen(from, to, 1);
    }
    Ok(out)
}

/// The current user's and group's names, for `user`/`group` directives.
fn current_user() -> Result<(String, String)> {
    let name = |flag: &str| -> Result<String> {
        let out = process::run(Command::new("id").arg(flag), Duration::from_secs(10))?.check()?;
        Ok(out.stdout_text().trim().to_owned())
    };
    Ok((name("-un")?, name("-gn")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_found_in_order_once_each() {
        let text = "server a ${GATEWAY_2_ADDR};\nserver b \"${GATEWAY_1_ADDR}\" ${GATEWAY_2_ADDR}";
        assert_eq!(
            gateway_placeholders(text),
            ["GATEWAY_2_ADDR", "GATEWAY_1_ADDR"]
        );
    }

    #[test]
    fn envsubst_leaves_other_dollar_variables_alone() {
        let vars = [("GATEWAY_1_ADDR".to_owned(), "127.0.0.1:1".to_owned())];
        assert_eq!(
            envsubst("server ${GATEWAY_1_ADDR}; Host $http_host ${OTHER}", &vars),
            "server 127.0.0.1:1; Host $http_host ${OTHER}"
        );
    }

    #[test]
    fn a_substitution_that_does_not_match_once_fails() {
        let path = Path::new("deploy/x.cfg");
        assert!(substitute(path, "a b a", &[("a", "c".into())]).is_err());
        assert!(substitute(path, "a b", &[("z", "c".into())]).is_err());
        assert_eq!(
            substitute(path, "a b", &[("b", "c".into())]).unwrap(),
            "a c"
        );
    }
}
