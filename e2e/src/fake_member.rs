//! A fake member, for faults a real node cannot make: `/v2/` answers 200 (so probes find it up), every other request goes to the test's handler.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;

use anyhow::Result;

/// A listening fake member; its threads end with the test process.
#[derive(Debug)]
pub struct FakeMember {
    port: u16,
}

/// One request the handler answers: its head read, its body not yet.
#[derive(Debug)]
pub struct Exchange {
    /// `PUT /v2/x/manifests/v1 HTTP/1.1`, without the line end.
    pub request_line: String,
    /// Header lines, lower-cased names, values trimmed.
    pub headers: Vec<(String, String)>,
    reader: BufReader<TcpStream>,
    stream: TcpStream,
}

impl Exchange {
    /// `Content-Length`, if the request declared one.
    pub fn content_length(&self) -> Option<u64> {
        self.headers
            .iter()
            .find(|(name, _)| name == "content-length")
            .and_then(|(_, value)| value.parse().ok())
    }

    /// Reads and discards `len` bytes of the body (fewer if the peer closes first).
    pub fn drain(&mut self, len: u64) -> io::Result<u64> {
        io::copy(&mut (&mut self.reader).take(len), &mut io::sink())
    }

    /// Writes `bytes` to the gateway and flushes.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }
}

impl FakeMember {
    /// Listens on a loopback port; each connection's requests (after any
    /// `/v2/` probes) go to `handler`, and the connection closes when it returns.
    pub fn start(
        handler: impl Fn(Exchange) -> io::Result<()> + Send + Sync + 'static,
    ) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let handler = Arc::new(handler);
        thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let handler = handler.clone();
                thread::spawn(move || serve(stream, &*handler));
            }
        });
        Ok(Self { port })
    }

    /// `127.0.0.1:<port>`, as the gateway's `cluster.members` names it.
    pub fn host_port(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

fn serve(stream: TcpStream, handler: &dyn Fn(Exchange) -> io::Result<()>) -> io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut stream = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? <= 2 {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
            }
        }
        let request_line = request_line.trim_end().to_owned();
        if request_line.starts_with("GET /v2/ ") || request_line.starts_with("HEAD /v2/ ") {
            stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")?;
            continue;
        }
        return handler(Exchange {
            request_line,
            headers,
            reader,
            stream,
        });
    }
}
