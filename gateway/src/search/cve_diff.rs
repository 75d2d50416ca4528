//! `CVEDiffListForImages` across members: each image's owner resolves and scans it, the gateway subtracts, sorts and pages as zot's `getCVEDiffListForImages` does.
//!
//! zot resolves both images in one metaDB and scans both before it diffs;
//! here no member holds both. Each owner is first asked the diff of its
//! image with itself: that makes it resolve the image exactly as zot would
//! (tag, index platform or digest), word any refusal in zot's own words, and
//! echo the resolved `ImageIdentifier`. Then each owner is asked
//! `CVEListForImage(repo@digest)`, unpaged, with the client's `searchedCVE`
//! and `excludedCVE`: zot filters both lists with them before subtracting,
//! so the members' own filter is the exact one. Failures surface in zot's
//! order: minuend resolved, subtrahend resolved, minuend scanned, subtrahend
//! scanned, page checked.

use std::cmp::Ordering;
use std::collections::HashSet;

use futures_util::future::join;
use serde_json::{json, Map, Value};

use flotilla_protocol::graphql::error::GqlError;
use flotilla_protocol::graphql::normalize::{self, Selected};
use flotilla_protocol::graphql::project::{project, NULL_IN_NON_NULL};
use flotilla_protocol::graphql::schema::Schema;
use flotilla_protocol::search::paging::{Criteria, Page};

use super::ask::{ask, Answer};
use super::render::document;
use crate::client::Client;
use crate::state::Gateway;

/// zot's `maxCvePageLimit`: CVE pages are bounded, image and repository pages are not.
const MAX_CVE_PAGE_LIMIT: i64 = 4 * 1024;

/// zot's `ErrCVESearchDisabled`, checked before anything else.
const CVE_DISABLED: &str = "cve search is disabled";

/// How zot prefixes an error resolving the minuend; the subtrahend's own
/// resolution, asked as a minuend, comes back with it.
const MINUEND: &str = "minuend image ";
const SUBTRAHEND: &str = "subtrahend image ";

/// zot's `getImageIdentifier` of the resolved image, as the self-diff echoes it.
const IDENTIFIER: &str = "{Minuend{Repo Tag Digest Platform{Os Arch}}}";

/// zot's severities, in the order `ImageVulnerabilitySummary` counts them.
const COUNTED: [(&str, &str); 5] = [
    ("UNKNOWN", "UnknownCount"),
    ("LOW", "LowCount"),
    ("MEDIUM", "MediumCount"),
    ("HIGH", "HighCount"),
    ("CRITICAL", "CriticalCount"),
];

pub(super) async fn resolve(
    gw: &Gateway,
    client: &Client,
    parts: &http::request::Parts,
    field: &Selected,
) -> Answer {
    let schema = gw.schema.get();
    match compute(gw, client, parts, &schema, field).await {
        Ok(value) => projected(&schema, field, value),
        Err(stop) => *stop,
    }
}

/// An answer that ends the computation early, as the client gets it.
type Stop = Box<Answer>;

/// The whole `CVEDiffResult` by field name, or the answer that stops it.
async fn compute(
    gw: &Gateway,
    client: &Client,
    parts: &http::request::Parts,
    schema: &Schema,
    field: &Selected,
) -> Result<Value, Stop> {
    let planned = |sub: Result<Selected, String>| sub.map_err(|m| Box::new(failed(field, m)));
    let image = |name: &str| field.args.get(name).cloned().unwrap_or(Value::Null);
    let (minuend, subtrahend) = (image("minuend"), image("subtrahend"));
    let owner = |image: &Value| gw.ring.owner(image["Repo"].as_str().unwrap_or_default());
    let owners = (owner(&minuend), owner(&subtrahend));
    let own = (
        planned(self_diff(schema, field, &minuend))?,
        planned(self_diff(schema, field, &subtrahend))?,
    );
    let (m, s) = join(
        identify(gw, client, parts, owners.0, &own.0),
        identify(gw, client, parts, owners.1, &own.1),
    )
    .await;
    let (m, s) = match in_zot_order(m, s) {
        Resolved::Both(m, s) => (m, s),
        // zot answers an image the caller may not read with an empty result, not an error.
        Resolved::Hidden => return Ok(json!({})),
        Resolved::Stop(answer) => return Err(Box::new(answer)),
    };
    let lists = (
        planned(cve_list(schema, field, &m))?,
        planned(cve_list(schema, field, &s))?,
    );
    let (m_list, s_list) = join(
        ask(gw, client, parts, owners.0, &lists.0),
        ask(gw, client, parts, owners.1, &lists.1),
    )
    .await;
    let (m_list, s_list) = (cves(m_list)?, cves(s_list)?);
    let diff = diff(&m_list, &s_list, field.args.get("requestedPage"))
        .map_err(|message| Box::new(failed(field, message)))?;
    Ok(diff.result(m, s))
}

/// What an owner's diff of an image with itself says about that image.
enum Identified {
    /// zot's `getImageIdentifier` of the resolved image.
    Found(Value),
    /// The caller may not read the repository.
    Hidden,
    /// Refused before any scan: search disabled, or the image not resolved.
    Unresolved(Vec<GqlError>),
    /// Resolved, but scanning it failed.
    Unscanned(Vec<GqlError>),
    /// The member could not be asked, refused the credentials, or refused the document.
    Failed(Answer),
}

async fn identify(
    gw: &Gateway,
    client: &Client,
    parts: &http::request::Parts,
    owner: usize,
    own: &Selected,
) -> Identified {
    match ask(gw, client, parts, owner, own).await {
        Answer::Data(Some(value), _) => Identified::Found(value["Minuend"].clone()),
        Answer::Data(None, errors) => classify(errors),
        refused @ Answer::Refused(_) => Identified::Failed(refused),
    }
}

/// Sorts an owner's refusal into the step of zot's resolver it came from.
fn classify(errors: Vec<GqlError>) -> Identified {
    let message = errors.first().map_or("", |e| e.message.as_str());
    // zot's empty result projected onto the non-null `Minuend`.
    let hidden = errors
        .first()
        .is_some_and(|e| e.message == NULL_IN_NON_NULL && e.path.get(1) == Some(&json!("Minuend")));
    let coded = errors.iter().any(|e| {
        e.extensions
            .as_ref()
            .is_some_and(|x| x.contains_key("code"))
    });
    if hidden {
        Identified::Hidden
    } else if message == CVE_DISABLED || message.starts_with(MINUEND) {
        Identified::Unresolved(errors)
    } else if coded {
        Identified::Failed(Answer::Data(None, errors))
    } else {
        Identified::Unscanned(errors)
    }
}

/// Both images resolved, or what zot would have stopped at first.
enum Resolved {
    Both(Value, Value),
    Hidden,
    Stop(Answer),
}

/// zot's resolver resolves the minuend, then the subtrahend, then scans the
/// minuend, then the subtrahend: the first step that fails is the answer.
fn in_zot_order(minuend: Identified, subtrahend: Identified) -> Resolved {
    use Identified::*;
    let stop = |errors| Resolved::Stop(Answer::Data(None, errors));
    match (minuend, subtrahend) {
        (Failed(answer), _) => Resolved::Stop(answer),
        (Unresolved(errors), _) => stop(errors),
        (Hidden, _) => Resolved::Hidden,
        (_, Failed(answer)) => Resolved::Stop(answer),
        (_, Unresolved(errors)) => stop(as_subtrahend(errors)),
        (_, Hidden) => Resolved::Hidden,
        (Unscanned(errors), _) | (_, Unscanned(errors)) => stop(errors),
        (Found(m), Found(s)) => Resolved::Both(m, s),
    }
}

fn as_subtrahend(errors: Vec<GqlError>) -> Vec<GqlError> {
    errors
        .into_iter()
        .map(|mut e| {
            if let Some(rest) = e.message.strip_prefix(MINUEND) {
                e.message = format!("{SUBTRAHEND}{rest}");
            }
            e
        })
        .collect()
}

/// `CVEDiffListForImages(minuend: image, subtrahend: image)`: only the owner
/// of `image` is needed to answer it, and the diff is empty.
fn self_diff(schema: &Schema, field: &Selected, image: &Value) -> Result<Selected, String> {
    let args = Map::from_iter([
        ("minuend".to_owned(), image.clone()),
        ("subtrahend".to_owned(), image.clone()),
    ]);
    sub_query(schema, field, "CVEDiffListForImages", args, IDENTIFIER)
}

/// `CVEListForImage(image: "repo@digest")` as zot's diff asks its scanner:
/// every CVE, filtered by the client's `searchedCVE` and `excludedCVE`.
fn cve_list(schema: &Schema, field: &Selected, image: &Value) -> Result<Selected, String> {
    let text = |key: &str| image[key].as_str().unwrap_or_default();
    let mut args = Map::from_iter([(
        "image".to_owned(),
        json!(format!("{}@{}", text("Repo"), text("Digest"))),
    )]);
    for filter in ["searchedCVE", "excludedCVE"] {
        if let Some(value) = field.args.get(filter) {
            args.insert(filter.to_owned(), value.clone());
        }
    }
    sub_query(
        schema,
        field,
        "CVEListForImage",
        args,
        &cve_selection(field),
    )
}

/// `{CVEList{…}}` for a member: `Id` and `Severity`, which the diff sorts
/// and counts by, and every CVE field the client selected, by name.
/// `PackagePath` is never asked: zot's diff leaves it out.
fn cve_selection(field: &Selected) -> String {
    let mut names = vec!["Id", "Severity"];
    let mut packages: Option<Vec<&str>> = None;
    let selected = field.fields.iter().filter(|f| f.name == "CVEList");
    for cve in selected.flat_map(|list| &list.fields) {
        match cve.name.as_str() {
            "PackageList" => {
                let wanted = packages.get_or_insert_with(Vec::new);
                for name in cve.fields.iter().map(|p| p.name.as_str()) {
                    if !matches!(name, "PackagePath" | "__typename") && !wanted.contains(&name) {
                        wanted.push(name);
                    }
                }
            }
            "__typename" => {}
            name if !names.contains(&name) => names.push(name),
            _ => {}
        }
    }
    let mut text = format!("{{CVEList{{{}", names.join(" "));
    if let Some(mut wanted) = packages {
        // An entry with nothing but `PackagePath` asked still has to be there to be null.
        if wanted.is_empty() {
            wanted.push("Name");
        }
        text.push_str(&format!(" PackageList{{{}}}", wanted.join(" ")));
    }
    text.push_str("}}");
    text
}

/// `name(args)` with `selection`, validated against the schema, under the
/// client's key and location so a member's error points where the client's does.
fn sub_query(
    schema: &Schema,
    field: &Selected,
    name: &str,
    args: Map<String, Value>,
    selection: &str,
) -> Result<Selected, String> {
    let bare = Selected {
        key: name.to_owned(),
        name: name.to_owned(),
        args,
        fields: Vec::new(),
        location: field.location,
    };
    let mut query = document(schema, &bare);
    query.insert_str(query.len() - 1, selection);
    let mut sub = normalize::normalize_query(schema, query)
        .ok()
        .and_then(|mut fields| fields.pop())
        .ok_or_else(|| format!("{name} for {} could not be planned", field.key))?;
    sub.key = field.key.clone();
    sub.location = field.location;
    Ok(sub)
}

/// The `CVEList` of an owner's `CVEListForImage`, or its failure as it came.
fn cves(answer: Answer) -> Result<Vec<Value>, Stop> {
    match answer {
        Answer::Data(Some(value), _) => {
            Ok(value["CVEList"].as_array().cloned().unwrap_or_default())
        }
        other => Err(Box::new(other)),
    }
}

/// `value`, of the field's type, cut down to the client's selection.
fn projected(schema: &Schema, field: &Selected, value: Value) -> Answer {
    let Some(ty) = schema.query_type().field(&field.name).map(|f| &f.ty) else {
        return failed(field, format!("{} is not in the schema", field.name));
    };
    let mut errors = Vec::new();
    let data = project(schema, ty, value, field, &mut errors).ok();
    Answer::Data(data, errors)
}

fn failed(field: &Selected, message: impl Into<String>) -> Answer {
    Answer::Data(
        None,
        vec![GqlError::new(message)
            .path(vec![json!(field.key)])
            .at(field.location)],
    )
}

/// A diff computed: one page of it, and the summary of all of it.
#[derive(Debug, Clone, PartialEq)]
struct Diff {
    page: Vec<Value>,
    summary: Value,
}

impl Diff {
    /// The `CVEDiffResult` as zot's resolver fills it, by field name.
    fn result(self, minuend: Value, subtrahend: Value) -> Value {
        json!({
            "Minuend": minuend,
            "Subtrahend": subtrahend,
            "CVEList": self.page,
            "Summary": self.summary,
            // zot's resolver sets an empty `PageInfo`, whatever the page holds.
            "Page": { "TotalCount": 0, "ItemCount": 0 },
        })
    }
}

/// zot's `GetCVEDiffListForImages` on the two scans (each already filtered
/// as zot filters them): the minuend's CVEs whose Id the subtrahend lacks,
/// summarized whole, then sorted and paged as `requestedPage` asks.
fn diff(
    minuend: &[Value],
    subtrahend: &[Value],
    requested: Option<&Value>,
) -> Result<Diff, String> {
    let gone: HashSet<&str> = subtrahend.iter().map(id).collect();
    let mut left: Vec<Value> = minuend
        .iter()
        .filter(|cve| !gone.contains(id(cve)))
        .map(without_package_path)
        .collect();
    let summary = summary(&left);
    let page = cve_page(requested)?;
    left.sort_by(cve_order(page.sort_by)?);
    let (page, _) = page.cut(left);
    Ok(Diff { page, summary })
}

fn id(cve: &Value) -> &str {
    cve["Id"].as_str().unwrap_or_default()
}

fn severity(cve: &Value) -> &str {
    cve["Severity"].as_str().unwrap_or_default()
}

/// zot's diff copies each package without its `PackagePath`.
fn without_package_path(cve: &Value) -> Value {
    let mut cve = cve.clone();
    if let Some(packages) = cve.get_mut("PackageList").and_then(Value::as_array_mut) {
        for package in packages.iter_mut().filter_map(Value::as_object_mut) {
            package.insert("PackagePath".into(), Value::Null);
        }
    }
    cve
}

/// zot's diff summary: per-severity counts, `Count` their sum (a word zot
/// does not know counts nowhere), `MaxSeverity` from `""` up.
fn summary(cves: &[Value]) -> Value {
    let mut counts = [0u64; COUNTED.len()];
    let mut max = "";
    for cve in cves {
        let word = severity(cve);
        if let Some(i) = COUNTED.iter().position(|(s, _)| *s == word) {
            counts[i] += 1;
        }
        if rank(word) > rank(max) {
            max = word;
        }
    }
    let mut out = Map::new();
    out.insert("MaxSeverity".into(), json!(max));
    out.insert("Count".into(), json!(counts.iter().sum::<u64>()));
    for ((_, key), count) in COUNTED.iter().zip(counts) {
        out.insert((*key).into(), json!(count));
    }
    Value::Object(out)
}

/// zot's `NewCvePageFinder` checks: the bound on `limit` sits between the
/// sign checks, where it can only meet a non-negative limit.
fn cve_page(requested: Option<&Value>) -> Result<Page, String> {
    let limit = requested
        .and_then(|r| r.get("limit"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if limit > MAX_CVE_PAGE_LIMIT {
        return Err("pagination limit has excessive value".into());
    }
    Page::read(requested, Criteria::Severity)
}

/// zot's CVE comparators (`cve/pagination.go`, `getSortFunctions`).
fn cve_order(criteria: Criteria) -> Result<fn(&Value, &Value) -> Ordering, String> {
    Ok(match criteria {
        Criteria::Severity => |a, b| {
            rank(severity(b))
                .cmp(&rank(severity(a)))
                .then_with(|| id(a).cmp(id(b)))
        },
        Criteria::AlphabeticAsc => |a, b| id(a).cmp(id(b)),
        Criteria::AlphabeticDsc => |a, b| id(b).cmp(id(a)),
        other => return Err(unsupported(other)),
    })
}

/// zot's message for an image or repository sort asked of CVEs.
fn unsupported(criteria: Criteria) -> String {
    let name = criteria.as_str();
    format!(
        "sorting CVEs by '{name}' is not supported the pagination sort criteria is not supported"
    )
}

/// zot's `severityInt`: a word it does not know ranks as UNKNOWN.
fn rank(severity: &str) -> u8 {
    match severity {
        "" => 0,
        "NONE" => 1,
        "LOW" => 3,
        "MEDIUM" => 4,
        "HIGH" => 5,
        "CRITICAL" => 6,
        _ => 2,
    }
}

#[cfg(test)]
mod tests;
