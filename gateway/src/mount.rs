//! Cross-member blob mount: `POST …/uploads/?mount=D&from=F` when `F` and the target live on different members.
//!
//! One registry would link the blob and answer `201 Created`. The gateway
//! does the same in two steps: it checks that the client may read `D` in `F`
//! on `F`'s owner (with the client's own credentials), then streams the blob
//! into an upload session on the target's owner, which verifies the digest.
//! In the migration window the source may still be on its previous owner,
//! which is tried after its owner. When the source does not hold the blob,
//! the client may not read it, or
//! the source's owner is down, hung or breaks off mid-copy, the target's
//! owner answers, as a node that cannot mount would: with an upload session.

use http::{header, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::client::Client;
use crate::error::GatewayError;
use crate::members::UpstreamBody;
use crate::placement::Owners;
use crate::proxy;
use crate::response::{self, Body};
use crate::state::Gateway;

pub(crate) async fn mount(
    gw: &Gateway,
    client: &Client,
    req: Request<Incoming>,
    name: &str,
    from: &str,
    digest: &str,
) -> Result<Response<Body>, GatewayError> {
    let (target, _) = gw.owners(name);
    // In the migration window `from` may still be on its previous owner.
    let (source, previous) = gw.owners(from);
    let sources: Vec<usize> = [Some(source), previous]
        .into_iter()
        .flatten()
        .filter(|&s| s != target)
        .collect();
    if !from_is_valid(from, digest) || sources.is_empty() {
        return proxy::forward(gw, target, client, req).await.0;
    }
    let (parts, body) = req.into_parts();
    for source in sources {
        let copy = Copy {
            gw,
            client,
            parts: &parts,
            target,
            source,
        };
        if let Some(resp) = copy.run(name, from, digest).await? {
            return Ok(resp);
        }
    }
    // The target decides, as a node that cannot mount would: an upload session.
    proxy::forward(gw, target, client, Request::from_parts(parts, body))
        .await
        .0
}

/// One blob copied from the source's owner to the target's owner (also
/// the migration window's copy from a previous owner).
pub(crate) struct Copy<'a> {
    pub(crate) gw: &'a Gateway,
    pub(crate) client: &'a Client,
    pub(crate) parts: &'a http::request::Parts,
    pub(crate) target: usize,
    pub(crate) source: usize,
}

impl Copy<'_> {
    /// The client's answer, or `None` when the source cannot give the blob:
    /// it lacks it, the client may not read it, or the source is down, hung
    /// or broke off mid-copy. Errors are the target's.
    pub(crate) async fn run(
        &self,
        name: &str,
        from: &str,
        digest: &str,
    ) -> Result<Option<Response<Body>>, GatewayError> {
        let members = &self.gw.members;
        let blob_path = format!("/v2/{from}/blobs/{digest}");
        let get = self.head(self.source, Method::GET, &blob_path)?;
        let source_blob = match members.send(self.source, get).await {
            Ok(resp) if resp.status() == StatusCode::OK => resp,
            Ok(_) => return Ok(None),
            Err(err) => {
                tracing::info!(error = %err, "mount source unavailable: the target opens an upload session");
                return Ok(None);
            }
        };
        // Ask the target for the blob by mount alone: 201 if it already has it,
        // else an upload session to stream into.
        let open = format!("/v2/{name}/blobs/uploads/?mount={digest}");
        let session = members
            .send(self.target, self.head(self.target, Method::POST, &open)?)
            .await?;
        let origin = proxy::origin(&self.parts.headers, &self.parts.uri, self.client);
        if session.status() != StatusCode::ACCEPTED {
            return Ok(Some(proxy::relay(members, self.target, &origin, session)));
        }
        let put = self.put(&session, &source_blob, digest)?;
        let body = source_blob
            .into_body()
            .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
            .boxed();
        let done = match members.send(self.target, put.map(|_| body)).await {
            Ok(done) => done,
            // The request body here is the source's blob: its failure is the source's.
            Err(GatewayError::ClientBody { .. } | GatewayError::ClientStalled { .. }) => {
                tracing::info!(source = %members.get(self.source).name, "mount source broke off mid-copy: the target opens an upload session");
                return Ok(None);
            }
            Err(err) => return Err(err),
        };
        if done.status() != StatusCode::CREATED {
            return Ok(Some(proxy::relay(members, self.target, &origin, done)));
        }
        Ok(Some(created(name, digest)))
    }

    /// A request to member `index` with the client's headers, for `path`.
    fn head(
        &self,
        index: usize,
        method: Method,
        path: &str,
    ) -> Result<Request<UpstreamBody>, GatewayError> {
        proxy::request_to(
            &self.gw.members,
            index,
            self.client,
            self.parts,
            (method, path),
        )
    }

    /// The `PUT` closing the target's upload `session` with the source's blob.
    fn put(
        &self,
        session: &Response<Incoming>,
        source_blob: &Response<Incoming>,
        digest: &str,
    ) -> Result<Request<UpstreamBody>, GatewayError> {
        let location = session
            .headers()
            .get(header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .and_then(|l| l.parse::<http::Uri>().ok())
            .ok_or_else(|| GatewayError::BadMember {
                member: self.gw.members.get(self.target).name.clone(),
                reason: "upload session without Location".into(),
            })?;
        let put_path = match location.query() {
            Some(q) => format!("{}?{q}&digest={digest}", location.path()),
            None => format!("{}?digest={digest}", location.path()),
        };
        let mut put = self.head(self.target, Method::PUT, &put_path)?;
        if let Some(length) = source_blob.headers().get(header::CONTENT_LENGTH) {
            put.headers_mut()
                .insert(header::CONTENT_LENGTH, length.clone());
        }
        put.headers_mut().insert(
            header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/octet-stream"),
        );
        Ok(put)
    }
}

/// The `201 Created` one registry answers to a mount.
fn created(name: &str, digest: &str) -> Response<Body> {
    let mut resp = response::empty(StatusCode::CREATED);
    for (key, value) in [
        ("location", format!("/v2/{name}/blobs/{digest}")),
        ("docker-content-digest", digest.to_owned()),
    ] {
        if let Ok(value) = http::HeaderValue::from_str(&value) {
            resp.headers_mut().insert(key, value);
        }
    }
    resp
}

/// The mount source must be a valid name and the digest a valid digest;
/// otherwise the target's owner gives its own answer to the request as sent.
fn from_is_valid(from: &str, digest: &str) -> bool {
    flotilla_protocol::name::is_valid(from)
        && digest.parse::<flotilla_protocol::digest::Digest>().is_ok()
}
