//! The listener: accepts HTTP/1.1 and HTTP/2 (plain or TLS), hands each request to the gateway, and drains on shutdown.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::gateway::Gateway;
use crate::proxy::Client;

/// Every response body the gateway sends: streamed from a member, or its own.
pub(crate) type Body = BoxBody<Bytes, std::io::Error>;

/// Serves the gateway on `listener` until `shutdown` resolves. Then `/readyz`
/// turns 503, no new connection is accepted, and in-flight requests finish
/// within `timeouts.drain`. The caller binds, so tests can use port 0.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let tls = match &config.http.tls {
        Some(tls) => Some(tokio_rustls::TlsAcceptor::from(crate::tls::server_config(
            tls,
        )?)),
        None => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let drain = config.timeouts.drain;
    let (probe_interval, probe_timeout) = (config.timeouts.probe_interval, config.timeouts.probe);
    let gateway = Arc::new(Gateway::new(config)?);
    let probes = tokio::spawn(
        gateway
            .members
            .clone()
            .probe_forever(probe_interval, probe_timeout),
    );
    let builder = auto::Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let client = Client { peer, scheme };
        let gateway = gateway.clone();
        let service = hyper::service::service_fn(move |req| {
            let gateway = gateway.clone();
            let client = client.clone();
            async move { Ok::<_, std::convert::Infallible>(gateway.handle(&client, req).await) }
        });
        match &tls {
            None => {
                let conn = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let builder = builder.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let stream = match acceptor.accept(stream).await {
                        Ok(stream) => stream,
                        Err(e) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                    };
                    let conn = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .into_owned();
                    if let Err(e) = watcher.watch(conn).await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                });
            }
        }
    }
    gateway.draining.store(true, Ordering::Relaxed);
    drop(listener);
    tracing::info!("draining in-flight requests");
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("drain deadline passed, closing remaining connections");
    }
    probes.abort();
    Ok(())
}
