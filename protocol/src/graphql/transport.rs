//! GraphQL over HTTP as gqlgen serves it: GET with `query`/`variables`/`operationName`, POST with a JSON body, and the answers to bad requests.

use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::error::{GqlError, VALIDATION_FAILED};
use super::normalize::Request;
use super::Response;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostBody {
    #[serde(default)]
    query: String,
    #[serde(default)]
    operation_name: Option<String>,
    #[serde(default)]
    variables: Option<Map<String, Value>>,
}

/// Reads a request; the `Err` is the complete answer to a request that cannot be run.
pub fn read(
    method: &Method,
    query: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Request, Response> {
    let bad =
        |message: String| Response::rejected(StatusCode::BAD_REQUEST, vec![GqlError::new(message)]);
    let req = match *method {
        Method::GET => {
            let params: Vec<(String, String)> =
                form_urlencoded::parse(query.unwrap_or("").as_bytes())
                    .into_owned()
                    .collect();
            let param = |k: &str| {
                params
                    .iter()
                    .find(|(key, _)| key == k)
                    .map(|(_, v)| v.clone())
            };
            let variables = match param("variables").filter(|v| !v.is_empty()) {
                Some(text) => serde_json::from_str(&text)
                    .map_err(|_| bad("variables could not be decoded".into()))?,
                None => Map::new(),
            };
            Request {
                query: param("query").unwrap_or_default(),
                operation_name: param("operationName"),
                variables,
            }
        }
        Method::POST => {
            let media = content_type
                .unwrap_or("")
                .split(';')
                .next()
                .unwrap_or("")
                .trim();
            if !media.eq_ignore_ascii_case("application/json") {
                return Err(bad("transport not supported".into()));
            }
            let post: PostBody = serde_json::from_slice(body).map_err(|e| {
                bad(format!(
                    "json request body could not be decoded: {e} body:{}",
                    String::from_utf8_lossy(body)
                ))
            })?;
            Request {
                query: post.query,
                operation_name: post.operation_name,
                variables: post.variables.unwrap_or_default(),
            }
        }
        _ => return Err(bad("transport not supported".into())),
    };
    if req.query.trim().is_empty() {
        let err = GqlError::new("no operation provided").code(VALIDATION_FAILED);
        return Err(Response::rejected(
            StatusCode::UNPROCESSABLE_ENTITY,
            vec![err],
        ));
    }
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_reads_query_variables_and_operation() {
        let q = "query=query%20Q(%24r%3AString!)%7BImageList(repo%3A%24r)%7BPage%7BItemCount%7D%7D%7D&variables=%7B%22r%22%3A%22a%22%7D&operationName=Q";
        let req = read(&Method::GET, Some(q), None, b"ignored").unwrap();
        assert_eq!(req.operation_name.as_deref(), Some("Q"));
        assert_eq!(req.variables["r"], "a");
        assert!(req.query.starts_with("query Q"));
    }

    #[test]
    fn bad_requests_get_gqlgens_answers() {
        let missing = read(&Method::GET, None, None, b"").unwrap_err();
        assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
        let vars = read(
            &Method::GET,
            Some("query=%7Ba%7D&variables=%7Bnope"),
            None,
            b"",
        )
        .unwrap_err();
        assert_eq!(
            (vars.status, vars.errors[0].message.as_str()),
            (StatusCode::BAD_REQUEST, "variables could not be decoded")
        );
        let transport = read(&Method::POST, None, Some("text/plain"), b"{}").unwrap_err();
        assert_eq!(transport.errors[0].message, "transport not supported");
        let body = read(
            &Method::POST,
            None,
            Some("application/json; charset=utf-8"),
            b"{nope",
        )
        .unwrap_err();
        assert!(body.errors[0]
            .message
            .starts_with("json request body could not be decoded"));
        assert_eq!(
            String::from_utf8(body.to_bytes()).unwrap(),
            format!(
                "{{\"errors\":[{{\"message\":\"{}\"}}],\"data\":null}}",
                body.errors[0].message.replace('"', "\\\"")
            )
        );
        let post = read(
            &Method::POST,
            None,
            Some("application/json"),
            br#"{"query":"{x}","variables":null}"#,
        )
        .unwrap();
        assert_eq!(post.query, "{x}");
    }
}
