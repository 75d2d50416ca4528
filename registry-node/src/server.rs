//! Serving: builds the node from its config and answers connections on an already-bound listener until shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::trace::TraceLayer;

use crate::access_log::{self, Entry};
use crate::api::extensions::Extensions;
use crate::api::{self, Node};
use crate::auth::Access;
use crate::meta::Meta;
use crate::stall::Stalling;
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
    let tls = crate::tls::acceptor(config.http.tls.as_ref())?;
    let node = Arc::new(build(&config).await?);
    let flusher = node.meta.as_ref().map(Meta::spawn_flusher);
    let sweeper = spawn_upload_sweeper(node.clone(), config.storage.upload_expiry());
    let stall = config.timeouts.body_stall;
    let make_service = |_peer| {
        let node = node.clone();
        let service = ServiceBuilder::new()
            // Outermost: every request has a sane id, returned to the client.
            .layer(access_log::request_ids())
            // Every line a request causes is written in its span.
            .layer(TraceLayer::new_for_http().make_span_with(access_log::span))
            // A client that stops sending its body fails its own request.
            .map_request(move |req: http::Request<hyper::body::Incoming>| {
                req.map(|body| Stalling::new(body, stall))
            })
            .service_fn(move |req| {
                let node = node.clone();
                let entry = Entry::of(&req);
                async move {
                    let resp = api::handle(node, req).await;
                    Ok::<_, std::convert::Infallible>(entry.respond(resp, None))
                }
            });
        TowerToHyperService::new(service)
    };
    let stopping = crate::listener::Stopping {
        linger: Duration::ZERO,
        drain: DRAIN_DEADLINE,
    };
    let limits = config.timeouts.listener(&config.limits);
    crate::listener::run(
        listener,
        tls,
        shutdown,
        stopping,
        limits,
        || {},
        make_service,
    )
    .await;
    sweeper.abort();
    if let Some(meta) = &node.meta {
        // Pull counts still in memory are written before the node exits.
        if let Some(flusher) = flusher {
            flusher.abort();
        }
        meta.flush().await;
    }
    Ok(())
}

/// Removes upload sessions idle for `expiry`, checking a few times per expiry
/// (at most every five minutes) so one is gone soon after it expires.
fn spawn_upload_sweeper(node: Arc<Node>, expiry: Duration) -> tokio::task::JoinHandle<()> {
    let period = (expiry / 4).clamp(Duration::from_millis(250), Duration::from_secs(300));
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let removed = node.store.sweep_uploads(expiry).await;
            if removed > 0 {
                tracing::info!(removed, "removed upload sessions idle for storage.gcDelay");
            }
        }
    })
}

async fn build(config: &Config) -> anyhow::Result<Node> {
    let root = config.storage.root_directory.clone();
    let store = Store::open(&root)
        .map_err(|e| anyhow::anyhow!("storage.rootDirectory `{}`: {e}", root.display()))?;
    let access = Access::from_config(config)?;
    let (store, meta) = if config.search_enabled() {
        // zot's startup parse: every repository read before the first request.
        let (store, meta) = tokio::task::spawn_blocking(move || {
            let meta = Meta::open(&store, &root);
            (store, meta)
        })
        .await?;
        (store, Some(Arc::new(meta?)))
    } else {
        (store, None)
    };
    Ok(Node {
        store,
        access,
        meta,
        extensions: Extensions::from_config(config),
    })
}
