//! zot's GraphQL surface, built on the schema document itself: parse, validate, execute root fields, project, introspect.
//!
//! Resolvers produce whole JSON values named as the schema names them; this
//! module does everything GraphQL adds on top (variables, fragments,
//! aliases, selection order, null propagation, introspection, error shapes
//! and status codes as gqlgen gives them). The gateway reuses the same model
//! and normalizer to plan fan-outs, so both agree on every document.
//!
//! # Layout
//! - [`schema`]: the schema model, loaded from `schema.graphql` (zot's search schema).
//! - [`cost`]: nesting and expanded size, bounded before a document is parsed or expanded.
//! - [`normalize`]: request → validated tree of [`normalize::Selected`] fields.
//! - [`project`]: a resolver's value cut to the selection, with GraphQL's null rules.
//! - `introspection`: `__schema` / `__type` from the model.
//! - [`transport`]: GET and POST requests and responses as gqlgen reads and writes them.
//! - [`error`]: `errors` entries.

pub mod cost;
pub mod error;
mod introspection;
pub mod normalize;
pub mod project;
pub mod schema;
pub mod transport;

use std::future::Future;

use http::StatusCode;
use serde_json::{Map, Value};

use cost::Budget;
use error::GqlError;
use normalize::{Request, Selected};
use schema::Schema;

/// Answers the root fields of the query type.
pub trait Resolver {
    /// The whole value of one root field (any fields the selection may ask
    /// for), or the error that makes it fail.
    fn resolve(&self, field: &Selected) -> impl Future<Output = Result<Value, GqlError>> + Send;
}

/// A GraphQL response: HTTP status, `errors`, and `data` (`None` is `null`).
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: StatusCode,
    pub errors: Vec<GqlError>,
    pub data: Option<Value>,
}

impl Response {
    /// A request that failed before execution (422 for parse and validation errors).
    pub fn rejected(status: StatusCode, errors: Vec<GqlError>) -> Self {
        Self {
            status,
            errors,
            data: None,
        }
    }

    /// gqlgen's body: `errors` first and only when there are some, then `data`.
    /// Written from the response itself: a copy of `data` first would cost
    /// as much again as the writing, for a deep page of keys.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&Body {
            errors: &self.errors,
            data: &self.data,
        })
        .unwrap_or_default()
    }
}

/// The body of a [`Response`], as gqlgen writes it.
#[derive(serde::Serialize)]
struct Body<'a> {
    #[serde(skip_serializing_if = "<[GqlError]>::is_empty")]
    errors: &'a [GqlError],
    data: &'a Option<Value>,
}

/// Validates and runs `req` within `budget`: each root field through
/// `resolver` (or introspection), projected onto its selection, in document order. Every
/// root field of zot's schema is non-null, so one failing field makes
/// `data` null, as gqlgen does; the other fields' errors are kept.
pub async fn execute<R: Resolver>(
    schema: &Schema,
    req: &Request,
    budget: &Budget,
    resolver: &R,
) -> Response {
    let fields = match normalize::normalize(schema, req, budget) {
        Ok(fields) => fields,
        Err(errors) => return Response::rejected(StatusCode::UNPROCESSABLE_ENTITY, errors),
    };
    let mut data = Map::with_capacity(fields.len());
    let mut errors = Vec::new();
    let mut null = false;
    for field in &fields {
        let value = match field.name.as_str() {
            "__typename" => Value::String(schema.query_type().name.clone()),
            "__schema" | "__type" => introspection::resolve(schema, field),
            _ => match resolve_root(schema, resolver, field, &mut errors).await {
                Some(value) => value,
                None => {
                    null = true;
                    continue;
                }
            },
        };
        data.insert(field.key.clone(), value);
    }
    Response {
        status: StatusCode::OK,
        errors,
        data: (!null).then_some(Value::Object(data)),
    }
}

async fn resolve_root<R: Resolver>(
    schema: &Schema,
    resolver: &R,
    field: &Selected,
    errors: &mut Vec<GqlError>,
) -> Option<Value> {
    let ty = &schema.query_type().field(&field.name)?.ty;
    match resolver.resolve(field).await {
        Ok(value) => project::project(schema, ty, value, field, errors).ok(),
        Err(err) => {
            let err = if err.path.is_empty() {
                err.path(vec![Value::String(field.key.clone())])
            } else {
                err
            };
            let err = if err.locations.is_empty() {
                err.at(field.location)
            } else {
                err
            };
            errors.push(err);
            None
        }
    }
}

#[cfg(test)]
mod tests;
