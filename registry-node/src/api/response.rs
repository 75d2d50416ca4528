//! Response bodies and builders: empty, JSON, bytes, and files streamed from disk.

use bytes::Bytes;
use futures_util::TryStreamExt;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full, StreamBody};
use hyper::body::Frame;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::error::NodeError;

/// Every response body the node sends.
pub(crate) type Body = BoxBody<Bytes, std::io::Error>;

pub(crate) fn empty(status: StatusCode) -> Response<Body> {
    let mut resp = Response::new(Empty::new().map_err(never).boxed());
    *resp.status_mut() = status;
    resp
}

pub(crate) fn bytes(status: StatusCode, content_type: &str, body: Bytes) -> Response<Body> {
    let len = body.len();
    let mut resp = Response::new(Full::new(body).map_err(never).boxed());
    *resp.status_mut() = status;
    set(&mut resp, header::CONTENT_TYPE, content_type);
    set(&mut resp, header::CONTENT_LENGTH, &len.to_string());
    resp
}

pub(crate) fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    match serde_json::to_vec(value) {
        Ok(body) => bytes(status, "application/json", body.into()),
        Err(e) => error(NodeError::Corrupt(e.to_string())),
    }
}

/// `len` bytes of `file` from `start`, streamed in 64 KiB reads.
pub(crate) async fn file_range(
    mut file: tokio::fs::File,
    start: u64,
    len: u64,
) -> Result<Body, NodeError> {
    if start > 0 {
        file.seek(std::io::SeekFrom::Start(start)).await?;
    }
    let reader = file.take(len);
    let stream = tokio_util::io::ReaderStream::with_capacity(reader, 64 * 1024).map_ok(Frame::data);
    Ok(StreamBody::new(stream).boxed())
}

/// The single mapping of [`NodeError`] to a response.
pub(crate) fn error(err: NodeError) -> Response<Body> {
    if matches!(err, NodeError::Io(_) | NodeError::Corrupt(_)) {
        tracing::error!(error = %err, "request failed");
    }
    let status = err.status();
    let mut resp = match err.body() {
        Some(body) => bytes(status, "application/json", body.into()),
        None => empty(status),
    };
    for (name, value) in err.headers() {
        if let Ok(value) = HeaderValue::from_str(&value) {
            resp.headers_mut().append(name, value);
        }
    }
    resp
}

/// Sets a header whose value the node built itself; values that are not
/// valid header text (which the node never builds) are dropped, not panicked on.
pub(crate) fn set<B>(resp: &mut Response<B>, name: impl header::IntoHeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, value);
    }
}

fn never(never: std::convert::Infallible) -> std::io::Error {
    match never {}
}
