//! Deep pages against the one-phase merge, JSON in and JSON out: shares, members asked again, windows.

use serde_json::{json, Value};

use flotilla_protocol::graphql::normalize::Selected;
use flotilla_protocol::search::paging::{self, Criteria, Page, RepoKey, Stamp};

use super::*;
use crate::search::merge::tests::fan_out;
use crate::search::merge::{merge, Part};

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

/// Sorts a member's items as a node does: newest first, ties by name.
fn as_a_node_sorts(items: &mut [Value]) {
    fn key(v: &Value) -> RepoKey<'_> {
        RepoKey {
            name: v["Name"].as_str().unwrap_or_default(),
            rank: 1,
            last_updated: Stamp::of(paging::parse_time(&v["__flotilla_LastUpdated"])),
            downloads: 0,
        }
    }
    let order = paging::repo_order(Criteria::UpdateTime).unwrap();
    items.sort_by(|a, b| order(&key(a), &key(b)));
}

/// A deep page asked in shares (a short member asked again; then windows
/// when the items are `nested`), against the one-phase page, for members
/// holding `members`. Returns the members found short.
fn deep_page_agrees(
    members: &[Vec<Value>],
    offset: usize,
    limit: usize,
    nested: bool,
) -> Vec<usize> {
    let items = if nested {
        "Name NewestImage{Tag}"
    } else {
        "Name"
    };
    let plan = fan_out(
        &format!("{{RepoListWithNewestImage(requestedPage:{{limit:{limit}, offset:{offset}}}){{Page{{TotalCount ItemCount}} Results{{{items}}}}}}}"),
        Merge::Repos,
    );
    assert_eq!(plan.windowed(), nested);
    let n = members.len();
    let one: Vec<Part> = (0..n)
        .map(|m| Part {
            member: m,
            value: member_answer(&plan, &plan.rewritten, &members[m]),
        })
        .collect();
    let expected = merge(&plan, &one).unwrap();
    let first = plan
        .share_query(plan.first_share(n))
        .expect("a deep page is asked in shares");
    let mut keys: Vec<Part> = (0..n)
        .map(|m| Part {
            member: m,
            value: member_answer(&plan, &first, &members[m]),
        })
        .collect();
    let short = short(&plan, &keys, &ranking(&plan, &keys).unwrap()).unwrap();
    for m in &short {
        keys[*m].value = member_answer(&plan, &plan.all_query().unwrap(), &members[*m]);
    }
    if !nested {
        assert_eq!(
            merge(&plan, &keys).unwrap(),
            expected,
            "offset {offset} limit {limit}"
        );
        return short;
    }
    let windows = windows(&plan, &ranking(&plan, &keys).unwrap());
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
    short
}

#[test]
fn a_deep_page_asked_in_shares_is_the_one_phase_page() {
    // Three members, with ties, missing times and one repository that two
    // members hold (a fleet being rebalanced).
    let t = |s: u32| format!("2024-01-01T00:{:02}:{:02}Z", s / 60, s % 60);
    let mut members: Vec<Vec<Value>> = vec![Vec::new(), Vec::new(), Vec::new()];
    for i in 0..300u32 {
        let updated = (i % 7 != 3).then(|| t(3000 - (i / 2) * 3));
        members[(i % 3) as usize].push(repo(&format!("r{i:03}"), updated.as_deref()));
    }
    members[2].push(repo("r004", Some(&t(2998))));
    members.iter_mut().for_each(|m| as_a_node_sorts(m));
    for (offset, limit) in [
        (1, 1),
        (3, 5),
        (10, 10),
        (19, 2),
        (40, 25),
        (150, 3),
        (255, 10),
        (299, 1),
        (301, 1),
        (900, 10),
    ] {
        for nested in [false, true] {
            deep_page_agrees(&members, offset, limit, nested);
        }
    }
    // One member holds every newest repository: its share is not enough,
    // and it alone is asked again.
    let mut skewed: Vec<Vec<Value>> = vec![Vec::new(), Vec::new(), Vec::new()];
    for i in 0..600u32 {
        let member = if i < 150 { 0 } else { 1 + (i % 2) as usize };
        skewed[member].push(repo(&format!("s{i:03}"), Some(&t(3000 - i))));
    }
    skewed.iter_mut().for_each(|m| as_a_node_sorts(m));
    for nested in [false, true] {
        assert_eq!(deep_page_agrees(&skewed, 100, 10, nested), vec![0]);
    }
    for offset in [0, 60, 149, 150, 300, 590] {
        deep_page_agrees(&skewed, offset.max(1), 10, offset % 2 == 0);
    }

    let shallow = fan_out(
        r#"{RepoListWithNewestImage(requestedPage:{limit:10, offset:0}){Results{Name}}}"#,
        Merge::Repos,
    );
    assert!(shallow.deep.is_none(), "the first page is one phase");
    let counted = fan_out(
        r#"{RepoListWithNewestImage(requestedPage:{limit:10, offset:5}){Page{TotalCount}}}"#,
        Merge::Repos,
    );
    assert!(
        counted.deep.is_none(),
        "no list selected: keys are all there is"
    );
}
