//! Server processes the harness starts by hand: the `listening on` line, free ports, SIGTERM, bounded waits, log tails.
//!
//! `flotilla-gateway` and `flotilla-node` announce their address with
//! exactly one stdout line, `listening on http://127.0.0.1:<port>` or
//! `https://…`. Servers the harness restarts (nodes) are given a port picked
//! with [`free_port`], so that they come back on it; servers that cannot
//! announce (docker-registry) are given one too and are polled instead.

use std::collections::hash_map::RandomState;
use std::fs::{self, File, OpenOptions};
use std::hash::BuildHasher;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::time::Instant;

/// How long a server may take to announce itself or answer its first request.
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How many log lines a dropped server prints.
const LOG_TAIL_LINES: usize = 80;

/// A started server and the address it announced.
#[derive(Debug)]
pub(crate) struct Announced {
    pub(crate) child: Child,
    /// `http` or `https`.
    pub(crate) scheme: String,
    pub(crate) port: u16,
}

/// Spawns `cmd` with stderr (and stdout after its first line) appended to
/// `log_path`, and waits for its `listening on` line.
pub(crate) fn spawn_announced(what: &str, mut cmd: Command, log_path: &Path) -> Result<Announced> {
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log.try_clone()?)
        .spawn()
        .with_context(|| format!("starting {what}"))?;
    let first_line = read_first_line(child.stdout.take(), log);
    let failure = match first_line.recv_timeout(START_TIMEOUT) {
        Ok(line) => match parse_listening(&line) {
            Some((scheme, port)) => {
                return Ok(Announced {
                    child,
                    scheme,
                    port,
                })
            }
            None => format!(
                "{what} printed {line:?} instead of `listening on http(s)://127.0.0.1:<port>`"
            ),
        },
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let status = child.wait()?;
            bail!(
                "{what} exited ({status}) before listening\n{}",
                log_tail(what, log_path)
            )
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            format!("{what} did not print its `listening on` line within {START_TIMEOUT:?}")
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    bail!("{failure}\n{}", log_tail(what, log_path))
}

/// A port that was free a moment ago, below the kernel's ephemeral range.
///
/// Below that range no `bind(0)` and no outgoing connection's source port can
/// take it, so a server the harness stops and starts again (restarts, the
/// oracle's loads) finds its port still free: placement hashes `host:port`,
/// so a member must come back where it was. Only another harness picking at
/// random could take it between this check and the caller's bind; callers retry.
pub fn free_port() -> Result<u16> {
    let (low, high) = unassigned_range();
    let seed = RandomState::new();
    for attempt in 0u32..200 {
        let pick = seed.hash_one((std::process::id(), attempt));
        let port = low + (pick % u64::from(high - low)) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no free port found in {low}..{high} after 200 tries")
}

/// The first of `n` consecutive ports that were all free a moment ago (see
/// [`free_port`]), for a script that puts its servers on neighbouring ports.
pub fn free_ports(n: u16) -> Result<u16> {
    for _ in 0..50 {
        let first = free_port()?;
        let rest_free = (1..n).all(|i| {
            first
                .checked_add(i)
                .is_some_and(|port| TcpListener::bind(("127.0.0.1", port)).is_ok())
        });
        if rest_free {
            return Ok(first);
        }
    }
    bail!("no {n} consecutive free ports found after 50 tries")
}

/// Runs `start` on one free port after another until it starts: another
/// harness process may take the picked port first, and then the server exits
/// before serving.
pub(crate) fn start_on_a_free_port(
    what: &str,
    mut start: impl FnMut(u16) -> Result<()>,
) -> Result<()> {
    const ATTEMPTS: usize = 5;
    let mut failures = Vec::new();
    for _ in 0..ATTEMPTS {
        match start(free_port()?) {
            Ok(()) => return Ok(()),
            Err(err) => failures.push(format!("{err:#}")),
        }
    }
    bail!(
        "{what} did not start on any of {ATTEMPTS} free ports:\n{}",
        failures.join("\n")
    )
}

/// The ports the harness picks from: `[16384, start of the ephemeral range)`.
fn unassigned_range() -> (u16, u16) {
    const LOW: u16 = 16384;
    let ephemeral_low = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .filter(|&start| start > LOW + 1024)
        .unwrap_or(32768);
    (LOW, ephemeral_low)
}

/// Sends SIGTERM, as an orchestrator stopping the process would.
pub(crate) fn terminate(child: &Child) -> Result<()> {
    signal(child, "TERM")
}

/// Sends `SIG<name>` (`TERM`, `STOP`, `CONT`) to `child`.
pub(crate) fn signal(child: &Child, name: &str) -> Result<()> {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .with_context(|| format!("running kill -{name}"))?;
    if !status.success() {
        bail!("kill -{name} {} failed: {status}", child.id());
    }
    Ok(())
}

/// The exit status once `child` exits, or `None` if it still runs after `timeout`.
pub(crate) fn wait_exit(child: &mut Child, timeout: Duration) -> Result<Option<ExitStatus>> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// The last lines of a server's log, headed with where the whole log is.
pub(crate) fn log_tail(what: &str, log_path: &Path) -> String {
    let log = fs::read_to_string(log_path).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
    format!(
        "--- {what} log ({}) ---\n{}",
        log_path.display(),
        tail.join("\n")
    )
}

/// Sends the first stdout line on the returned channel, then copies the rest
/// into the log so that nothing the server prints is lost or blocks it.
fn read_first_line(
    stdout: Option<impl std::io::Read + Send + 'static>,
    mut log: File,
) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let Some(stdout) = stdout else { return };
        let mut lines = BufReader::new(stdout).lines();
        if let Some(Ok(line)) = lines.next() {
            let _ = tx.send(line);
        }
        for line in lines.map_while(Result::ok) {
            let _ = writeln!(log, "stdout: {line}");
        }
    });
    rx
}

/// `listening on http://127.0.0.1:<port>` (or `https://`) → `(scheme, port)`.
fn parse_listening(line: &str) -> Option<(String, u16)> {
    let url = line.trim().strip_prefix("listening on ")?;
    let (scheme, addr) = url.split_once("://")?;
    matches!(scheme, "http" | "https").then_some(())?;
    let (host, port) = addr.rsplit_once(':')?;
    (host == "127.0.0.1").then_some(())?;
    Some((scheme.to_owned(), port.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listening_line_gives_scheme_and_port() {
        assert_eq!(
            parse_listening("listening on http://127.0.0.1:40123"),
            Some(("http".into(), 40123))
        );
        assert_eq!(
            parse_listening("listening on https://127.0.0.1:5000\n"),
            Some(("https".into(), 5000))
        );
        assert_eq!(parse_listening("listening on http://0.0.0.0:5000"), None);
        assert_eq!(parse_listening("listening on ftp://127.0.0.1:21"), None);
        assert_eq!(parse_listening("starting"), None);
    }

    #[test]
    fn a_free_port_can_be_bound_again() -> Result<()> {
        let port = free_port()?;
        assert!(
            port < unassigned_range().1,
            "{port} is in the ephemeral range"
        );
        TcpListener::bind(("127.0.0.1", port))?;
        Ok(())
    }
}
