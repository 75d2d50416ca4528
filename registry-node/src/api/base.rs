//! Routes not keyed on a repository: the `/v2/` version check, health and not-found.

use bytes::Bytes;
use http::{header, StatusCode};

use super::response::{self, set};
use super::{Node, Request, Response};

/// `/livez`, `/readyz`, `/startupz`: the listener only accepts once storage
/// is open, so all three are `200 ok` whenever they can be asked.
pub(super) fn health() -> Response {
    response::bytes(
        StatusCode::OK,
        "text/plain; charset=utf-8",
        Bytes::from_static(b"ok"),
    )
}

/// Go's `http.NotFound`, which gorilla/mux answers for unmatched paths.
pub(super) fn not_found() -> Response {
    response::bytes(
        StatusCode::NOT_FOUND,
        "text/plain; charset=utf-8",
        Bytes::from_static(b"404 page not found\n"),
    )
}

/// zot's `CheckVersionSupport`: 200, empty JSON body, and a challenge (even
/// on success) when authentication is on, so clients know to send credentials.
pub(super) fn version(node: &Node, req: &Request) -> Response {
    let mut resp = response::bytes(StatusCode::OK, "application/json", Bytes::new());
    set(&mut resp, "Docker-Distribution-API-Version", "registry/2.0");
    if let Some(challenge) = node.access.challenge(req.headers()) {
        set(&mut resp, header::WWW_AUTHENTICATE, &challenge);
    }
    resp
}
