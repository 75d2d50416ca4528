//! The access log of both binaries: one `info` line per request, written when its response body ends, and the request id it carries.
//!
//! The id comes from the client's `X-Request-Id` when it is sane, else a
//! fresh UUID v4 ([`sanitize_request_id`] before tower-http's
//! `SetRequestIdLayer`); it goes back to the client and, on the gateway, to
//! every member asked on the request's behalf (it is an end-to-end header).

use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::time::Instant;

use http::{HeaderName, Request, Response};
use http_body::{Body, Frame, SizeHint};
use tower::layer::util::{Identity, Stack};
use tower::util::MapRequestLayer;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

/// `X-Request-Id`.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest request id taken from a client.
const MAX_REQUEST_ID: usize = 128;

/// Is `value` an id worth keeping: 1 to [`MAX_REQUEST_ID`] characters, letters,
/// digits and `-_.:+/=@` (UUIDs, hex trace ids, base64)?
pub fn sane_request_id(value: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID).contains(&value.len())
        && value
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:+/=@".contains(b))
}

/// Drops a client's `X-Request-Id` that is not sane (or is given twice), so
/// that a fresh one is set in its place.
pub fn sanitize_request_id<B>(mut req: Request<B>) -> Request<B> {
    let ids = req.headers().get_all(REQUEST_ID);
    let mut values = ids.iter();
    let keep =
        matches!((values.next(), values.next()), (Some(v), None) if sane_request_id(v.as_bytes()));
    if !keep {
        req.headers_mut().remove(REQUEST_ID);
    }
    req
}

/// The layers that give every request a sane id and return it to the client:
/// a bad one dropped, a missing one set (UUID v4), the id copied to the response.
pub type RequestIds<B> = ServiceBuilder<
    Stack<
        PropagateRequestIdLayer,
        Stack<
            SetRequestIdLayer<MakeRequestUuid>,
            Stack<MapRequestLayer<fn(Request<B>) -> Request<B>>, Identity>,
        >,
    >,
>;

/// [`RequestIds`], outermost on both binaries.
pub fn request_ids<B>() -> RequestIds<B> {
    ServiceBuilder::new()
        .map_request(sanitize_request_id as fn(Request<B>) -> Request<B>)
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
}

/// The span a request's other lines are written in: at `warn`, so every
/// warning carries the method, path and request id whatever the level.
pub fn span<B>(req: &Request<B>) -> tracing::Span {
    tracing::warn_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        request_id = %request_id(req),
    )
}

fn request_id<B>(req: &Request<B>) -> &str {
    req.headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// One request's access line, until its response is known.
#[derive(Debug)]
pub struct Entry {
    method: http::Method,
    path: String,
    request_id: String,
    started: Instant,
}

impl Entry {
    /// Starts timing `req`.
    pub fn of<B>(req: &Request<B>) -> Self {
        Self {
            method: req.method().clone(),
            path: req.uri().path().to_owned(),
            request_id: request_id(req).to_owned(),
            started: Instant::now(),
        }
    }

    /// `resp` with a body that writes the line when it ends; `member` is
    /// the gateway's member label (`None` on a node).
    pub fn respond<B>(self, resp: Response<B>, member: Option<String>) -> Response<Counted<B>> {
        let status = resp.status().as_u16();
        resp.map(|inner| Counted {
            inner,
            bytes: 0,
            line: Some(Line {
                entry: self,
                status,
                member,
            }),
        })
    }
}

#[derive(Debug)]
struct Line {
    entry: Entry,
    status: u16,
    member: Option<String>,
}

impl Line {
    fn write(self, bytes: u64, complete: bool) {
        let a = self.entry;
        let duration_ms = a.started.elapsed().as_secs_f64() * 1000.0;
        tracing::info!(
            target: "access",
            method = %a.method,
            path = %a.path,
            status = self.status,
            bytes,
            duration_ms,
            member = self.member.as_deref(),
            request_id = %a.request_id,
            complete,
            "request"
        );
    }
}

pin_project_lite::pin_project! {
    /// A response body counting the bytes it delivered; its access line is
    /// written when it ends, or when it is dropped first (`complete: false`).
    pub struct Counted<B> {
        #[pin]
        inner: B,
        bytes: u64,
        line: Option<Line>,
    }

    impl<B> PinnedDrop for Counted<B> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(line) = this.line.take() {
                line.write(*this.bytes, false);
            }
        }
    }
}

impl<B: Body> Body for Counted<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    *this.bytes += bytes::Buf::remaining(data) as u64;
                }
            }
            Some(Err(_)) => {}
            None => {
                if let Some(line) = this.line.take() {
                    line.write(*this.bytes, true);
                }
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_must_be_short_and_plain() {
        assert!(sane_request_id(b"abc"));
        assert!(sane_request_id(b"0f8fad5b-d9cb-469f-a165-70867728950e"));
        assert!(!sane_request_id(b""));
        assert!(!sane_request_id(&[b'a'; MAX_REQUEST_ID + 1]));
        assert!(!sane_request_id(b"a b"));
        assert!(!sane_request_id(b"a\x01b"));
    }

    #[test]
    fn a_repeated_or_bad_id_is_dropped() {
        let req = |ids: &[&str]| {
            let mut b = Request::builder();
            for id in ids {
                b = b.header(REQUEST_ID, *id);
            }
            sanitize_request_id(b.body(()).unwrap())
        };
        assert_eq!(req(&["abc"]).headers()[REQUEST_ID], "abc");
        assert!(req(&["abc", "def"]).headers().get(REQUEST_ID).is_none());
        assert!(req(&["a\tb"]).headers().get(REQUEST_ID).is_none());
    }
}
