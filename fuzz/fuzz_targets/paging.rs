//! zot's paging on any query (the first line) over any names (one a line): catalog pages are sorted, unique, at most `n`, and their `Link` reads back as the next page's query; tag pages are the run after `last`, at most `n`.

#![no_main]

use flotilla_protocol::name;
use flotilla_protocol::paging::{
    catalog_link, catalog_order, catalog_page, catalog_params, tags_page,
};
use libfuzzer_sys::fuzz_target;
use std::cmp::Ordering;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let query = lines.next();
    let names: Vec<String> = lines.map(str::to_owned).collect();
    let (last, n) = catalog_params(query);

    // The catalog: the store's walk gives valid names in zot's order.
    let mut repos: Vec<String> = names
        .iter()
        .filter(|r| name::is_valid(r))
        .cloned()
        .collect();
    repos.sort_by(|a, b| catalog_order(a, b));
    repos.dedup();
    let readable = |r: &str| !r.len().is_multiple_of(3);
    let page = catalog_page(&repos, &last, n, readable);
    if n >= 0 {
        assert!(page.len() as i64 <= n, "{} names for n={n}", page.len());
    }
    for pair in page.windows(2) {
        assert_eq!(
            catalog_order(&pair[0], &pair[1]),
            Ordering::Less,
            "{page:?}"
        );
    }
    for r in &page {
        assert!(
            repos.contains(r) && readable(r),
            "{r:?} was not to be listed"
        );
        if !last.is_empty() {
            assert_eq!(
                catalog_order(&last, r),
                Ordering::Less,
                "{r:?} is before {last:?}"
            );
        }
    }
    if let Some(link) = catalog_link(&page, n) {
        assert!(
            n > 0 && page.len() as i64 == n,
            "a Link on a page that is not full"
        );
        let target = link
            .strip_prefix('<')
            .and_then(|l| l.strip_suffix(">; rel=\"next\""))
            .expect("the Link has zot's form");
        let uri: http::Uri = target.parse().expect("the Link is a URI");
        assert_eq!(uri.path(), "/v2/_catalog");
        let next = catalog_params(uri.query());
        assert_eq!(
            next,
            (page[page.len() - 1].clone(), n),
            "{link} reads back otherwise"
        );
    }

    // Tags: any names, in the store's order.
    let tag_n = query.and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("n="))
            .and_then(|v| v.parse::<usize>().ok())
    });
    match tags_page(&names, tag_n, &last) {
        None => assert!(!last.is_empty() && !names.contains(&last)),
        Some((page, more)) => {
            let start = if last.is_empty() {
                0
            } else {
                names
                    .iter()
                    .position(|t| *t == last)
                    .expect("last is a tag")
                    + 1
            };
            assert_eq!(
                page,
                &names[start..start + page.len()],
                "not the run after last"
            );
            if let Some(k) = tag_n {
                assert!(page.len() <= k);
                let ends = start + page.len() == names.len();
                assert_eq!(
                    more,
                    !page.is_empty() && !ends,
                    "Link disagrees with the page"
                );
                if k > 0 && page.len() < k {
                    assert!(ends, "a short page before the end");
                }
            } else {
                assert!(!more);
                assert_eq!(start + page.len(), names.len(), "no n: the rest");
            }
        }
    }
});
