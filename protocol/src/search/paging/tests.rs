//! The page cut against a model of zot's rule (every row of §1.3.2's table, then random inputs), the comparators, and RankRepoName.

use serde_json::json;

use super::*;

fn page(limit: i64, offset: i64) -> Page {
    Page {
        limit,
        offset,
        sort_by: Criteria::Relevance,
    }
}

/// zot's `Page()` written as in Go, for the property test to hold the cut to.
fn model(len: i64, limit: i64, offset: i64) -> (i64, i64) {
    if len == 0 {
        return (0, 0);
    }
    let (mut start, mut end) = (offset, offset + limit);
    if start >= len {
        start = len;
        end = len;
    }
    if end >= len {
        end = len;
    }
    if start == 0 && end == 0 {
        return (0, len);
    }
    (start, end)
}

#[test]
fn every_row_of_zots_table() {
    let items: Vec<i32> = (0..10).collect();
    assert_eq!(
        page(0, 0).cut(items.clone()),
        (items.clone(), (10, 10)),
        "limit 0 offset 0: everything"
    );
    assert_eq!(page(3, 0).cut(items.clone()), (vec![0, 1, 2], (10, 3)));
    assert_eq!(page(3, 8).cut(items.clone()), (vec![8, 9], (10, 2)));
    assert_eq!(
        page(3, 10).cut(items.clone()),
        (vec![], (10, 0)),
        "offset past the end"
    );
    assert_eq!(
        page(0, 4).cut(items.clone()),
        (vec![], (10, 0)),
        "limit 0 with an offset: nothing"
    );
    assert_eq!(page(5, 5).cut(Vec::<i32>::new()), (vec![], (0, 0)));
}

/// A small deterministic generator: numbers below a bound, reproducible without a dependency.
fn xorshift(mut state: u64) -> impl FnMut(u64) -> u64 {
    move |bound| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % bound
    }
}

#[test]
fn random_pages_follow_the_model() {
    let mut random = xorshift(0x9e37_79b9_7f4a_7c15);
    let mut next = |bound: u64| random(bound) as i64;
    for _ in 0..5000 {
        let (len, limit, offset) = (next(40), next(50), next(50));
        let items: Vec<i64> = (0..len).collect();
        let (start, end) = model(len, limit, offset);
        let (got, (total, count)) = page(limit, offset).cut(items);
        assert_eq!(
            got,
            (start..end).collect::<Vec<_>>(),
            "len {len} limit {limit} offset {offset}"
        );
        assert_eq!((total as i64, count as i64), (len, end - start));
    }
}

#[test]
fn a_partial_sort_gives_the_page_a_full_sort_gives() {
    let mut next = xorshift(0x2545_f491_4f6c_dd1d);
    let names: Vec<String> = (0..60).map(|i| format!("r{i:02}")).collect();
    for _ in 0..2000 {
        let len = next(60) as usize;
        // Few distinct times and download counts: ties everywhere.
        let keys: Vec<RepoKey<'_>> = (0..len)
            .map(|i| RepoKey {
                name: &names[i],
                rank: next(3) as i64,
                last_updated: match next(4) {
                    0 => Stamp::default(),
                    n => Stamp::of(t(&format!("2024-01-0{n}T00:00:00Z"))),
                },
                downloads: next(3) as i64,
            })
            .collect();
        let criteria = [
            Criteria::Relevance,
            Criteria::UpdateTime,
            Criteria::Downloads,
            Criteria::AlphabeticDsc,
        ][next(4) as usize];
        let order = repo_order(criteria).unwrap();
        let p = page(next(20) as i64, next(70) as i64);
        let mut full = keys.clone();
        full.sort_by(order);
        let want = p.cut(full);
        let got = p.sort_cut(keys, order);
        let named =
            |items: &[RepoKey<'_>]| items.iter().map(|k| k.name.to_owned()).collect::<Vec<_>>();
        assert_eq!(named(&got.0), named(&want.0), "{criteria:?} {p:?}");
        assert_eq!(got.1, want.1, "{criteria:?} {p:?}");
    }
}

#[test]
fn requested_page_defaults_and_errors() {
    assert_eq!(
        Page::read(None, Criteria::UpdateTime).unwrap(),
        Page {
            limit: 0,
            offset: 0,
            sort_by: Criteria::UpdateTime
        }
    );
    let p = Page::read(
        Some(&json!({"limit": 3, "sortBy": "DOWNLOADS"})),
        Criteria::Relevance,
    )
    .unwrap();
    assert_eq!((p.limit, p.offset, p.sort_by), (3, 0, Criteria::Downloads));
    assert_eq!(
        Page::read(Some(&json!({"limit": -1})), Criteria::Relevance).unwrap_err(),
        "pagination limit has negative value"
    );
    assert_eq!(
        Page::read(Some(&json!({"offset": -1})), Criteria::Relevance).unwrap_err(),
        "pagination offset has negative value"
    );
}

fn t(s: &str) -> Option<OffsetDateTime> {
    parse_time(&json!(s))
}

#[test]
fn zero_and_epoch_times_sort_as_missing() {
    let missing = Stamp::default();
    assert_eq!(Stamp::of(t("0001-01-01T00:00:00Z")), missing);
    assert_eq!(Stamp::of(t("1970-01-01T00:00:00Z")), missing);
    let known = Stamp::of(t("1970-01-01T00:00:01Z"));
    assert_ne!(known, missing);
    assert_eq!(newest_first(known, missing), std::cmp::Ordering::Less);
    assert_eq!(newest_first(missing, missing), std::cmp::Ordering::Equal);
    let later = Stamp::of(t("2024-01-01T02:00:00.5+02:00"));
    let earlier = Stamp::of(t("2024-01-01T00:00:00.25Z"));
    assert_eq!(newest_first(later, earlier), std::cmp::Ordering::Less);
}

#[test]
fn comparators_order_as_zot_orders() {
    let a = ImageKey {
        repo: "a",
        tag: "2",
        last_updated: Stamp::of(t("2024-01-01T00:00:00Z")),
        downloads: 5,
    };
    let b = ImageKey {
        repo: "a",
        tag: "10",
        last_updated: Stamp::default(),
        downloads: 9,
    };
    let c = ImageKey {
        repo: "b",
        tag: "1",
        last_updated: Stamp::of(t("2025-01-01T00:00:00.5+02:00")),
        downloads: 1,
    };
    let sorted = |criteria| {
        let mut v = [a, b, c];
        v.sort_by(image_order(criteria).unwrap());
        v.map(|k| format!("{}:{}", k.repo, k.tag))
    };
    assert_eq!(
        sorted(Criteria::Relevance),
        ["a:10", "a:2", "b:1"],
        "byte-wise tags"
    );
    assert_eq!(sorted(Criteria::AlphabeticDsc), ["b:1", "a:2", "a:10"]);
    assert_eq!(
        sorted(Criteria::UpdateTime),
        ["b:1", "a:2", "a:10"],
        "null last"
    );
    assert_eq!(sorted(Criteria::Downloads), ["a:10", "a:2", "b:1"]);
    assert_eq!(
        image_order(Criteria::Stars).unwrap_err(),
        "sorting repos by 'STARS' is not supported the pagination sort criteria is not supported"
    );
    let r = |name, rank| RepoKey {
        name,
        rank,
        last_updated: Stamp::default(),
        downloads: 0,
    };
    let mut repos = [r("b", 1), r("a", 10), r("c", 0)];
    repos.sort_by(repo_order(Criteria::Relevance).unwrap());
    assert_eq!(repos.map(|k| k.name), ["c", "b", "a"]);
    assert!(repo_order(Criteria::Severity).is_err());
}

#[test]
fn rank_repo_name_matches_zots_examples() {
    assert_eq!(rank_repo_name("", "anything"), 1);
    assert_eq!(rank_repo_name("alpine", "alpine"), 0);
    assert_eq!(rank_repo_name("bar", "foo/bar"), 1);
    assert_eq!(rank_repo_name("ar", "foo/bar"), 2);
    assert_eq!(rank_repo_name("foo", "foo/bar"), 10);
    assert_eq!(rank_repo_name("foo/bar/epo", "foo/bar/baz/repo"), 2);
    assert_eq!(rank_repo_name("foo/bar/rep", "foo/bar/repo"), 1);
    assert_eq!(rank_repo_name("foo/bar/b", "foo/bar/baz/repo"), 10);
    assert_eq!(rank_repo_name("bar/ba", "foo/bar/baz/repo"), 500);
    assert_eq!(rank_repo_name("a/b/c", "a/b"), -1);
    assert_eq!(rank_repo_name("zzz", "foo/bar"), -1);
    assert_eq!(rank_repo_name("/bar/", "foo/bar"), 1);
}
