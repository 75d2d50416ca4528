//! Asking members: one root field sent to one member with the client's credentials, its answer read within the request's deadline and merge budget and checked against the schema; and rounds of such asks.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::future::join_all;
use http::{header, Method, Response, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};

use flotilla_protocol::graphql::error::GqlError;
use flotilla_protocol::graphql::normalize::Selected;

use super::merge::{self, Part};
use super::render::document;
use crate::budget::Charge;
use crate::client::Client;
use crate::error::GatewayError;
use crate::members::{read_charged, ReadError, UpstreamBody};
use crate::proxy;
use crate::response::Body;
use crate::state::Gateway;

/// `extensions.code` of the error a member that could not answer leaves behind.
const MEMBER_UNAVAILABLE: &str = "MEMBER_UNAVAILABLE";

/// `extensions.code` of a field the gateway could not merge for want of
/// memory (`limits.mergeBudgetBytes` held by other requests).
const MERGE_BUDGET_EXHAUSTED: &str = "MERGE_BUDGET_EXHAUSTED";

/// What every member asked for one search request shares, carried in the
/// request's extensions to each [`ask`]: one deadline for the whole request
/// (`timeouts.fanOut`, every round and body included), and one charge on the
/// merge budget that holds what its answers buffer until the request ends.
#[derive(Clone)]
pub(super) struct Scope {
    deadline: tokio::time::Instant,
    charge: Arc<Mutex<Charge>>,
}

impl Scope {
    pub(super) fn new(gw: &Gateway) -> Self {
        Self {
            deadline: tokio::time::Instant::now() + gw.config.timeouts.fan_out,
            charge: Arc::new(Mutex::new(gw.budget.charge())),
        }
    }

    /// The request's scope; a fresh one where none was set.
    fn of(gw: &Gateway, parts: &http::request::Parts) -> Self {
        parts
            .extensions
            .get::<Self>()
            .cloned()
            .unwrap_or_else(|| Self::new(gw))
    }
}

/// One member's answer to one sub-request.
pub(super) enum Answer {
    /// `data[key]` (`None` when the member answered null) and the member's own errors.
    Data(Option<Value>, Vec<GqlError>),
    /// The member refused the caller's credentials: the client gets that answer as is.
    Refused(Response<Body>),
}

/// What members answered one round of a fan-out.
pub(super) struct Gathered {
    pub(super) parts: Vec<Part>,
    /// Members that could not answer, and their `MEMBER_UNAVAILABLE` errors.
    pub(super) failed: Vec<usize>,
    pub(super) errors: Vec<GqlError>,
}

/// Asks `members` their query in parallel (`query` gets the member's place
/// in `members`) for one `phase` of `plan`, counted in the metrics. A
/// refusal of the client's credentials, or zot's own error (which every
/// member gives alike, an unsupported sort say), is the whole answer.
pub(super) async fn gather(
    gw: &Gateway,
    client: &Client,
    parts: &http::request::Parts,
    (plan, phase): (&merge::FanOut, &'static str),
    members: &[usize],
    query: impl Fn(usize) -> Selected,
) -> Result<Gathered, Answer> {
    let queries: Vec<Selected> = (0..members.len()).map(query).collect();
    let asks = members
        .iter()
        .zip(&queries)
        .map(|(m, q)| ask(gw, client, parts, *m, q));
    let mut out = Gathered {
        parts: Vec::new(),
        failed: Vec::new(),
        errors: Vec::new(),
    };
    for (member, answer) in members.iter().zip(join_all(asks).await) {
        match answer {
            Answer::Refused(resp) => return Err(Answer::Refused(resp)),
            Answer::Data(Some(value), _) => out.parts.push(Part {
                member: *member,
                value,
            }),
            Answer::Data(None, member_errors) => {
                if !member_errors
                    .iter()
                    .any(|e| code(e) == Some(MEMBER_UNAVAILABLE))
                {
                    return Err(Answer::Data(None, member_errors));
                }
                out.failed.push(*member);
                out.errors.extend(member_errors);
            }
        }
    }
    let items = merge::listed(plan, &out.parts);
    gw.metrics.search_round(phase, members.len(), items);
    Ok(out)
}

/// A merge that could not be done (zot's error for an unsupported sort), at the field.
pub(super) fn merge_error(field: &Selected, message: String) -> Answer {
    Answer::Data(
        None,
        vec![GqlError::new(message)
            .path(vec![json!(field.key)])
            .at(field.location)],
    )
}

fn code(err: &GqlError) -> Option<&str> {
    err.extensions.as_ref()?.get("code")?.as_str()
}

/// Sends one root field to member `index` with the client's credentials.
pub(super) async fn ask(
    gw: &Gateway,
    client: &Client,
    parts: &http::request::Parts,
    index: usize,
    field: &Selected,
) -> Answer {
    match ask_member(gw, client, parts, index, field).await {
        Ok(answer) => answer,
        Err(err) => {
            gw.metrics.fan_out_failure(&err);
            Answer::Data(None, vec![unavailable(field, &err)])
        }
    }
}

async fn ask_member(
    gw: &Gateway,
    client: &Client,
    parts: &http::request::Parts,
    index: usize,
    field: &Selected,
) -> Result<Answer, GatewayError> {
    let member = gw.members.get(index).name.clone();
    let bad = |reason: String| GatewayError::BadMember {
        member: member.clone(),
        reason,
    };
    let body = serde_json::to_vec(&json!({ "query": document(&gw.schema.get(), field) }))
        .map_err(|e| bad(e.to_string()))?;
    let mut up = proxy::request_head(&gw.members, index, client, parts)?;
    *up.method_mut() = Method::POST;
    *up.uri_mut() = gw.members.uri(index, "/v2/_zot/ext/search")?;
    let headers = up.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CONTENT_LENGTH, http::HeaderValue::from(body.len()));
    headers.remove(header::ACCEPT_ENCODING);
    *up.body_mut() = full(body);
    let scope = Scope::of(gw, parts);
    let timed_out = |_| GatewayError::MemberTimeout {
        member: member.clone(),
        after: gw.config.timeouts.fan_out,
    };
    let resp = tokio::time::timeout_at(scope.deadline, gw.members.send(index, up))
        .await
        .map_err(timed_out)??;
    match resp.status() {
        StatusCode::OK | StatusCode::UNPROCESSABLE_ENTITY => {}
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            let origin = proxy::origin(&parts.headers, &parts.uri, client);
            return Ok(Answer::Refused(proxy::client_response(
                &gw.members,
                &origin,
                resp,
            )));
        }
        StatusCode::NOT_FOUND => return Err(GatewayError::NoSearch { member }),
        status => return Err(bad(format!("search answered {status}"))),
    }
    // The body is bounded by the same deadline: a member that drips it is cut off.
    let mut charge = gw.budget.charge();
    let read = read_charged(resp, gw.config.limits.merged_body_bytes, &mut charge);
    let bytes = tokio::time::timeout_at(scope.deadline, read)
        .await
        .map_err(timed_out)?
        .map_err(|e| match e {
            ReadError::Budget(exhausted) => exhausted.into(),
            e => bad(format!("search {e}")),
        })?;
    // The parsed answer is a tree several times its text: counted once more.
    charge.add(bytes.len())?;
    if let Ok(mut held) = scope.charge.lock() {
        held.absorb(charge);
    }
    let Ok(Value::Object(mut answer)) = serde_json::from_slice::<Value>(&bytes) else {
        return Err(bad("search answer is not a JSON object".into()));
    };
    let errors: Vec<GqlError> = match answer.get_mut("errors").map(Value::take) {
        // A member's own errors pass through, pointing into the client's
        // document rather than the one-field document the member was sent.
        Some(errors) => serde_json::from_value::<Vec<GqlError>>(errors)
            .map_err(|e| bad(format!("malformed errors: {e}")))?
            .into_iter()
            .map(|mut e| {
                if !e.locations.is_empty() {
                    e.locations = vec![locate(field, &e.path)];
                }
                e
            })
            .collect(),
        None => Vec::new(),
    };
    // Without data, or with the field null, only the member's errors say
    // why; an answer that says nothing is the member's fault, not an empty list.
    let value = match answer.get_mut("data").map(Value::take) {
        None | Some(Value::Null) if !errors.is_empty() => None,
        None => return Err(bad("search answer has neither data nor errors".into())),
        Some(Value::Object(mut data)) => match data.get_mut(&field.key).map(Value::take) {
            None => return Err(bad(format!("search answer has no `{}`", field.key))),
            Some(Value::Null) if !errors.is_empty() => None,
            Some(value) => {
                super::shape::check(&gw.schema.get(), field, &value)
                    .map_err(|e| bad(format!("search answer does not fit the schema: {e}")))?;
                (!value.is_null()).then_some(value)
            }
        },
        Some(other) => return Err(bad(format!("search answer's data is {other:.40}"))),
    };
    Ok(Answer::Data(value, errors))
}

/// Where `path` (response keys and list indices, from the root field) points
/// in the client's document: the deepest selected field it names.
fn locate(field: &Selected, path: &[Value]) -> flotilla_protocol::graphql::error::Location {
    let mut at = field;
    for key in path.iter().skip(1).filter_map(Value::as_str) {
        match at.fields.iter().find(|f| f.key == key) {
            Some(next) => at = next,
            None => break,
        }
    }
    at.location
}

/// The error a member that could not answer leaves in `errors`, naming it.
/// The merge budget running out is no member's fault: its own code makes
/// the whole field fail rather than leave a member out.
pub(super) fn unavailable(field: &Selected, err: &GatewayError) -> GqlError {
    let code = match err {
        GatewayError::MergeBudget { .. } => MERGE_BUDGET_EXHAUSTED,
        _ => MEMBER_UNAVAILABLE,
    };
    let mut e = GqlError::new(err.to_string())
        .path(vec![json!(field.key)])
        .at(field.location)
        .code(code);
    if let (Some(ext), Some(member)) = (e.extensions.as_mut(), err.member()) {
        ext.insert("member".into(), json!(member));
    }
    e
}

fn full(body: Vec<u8>) -> UpstreamBody {
    http_body_util::Full::new(Bytes::from(body))
        .map_err(|never| match never {})
        .boxed()
}
