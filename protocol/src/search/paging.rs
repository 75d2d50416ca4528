//! zot's paging, sorting and ranking rules for search results (zot-reference §1.3, §1.6), as pure functions the node and the gateway share.

use std::cmp::Ordering;

use serde_json::Value;
use time::OffsetDateTime;

/// `SortCriteria`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Criteria {
    Relevance,
    UpdateTime,
    AlphabeticAsc,
    AlphabeticDsc,
    Severity,
    Stars,
    Downloads,
}

impl Criteria {
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "RELEVANCE" => Self::Relevance,
            "UPDATE_TIME" => Self::UpdateTime,
            "ALPHABETIC_ASC" => Self::AlphabeticAsc,
            "ALPHABETIC_DSC" => Self::AlphabeticDsc,
            "SEVERITY" => Self::Severity,
            "STARS" => Self::Stars,
            "DOWNLOADS" => Self::Downloads,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Relevance => "RELEVANCE",
            Self::UpdateTime => "UPDATE_TIME",
            Self::AlphabeticAsc => "ALPHABETIC_ASC",
            Self::AlphabeticDsc => "ALPHABETIC_DSC",
            Self::Severity => "SEVERITY",
            Self::Stars => "STARS",
            Self::Downloads => "DOWNLOADS",
        }
    }
}

/// A `requestedPage` with zot's defaults applied: absent limit and offset are 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub limit: i64,
    pub offset: i64,
    pub sort_by: Criteria,
}

impl Page {
    /// Reads a coerced `requestedPage` argument (or its absence), with the
    /// query's default `sortBy`. Negative values are zot's errors.
    pub fn read(requested: Option<&Value>, default: Criteria) -> Result<Self, String> {
        let get = |key: &str| requested.and_then(|r| r.get(key)).filter(|v| !v.is_null());
        let limit = get("limit").and_then(Value::as_i64).unwrap_or(0);
        let offset = get("offset").and_then(Value::as_i64).unwrap_or(0);
        let sort_by = get("sortBy")
            .and_then(Value::as_str)
            .and_then(Criteria::parse)
            .unwrap_or(default);
        if limit < 0 {
            return Err("pagination limit has negative value".into());
        }
        if offset < 0 {
            return Err("pagination offset has negative value".into());
        }
        Ok(Self {
            limit,
            offset,
            sort_by,
        })
    }

    /// zot's page cut (§1.3.2): `[offset, offset+limit)`, where limit 0 and
    /// offset 0 mean everything and limit 0 with an offset means nothing.
    pub fn range(&self, len: usize) -> std::ops::Range<usize> {
        let len = len as i64;
        let (mut start, mut end) = (self.offset, self.offset.saturating_add(self.limit));
        if start >= len {
            start = len;
            end = len;
        }
        if end >= len {
            end = len;
        }
        if start == 0 && end == 0 {
            return 0..len as usize;
        }
        start as usize..end as usize
    }

    /// Sorts `items` by `order` as far as the page needs and cuts it:
    /// items after the page are only partitioned away, not sorted, which
    /// for a first page of many is most of the work. `order` must be total
    /// (the comparators here end on the item's name) for the page to be
    /// the one a full sort gives.
    pub fn sort_cut<T>(
        &self,
        mut items: Vec<T>,
        order: impl Fn(&T, &T) -> Ordering,
    ) -> (Vec<T>, (usize, usize)) {
        let total = items.len();
        let end = self.range(total).end;
        if end > 0 && end < total {
            items.select_nth_unstable_by(end, &order);
            items.truncate(end);
        }
        items.sort_by(&order);
        // The cut sees only what was kept; the total is of everything.
        let (page, (_, count)) = self.cut(items);
        (page, (total, count))
    }

    /// Cuts a sorted list; returns the page and `(TotalCount, ItemCount)`.
    pub fn cut<T>(&self, mut items: Vec<T>) -> (Vec<T>, (usize, usize)) {
        let total = items.len();
        let range = self.range(total);
        let page: Vec<T> = items.drain(range).collect();
        let count = page.len();
        (page, (total, count))
    }
}

/// What an image is sorted by.
#[derive(Debug, Clone, Copy)]
pub struct ImageKey<'a> {
    pub repo: &'a str,
    pub tag: &'a str,
    pub last_updated: Stamp,
    pub downloads: i64,
}

/// What a repository is sorted by.
#[derive(Debug, Clone, Copy)]
pub struct RepoKey<'a> {
    pub name: &'a str,
    pub rank: i64,
    pub last_updated: Stamp,
    pub downloads: i64,
}

/// zot's message for a criteria a list cannot be sorted by (the image
/// finder says "repos" too, as zot's does).
fn unsupported(criteria: Criteria) -> String {
    format!(
        "sorting repos by '{}' is not supported the pagination sort criteria is not supported",
        criteria.as_str()
    )
}

/// zot's image comparators (`getImgSortFunctions`): RELEVANCE is alphabetic.
/// Ties, which zot leaves in no set order, end on repository and tag, so
/// that every sort (full or partial, on a node or across the fleet) agrees.
pub fn image_order(
    criteria: Criteria,
) -> Result<fn(&ImageKey<'_>, &ImageKey<'_>) -> Ordering, String> {
    Ok(match criteria {
        Criteria::AlphabeticAsc | Criteria::Relevance => {
            |a, b| (a.repo, a.tag).cmp(&(b.repo, b.tag))
        }
        Criteria::AlphabeticDsc => |a, b| (b.repo, b.tag).cmp(&(a.repo, a.tag)),
        Criteria::UpdateTime => |a, b| {
            newest_first(a.last_updated, b.last_updated)
                .then_with(|| (a.repo, a.tag).cmp(&(b.repo, b.tag)))
        },
        Criteria::Downloads => |a, b| {
            b.downloads
                .cmp(&a.downloads)
                .then_with(|| (a.repo, a.tag).cmp(&(b.repo, b.tag)))
        },
        other => return Err(unsupported(other)),
    })
}

/// zot's repository comparators (`getRepoSortFunctions`): RELEVANCE is rank
/// ascending. Ties end on the name, as for images.
pub fn repo_order(
    criteria: Criteria,
) -> Result<fn(&RepoKey<'_>, &RepoKey<'_>) -> Ordering, String> {
    Ok(match criteria {
        Criteria::AlphabeticAsc => |a, b| a.name.cmp(b.name),
        Criteria::AlphabeticDsc => |a, b| b.name.cmp(a.name),
        Criteria::Relevance => |a, b| a.rank.cmp(&b.rank).then_with(|| a.name.cmp(b.name)),
        Criteria::UpdateTime => {
            |a, b| newest_first(a.last_updated, b.last_updated).then_with(|| a.name.cmp(b.name))
        }
        Criteria::Downloads => |a, b| {
            b.downloads
                .cmp(&a.downloads)
                .then_with(|| a.name.cmp(b.name))
        },
        other => return Err(unsupported(other)),
    })
}

/// A time as a sort key, read once per item rather than at every
/// comparison: Unix nanoseconds, or nothing for a missing or zero time
/// (Go's zero time, year 1, or the Unix epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stamp(Option<i128>);

impl Stamp {
    pub fn of(t: Option<OffsetDateTime>) -> Self {
        Self(
            t.filter(|t| *t != OffsetDateTime::UNIX_EPOCH && t.year() > 1)
                .map(OffsetDateTime::unix_timestamp_nanos),
        )
    }
}

/// Newest first; a missing or zero time sorts last.
pub fn newest_first(a: Stamp, b: Stamp) -> Ordering {
    match (a.0, b.0) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(a), Some(b)) => b.cmp(&a),
    }
}

/// A [`Stamp`] that orders as [`newest_first`] does, for ordered collections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewestFirst(pub Stamp);

impl Ord for NewestFirst {
    fn cmp(&self, other: &Self) -> Ordering {
        newest_first(self.0, other.0)
    }
}

impl PartialOrd for NewestFirst {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Parses a `Time` as the schema writes it (RFC 3339, nanoseconds optional).
pub fn parse_time(value: &Value) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(
        value.as_str()?,
        &time::format_description::well_known::Rfc3339,
    )
    .ok()
}

/// zot's `RankRepoName`: lower is a better match, -1 no match (§1.6).
pub fn rank_repo_name(search: &str, repo: &str) -> i64 {
    const HIGH: i64 = 1;
    const MEDIUM: i64 = 10;
    const LOW: i64 = 100;
    let search = search.trim_matches('/');
    if search.is_empty() {
        // What the rules below give for "", without splitting every name.
        return if repo.is_empty() { 0 } else { HIGH };
    }
    let s: Vec<&str> = search.split('/').collect();
    let r: Vec<&str> = repo.split('/').collect();
    if s.len() > r.len() {
        return -1;
    }
    if search == repo {
        return 0;
    }
    let index = |hay: &str, needle: &str| hay.find(needle).map(|i| i as i64);
    let last = r[r.len() - 1];
    if s.len() == 1 {
        if let Some(i) = index(last, search) {
            return (i + 1) * HIGH;
        }
        if let Some(i) = index(r[0], search) {
            return (i + 1) * MEDIUM;
        }
    }
    if s[..s.len() - 1] == r[..s.len() - 1] {
        if let Some(i) = index(last, s[s.len() - 1]) {
            return (i + 1) * HIGH;
        }
    }
    if repo.starts_with(search) {
        return MEDIUM;
    }
    index(repo, search).map_or(-1, |i| (i + 1) * LOW)
}

#[cfg(test)]
mod tests;
