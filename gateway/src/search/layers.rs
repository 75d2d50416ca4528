//! `DerivedImageList` and `BaseImageList` for the fleet: the related images may live on any member.
//!
//! The argument image's owner resolves it (and words any error as zot
//! does); its layers come from `Image` on that owner. Every image related to
//! it shares its first layer, so each member is asked `ImageListForDigest`
//! of that layer (which matches layers too), with the client's selection plus
//! the layers to test. The gateway keeps the images whose layers extend
//! (derived) or are a prefix of (base) one of the argument's manifests,
//! then sorts and pages them as zot does.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use flotilla_node::graphql::error::GqlError;
use flotilla_node::graphql::normalize::{self, Selected};
use flotilla_node::graphql::schema::Schema;
use flotilla_node::search::paging::{Criteria, Page};

use super::engine::{ask, Answer};
use super::merge::{self, Part, RESERVED};
use super::plan::Merge;
use crate::gateway::Gateway;
use crate::proxy::Client;

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
fn candidate_plan(
    schema: &Schema,
    field: &Selected,
    first: &str,
    page: Page,
) -> Option<merge::FanOut> {
    let id = serde_json::to_string(first).ok()?;
    // Sorted as the client's list is, so members carry the key that sort reads.
    let query = format!(
        "{{{}:ImageListForDigest(id:{id}, requestedPage:{{sortBy:{}}}){{{RESERVED}Results:Results{{{RESERVED}Manifests:Manifests{{Digest Layers{{Digest}}}}}}}}}}",
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

/// zot's prefix rule on one candidate image: some manifest of it and some
/// manifest of the argument, of different digests, where one's layers are a
/// non-empty prefix of the other's.
fn related(item: &Value, argument: &[Layers], base: bool) -> bool {
    let candidate = manifests(
        item.get(format!("{RESERVED}Manifests"))
            .unwrap_or(&Value::Null),
    );
    candidate.iter().any(|(cd, cl)| {
        argument.iter().any(|(ad, al)| {
            let (short, long) = if base { (cl, al) } else { (al, cl) };
            cd != ad
                && !short.is_empty()
                && short.len() <= long.len()
                && short.iter().zip(long).all(|(a, b)| a == b)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::render;
    use flotilla_node::graphql::schema::SEARCH;

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
                "Results{RepoName Tag __flotilla_Manifests:Manifests{Digest Layers{Digest}}"
            ),
            "{text}"
        );
        assert!(!text.contains("limit"), "every candidate, unpaged: {text}");
    }
}
