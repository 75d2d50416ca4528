//! Planning: every root field gets one strategy from one table, decided before any socket opens.
//!
//! | field | strategy |
//! | --- | --- |
//! | `ImageList(repo: "x")`, `ExpandedRepoInfo`, `Image`, `Referrers`, `CVEListForImage`, `ImageListWithCVEFixed` | proxy-once to the owner of the named repository; in the migration window, to whichever owner holds it whole |
//! | `ImageList(repo: "")`, `RepoListWithNewestImage`, `ImageListForCVE`, `ImageListForDigest` | fan-out, merged |
//! | `GlobalSearch` | by its query's target (zot's `cleanQuery`): `repo:tag` → its owner; repositories, `:tag`, `sha256:` → fan-out |
//! | `StarredRepos`, `BookmarkedRepos` | fan-out with per-node metadata; any one member when it is shared |
//! | `DerivedImageList`, `BaseImageList`, `CVEDiffListForImages` across owners | computed by the gateway |
//! | `__schema`, `__type`, `__typename` | the gateway's own schema |
//!
//! A field whose arguments zot would refuse goes to any one member, which
//! gives zot's own error.

use serde_json::Value;

use flotilla_protocol::graphql::normalize::Selected;

use crate::config::MetaDb;
use crate::placement::Owners;

/// How a fanned-out field's answers are merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Merge {
    /// A `PaginatedImagesResult`, or `GlobalSearch` images.
    Images,
    /// A `PaginatedReposResult`, or `GlobalSearch` repositories.
    Repos,
}

/// What the gateway does for one root field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Strategy {
    /// Answered from the gateway's schema (introspection).
    Local,
    /// Sent as is to the member that owns the repository.
    Owner(usize),
    /// In the migration window: sent to whichever of the two holds the
    /// repository whole (`window::authority`), and to the other when that
    /// one does not know it.
    Moving {
        repo: String,
        owner: usize,
        previous: usize,
    },
    /// Sent to any one healthy member.
    Any,
    /// Sent, rewritten, to every member; the answers merged.
    FanOut(Merge),
    /// `DerivedImageList` (`base: false`) or `BaseImageList` (`base: true`).
    LayerRelation { base: bool },
    /// `CVEDiffListForImages` whose images live on different members.
    CveDiff,
}

/// Which argument names the repository, and how.
#[derive(Debug, Clone, Copy)]
enum Repo {
    /// The argument is the repository name.
    Name(&'static str),
    /// `repo:tag` or `repo@digest` (zot's `GetImageDirAndReference`).
    Reference(&'static str),
    /// `repo:tag` (zot's `GetImageDirAndTag`).
    Tagged(&'static str),
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
enum Rule {
    Owner(Repo),
    /// `ImageList`: the owner of `repo`, or every member when it is `""`.
    OwnerOrFanOut(&'static str, Merge),
    FanOut(Merge),
    MetaDependent(Merge),
    GlobalSearch,
    LayerRelation {
        base: bool,
    },
    CveDiff,
}

/// The table: every Query field of zot's schema, one rule each.
const RULES: [(&str, Rule); 15] = [
    ("CVEListForImage", Rule::Owner(Repo::Reference("image"))),
    ("CVEDiffListForImages", Rule::CveDiff),
    ("ImageListForCVE", Rule::FanOut(Merge::Images)),
    ("ImageListWithCVEFixed", Rule::Owner(Repo::Name("image"))),
    ("ImageListForDigest", Rule::FanOut(Merge::Images)),
    ("RepoListWithNewestImage", Rule::FanOut(Merge::Repos)),
    ("ImageList", Rule::OwnerOrFanOut("repo", Merge::Images)),
    ("ExpandedRepoInfo", Rule::Owner(Repo::Name("repo"))),
    ("GlobalSearch", Rule::GlobalSearch),
    ("DerivedImageList", Rule::LayerRelation { base: false }),
    ("BaseImageList", Rule::LayerRelation { base: true }),
    ("Image", Rule::Owner(Repo::Tagged("image"))),
    ("Referrers", Rule::Owner(Repo::Name("repo"))),
    ("StarredRepos", Rule::MetaDependent(Merge::Repos)),
    ("BookmarkedRepos", Rule::MetaDependent(Merge::Repos)),
];

/// zot's `querySizeLimit`: longer `GlobalSearch` strings are an error a member gives.
const QUERY_SIZE_LIMIT: usize = 256;

/// The strategy for one root field.
pub(crate) fn strategy(field: &Selected, ring: &impl Owners, meta_db: MetaDb) -> Strategy {
    if field.name.starts_with("__") {
        return Strategy::Local;
    }
    let Some((_, rule)) = RULES.iter().find(|(name, _)| *name == field.name) else {
        return Strategy::Any;
    };
    let owner = |repo: &str| {
        if repo.is_empty() {
            Strategy::Any
        } else {
            owned(ring, repo)
        }
    };
    match *rule {
        Rule::Owner(repo) => owner(&repository(repo, field)),
        Rule::OwnerOrFanOut(name, merge) => match arg(field, name) {
            "" => Strategy::FanOut(merge),
            repo => owner(repo),
        },
        Rule::FanOut(merge) => Strategy::FanOut(merge),
        Rule::MetaDependent(merge) => match meta_db {
            MetaDb::PerNode => Strategy::FanOut(merge),
            MetaDb::Shared => Strategy::Any,
        },
        Rule::GlobalSearch => global_search(field, ring),
        Rule::LayerRelation { base } => Strategy::LayerRelation { base },
        Rule::CveDiff => cve_diff(field, ring),
    }
}

fn arg<'a>(field: &'a Selected, name: &str) -> &'a str {
    field
        .args
        .get(name)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn repository(repo: Repo, field: &Selected) -> String {
    match repo {
        Repo::Name(name) => arg(field, name).to_owned(),
        Repo::Reference(name) => {
            let image = arg(field, name);
            let cut = image.find('@').or_else(|| image.find(':'));
            cut.map_or("", |i| &image[..i]).to_owned()
        }
        Repo::Tagged(name) => arg(field, name)
            .split_once(':')
            .map_or("", |(repo, _)| repo)
            .to_owned(),
    }
}

/// zot's `getSearchTarget` after `cleanQuery`.
fn global_search(field: &Selected, ring: &impl Owners) -> Strategy {
    let raw = field
        .args
        .get("query")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if raw.len() > QUERY_SIZE_LIMIT || !inputs_are_valid(field) {
        return Strategy::Any;
    }
    let query = raw.trim().trim_matches('/').to_lowercase();
    if !query.contains(':') && !query.contains('@') {
        return Strategy::FanOut(Merge::Repos);
    }
    if query.starts_with("sha256:") {
        return Strategy::FanOut(Merge::Images);
    }
    match query.split_once(':') {
        Some((repo, _)) if !repo.is_empty() && !repo.contains('@') => owned(ring, repo),
        Some(("", tag)) if !tag.is_empty() => Strategy::FanOut(Merge::Images),
        _ => Strategy::Any,
    }
}

/// Filters and pages zot refuses (`validateGlobalSearchInput`) are answered by one member.
fn inputs_are_valid(field: &Selected) -> bool {
    let page = field.args.get("requestedPage");
    let negative = |k: &str| {
        page.and_then(|p| p.get(k))
            .and_then(Value::as_i64)
            .is_some_and(|n| n < 0)
    };
    let long = |k: &str| {
        let list = field
            .args
            .get("filter")
            .and_then(|f| f.get(k))
            .and_then(Value::as_array);
        list.into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .any(|s| s.len() > QUERY_SIZE_LIMIT)
    };
    !(negative("limit") || negative("offset") || long("Os") || long("Arch"))
}

/// Both images on one member (or no subtrahend): that member answers.
fn cve_diff(field: &Selected, ring: &impl Owners) -> Strategy {
    let repo = |arg: &str| {
        field
            .args
            .get(arg)
            .and_then(|v| v.get("Repo"))
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let (minuend, subtrahend) = (repo("minuend"), repo("subtrahend"));
    if minuend.is_empty() {
        return Strategy::Any;
    }
    if subtrahend.is_empty() || ring.owners(minuend).0 == ring.owners(subtrahend).0 {
        return owned(ring, minuend);
    }
    Strategy::CveDiff
}

/// The owner of `repo`, and its previous owner in the migration window.
fn owned(ring: &impl Owners, repo: &str) -> Strategy {
    match ring.owners(repo) {
        (owner, None) => Strategy::Owner(owner),
        (owner, Some(previous)) => Strategy::Moving {
            repo: repo.to_owned(),
            owner,
            previous,
        },
    }
}

/// zot's errors for a repository (or tag) a member does not hold: in the
/// migration window, the previous owner is asked instead.
pub(crate) const UNKNOWN_REPOSITORY: [&str; 3] = [
    "repo metadata not found for given repo name",
    "repository not found",
    "can't find image: ",
];

/// Fields zot answers with empty lists, not an error, for a repository it
/// does not hold (`GlobalSearch` here only ever asks for one `repo:tag`).
pub(crate) const EMPTY_WHEN_UNKNOWN: [&str; 2] = ["ImageList", "GlobalSearch"];

#[cfg(test)]
mod tests;
