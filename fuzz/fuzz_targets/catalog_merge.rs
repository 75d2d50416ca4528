//! The gateway's catalog fan-out on any member answers: the client's query, then per member a `Link` line and a body. Every `Link` followed stays on the member's catalog; the merged page is one registry's page of the members' union (sorted, unique, at most `n`), and serializes as JSON.

#![no_main]

use flotilla_fuzz::parts;
use flotilla_gateway::fuzzing::{member_catalog, member_catalog_link, merged_catalog};
use flotilla_protocol::paging::catalog_order;
use libfuzzer_sys::fuzz_target;
use std::cmp::Ordering;

fuzz_target!(|data: &[u8]| {
    let Some(parts) = parts(data) else {
        return;
    };
    let Some((query, members)) = parts.split_first() else {
        return;
    };
    let mut catalogs = Vec::new();
    for member in members {
        let (link, body) = member.split_once('\n').unwrap_or((member, ""));
        if let Ok(value) = http::HeaderValue::from_str(link) {
            if let Ok(Some(next)) = member_catalog_link(&value, "m0:5000") {
                let uri: http::Uri = next.parse().expect("a followed Link is a URI");
                assert!(uri.authority().is_none(), "{next:?} names a host");
                assert_eq!(uri.path(), "/v2/_catalog", "{link:?} leaves the catalog");
            }
        }
        if let Ok(repos) = member_catalog(body.as_bytes()) {
            catalogs.push(repos);
        }
    }
    let all: Vec<String> = catalogs.iter().flatten().cloned().collect();
    let (page, link) = merged_catalog(catalogs, Some(query));
    let (last, n) = flotilla_protocol::paging::catalog_params(Some(query));
    // The merge is one registry's page of the members' union.
    let mut union = all.clone();
    union.sort_by(|a, b| catalog_order(a, b));
    union.dedup();
    assert_eq!(
        page,
        flotilla_protocol::paging::catalog_page(union, &last, n, |_| true),
        "query {query:?}"
    );
    if n >= 0 {
        assert!(page.len() as i64 <= n);
    }
    for pair in page.windows(2) {
        assert_eq!(
            catalog_order(&pair[0], &pair[1]),
            Ordering::Less,
            "{page:?}"
        );
    }
    assert!(
        page.iter().all(|r| all.contains(r)),
        "a name no member sent"
    );
    assert!(link.is_none() || page.len() as i64 == n);
    let body = serde_json::to_vec(&serde_json::json!({ "repositories": page }))
        .expect("the page serializes");
    let back: serde_json::Value = serde_json::from_slice(&body).expect("as JSON");
    assert_eq!(
        back["repositories"].as_array().map(Vec::len),
        Some(page.len())
    );
});
