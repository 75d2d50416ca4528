//! The migration window: while `cluster.previousMembers` is set, a repository may still be, wholly or in part, on the member that owned it before the change.
//!
//! A repository's owner under the current members is where it belongs; its
//! previous owner is where it was. Until a rebalance has moved it (copied,
//! verified, then deleted from the previous owner), the gateway answers for
//! both as one registry would:
//! - Reads (`GET`/`HEAD` of manifests, blobs, referrers) go to the owner; a
//!   `404` there is asked of the previous owner. When both answer `404`, the
//!   answer of the one that knows the repository wins (`MANIFEST_UNKNOWN`
//!   over `NAME_UNKNOWN`), as one registry holding both would answer.
//! - `tags/list` is the union of both owners' tags, paged as zot pages one list.
//! - Writes go to the owner. An upload session the owner does not know (a
//!   push begun before the change) continues on the previous owner. A
//!   manifest `PUT` first copies from the previous owner every blob, child
//!   manifest and subject it names that the owner lacks (streamed, the owner
//!   verifying each digest), so a client that skipped a blob because a `HEAD`
//!   found it on the previous owner still succeeds.
//! - `DELETE` goes to both, so nothing deleted comes back through a fallback.
//! - The catalog fans out to every member, current and previous, and names
//!   each repository once.
//! - Search answers for a repository from whichever owner holds it whole
//!   ([`authority`]): fields about one repository ask that owner first;
//!   fanned-out lists drop the other owner's copy (`search::moving`).

use bytes::Bytes;
use futures_util::future::join;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use serde_json::{json, Value};

use flotilla_protocol::oci_error::{ErrorCode, OciError};
use flotilla_protocol::paging;
use flotilla_protocol::route::{self, Route as ZotRoute};

use crate::client::Client;
use crate::error::GatewayError;
use crate::members::UpstreamBody;
use crate::mount::Copy;
use crate::proxy::{self, Origin};
use crate::response::{self, Body};
use crate::state::Gateway;

/// Which of a moving repository's two owners answers for it in search: the
/// owner once it holds every tag the previous owner holds, the previous owner
/// until then.
///
/// A rebalance pushes a repository's tags to the owner only after every
/// manifest and blob they reach, and deletes the previous owner's copy only
/// after verifying the owner's. So while it copies, the previous owner's copy
/// is the whole one; from the moment the tags are all there, through the
/// deletion of the source, the owner's is; and at the switch both are the
/// same. Either tag list that cannot be read counts as empty.
pub(crate) async fn authority(
    gw: &Gateway,
    client: &Client,
    parts: &http::request::Parts,
    name: &str,
    (owner, previous): (usize, usize),
) -> usize {
    let pair = Pair {
        gw,
        client,
        owner,
        previous,
    };
    let path = format!("/v2/{name}/tags/list");
    let (on_owner, on_previous) = join(
        pair.send(owner, parts, Method::GET, &path),
        pair.send(previous, parts, Method::GET, &path),
    )
    .await;
    let tags = |answer: Result<Response<Incoming>, GatewayError>| async move {
        match answer {
            Ok(resp) if resp.status() == StatusCode::OK => small(resp)
                .await
                .map(|(_, body)| listed_tags(&body))
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    };
    let (on_owner, on_previous) = join(tags(on_owner), tags(on_previous)).await;
    let on_owner: std::collections::HashSet<String> = on_owner.into_iter().collect();
    if on_previous.iter().all(|t| on_owner.contains(t)) {
        owner
    } else {
        previous
    }
}

/// The largest manifest a node stores (zot's limit); a larger one is passed
/// on for the owner to refuse, its references not copied.
const MANIFEST_BYTES: usize = 4 << 20;

/// The largest `404` or tag list read whole here.
const SMALL_BYTES: usize = 1 << 20;

/// How deep child manifests are followed (an index of images with subjects).
const DEPTH: u8 = 3;

/// Every manifest type a member may hold, for copying one as it is.
const MANIFEST_TYPES: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// The answer and the member label for metrics.
pub(crate) type Routed = (Result<Response<Body>, GatewayError>, String);

/// A request for repository `name`, whose `owner` differs from its `previous` owner.
pub(crate) async fn repository(
    gw: &Gateway,
    client: &Client,
    req: Request<Incoming>,
    name: &str,
    (owner, previous): (usize, usize),
) -> Routed {
    let member = gw.members.get(owner).name.clone();
    let pair = Pair {
        gw,
        client,
        owner,
        previous,
    };
    let route = route::classify(req.uri().path());
    let result = match (req.method().clone(), route) {
        (
            Method::GET | Method::HEAD,
            ZotRoute::Manifest { .. } | ZotRoute::Blob { .. } | ZotRoute::Referrers { .. },
        ) => return pair.read(req).await,
        (Method::GET, ZotRoute::Tags { .. }) => pair.tags(req, name).await,
        (Method::DELETE, ZotRoute::Manifest { .. } | ZotRoute::Blob { .. }) => {
            pair.delete(req).await
        }
        (Method::PUT, ZotRoute::Manifest { .. }) => pair.put_manifest(req, name).await,
        (_, ZotRoute::Upload { .. }) => return pair.upload(req).await,
        _ => return proxy::forward(gw, owner, client, req).await,
    };
    (result, member)
}

/// A repository's owner and previous owner, asked on one client's behalf.
struct Pair<'a> {
    gw: &'a Gateway,
    client: &'a Client,
    owner: usize,
    previous: usize,
}

impl Pair<'_> {
    /// `method path` on member `index` with the client's headers and no body.
    async fn send(
        &self,
        index: usize,
        parts: &http::request::Parts,
        method: Method,
        path: &str,
    ) -> Result<Response<Incoming>, GatewayError> {
        let members = &self.gw.members;
        let up = proxy::request_to(members, index, self.client, parts, (method, path))?;
        members.send(index, up).await
    }

    fn origin(&self, parts: &http::request::Parts) -> Origin {
        proxy::origin(&parts.headers, &parts.uri, self.client)
    }

    async fn read(&self, req: Request<Incoming>) -> Routed {
        let (parts, _) = req.into_parts();
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let (owner, previous) = (self.owner, self.previous);
        let name = |i: usize| self.gw.members.get(i).name.clone();
        let first = match self.send(owner, &parts, parts.method.clone(), path).await {
            Ok(first) => first,
            Err(err) => return (Err(err), name(owner)),
        };
        let origin = self.origin(&parts);
        if first.status() != StatusCode::NOT_FOUND {
            return (
                Ok(proxy::relay(&self.gw.members, owner, &origin, first)),
                name(owner),
            );
        }
        let second = match self
            .send(previous, &parts, parts.method.clone(), path)
            .await
        {
            Ok(second) => second,
            // The previous owner cannot say: the owner's answer stands.
            Err(_) => {
                return (
                    Ok(proxy::relay(&self.gw.members, owner, &origin, first)),
                    name(owner),
                )
            }
        };
        if second.status() != StatusCode::NOT_FOUND {
            let resp = proxy::relay(&self.gw.members, previous, &origin, second);
            return (Ok(resp), name(previous));
        }
        let (first, second) = match (small(first).await, small(second).await) {
            (Ok(first), Ok(second)) => (first, second),
            (Err(err), _) | (_, Err(err)) => return (Err(err), name(owner)),
        };
        let knows = |body: &Bytes| !body.windows(12).any(|w| w == b"NAME_UNKNOWN");
        let (index, (head, body)) = if knows(&first.1) || !knows(&second.1) {
            (owner, first)
        } else {
            (previous, second)
        };
        let resp = proxy::relay_read(&self.gw.members, &origin, head, body);
        (Ok(resp), name(index))
    }

    /// Both owners' tags as one sorted list, paged by the client's `n` and `last`.
    async fn tags(
        &self,
        req: Request<Incoming>,
        name: &str,
    ) -> Result<Response<Body>, GatewayError> {
        let (parts, _) = req.into_parts();
        let Some((n, last)) = paging::tags_params(parts.uri.query()) else {
            return Ok(response::empty(StatusCode::BAD_REQUEST));
        };
        let path = format!("/v2/{name}/tags/list");
        let (first, second) = join(
            self.send(self.owner, &parts, Method::GET, &path),
            self.send(self.previous, &parts, Method::GET, &path),
        )
        .await;
        let first = first?;
        let origin = self.origin(&parts);
        if !matches!(first.status(), StatusCode::OK | StatusCode::NOT_FOUND) {
            return Ok(proxy::relay(&self.gw.members, self.owner, &origin, first));
        }
        let first_found = first.status() == StatusCode::OK;
        let (first_head, first_body) = small(first).await?;
        let mut tags = listed_tags(&first_body);
        let mut found = first_found;
        if let Ok(second) = second {
            if second.status() == StatusCode::OK {
                found = true;
                tags.extend(listed_tags(&small(second).await?.1));
            }
        }
        if !found {
            return Ok(proxy::relay_read(
                &self.gw.members,
                &origin,
                first_head,
                first_body,
            ));
        }
        tags.sort();
        tags.dedup();
        let Some((page, more)) = paging::tags_page(&tags, n, &last) else {
            return Ok(response::empty(StatusCode::NOT_FOUND));
        };
        let body = serde_json::to_vec(&json!({ "name": name, "tags": page })).map_err(|e| {
            GatewayError::BadMember {
                member: self.gw.members.get(self.owner).name.clone(),
                reason: e.to_string(),
            }
        })?;
        let mut resp = response::text(StatusCode::OK, "application/json", body.into());
        if let (Some(n), Some(last_tag), true) = (n, page.last(), more) {
            if let Ok(link) = HeaderValue::from_str(&paging::tags_link(name, n, last_tag)) {
                resp.headers_mut().insert(header::LINK, link);
            }
        }
        Ok(resp)
    }

    /// Deleted on both owners; the owner's answer unless only the previous one held it.
    async fn delete(&self, req: Request<Incoming>) -> Result<Response<Body>, GatewayError> {
        let (parts, _) = req.into_parts();
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let (first, second) = join(
            self.send(self.owner, &parts, Method::DELETE, path),
            self.send(self.previous, &parts, Method::DELETE, path),
        )
        .await;
        let origin = self.origin(&parts);
        let first = first?;
        match second {
            Ok(second) if !first.status().is_success() && second.status().is_success() => Ok(
                proxy::relay(&self.gw.members, self.previous, &origin, second),
            ),
            _ => Ok(proxy::relay(&self.gw.members, self.owner, &origin, first)),
        }
    }

    /// An upload session lives where it was opened: on the previous owner
    /// when the owner does not know it.
    async fn upload(&self, req: Request<Incoming>) -> Routed {
        let (parts, body) = req.into_parts();
        // With its query: distribution keeps a session's state there.
        let path = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let target = match self.send(self.owner, &parts, Method::GET, &path).await {
            Ok(status) if status.status() == StatusCode::NOT_FOUND => self.previous,
            _ => self.owner,
        };
        proxy::forward(
            self.gw,
            target,
            self.client,
            Request::from_parts(parts, body),
        )
        .await
    }

    /// Copies what the manifest names and the owner lacks, then stores it on the owner.
    async fn put_manifest(
        &self,
        req: Request<Incoming>,
        name: &str,
    ) -> Result<Response<Body>, GatewayError> {
        let (parts, body) = req.into_parts();
        let body = match Limited::new(body, MANIFEST_BYTES).collect().await {
            Ok(collected) => collected.to_bytes(),
            // The node's own answer to a manifest over its limit.
            Err(err) if err.is::<LengthLimitError>() => {
                let reason =
                    format!("manifest body exceeds maximum allowed size of {MANIFEST_BYTES} bytes");
                return Err(GatewayError::Oci(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    OciError::new(ErrorCode::ManifestInvalid).with("reason", reason),
                ));
            }
            Err(err) => {
                return Err(GatewayError::ClientBody {
                    reason: err.to_string(),
                })
            }
        };
        self.copy_references(&parts, name, &body, DEPTH).await;
        let members = &self.gw.members;
        let mut up = proxy::request_head(members, self.owner, self.client, &parts)?;
        *up.body_mut() = full(body);
        let resp = members.send(self.owner, up).await?;
        Ok(proxy::relay(
            members,
            self.owner,
            &self.origin(&parts),
            resp,
        ))
    }

    /// Every blob and manifest `manifest` names that the owner lacks, copied
    /// from the previous owner; what cannot be copied is left for the
    /// owner's own check of the manifest to name.
    async fn copy_references(
        &self,
        parts: &http::request::Parts,
        name: &str,
        manifest: &[u8],
        depth: u8,
    ) {
        let Ok(value) = serde_json::from_slice::<Value>(manifest) else {
            return;
        };
        for (kind, digest) in references(&value) {
            let path = format!("/v2/{name}/{kind}/{digest}");
            let present = self
                .send(self.owner, parts, Method::HEAD, &path)
                .await
                .is_ok_and(|r| r.status().is_success());
            if present {
                continue;
            }
            let copied = match kind {
                "blobs" => self.copy_blob(parts, name, &digest).await,
                _ if depth > 0 => {
                    Box::pin(self.copy_manifest(parts, name, &digest, depth - 1)).await
                }
                _ => Ok(()),
            };
            if let Err(err) = copied {
                tracing::info!(error = %err, %digest, "not copied from the previous owner");
            }
        }
    }

    async fn copy_blob(
        &self,
        parts: &http::request::Parts,
        name: &str,
        digest: &str,
    ) -> Result<(), GatewayError> {
        let copy = Copy {
            gw: self.gw,
            client: self.client,
            parts,
            target: self.owner,
            source: self.previous,
        };
        copy.run(name, name, digest).await.map(drop)
    }

    async fn copy_manifest(
        &self,
        parts: &http::request::Parts,
        name: &str,
        digest: &str,
        depth: u8,
    ) -> Result<(), GatewayError> {
        let members = &self.gw.members;
        let path = format!("/v2/{name}/manifests/{digest}");
        let mut get = proxy::request_to(
            members,
            self.previous,
            self.client,
            parts,
            (Method::GET, &path),
        )?;
        get.headers_mut()
            .insert(header::ACCEPT, HeaderValue::from_static(MANIFEST_TYPES));
        let found = members.send(self.previous, get).await?;
        if found.status() != StatusCode::OK {
            return Ok(());
        }
        let media_type = found.headers().get(header::CONTENT_TYPE).cloned();
        let (_, body) = small(found).await?;
        self.copy_references(parts, name, &body, depth).await;
        let mut put = proxy::request_to(
            members,
            self.owner,
            self.client,
            parts,
            (Method::PUT, &path),
        )?;
        let headers = put.headers_mut();
        if let Some(media_type) = media_type {
            headers.insert(header::CONTENT_TYPE, media_type);
        }
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        *put.body_mut() = full(body);
        members.send(self.owner, put).await.map(drop)
    }
}

/// What a manifest names, as `(blobs|manifests, digest)`: its config and
/// layers, an index's children, and its subject.
fn references(manifest: &Value) -> Vec<(&'static str, String)> {
    let digest = |d: &Value| d["digest"].as_str().map(str::to_owned);
    let mut out = Vec::new();
    out.extend(digest(&manifest["config"]).map(|d| ("blobs", d)));
    for layer in manifest["layers"].as_array().into_iter().flatten() {
        out.extend(digest(layer).map(|d| ("blobs", d)));
    }
    for child in manifest["manifests"].as_array().into_iter().flatten() {
        out.extend(digest(child).map(|d| ("manifests", d)));
    }
    out.extend(digest(&manifest["subject"]).map(|d| ("manifests", d)));
    out.dedup();
    out
}

/// A tag list's `tags` (zot writes `null` for none).
fn listed_tags(body: &[u8]) -> Vec<String> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| serde_json::from_value(v["tags"].clone()).ok())
        .unwrap_or_default()
}

/// A member's short answer, read whole.
async fn small(resp: Response<Incoming>) -> Result<(http::response::Parts, Bytes), GatewayError> {
    let (head, body) = resp.into_parts();
    let body = Limited::new(body, SMALL_BYTES)
        .collect()
        .await
        .map_err(|e| GatewayError::BadMember {
            member: String::new(),
            reason: format!("reading a short answer: {e}"),
        })?
        .to_bytes();
    Ok((head, body))
}

fn full(body: Bytes) -> UpstreamBody {
    Full::new(body).map_err(|never| match never {}).boxed()
}
