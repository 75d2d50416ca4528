//! The accept loop both binaries share: HTTP/1.1 and HTTP/2 on a bound listener, plain or TLS, drained on shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

/// The most an HTTP/1 connection buffers when reading: enough for any
/// request head, and small enough that hundreds of concurrent transfers
/// stay within a few MiB (hyper's default grows to ~400 KiB each); 128 KiB keeps large pulls at full speed.
pub const MAX_BUF: usize = 128 * 1024;

/// How a listener stops: `linger` keeps accepting after the shutdown signal
/// (so a load balancer's health check sees `/readyz` answer 503 and moves
/// traffic away before connections are refused), then open connections get
/// `drain` to finish their in-flight requests.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stopping {
    pub linger: Duration,
    pub drain: Duration,
}

/// Accepts connections until `shutdown` resolves, serving each with the
/// service `make_service(peer)` returns. Then `on_drain` runs (a gateway
/// turns `/readyz` to 503 there) and the listener stops as `stopping` says.
pub async fn run<M, S, B>(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
    stopping: Stopping,
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
    builder.http1().max_buf_size(MAX_BUF);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    let mut on_drain = Some(on_drain);
    let linger = tokio::time::sleep(Duration::MAX);
    tokio::pin!(linger);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
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
        let _ = stream.set_nodelay(true);
        let service = make_service(peer);
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            let result = match tls {
                None => {
                    let conn = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .into_owned();
                    watcher.watch(conn).await
                }
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(stream) => {
                        let conn = builder
                            .serve_connection(TokioIo::new(stream), service)
                            .into_owned();
                        watcher.watch(conn).await
                    }
                    Err(e) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                },
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down, draining in-flight requests");
    if tokio::time::timeout(stopping.drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("drain deadline passed, closing remaining connections");
    }
}
