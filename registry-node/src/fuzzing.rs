//! Entry points for the fuzz targets in `fuzz/`: thin calls into parsers of client input that are otherwise private. Not an API.

/// A blob GET's `Range` header against a blob of `size` bytes: inclusive
/// ranges, sorted and coalesced; `None` is a 416.
pub fn blob_ranges(header: &str, size: u64) -> Option<Vec<(u64, u64)>> {
    crate::api::blobs::parse_ranges(header, size)
}

/// A PATCH chunk's `Content-Length` and `Content-Range`: where it starts,
/// or the status the node refuses it with.
pub fn chunk_start(length: &str, range: &str) -> Result<u64, http::StatusCode> {
    crate::api::uploads::chunk_start(length, range).map_err(|e| e.status())
}
