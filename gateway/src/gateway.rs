//! A request's path through the gateway, top to bottom: classify, pick the strategy for the route, execute, record.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use flotilla_node::access_log;
use http::{header, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use tracing::Instrument;

use crate::config::Config;
use crate::error::GatewayError;
use crate::members::Members;
use crate::metrics::Metrics;
use crate::placement::Ring;
use crate::proxy::{self, Client};
use crate::route::{self, Own, Route};
use crate::server::Body;

/// Everything shared by all requests. Immutable but for health and draining.
#[derive(Debug)]
pub(crate) struct Gateway {
    pub(crate) config: Config,
    pub(crate) ring: Ring,
    pub(crate) members: Arc<Members>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) draining: AtomicBool,
    /// The search schema documents are validated with.
    pub(crate) schema: crate::search::schema::HeldSchema,
    /// What all merges together may buffer (`limits.mergeBudgetBytes`).
    pub(crate) budget: crate::budget::Budget,
}

impl Gateway {
    pub(crate) fn new(config: Config) -> anyhow::Result<Self> {
        let metrics = Arc::new(Metrics::new(&config.cluster.members));
        let members = Arc::new(Members::new(&config, metrics.clone())?);
        let ring = Ring::new(
            config.placement,
            config.hash_key(),
            config.cluster.members.clone(),
        );
        let budget = crate::budget::Budget::new(
            config.limits.merge_budget_bytes,
            metrics.merge_budget_gauge(),
        );
        Ok(Self {
            budget,
            config,
            ring,
            members,
            metrics,
            draining: AtomicBool::new(false),
            schema: crate::search::schema::HeldSchema::built_in(),
        })
    }

    /// Answers one request; every failure becomes its wire form here. Its
    /// access line is written when the response body ends.
    pub(crate) async fn handle(&self, client: &Client, req: Request<Incoming>) -> Response<Body> {
        let _in_flight = self.metrics.in_flight();
        let started = tokio::time::Instant::now();
        let entry = access_log::Entry::of(&req);
        let span = access_log::span(&req);
        let (parts, body) = req.into_parts();
        let route = route::classify(&parts);
        let req = Request::from_parts(parts, body);
        let class = route.class();
        let (resp, member) = self
            .execute(route, client, req)
            .instrument(span.clone())
            .await;
        let resp = span.in_scope(|| resp.unwrap_or_else(|err| error_response(&err)));
        self.metrics
            .observe(class, &member, resp.status().as_u16(), started.elapsed());
        entry.respond(resp, Some(member)).map(BodyExt::boxed)
    }

    /// One strategy per route. Returns the answer and the member label for metrics.
    async fn execute(
        &self,
        route: Route,
        client: &Client,
        req: Request<Incoming>,
    ) -> (Result<Response<Body>, GatewayError>, String) {
        match route {
            Route::Own(own) => (Ok(self.own(own)), String::new()),
            Route::Loop => (Err(GatewayError::Loop), String::new()),
            Route::BadTarget { target } => (Err(GatewayError::bad_target(&target)), String::new()),
            Route::InvalidName { name } => (Err(GatewayError::name_invalid(&name)), String::new()),
            Route::Repository { name, .. } => {
                self.forward(self.ring.owner(&name), client, req).await
            }
            Route::UserPrefs { repo: Some(repo) } => {
                self.forward(self.ring.owner(&repo), client, req).await
            }
            Route::Mount { name, from, digest } => {
                let member = self.members.get(self.ring.owner(&name)).name.clone();
                (
                    crate::mount::mount(self, client, req, &name, &from, &digest).await,
                    member,
                )
            }
            Route::Catalog => (crate::catalog::catalog(self, client, req).await, "*".into()),
            Route::Search => (
                crate::search::engine::handle(self, client, req).await,
                "*".into(),
            ),
            Route::UserPrefs { repo: None } | Route::AnyMember { .. } => {
                match self.members.pick() {
                    Ok(index) => self.forward(index, client, req).await,
                    Err(err) => (Err(err), String::new()),
                }
            }
        }
    }

    /// Proxy-once to member `index`.
    pub(crate) async fn forward(
        &self,
        index: usize,
        client: &Client,
        req: Request<Incoming>,
    ) -> (Result<Response<Body>, GatewayError>, String) {
        let member = self.members.get(index).name.clone();
        let origin = proxy::origin(req.headers(), req.uri(), client);
        let result = async {
            let up = proxy::upstream_request(&self.members, index, client, req)?;
            let resp = self.members.send(index, up).await?;
            Ok(proxy::relay(&self.members, index, &origin, resp))
        }
        .await;
        (result, member)
    }

    fn own(&self, own: Own) -> Response<Body> {
        match own {
            Own::ServerOptions => {
                let mut resp = text(StatusCode::OK, "text/plain", Bytes::new());
                resp.headers_mut().remove(header::CONTENT_TYPE);
                resp
            }
            Own::Livez => text(StatusCode::OK, "text/plain; charset=utf-8", "ok".into()),
            Own::Readyz => {
                let draining = self.draining.load(Ordering::Relaxed);
                if draining {
                    text(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "text/plain; charset=utf-8",
                        "draining".into(),
                    )
                } else if !self.members.any_up() {
                    text(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "text/plain; charset=utf-8",
                        "no member reachable".into(),
                    )
                } else {
                    text(StatusCode::OK, "text/plain; charset=utf-8", "ok".into())
                }
            }
            Own::Metrics => text(
                StatusCode::OK,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                self.metrics.encode().into(),
            ),
        }
    }
}

pub(crate) fn text(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Body> {
    let mut resp = Response::new(Full::new(body).map_err(|never| match never {}).boxed());
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    resp
}

/// The one mapping of [`GatewayError`] to a response.
pub(crate) fn error_response(err: &GatewayError) -> Response<Body> {
    if err.status().is_server_error() {
        tracing::warn!(error = %err, "request failed at the gateway");
    }
    text(err.status(), "application/json", err.body().into())
}
