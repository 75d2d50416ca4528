//! GraphQL errors as gqlgen writes them: message, locations, path, and `extensions.code`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `extensions.code` of a document that does not parse.
pub const PARSE_FAILED: &str = "GRAPHQL_PARSE_FAILED";
/// `extensions.code` of a document that does not validate against the schema.
pub const VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";

/// A line and column in the query text, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

impl From<graphql_parser::Pos> for Location {
    fn from(pos: graphql_parser::Pos) -> Self {
        Self {
            line: pos.line,
            column: pos.column,
        }
    }
}

/// One entry of a response's `errors`. Empty lists and absent codes are
/// left out, as gqlgen leaves them out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GqlError {
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub path: Vec<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub locations: Vec<Location>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<serde_json::Map<String, Value>>,
}

impl GqlError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            path: Vec::new(),
            locations: Vec::new(),
            extensions: None,
        }
    }

    /// A validation error at `at`.
    pub fn validation(message: impl Into<String>, at: impl Into<Location>) -> Self {
        Self::new(message).at(at).code(VALIDATION_FAILED)
    }

    pub fn at(mut self, at: impl Into<Location>) -> Self {
        self.locations.push(at.into());
        self
    }

    pub fn path(mut self, path: Vec<Value>) -> Self {
        self.path = path;
        self
    }

    pub fn code(mut self, code: &str) -> Self {
        self.extensions
            .get_or_insert_with(Default::default)
            .insert("code".into(), Value::String(code.into()));
        self
    }
}
