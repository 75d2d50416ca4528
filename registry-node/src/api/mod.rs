//! The HTTP surface: classify with the route table, authenticate, authorize, then run the one handler for the route.
//!
//! # Layout
//! - `mod.rs` (here): the dispatch on `flotilla_protocol::route` — one handler per route. Start here.
//! - `base`: `/v2/`, health.
//! - `logout`: `/zot/auth/logout`, the end of a UI session.
//! - `extensions`: discover, mgmt, userprefs, and the CORS headers of zot's extension routes.
//! - `search`: `/v2/_zot/ext/search`, the GraphQL endpoint.
//! - `listing`: `/v2/_catalog` and `tags/list`, with zot's `n`/`last`/`Link` rules.
//! - `manifests`, `blobs`, `uploads`, `referrers`: one file per family of repository routes.
//! - `query`: the few query-string rules zot applies (repeated keys, integers).
//! - `response`: bodies and the single mapping of errors to responses.

mod base;
pub(crate) mod blobs;
pub(crate) mod extensions;
mod listing;
mod logout;
mod manifests;
mod query;
mod referrers;
pub(crate) mod response;
mod search;
pub(crate) mod uploads;

use std::sync::Arc;

use bytes::Bytes;
use flotilla_protocol::route::{self, Route};
use futures_util::Stream;
use http::{Method, StatusCode};
use http_body_util::BodyExt;

use crate::auth::{Access, Action, Identity};
use crate::error::{ErrorCode, NodeError, Result};
use crate::meta::Meta;
use crate::storage::{BodyError, Store};
use extensions::Extensions;
use flotilla_serve::ui::UiFiles;
use response::Body;

/// A client's request; its body fails if the client stalls (`timeouts.bodyStall`).
pub(crate) type Request = http::Request<crate::stall::Stalling<hyper::body::Incoming>>;
pub(crate) type Response = http::Response<Body>;

/// Everything a request may need, shared by all connections.
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) store: Store,
    pub(crate) access: Access,
    /// The search extension's metadata; `None` when search is off.
    pub(crate) meta: Option<Arc<Meta>>,
    pub(crate) extensions: Extensions,
    /// `extensions.ui.directory`: the UI's files, served at `/`.
    pub(crate) ui: Option<flotilla_serve::ui::UiFiles>,
}

/// Answers one request. Never fails: every error becomes its wire form here,
/// and the cookies authentication set go on whatever the answer is.
pub(crate) async fn handle(node: Arc<Node>, req: Request) -> Response {
    match route::target(req.method(), req.uri()) {
        route::Target::Path => {}
        route::Target::ServerOptions => return response::empty(StatusCode::OK),
        route::Target::Invalid => {
            let target = route::target_text(req.uri());
            return response::error(
                NodeError::oci(StatusCode::BAD_REQUEST, ErrorCode::Unsupported)
                    .with("target", target),
            );
        }
    }
    let route = route::classify(req.uri().path());
    if let Some(resp) = before_authentication(&node, &route, &req).await {
        return resp;
    }
    let authenticated = node.access.authenticate(req.uri(), req.headers()).await;
    let result = match authenticated.who {
        Ok(who) => dispatch(&node, route, who, req).await,
        Err(err) => Err(err),
    };
    let mut resp = result.unwrap_or_else(response::error);
    authenticated.cookies.apply(&mut resp);
    resp
}

/// The answers zot gives before its authn middleware runs, if this request gets one.
async fn before_authentication(node: &Node, route: &Route, req: &Request) -> Option<Response> {
    let ext = &node.extensions;
    let preflight = req.method() == Method::OPTIONS;
    Some(match route {
        Route::Health => base::health(),
        // zot's UI catch-all, registered last, outside authentication.
        Route::NotFound => match &node.ui {
            Some(ui) if UiFiles::serves(req.method(), req.uri().path()) => {
                ui.serve(req.method(), req.uri().path(), req.headers())
                    .await
            }
            _ => base::not_found(),
        },
        // Extensions that are off are not routed at all; nor is the logout
        // without basic authentication.
        Route::Search | Route::Mgmt if !ext.search => base::not_found(),
        Route::UserPrefs if !ext.user_prefs => base::not_found(),
        Route::Logout if !node.access.ui_sessions() => base::not_found(),
        // zot mounts the logout outside its authenticated router.
        Route::Logout => logout::logout(node, req)
            .await
            .unwrap_or_else(response::error),
        // zot's handlers answer OPTIONS (CORS preflight) at once, before auth;
        // its extension routers add their CORS headers.
        Route::Search if preflight => extensions::preflight(node, "GET,POST", false),
        Route::Mgmt if preflight => extensions::preflight(node, "GET", true),
        Route::UserPrefs if preflight => extensions::preflight(node, "PUT", true),
        _ if preflight => response::empty(StatusCode::OK),
        _ => return None,
    })
}

async fn dispatch(node: &Node, route: Route, who: Identity, req: Request) -> Result<Response> {
    let method = req.method().clone();
    match route {
        Route::Base => Ok(base::version(node, &req)),
        Route::Discover => Ok(extensions::discover(node)),
        Route::Search => search::search(node, who, req).await,
        Route::Mgmt => extensions::mgmt(node, &method),
        Route::UserPrefs => extensions::user_prefs(node, &who, &req).await,
        Route::Catalog => listing::catalog(node, &who, &req).await,
        Route::InvalidName { name } => {
            Err(NodeError::oci(StatusCode::BAD_REQUEST, ErrorCode::NameInvalid).with("name", name))
        }
        Route::Tags { name } => {
            only(&method, &[Method::GET])?;
            authorize(node, &who, &name, Action::Read, &req).await?;
            listing::tags(node, &name, &req).await
        }
        Route::Manifest { name, reference } => {
            if method == Method::PUT {
                manifests::authorize_put(node, &who, &name, &reference, &req).await?;
                return manifests::put(node, &who, &name, &reference, req).await;
            }
            let action = action_for(&method, &[Method::GET, Method::HEAD, Method::DELETE])?;
            authorize(node, &who, &name, action, &req).await?;
            match method {
                Method::DELETE => {
                    let detect = node
                        .access
                        .can(&who, Action::DetectManifestCollision, &name);
                    manifests::delete(node, &name, &reference, detect).await
                }
                _ => manifests::get(node, &name, &reference, method == Method::HEAD).await,
            }
        }
        Route::Blob { name, digest } => {
            let action = action_for(&method, &[Method::GET, Method::HEAD, Method::DELETE])?;
            authorize(node, &who, &name, action, &req).await?;
            match method {
                Method::DELETE => blobs::delete(node, &name, &digest).await,
                Method::HEAD => blobs::head(node, &name, &digest).await,
                _ => blobs::get(node, &name, &digest, &req).await,
            }
        }
        Route::UploadStart { name } => {
            only(&method, &[Method::POST])?;
            authorize(node, &who, &name, Action::Create, &req).await?;
            uploads::start(node, &who, &name, req).await
        }
        Route::Upload { name, session } => {
            let allowed = [Method::GET, Method::PATCH, Method::PUT, Method::DELETE];
            let action = action_for(&method, &allowed)?;
            authorize(node, &who, &name, action, &req).await?;
            match method {
                Method::GET => uploads::status(node, &name, &session, &req).await,
                Method::PATCH => uploads::patch(node, &name, &session, req).await,
                Method::PUT => uploads::finish(node, &name, &session, req).await,
                _ => uploads::cancel(node, &name, &session).await,
            }
        }
        Route::Referrers { name, digest } => {
            only(&method, &[Method::GET])?;
            authorize(node, &who, &name, Action::Read, &req).await?;
            referrers::list(node, &name, &digest, &req).await
        }
        // Answered before authentication.
        Route::Health | Route::NotFound | Route::Logout => Ok(base::not_found()),
    }
}

async fn authorize(
    node: &Node,
    who: &Identity,
    repo: &str,
    action: Action,
    req: &Request,
) -> Result<()> {
    node.access
        .authorize(who, repo, action, req.headers())
        .await
}

/// zot's `DistSpecAuthzHandler` mapping of methods to actions: reads for
/// GET/HEAD, create for writes, delete for DELETE.
fn action_for(method: &Method, allowed: &[Method]) -> Result<Action> {
    only(method, allowed)?;
    Ok(match *method {
        Method::GET | Method::HEAD => Action::Read,
        Method::DELETE => Action::Delete,
        _ => Action::Create,
    })
}

/// gorilla/mux answers a known path with another method `405`, empty.
fn only(method: &Method, allowed: &[Method]) -> Result<()> {
    if allowed.contains(method) {
        Ok(())
    } else {
        Err(NodeError::Status(StatusCode::METHOD_NOT_ALLOWED))
    }
}

/// A request body as a stream of data chunks (trailers are dropped).
fn body_stream(
    req: Request,
) -> impl Stream<Item = std::result::Result<Bytes, BodyError>> + Unpin + Send {
    use futures_util::StreamExt;
    http_body_util::BodyStream::new(req.into_body())
        .filter_map(|frame| async move {
            match frame {
                Ok(frame) => frame.into_data().ok().map(Ok),
                Err(e) => Some(Err(e)),
            }
        })
        .boxed()
}

/// Reads a bounded body whole (manifests); `None` when it exceeds `limit`.
async fn read_limited(req: Request, limit: usize) -> Result<Option<Bytes>> {
    let limited = http_body_util::Limited::new(req.into_body(), limit);
    match limited.collect().await {
        Ok(collected) => Ok(Some(collected.to_bytes())),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Ok(None),
        Err(e) => Err(NodeError::Io(std::io::Error::other(e))),
    }
}
