//! Running external tools: a bounded wait, all output kept, and a missing tool named with its fix.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use tokio::time::Instant;

/// How long one client command (a whole `skopeo copy`, say) may take.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(180);

/// Finds `tool` on `PATH`, or fails naming the tool and the script that installs it.
pub fn require_tool(tool: &str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            anyhow!("`{tool}` is not installed (not on PATH): run scripts/install-deps, which installs it")
        })
}

/// What a finished command printed, and how it exited.
#[derive(Debug)]
pub struct Output {
    pub command: String,
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// The output if the command succeeded, else an error that shows all of it.
    pub fn check(self) -> Result<Self> {
        if self.success() {
            Ok(self)
        } else {
            bail!("{self}")
        }
    }
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` exited with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command,
            self.status,
            self.stdout_text().trim_end(),
            self.stderr_text().trim_end()
        )
    }
}

/// Runs `cmd` to completion with no stdin, killing it after `timeout`.
pub fn run(cmd: &mut Command, timeout: Duration) -> Result<Output> {
    let command = describe(cmd);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting `{command}`"))?;
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = stderr.join().unwrap_or_default();
            bail!(
                "`{command}` did not finish within {timeout:?}; stderr so far:\n{}",
                String::from_utf8_lossy(&stderr)
            );
        }
        thread::sleep(Duration::from_millis(10));
    };
    Ok(Output {
        command,
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut buf);
        }
        buf
    })
}

fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_names_itself_and_the_install_script() {
        let err = require_tool("flotilla-no-such-tool")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("flotilla-no-such-tool") && err.contains("scripts/install-deps"),
            "{err}"
        );
    }

    #[test]
    fn a_command_that_outlives_its_timeout_is_killed() {
        let err = run(Command::new("sleep").arg("30"), Duration::from_millis(200)).unwrap_err();
        assert!(err.to_string().contains("did not finish"), "{err}");
    }
}
