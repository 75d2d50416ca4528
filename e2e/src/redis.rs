//! A real `redis-server` (Debian's) on a loopback port, for the gateways' shared session store.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tempfile::TempDir;
use tokio::time::Instant;

use crate::daemon::{free_port, START_TIMEOUT};
use crate::process::require_tool;

/// A running Redis; dropping it kills the process.
#[derive(Debug)]
pub struct Redis {
    child: Child,
    port: u16,
    dir: TempDir,
}

impl Redis {
    /// Starts one without persistence, and waits for its `PONG`.
    pub fn start() -> Result<Self> {
        let tool = require_tool("redis-server")?;
        let dir = tempfile::Builder::new()
            .prefix("flotilla-redis-")
            .tempdir()?;
        let port = free_port()?;
        let log = std::fs::File::create(dir.path().join("redis.log"))?;
        let child = Command::new(tool)
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting redis-server")?;
        let redis = Self { child, port, dir };
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if redis.command("PING").is_ok_and(|r| r == "+PONG") {
                return Ok(redis);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!(
            "redis-server did not answer PING within {START_TIMEOUT:?}\n{}",
            redis.log()
        )
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The names of the keys matching `pattern`.
    pub fn keys(&self, pattern: &str) -> Result<Vec<String>> {
        let reply = self.command(&format!("KEYS {pattern}"))?;
        Ok(reply.lines().map(str::to_owned).collect())
    }

    /// Seconds left before `key` expires (`-1`: never, `-2`: no such key).
    pub fn ttl(&self, key: &str) -> Result<i64> {
        let reply = self.command(&format!("TTL {key}"))?;
        Ok(reply.trim_start_matches(':').parse()?)
    }

    /// Makes `key` expire `ms` milliseconds from now.
    pub fn expire_in_ms(&self, key: &str, ms: u64) -> Result<()> {
        let reply = self.command(&format!("PEXPIRE {key} {ms}"))?;
        anyhow::ensure!(reply == ":1", "PEXPIRE {key}: {reply}");
        Ok(())
    }

    /// One inline command; a status or integer reply as is, an array's bulk
    /// strings one per line.
    fn command(&self, command: &str) -> Result<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.write_all(format!("{command}\r\n").as_bytes())?;
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let head = line.trim_end().to_owned();
        let Some(count) = head.strip_prefix('*') else {
            return Ok(head);
        };
        let mut items = Vec::new();
        for _ in 0..count.parse::<usize>()? {
            let (mut len, mut item) = (String::new(), String::new());
            reader.read_line(&mut len)?;
            reader.read_line(&mut item)?;
            items.push(item.trim_end().to_owned());
        }
        Ok(items.join("\n"))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
