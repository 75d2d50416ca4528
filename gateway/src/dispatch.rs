//! A request's path through the gateway, top to bottom: classify, pick the strategy for the route, execute, record.

use std::sync::atomic::Ordering;

use flotilla_serve::access_log;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tracing::Instrument;

use crate::client::Client;
use crate::error::GatewayError;
use crate::placement::Owners;
use crate::proxy;
use crate::response::{self, Body};
use crate::route::{self, Own, Route};
use crate::state::Gateway;
use crate::window;

/// Answers one request; every failure becomes its wire form here. Its
/// access line is written when the response body ends.
pub(crate) async fn handle(
    gw: &Gateway,
    client: &Client,
    req: Request<Incoming>,
) -> Response<Body> {
    let _in_flight = gw.metrics.in_flight();
    let started = tokio::time::Instant::now();
    let entry = access_log::Entry::of(&req);
    // Every line the request causes is written in its span. Entered here,
    // around the gateway's own work, not around each chunk of a streamed body
    // (as tower-http's TraceLayer would: 18% more CPU per GiB pulled).
    let span = access_log::span(&req);
    let (mut parts, body) = req.into_parts();
    let route = route::classify(&parts);
    let class = route.class();
    let (resp, member) = async {
        let exchange = match crate::session::inbound(gw, client, &route, &mut parts).await {
            Ok(exchange) => exchange,
            Err(err) => return (Err(err), String::new()),
        };
        let req = Request::from_parts(parts, body);
        let (resp, member) = execute(gw, route, client, req).await;
        (exchange.outbound(gw, resp).await, member)
    }
    .instrument(span.clone())
    .await;
    let resp = span.in_scope(|| resp.unwrap_or_else(|err| response::error(&err)));
    gw.metrics
        .observe(class, &member, resp.status().as_u16(), started.elapsed());
    entry.respond(resp, Some(member)).map(BodyExt::boxed)
}

/// One strategy per route. Returns the answer and the member label for metrics.
///
/// The rare routes with large futures (search, catalog, mount, logout, a
/// repository in its migration window) are boxed: an `async fn` is as big
/// as its largest branch, and this one's future is moved and copied with
/// every request, pulls included, which those kilobytes slowed.
async fn execute(
    gw: &Gateway,
    route: Route,
    client: &Client,
    req: Request<Incoming>,
) -> (Result<Response<Body>, GatewayError>, String) {
    match route {
        Route::Own(own) => (Ok(own_answer(gw, own)), String::new()),
        Route::Loop => (Err(GatewayError::Loop), String::new()),
        Route::BadTarget { target } => (Err(GatewayError::bad_target(&target)), String::new()),
        Route::InvalidName { name } => (Err(GatewayError::name_invalid(&name)), String::new()),
        Route::Repository { name, .. } => match gw.owners(&name) {
            (owner, None) => proxy::forward(gw, owner, client, req).await,
            (owner, Some(previous)) => {
                Box::pin(window::repository(
                    gw,
                    client,
                    req,
                    &name,
                    (owner, previous),
                ))
                .await
            }
        },
        Route::UserPrefs { repo: Some(repo) } => {
            proxy::forward(gw, gw.ring.owner(&repo), client, req).await
        }
        Route::Mount { name, from, digest } => {
            let member = gw.members.get(gw.ring.owner(&name)).name.clone();
            (
                Box::pin(crate::mount::mount(gw, client, req, &name, &from, &digest)).await,
                member,
            )
        }
        Route::Catalog => (
            Box::pin(crate::catalog::catalog(gw, client, req)).await,
            "*".into(),
        ),
        Route::Search => (
            Box::pin(crate::search::engine::handle(gw, client, req)).await,
            "*".into(),
        ),
        Route::Logout => {
            let (parts, _) = req.into_parts();
            (
                Box::pin(crate::session::logout(gw, &parts)).await,
                String::new(),
            )
        }
        Route::Ui => match &gw.ui {
            Some(files) => {
                let answer = files.serve(req.method(), req.uri().path(), req.headers());
                (Ok(answer.await), String::new())
            }
            None => any_member(gw, client, req).await,
        },
        Route::UserPrefs { repo: None } | Route::AnyMember { .. } => {
            any_member(gw, client, req).await
        }
    }
}

/// Proxy-once to any healthy member: what every member answers alike.
async fn any_member(
    gw: &Gateway,
    client: &Client,
    req: Request<Incoming>,
) -> (Result<Response<Body>, GatewayError>, String) {
    match gw.members.pick() {
        Ok(index) => proxy::forward(gw, index, client, req).await,
        Err(err) => (Err(err), String::new()),
    }
}

/// The answers the gateway gives itself, without a member.
fn own_answer(gw: &Gateway, own: Own) -> Response<Body> {
    match own {
        Own::ServerOptions => response::empty(StatusCode::OK),
        Own::Livez => response::text(StatusCode::OK, "text/plain; charset=utf-8", "ok".into()),
        Own::Readyz => {
            let draining = gw.draining.load(Ordering::Relaxed);
            if draining {
                response::text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain; charset=utf-8",
                    "draining".into(),
                )
            } else if !gw.members.any_up() {
                response::text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain; charset=utf-8",
                    "no member reachable".into(),
                )
            } else {
                response::text(StatusCode::OK, "text/plain; charset=utf-8", "ok".into())
            }
        }
        Own::Metrics => response::text(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            gw.metrics.encode().into(),
        ),
    }
}
