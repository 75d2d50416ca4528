//! Proxy-once: one request to one member, bodies streamed both ways, headers made right for each side.
//!
//! Towards the member: hop-by-hop headers and `X-Zot-Cluster-Hop-Count` are
//! dropped, `X-Forwarded-*` added, credentials and cookies passed unchanged
//! (but for the gateway's own session cookies, which `session` takes off).
//! Towards the client: hop-by-hop headers and members' `Set-Cookie` dropped, and an absolute `Location`
//! naming a member rewritten to the gateway's own origin. Redirects are
//! passed to the client, never followed.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, Uri};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::body::Inbound;
use crate::client::Client;
use crate::error::GatewayError;
use crate::members::{Members, UpstreamBody};
use crate::response::Body;
use crate::state::Gateway;

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1),
/// plus `expect`: the gateway answers `100-continue` to its client itself.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "expect",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
];

/// zot's own cluster hop header: a zot member with a `cluster` block would
/// answer 500 to a request carrying it, so it never leaves the gateway.
const ZOT_HOP: &str = "x-zot-cluster-hop-count";

/// Proxy-once to member `index`; the answer and the member's name for metrics.
pub(crate) async fn forward(
    gw: &Gateway,
    index: usize,
    client: &Client,
    req: Request<Incoming>,
) -> (Result<Response<Body>, GatewayError>, String) {
    let member = gw.members.get(index).name.clone();
    let origin = origin(req.headers(), req.uri(), client);
    let result = async {
        let up = upstream_request(&gw.members, index, client, req)?;
        let resp = gw.members.send(index, up).await?;
        Ok(relay(&gw.members, index, &origin, resp))
    }
    .await;
    (result, member)
}

/// The client's request, made ready for member `index`: same method, path,
/// query and body; headers cleaned and `X-Forwarded-*` added.
pub(crate) fn upstream_request(
    members: &Members,
    index: usize,
    client: &Client,
    req: Request<Incoming>,
) -> Result<Request<UpstreamBody>, GatewayError> {
    let (parts, body) = req.into_parts();
    let mut up = request_head(members, index, client, &parts)?;
    let body = body
        .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
        .boxed();
    *up.body_mut() = body;
    Ok(up)
}

/// A request to member `index` with the client's method, path and headers
/// and an empty body; the caller sets the body (fan-outs and copies reuse it).
pub(crate) fn request_head(
    members: &Members,
    index: usize,
    client: &Client,
    parts: &http::request::Parts,
) -> Result<Request<UpstreamBody>, GatewayError> {
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut up = Request::new(crate::members::empty());
    *up.method_mut() = parts.method.clone();
    *up.uri_mut() = members.uri(index, path)?;
    let headers = up.headers_mut();
    copy_end_to_end(&parts.headers, headers);
    headers.remove(header::HOST);
    headers.remove(ZOT_HOP);
    append_forwarded(headers, &origin(&parts.headers, &parts.uri, client), client);
    Ok(up)
}

/// A request of the gateway's own to member `index` on the client's behalf:
/// `method path` with the client's end-to-end headers (its credentials
/// among them) and no body.
pub(crate) fn request_to(
    members: &Members,
    index: usize,
    client: &Client,
    parts: &http::request::Parts,
    (method, path): (Method, &str),
) -> Result<Request<UpstreamBody>, GatewayError> {
    let mut up = request_head(members, index, client, parts)?;
    *up.method_mut() = method;
    *up.uri_mut() = members.uri(index, path)?;
    up.headers_mut().remove(header::CONTENT_LENGTH);
    up.headers_mut().remove(header::CONTENT_TYPE);
    Ok(up)
}

/// Where the client thinks it is talking to: what `Location` headers must name.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    scheme: String,
    host: Option<String>,
}

/// The client's view of the gateway. A load balancer in front (terminating
/// TLS, say) tells it in `X-Forwarded-Proto`/`-Host`; otherwise it is this
/// listener and the `Host` the client asked for.
pub(crate) fn origin(headers: &HeaderMap, uri: &Uri, client: &Client) -> Origin {
    let forwarded = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(',').next().unwrap_or(v).trim().to_owned())
    };
    Origin {
        scheme: forwarded("x-forwarded-proto").unwrap_or_else(|| client.scheme.to_owned()),
        host: forwarded("x-forwarded-host").or_else(|| original_host(headers, uri)),
    }
}

/// The member's response, made ready for the client (fan-outs relaying a
/// member's refusal, whose small body needs no watching).
pub(crate) fn client_response(
    members: &Members,
    origin: &Origin,
    resp: Response<Incoming>,
) -> Response<Body> {
    let (parts, body) = resp.into_parts();
    let parts = client_head(members, origin, parts);
    Response::from_parts(parts, body.map_err(std::io::Error::other).boxed())
}

/// Member `index`'s answer relayed to the client, its body watched: a stall
/// or a break mid-body aborts the client's response and is counted against
/// the member ([`crate::body::Inbound`]).
pub(crate) fn relay(
    members: &Members,
    index: usize,
    origin: &Origin,
    resp: Response<Incoming>,
) -> Response<Body> {
    let (parts, body) = resp.into_parts();
    let parts = client_head(members, origin, parts);
    let member = members.get(index).name.clone();
    let body = Inbound::new(
        body,
        member,
        members.body_stall(),
        members.metrics().clone(),
    );
    Response::from_parts(parts, body.boxed())
}

/// A member's short answer, already read whole, relayed to the client.
pub(crate) fn relay_read(
    members: &Members,
    origin: &Origin,
    head: http::response::Parts,
    body: bytes::Bytes,
) -> Response<Body> {
    let head = client_head(members, origin, head);
    let body = http_body_util::Full::new(body)
        .map_err(|never| match never {})
        .boxed();
    Response::from_parts(head, body)
}

/// The member's response head, made ready for the client: hop-by-hop
/// headers dropped, a `Location` naming a member rewritten to the gateway.
fn client_head(
    members: &Members,
    origin: &Origin,
    mut parts: http::response::Parts,
) -> http::response::Parts {
    let mut headers = HeaderMap::with_capacity(parts.headers.len());
    copy_end_to_end(&parts.headers, &mut headers);
    // A member's session means nothing to the others: UI sessions are the
    // gateway's own (`session`).
    headers.remove(header::SET_COOKIE);
    if let (Some(host), Some(location)) = (&origin.host, headers.get(header::LOCATION)) {
        if let Some(rewritten) = rewrite_location(members, location, &origin.scheme, host) {
            headers.insert(header::LOCATION, rewritten);
        }
    }
    parts.headers = headers;
    parts
}

/// Copies every header except hop-by-hop ones and those `Connection` names.
fn copy_end_to_end(from: &HeaderMap, to: &mut HeaderMap) {
    let named: Vec<String> = from
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_ascii_lowercase())
        .collect();
    for (name, value) in from {
        let lower = name.as_str();
        if HOP_BY_HOP.contains(&lower) || lower == "upgrade" || named.iter().any(|n| n == lower) {
            continue;
        }
        to.append(name.clone(), value.clone());
    }
}

/// The host the client asked for: `Host` (HTTP/1.1) or `:authority` (HTTP/2).
pub(crate) fn original_host(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| uri.authority().map(|a| a.to_string()))
}

/// Appends the client to `X-Forwarded-For`; keeps a load balancer's
/// `X-Forwarded-Proto`/`-Host`, or sets them from this listener.
fn append_forwarded(headers: &mut HeaderMap, origin: &Origin, client: &Client) {
    let peer = client.peer.ip().to_string();
    let forwarded_for = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(prior) => format!("{prior}, {peer}"),
        None => peer,
    };
    set(headers, "x-forwarded-for", &forwarded_for);
    set(headers, "x-forwarded-proto", &origin.scheme);
    if let Some(host) = &origin.host {
        set(headers, "x-forwarded-host", host);
    }
}

fn set(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), value);
    }
}

/// `http://<member>/v2/…` → `<scheme>://<origin>/v2/…`; relative values and
/// URLs naming any other host are left as they are.
fn rewrite_location(
    members: &Members,
    location: &HeaderValue,
    scheme: &str,
    origin: &str,
) -> Option<HeaderValue> {
    let uri: Uri = location.to_str().ok()?.parse().ok()?;
    let authority = uri.authority()?.as_str();
    let names_member =
        (0..members.len()).any(|i| members.get(i).name.eq_ignore_ascii_case(authority));
    if !names_member {
        return None;
    }
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    HeaderValue::from_str(&format!("{scheme}://{origin}{path}")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_and_connection_named_headers_are_dropped() {
        let mut from = HeaderMap::new();
        from.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-private"),
        );
        from.insert("x-private", HeaderValue::from_static("1"));
        from.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        from.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic YTpi"),
        );
        from.append(header::COOKIE, HeaderValue::from_static("a=1"));
        from.append(header::COOKIE, HeaderValue::from_static("b=2"));
        let mut to = HeaderMap::new();
        copy_end_to_end(&from, &mut to);
        assert!(to.get("x-private").is_none());
        assert!(to.get(header::TRANSFER_ENCODING).is_none());
        assert!(to.get(header::CONNECTION).is_none());
        assert_eq!(to.get(header::AUTHORIZATION).unwrap(), "Basic YTpi");
        assert_eq!(to.get_all(header::COOKIE).iter().count(), 2);
    }

    #[test]
    fn forwarded_for_appends() {
        let client = Client {
            peer: "10.1.2.3:4444".parse().unwrap(),
            scheme: "http",
        };
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static("192.0.2.1"));
        headers.insert(header::HOST, HeaderValue::from_static("gw:5000"));
        let direct = origin(&headers, &Uri::from_static("/v2/"), &client);
        append_forwarded(&mut headers, &direct, &client);
        assert_eq!(headers["x-forwarded-for"], "192.0.2.1, 10.1.2.3");
        assert_eq!(headers["x-forwarded-proto"], "http");
        assert_eq!(headers["x-forwarded-host"], "gw:5000");
        // Behind a load balancer that terminated TLS, its view is kept.
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        headers.insert(
            "x-forwarded-host",
            HeaderValue::from_static("registry.example"),
        );
        let behind = origin(&headers, &Uri::from_static("/v2/"), &client);
        assert_eq!(
            (behind.scheme.as_str(), behind.host.as_deref()),
            ("https", Some("registry.example"))
        );
    }
}
