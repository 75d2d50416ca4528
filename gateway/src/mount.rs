//! Cross-member blob mount: `POST …/uploads/?mount=D&from=F` when `F` and the target live on different members.
//!
//! One registry would link the blob and answer `201 Created`. The gateway
//! does the same in two steps: it checks that the client may read `D` in `F`
//! on `F`'s owner (with the client's own credentials), then streams the blob
//! into an upload session on the target's owner, which verifies the digest.
//! When the source does not hold the blob, or the client may not read it,
//! the target's owner answers, as a node would: with an upload session.

use http::{header, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::error::GatewayError;
use crate::gateway::{text, Gateway};
use crate::members::UpstreamBody;
use crate::proxy::{self, Client};
use crate::server::Body;

pub(crate) async fn mount(
    gw: &Gateway,
    client: &Client,
    req: Request<Incoming>,
    name: &str,
    from: &str,
    digest: &str,
) -> Result<Response<Body>, GatewayError> {
    let (target, source) = (gw.ring.owner(name), gw.ring.owner(from));
    let readable = from_is_valid(from, digest) && target != source;
    if !readable {
        return gw.forward(target, client, req).await.0;
    }
    let (parts, body) = req.into_parts();
    let head =
        |index: usize, method: Method, path: &str| -> Result<Request<UpstreamBody>, GatewayError> {
            let mut up = proxy::request_head(&gw.members, index, client, &parts)?;
            *up.method_mut() = method;
            *up.uri_mut() = gw.members.uri(index, path)?;
            up.headers_mut().remove(header::CONTENT_LENGTH);
            up.headers_mut().remove(header::CONTENT_TYPE);
            Ok(up)
        };
    let blob_path = format!("/v2/{from}/blobs/{digest}");
    let source_blob = gw
        .members
        .send(source, head(source, Method::GET, &blob_path)?)
        .await?;
    if source_blob.status() != StatusCode::OK {
        // Not there, or not readable by this client: the target decides, as a node would.
        return gw
            .forward(target, client, Request::from_parts(parts, body))
            .await
            .0;
    }
    // Ask the target for the blob by mount alone: 201 if it already has it,
    // else an upload session to stream into.
    let open = format!("/v2/{name}/blobs/uploads/?mount={digest}");
    let session = gw
        .members
        .send(target, head(target, Method::POST, &open)?)
        .await?;
    let origin = proxy::origin(&parts.headers, &parts.uri, client);
    match session.status() {
        StatusCode::CREATED => return Ok(proxy::client_response(&gw.members, &origin, session)),
        StatusCode::ACCEPTED => {}
        _ => return Ok(proxy::client_response(&gw.members, &origin, session)),
    }
    let member = gw.members.get(target).name.clone();
    let location = session
        .headers()
        .get(header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .and_then(|l| l.parse::<http::Uri>().ok())
        .ok_or_else(|| GatewayError::BadMember {
            member: member.clone(),
            reason: "upload session without Location".into(),
        })?;
    let put_path = match location.query() {
        Some(q) => format!("{}?{q}&digest={digest}", location.path()),
        None => format!("{}?digest={digest}", location.path()),
    };
    let mut put = head(target, Method::PUT, &put_path)?;
    if let Some(length) = source_blob.headers().get(header::CONTENT_LENGTH) {
        put.headers_mut()
            .insert(header::CONTENT_LENGTH, length.clone());
    }
    put.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/octet-stream"),
    );
    *put.body_mut() = source_blob
        .into_body()
        .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
        .boxed();
    let done = gw.members.send(target, put).await?;
    if done.status() != StatusCode::CREATED {
        return Ok(proxy::client_response(&gw.members, &origin, done));
    }
    let mut resp = text(
        StatusCode::CREATED,
        "text/plain; charset=utf-8",
        bytes::Bytes::new(),
    );
    resp.headers_mut().remove(header::CONTENT_TYPE);
    for (key, value) in [
        ("location", format!("/v2/{name}/blobs/{digest}")),
        ("docker-content-digest", digest.to_owned()),
    ] {
        if let Ok(value) = http::HeaderValue::from_str(&value) {
            resp.headers_mut().insert(key, value);
        }
    }
    Ok(resp)
}

/// The mount source must be a valid name and the digest a valid digest;
/// otherwise the target's owner gives its own answer to the request as sent.
fn from_is_valid(from: &str, digest: &str) -> bool {
    flotilla_node::name::is_valid(from) && digest.parse::<flotilla_node::digest::Digest>().is_ok()
}
