//! Raw client connections for testing a listener's bounds (slow request heads, idle keep-alive, floods), and a process's open descriptors.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use tokio::time::Instant;

use anyhow::{bail, Context, Result};

/// The number of descriptors process `pid` has open.
pub fn open_descriptors(pid: u32) -> Result<usize> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/fd"))
        .with_context(|| format!("listing /proc/{pid}/fd"))?
        .count())
}

/// Waits until `pid` has at most `baseline + slack` descriptors open.
pub fn wait_descriptors(pid: u32, baseline: usize, slack: usize, within: Duration) -> Result<()> {
    let deadline = Instant::now() + within;
    loop {
        let open = open_descriptors(pid)?;
        if open <= baseline + slack {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{open} descriptors still open after {within:?} (baseline {baseline})");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A connection to `host_port` that has sent `bytes` and then nothing.
pub fn open_with(host_port: &str, bytes: &[u8]) -> Result<TcpStream> {
    let mut stream =
        TcpStream::connect(host_port).with_context(|| format!("connecting to {host_port}"))?;
    stream.write_all(bytes)?;
    Ok(stream)
}

/// Reads until the server closes the connection; how long that took, and what it sent.
pub fn until_closed(stream: &mut TcpStream, within: Duration) -> Result<(Duration, Vec<u8>)> {
    let started = Instant::now();
    stream.set_read_timeout(Some(within))?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok((started.elapsed(), got)),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Ok((started.elapsed(), got))
            }
            Err(e) => bail!(
                "the server kept the connection open past {within:?} ({e}); it had sent {:?}",
                String::from_utf8_lossy(&got)
            ),
        }
    }
}

/// The HTTP/2 connection preface and an empty SETTINGS frame: a client that
/// opens an HTTP/2 connection (prior knowledge) and then asks nothing.
pub const H2_PREFACE: &[u8] =
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";
