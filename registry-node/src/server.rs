//! Serving: builds the node from its config and answers connections on an already-bound listener until shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::trace::TraceLayer;

use crate::api::{self, Node};
use crate::auth::Access;
use crate::storage::Store;
use crate::Config;

/// How long in-flight requests may run after shutdown is asked for.
const DRAIN_DEADLINE: Duration = Duration::from_secs(30);

/// Serves the registry on `listener` until `shutdown` resolves, then lets
/// in-flight requests finish (up to a deadline). The caller binds, so tests
/// can bind port 0 and the binary can print the address first.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let node = Arc::new(build(&config)?);
    let builder = auto::Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: back off, keep serving.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let node = node.clone();
                let service = ServiceBuilder::new()
                    // Outermost, so every request is logged with its status and latency.
                    .layer(TraceLayer::new_for_http())
                    .service_fn(move |req| {
                        let node = node.clone();
                        async move { Ok::<_, std::convert::Infallible>(api::handle(node, req).await) }
                    });
                let conn = builder
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                    .into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tracing::info!("shutting down, draining in-flight requests");
    if tokio::time::timeout(DRAIN_DEADLINE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("drain deadline passed, closing remaining connections");
    }
    Ok(())
}

fn build(config: &Config) -> anyhow::Result<Node> {
    let store = Store::open(&config.storage.root_directory).map_err(|e| {
        anyhow::anyhow!(
            "storage.rootDirectory `{}`: {e}",
            config.storage.root_directory.display()
        )
    })?;
    let access = Access::from_config(config)?;
    Ok(Node { store, access })
}
