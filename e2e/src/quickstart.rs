//! `scripts/quickstart` run as a newcomer runs it: its banner, its exit status and what it says on stderr.
//!
//! The script runs the binaries the harness uses (`FLOTILLA_BIN_DIR`), so
//! nothing is built again, in its own process group: dropping a
//! [`Quickstart`] stops the script and every server it started, even when a
//! test fails half-way.

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tempfile::TempDir;

use crate::daemon;
use crate::env;

/// The banner's last line: every server answers once it is printed.
pub const BANNER_END: &str = "Ctrl-C stops the cluster.";
/// How long the script may take to start four servers.
const START_TIMEOUT: Duration = Duration::from_secs(90);
/// How long it may take to stop them (each drains first).
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// A running (or finished) `scripts/quickstart`.
#[derive(Debug)]
pub struct Quickstart {
    child: Child,
    /// Where its stderr goes; kept outside the data directory, which the script may remove.
    stderr: PathBuf,
    _scratch: TempDir,
    lines: mpsc::Receiver<String>,
    /// The gateway's port; the members take the next three.
    pub port: u16,
}

/// How the script ended.
#[derive(Debug)]
pub struct Ended {
    pub status: ExitStatus,
    /// All it printed on stdout.
    pub stdout: String,
    /// All it printed on stderr.
    pub stderr: String,
}

impl Quickstart {
    /// Starts the script with the gateway on `port` and, when given, `FLOTILLA_DATA=data`.
    pub fn spawn(port: u16, data: Option<&Path>) -> Result<Self> {
        let scratch = tempfile::tempdir()?;
        let stderr = scratch.path().join("stderr");
        let mut cmd = Command::new(env::repo_root().join("scripts/quickstart"));
        cmd.env("FLOTILLA_BIN_DIR", env::bin_dir()?)
            .env("FLOTILLA_PORT", port.to_string())
            .env_remove("FLOTILLA_DATA")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&stderr)?)
            .process_group(0);
        if let Some(data) = data {
            cmd.env("FLOTILLA_DATA", data);
        }
        let mut child = cmd.spawn().context("starting scripts/quickstart")?;
        let stdout = child.stdout.take().context("no stdout pipe")?;
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Self {
            child,
            stderr,
            _scratch: scratch,
            lines,
            port,
        })
    }

    /// Waits for the whole banner and returns it; fails with the script's
    /// stderr when it exits first.
    pub fn banner(&mut self) -> Result<String> {
        let mut banner = String::new();
        loop {
            match self.lines.recv_timeout(START_TIMEOUT) {
                Ok(line) => {
                    banner.push_str(&line);
                    banner.push('\n');
                    if line.trim() == BANNER_END {
                        return Ok(banner);
                    }
                }
                Err(_) => {
                    let ended = self.stop()?;
                    bail!("no banner from scripts/quickstart: {ended:?}\nstdout so far:\n{banner}");
                }
            }
        }
    }

    /// Waits for the script to exit on its own.
    pub fn wait(mut self) -> Result<Ended> {
        let status = daemon::wait_exit(&mut self.child, START_TIMEOUT)?
            .context("scripts/quickstart still runs")?;
        self.ended(status)
    }

    /// Stops the cluster as Ctrl-C does (the script traps INT and TERM alike)
    /// and waits for the script to exit.
    pub fn stop(&mut self) -> Result<Ended> {
        daemon::terminate(&self.child)?;
        let status = daemon::wait_exit(&mut self.child, STOP_TIMEOUT)?
            .context("scripts/quickstart did not stop after SIGTERM")?;
        self.ended(status)
    }

    fn ended(&mut self, status: ExitStatus) -> Result<Ended> {
        let mut stdout = String::new();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(1)) {
            stdout.push_str(&line);
            stdout.push('\n');
        }
        Ok(Ended {
            status,
            stdout,
            stderr: fs::read_to_string(&self.stderr)?,
        })
    }
}

impl Drop for Quickstart {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = daemon::terminate(&self.child);
            if !matches!(
                daemon::wait_exit(&mut self.child, STOP_TIMEOUT),
                Ok(Some(_))
            ) {
                let _ = Command::new("kill")
                    .args(["-KILL", &format!("-{}", self.child.id())])
                    .status();
                let _ = self.child.wait();
            }
        }
    }
}
