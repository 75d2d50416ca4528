//! zot's paging: `n`/`last` read from the query, page cutting of the catalog and of tag lists, and the `Link` header, for the node and the gateway's merged catalog alike.

use std::cmp::Ordering;

/// zot's `GetNextRepositories` over a complete, ordered list: `last` must
/// name a repository in the list (else the page is empty), `n < 0` means no
/// limit, and repositories `readable` refuses are skipped without counting.
/// Names may be owned or borrowed (the gateway borrows them from members' bodies),
/// and come from any iterator in that order (the node's starts at `last`).
pub fn catalog_page<S: AsRef<str>>(
    repos: impl IntoIterator<Item = S>,
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
            page.push(repo);
        }
    }
    page
}

/// zot's reading of a catalog query: the first `last` (empty when absent)
/// and the first `n`, where anything but an integer means no limit (`-1`).
pub fn catalog_params(query: Option<&str>) -> (String, i64) {
    let first = |key: &str| {
        form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    };
    let last = first("last").unwrap_or_default();
    let n = first("n").and_then(|n| n.parse().ok()).unwrap_or(-1);
    (last, n)
}

/// Flotilla's own catalog query key (zot has none such, and ignores it):
/// the names from this one on, in zot's order, whether or not it names a
/// repository. A node that honours it says so in [`CATALOG_FROM_HEADER`];
/// the gateway asks each member for one page this way instead of its whole
/// catalog, and walks the whole catalog of a member that does not say so.
pub const CATALOG_FROM: &str = "from";
/// The answer header of a page cut by [`CATALOG_FROM`].
pub const CATALOG_FROM_HEADER: &str = "flotilla-catalog-from";

/// The `from` of a catalog query, when one is given.
pub fn catalog_from(query: Option<&str>) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == CATALOG_FROM)
        .map(|(_, v)| v.into_owned())
}

/// zot's reading of a tags query: `n` and `last` each at most once, `n` a
/// count; `None` is zot's `400` (a key given twice, `n` not a count).
pub fn tags_params(query: Option<&str>) -> Option<(Option<usize>, String)> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let once = |key: &str| -> Option<Option<&str>> {
        let mut values = pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str());
        match (values.next(), values.next()) {
            (value, None) => Some(value),
            _ => None,
        }
    };
    let n = match once("n")? {
        Some(n) => Some(n.parse::<usize>().ok()?),
        None => None,
    };
    let last = once("last")?.unwrap_or_default().to_owned();
    Some((n, last))
}

/// zot's `Link` to the tags page after `last`, `n` at a time.
pub fn tags_link(name: &str, n: usize, last: &str) -> String {
    format!("</v2/{name}/tags/list?n={n}&last={last}>; rel=\"next\"")
}

/// zot's `ListTags` page over the full, ordered list: the tags after `last`
/// (which must be one of them, else `None`: a 404), at most `n` of them, and
/// whether more follow (the `Link`). `n` is a client's number, so the page's
/// end saturates rather than overflows.
pub fn tags_page<'a>(
    tags: &'a [String],
    n: Option<usize>,
    last: &str,
) -> Option<(&'a [String], bool)> {
    let start = if last.is_empty() {
        0
    } else {
        tags.iter().position(|t| t == last)? + 1
    };
    if n == Some(0) {
        return Some((&[], false));
    }
    let stop = match n {
        Some(n) if start.saturating_add(n) < tags.len() => start + n,
        _ => tags.len(),
    };
    let page = &tags[start.min(stop)..stop];
    Some((page, n.is_some() && !page.is_empty() && stop < tags.len()))
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
/// (`a` < `a/b` < `a-c`), not plain byte order. That is byte order with `/`
/// ranked below every other byte: at the first byte where two names differ,
/// a `/` ends the shorter component. Compared so, without splitting, since
/// a fleet's catalog merge sorts by it.
pub fn catalog_order(a: &str, b: &str) -> Ordering {
    let rank = |byte: u8| if byte == b'/' { 0 } else { u16::from(byte) + 1 };
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let i = common_prefix(a, b);
    match (a.get(i), b.get(i)) {
        (Some(&x), Some(&y)) => rank(x).cmp(&rank(y)),
        _ => a.len().cmp(&b.len()),
    }
}

/// How many leading bytes `a` and `b` share, compared a word at a time:
/// names in one namespace share long prefixes, and a merge compares each
/// name with its neighbours many times.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    const WORD: usize = std::mem::size_of::<u64>();
    let word = |s: &[u8]| u64::from_le_bytes(s.try_into().unwrap_or_default());
    let mut i = 0;
    for (x, y) in a.chunks_exact(WORD).zip(b.chunks_exact(WORD)) {
        let diff = word(x) ^ word(y);
        if diff != 0 {
            // Little-endian: the lowest set bit is in the first differing byte.
            return i + diff.trailing_zeros() as usize / 8;
        }
        i += WORD;
    }
    i + a[i..]
        .iter()
        .zip(&b[i..])
        .take_while(|(x, y)| x == y)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_order_is_component_wise() {
        let names = [
            "", "/", "//", "a", "a/", "a//b", "a/b", "a/b/c", "a/b-c", "a/bc", "a-c", "a.b", "a0",
            "ab", "ab/c", "b", "b/a", "b-a", "b--a", "é", "é/a", "a/é", "\u{0}", "a\u{0}",
        ];
        for a in names {
            for b in names {
                assert_eq!(
                    catalog_order(a, b),
                    a.split('/').cmp(b.split('/')),
                    "{a:?} against {b:?}"
                );
            }
        }
    }

    #[test]
    fn catalog_order_is_component_wise_past_the_first_words() {
        // Long names that share prefixes and differ in every position of a
        // word, on and off word boundaries, with `/` against bytes below it.
        let alphabet = [b'a', b'/', b'-', b'.', b'0', b'z'];
        let mut seed = 0x9e37_79b9_u32;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed as usize
        };
        let stem = "namespace-01/project/";
        let mut names = vec![stem.to_owned()];
        for _ in 0..300 {
            let base = names[next() % names.len()].clone();
            let mut name: Vec<u8> = base.into_bytes();
            name.truncate(next() % (name.len() + 1));
            for _ in 0..next() % 12 {
                name.push(alphabet[next() % alphabet.len()]);
            }
            names.push(String::from_utf8(name).unwrap());
        }
        for a in &names {
            for b in &names {
                assert_eq!(
                    catalog_order(a, b),
                    a.split('/').cmp(b.split('/')),
                    "{a:?} against {b:?}"
                );
            }
        }
    }

    #[test]
    fn tags_queries_read_as_zot_reads_them() {
        assert_eq!(tags_params(None), Some((None, String::new())));
        assert_eq!(
            tags_params(Some("n=2&last=v%2F1")),
            Some((Some(2), "v/1".to_owned()))
        );
        for refused in ["n=2&n=3", "last=a&last=b", "n=abc", "n=-1"] {
            assert_eq!(tags_params(Some(refused)), None, "{refused}");
        }
        assert_eq!(
            tags_link("a/b", 2, "v1"),
            "</v2/a/b/tags/list?n=2&last=v1>; rel=\"next\""
        );
    }

    fn repos() -> Vec<String> {
        ["a", "a/b", "a-c", "b", "c"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    #[test]
    fn catalog_pages_follow_zot() {
        let all = |_: &str| true;
        assert_eq!(catalog_page(repos(), "", -1, all), repos());
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
    fn catalog_params_read_the_first_of_each() {
        assert_eq!(catalog_params(None), (String::new(), -1));
        assert_eq!(
            catalog_params(Some("n=2&last=a%2Fb&n=5")),
            ("a/b".into(), 2)
        );
        assert_eq!(catalog_params(Some("n=x")), (String::new(), -1));
    }

    /// A huge `n` after `last` once overflowed the page's end: a panic in a
    /// debug build, an empty page instead of the rest in a release build.
    #[test]
    fn tags_pages_follow_zot_even_for_a_huge_n() {
        let tags = repos();
        assert_eq!(tags_page(&tags, None, "").unwrap(), (&tags[..], false));
        assert_eq!(tags_page(&tags, Some(2), "").unwrap(), (&tags[..2], true));
        assert_eq!(
            tags_page(&tags, Some(2), "a-c").unwrap(),
            (&tags[3..], false)
        );
        assert_eq!(tags_page(&tags, Some(0), "a").unwrap(), (&tags[..0], false));
        assert_eq!(
            tags_page(&tags, Some(usize::MAX), "a").unwrap(),
            (&tags[1..], false)
        );
        assert!(tags_page(&tags, Some(1), "zz").is_none());
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
