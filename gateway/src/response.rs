//! The gateway's response body type, and the answers it makes itself: plain text, and its one error mapped to OCI JSON.

use bytes::Bytes;
use http::{header, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};

use crate::error::GatewayError;

/// Every response body the gateway sends: streamed from a member, or its own.
pub(crate) type Body = BoxBody<Bytes, std::io::Error>;

/// A status with no body and no `Content-Type`, as Go answers with nothing to say.
pub(crate) fn empty(status: StatusCode) -> Response<Body> {
    let mut resp = Response::new(
        Full::new(Bytes::new())
            .map_err(|never| match never {})
            .boxed(),
    );
    *resp.status_mut() = status;
    resp
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
pub(crate) fn error(err: &GatewayError) -> Response<Body> {
    if err.status().is_server_error() {
        tracing::warn!(error = %err, "request failed at the gateway");
    }
    text(err.status(), "application/json", err.body().into())
}
