//! The oracle for what users did: `StarredRepos` and `BookmarkedRepos` (per-node user data merged by
//! fan-out), and `IsStarred`, `IsBookmarked`, `StarCount`, `DownloadCount` in repository lists, answer
//! alike from one node and from 2, 3 and 5 members, for admin, dev and anonymous.
//!
//! Stars and bookmarks were toggled through each gateway, so they live on
//! each repository's owner; downloads were counted the same way. Ties:
//! `UPDATE_TIME` on `LastUpdated`, `DOWNLOADS` on the count, `RELEVANCE` on
//! rank (every repository has rank 1 here: the whole list is a set).

use anyhow::Result;
use flotilla_e2e::oracle::{Case, ListQuery, Oracle, SIZES, USERS};

const REPOS: &str = "{Page {TotalCount ItemCount} Results {Name LastUpdated DownloadCount StarCount IsStarred IsBookmarked NewestImage {RepoName Tag DownloadCount}}}";
/// `None` is `UPDATE_TIME`, the default.
const SORTS: [Option<&str>; 4] = [
    None,
    Some("ALPHABETIC_DSC"),
    Some("DOWNLOADS"),
    Some("RELEVANCE"),
];

fn user_list(field: &'static str) -> ListQuery {
    ListQuery {
        field,
        args: String::new(),
        list: "Results",
        selection: REPOS.to_owned(),
        repos: true,
        search: String::new(),
        default_sort: "UPDATE_TIME",
    }
}

#[test]
fn starred_and_bookmarked_repos_answer_alike() -> Result<()> {
    let oracle = Oracle::start(&SIZES)?;
    let mut cases = user_list("StarredRepos").cases(&SORTS, &USERS);
    cases.extend(user_list("BookmarkedRepos").cases(&SORTS, &USERS));

    oracle.ensure_alike(&cases)
}

#[test]
fn stars_bookmarks_and_downloads_show_alike_in_repository_lists() -> Result<()> {
    let oracle = Oracle::start(&SIZES)?;
    let mut cases = Vec::new();
    for user in USERS {
        for filter in [
            "IsStarred: true",
            "IsBookmarked: true",
            "IsStarred: false",
            "IsBookmarked: true, IsStarred: true",
        ] {
            let query = ListQuery {
                field: "GlobalSearch",
                args: format!("query: \"\", filter: {{{filter}}}"),
                list: "Repos",
                selection: "{Page {TotalCount ItemCount} Repos {Name LastUpdated DownloadCount StarCount IsStarred IsBookmarked}}".into(),
                repos: true,
                search: String::new(),
                default_sort: "RELEVANCE",
            };
            for sort in [None, Some("DOWNLOADS"), Some("ALPHABETIC_ASC")] {
                cases.push(query.case(user, Some(0), Some(0), sort));
                cases.push(query.case(user, Some(2), Some(1), sort));
            }
        }
        cases.push(Case::get("ExpandedRepoInfo team-a/api", user, "{ExpandedRepoInfo(repo: \"team-a/api\") {Summary {Name StarCount IsStarred IsBookmarked DownloadCount} Images {Tag DownloadCount}}}"));
        cases.push(Case::get("ExpandedRepoInfo public/nginx", user, "{ExpandedRepoInfo(repo: \"public/nginx\") {Summary {Name StarCount IsStarred IsBookmarked DownloadCount} Images {Tag DownloadCount}}}"));
    }

    oracle.ensure_alike(&cases)
}
