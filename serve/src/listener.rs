//! The accept loop both binaries share: HTTP/1.1 and HTTP/2 on a bound listener, plain or TLS, with every connection bounded in number and time, drained on shutdown.
//!
//! What bounds a client:
//! - at most [`Limits::connections`] at once; past that a new connection is
//!   answered `503` (plain HTTP) or closed (TLS) at once, and dropped;
//! - a TLS handshake, and an HTTP/1 request head, within [`Limits::header`]
//!   (hyper's timer counts from when the connection is ready for the next
//!   head, so on HTTP/1 it also bounds a keep-alive connection's wait);
//! - a connection of either protocol with no request in flight for
//!   [`Limits::idle`] is closed gracefully;
//! - a connection the server closes is drained briefly ([`linger`]) so an
//!   early answer (413, 401) reaches a client that is still sending.

mod activity;
mod linger;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};

use crate::workers::Workers;
use activity::{Activity, Tracked};
use linger::Lingering;

/// The most a client's HTTP/1 connection buffers, reading a request or
/// queueing a response: enough for any request head, small enough that
/// hundreds of concurrent transfers stay within a few MiB (hyper's default
/// grows to ~400 KiB each), large enough to keep pushes and pulls at full speed.
const MAX_BUF: usize = 128 * 1024;

/// How a listener stops: `linger` keeps accepting after the shutdown signal
/// (so a load balancer's health check sees `/readyz` answer 503 and moves
/// traffic away before connections are refused), then open connections get
/// `drain` to finish their in-flight requests.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stopping {
    pub linger: Duration,
    pub drain: Duration,
}

/// What clients may hold of the server, and the threads that serve them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections open at once.
    pub connections: usize,
    /// A TLS handshake or an HTTP/1 request head must arrive within this.
    pub header: Duration,
    /// A connection with no request in flight for this long is closed.
    pub idle: Duration,
    /// Threads connections are dealt to ([`Workers`]); 0 serves them on the
    /// caller's runtime.
    pub workers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            connections: 10_000,
            header: Duration::from_secs(30),
            idle: Duration::from_secs(90),
            workers: 0,
        }
    }
}

/// The answer to a connection over the cap: plain HTTP/1.1, whatever the
/// client meant to send, because nothing of the request has been read.
const SHED: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\n\
retry-after: 1\r\n\
connection: close\r\n\
content-length: 108\r\n\r\n\
{\"errors\":[{\"code\":\"UNAVAILABLE\",\"message\":\"too many connections\",\"detail\":{\"limit\":\"limits.connections\"}}]}";

/// How long an idle connection's goodbye may take (HTTP/2's GOAWAY waits
/// for the client's acknowledgement of a PING): a round trip, with room.
const GOODBYE: Duration = Duration::from_secs(2);

/// Connections over the cap being answered at once; past this they are
/// closed unanswered, so a flood cannot turn the answers into a second one.
pub const SHEDDING: usize = 64;

/// Accepts connections until `shutdown` resolves, serving each with the
/// service `make_service(peer)` returns. Then `on_drain` runs (a gateway
/// turns `/readyz` to 503 there) and the listener stops as `stopping` says.
pub async fn run<M, S, B>(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
    stopping: Stopping,
    limits: Limits,
    on_drain: impl FnOnce(),
    make_service: M,
) where
    M: Fn(SocketAddr) -> S,
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .max_buf_size(MAX_BUF)
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header);
    builder.http2().timer(TokioTimer::new());
    let open = Arc::new(Semaphore::new(limits.connections));
    let shedding = Arc::new(Semaphore::new(SHEDDING));
    let workers = match limits.workers {
        0 => None,
        count => match Workers::start(count) {
            Ok(workers) => Some(workers),
            Err(e) => {
                tracing::warn!(error = %e, "worker threads not started; serving on the main runtime");
                None
            }
        },
    };
    let (closing, closing_rx) = watch::channel(false);
    let mut refused = Refusals::default();
    tokio::pin!(shutdown);
    let mut on_drain = Some(on_drain);
    let linger = tokio::time::sleep(Duration::MAX);
    tokio::pin!(linger);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    refused.accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown, if on_drain.is_some() => {
                if let Some(on_drain) = on_drain.take() {
                    on_drain();
                }
                linger.as_mut().reset(tokio::time::Instant::now() + stopping.linger);
                continue;
            }
            () = &mut linger => break,
        };
        refused.accepted();
        let _ = stream.set_nodelay(true);
        let Ok(permit) = open.clone().try_acquire_owned() else {
            shed(stream, tls.is_none(), &shedding, limits.connections);
            continue;
        };
        let stream = match &workers {
            Some(_) => match stream.into_std() {
                Ok(socket) => Accepted::Moving(socket),
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "accepted connection lost");
                    continue;
                }
            },
            None => Accepted::Here(stream),
        };
        let service = Tracked {
            inner: make_service(peer),
            activity: Activity::new(),
        };
        let builder = builder.clone();
        let tls = tls.clone();
        let closing = closing_rx.clone();
        let connection = async move {
            let stream = match stream.register() {
                Ok(stream) => Lingering::new(stream, permit),
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "connection not registered with its worker");
                    return;
                }
            };
            let result = match tls {
                None => serve(&builder, stream, service, limits, closing).await,
                Some(acceptor) => {
                    match tokio::time::timeout(limits.header, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => serve(&builder, stream, service, limits, closing).await,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    }
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        };
        match &workers {
            Some(workers) => workers.spawn(connection),
            None => drop(tokio::spawn(connection)),
        }
    }
    drop(listener);
    tracing::info!("shutting down, draining in-flight requests");
    let _ = closing.send(true);
    let all = u32::try_from(limits.connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(stopping.drain, open.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("drain deadline passed, closing remaining connections");
    }
}

/// An accepted connection on its way to the runtime that serves it.
enum Accepted {
    Here(TcpStream),
    /// Taken off the accepting runtime's reactor: a socket wakes the runtime
    /// it is registered with, so it is registered again by its worker and
    /// its readiness wakes that thread alone.
    Moving(std::net::TcpStream),
}

impl Accepted {
    /// The socket, registered with the calling runtime.
    fn register(self) -> std::io::Result<TcpStream> {
        match self {
            Self::Here(stream) => Ok(stream),
            Self::Moving(socket) => TcpStream::from_std(socket),
        }
    }
}

/// Serves one connection until it ends, closing it gracefully when it has
/// been idle for `limits.idle` or when the listener shuts down.
async fn serve<I, S, B>(
    builder: &auto::Builder<TokioExecutor>,
    io: I,
    service: Tracked<S>,
    limits: Limits,
    mut closing: watch::Receiver<bool>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let activity = service.activity.clone();
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let idle = activity.idle_for(limits.idle);
    tokio::pin!(idle);
    let idled = tokio::select! {
        result = conn.as_mut() => return result,
        () = &mut idle => true,
        _ = closing.wait_for(|closing| *closing) => false,
    };
    conn.as_mut().graceful_shutdown();
    if !idled {
        // Draining: in-flight requests finish, within the listener's drain deadline.
        return conn.await;
    }
    // Nothing is in flight, so the goodbye is all that is left; an HTTP/2
    // client that never acknowledges it must not keep the connection.
    match tokio::time::timeout(GOODBYE, conn).await {
        Ok(result) => result,
        Err(_) => Ok(()),
    }
}

/// Answers a connection over the cap with a 503 (plain HTTP only) and
/// closes it; never waits in the accept loop.
fn shed(stream: TcpStream, plain: bool, shedding: &Arc<Semaphore>, limit: usize) {
    tracing::debug!(limit, "connection refused: limits.connections reached");
    let Ok(permit) = shedding.clone().try_acquire_owned() else {
        return;
    };
    tokio::spawn(async move {
        let _permit = permit;
        let mut stream = stream;
        if plain {
            let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(SHED)).await;
        }
        // The request was never read: drain what came of it, briefly, so
        // the close is not a reset that loses the 503 on its way.
        linger::drain(stream, None, Duration::from_millis(250)).await;
    });
}

/// Accept failures (out of descriptors, mostly): logged once a second with
/// how many there were, backing off so the loop does not spin.
#[derive(Debug, Default)]
struct Refusals {
    failed: u64,
    backoff: Duration,
    logged: Option<tokio::time::Instant>,
}

impl Refusals {
    async fn accept_failed(&mut self, e: std::io::Error) {
        self.failed += 1;
        let now = tokio::time::Instant::now();
        if self
            .logged
            .is_none_or(|at| now.duration_since(at) >= Duration::from_secs(1))
        {
            tracing::warn!(error = %e, failures = self.failed, "accept failed; backing off");
            self.logged = Some(now);
            self.failed = 0;
        }
        self.backoff = (self.backoff * 2).clamp(Duration::from_millis(5), Duration::from_secs(1));
        tokio::time::sleep(self.backoff).await;
    }

    fn accepted(&mut self) {
        self.backoff = Duration::ZERO;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shed_answer_is_well_formed() {
        let text = std::str::from_utf8(SHED).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["errors"][0]["code"], "UNAVAILABLE");
    }
}
