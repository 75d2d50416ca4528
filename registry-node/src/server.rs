//! Serving: builds the node from its config (every file, storage and metadata checked), then answers connections on an already-bound listener until shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::trace::TraceLayer;
use tracing::Instrument;

use crate::api::extensions::Extensions;
use crate::api::{self, Node};
use crate::auth::Access;
use crate::meta::Meta;
use crate::stall::Stalling;
use crate::storage::Store;
use crate::Config;
use flotilla_serve::access_log::{self, Entry};

/// How long in-flight requests may run after shutdown is asked for.
const DRAIN_DEADLINE: Duration = Duration::from_secs(30);
/// How often expired UI sessions are removed. Each is refused once expired
/// whenever it is met, so this only bounds the files left behind; zot's
/// cleaner runs every two hours.
const SESSION_SWEEP_EVERY: Duration = Duration::from_secs(60 * 60);

/// A node ready to serve: its files read, storage open, metadata loaded.
pub struct Server {
    node: Arc<Node>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    stall: Duration,
    limits: flotilla_serve::listener::Limits,
    upload_expiry: Duration,
}

/// Builds the node from `config`, failing before anything is served when a
/// file it names cannot be read, the TLS material is bad, or storage or the
/// metadata cannot be opened. The binary binds first, builds, and only then
/// prints its `listening on` line, so the line means the node is ready.
pub async fn build(config: &Config) -> anyhow::Result<Server> {
    let tls = check(config)?;
    let node = Arc::new(build_node(config).await?);
    Ok(Server {
        node,
        tls,
        stall: config.timeouts.body_stall,
        limits: config.timeouts.listener(&config.limits),
        upload_expiry: config.storage.upload_expiry(),
    })
}

/// What `verify` checks beyond the config's text, and `build` first: every
/// file the config names can be read, and the TLS material makes a TLS
/// configuration (returned, for `build`).
pub fn check(config: &Config) -> anyhow::Result<Option<tokio_rustls::TlsAcceptor>> {
    config.check_files()?;
    flotilla_serve::tls::acceptor(config.http.tls.as_ref())
}

impl Server {
    /// Serves the registry on `listener` until `shutdown` resolves, then lets
    /// in-flight requests finish (up to a deadline). The caller binds, so
    /// tests can bind port 0.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let Self {
            node,
            tls,
            stall,
            limits,
            upload_expiry,
        } = self;
        let flusher = node.meta.as_ref().map(Meta::spawn_flusher);
        let sweeper = spawn_upload_sweeper(node.clone(), upload_expiry);
        let session_sweeper = node
            .access
            .ui_sessions()
            .then(|| spawn_session_sweeper(node.clone()));
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
                        let resp = run_to_completion(node, req).await;
                        Ok::<_, std::convert::Infallible>(entry.respond(resp, None))
                    }
                });
            TowerToHyperService::new(service)
        };
        let stopping = flotilla_serve::listener::Stopping {
            linger: Duration::ZERO,
            drain: DRAIN_DEADLINE,
        };
        flotilla_serve::listener::run(
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
        if let Some(session_sweeper) = session_sweeper {
            session_sweeper.abort();
        }
        if let Some(meta) = &node.meta {
            // Pull counts still in memory are written before the node exits.
            if let Some(flusher) = flusher {
                flusher.abort();
            }
            meta.flush().await;
        }
        Ok(())
    }
}

/// Answers `req`. A write runs on its own task: hyper drops a request's
/// future when its client goes away, and a write dropped between its storage
/// change and its metadata update (a manifest deleted, its tags still listed
/// by search) would leave the two disagreeing. zot's handlers, too, run to
/// the end whatever the client does.
async fn run_to_completion(node: Arc<Node>, req: api::Request) -> api::Response {
    if matches!(*req.method(), http::Method::GET | http::Method::HEAD) {
        return api::handle(node, req).await;
    }
    let task = tokio::spawn(api::handle(node, req).instrument(tracing::Span::current()));
    match task.await {
        Ok(resp) => resp,
        Err(err) => {
            tracing::error!(error = %err, "request handler failed");
            api::response::error(crate::error::NodeError::Status(
                http::StatusCode::INTERNAL_SERVER_ERROR,
            ))
        }
    }
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

/// Removes expired UI sessions at start, then every [`SESSION_SWEEP_EVERY`].
fn spawn_session_sweeper(node: Arc<Node>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(SESSION_SWEEP_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match node.access.sweep_sessions().await {
                Ok(0) => {}
                Ok(removed) => tracing::info!(removed, "removed expired UI sessions"),
                Err(err) => tracing::warn!(%err, "could not remove expired UI sessions"),
            }
        }
    })
}

async fn build_node(config: &Config) -> anyhow::Result<Node> {
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
    let ui = config
        .extensions
        .as_ref()
        .and_then(|e| e.ui_directory())
        .map(flotilla_serve::ui::UiFiles::new)
        .transpose()?;
    Ok(Node {
        store,
        access,
        meta,
        extensions: Extensions::from_config(config),
        ui,
    })
}
