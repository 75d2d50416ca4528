//! zot's search extension: the node's resolver for every query, on the paging and sort rules in `flotilla_protocol::search`.
//!
//! # Layout
//! - `summary`: `ImageSummary`, `ManifestSummary` and `RepoSummary`, built once for all queries.
//! - `annotations`: the description, vendor, created… fields from annotations and labels.
//! - `filter`: the `Filter` input.
//! - `images`: `ImageList`, `ImageListForDigest`, `Image`, and zot's `FilterTags`.
//! - `repos`: `RepoListWithNewestImage`, `ExpandedRepoInfo`, `StarredRepos`, `BookmarkedRepos`.
//! - `global_search`: `GlobalSearch` and its four targets.
//! - `derived_base`: `DerivedImageList`, `BaseImageList`.
//! - `referrers`: `Referrers`.
//! - `cve`: the CVE queries, answered as zot does with scanning off.
//! - `wanted`: which fields a request selects, so summaries skip the rest.
//!
//! Every list query gathers light sort keys first and builds JSON only for
//! the page it returns.

mod annotations;
mod cve;
mod derived_base;
mod filter;
mod global_search;
mod images;
mod referrers;
mod repos;
mod summary;
mod wanted;

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::auth::{Access, Action, Identity};
use crate::meta::{Meta, State};
use flotilla_protocol::graphql::error::GqlError;
use flotilla_protocol::graphql::normalize::Selected;
use flotilla_protocol::graphql::Resolver;
use wanted::Wanted;

/// What one request may see: the metadata, and who is asking.
pub(crate) struct Ctx<'a> {
    pub state: &'a State,
    access: &'a Access,
    who: &'a Identity,
    starred: HashSet<&'a str>,
    bookmarked: HashSet<&'a str>,
    /// What the root field selects: summaries build nothing else.
    pub wanted: Wanted<'a>,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(state: &'a State, access: &'a Access, who: &'a Identity) -> Self {
        let user = state.user(who.name());
        let set = |list: Option<&'a Vec<String>>| {
            list.into_iter().flatten().map(String::as_str).collect()
        };
        Self {
            state,
            access,
            who,
            starred: set(user.map(|u| &u.starred_repos)),
            bookmarked: set(user.map(|u| &u.bookmarked_repos)),
            wanted: Wanted::all(),
        }
    }

    /// Builds only what `field` selects.
    pub(crate) fn wanting(self, field: &'a Selected) -> Self {
        Self {
            wanted: Wanted::of(field),
            ..self
        }
    }

    /// zot's `RepoIsUserAvailable`: repositories the user cannot read are invisible.
    pub(crate) fn can_read(&self, repo: &str) -> bool {
        self.access.can_read(self.who, repo)
    }

    /// Whether [`Ctx::can_read`] holds for every repository.
    pub(crate) fn reads_everything(&self) -> bool {
        self.access.reads_everything(self.who)
    }

    pub(crate) fn can_delete(&self, repo: &str) -> bool {
        self.access.can(self.who, Action::Delete, repo)
    }

    pub(crate) fn is_starred(&self, repo: &str) -> bool {
        self.starred.contains(repo)
    }

    pub(crate) fn is_bookmarked(&self, repo: &str) -> bool {
        self.bookmarked.contains(repo)
    }

    /// The user's starred (or bookmarked) repository names, in the order set.
    pub(crate) fn user_list(&self, starred: bool) -> Vec<&'a str> {
        let user = self.state.user(self.who.name());
        let list = user.map(|u| {
            if starred {
                &u.starred_repos
            } else {
                &u.bookmarked_repos
            }
        });
        list.into_iter().flatten().map(String::as_str).collect()
    }
}

/// The node's resolver: one request's view of the metadata.
pub(crate) struct NodeResolver {
    pub meta: Arc<Meta>,
    pub access: Access,
    pub who: Identity,
}

impl Resolver for NodeResolver {
    fn resolve(&self, field: &Selected) -> impl Future<Output = Result<Value, GqlError>> + Send {
        // Everything is in memory: resolve at once, holding the read lock no
        // longer than the field takes.
        let state = self.meta.read();
        let ctx = Ctx::new(&state, &self.access, &self.who).wanting(field);
        let result = resolve(&ctx, &field.name, &field.args).map_err(GqlError::new);
        drop(ctx);
        drop(state);
        std::future::ready(result)
    }
}

/// Every `Query` field, by name.
pub(crate) fn resolve(
    ctx: &Ctx<'_>,
    name: &str,
    args: &Map<String, Value>,
) -> Result<Value, String> {
    match name {
        "ImageList" => images::image_list(ctx, args),
        "ImageListForDigest" => images::image_list_for_digest(ctx, args),
        "Image" => images::image(ctx, args),
        "RepoListWithNewestImage" => repos::repo_list_with_newest_image(ctx, args),
        "ExpandedRepoInfo" => repos::expanded_repo_info(ctx, args),
        "StarredRepos" => repos::user_repos(ctx, args, true),
        "BookmarkedRepos" => repos::user_repos(ctx, args, false),
        "GlobalSearch" => global_search::global_search(ctx, args),
        "DerivedImageList" => derived_base::derived_image_list(ctx, args),
        "BaseImageList" => derived_base::base_image_list(ctx, args),
        "Referrers" => referrers::referrers(ctx, args),
        "CVEListForImage"
        | "CVEDiffListForImages"
        | "ImageListForCVE"
        | "ImageListWithCVEFixed" => cve::disabled(),
        other => Err(format!("unknown field {other}")),
    }
}

/// A string argument (`""` when absent).
pub(crate) fn arg_str<'a>(args: &'a Map<String, Value>, name: &str) -> &'a str {
    args.get(name).and_then(Value::as_str).unwrap_or_default()
}

/// An object of `fields`, moved in. `json!` would serialize each value
/// into a fresh copy, which for a page of summaries is the page again.
pub(crate) fn object<const N: usize>(fields: [(&str, Value); N]) -> Value {
    Value::Object(
        fields
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value))
            .collect(),
    )
}

/// zot's `PageInfo`.
pub(crate) fn page_info(total: usize, count: usize) -> Value {
    serde_json::json!({"TotalCount": total, "ItemCount": count})
}

#[cfg(test)]
mod tests;
