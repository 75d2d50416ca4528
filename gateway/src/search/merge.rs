//! The fan-out rewrite and the merge, by schema path: push the page down as top-k, carry sort and identity keys under reserved aliases, then merge, sort with zot's comparator, cut, and strip.
//!
//! Nothing here is written per query: the lists that merge and the keys their
//! items carry are two tables ([`LISTS`], [`KEYS`]); the rest is one walk.

use std::cmp::Ordering;

use serde_json::{json, Map, Value};

use flotilla_node::graphql::error::Location;
use flotilla_node::graphql::normalize::Selected;
use flotilla_node::search::paging::{self, Criteria, ImageKey, Page, RepoKey};

use super::plan::Merge;

/// Aliases the gateway adds to a member's query, and strips from its answer.
pub(crate) const RESERVED: &str = "__flotilla_";

/// The lists merged across members, by schema path: (parent type, field, item kind).
const LISTS: [(&str, &str, Merge); 4] = [
    ("PaginatedImagesResult", "Results", Merge::Images),
    ("PaginatedReposResult", "Results", Merge::Repos),
    ("GlobalSearchResult", "Images", Merge::Images),
    ("GlobalSearchResult", "Repos", Merge::Repos),
];

/// The fields each merged item carries for sorting and de-duplication
/// (the first `identity` of them identify an item).
const KEYS: [(Merge, &[&str], usize); 2] = [
    (
        Merge::Images,
        &["RepoName", "Tag", "LastUpdated", "DownloadCount"],
        2,
    ),
    (
        Merge::Repos,
        &["Name", "Rank", "LastUpdated", "DownloadCount"],
        1,
    ),
];

/// The `sortBy` each fanned-out field uses when the client gives none (zot-reference §1.5).
const DEFAULT_SORT: [(&str, Criteria); 7] = [
    ("ImageList", Criteria::Relevance),
    ("ImageListForDigest", Criteria::Relevance),
    ("GlobalSearch", Criteria::Relevance),
    ("RepoListWithNewestImage", Criteria::UpdateTime),
    ("ImageListForCVE", Criteria::UpdateTime),
    ("StarredRepos", Criteria::UpdateTime),
    ("BookmarkedRepos", Criteria::UpdateTime),
];

/// A planned fan-out: what each member is asked, and what the client asked.
#[derive(Debug, Clone)]
pub(crate) struct FanOut {
    pub(crate) original: Selected,
    pub(crate) rewritten: Selected,
    pub(crate) page: Page,
    pub(crate) merge: Merge,
    /// The field of the result object that holds the merged list.
    list_field: &'static str,
}

fn hidden(name: &str, location: Location) -> Selected {
    Selected {
        key: format!("{RESERVED}{name}"),
        name: name.to_owned(),
        args: Map::new(),
        fields: Vec::new(),
        location,
    }
}

impl FanOut {
    /// Shapes and pages the merged answer as `original` asks, whichever
    /// field the members were asked (the gateway's computed lists).
    pub(crate) fn answering(mut self, original: &Selected, page: Page) -> Self {
        self.original = original.clone();
        self.page = page;
        self
    }
}

/// Rewrites a fanned-out root field: each member returns its first
/// `offset + limit` items (everything when zot's rules say so), with the
/// keys the merge needs; `None` when the page input is one zot refuses, so
/// that one member answers with zot's own error.
pub(crate) fn rewrite(field: &Selected, merge: Merge, result_type: &str) -> Option<FanOut> {
    let default = DEFAULT_SORT
        .iter()
        .find(|(name, _)| *name == field.name)
        .map_or(Criteria::Relevance, |(_, c)| *c);
    let page = Page::read(field.args.get("requestedPage"), default).ok()?;
    let (_, list_field, _) = LISTS
        .iter()
        .find(|(parent, _, m)| *parent == result_type && *m == merge)?;
    let mut rewritten = field.clone();
    let mut member_page = field
        .args
        .get("requestedPage")
        .cloned()
        .unwrap_or_else(|| json!({}));
    if page.limit > 0 {
        member_page["offset"] = json!(0);
        member_page["limit"] = json!(page.offset.saturating_add(page.limit));
    }
    member_page["sortBy"] = json!(page.sort_by.as_str());
    rewritten.args.insert("requestedPage".into(), member_page);
    let at = field.location;
    let keys = KEYS
        .iter()
        .find(|(m, _, _)| *m == merge)
        .map_or(&[][..], |(_, k, _)| k);
    let mut found = false;
    for sub in rewritten
        .fields
        .iter_mut()
        .filter(|f| f.name == *list_field)
    {
        sub.fields.extend(keys.iter().map(|k| hidden(k, at)));
        found = true;
    }
    if !found {
        let mut list = hidden(list_field, at);
        list.fields = keys.iter().map(|k| hidden(k, at)).collect();
        rewritten.fields.push(list);
    }
    let mut page_info = hidden("Page", at);
    page_info.fields = vec![hidden("TotalCount", at)];
    rewritten.fields.push(page_info);
    Some(FanOut {
        original: field.clone(),
        rewritten,
        page,
        merge,
        list_field,
    })
}

/// One member's answer for the rewritten field (its `data[key]`).
#[derive(Debug)]
pub(crate) struct Part {
    pub(crate) member: usize,
    pub(crate) value: Value,
}

/// Merges the members' answers into what one registry would have answered.
pub(crate) fn merge(plan: &FanOut, parts: &[Part]) -> Result<Value, String> {
    merge_filtered(plan, parts, None)
}

/// As [`merge`], keeping only the items `keep` accepts: members sent every
/// candidate, so the count is the gateway's own (for lists it computes).
pub(crate) fn merge_filtered(
    plan: &FanOut,
    parts: &[Part],
    keep: Option<&dyn Fn(&Value) -> bool>,
) -> Result<Value, String> {
    let mut total: i64 = parts
        .iter()
        .map(|p| {
            p.value
                .pointer(&format!("/{RESERVED}Page/{RESERVED}TotalCount"))
                .and_then(Value::as_i64)
                .unwrap_or(0)
        })
        .sum();
    let order = comparator(plan.merge, plan.page.sort_by)?;
    let mut lists: Map<String, Value> = Map::new();
    let mut item_count = 0usize;
    let keys: Vec<String> = list_keys(plan);
    for key in &keys {
        let mut items: Vec<(usize, usize, &Value)> = Vec::new();
        for part in parts {
            for (i, item) in part
                .value
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                items.push((part.member, i, item));
            }
        }
        // zot's sort is unstable; ties are broken by member and position so the answer is deterministic.
        items.sort_by(|a, b| order(a.2, b.2).then(a.0.cmp(&b.0)).then(a.1.cmp(&b.1)));
        let mut seen = std::collections::HashSet::new();
        let identity = identity_len(plan.merge);
        items.retain(|(_, _, item)| seen.insert(identity_of(item, plan.merge, identity)));
        if let Some(keep) = keep {
            items.retain(|(_, _, item)| keep(item));
            total = items.len() as i64;
        }
        let range = plan.page.range(items.len());
        let page: Vec<Value> = items[range].iter().map(|(_, _, v)| (*v).clone()).collect();
        item_count = page.len();
        lists.insert(key.clone(), Value::Array(page));
    }
    let first = parts.first().map(|p| &p.value);
    let mut out = Map::new();
    for field in &plan.original.fields {
        let value = if field.name == "Page" {
            let page =
                json!({"TotalCount": total, "ItemCount": item_count, "__typename": "PageInfo"});
            reproject(&page, &field.fields, |f| f.name.clone())
        } else if let Some(list) = lists.get(&field.key) {
            reproject(list, &field.fields, |f| f.key.clone())
        } else if field.name == "__typename" {
            first
                .and_then(|v| v.get(&field.key))
                .cloned()
                .unwrap_or(Value::Null)
        } else {
            // Fields that do not merge (an empty `Layers`, a null `Repos`) are the same on every member.
            let v = first
                .and_then(|v| v.get(&field.key))
                .cloned()
                .unwrap_or(Value::Null);
            reproject(&v, &field.fields, |f| f.key.clone())
        };
        out.insert(field.key.clone(), value);
    }
    Ok(Value::Object(out))
}

/// The response keys under which the merged list appears in members' answers.
fn list_keys(plan: &FanOut) -> Vec<String> {
    let mut keys: Vec<String> = plan
        .original
        .fields
        .iter()
        .filter(|f| f.name == plan.list_field)
        .map(|f| f.key.clone())
        .collect();
    if keys.is_empty() {
        keys.push(format!("{RESERVED}{}", plan.list_field));
    }
    keys
}

fn identity_len(merge: Merge) -> usize {
    KEYS.iter()
        .find(|(m, _, _)| *m == merge)
        .map_or(1, |(_, _, n)| *n)
}

fn identity_of(item: &Value, merge: Merge, n: usize) -> String {
    let keys = KEYS
        .iter()
        .find(|(m, _, _)| *m == merge)
        .map_or(&[][..], |(_, k, _)| k);
    keys.iter()
        .take(n)
        .map(|k| key(item, k).to_string())
        .collect::<Vec<_>>()
        .join("\u{0}")
}

fn key<'a>(item: &'a Value, name: &str) -> &'a Value {
    item.get(format!("{RESERVED}{name}"))
        .unwrap_or(&Value::Null)
}

type Order = Box<dyn Fn(&Value, &Value) -> Ordering>;

/// zot's comparator for `criteria`, reading the reserved keys of two items.
fn comparator(merge: Merge, criteria: Criteria) -> Result<Order, String> {
    let text = |v: &Value, k: &str| key(v, k).as_str().unwrap_or_default().to_owned();
    let int = |v: &Value, k: &str| key(v, k).as_i64().unwrap_or(0);
    let time = |v: &Value| paging::parse_time(key(v, "LastUpdated"));
    Ok(match merge {
        Merge::Images => {
            let order = paging::image_order(criteria)?;
            Box::new(move |a, b| {
                let (ra, ta, rb, tb) = (
                    text(a, "RepoName"),
                    text(a, "Tag"),
                    text(b, "RepoName"),
                    text(b, "Tag"),
                );
                let ka = ImageKey {
                    repo: &ra,
                    tag: &ta,
                    last_updated: time(a),
                    downloads: int(a, "DownloadCount"),
                };
                let kb = ImageKey {
                    repo: &rb,
                    tag: &tb,
                    last_updated: time(b),
                    downloads: int(b, "DownloadCount"),
                };
                order(&ka, &kb)
            })
        }
        Merge::Repos => {
            let order = paging::repo_order(criteria)?;
            Box::new(move |a, b| {
                let (na, nb) = (text(a, "Name"), text(b, "Name"));
                let ka = RepoKey {
                    name: &na,
                    rank: int(a, "Rank"),
                    last_updated: time(a),
                    downloads: int(a, "DownloadCount"),
                };
                let kb = RepoKey {
                    name: &nb,
                    rank: int(b, "Rank"),
                    last_updated: time(b),
                    downloads: int(b, "DownloadCount"),
                };
                order(&ka, &kb)
            })
        }
    })
}

/// `value` cut to `fields` in their order, by the key `pick` says each has
/// in `value`; reserved fields are dropped on the way.
fn reproject(value: &Value, fields: &[Selected], pick: fn(&Selected) -> String) -> Value {
    match value {
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| reproject(v, fields, pick)).collect())
        }
        Value::Object(object) if !fields.is_empty() => {
            let mut out = Map::with_capacity(fields.len());
            for f in fields.iter().filter(|f| !f.key.starts_with(RESERVED)) {
                let child = object.get(&pick(f)).unwrap_or(&Value::Null);
                out.insert(
                    f.key.clone(),
                    reproject(child, &f.fields, |g| g.key.clone()),
                );
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests;
