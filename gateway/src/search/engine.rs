//! Executing a search request for the fleet: read it, plan each root field, run the plan against members, stitch the answers under their keys.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::future::join_all;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::{json, Map, Value};

use flotilla_node::graphql::cost::Budget;
use flotilla_node::graphql::error::GqlError;
use flotilla_node::graphql::normalize::{self, Selected};
use flotilla_node::graphql::schema::Schema;
use flotilla_node::graphql::{self, transport};

use super::deep::Rounds;
use super::merge::{self, Part};
use super::plan::{self, Strategy};
use super::render::document;
use crate::budget::Charge;
use crate::error::GatewayError;
use crate::gateway::{text, Gateway};
use crate::members::{read_charged, ReadError, UpstreamBody};
use crate::proxy::{self, Client};
use crate::server::Body;

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
    fn new(gw: &Gateway) -> Self {
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

pub(crate) async fn handle(
    gw: &Gateway,
    client: &Client,
    req: Request<Incoming>,
) -> Result<Response<Body>, GatewayError> {
    let (mut parts, body) = req.into_parts();
    if parts.method == Method::OPTIONS {
        let index = gw.members.pick()?;
        let req = Request::from_parts(parts, body);
        return gw.forward(index, client, req).await.0;
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
    match plan::strategy(field, &gw.ring, gw.config.meta_db) {
        Strategy::Local => local(&gw.schema.get(), field).await,
        Strategy::Owner(index) => ask(gw, client, parts, index, field).await,
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
fn locate(field: &Selected, path: &[Value]) -> flotilla_node::graphql::error::Location {
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
fn unavailable(field: &Selected, err: &GatewayError) -> GqlError {
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

fn respond(response: &graphql::Response) -> Response<Body> {
    text(
        response.status,
        "application/json",
        response.to_bytes().into(),
    )
}
