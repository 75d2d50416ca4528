//! The rewrite and the merge, JSON in and JSON out: what members are asked, and what the client gets.

use serde_json::{json, Value};

use flotilla_node::graphql::normalize::{normalize, Request};
use flotilla_node::graphql::schema::SEARCH;

use super::*;
use crate::search::render::document;

fn fan_out(query: &str, merge: Merge) -> FanOut {
    let fields = normalize(
        &SEARCH,
        &Request {
            query: query.into(),
            ..Request::default()
        },
    )
    .unwrap();
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
        text.contains("__flotilla_Results:Results{__flotilla_Name:Name"),
        "{text}"
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
        json!({"Page": {"ItemCount": 3}, "Repos": [{"Name": "al"}, {"Name": "xal"}, {"Name": "pal"}], "Images": [], "Layers": []}),
        "rank ascending; the tie between xal and pal goes to the member order"
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

/// A member's answer to a rewritten repository query: its items sorted as
/// zot sorts them, cut by `requestedPage`, under `list` (projection aside).
fn member_answer(plan: &FanOut, query: &Selected, items: &[Value]) -> Value {
    let page = Page::read(query.args.get("requestedPage"), plan.page.sort_by).unwrap();
    let list = query
        .fields
        .iter()
        .find(|f| f.name == "Results")
        .map(|f| f.key.clone())
        .unwrap();
    json!({
        list: items[page.range(items.len())].to_vec(),
        "__flotilla_Page": {"__flotilla_TotalCount": items.len()},
    })
}

fn repo(name: &str, updated: Option<&str>) -> Value {
    json!({"Name": name, "__flotilla_Name": name, "__flotilla_Rank": 1,
           "__flotilla_LastUpdated": updated, "__flotilla_DownloadCount": 0})
}

#[test]
fn a_deep_page_in_two_phases_is_the_one_phase_page() {
    // Three members newest first, with ties, missing times and one
    // repository that two members hold (a fleet being rebalanced).
    let t = |s: u32| format!("2024-01-01T00:{:02}:{:02}Z", s / 60, s % 60);
    let mut members: Vec<Vec<Value>> = vec![Vec::new(), Vec::new(), Vec::new()];
    for i in 0..60u32 {
        let updated = (i % 7 != 3).then(|| t(600 - (i / 2) * 3));
        members[(i % 3) as usize].push(repo(&format!("r{i:02}"), updated.as_deref()));
    }
    members[2].push(repo("r04", Some(&t(598))));
    for list in &mut members {
        list.sort_by(|a, b| {
            let stamp = |v: &Value| Stamp::of(paging::parse_time(&v["__flotilla_LastUpdated"]));
            paging::newest_first(stamp(a), stamp(b))
        });
    }
    for (offset, limit) in [
        (1, 1),
        (3, 5),
        (10, 10),
        (19, 2),
        (40, 25),
        (59, 3),
        (61, 1),
        (200, 10),
    ] {
        let plan = fan_out(
            &format!("{{RepoListWithNewestImage(requestedPage:{{limit:{limit}, offset:{offset}}}){{Page{{TotalCount ItemCount}} Results{{Name}}}}}}"),
            Merge::Repos,
        );
        let one: Vec<Part> = (0..3)
            .map(|m| Part {
                member: m,
                value: member_answer(&plan, &plan.rewritten, &members[m]),
            })
            .collect();
        let expected = merge(&plan, &one).unwrap();
        let first = plan
            .keys_only
            .as_ref()
            .expect("a deep page has a first phase");
        let keys: Vec<Part> = (0..3)
            .map(|m| Part {
                member: m,
                value: member_answer(&plan, first, &members[m]),
            })
            .collect();
        let windows = windows(&plan, &keys).unwrap();
        let asked: usize = windows.iter().map(|w| w.limit).sum();
        assert!(asked <= limit + 1, "offset {offset}: windows {windows:?}");
        let items: Vec<Part> = windows
            .iter()
            .map(|w| Part {
                member: w.member,
                value: member_answer(&plan, &plan.window_query(w), &members[w.member]),
            })
            .collect();
        let merged = merge_windows(&plan, &keys, &windows, &items).unwrap();
        assert_eq!(
            merged.as_ref(),
            Some(&expected),
            "offset {offset} limit {limit}"
        );
        // A member whose order changed between the phases is noticed.
        if let Some(w) = windows.first() {
            let mut changed = members[w.member].clone();
            changed.insert(0, repo("zz-new", Some("2030-01-01T00:00:00Z")));
            let stale: Vec<Part> = items
                .iter()
                .map(|p| Part {
                    member: p.member,
                    value: if p.member == w.member {
                        member_answer(&plan, &plan.window_query(w), &changed)
                    } else {
                        p.value.clone()
                    },
                })
                .collect();
            assert_eq!(
                merge_windows(&plan, &keys, &windows, &stale),
                Ok(None),
                "offset {offset}"
            );
        }
    }
    let shallow = fan_out(
        r#"{RepoListWithNewestImage(requestedPage:{limit:10, offset:0}){Results{Name}}}"#,
        Merge::Repos,
    );
    assert!(shallow.keys_only.is_none(), "the first page is one phase");
    let counted = fan_out(
        r#"{RepoListWithNewestImage(requestedPage:{limit:10, offset:5}){Page{TotalCount}}}"#,
        Merge::Repos,
    );
    assert!(
        counted.keys_only.is_none(),
        "no list selected: keys are all there is"
    );
}
