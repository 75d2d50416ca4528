//! `DerivedImageList` and `BaseImageList` for the fleet: the related images may live on any member.
//!
//! The argument image's owner resolves it (and words any error as zot
//! does); its layers come from `Image` on that owner. Every image related to
//! it shares its first layer, so each member is asked `ImageListForDigest`
//! of that layer (which matches layers too), with the client's selection plus
//! the layers to test. The gateway keeps the images whose layers extend
//! (derived) or are a prefix of (base) one of the argument's manifests,
//! then sorts and pages them as zot does.
//!
//! zot answers an index with only its matching manifests, and the fields
//! that sum or pick from them (`Manifests`, `Size`, `LastUpdated`, and the
//! annotations that fall back to the first manifest's labels). A round finds
//! only the manifests on its first layer, so an image some manifests of which
//! are not related, or found by several rounds, is asked for whole from its
//! member (`Image`, with the same selection) and cut to the related
//! manifests; the same image as `ImageListForDigest` of its first related
//! manifest gives the annotations, and tells whether the index's own
//! `created` annotation sets `LastUpdated`.

use std::collections::{BTreeSet, HashSet};

use serde_json::{json, Value};

use flotilla_protocol::graphql::error::GqlError;
use flotilla_protocol::graphql::normalize::{self, Selected};
use flotilla_protocol::graphql::schema::Schema;
use flotilla_protocol::search::paging::{self, Criteria, Page};
use flotilla_protocol::search::ANNOTATED_FIELDS;

use super::ask::{ask, Answer};
use super::merge::{self, FanOut, Part, RESERVED};
use super::plan::Merge;
use crate::client::Client;
use crate::state::Gateway;

/// A manifest's digest and layer digests.
type Layers = (String, Vec<String>);

pub(super) async fn resolve(
    gw: &Gateway,
    client: &Client,
    parts: &http::request::Parts,
    field: &Selected,
    base: bool,
) -> Answer {
    let image = field
        .args
        .get("image")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Some((repo, tag)) = image.split_once(':').filter(|(_, tag)| !tag.is_empty()) else {
        return any(gw, client, parts, field).await;
    };
    let owner = gw.ring.owner(repo);
    // The owner's own answer carries zot's errors (unknown repository or tag, no access).
    let own = ask(gw, client, parts, owner, field).await;
    if !matches!(own, Answer::Data(Some(_), _)) {
        return own;
    }
    let digest = field.args.get("digest").and_then(Value::as_str);
    let argument = match argument_layers(gw, client, parts, owner, repo, tag, digest).await {
        Ok(layers) if !layers.is_empty() => layers,
        Ok(_) => return own,
        Err(answer) => return answer,
    };
    let page = match Page::read(field.args.get("requestedPage"), Criteria::UpdateTime) {
        Ok(page) => page,
        Err(_) => return own,
    };
    let firsts: BTreeSet<&str> = argument
        .iter()
        .filter_map(|(_, l)| l.first().map(String::as_str))
        .collect();
    let schema = gw.schema.get();
    let Some(plans) = firsts
        .iter()
        .map(|first| candidate_plan(&schema, field, first, page))
        .collect::<Option<Vec<_>>>()
    else {
        return own;
    };
    let mut answers = Vec::new();
    let mut errors = Vec::new();
    // One first layer in the common case; several only for an index whose platforms differ at the base.
    for plan in &plans {
        let asks = (0..gw.members.len()).map(|i| ask(gw, client, parts, i, &plan.rewritten));
        for (member, answer) in futures_util::future::join_all(asks)
            .await
            .into_iter()
            .enumerate()
        {
            match answer {
                Answer::Data(Some(value), _) => answers.push(Part { member, value }),
                Answer::Data(None, mut e) => errors.append(&mut e),
                refused @ Answer::Refused(_) => return refused,
            }
        }
    }
    let answers = match combine(gw, client, parts, &plans[0], answers, &argument, base).await {
        Ok(answers) => answers,
        Err(refused) => return refused,
    };
    let keep = |item: &Value| related(item, &argument, base);
    match merge::merge_filtered(&plans[0], &answers, Some(&keep)) {
        Ok(value) => Answer::Data(Some(value), errors),
        Err(message) => Answer::Data(
            None,
            vec![GqlError::new(message)
                .path(vec![json!(field.key)])
                .at(field.location)],
        ),
    }
}

async fn any(
    gw: &Gateway,
    client: &Client,
    parts: &http::request::Parts,
    field: &Selected,
) -> Answer {
    match gw.members.pick() {
        Ok(index) => ask(gw, client, parts, index, field).await,
        Err(err) => Answer::Data(None, vec![GqlError::new(err.to_string())]),
    }
}

/// The argument image's manifests and layers, from its owner; with `digest`,
/// only that manifest (zot: a specific manifest inside an index).
async fn argument_layers(
    gw: &Gateway,
    client: &Client,
    parts: &http::request::Parts,
    owner: usize,
    repo: &str,
    tag: &str,
    digest: Option<&str>,
) -> Result<Vec<Layers>, Answer> {
    let image = serde_json::to_string(&format!("{repo}:{tag}")).unwrap_or_default();
    let query =
        format!("{{{RESERVED}image:Image(image:{image}){{Manifests{{Digest Layers{{Digest}}}}}}}}");
    let Ok(fields) = normalize::normalize_query(&gw.schema.get(), query) else {
        return Ok(Vec::new());
    };
    let value = match ask(gw, client, parts, owner, &fields[0]).await {
        Answer::Data(Some(value), _) => value,
        Answer::Data(None, _) => return Ok(Vec::new()),
        refused @ Answer::Refused(_) => return Err(refused),
    };
    Ok(manifests(&value["Manifests"])
        .into_iter()
        .filter(|(d, _)| digest.is_none_or(|want| d == want))
        .collect())
}

fn manifests(list: &Value) -> Vec<Layers> {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let digest = m["Digest"].as_str().unwrap_or_default().to_owned();
            let layers = m["Layers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|l| l["Digest"].as_str().map(str::to_owned))
                .collect();
            (digest, layers)
        })
        .collect()
}

/// `ImageListForDigest(id: <first>)` with the client's `Results` selection,
/// the layers to test, and the merge's keys; every candidate, unpaged.
fn candidate_plan(schema: &Schema, field: &Selected, first: &str, page: Page) -> Option<FanOut> {
    let id = serde_json::to_string(first).ok()?;
    // Sorted as the client's list is, so members carry the key that sort reads.
    let query = format!(
        "{{{}:ImageListForDigest(id:{id}, requestedPage:{{sortBy:{}}}){{{RESERVED}Results:Results{{{RESERVED}Manifests:Manifests{{Digest ConfigDigest LastUpdated Size Layers{{Digest Size}}}}}}}}}}",
        field.key,
        page.sort_by.as_str()
    );
    let mut candidate = normalize::normalize_query(schema, query).ok()?.remove(0);
    // The client's own `Results` selections (under their aliases) ride along.
    for wanted in field.fields.iter().filter(|f| f.name == "Results") {
        let mut results = wanted.clone();
        results.fields.push(candidate.fields[0].fields[0].clone());
        candidate.fields.push(results);
    }
    if field.fields.iter().any(|f| f.name == "Results") {
        candidate.fields.remove(0);
    }
    Some(merge::rewrite(&candidate, Merge::Images, "PaginatedImagesResult")?.answering(field, page))
}

/// One image found by the rounds: its member, repository and tag, and every partial answer for it.
type Group<'a> = ((usize, &'a str, &'a str), Vec<&'a Value>);

/// The rounds' answers with each image once, holding exactly its related
/// manifests, as one answer per member.
async fn combine(
    gw: &Gateway,
    client: &Client,
    parts: &http::request::Parts,
    plan: &FanOut,
    answers: Vec<Part>,
    argument: &[Layers],
    base: bool,
) -> Result<Vec<Part>, Answer> {
    let mut out: Vec<Part> = Vec::new();
    for part in &answers {
        if !out.iter().any(|p| p.member == part.member) {
            out.push(Part {
                member: part.member,
                value: part.value.clone(),
            });
        }
    }
    let (repo_key, tag_key) = (format!("{RESERVED}RepoName"), format!("{RESERVED}Tag"));
    for key in merge::list_keys(plan) {
        let Some(selection) = plan.rewritten.fields.iter().find(|f| f.key == key) else {
            continue;
        };
        let mut groups: Vec<Group<'_>> = Vec::new();
        for part in &answers {
            for item in part
                .value
                .get(&key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let id = (
                    part.member,
                    item[&repo_key].as_str().unwrap_or_default(),
                    item[&tag_key].as_str().unwrap_or_default(),
                );
                match groups.iter_mut().find(|(g, _)| *g == id) {
                    Some((_, items)) => items.push(item),
                    None => groups.push((id, vec![item])),
                }
            }
        }
        let mut lists: Vec<(usize, Vec<Value>)> = Vec::new();
        for ((member, repo, tag), items) in groups {
            let matched: HashSet<String> = items
                .iter()
                .flat_map(|item| related_manifests(item, argument, base))
                .collect();
            if matched.is_empty() {
                continue;
            }
            let complete = |item: &Value| hidden_manifests(item).len() == matched.len();
            let item = match items.as_slice() {
                [one] if complete(one) => (*one).clone(),
                _ => match whole(gw, client, parts, member, repo, tag, selection).await? {
                    Some(mut item) => {
                        let first = match first_matched(&item, &matched) {
                            Some(digest) => {
                                alone(gw, client, parts, member, (repo, tag), &digest, selection)
                                    .await?
                            }
                            None => None,
                        };
                        cut(&mut item, selection, &matched, first.as_ref());
                        item
                    }
                    None => continue,
                },
            };
            match lists.iter_mut().find(|(m, _)| *m == member) {
                Some((_, list)) => list.push(item),
                None => lists.push((member, vec![item])),
            }
        }
        for part in &mut out {
            let list = lists
                .iter_mut()
                .find(|(m, _)| *m == part.member)
                .map(|(_, list)| std::mem::take(list))
                .unwrap_or_default();
            if let Some(object) = part.value.as_object_mut() {
                object.insert(key.clone(), Value::Array(list));
            }
        }
    }
    Ok(out)
}

/// `repo:tag` from `member` with `selection` (every manifest an index has);
/// `None` when the member no longer answers it.
async fn whole(
    gw: &Gateway,
    client: &Client,
    parts: &http::request::Parts,
    member: usize,
    repo: &str,
    tag: &str,
    selection: &Selected,
) -> Result<Option<Value>, Answer> {
    let image = serde_json::to_string(&format!("{repo}:{tag}")).unwrap_or_default();
    let query = format!("{{{RESERVED}image:Image(image:{image}){{Digest}}}}");
    let Ok(mut fields) = normalize::normalize_query(&gw.schema.get(), query) else {
        return Ok(None);
    };
    let mut field = fields.remove(0);
    field.fields = selection.fields.clone();
    match ask(gw, client, parts, member, &field).await {
        Answer::Data(value, _) => Ok(value.filter(|v| !v.is_null())),
        refused @ Answer::Refused(_) => Err(refused),
    }
}

/// `repo:tag` from `member` as `ImageListForDigest(id: digest)` answers it
/// with `selection`: an index cut to that one manifest, so its annotations
/// fall back to that manifest's, and its `LastUpdated` is that manifest's
/// unless the index has a `created` annotation.
async fn alone(
    gw: &Gateway,
    client: &Client,
    parts: &http::request::Parts,
    member: usize,
    (repo, tag): (&str, &str),
    digest: &str,
    selection: &Selected,
) -> Result<Option<Value>, Answer> {
    let id = serde_json::to_string(digest).unwrap_or_default();
    let query = format!("{{{RESERVED}alone:ImageListForDigest(id:{id}){{Results{{Digest}}}}}}");
    let Ok(mut fields) = normalize::normalize_query(&gw.schema.get(), query) else {
        return Ok(None);
    };
    let mut field = fields.remove(0);
    field.fields[0].fields = selection.fields.clone();
    let (repo_key, tag_key) = (format!("{RESERVED}RepoName"), format!("{RESERVED}Tag"));
    match ask(gw, client, parts, member, &field).await {
        Answer::Data(value, _) => Ok(value.and_then(|value| {
            value["Results"]
                .as_array()?
                .iter()
                .find(|item| item[&repo_key] == repo && item[&tag_key] == tag)
                .cloned()
        })),
        refused @ Answer::Refused(_) => Err(refused),
    }
}

/// The digest of `item`'s first manifest, in index order, that is `matched`.
fn first_matched(item: &Value, matched: &HashSet<String>) -> Option<String> {
    hidden_manifests(item)
        .iter()
        .filter_map(|m| m["Digest"].as_str())
        .find(|digest| matched.contains(*digest))
        .map(str::to_owned)
}

/// Keeps only the `matched` manifests of `item`, as zot summarises an index
/// cut to them: every `Manifests` the selection asks for holds just those,
/// `Size` sums them, the annotated fields come from `first` (the index as
/// [`alone`] answers it with its first matched manifest), and `LastUpdated`
/// is the newest matched manifest's unless the index's own `created` sets it.
fn cut(item: &mut Value, selection: &Selected, matched: &HashSet<String>, first: Option<&Value>) {
    let hidden = hidden_manifests(item);
    let kept: Vec<usize> = (0..hidden.len())
        .filter(|&i| matched.contains(hidden[i]["Digest"].as_str().unwrap_or_default()))
        .collect();
    if kept.len() == hidden.len() {
        return;
    }
    let size: i64 = kept.iter().map(|&i| distinct_size(&hidden[i])).sum();
    let newest = kept
        .iter()
        .map(|&i| &hidden[i]["LastUpdated"])
        .max_by_key(|t| paging::parse_time(t));
    for field in &selection.fields {
        let first = first.map(|first| &first[&field.key]);
        let Some(value) = item.get_mut(&field.key) else {
            continue;
        };
        match field.name.as_str() {
            name if ANNOTATED_FIELDS.contains(&name) => {
                if let Some(first) = first {
                    *value = first.clone();
                }
            }
            // The whole index and the index cut to its first matched manifest
            // agree exactly when `created` sets it, or when that manifest is
            // the newest of all, and so of the matched too.
            "LastUpdated" => {
                if let (Some(first), Some(newest)) = (first, newest) {
                    if first != value {
                        *value = newest.clone();
                    }
                }
            }
            "Manifests" => {
                if let Some(list) = value.as_array_mut() {
                    let mut i = 0;
                    list.retain(|_| {
                        i += 1;
                        kept.contains(&(i - 1))
                    });
                }
            }
            "Size" => *value = Value::String(size.to_string()),
            _ => {}
        }
    }
}

/// A manifest's size counting each blob once (zot's `getImageBlobsInfo`
/// map), from its summary's total, config digest and layers.
fn distinct_size(manifest: &Value) -> i64 {
    let number = |v: &Value| v.as_str().and_then(|s| s.parse::<i64>().ok()).unwrap_or(0);
    let mut total = number(&manifest["Size"]);
    let mut seen: HashSet<&str> = [&manifest["ConfigDigest"], &manifest["Digest"]]
        .into_iter()
        .filter_map(Value::as_str)
        .collect();
    for layer in manifest["Layers"].as_array().into_iter().flatten() {
        if !seen.insert(layer["Digest"].as_str().unwrap_or_default()) {
            total -= number(&layer["Size"]);
        }
    }
    total
}

fn hidden_manifests(item: &Value) -> Vec<Value> {
    item.get(format!("{RESERVED}Manifests"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The digests of `item`'s manifests that zot's prefix rule relates to the argument.
fn related_manifests(item: &Value, argument: &[Layers], base: bool) -> Vec<String> {
    manifests(&Value::Array(hidden_manifests(item)))
        .into_iter()
        .filter(|candidate| argument.iter().any(|a| prefix_related(candidate, a, base)))
        .map(|(digest, _)| digest)
        .collect()
}

fn prefix_related((cd, cl): &Layers, (ad, al): &Layers, base: bool) -> bool {
    let (short, long) = if base { (cl, al) } else { (al, cl) };
    cd != ad
        && !short.is_empty()
        && short.len() <= long.len()
        && short.iter().zip(long).all(|(a, b)| a == b)
}

/// zot's prefix rule on one candidate image: some manifest of it and some
/// manifest of the argument, of different digests, where one's layers are a
/// non-empty prefix of the other's.
fn related(item: &Value, argument: &[Layers], base: bool) -> bool {
    let candidate = manifests(
        item.get(format!("{RESERVED}Manifests"))
            .unwrap_or(&Value::Null),
    );
    candidate
        .iter()
        .any(|c| argument.iter().any(|a| prefix_related(c, a, base)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::render;
    use flotilla_protocol::graphql::schema::SEARCH;

    fn image(manifests: &[(&str, &[&str])]) -> Value {
        let list: Vec<Value> = manifests
            .iter()
            .map(|(d, ls)| json!({"Digest": d, "Layers": ls.iter().map(|l| json!({"Digest": l})).collect::<Vec<_>>()}))
            .collect();
        json!({ format!("{RESERVED}Manifests"): list })
    }

    #[test]
    fn prefixes_decide_derived_and_base() {
        let argument = vec![("m".to_owned(), vec!["a".to_owned(), "b".to_owned()])];
        let derived = image(&[("d", &["a", "b", "c"])]);
        let base = image(&[("x", &["a"])]);
        let same = image(&[("m", &["a", "b"])]);
        let unrelated = image(&[("u", &["a", "z"])]);
        assert!(related(&derived, &argument, false));
        assert!(!related(&base, &argument, false));
        assert!(related(&base, &argument, true));
        assert!(!related(&derived, &argument, true));
        assert!(
            !related(&same, &argument, false),
            "the image itself is not its own derivative"
        );
        assert!(!related(&unrelated, &argument, false) && !related(&unrelated, &argument, true));
    }

    #[test]
    fn a_cut_keeps_the_matched_manifests_and_sums_their_blobs_once() {
        let q =
            r#"{DerivedImageList(image:"a:1"){Results{Size m:Manifests{Size} Manifests{Digest}}}}"#;
        let field = normalize::normalize_query(&SEARCH, q).unwrap().remove(0);
        let selection = field.fields[0].clone();
        let hidden = |d: &str, size: &str, layers: &[(&str, &str)]| {
            let layers: Vec<Value> = layers
                .iter()
                .map(|(d, s)| json!({"Digest": d, "Size": s}))
                .collect();
            json!({"Digest": d, "ConfigDigest": "cfg", "Size": size, "Layers": layers})
        };
        let mut item = json!({
            "Size": "999",
            "m": [{"Size": "1"}, {"Size": "2"}, {"Size": "3"}],
            "Manifests": [{"Digest": "x"}, {"Digest": "y"}, {"Digest": "z"}],
            format!("{RESERVED}Manifests"): [
                // A layer repeated, and one that is the config blob: each counted once.
                hidden("x", "100", &[("l1", "10"), ("l1", "10"), ("cfg", "5")]),
                hidden("y", "50", &[("l2", "20")]),
                hidden("z", "70", &[("l3", "30")]),
            ],
        });
        let matched: HashSet<String> = ["x".to_owned(), "z".to_owned()].into();
        cut(&mut item, &selection, &matched, None);
        assert_eq!(item["Size"], "155", "85 for x, 70 for z: {item}");
        assert_eq!(item["m"], json!([{"Size": "1"}, {"Size": "3"}]));
        assert_eq!(item["Manifests"], json!([{"Digest": "x"}, {"Digest": "z"}]));
    }

    #[test]
    fn a_cut_takes_annotations_from_the_first_matched_manifest_and_time_from_the_newest() {
        let q = r#"{DerivedImageList(image:"a:1"){Results{Vendor LastUpdated}}}"#;
        let field = normalize::normalize_query(&SEARCH, q).unwrap().remove(0);
        let selection = field.fields[0].clone();
        // y (unrelated) is newest and first; x and z match, z newer than x.
        let item = json!({
            "Vendor": "y's vendor",
            "LastUpdated": "2025-01-01T00:00:00Z",
            format!("{RESERVED}Manifests"): [
                {"Digest": "y", "LastUpdated": "2025-01-01T00:00:00Z"},
                {"Digest": "x", "LastUpdated": "2024-04-01T00:00:00Z"},
                {"Digest": "z", "LastUpdated": "2024-06-01T00:00:00.5Z"},
            ],
        });
        let matched: HashSet<String> = ["x".to_owned(), "z".to_owned()].into();
        assert_eq!(first_matched(&item, &matched).as_deref(), Some("x"));

        let alone = json!({"Vendor": "x's vendor", "LastUpdated": "2024-04-01T00:00:00Z"});
        let mut cut_item = item.clone();
        cut(&mut cut_item, &selection, &matched, Some(&alone));
        assert_eq!(cut_item["Vendor"], "x's vendor");
        assert_eq!(cut_item["LastUpdated"], "2024-06-01T00:00:00.5Z");

        // The index's own `created` annotation: both answers carry it, and it stays.
        let created = json!({"Vendor": "index vendor", "LastUpdated": "2025-01-01T00:00:00Z"});
        let mut cut_item = item.clone();
        cut(&mut cut_item, &selection, &matched, Some(&created));
        assert_eq!(cut_item["Vendor"], "index vendor");
        assert_eq!(cut_item["LastUpdated"], "2025-01-01T00:00:00Z");
    }

    #[test]
    fn candidates_carry_the_clients_selection_and_the_layers() {
        let q = r#"{DerivedImageList(image:"a:1", requestedPage:{limit:2}){Page{TotalCount} Results{RepoName Tag}}}"#;
        let field = normalize::normalize_query(&SEARCH, q).unwrap().remove(0);
        let plan = candidate_plan(
            &SEARCH,
            &field,
            "sha256:l1",
            Page::read(field.args.get("requestedPage"), Criteria::UpdateTime).unwrap(),
        )
        .unwrap();
        let text = render::document(&SEARCH, &plan.rewritten);
        assert!(
            text.starts_with(r#"{DerivedImageList:ImageListForDigest(id:"sha256:l1""#),
            "{text}"
        );
        assert!(
            text.contains(
                "Results{RepoName Tag __flotilla_Manifests:Manifests{Digest ConfigDigest LastUpdated Size Layers{Digest Size}}"
            ),
            "{text}"
        );
        assert!(!text.contains("limit"), "every candidate, unpaged: {text}");
    }
}
