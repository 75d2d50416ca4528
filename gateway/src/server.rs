//! The gateway's listener: the shared accept loop (HTTP/1.1, HTTP/2, TLS) feeding every request to the gateway; drain on shutdown.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use flotilla_serve::access_log;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tower::ServiceBuilder;

use crate::client::Client;
use crate::config::Config;
use crate::dispatch;
use crate::reload;
use crate::state::Gateway;

/// A gateway ready to serve: its config's files read and its member clients built.
pub struct Server {
    gateway: Arc<Gateway>,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

/// Builds the gateway from `config`, failing before anything is served when
/// a file it names cannot be read or the TLS material is bad. The binary
/// binds first, builds, and only then prints its `listening on` line.
pub fn build(config: Config) -> anyhow::Result<Server> {
    config.check_files()?;
    let tls = flotilla_serve::tls::acceptor(config.http.tls.as_ref())?;
    let gateway = Arc::new(Gateway::new(config)?);
    if let Some(warning) = gateway.sessions.warning() {
        tracing::warn!("{warning}");
    }
    Ok(Server { gateway, tls })
}

impl Server {
    /// Serves the gateway on `listener` until `shutdown` resolves. Then
    /// `/readyz` turns 503, no new connection is accepted, and in-flight
    /// requests finish within `timeouts.drain`. Each config from `reloads`
    /// replaces the one in force for the requests that start after it (see
    /// `reload`). The caller binds, so tests can use port 0.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
        reloads: mpsc::Receiver<Config>,
    ) -> anyhow::Result<()> {
        let Self { gateway, tls } = self;
        let config = &gateway.config;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let stopping = flotilla_serve::listener::Stopping {
            linger: config.timeouts.drain_delay,
            drain: config.timeouts.drain,
        };
        let limits = config.client_limits();
        let draining = gateway.draining.clone();
        let (current, in_force) = watch::channel(gateway);
        let reloading = tokio::spawn(reload::run(current, reloads));
        let make_service = |peer| {
            let client = Client { peer, scheme };
            let in_force = in_force.clone();
            let service = ServiceBuilder::new()
                // Every request has a sane id, returned to the client and sent on to members.
                .layer(access_log::request_ids())
                .service_fn(move |req| {
                    // The state in force when the request starts, to its end.
                    let gateway = in_force.borrow().clone();
                    let client = client.clone();
                    async move {
                        Ok::<_, std::convert::Infallible>(
                            dispatch::handle(&gateway, &client, req).await,
                        )
                    }
                });
            TowerToHyperService::new(service)
        };
        let on_drain = || draining.store(true, Ordering::Relaxed);
        flotilla_serve::listener::run(
            listener,
            tls,
            shutdown,
            stopping,
            limits,
            on_drain,
            make_service,
        )
        .await;
        reloading.abort();
        Ok(())
    }
}
