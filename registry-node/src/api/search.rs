//! `/v2/_zot/ext/search`: GraphQL over HTTP as zot's gqlgen server answers it, run against the node's metadata.

use http::{header, Method, StatusCode};

use super::extensions::nosniff;
use super::response;
use super::{read_limited, Node, Request, Response};
use crate::auth::Identity;
use crate::error::Result;
use crate::search::NodeResolver;
use flotilla_protocol::graphql::{self, schema::SEARCH, transport};

/// A bound on a POSTed query document; zui's largest query is a few KiB.
const MAX_BODY: usize = 1024 * 1024;

const JSON: &str = "application/json";
const GRAPHQL_JSON: &str = "application/graphql-response+json";

/// gqlgen's `determineResponseContentType`: JSON unless the client's
/// `Accept` asks for `application/graphql-response+json` or names nothing JSON can answer.
fn response_type(accept: Option<&str>) -> &'static str {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return JSON;
    };
    for entry in accept.split(',') {
        let media = entry
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match media.as_str() {
            GRAPHQL_JSON => return GRAPHQL_JSON,
            JSON | "*/*" | "application/*" => return JSON,
            _ => {}
        }
    }
    GRAPHQL_JSON
}

/// GET `?query=` or POST JSON; 422 for documents that do not validate (400
/// when answering `application/graphql-response+json`), 200 otherwise.
pub(super) async fn search(node: &Node, who: Identity, req: Request) -> Result<Response> {
    super::only(req.method(), &[Method::GET, Method::POST])?;
    let Some(meta) = node.meta.clone() else {
        return Ok(super::base::not_found());
    };
    let method = req.method().clone();
    let query = req.uri().query().map(str::to_owned);
    let header = |name| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (content_type, accept) = (header(header::CONTENT_TYPE), header(header::ACCEPT));
    // zli sends its query as a GET body too; gqlgen ignores it, so do we.
    let body = if method == Method::POST {
        read_limited(req, MAX_BODY).await?.unwrap_or_default()
    } else {
        bytes::Bytes::new()
    };
    let answer = match transport::read(&method, query.as_deref(), content_type.as_deref(), &body) {
        Ok(request) => {
            let resolver = NodeResolver {
                meta,
                access: node.access.clone(),
                who,
            };
            // Parsing, normalizing (bounded by the budget, still milliseconds
            // for a large document) and resolving (CPU work over the
            // in-memory metadata, seconds for a whole 25k-repository list)
            // all run off the async threads, so health checks and pulls are
            // not held up behind one heavy query.
            let runtime = tokio::runtime::Handle::current();
            let budget = node.extensions.search_budget;
            let run =
                move || runtime.block_on(graphql::execute(&SEARCH, &request, &budget, &resolver));
            tokio::task::spawn_blocking(run)
                .await
                .map_err(|e| crate::error::NodeError::Io(std::io::Error::other(e)))?
        }
        Err(rejected) => rejected,
    };
    let kind = response_type(accept.as_deref());
    let status = match answer.status {
        StatusCode::UNPROCESSABLE_ENTITY if kind == GRAPHQL_JSON => StatusCode::BAD_REQUEST,
        status => status,
    };
    let mut resp = response::bytes(status, kind, answer.to_bytes().into());
    node.extensions.cors(&mut resp, "GET,POST");
    nosniff(&mut resp);
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_content_type_follows_accept() {
        assert_eq!(response_type(None), JSON);
        assert_eq!(response_type(Some("*/*")), JSON);
        assert_eq!(
            response_type(Some("application/graphql-response+json, application/json")),
            GRAPHQL_JSON
        );
        assert_eq!(
            response_type(Some("text/html, application/json;q=0.9")),
            JSON
        );
        assert_eq!(response_type(Some("text/html")), GRAPHQL_JSON);
    }
}
