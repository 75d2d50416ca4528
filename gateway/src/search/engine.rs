//! Executing a search request for the fleet: read it, plan each root field, run the plan against members, stitch the answers under their keys.

use bytes::Bytes;
use futures_util::future::join_all;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::{Map, Value};

use flotilla_protocol::graphql::cost::Budget;
use flotilla_protocol::graphql::error::GqlError;
use flotilla_protocol::graphql::normalize::{self, Selected};
use flotilla_protocol::graphql::schema::Schema;
use flotilla_protocol::graphql::{self, transport};

use super::ask::{ask, gather, merge_error, unavailable, Answer, Scope};
use super::deep::Rounds;
use super::merge;
use super::plan::{self, Strategy};
use super::render::document;
use crate::client::Client;
use crate::error::GatewayError;
use crate::proxy;
use crate::response::{text, Body};
use crate::state::Gateway;
use crate::window;

pub(crate) async fn handle(
    gw: &Gateway,
    client: &Client,
    req: Request<Incoming>,
) -> Result<Response<Body>, GatewayError> {
    let (mut parts, body) = req.into_parts();
    if parts.method == Method::OPTIONS {
        let index = gw.members.pick()?;
        let req = Request::from_parts(parts, body);
        return proxy::forward(gw, index, client, req).await.0;
    }
    let body = match read_bounded(body, gw.config.limits.search_request_bytes).await {
        Some(body) => body,
        None => {
            let err = GqlError::new(format!(
                "request body over {} bytes (limits.searchRequestBytes)",
                gw.config.limits.search_request_bytes
            ));
            return Ok(respond(&graphql::Response::rejected(
                StatusCode::PAYLOAD_TOO_LARGE,
                vec![err],
            )));
        }
    };
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let request = match transport::read(&parts.method, parts.uri.query(), content_type, &body) {
        Ok(request) => request,
        Err(rejected) => return Ok(respond(&rejected)),
    };
    let fields = match normalize_off_thread(gw, request).await {
        Ok(fields) => fields,
        Err(rejected) => return Ok(respond(&rejected)),
    };
    if let Some(err) = super::limits::violation(&fields, &gw.config.limits) {
        return Ok(respond(&graphql::Response::rejected(
            StatusCode::UNPROCESSABLE_ENTITY,
            vec![err],
        )));
    }
    parts.extensions.insert(Scope::new(gw));
    let answers = join_all(
        fields
            .iter()
            .map(|field| resolve(gw, client, &parts, field)),
    )
    .await;
    let mut data = Map::new();
    let mut errors = Vec::new();
    let mut null = false;
    for (field, answer) in fields.iter().zip(answers) {
        match answer {
            Answer::Refused(resp) => return Ok(resp),
            Answer::Data(value, mut field_errors) => {
                errors.append(&mut field_errors);
                match value {
                    Some(value) => {
                        data.insert(field.key.clone(), value);
                    }
                    // Every root field of zot's schema is non-null: one null nulls `data`.
                    None => null = true,
                }
            }
        }
    }
    let response = graphql::Response {
        status: StatusCode::OK,
        errors,
        data: (!null).then_some(Value::Object(data)),
    };
    Ok(respond(&response))
}

/// Parses and normalizes `request` within `limits.searchFields`, counted
/// before anything is expanded. Bounded, but still milliseconds for a
/// document near the body limit: on a blocking thread, so no other request
/// waits behind it.
async fn normalize_off_thread(
    gw: &Gateway,
    request: normalize::Request,
) -> Result<Vec<Selected>, graphql::Response> {
    let schema = gw.schema.get();
    let budget = Budget {
        fields: gw.config.limits.search_fields,
        key: "limits.searchFields",
    };
    let normalized =
        tokio::task::spawn_blocking(move || normalize::normalize(&schema, &request, &budget)).await;
    let errors = match normalized {
        Ok(Ok(fields)) => return Ok(fields),
        Ok(Err(errors)) => errors,
        Err(failed) => {
            let err = GqlError::new(format!("the document could not be read: {failed}"));
            return Err(graphql::Response::rejected(
                StatusCode::INTERNAL_SERVER_ERROR,
                vec![err],
            ));
        }
    };
    Err(graphql::Response::rejected(
        StatusCode::UNPROCESSABLE_ENTITY,
        errors,
    ))
}

/// One root field, by its strategy.
async fn resolve(
    gw: &Gateway,
    client: &Client,
    parts: &http::request::Parts,
    field: &Selected,
) -> Answer {
    match plan::strategy(field, gw, gw.config.meta_db) {
        Strategy::Local => local(&gw.schema.get(), field).await,
        Strategy::Owner(index) => ask(gw, client, parts, index, field).await,
        Strategy::Moving {
            repo,
            owner,
            previous,
        } => {
            let first = window::authority(gw, client, parts, &repo, (owner, previous)).await;
            let other = if first == owner { previous } else { owner };
            let answer = ask(gw, client, parts, first, field).await;
            if !unknown_repository(field, &answer) {
                return answer;
            }
            // When neither knows it, the first answer stands: the authority's.
            let fallback = ask(gw, client, parts, other, field).await;
            if unknown_repository(field, &fallback) {
                answer
            } else {
                fallback
            }
        }
        Strategy::Any => match gw.members.pick() {
            Ok(index) => ask(gw, client, parts, index, field).await,
            Err(err) => Answer::Data(None, vec![unavailable(field, &err)]),
        },
        Strategy::FanOut(kind) => {
            let result_type = gw
                .schema
                .get()
                .query_type()
                .field(&field.name)
                .map(|f| f.ty.base().to_owned())
                .unwrap_or_default();
            match merge::rewrite(field, kind, &result_type) {
                Some(plan) => fan_out(gw, client, parts, field, &plan).await,
                None => match gw.members.pick() {
                    Ok(index) => ask(gw, client, parts, index, field).await,
                    Err(err) => Answer::Data(None, vec![unavailable(field, &err)]),
                },
            }
        }
        Strategy::LayerRelation { base } => {
            super::layers::resolve(gw, client, parts, field, base).await
        }
        Strategy::CveDiff => super::cve_diff::resolve(gw, client, parts, field).await,
    }
}

/// Did the member answer that it does not hold the field's repository (or
/// tag), as zot says it ([`plan::UNKNOWN_REPOSITORY`], [`plan::EMPTY_WHEN_UNKNOWN`])?
fn unknown_repository(field: &Selected, answer: &Answer) -> bool {
    match answer {
        Answer::Data(None, errors) => errors.iter().any(|e| {
            plan::UNKNOWN_REPOSITORY
                .iter()
                .any(|m| e.message.starts_with(m))
        }),
        Answer::Data(Some(Value::Object(value)), _)
            if plan::EMPTY_WHEN_UNKNOWN.contains(&field.name.as_str()) =>
        {
            // Every list it holds is empty; with no list selected, its counts are 0.
            value.values().all(|v| match v {
                Value::Array(items) => items.is_empty(),
                Value::Object(page) => page.values().all(|n| n.as_i64().is_none_or(|n| n == 0)),
                _ => true,
            })
        }
        _ => false,
    }
}

/// The request body if it fits in `limit`. An oversized body is still read
/// (up to 16× the limit) and dropped, so the 413 reaches a client that is
/// still sending rather than being lost to a connection reset.
async fn read_bounded(mut body: Incoming, limit: usize) -> Option<Bytes> {
    let mut kept = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { return None };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen += data.len();
        if seen <= limit {
            kept.extend_from_slice(&data);
        } else if seen > limit.saturating_mul(16) {
            return None;
        }
    }
    (seen <= limit).then(|| Bytes::from(kept))
}

/// Introspection from the gateway's own copy of the schema.
async fn local(schema: &Schema, field: &Selected) -> Answer {
    struct NoFields;
    impl graphql::Resolver for NoFields {
        async fn resolve(&self, field: &Selected) -> Result<Value, GqlError> {
            Err(GqlError::new(format!("{} is not local", field.name)))
        }
    }
    let request = normalize::Request {
        query: document(schema, field),
        ..normalize::Request::default()
    };
    // The document is one already normalized field, bounded by the client's budget.
    let response = graphql::execute(schema, &request, &Budget::UNLIMITED, &NoFields).await;
    Answer::Data(
        response.data.and_then(|d| d.get(&field.key).cloned()),
        response.errors,
    )
}

/// Fans a rewritten field out to every member and merges what comes back.
/// A first page is each member's first items; a deep page is each member's
/// share of the items up to the page's end (a member holding more asked
/// again), as whole items or, when they are costly, as keys followed by each
/// member's window of whole items.
async fn fan_out(
    gw: &Gateway,
    client: &Client,
    parts: &http::request::Parts,
    field: &Selected,
    plan: &merge::FanOut,
) -> Answer {
    if gw.previous.is_some() {
        return super::moving::fan_out(gw, client, parts, field, plan).await;
    }
    let mut errors = Vec::new();
    let mut members: Vec<usize> = (0..gw.members.len()).collect();
    if plan.deep.is_some() {
        match super::deep::fan_out(gw, client, parts, field, plan, &mut errors).await {
            Rounds::Answered(answer) => return answer,
            Rounds::OnePhase(from) => members = from,
        }
    }
    let collected = match gather(gw, client, parts, (plan, "top"), &members, |_| {
        plan.rewritten.clone()
    })
    .await
    {
        Ok(mut collected) => {
            errors.append(&mut collected.errors);
            collected.parts
        }
        Err(answer) => return answer,
    };
    if collected.is_empty() {
        // No member answered: there is nothing to merge, only the reasons.
        return Answer::Data(None, errors);
    }
    match merge::merge(plan, &collected) {
        Ok(value) => Answer::Data(Some(value), errors),
        Err(message) => merge_error(field, message),
    }
}

fn respond(response: &graphql::Response) -> Response<Body> {
    text(
        response.status,
        "application/json",
        response.to_bytes().into(),
    )
}
