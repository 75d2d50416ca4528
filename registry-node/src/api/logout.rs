//! `/zot/auth/logout`: zot's `Logout`, which ends a UI login session; routed only with basic authentication, and not behind it.

use http::{Method, StatusCode};

use super::response;
use super::{Node, Request, Response};
use crate::error::Result;

/// `POST` ends the session the cookie names (if any is live) and expires both
/// UI cookies, answering `{}` whatever the cookie was; `OPTIONS` is the CORS
/// preflight. Both carry zot's UI headers; other methods are gorilla/mux's
/// bare `405`.
pub(super) async fn logout(node: &Node, req: &Request) -> Result<Response> {
    let method = req.method();
    super::only(method, &[Method::POST, Method::OPTIONS])?;
    let mut resp = if method == Method::OPTIONS {
        response::empty(StatusCode::OK)
    } else {
        let cookies = node.access.logout(req.headers()).await?;
        let mut resp = response::json(StatusCode::OK, &serde_json::json!({}));
        cookies.apply(&mut resp);
        resp
    };
    node.extensions.cors(&mut resp, "POST");
    Ok(resp)
}
