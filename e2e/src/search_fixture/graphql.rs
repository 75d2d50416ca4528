//! GraphQL against `/v2/_zot/ext/search` as zui and zli send it: GET with `?query=`, or a POSTed JSON body.

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};

use crate::Registry;

/// The search endpoint's path.
pub const SEARCH_PATH: &str = "/v2/_zot/ext/search";

/// A search client for one caller (anonymous or a user) of one node.
#[derive(Debug, Clone)]
pub struct Gql {
    http: Registry,
}

/// A whole answer: the HTTP status and the JSON body (`errors`, `data`).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    pub body: Value,
}

impl Answer {
    /// `data` (JSON `null` when it is null or absent).
    pub fn data(&self) -> &Value {
        self.body.get("data").unwrap_or(&Value::Null)
    }

    /// The `errors` entries (empty when there are none).
    pub fn errors(&self) -> Vec<Value> {
        self.body["errors"].as_array().cloned().unwrap_or_default()
    }

    /// The first error's message, if any.
    pub fn message(&self) -> Option<&str> {
        self.body["errors"][0]["message"].as_str()
    }

    /// Fails unless this is how gqlgen answers a resolver error: HTTP 200,
    /// `data: null`, and one error with `message` and a `path` naming `field`.
    pub fn ensure_resolver_error(&self, field: &str, message: &str) -> Result<()> {
        ensure!(
            self.status == 200,
            "expected 200, got {}: {}",
            self.status,
            self.body
        );
        ensure!(
            self.data().is_null(),
            "expected `data: null`: {}",
            self.body
        );
        ensure!(
            self.message() == Some(message),
            "expected the error {message:?}: {}",
            self.body
        );
        ensure!(
            self.body["errors"][0]["path"] == json!([field]),
            "expected `path: [{field:?}]`: {}",
            self.body
        );
        Ok(())
    }
}

impl Gql {
    pub fn new(http: Registry) -> Self {
        Self { http }
    }

    /// `GET /v2/_zot/ext/search?query=…`, as zui sends every query.
    pub fn get(&self, query: &str) -> Result<Answer> {
        self.get_params(&[("query", query)])
    }

    /// `GET` with any URL parameters (`query`, `variables`, `operationName`).
    pub fn get_params(&self, params: &[(&str, &str)]) -> Result<Answer> {
        let response = self.http.get(SEARCH_PATH).query(params).send()?;
        answer(response)
    }

    /// `POST` with `Content-Type: application/json` and `body`.
    pub fn post_json(&self, body: &Value) -> Result<Answer> {
        self.post_raw("application/json", body.to_string())
    }

    /// `POST` with any content type and body bytes.
    pub fn post_raw(&self, content_type: &str, body: String) -> Result<Answer> {
        let response = self
            .http
            .post(SEARCH_PATH)
            .header("Content-Type", content_type)
            .body(body)
            .send()?;
        answer(response)
    }

    /// `data` of a query that must succeed: HTTP 200 and no `errors` at all.
    pub fn data(&self, query: &str) -> Result<Value> {
        let answer = self.get(query)?;
        ensure!(
            answer.status == 200 && answer.body.get("errors").is_none(),
            "query failed ({}): {}\nquery: {query}",
            answer.status,
            answer.body
        );
        Ok(answer.data().clone())
    }
}

fn answer(response: reqwest::blocking::Response) -> Result<Answer> {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = response.text().context("reading the search answer")?;
    let body = serde_json::from_str(&text)
        .with_context(|| format!("the search answer ({status}) is not JSON: {text}"))?;
    Ok(Answer {
        status,
        content_type,
        body,
    })
}
