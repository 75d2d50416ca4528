//! What one client may hold of a server, for the node and the gateway alike: slow request heads are cut off, idle connections closed, a flood past the cap shed with a 503, a stalled body failed, and ordinary requests keep answering throughout.

use std::net::TcpStream;
use std::time::Duration;

use tokio::time::Instant;

use anyhow::{ensure, Context, Result};
use flotilla_e2e::conns::{self, open_descriptors, open_with, until_closed, wait_descriptors};
use flotilla_e2e::{Gateway, Node, Registry};
use serde_json::{json, Value};

/// One of the two binaries under test, with what keeps it running.
struct Server {
    name: &'static str,
    host_port: String,
    pid: u32,
    _node: Node,
    _gateway: Option<Gateway>,
}

impl Server {
    fn http(&self) -> Registry {
        Registry::new(&format!("http://{}", self.host_port))
    }

    fn descriptors(&self) -> Result<usize> {
        open_descriptors(self.pid)
    }
}

/// A node, and a gateway in front of another node, each with `settings`.
fn both(settings: &[(&'static str, Value)]) -> Result<Vec<Server>> {
    let mut node = Node::builder();
    for (key, value) in settings {
        node = node.setting(key, value.clone());
    }
    let node = node.start()?;
    let member = Node::start()?;
    let mut gateway = Gateway::builder().members(&[member.host_port()]);
    for (key, value) in settings {
        gateway = gateway.setting(key, value.clone());
    }
    let gateway = gateway.start()?;
    Ok(vec![
        Server {
            name: "node",
            host_port: node.host_port(),
            pid: node.pid().context("node pid")?,
            _node: node,
            _gateway: None,
        },
        Server {
            name: "gateway",
            host_port: gateway.host_port(),
            pid: gateway.pid().context("gateway pid")?,
            _node: member,
            _gateway: Some(gateway),
        },
    ])
}

/// `GET /v2/` on a fresh connection answers 200 within a second.
fn answers_promptly(server: &Server) -> Result<()> {
    let started = Instant::now();
    let status = server.http().get("/v2/").send()?.status();
    let took = started.elapsed();
    ensure!(
        status == 200 && took < Duration::from_secs(1),
        "{}: GET /v2/ answered {status} after {took:?}",
        server.name
    );
    Ok(())
}

/// Slowloris: clients that send half a request head and then nothing held a
/// connection for ever. They are cut at `timeouts.requestHeader`, and while
/// they hang on, everyone else is answered as usual.
#[test]
fn slow_request_heads_are_cut_off_while_others_are_answered() -> Result<()> {
    for server in both(&[
        ("timeouts.requestHeader", json!("1s")),
        ("timeouts.idle", json!("30s")),
    ])? {
        let baseline = server.descriptors()?;
        let mut slow = (0..200)
            .map(|_| {
                open_with(
                    &server.host_port,
                    b"GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Slow: ",
                )
            })
            .collect::<Result<Vec<TcpStream>>>()?;
        for _ in 0..5 {
            answers_promptly(&server)?;
        }
        for stream in &mut slow {
            let (took, _) = until_closed(stream, Duration::from_secs(5))
                .with_context(|| format!("{}: a slow head", server.name))?;
            ensure!(took < Duration::from_secs(4), "{}: {took:?}", server.name);
        }
        drop(slow);
        wait_descriptors(server.pid, baseline, 2, Duration::from_secs(5))
            .with_context(|| server.name)?;
        answers_promptly(&server)?;
    }
    Ok(())
}

/// Keep-alive connections with nothing in flight, HTTP/1.1 and HTTP/2, and
/// connections that never said anything, are closed at `timeouts.idle`.
#[test]
fn idle_connections_are_closed_on_both_protocols() -> Result<()> {
    for server in both(&[
        ("timeouts.requestHeader", json!("30s")),
        ("timeouts.idle", json!("1s")),
    ])? {
        let baseline = server.descriptors()?;
        let h1 = "GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n".as_bytes();
        for (what, hello) in [
            ("an HTTP/1.1 keep-alive connection", h1),
            ("an HTTP/2 connection", conns::H2_PREFACE),
            ("a silent connection", b"".as_slice()),
        ] {
            let mut stream = open_with(&server.host_port, hello)?;
            let (took, said) = until_closed(&mut stream, Duration::from_secs(5))
                .with_context(|| format!("{}: {what}", server.name))?;
            ensure!(
                took >= Duration::from_millis(800) && took < Duration::from_millis(4500),
                "{}: {what} closed after {took:?}",
                server.name
            );
            if hello == h1 {
                ensure!(said.starts_with(b"HTTP/1.1 200"), "{}: {what}", server.name);
            }
        }
        wait_descriptors(server.pid, baseline, 2, Duration::from_secs(5))
            .with_context(|| server.name)?;
    }
    Ok(())
}

/// At the descriptor limit new clients hung while the log filled. Past
/// `limits.connections` a client is told at once, and the server recovers
/// as soon as the flood ends.
#[test]
fn a_flood_past_the_cap_is_answered_503_and_the_server_recovers() -> Result<()> {
    let cap = 32;
    for server in both(&[
        ("limits.connections", json!(cap)),
        ("timeouts.idle", json!("30s")),
    ])? {
        let baseline = server.descriptors()?;
        let held = (0..cap)
            .map(|_| open_with(&server.host_port, b""))
            .collect::<Result<Vec<TcpStream>>>()?;
        // The server has taken every held connection once it holds their descriptors.
        let deadline = Instant::now() + Duration::from_secs(5);
        while server.descriptors()? < baseline + cap {
            ensure!(
                Instant::now() < deadline,
                "{}: held connections",
                server.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        for _ in 0..50 {
            let mut over = open_with(&server.host_port, b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n")?;
            let (took, said) = until_closed(&mut over, Duration::from_secs(3))?;
            let said = String::from_utf8_lossy(&said);
            ensure!(
                said.starts_with("HTTP/1.1 503") && said.contains("limits.connections"),
                "{}: over the cap got {said:?}",
                server.name
            );
            ensure!(took < Duration::from_secs(1), "{}: {took:?}", server.name);
        }
        drop(held);
        let deadline = Instant::now() + Duration::from_secs(3);
        while server.http().get("/v2/").send().map(|r| r.status()).ok() != Some(200.try_into()?) {
            ensure!(Instant::now() < deadline, "{}: no recovery", server.name);
            std::thread::sleep(Duration::from_millis(50));
        }
        answers_promptly(&server)?;
        wait_descriptors(server.pid, baseline, 2, Duration::from_secs(5))
            .with_context(|| server.name)?;
    }
    Ok(())
}

/// At the descriptor limit, new clients hung while the log filled with
/// `accept failed`. Under a hard limit too low for `limits.connections`, the
/// cap is lowered to fit at start, so a flood is answered 503 rather than
/// left to the kernel, and the server serves again as soon as it ends.
#[test]
fn a_descriptor_limit_below_the_cap_lowers_the_cap_to_fit() -> Result<()> {
    let node = Node::builder().descriptor_limit(256).start()?;
    ensure!(
        node.log().contains("the cap is lowered to fit"),
        "no warning at start:\n{}",
        node.log()
    );
    let request = b"GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let flood = (0..300)
        .map(|_| open_with(&node.host_port(), request))
        .collect::<Result<Vec<TcpStream>>>()?;
    let (mut ok, mut shed) = (0, 0);
    for mut stream in flood {
        // Every client hears back or is closed; none is left hanging.
        let (_, said) = until_closed(&mut stream, Duration::from_secs(5))?;
        ok += usize::from(said.starts_with(b"HTTP/1.1 200"));
        shed += usize::from(said.starts_with(b"HTTP/1.1 503"));
    }
    ensure!(
        ok > 0 && shed > 0,
        "of 300 clients {ok} got 200 and {shed} got 503"
    );
    let log = node.log();
    ensure!(
        !log.contains("accept failed"),
        "the kernel refused clients:\n{log}"
    );
    let server = Server {
        name: "node",
        host_port: node.host_port(),
        pid: node.pid().context("node pid")?,
        _node: node,
        _gateway: None,
    };
    answers_promptly(&server).map_err(|e| e.context("after the flood"))
}

/// A client that stops sending its body held the connection and the upload
/// for ever; it is failed at `timeouts.bodyStall`, and the connection freed.
#[test]
fn a_stalled_request_body_is_cut_at_the_stall_bound() -> Result<()> {
    let node = Node::builder()
        .setting("timeouts.bodyStall", json!("1s"))
        .start()?;
    let pid = node.pid().context("node pid")?;
    let baseline = open_descriptors(pid)?;
    let start = node.http().post("/v2/stall/blobs/uploads/").send()?;
    ensure!(start.status() == 202, "upload start: {}", start.status());
    let location = start.headers()["location"].to_str()?.to_owned();
    let mut stream = open_with(
        &node.host_port(),
        format!(
            "PATCH {location} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n\
             Content-Length: 100000\r\n\r\nonly the first bytes"
        )
        .as_bytes(),
    )?;
    let (took, _) = until_closed(&mut stream, Duration::from_secs(5))?;
    ensure!(
        took >= Duration::from_millis(800) && took < Duration::from_secs(4),
        "closed after {took:?}"
    );
    wait_descriptors(pid, baseline, 2, Duration::from_secs(5))?;
    let status = node.http().get(&location).send()?.status();
    ensure!(
        status == 204,
        "the upload session is still usable: {status}"
    );
    Ok(())
}
