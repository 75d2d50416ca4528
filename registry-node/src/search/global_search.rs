//! `GlobalSearch`: input checks, `cleanQuery`, the four targets (repositories, `repo:tag`, `:tag`, digests) and their pages (zot-reference §1.6).

use serde_json::{Map, Value};

use super::filter::{Filter, SIZE_LIMIT};
use super::images::{filter_tags, matches_digest, page_images};
use super::repos::{page_repos, search_repos};
use super::summary::Found;
use super::{arg_str, object, Ctx};
use flotilla_protocol::search::paging::Criteria;

/// What a cleaned query searches (zot's `getSearchTarget`).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Target<'q> {
    Repo(&'q str),
    Image(&'q str),
    Tag(&'q str),
    Digest(&'q str),
}

pub(crate) fn target(query: &str) -> Result<Target<'_>, String> {
    if !query.contains([':', '@']) {
        return Ok(Target::Repo(query));
    }
    if query.starts_with("sha256:") {
        return Ok(Target::Digest(query));
    }
    match query.split_once(':') {
        Some((before, _)) if !before.is_empty() => Ok(Target::Image(query)),
        Some((_, after)) if !after.is_empty() => Ok(Target::Tag(after)),
        _ => Err("invalid search query".into()),
    }
}

/// zot's `validateGlobalSearchInput`, on the arguments as given.
fn validate(query: &str, filter: &Filter, requested: Option<&Value>) -> Result<(), String> {
    if query.len() > SIZE_LIMIT {
        return Err(format!(
            "max string size limit exceeded for query parameter. max={SIZE_LIMIT} current={} request parameter has invalid value",
            query.len()
        ));
    }
    filter.check_sizes()?;
    let negative = |key: &str| {
        requested
            .and_then(|r| r.get(key))
            .and_then(Value::as_i64)
            .is_some_and(|v| v < 0)
    };
    for key in ["limit", "offset"] {
        if negative(key) {
            return Err(format!(
                "requested page {key} parameter can't be negative request parameter has invalid value"
            ));
        }
    }
    Ok(())
}

/// zot's `cleanQuery`.
fn clean(query: &str) -> String {
    query.trim().trim_matches('/').to_lowercase()
}

/// `GlobalSearch(query, filter, requestedPage)`. Repository searches answer
/// `Images: []`; image searches answer `Repos: null`; `Layers` is always `[]`.
pub(crate) fn global_search(ctx: &Ctx<'_>, args: &Map<String, Value>) -> Result<Value, String> {
    let raw = arg_str(args, "query");
    let filter = Filter::read(args.get("filter"));
    let requested = args.get("requestedPage");
    validate(raw, &filter, requested)?;
    let query = clean(raw);
    let filter = filter.clean();
    let default = Criteria::Relevance;
    let found = match target(&query)? {
        Target::Repo(text) => {
            let (page, repos) =
                page_repos(ctx, search_repos(ctx, text), requested, default, &filter)?;
            let empty = || Value::Array(Vec::new());
            return Ok(object([
                ("Page", page),
                ("Repos", repos),
                ("Images", empty()),
                ("Layers", empty()),
            ]));
        }
        Target::Image(text) => search_tags(ctx, text)?,
        Target::Tag(tag) => filter_tags(
            ctx,
            ctx.state.repos.values(),
            |_, t| t.to_lowercase().contains(tag),
            |_, _, _| true,
        ),
        Target::Digest(digest) => filter_tags(
            ctx,
            ctx.state.repos.values(),
            |_, _| true,
            |_, image, m| matches_digest(digest, image, m),
        ),
    };
    let (page, images) = page_images(ctx, found, requested, default, &filter)?;
    Ok(object([
        ("Page", page),
        ("Images", images),
        ("Repos", Value::Null),
        ("Layers", Value::Array(Vec::new())),
    ]))
}

/// zot's `SearchTags("repo:tagprefix")`: the repository named exactly, its
/// tags starting with the prefix (case-sensitive against the stored tag,
/// though the query was lower-cased). Indexes come whole, children or not.
fn search_tags<'a>(ctx: &Ctx<'a>, text: &str) -> Result<Vec<Found<'a>>, String> {
    let parts: Vec<&str> = text.split(':').collect();
    let [repo, prefix] = parts[..] else {
        return Err(
            "failed to parse search text, invalid format invalid image reference format, use [repo:tag] or [repo@digest]"
                .into(),
        );
    };
    let (repo, prefix) = (repo.trim(), prefix.trim());
    let Some(r) = ctx.state.repos.get(repo) else {
        return Ok(Vec::new());
    };
    if !ctx.can_read(repo) {
        return Ok(Vec::new());
    }
    Ok(r.tags
        .iter()
        .filter(|(tag, _)| tag.starts_with(prefix))
        .filter_map(|(tag, t)| Some(Found::whole(r, tag, r.images.get(&t.digest)?)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_follow_the_query_shape() {
        assert_eq!(target("alpine"), Ok(Target::Repo("alpine")));
        assert_eq!(target(""), Ok(Target::Repo("")));
        assert_eq!(target("sha256:ab"), Ok(Target::Digest("sha256:ab")));
        assert_eq!(target("alpine:3"), Ok(Target::Image("alpine:3")));
        assert_eq!(target(":3"), Ok(Target::Tag("3")));
        assert_eq!(target(":"), Err("invalid search query".into()));
        assert_eq!(target("a@b"), Err("invalid search query".into()));
    }

    #[test]
    fn queries_are_trimmed_of_spaces_and_slashes_and_lowered() {
        assert_eq!(clean("  /Library/Alpine/ "), "library/alpine");
    }

    #[test]
    fn oversized_queries_and_negative_pages_are_refused() {
        let long = "a".repeat(257);
        let err = validate(&long, &Filter::default(), None).unwrap_err();
        assert_eq!(err, "max string size limit exceeded for query parameter. max=256 current=257 request parameter has invalid value");
        let page = serde_json::json!({"limit": 1, "offset": -1});
        let err = validate("a", &Filter::default(), Some(&page)).unwrap_err();
        assert_eq!(
            err,
            "requested page offset parameter can't be negative request parameter has invalid value"
        );
    }
}
