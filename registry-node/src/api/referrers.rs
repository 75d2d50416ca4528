//! `/v2/<name>/referrers/<digest>`: the manifests whose subject is a digest, filterable by `artifactType`.

use http::StatusCode;

use super::query::Query;
use super::response::{self, set};
use super::{Node, Request, Response};
use crate::error::{NodeError, Result};
use crate::storage::layout::OCI_INDEX;
use flotilla_protocol::digest::Digest;

/// zot's `GetReferrers`: an invalid digest is a bare 400; a missing
/// repository is an empty index.
pub(super) async fn list(node: &Node, name: &str, digest: &str, req: &Request) -> Result<Response> {
    let digest: Digest = digest
        .parse()
        .map_err(|_| NodeError::Status(StatusCode::BAD_REQUEST))?;
    let q = Query::parse(req.uri().query());
    let types: Vec<String> = q
        .all("artifactType")
        .into_iter()
        .map(str::to_owned)
        .collect();
    let index = node.store.referrers(name, &digest, &types).await?;
    let body = serde_json::to_vec(&index).map_err(|e| NodeError::Corrupt(e.to_string()))?;
    let mut resp = response::bytes(StatusCode::OK, OCI_INDEX, body.into());
    if !types.is_empty() {
        set(&mut resp, "OCI-Filters-Applied", "artifactType");
    }
    Ok(resp)
}
