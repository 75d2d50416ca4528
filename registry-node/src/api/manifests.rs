//! `/v2/<name>/manifests/<reference>`: HEAD, GET, PUT and DELETE, with zot's checks in zot's order.

use http::{header, StatusCode};

use super::query::Query;
use super::response::{self, set};
use super::{read_limited, Node, Request, Response};
use crate::auth::{manifest_write_actions, Identity};
use crate::error::{ErrorCode, NodeError, Result};
use crate::meta::Pushed;
use crate::storage::layout::is_manifest_media_type;
use crate::storage::ManifestPut;
use flotilla_protocol::digest::Digest;

/// zot's `MaxManifestBodySize`.
const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;
/// zot's `MaxManifestDigestQueryTags`: what fits in an 8 KiB request line.
const MAX_TAG_PARAMS: usize = (8192 - 2048) / ("tag=".len() + 128 + 1);

/// GET and HEAD. HEAD carries the same headers and, as zot, no body.
pub(super) async fn get(node: &Node, name: &str, reference: &str, head: bool) -> Result<Response> {
    let manifest = match node.store.get_manifest(name, reference).await {
        // zot's HEAD names the reference, not the repository, in NAME_UNKNOWN.
        Err(NodeError::Oci { error, .. })
            if head && error.code == ErrorCode::NameUnknown.as_str() =>
        {
            return Err(
                NodeError::oci(StatusCode::NOT_FOUND, ErrorCode::NameUnknown)
                    .with("reference", reference),
            )
        }
        other => other?,
    };
    // zot's `OnGetManifest`: a GET (not a HEAD) counts as a download.
    if let (Some(meta), false) = (&node.meta, head) {
        meta.on_pull(name, reference, &manifest.digest, &manifest.media_type);
    }
    let mut resp = if head {
        let mut resp = response::empty(StatusCode::OK);
        set(&mut resp, header::CONTENT_TYPE, &manifest.media_type);
        set(
            &mut resp,
            header::CONTENT_LENGTH,
            &manifest.body.len().to_string(),
        );
        resp
    } else {
        response::bytes(StatusCode::OK, &manifest.media_type, manifest.body)
    };
    set(&mut resp, "Docker-Content-Digest", &manifest.digest);
    Ok(resp)
}

/// zot's manifest-write authorization: `update` for tags that already
/// exist, `create` for new ones and for a push by digest alone.
pub(super) async fn authorize_put(
    node: &Node,
    who: &Identity,
    name: &str,
    reference: &str,
    req: &Request,
) -> Result<()> {
    let existing = node.store.tags(name).await.unwrap_or_default();
    let q = Query::parse(req.uri().query());
    let query_tags: Vec<String> = q.all("tag").into_iter().map(str::to_owned).collect();
    let path_tag = reference.parse::<Digest>().is_err().then_some(reference);
    for action in manifest_write_actions(path_tag, &query_tags, &existing) {
        node.access
            .authorize(who, name, action, req.headers())
            .await?;
    }
    Ok(())
}

/// zot's `UpdateManifest`, then its metadata hook.
pub(super) async fn put(
    node: &Node,
    who: &Identity,
    name: &str,
    reference: &str,
    req: Request,
) -> Result<Response> {
    let invalid = |status| NodeError::oci(status, ErrorCode::ManifestInvalid);
    let is_digest = reference.parse::<Digest>().is_ok();
    if !is_digest && Digest::looks_like(reference) {
        return Err(
            NodeError::oci(StatusCode::BAD_REQUEST, ErrorCode::DigestInvalid)
                .with("reference", reference),
        );
    }
    if !is_digest && !is_tag(reference) {
        return Err(invalid(StatusCode::BAD_REQUEST).with("reference", reference));
    }
    let media_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if !is_manifest_media_type(&media_type) {
        return Err(invalid(StatusCode::UNSUPPORTED_MEDIA_TYPE).with("mediaType", media_type));
    }
    let extra_tags = extra_tags(&Query::parse(req.uri().query()), is_digest)?;
    let body = read_limited(req, MAX_MANIFEST_BYTES)
        .await?
        .ok_or_else(|| {
            invalid(StatusCode::PAYLOAD_TOO_LARGE).with(
                "reason",
                format!("manifest body exceeds maximum allowed size of {MAX_MANIFEST_BYTES} bytes"),
            )
        })?;
    if body.is_empty() {
        return Err(invalid(StatusCode::BAD_REQUEST).with("reference", reference));
    }
    let pushed = node
        .store
        .put_manifest(ManifestPut {
            repo: name,
            reference,
            media_type: &media_type,
            body: body.clone(),
            extra_tags: extra_tags.clone(),
        })
        .await?;
    if let Some(meta) = &node.meta {
        // zot's `OnUpdateManifest`, once per `?tag=` of a push by digest.
        let references = if extra_tags.is_empty() {
            vec![reference.to_owned()]
        } else {
            extra_tags.clone()
        };
        let digest = pushed.digest.to_string();
        let event = Pushed {
            repo: name,
            media_type: &media_type,
            digest: &digest,
            body: &body,
            user: who.name(),
        };
        meta.on_push(&node.store, event, &references).await;
    }
    let mut resp = response::empty(StatusCode::CREATED);
    if let Some(subject) = &pushed.subject {
        set(&mut resp, "OCI-Subject", subject);
    }
    set(
        &mut resp,
        header::LOCATION,
        &format!("/v2/{name}/manifests/{}", pushed.digest),
    );
    set(
        &mut resp,
        "Docker-Content-Digest",
        &pushed.digest.to_string(),
    );
    for tag in &extra_tags {
        if let Ok(value) = http::HeaderValue::from_str(tag) {
            resp.headers_mut().append("OCI-Tag", value);
        }
    }
    Ok(resp)
}

/// The `?tag=` values of a push by digest: trimmed, valid, de-duplicated in order.
fn extra_tags(q: &Query, is_digest: bool) -> Result<Vec<String>> {
    let raw = q.all("tag");
    let invalid = |status, reason: &str| {
        NodeError::oci(status, ErrorCode::ManifestInvalid).with("reason", reason)
    };
    if raw.len() > MAX_TAG_PARAMS {
        return Err(invalid(
            StatusCode::URI_TOO_LONG,
            &format!("too many tag query parameters (max {MAX_TAG_PARAMS})"),
        ));
    }
    let mut tags: Vec<String> = Vec::new();
    for tag in raw.iter().map(|t| t.trim()) {
        if tag.is_empty() {
            return Err(invalid(
                StatusCode::BAD_REQUEST,
                "empty tag query parameter",
            ));
        }
        if !is_tag(tag) {
            return Err(invalid(
                StatusCode::BAD_REQUEST,
                "invalid tag query parameter",
            ));
        }
        if !tags.iter().any(|t| t == tag) {
            tags.push(tag.to_owned());
        }
    }
    if !tags.is_empty() && !is_digest {
        return Err(invalid(
            StatusCode::BAD_REQUEST,
            "tag query parameters are only valid when pushing a manifest by digest",
        ));
    }
    Ok(tags)
}

/// The distribution-spec tag grammar: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
fn is_tag(tag: &str) -> bool {
    let mut bytes = tag.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
    first_ok
        && tag.len() <= 128
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// zot's `DeleteManifest`: 202 on success.
pub(super) async fn delete(
    node: &Node,
    name: &str,
    reference: &str,
    detect_collisions: bool,
) -> Result<Response> {
    let removed = node
        .store
        .delete_manifest(name, reference, detect_collisions)
        .await?;
    if let Some(meta) = &node.meta {
        meta.on_delete(name, reference, &removed.digest).await;
    }
    Ok(response::empty(StatusCode::ACCEPTED))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_grammar() {
        assert!(is_tag("v1.0_rc-1"));
        assert!(is_tag("_x"));
        assert!(!is_tag(".x"));
        assert!(!is_tag(""));
        assert!(!is_tag("a:b"));
        assert!(!is_tag(&"a".repeat(129)));
    }

    #[test]
    fn extra_tags_need_a_digest_reference() {
        let q = Query::parse(Some("tag=a&tag=a&tag=b"));
        assert_eq!(extra_tags(&q, true).unwrap(), vec!["a", "b"]);
        assert!(extra_tags(&q, false).is_err());
        assert!(extra_tags(&Query::parse(Some("tag=")), true).is_err());
    }
}
