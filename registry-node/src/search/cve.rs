//! The CVE queries with scanning off: zot's `r.cveInfo == nil` answer, `cve search is disabled`, for all four (CVE scanning is its own issue).

use serde_json::Value;

/// `CVEListForImage`, `CVEDiffListForImages`, `ImageListForCVE`, `ImageListWithCVEFixed`.
pub(crate) fn disabled() -> Result<Value, String> {
    Err("cve search is disabled".into())
}
