//! Blob uploads: start (plain, monolithic, or mount), status, chunk, finish, cancel — zot's handlers, check for check.

use http::{header, HeaderMap, StatusCode};

use super::query::Query;
use super::response::{self, set};
use super::{body_stream, Node, Request, Response};
use crate::auth::Identity;
use crate::error::{ErrorCode, NodeError, Result};
use crate::storage::BodyError;
use flotilla_protocol::digest::Digest;

/// zot's `CreateBlobUpload`.
pub(super) async fn start(
    node: &Node,
    who: &Identity,
    name: &str,
    req: Request,
) -> Result<Response> {
    let q = Query::parse(req.uri().query());
    if q.has("mount") {
        let [mount] = q.all("mount")[..] else {
            return Err(NodeError::Status(StatusCode::BAD_REQUEST));
        };
        if let Ok(digest) = mount.parse::<Digest>() {
            if mount_from(node, who, name, q.first("from"), &digest).await? {
                let mut resp = response::empty(StatusCode::CREATED);
                set(
                    &mut resp,
                    header::LOCATION,
                    &format!("/v2/{name}/blobs/{digest}"),
                );
                return Ok(resp);
            }
        }
        return new_session(node, name).await;
    }
    if q.has("from") {
        return Err(NodeError::Status(StatusCode::METHOD_NOT_ALLOWED));
    }
    if !q.has("digest") {
        return new_session(node, name).await;
    }
    let [digest] = q.all("digest")[..] else {
        return Err(NodeError::Status(StatusCode::BAD_REQUEST));
    };
    if header_str(req.headers(), header::CONTENT_TYPE) != Some("application/octet-stream") {
        return Err(NodeError::Status(StatusCode::UNSUPPORTED_MEDIA_TYPE));
    }
    let digest: Digest = digest.parse().map_err(|_| {
        NodeError::oci(StatusCode::BAD_REQUEST, ErrorCode::DigestInvalid).with("digest", digest)
    })?;
    if header_str(req.headers(), header::CONTENT_LENGTH).is_none() {
        return Err(
            NodeError::oci(StatusCode::BAD_REQUEST, ErrorCode::BlobUploadInvalid)
                .with("digest", digest.to_string())
                .with("Content-Length", "-1"),
        );
    }
    let session = node.store.put_blob(name, &digest, body_stream(req)).await?;
    let mut resp = response::empty(StatusCode::CREATED);
    set(
        &mut resp,
        header::LOCATION,
        &format!("/v2/{name}/blobs/{digest}"),
    );
    set(&mut resp, "Blob-Upload-UUID", &session);
    Ok(resp)
}

/// A mount succeeds when the blob is already in `name`, or when `from`
/// holds it and the caller may read `from`. Otherwise the client gets an
/// upload session, as the spec's fallback says.
async fn mount_from(
    node: &Node,
    who: &Identity,
    name: &str,
    from: &str,
    digest: &Digest,
) -> Result<bool> {
    if node.store.stat_blob(name, digest).await.is_some() {
        return Ok(true);
    }
    if from.is_empty()
        || !flotilla_protocol::name::is_valid(from)
        || !node.access.can_read(who, from)
    {
        return Ok(false);
    }
    node.store.mount_blob(name, from, digest).await
}

async fn new_session(node: &Node, name: &str) -> Result<Response> {
    let id = node.store.new_upload(name).await?;
    let mut resp = response::empty(StatusCode::ACCEPTED);
    set(&mut resp, header::LOCATION, &session_location(name, &id));
    set(&mut resp, header::RANGE, "0-0");
    Ok(resp)
}

fn session_location(name: &str, id: &str) -> String {
    format!("/v2/{name}/blobs/uploads/{id}")
}

/// zot's `GetBlobUpload`: 204 with the bytes received so far.
pub(super) async fn status(node: &Node, name: &str, id: &str, _req: &Request) -> Result<Response> {
    let size = node.store.upload_size(name, id).await?;
    let mut resp = response::empty(StatusCode::NO_CONTENT);
    set(&mut resp, header::LOCATION, &session_location(name, id));
    set(&mut resp, header::RANGE, &received(size));
    Ok(resp)
}

/// zot's `PatchBlobUpload`: with both `Content-Length` and `Content-Range`
/// the chunk must start where the upload ends; otherwise it is appended.
pub(super) async fn patch(node: &Node, name: &str, id: &str, req: Request) -> Result<Response> {
    let length = header_str(req.headers(), header::CONTENT_LENGTH).filter(|v| !v.is_empty());
    let range = header_str(req.headers(), header::CONTENT_RANGE).filter(|v| !v.is_empty());
    let from = match (length, range) {
        (Some(length), Some(range)) => Some(chunk_start(length, range)?),
        _ => None,
    };
    let size = node
        .store
        .append_upload(name, id, from, body_stream(req))
        .await?;
    let mut resp = response::empty(StatusCode::ACCEPTED);
    set(&mut resp, header::LOCATION, &session_location(name, id));
    set(&mut resp, header::RANGE, &received(size));
    set(&mut resp, header::CONTENT_LENGTH, "0");
    set(&mut resp, "Blob-Upload-UUID", id);
    Ok(resp)
}

/// zot's `UpdateBlobUpload`: an optional last chunk, then the digest check.
pub(super) async fn finish(node: &Node, name: &str, id: &str, req: Request) -> Result<Response> {
    let q = Query::parse(req.uri().query());
    let [digest] = q.all("digest")[..] else {
        return Err(NodeError::Status(StatusCode::BAD_REQUEST));
    };
    let digest: Digest = digest
        .parse()
        .map_err(|_| NodeError::Status(StatusCode::BAD_REQUEST))?;
    let headers = req.headers();
    let length = header_str(headers, header::CONTENT_LENGTH);
    let range = header_str(headers, header::CONTENT_RANGE);
    let chunk_from = if length.is_some() || range.is_some() {
        let length: i64 = length
            .unwrap_or("")
            .parse()
            .ok()
            .filter(|l| *l >= 0)
            .ok_or_else(|| {
                NodeError::oci(StatusCode::BAD_REQUEST, ErrorCode::BlobUploadInvalid)
                    .with("digest", digest.to_string())
            })?;
        match range.filter(|r| !r.is_empty()) {
            None => (length > 0).then_some(0),
            Some(range) => match parse_content_range(range) {
                Some((from, _)) => Some(from as u64),
                None => {
                    return Err(NodeError::oci(
                        StatusCode::RANGE_NOT_SATISFIABLE,
                        ErrorCode::BlobUploadInvalid,
                    )
                    .with("session_id", id))
                }
            },
        }
    } else {
        None
    };
    let body = body_stream(req);
    match chunk_from {
        Some(from) => {
            node.store.append_upload(name, id, Some(from), body).await?;
            let none =
                futures_util::stream::empty::<std::result::Result<bytes::Bytes, BodyError>>();
            node.store.finish_upload(name, id, &digest, none).await?;
        }
        None => node.store.finish_upload(name, id, &digest, body).await?,
    }
    let mut resp = response::empty(StatusCode::CREATED);
    set(
        &mut resp,
        header::LOCATION,
        &format!("/v2/{name}/blobs/{digest}"),
    );
    set(&mut resp, header::CONTENT_LENGTH, "0");
    set(&mut resp, "Docker-Content-Digest", &digest.to_string());
    Ok(resp)
}

/// zot's `DeleteBlobUpload`: 204.
pub(super) async fn cancel(node: &Node, name: &str, id: &str) -> Result<Response> {
    node.store.cancel_upload(name, id).await?;
    Ok(response::empty(StatusCode::NO_CONTENT))
}

/// The `Range` header of an upload: `0-<last byte>`, or `0-0` when empty.
fn received(size: u64) -> String {
    format!("0-{}", size.saturating_sub(1))
}

/// zot's `getContentRange`: `<from>-<to>`, both integers, `from <= to`.
fn parse_content_range(range: &str) -> Option<(i64, i64)> {
    let (from, to) = range.trim().split_once('-')?;
    let from: i64 = from.trim().parse().ok()?;
    let to: i64 = to.trim().parse().ok()?;
    (from >= 0 && from <= to).then_some((from, to))
}

/// Where a PATCH chunk that names both its `Content-Length` and its
/// `Content-Range` starts; the two must agree. Both are a client's numbers,
/// so the range's length is computed without overflow.
pub(crate) fn chunk_start(length: &str, range: &str) -> Result<u64> {
    let length: i64 = length
        .parse()
        .map_err(|_| NodeError::Status(StatusCode::BAD_REQUEST))?;
    match parse_content_range(range) {
        Some((from, to)) if (to - from).checked_add(1) == Some(length) => Ok(from as u64),
        _ => Err(NodeError::Status(StatusCode::RANGE_NOT_SATISFIABLE)),
    }
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges() {
        assert_eq!(parse_content_range("0-99"), Some((0, 99)));
        assert_eq!(parse_content_range(" 100 - 199 "), Some((100, 199)));
        assert_eq!(parse_content_range("5-1"), None);
        assert_eq!(parse_content_range("bytes 0-1"), None);
        assert_eq!(parse_content_range("0-"), None);
        assert_eq!(received(0), "0-0");
        assert_eq!(received(10), "0-9");
    }

    /// A range spanning every `i64` once overflowed computing its length:
    /// a panic in a debug build.
    #[test]
    fn chunk_length_and_range_must_agree() {
        assert_eq!(chunk_start("10", "5-14").ok(), Some(5));
        assert!(chunk_start("10", "5-13").is_err());
        assert!(chunk_start("x", "5-14").is_err());
        assert!(chunk_start("-1", &format!("0-{}", i64::MAX)).is_err());
        assert!(chunk_start("1", &format!("{0}-{0}", i64::MAX)).is_ok());
    }
}
