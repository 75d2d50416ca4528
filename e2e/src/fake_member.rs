//! A scriptable fake registry member on 127.0.0.1, for the faults no real registry makes on cue: bad JSON, wrong types, a looping `Link`, a lying `Content-Length`, a body cut off or dripped, a redirect.
//!
//! It answers `GET /v2/` with 200 so the gateway's probes see it alive, and
//! every other request with the [`Reply`] its script gives for the path (404
//! when none), or, started with [`FakeMember::start`], hands the request to
//! the test's own handler to answer byte by byte ([`Exchange`]). Each
//! connection has its own thread and keeps alive as HTTP/1.1 does, unless a
//! reply breaks its framing. It records every scripted request it saw and
//! every connection it accepted, so a test can assert how much a fault cost,
//! or that a host was never contacted at all.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Result;

/// How a reply's body is framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length` of the body, as a correct server sends.
    Exact,
    /// `Content-Length: n` whatever the body's length; the connection closes
    /// after the body, so a longer `n` is a body cut short.
    Declared(u64),
    /// `Transfer-Encoding: chunked`; without its last chunk (`complete:
    /// false`) the connection closes where the body ends.
    Chunked { complete: bool },
}

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// Shared, so a large body served to many requests is held once.
    pub body: Arc<[u8]>,
    pub framing: Framing,
    /// Send the body `n` bytes at a time, waiting `every` between them.
    pub drip: Option<(usize, Duration)>,
    /// Close the connection after this many bytes of the body.
    pub close_after: Option<usize>,
}

impl Reply {
    /// `status` with `body` and its exact length.
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.into().into(),
            framing: Framing::Exact,
            drip: None,
            close_after: None,
        }
    }

    /// 200 with `body` as `application/json`.
    pub fn json(body: impl Into<Vec<u8>>) -> Self {
        Self::new(200, body).header("Content-Type", "application/json")
    }

    /// A `status` redirect to `location`.
    pub fn redirect(status: u16, location: &str) -> Self {
        Self::new(status, "").header("Location", location)
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn framing(mut self, framing: Framing) -> Self {
        self.framing = framing;
        self
    }

    /// Sends the body `bytes` at a time, `every` apart (1 and 1 s: a drip of 1 byte/s).
    pub fn drip(mut self, bytes: usize, every: Duration) -> Self {
        self.drip = Some((bytes.max(1), every));
        self
    }

    /// Closes the connection after `bytes` of the body.
    pub fn close_after(mut self, bytes: usize) -> Self {
        self.close_after = Some(bytes);
        self
    }

    /// Whether the connection must close after this reply (its framing lies).
    fn closes(&self) -> bool {
        self.close_after.is_some()
            || matches!(
                self.framing,
                Framing::Declared(_) | Framing::Chunked { complete: false }
            )
    }
}

/// A request as the fake member read it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    /// The path without its query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }
}

/// A script: the reply to a request, or `None` for the reply set for its path.
type Script = dyn Fn(&Seen) -> Option<Reply> + Send + Sync;

/// A handler that answers one request itself, on the connection.
type Handler = dyn Fn(Exchange) -> io::Result<()> + Send + Sync;

/// One request a handler answers: its head read, its body not yet.
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

struct Shared {
    routes: Mutex<HashMap<String, Reply>>,
    script: Option<Box<Script>>,
    handler: Option<Box<Handler>>,
    seen: Mutex<Vec<Seen>>,
    connections: AtomicUsize,
    stop: AtomicBool,
}

/// A running fake member; dropping it stops it.
pub struct FakeMember {
    addr: String,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for FakeMember {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeMember")
            .field("addr", &self.addr)
            .finish()
    }
}

impl FakeMember {
    /// A fake member that answers only the paths set with [`FakeMember::on`].
    pub fn routes() -> Result<Self> {
        Self::listen(None, None)
    }

    /// A fake member whose `script` picks the reply to each request (by its
    /// query or body, say); where it gives `None`, the path's reply is used.
    pub fn scripted(
        script: impl Fn(&Seen) -> Option<Reply> + Send + Sync + 'static,
    ) -> Result<Self> {
        Self::listen(Some(Box::new(script)), None)
    }

    /// A fake member that hands each request after the probes to `handler`,
    /// which answers it on the connection; the connection closes when it returns.
    pub fn start(
        handler: impl Fn(Exchange) -> io::Result<()> + Send + Sync + 'static,
    ) -> Result<Self> {
        Self::listen(None, Some(Box::new(handler)))
    }

    fn listen(script: Option<Box<Script>>, handler: Option<Box<Handler>>) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?.to_string();
        let shared = Arc::new(Shared {
            routes: Mutex::new(HashMap::new()),
            script,
            handler,
            seen: Mutex::new(Vec::new()),
            connections: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let accepting = shared.clone();
        let accept = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accepting.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                accepting.connections.fetch_add(1, Ordering::SeqCst);
                let shared = accepting.clone();
                std::thread::spawn(move || serve(stream, &shared));
            }
        });
        Ok(Self {
            addr,
            shared,
            accept: Some(accept),
        })
    }

    /// Answers `path` (without query) with `reply` from now on.
    pub fn on(&self, path: &str, reply: Reply) -> &Self {
        if let Ok(mut routes) = self.shared.routes.lock() {
            routes.insert(path.to_owned(), reply);
        }
        self
    }

    /// `127.0.0.1:<port>`, as `cluster.members` names it.
    pub fn host_port(&self) -> String {
        self.addr.clone()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Every request seen so far but the probes of `/v2/`.
    pub fn requests(&self) -> Vec<Seen> {
        self.shared
            .seen
            .lock()
            .map(|seen| {
                seen.iter()
                    .filter(|s| s.path() != "/v2/")
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// How many requests for `path` (without query) were seen.
    pub fn count(&self, path: &str) -> usize {
        self.requests().iter().filter(|s| s.path() == path).count()
    }
}

impl Drop for FakeMember {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(&self.addr);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// Serves one connection: requests in turn until the client closes, the
/// fake member stops, or a reply breaks the framing.
fn serve(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while !shared.stop.load(Ordering::SeqCst) {
        if let Some(handler) = &shared.handler {
            let _ = hand_over(reader, writer, handler);
            return;
        }
        let Some(seen) = read_request(&mut reader) else {
            return;
        };
        if let Ok(mut all) = shared.seen.lock() {
            all.push(seen.clone());
        }
        let reply = if seen.path() == "/v2/" {
            Reply::json("{}")
        } else {
            shared
                .script
                .as_ref()
                .and_then(|script| script(&seen))
                .or_else(|| shared.routes.lock().ok()?.get(seen.path()).cloned())
                .unwrap_or_else(|| Reply::new(404, ""))
        };
        if write_reply(&mut writer, &reply, shared).is_err() || reply.closes() {
            let _ = writer.shutdown(Shutdown::Both);
            return;
        }
    }
}

/// Answers the probes, then gives the next request to `handler`.
fn hand_over(
    mut reader: BufReader<TcpStream>,
    mut stream: TcpStream,
    handler: &Handler,
) -> io::Result<()> {
    loop {
        let Some((request_line, headers)) = read_head(&mut reader) else {
            return Ok(());
        };
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

/// A request line (without its end) and header lines (names lower-cased);
/// `None` at the end of the connection.
fn read_head(reader: &mut BufReader<TcpStream>) -> Option<(String, Vec<(String, String)>)> {
    let mut line = String::new();
    reader.read_line(&mut line).ok().filter(|n| *n > 0)?;
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok().filter(|n| *n > 0)?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    Some((line.trim_end().to_owned(), headers))
}

/// Reads a request head and its `Content-Length` body; `None` at the end of the connection.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Seen> {
    let (line, headers) = read_head(reader)?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Seen {
        method,
        target,
        headers,
        body,
    })
}

fn write_reply(out: &mut TcpStream, reply: &Reply, shared: &Shared) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {} Fake\r\n", reply.status);
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    match reply.framing {
        Framing::Exact => head.push_str(&format!("Content-Length: {}\r\n", reply.body.len())),
        Framing::Declared(n) => head.push_str(&format!("Content-Length: {n}\r\n")),
        Framing::Chunked { .. } => head.push_str("Transfer-Encoding: chunked\r\n"),
    }
    if reply.closes() {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes())?;
    let body = match reply.close_after {
        Some(n) => &reply.body[..n.min(reply.body.len())],
        None => &reply.body[..],
    };
    let step = reply.drip.map_or(64 << 10, |(n, _)| n);
    let chunked = matches!(reply.framing, Framing::Chunked { .. });
    for piece in body.chunks(step) {
        if shared.stop.load(Ordering::SeqCst) {
            return Err(std::io::ErrorKind::Interrupted.into());
        }
        if chunked {
            out.write_all(format!("{:x}\r\n", piece.len()).as_bytes())?;
            out.write_all(piece)?;
            out.write_all(b"\r\n")?;
        } else {
            out.write_all(piece)?;
        }
        out.flush()?;
        if let Some((_, every)) = reply.drip {
            std::thread::sleep(every);
        }
    }
    if reply.framing == (Framing::Chunked { complete: true }) && reply.close_after.is_none() {
        out.write_all(b"0\r\n\r\n")?;
    }
    out.flush()
}
