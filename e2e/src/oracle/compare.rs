//! Comparing a gateway's answer with the single node's: exact, except where zot leaves the order open.

use std::collections::BTreeSet;

use anyhow::Result;
use serde_json::{json, Value};

use crate::search_fixture::Answer;

/// The sort key of a list's items, where zot's comparator can tie.
#[derive(Debug, Clone)]
pub enum Key {
    /// These fields of each item, in order (e.g. `LastUpdated` for `UPDATE_TIME`).
    Fields(&'static [&'static str]),
    /// `RankRepoName(query, Name)` (`RELEVANCE` over repositories).
    Rank(String),
    /// No order at all: the list is a set.
    Unordered,
}

/// A list (by its path under `data`) whose items may tie on `key`.
#[derive(Debug, Clone)]
pub struct Order {
    pub path: Vec<String>,
    pub key: Key,
}

/// `Ok` when `got` is what `single` answered, up to the ties in `orders`;
/// otherwise where and how they differ.
pub(super) fn answers(
    orders: &[Order],
    single: &Answer,
    got: &Answer,
    universe: &dyn Fn() -> Result<Value>,
) -> Result<(), String> {
    if single.status != got.status {
        return Err(format!(
            "HTTP {} from the single node, {} from the gateway\n  single:  {}\n  gateway: {}",
            single.status,
            got.status,
            clip(&single.body),
            clip(&got.body)
        ));
    }
    let mut want = single.body.clone();
    let mut have = got.body.clone();
    // Referrer annotations come from a Go map in zot: their order is open.
    sort_annotations(&mut want);
    sort_annotations(&mut have);
    for order in orders {
        settle(order, &want, &mut have, universe)?;
    }
    match first_difference(&want, &have, String::new()) {
        None => Ok(()),
        Some(diff) => Err(diff),
    }
}

/// Checks the list at `order.path` up to ties; if it passes, puts the
/// single node's list in `have` so the rest compares exactly.
fn settle(
    order: &Order,
    want: &Value,
    have: &mut Value,
    universe: &dyn Fn() -> Result<Value>,
) -> Result<(), String> {
    let path: Vec<&str> = std::iter::once("data")
        .chain(order.path.iter().map(String::as_str))
        .collect();
    let (Some(w), Some(h)) = (at(want, &path), at(have, &path)) else {
        return Ok(());
    };
    let (Some(w), Some(h)) = (w.as_array(), h.as_array()) else {
        return Ok(());
    };
    if w == h {
        return Ok(());
    }
    let where_ = path[1..].join(".");
    if w.len() != h.len() {
        return Err(format!(
            "{where_}: {} items from the single node, {} from the gateway\n  single:  {}\n  gateway: {}",
            w.len(),
            h.len(),
            names(w),
            names(h)
        ));
    }
    let wk: Vec<Value> = w.iter().map(|i| key(&order.key, i)).collect();
    let hk: Vec<Value> = h.iter().map(|i| key(&order.key, i)).collect();
    if wk != hk {
        return Err(format!(
            "{where_}: the sort keys differ in order\n  single:  {}\n  gateway: {}",
            names(w),
            names(h)
        ));
    }
    let mut start = 0;
    while start < w.len() {
        let end = (start..w.len())
            .find(|&i| wk[i] != wk[start])
            .unwrap_or(w.len());
        let ws: BTreeSet<String> = w[start..end].iter().map(Value::to_string).collect();
        let hs: BTreeSet<String> = h[start..end].iter().map(Value::to_string).collect();
        if ws != hs {
            let at_edge = start == 0 || end == w.len();
            if !at_edge {
                return Err(format!(
                    "{where_}: the items tied on {} at {start}..{end} differ as a set\n  single:  {}\n  gateway: {}",
                    wk[start],
                    names(&w[start..end]),
                    names(&h[start..end])
                ));
            }
            edge_group(
                &where_,
                &path,
                &h[start..end],
                &wk[start],
                &order.key,
                universe,
            )?;
        }
        start = end;
    }
    if let Some(slot) = at_mut(have, &path) {
        *slot = Value::Array(w.clone());
    }
    Ok(())
}

/// A tie group cut by the page's edge: its items must be distinct, and each
/// must be one the single node lists unpaged with the same key.
fn edge_group(
    where_: &str,
    path: &[&str],
    got: &[Value],
    tied: &Value,
    key_of: &Key,
    universe: &dyn Fn() -> Result<Value>,
) -> Result<(), String> {
    let all = universe().map_err(|e| format!("{where_}: the unpaged query failed: {e:#}"))?;
    let pool: BTreeSet<String> = at(&all, path)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|i| key(key_of, i) == *tied)
        .map(Value::to_string)
        .collect();
    let distinct: BTreeSet<String> = got.iter().map(Value::to_string).collect();
    if distinct.len() != got.len() {
        return Err(format!("{where_}: duplicate items {}", names(got)));
    }
    match got.iter().find(|i| !pool.contains(&i.to_string())) {
        None => Ok(()),
        Some(stray) => Err(format!(
            "{where_}: {} is no item the single node lists with the key {tied}: {}",
            names(std::slice::from_ref(stray)),
            clip(stray)
        )),
    }
}

fn key(key: &Key, item: &Value) -> Value {
    match key {
        Key::Fields(fields) => Value::Array(fields.iter().map(|f| item[*f].clone()).collect()),
        Key::Rank(query) => json!(rank(query, item["Name"].as_str().unwrap_or_default())),
        Key::Unordered => Value::Null,
    }
}

/// zot's `RankRepoName` (zot-reference §1.6): lower is better, -1 no match.
pub fn rank(search: &str, repo: &str) -> i64 {
    let search = search.trim_matches('/');
    let s: Vec<&str> = search.split('/').collect();
    let r: Vec<&str> = repo.split('/').collect();
    let index = |hay: &str, needle: &str| hay.find(needle).map(|i| i as i64);
    if s.len() > r.len() {
        return -1;
    }
    if search == repo {
        return 0;
    }
    let last = r[r.len() - 1];
    if s.len() == 1 {
        if let Some(i) = index(last, search) {
            return i + 1;
        }
        if let Some(i) = index(r[0], search) {
            return (i + 1) * 10;
        }
    }
    if s[..s.len() - 1] == r[..s.len() - 1] {
        if let Some(i) = index(last, s[s.len() - 1]) {
            return i + 1;
        }
    }
    if repo.starts_with(search) {
        return 10;
    }
    match index(repo, search) {
        Some(i) => (i + 1) * 100,
        None => -1,
    }
}

fn sort_annotations(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if k == "Annotations" {
                    if let Some(list) = v.as_array_mut() {
                        list.sort_by_key(Value::to_string);
                    }
                }
                sort_annotations(v);
            }
        }
        Value::Array(list) => list.iter_mut().for_each(sort_annotations),
        _ => {}
    }
}

fn at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, p| v.get(*p))
}

fn at_mut<'a>(value: &'a mut Value, path: &[&str]) -> Option<&'a mut Value> {
    path.iter().try_fold(value, |v, p| v.get_mut(*p))
}

/// The first place two answers differ, key order included (a GraphQL
/// answer follows the selection set's order).
fn first_difference(want: &Value, have: &Value, path: String) -> Option<String> {
    match (want, have) {
        (Value::Object(w), Value::Object(h)) => {
            let wk: Vec<&String> = w.keys().collect();
            let hk: Vec<&String> = h.keys().collect();
            if wk != hk {
                return Some(format!(
                    "{path}: keys {wk:?} from the single node, {hk:?} from the gateway"
                ));
            }
            w.iter()
                .find_map(|(k, v)| first_difference(v, &h[k], format!("{path}.{k}")))
        }
        (Value::Array(w), Value::Array(h)) if w.len() == h.len() => w
            .iter()
            .zip(h)
            .enumerate()
            .find_map(|(i, (a, b))| first_difference(a, b, format!("{path}[{i}]"))),
        (Value::Array(w), Value::Array(h)) => Some(format!(
            "{path}: {} items from the single node, {} from the gateway\n  single:  {}\n  gateway: {}",
            w.len(),
            h.len(),
            names(w),
            names(h)
        )),
        (w, h) if w == h => None,
        (w, h) => Some(format!(
            "{path}:\n  single:  {}\n  gateway: {}",
            clip(w),
            clip(h)
        )),
    }
}

/// Items named as briefly as they allow: `repo:tag`, a repository's name, or their JSON.
fn names(items: &[Value]) -> String {
    let named: Vec<String> = items
        .iter()
        .map(|i| {
            match (
                i["RepoName"].as_str(),
                i["Tag"].as_str(),
                i["Name"].as_str(),
            ) {
                (Some(r), Some(t), _) => format!("{r}:{t}"),
                (_, _, Some(n)) => n.to_owned(),
                _ => clip(i),
            }
        })
        .collect();
    format!("[{}]", named.join(", "))
}

fn clip(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(400) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::rank;

    #[test]
    fn rank_follows_zots_rules() {
        assert_eq!(rank("", "a/b"), 1);
        assert_eq!(rank("alpine", "public/alpine"), 1);
        assert_eq!(rank("alp", "myalpine"), 3);
        assert_eq!(rank("alp", "alpinelinux/tools"), 10);
        assert_eq!(rank("alp", "mirror/alpine-edge/base"), 800);
        assert_eq!(rank("public/alpine", "public/alpine"), 0);
        assert_eq!(rank("x/y/z", "a/b"), -1);
    }
}
