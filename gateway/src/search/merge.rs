//! The fan-out rewrite and the merge, by schema path: push the page down as top-k, carry sort and identity keys under reserved aliases, then merge, sort with zot's comparator, cut, and strip.
//!
//! Nothing here is written per query: the lists that merge and the keys their
//! items carry are two tables ([`LISTS`], [`KEYS`]); the rest is one walk.

use std::cmp::Ordering;

use serde_json::{json, Map, Value};

use flotilla_protocol::graphql::error::Location;
use flotilla_protocol::graphql::normalize::Selected;
use flotilla_protocol::search::paging::{self, Criteria, ImageKey, Page, RepoKey, Stamp};

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

/// How many keys each merged item carries ([`KEYS`], [`Keys::of`]).
const KEY_COUNT: usize = 4;

/// The fields each merged item carries for sorting and de-duplication
/// (the first `identity` of them identify an item).
const KEYS: [(Merge, [&str; KEY_COUNT], usize); 2] = [
    (
        Merge::Images,
        ["RepoName", "Tag", "LastUpdated", "DownloadCount"],
        2,
    ),
    (
        Merge::Repos,
        ["Name", "Rank", "LastUpdated", "DownloadCount"],
        1,
    ),
];

/// The key each sort reads beyond the identity (alphabetic orders read only
/// the identity); members are asked for no other, as each key costs every item.
const SORTED_BY: [(Criteria, &str); 3] = [
    (Criteria::UpdateTime, "LastUpdated"),
    (Criteria::Downloads, "DownloadCount"),
    (Criteria::Relevance, "Rank"),
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

/// A page past the first items: members are first asked only their share
/// of the items up to the page's end ([`FanOut::first_share`]), the few
/// that may hold more asked again (`deep::short`).
#[derive(Debug, Clone)]
pub(crate) enum Deep {
    /// The share as whole items, then merged as a first page is: for items
    /// of scalars, which cost a member little more than their keys.
    Whole,
    /// The share as keys only (this query, the list cut down to the merge
    /// keys), then each member's window of whole items for the page alone
    /// (`deep::windows`): for items with nested objects (a newest image, its
    /// manifests), which cost a member far more than a second pass.
    Keys(Selected),
}

/// A planned fan-out: what each member is asked, and what the client asked.
#[derive(Debug, Clone)]
pub(crate) struct FanOut {
    pub(crate) original: Selected,
    pub(crate) rewritten: Selected,
    pub(crate) page: Page,
    pub(crate) merge: Merge,
    /// The field of the result object that holds the merged list.
    pub(super) list_field: &'static str,
    /// How a page past the first items is asked for; `None` for a first page.
    pub(crate) deep: Option<Deep>,
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
        self.deep = None;
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
    let keys = carried(merge, page.sort_by);
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
    // Items before `offset` are needed only for their keys.
    let nested = field
        .fields
        .iter()
        .filter(|f| f.name == *list_field)
        .any(|list| list.fields.iter().any(|f| !f.fields.is_empty()));
    let deep = (found && page.offset > 0 && page.limit > 0).then(|| {
        if !nested {
            return Deep::Whole;
        }
        let mut first = rewritten.clone();
        first.fields.retain(|f| f.name != *list_field);
        let mut list = hidden(list_field, at);
        list.fields = keys.iter().map(|k| hidden(k, at)).collect();
        first.fields.push(list);
        Deep::Keys(first)
    });
    Some(FanOut {
        original: field.clone(),
        rewritten,
        page,
        merge,
        list_field,
        deep,
    })
}

pub(super) fn total_of(part: &Part) -> i64 {
    part.value
        .pointer(&format!("/{RESERVED}Page/{RESERVED}TotalCount"))
        .and_then(Value::as_i64)
        .unwrap_or(0)
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
    merge_page(plan, plan.page, parts, keep)
}

/// An item with its keys (read once, not at every comparison), its member
/// and its position in that member's list.
pub(crate) type Ranked<'a> = Vec<(Keys<'a>, usize, usize, &'a Value)>;

/// Every member's items under `key`, in zot's order for the page's sort,
/// duplicates after the first dropped.
pub(super) fn ranked<'a>(
    plan: &FanOut,
    parts: &'a [Part],
    key: &str,
    names: &[String],
) -> Result<Ranked<'a>, String> {
    let order = comparator(plan.merge, plan.page.sort_by)?;
    let mut items: Ranked<'a> = Vec::new();
    for part in parts {
        let list = part.value.get(key).and_then(Value::as_array);
        for (i, item) in list.into_iter().flatten().enumerate() {
            items.push((Keys::of(item, names, plan.merge), part.member, i, item));
        }
    }
    // The comparator ends on the identity; member and position order only
    // copies of one item, so the lowest member's copy is the one kept.
    items.sort_by(|a, b| order(&a.0, &b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut seen = std::collections::HashSet::new();
    items.retain(|(k, _, _, _)| seen.insert(k.identity));
    Ok(items)
}

/// Merges `parts` into the client's shape, each list cut by `page_rule`
/// (the client's page; for windows, the page's own items from their start).
pub(super) fn merge_page(
    plan: &FanOut,
    page_rule: Page,
    parts: &[Part],
    keep: Option<&dyn Fn(&Value) -> bool>,
) -> Result<Value, String> {
    let mut total: i64 = parts.iter().map(total_of).sum();
    let names = reserved_keys(plan.merge);
    let mut lists: Map<String, Value> = Map::new();
    let mut item_count = 0usize;
    let keys: Vec<String> = list_keys(plan);
    // Checked before any list, so an unsupported sort is zot's error even with nothing to sort.
    comparator(plan.merge, plan.page.sort_by)?;
    for key in &keys {
        let mut items = ranked(plan, parts, key, &names)?;
        if let Some(keep) = keep {
            items.retain(|(_, _, _, item)| keep(item));
            total = items.len() as i64;
        }
        let range = page_rule.range(items.len());
        let page: Vec<Value> = items[range]
            .iter()
            .map(|(_, _, _, v)| (*v).clone())
            .collect();
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

/// How many items the members' answers hold in the merged list (for metrics).
pub(crate) fn listed(plan: &FanOut, parts: &[Part]) -> usize {
    let mut keys = list_keys(plan);
    keys.push(format!("{RESERVED}{}", plan.list_field));
    keys.dedup();
    parts
        .iter()
        .flat_map(|p| keys.iter().filter_map(|k| p.value.get(k)?.as_array()))
        .map(Vec::len)
        .sum()
}

/// The response keys under which the merged list appears in members' answers.
pub(super) fn list_keys(plan: &FanOut) -> Vec<String> {
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

/// The reserved response keys of `merge`'s item keys, in [`KEYS`] order.
pub(super) fn reserved_keys(merge: Merge) -> Vec<String> {
    let keys = KEYS
        .iter()
        .find(|(m, _, _)| *m == merge)
        .map_or(&[][..], |(_, k, _)| &k[..]);
    keys.iter().map(|k| format!("{RESERVED}{k}")).collect()
}

/// The item keys members are asked to carry for a sort by `criteria`: the
/// identity, and the key the sort reads (the others read as null).
fn carried(merge: Merge, criteria: Criteria) -> Vec<&'static str> {
    let Some((_, keys, identity)) = KEYS.iter().find(|(m, _, _)| *m == merge) else {
        return Vec::new();
    };
    let sorted = SORTED_BY
        .iter()
        .find(|(c, _)| *c == criteria)
        .map(|(_, k)| *k);
    keys.iter()
        .enumerate()
        .filter(|(i, k)| *i < *identity || Some(**k) == sorted)
        .map(|(_, k)| *k)
        .collect()
}

/// One item's keys, in [`KEYS`] order: two texts (repository and tag, or
/// name), a number (rank), a time and downloads, plus its identity.
pub(crate) struct Keys<'a> {
    text: [&'a str; 2],
    pub(super) rank: i64,
    pub(super) updated: Stamp,
    pub(super) downloads: i64,
    pub(super) identity: (&'a str, &'a str),
}

impl<'a> Keys<'a> {
    pub(super) fn of(item: &'a Value, names: &[String], merge: Merge) -> Self {
        // One pass over the item's few fields: a hash lookup per key name
        // costs more, for every item of every member's answer.
        let mut found: [&Value; KEY_COUNT] = [&Value::Null; KEY_COUNT];
        for (key, value) in item.as_object().into_iter().flatten() {
            if let Some(i) = names.iter().position(|n| n == key) {
                if let Some(slot) = found.get_mut(i) {
                    *slot = value;
                }
            }
        }
        let get = |i: usize| found.get(i).copied().unwrap_or(&Value::Null);
        let text = |i: usize| get(i).as_str().unwrap_or_default();
        let int = |i: usize| get(i).as_i64().unwrap_or(0);
        // Images: RepoName, Tag, LastUpdated, DownloadCount; repos: Name, Rank, LastUpdated, DownloadCount.
        let (text, rank, identity) = match merge {
            Merge::Images => ([text(0), text(1)], 0, (text(0), text(1))),
            Merge::Repos => ([text(0), ""], int(1), (text(0), "")),
        };
        Keys {
            text,
            rank,
            updated: Stamp::of(paging::parse_time(get(2))),
            downloads: int(3),
            identity,
        }
    }
}

pub(super) type Order = fn(&Keys<'_>, &Keys<'_>) -> Ordering;

/// zot's comparator for `criteria` over item keys; unsupported criteria are zot's error.
pub(super) fn comparator(merge: Merge, criteria: Criteria) -> Result<Order, String> {
    // Checked here so the error is zot's; the orders below then cannot fail.
    Ok(match merge {
        Merge::Images => {
            paging::image_order(criteria)?;
            match criteria {
                Criteria::AlphabeticDsc => |a, b| images(Criteria::AlphabeticDsc, a, b),
                Criteria::UpdateTime => |a, b| images(Criteria::UpdateTime, a, b),
                Criteria::Downloads => |a, b| images(Criteria::Downloads, a, b),
                _ => |a, b| images(Criteria::AlphabeticAsc, a, b),
            }
        }
        Merge::Repos => {
            paging::repo_order(criteria)?;
            match criteria {
                Criteria::AlphabeticAsc => |a, b| repos(Criteria::AlphabeticAsc, a, b),
                Criteria::AlphabeticDsc => |a, b| repos(Criteria::AlphabeticDsc, a, b),
                Criteria::UpdateTime => |a, b| repos(Criteria::UpdateTime, a, b),
                Criteria::Downloads => |a, b| repos(Criteria::Downloads, a, b),
                _ => |a, b| repos(Criteria::Relevance, a, b),
            }
        }
    })
}

fn images(criteria: Criteria, a: &Keys<'_>, b: &Keys<'_>) -> Ordering {
    let (ka, kb) = (image_key(a), image_key(b));
    paging::image_order(criteria).map_or(Ordering::Equal, |order| order(&ka, &kb))
}

fn repos(criteria: Criteria, a: &Keys<'_>, b: &Keys<'_>) -> Ordering {
    let (ka, kb) = (repo_key(a), repo_key(b));
    paging::repo_order(criteria).map_or(Ordering::Equal, |order| order(&ka, &kb))
}

fn image_key<'a>(k: &Keys<'a>) -> ImageKey<'a> {
    ImageKey {
        repo: k.text[0],
        tag: k.text[1],
        last_updated: k.updated,
        downloads: k.downloads,
    }
}

fn repo_key<'a>(k: &Keys<'a>) -> RepoKey<'a> {
    RepoKey {
        name: k.text[0],
        rank: k.rank,
        last_updated: k.updated,
        downloads: k.downloads,
    }
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
pub(super) mod tests;
