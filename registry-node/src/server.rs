//! Serving: builds the node from its config and answers connections on an already-bound listener until shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

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
    let tls = match &config.http.tls {
        Some(tls) => Some(tokio_rustls::TlsAcceptor::from(crate::tls::server_config(
            tls,
        )?)),
        None => None,
    };
    let node = Arc::new(build(&config)?);
    let make_service = |_peer| {
        let node = node.clone();
        let service = ServiceBuilder::new()
            // Outermost, so every request is logged with its status and latency.
            .layer(TraceLayer::new_for_http())
            .service_fn(move |req| {
                let node = node.clone();
                async move { Ok::<_, std::convert::Infallible>(api::handle(node, req).await) }
            });
        TowerToHyperService::new(service)
    };
    let stopping = crate::listener::Stopping {
        linger: Duration::ZERO,
        drain: DRAIN_DEADLINE,
    };
    crate::listener::run(listener, tls, shutdown, stopping, || {}, make_service).await;
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
