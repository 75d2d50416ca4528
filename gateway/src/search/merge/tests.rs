//! The rewrite and the merge, JSON in and JSON out: what members are asked, and what the client gets.

use serde_json::{json, Value};

use flotilla_protocol::graphql::normalize::normalize_query;
use flotilla_protocol::graphql::schema::SEARCH;

use super::*;
use crate::search::render::document;

pub(in crate::search) fn fan_out(query: &str, merge: Merge) -> FanOut {
    let fields = normalize_query(&SEARCH, query).unwrap();
    let ty = SEARCH
        .query_type()
        .field(&fields[0].name)
        .unwrap()
        .ty
        .base()
        .to_owned();
    rewrite(&fields[0], merge, &ty).unwrap()
}

fn image(repo: &str, tag: &str, updated: Value, downloads: i64) -> Value {
    json!({
        "Tag": tag,
        "__flotilla_RepoName": repo, "__flotilla_Tag": tag,
        "__flotilla_LastUpdated": updated, "__flotilla_DownloadCount": downloads
    })
}

#[test]
fn members_are_asked_for_the_top_k_with_the_keys_the_merge_needs() {
    let plan = fan_out(
        r#"{ImageList(repo:"", requestedPage:{limit:2, offset:3}){Results{Tag}}}"#,
        Merge::Images,
    );
    let text = document(&SEARCH, &plan.rewritten);
    assert!(
        text.contains("requestedPage:{limit:5,offset:0,sortBy:RELEVANCE}"),
        "{text}"
    );
    assert!(
        text.contains("Results{Tag __flotilla_RepoName:RepoName __flotilla_Tag:Tag"),
        "{text}"
    );
    assert!(
        text.contains("__flotilla_Page:Page{__flotilla_TotalCount:TotalCount}"),
        "{text}"
    );
    let all = fan_out(
        r#"{RepoListWithNewestImage{Page{ItemCount}}}"#,
        Merge::Repos,
    );
    let text = document(&SEARCH, &all.rewritten);
    assert!(
        text.contains("requestedPage:{sortBy:UPDATE_TIME}"),
        "limit 0 offset 0 stays everything: {text}"
    );
    assert!(
        text.contains(
            "__flotilla_Results:Results{__flotilla_Name:Name __flotilla_LastUpdated:LastUpdated}"
        ),
        "the identity and the key UPDATE_TIME reads, no other: {text}"
    );
    let relevance = document(&SEARCH, &plan.rewritten);
    assert!(
        !relevance.contains("__flotilla_LastUpdated")
            && !relevance.contains("__flotilla_DownloadCount"),
        "images by relevance read only their identity: {relevance}"
    );
}

#[test]
fn answers_merge_sort_and_cut_as_one_registry() {
    let plan = fan_out(
        r#"{ImageList(repo:"", requestedPage:{limit:2, offset:1, sortBy:UPDATE_TIME}){Page{TotalCount ItemCount} Results{Tag}}}"#,
        Merge::Images,
    );
    let parts = [
        Part {
            member: 0,
            value: json!({
                "Page": {"TotalCount": 2},
                "Results": [image("a", "new", json!("2025-01-01T00:00:00Z"), 0), image("a", "none", Value::Null, 0)],
                "__flotilla_Page": {"__flotilla_TotalCount": 2}
            }),
        },
        Part {
            member: 1,
            value: json!({
                "Page": {"TotalCount": 5},
                "Results": [image("b", "mid", json!("2024-06-01T00:00:00.5Z"), 0), image("b", "old", json!("2020-01-01T00:00:00Z"), 0)],
                "__flotilla_Page": {"__flotilla_TotalCount": 5}
            }),
        },
    ];
    let merged = merge(&plan, &parts).unwrap();
    assert_eq!(
        serde_json::to_string(&merged).unwrap(),
        r#"{"Page":{"TotalCount":7,"ItemCount":2},"Results":[{"Tag":"mid"},{"Tag":"old"}]}"#
    );
}

#[test]
fn limit_zero_with_an_offset_is_empty_but_counted() {
    let plan = fan_out(
        r#"{ImageList(repo:"", requestedPage:{limit:0, offset:2}){Page{TotalCount ItemCount} Results{Tag}}}"#,
        Merge::Images,
    );
    let parts = [Part {
        member: 0,
        value: json!({"Results": [], "__flotilla_Page": {"__flotilla_TotalCount": 4}}),
    }];
    assert_eq!(
        merge(&plan, &parts).unwrap(),
        json!({"Page": {"TotalCount": 4, "ItemCount": 0}, "Results": []})
    );
}

#[test]
fn repository_searches_keep_the_lists_that_do_not_merge() {
    let plan = fan_out(
        r#"{GlobalSearch(query:"al"){Page{ItemCount} Repos{Name} Images{Tag} Layers{Digest}}}"#,
        Merge::Repos,
    );
    let repo = |name: &str, rank: i64| json!({"Name": name, "__flotilla_Name": name, "__flotilla_Rank": rank, "__flotilla_LastUpdated": null, "__flotilla_DownloadCount": 0});
    let parts = [
        Part {
            member: 0,
            value: json!({"Repos": [repo("xal", 2)], "Images": [], "Layers": [], "__flotilla_Page": {"__flotilla_TotalCount": 1}}),
        },
        Part {
            member: 1,
            value: json!({"Repos": [repo("al", 0), repo("pal", 2)], "Images": [], "Layers": [], "__flotilla_Page": {"__flotilla_TotalCount": 2}}),
        },
    ];
    assert_eq!(
        merge(&plan, &parts).unwrap(),
        json!({"Page": {"ItemCount": 3}, "Repos": [{"Name": "al"}, {"Name": "pal"}, {"Name": "xal"}], "Images": [], "Layers": []}),
        "rank ascending; the tie between xal and pal goes to the name, as on a node"
    );
}

#[test]
fn an_unsupported_sort_is_zots_error() {
    let plan = fan_out(
        r#"{RepoListWithNewestImage(requestedPage:{sortBy:STARS}){Page{ItemCount}}}"#,
        Merge::Repos,
    );
    assert!(merge(&plan, &[]).unwrap_err().contains("STARS"));
}
