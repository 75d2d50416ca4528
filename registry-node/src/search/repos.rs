//! `RepoListWithNewestImage`, `ExpandedRepoInfo`, `StarredRepos` and `BookmarkedRepos`, over zot's repository page cut.

use serde_json::{json, Map, Value};

use super::filter::Filter;
use super::summary::{image_summary, newest_signed, repo_key, repo_summary, Found};
use super::{arg_str, object, page_info, Ctx};
use crate::meta::repo::Repo;
use flotilla_protocol::search::paging::{
    newest_first, rank_repo_name, repo_order, Criteria, Page, Stamp,
};

/// zot's `SearchRepos(text)`: readable repositories with at least one tag
/// whose name ranks against `text`, each with its rank.
pub(crate) fn search_repos<'a>(ctx: &Ctx<'a>, text: &str) -> Vec<(&'a Repo, i64)> {
    ctx.state
        .repos
        .values()
        .filter(|r| !r.tags.is_empty() && ctx.can_read(&r.name))
        .filter_map(|r| {
            let rank = rank_repo_name(text, &r.name);
            (rank != -1).then_some((r, rank))
        })
        .collect()
}

/// zot's `PaginatedRepoMeta2RepoSummaries`: filter, sort, cut, and build
/// summaries for the page only.
pub(crate) fn page_repos(
    ctx: &Ctx<'_>,
    repos: Vec<(&Repo, i64)>,
    requested: Option<&Value>,
    default: Criteria,
    filter: &Filter,
) -> Result<(Value, Value), String> {
    let page = Page::read(requested, default)?;
    let order = repo_order(page.sort_by)?;
    let open = filter.is_open();
    let keyed: Vec<_> = repos
        .into_iter()
        .filter(|(r, _)| {
            open || filter.accepts_repo(
                newest_signed(r),
                ctx.is_bookmarked(&r.name),
                ctx.is_starred(&r.name),
                &r.platforms,
            )
        })
        .map(|(r, rank)| (repo_key(r, rank), r))
        .collect();
    let (items, (total, count)) = page.sort_cut(keyed, |a, b| order(&a.0, &b.0));
    let results = items
        .iter()
        .map(|(key, r)| repo_summary(ctx, r, key.rank))
        .collect();
    Ok((page_info(total, count), Value::Array(results)))
}

fn paginated((page, results): (Value, Value)) -> Value {
    object([("Page", page), ("Results", results)])
}

/// `RepoListWithNewestImage`: every repository with a tag, rank 1, newest first by default.
pub(crate) fn repo_list_with_newest_image(
    ctx: &Ctx<'_>,
    args: &Map<String, Value>,
) -> Result<Value, String> {
    let page = Page::read(args.get("requestedPage"), Criteria::UpdateTime)?;
    match kept_order_page(ctx, &page) {
        Some(found) => Ok(paginated(found)),
        None => newest_first_page(ctx, search_repos(ctx, ""), args),
    }
}

/// The page of every tagged repository read off an order the metadata
/// keeps (by name, or newest first), when the user may read every
/// repository: it costs the page's end, not a sort of all of them, and is
/// the page the sort and cut give, since both orders end on the name.
fn kept_order_page(ctx: &Ctx<'_>, page: &Page) -> Option<(Value, Value)> {
    if !ctx.reads_everything() {
        return None;
    }
    let state = ctx.state;
    let total = state.by_update.len();
    let range = page.range(total);
    let tagged = || state.repos.values().filter(|r| !r.tags.is_empty());
    let repos: Vec<&Repo> = match page.sort_by {
        Criteria::UpdateTime => state
            .by_update
            .ids()
            .skip(range.start)
            .take(range.len())
            .map(|id| &state.repos[id])
            .collect(),
        // Every name ranks 1 against "", so relevance is the name's order.
        Criteria::AlphabeticAsc | Criteria::Relevance => {
            tagged().skip(range.start).take(range.len()).collect()
        }
        Criteria::AlphabeticDsc => tagged().rev().skip(range.start).take(range.len()).collect(),
        _ => return None,
    };
    let results: Vec<Value> = repos
        .iter()
        .map(|r| repo_summary(ctx, r, rank_repo_name("", &r.name)))
        .collect();
    Some((page_info(total, results.len()), Value::Array(results)))
}

/// A page of `repos`, unfiltered, newest first unless `requestedPage` says otherwise.
fn newest_first_page(
    ctx: &Ctx<'_>,
    repos: Vec<(&Repo, i64)>,
    args: &Map<String, Value>,
) -> Result<Value, String> {
    let page = page_repos(
        ctx,
        repos,
        args.get("requestedPage"),
        Criteria::UpdateTime,
        &Filter::default(),
    )?;
    Ok(paginated(page))
}

/// `StarredRepos` / `BookmarkedRepos`: zot's `FilterRepos` over the user's
/// list: existing readable repositories only, tagged or not, rank 0.
pub(crate) fn user_repos(
    ctx: &Ctx<'_>,
    args: &Map<String, Value>,
    starred: bool,
) -> Result<Value, String> {
    let names = ctx.user_list(starred);
    let repos: Vec<(&Repo, i64)> = ctx
        .state
        .repos
        .values()
        .filter(|r| ctx.can_read(&r.name) && names.contains(&r.name.as_str()))
        .map(|r| (r, 0))
        .collect();
    newest_first_page(ctx, repos, args)
}

/// `ExpandedRepoInfo(repo)`: the summary and every tagged image, newest
/// first, each saying whether the user may delete it. A repository the
/// user may not read is an empty answer, not an error (zot: "don't give
/// details to a potential attacker").
pub(crate) fn expanded_repo_info(
    ctx: &Ctx<'_>,
    args: &Map<String, Value>,
) -> Result<Value, String> {
    let name = arg_str(args, "repo");
    if !ctx.can_read(name) {
        return Ok(json!({}));
    }
    let repo = ctx
        .state
        .repos
        .get(name)
        .ok_or("repo metadata not found for given repo name")?;
    let deletable = ctx.can_delete(name);
    let mut images: Vec<Found<'_>> = repo
        .tags
        .iter()
        .filter_map(|(tag, t)| Some(Found::whole(repo, tag, repo.images.get(&t.digest)?)))
        .collect();
    images.sort_by(|a, b| newest_first(Stamp::of(a.last_updated()), Stamp::of(b.last_updated())));
    let images: Vec<Value> = images
        .iter()
        .map(|f| image_summary(&ctx.wanted, f, Some(deletable)))
        .collect();
    Ok(object([
        ("Summary", repo_summary(ctx, repo, 0)),
        ("Images", Value::Array(images)),
    ]))
}
