//! zot's catalog paging: `n`/`last` page cutting and the `Link` header, for the node and the gateway's merged catalog alike.

use std::cmp::Ordering;

/// zot's `GetNextRepositories` over a complete, ordered list: `last` must
/// name a repository in the list (else the page is empty), `n < 0` means no
/// limit, and repositories `readable` refuses are skipped without counting.
/// Names may be owned or borrowed (the gateway borrows them from members' bodies).
pub fn catalog_page<S: AsRef<str> + Clone>(
    repos: &[S],
    last: &str,
    n: i64,
    readable: impl Fn(&str) -> bool,
) -> Vec<S> {
    let mut found = last.is_empty();
    let mut page = Vec::new();
    for repo in repos {
        if n >= 0 && page.len() as i64 == n {
            break;
        }
        if repo.as_ref() == last {
            found = true;
            continue;
        }
        if found && readable(repo.as_ref()) {
            page.push(repo.clone());
        }
    }
    page
}

/// zot's `Link` for a catalog page, if any. zot's walk notices "more" as soon
/// as it visits anything after the n-th repository, which always exists (the
/// repository's own files), so a full page always links onward, even to an
/// empty next page. Values are not URL-escaped, as zot writes them.
pub fn catalog_link<S: AsRef<str>>(page: &[S], n: i64) -> Option<String> {
    let last = page.last()?.as_ref();
    (n > 0 && page.len() as i64 == n)
        .then(|| format!("</v2/_catalog?n={n}&last={last}>; rel=\"next\""))
}

/// The order of zot's local-storage walk: component-wise lexicographic
/// (`a` < `a/b` < `a-c`), not plain byte order.
pub fn catalog_order(a: &str, b: &str) -> Ordering {
    a.split('/').cmp(b.split('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repos() -> Vec<String> {
        ["a", "a/b", "a-c", "b", "c"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    #[test]
    fn catalog_pages_follow_zot() {
        let all = |_: &str| true;
        assert_eq!(catalog_page(&repos(), "", -1, all), repos());
        assert_eq!(catalog_page(&repos(), "", 2, all), vec!["a", "a/b"]);
        assert_eq!(catalog_page(&repos(), "a/b", 2, all), vec!["a-c", "b"]);
        assert!(catalog_page(&repos(), "zz", 2, all).is_empty());
        assert!(catalog_page(&repos(), "", 0, all).is_empty());
        assert_eq!(
            catalog_page(&repos(), "", 2, |r: &str| r != "a/b"),
            vec!["a", "a-c"]
        );
    }

    #[test]
    fn links_only_on_full_pages() {
        let page = vec!["a".to_string(), "b".to_string()];
        assert_eq!(
            catalog_link(&page, 2).unwrap(),
            "</v2/_catalog?n=2&last=b>; rel=\"next\""
        );
        assert!(catalog_link(&page, 3).is_none());
        assert!(catalog_link(&page, -1).is_none());
        assert!(catalog_link::<String>(&[], 2).is_none());
    }

    #[test]
    fn order_is_component_wise() {
        let mut v = vec!["a-c", "a/b", "b", "a"];
        v.sort_by(|a, b| catalog_order(a, b));
        assert_eq!(v, vec!["a", "a/b", "a-c", "b"]);
    }
}
