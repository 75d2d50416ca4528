//! `/v2/<name>/blobs/<digest>`: HEAD, GET with single and multiple byte ranges, DELETE.

use bytes::Bytes;
use futures_util::StreamExt;
use http::{header, StatusCode};
use http_body_util::{BodyExt, BodyStream, StreamBody};

use super::response::{self, set, Body};
use super::{Node, Request, Response};
use crate::error::{ErrorCode, NodeError, Result};
use flotilla_protocol::digest::Digest;

/// zot's `maxRangeSpecCount`.
const MAX_RANGES: usize = 16;
const OCTET_STREAM: &str = "application/octet-stream";

fn parse_digest(digest: &str) -> Result<Digest> {
    digest.parse().map_err(|_| {
        NodeError::oci(StatusCode::BAD_REQUEST, ErrorCode::DigestInvalid).with("digest", digest)
    })
}

async fn media_type(node: &Node, name: &str, digest: &Digest) -> String {
    node.store
        .blob_media_type(name, digest)
        .await
        .unwrap_or_else(|| OCTET_STREAM.to_owned())
}

/// zot's `CheckBlob`.
pub(super) async fn head(node: &Node, name: &str, digest: &str) -> Result<Response> {
    let digest = parse_digest(digest)?;
    node.store.require_repo(name).await?;
    let size = node
        .store
        .stat_blob(name, &digest)
        .await
        .ok_or_else(|| blob_unknown(&digest))?;
    let mut resp = response::empty(StatusCode::OK);
    set(&mut resp, header::CONTENT_LENGTH, &size.to_string());
    set(&mut resp, header::ACCEPT_RANGES, "bytes");
    set(
        &mut resp,
        header::CONTENT_TYPE,
        &media_type(node, name, &digest).await,
    );
    set(&mut resp, "Docker-Content-Digest", &digest.to_string());
    Ok(resp)
}

/// zot's `GetBlob`: the whole blob, one range (206 + `Content-Range`), or
/// several (206 `multipart/byteranges`); an unsatisfiable range is 416.
pub(super) async fn get(node: &Node, name: &str, digest: &str, req: &Request) -> Result<Response> {
    let digest = parse_digest(digest)?;
    node.store.require_repo(name).await?;
    let (file, size) = node.store.open_blob(name, &digest).await?;
    let content_type = media_type(node, name, &digest).await;
    let Some(range) = req.headers().get(header::RANGE) else {
        let mut resp = http::Response::new(response::file_range(file, 0, size).await?);
        set(&mut resp, header::CONTENT_TYPE, &content_type);
        set(&mut resp, header::CONTENT_LENGTH, &size.to_string());
        set(&mut resp, "Docker-Content-Digest", &digest.to_string());
        return Ok(resp);
    };
    let ranges = range
        .to_str()
        .ok()
        .and_then(|r| parse_ranges(r, size))
        .ok_or(NodeError::RangeNotSatisfiable { size })?;
    let mut resp = match ranges.as_slice() {
        [(start, end)] => {
            let len = end - start + 1;
            let mut resp = http::Response::new(response::file_range(file, *start, len).await?);
            set(&mut resp, header::CONTENT_TYPE, &content_type);
            set(&mut resp, header::CONTENT_LENGTH, &len.to_string());
            set(
                &mut resp,
                header::CONTENT_RANGE,
                &format!("bytes {start}-{end}/{size}"),
            );
            resp
        }
        _ => multipart(node, name, &digest, &ranges, size, &content_type).await?,
    };
    *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
    set(&mut resp, "Docker-Content-Digest", &digest.to_string());
    Ok(resp)
}

/// Several ranges as `multipart/byteranges`, each part streamed from disk.
async fn multipart(
    node: &Node,
    name: &str,
    digest: &Digest,
    ranges: &[(u64, u64)],
    size: u64,
    content_type: &str,
) -> Result<Response> {
    let boundary = uuid::Uuid::new_v4().simple().to_string();
    let mut parts: Vec<Body> = Vec::new();
    for (i, (start, end)) in ranges.iter().enumerate() {
        let lead = if i == 0 { "" } else { "\r\n" };
        let head = format!(
            "{lead}--{boundary}\r\nContent-Range: bytes {start}-{end}/{size}\r\nContent-Type: {content_type}\r\n\r\n"
        );
        parts.push(response::bytes(StatusCode::OK, "", Bytes::from(head)).into_body());
        let (file, _) = node.store.open_blob(name, digest).await?;
        parts.push(response::file_range(file, *start, end - start + 1).await?);
    }
    let tail = format!("\r\n--{boundary}--\r\n");
    parts.push(response::bytes(StatusCode::OK, "", Bytes::from(tail)).into_body());
    let stream = futures_util::stream::iter(parts.into_iter().map(BodyStream::new)).flatten();
    let mut resp = http::Response::new(BodyExt::boxed(StreamBody::new(stream)));
    set(
        &mut resp,
        header::CONTENT_TYPE,
        &format!("multipart/byteranges; boundary={boundary}"),
    );
    Ok(resp)
}

/// zot's `parseRangeHeader` + `coalesceRanges`: inclusive `(start, end)`
/// pairs, sorted and merged; `None` when unsatisfiable or malformed.
pub(crate) fn parse_ranges(header: &str, size: u64) -> Option<Vec<(u64, u64)>> {
    let set = header.strip_prefix("bytes=")?;
    if size == 0 || set.is_empty() || set.matches(',').count() + 1 > MAX_RANGES {
        return None;
    }
    let mut ranges = Vec::new();
    for spec in set.split(',').map(str::trim) {
        let (start, end) = spec.split_once('-')?;
        let (start, end) = if start.is_empty() {
            let suffix: i64 = end.parse().ok()?;
            if suffix <= 0 {
                return None;
            }
            (size.saturating_sub(suffix as u64), size - 1)
        } else {
            let start: u64 = start.parse().ok()?;
            let end = if end.is_empty() {
                size - 1
            } else {
                let end: u64 = end.parse().ok()?;
                if end < start {
                    return None;
                }
                end.min(size - 1)
            };
            (start, end)
        };
        if start >= size || start > end {
            return None;
        }
        ranges.push((start, end));
    }
    ranges.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        match merged.last_mut() {
            Some(last) if start <= last.1 + 1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    Some(merged)
}

/// zot's `DeleteBlob`: an unparsable digest is a bare 404; 202 on success.
pub(super) async fn delete(node: &Node, name: &str, digest: &str) -> Result<Response> {
    let digest: Digest = digest
        .parse()
        .map_err(|_| NodeError::Status(StatusCode::NOT_FOUND))?;
    node.store.delete_blob(name, &digest).await?;
    Ok(response::empty(StatusCode::ACCEPTED))
}

pub(super) fn blob_unknown(digest: &Digest) -> NodeError {
    NodeError::oci(StatusCode::NOT_FOUND, ErrorCode::BlobUnknown).with("digest", digest.to_string())
}

#[cfg(test)]
mod tests {
    use super::parse_ranges;

    #[test]
    fn ranges_as_zot_parses_them() {
        assert_eq!(parse_ranges("bytes=0-9", 100), Some(vec![(0, 9)]));
        assert_eq!(parse_ranges("bytes=90-", 100), Some(vec![(90, 99)]));
        assert_eq!(parse_ranges("bytes=-10", 100), Some(vec![(90, 99)]));
        assert_eq!(parse_ranges("bytes=-1000", 100), Some(vec![(0, 99)]));
        assert_eq!(parse_ranges("bytes=50-1000", 100), Some(vec![(50, 99)]));
        assert_eq!(
            parse_ranges("bytes=10-19,0-9,40-49", 100),
            Some(vec![(0, 19), (40, 49)])
        );
        for bad in [
            "bytes=100-",
            "bytes=5-1",
            "bytes=",
            "items=0-1",
            "bytes=-0",
            "bytes=a-b",
            "bytes=0-1,",
        ] {
            assert_eq!(parse_ranges(bad, 100), None, "{bad}");
        }
        assert_eq!(parse_ranges("bytes=0-0", 0), None);
    }
}
