//! Users star and bookmark repositories through `PUT /v2/_zot/ext/userprefs` as zui does, and the
//! search answers reflect it per user (zot-reference §2.3.5, §6.3).

use anyhow::Result;
use flotilla_e2e::search_fixture::{column, empty_node, expect, Fixture, Gql, ADMIN, DEV};
use flotilla_e2e::{Layout, Node, Registry, Skopeo};
use serde_json::json;
use tempfile::TempDir;

const USERPREFS: &str = "/v2/_zot/ext/userprefs";

/// A node with one image in `public/alpine` (anonymous may read), `team-a/api`
/// (dev may read) and `library/private` (only admin).
fn node_with_three_repositories() -> Result<Node> {
    let node = empty_node()?;
    let skopeo = Skopeo::as_user(ADMIN.0, ADMIN.1)?;
    let work = TempDir::new()?;
    let (layout, _) = Layout::with_image(work.path(), "v1", "userprefs")?;
    for repo in ["public/alpine", "team-a/api", "library/private"] {
        skopeo.copy(&layout.reference("v1"), &node.image(&format!("{repo}:v1")))?;
    }
    Ok(node)
}

fn as_user(node: &Node, (user, password): (&str, &str)) -> Registry {
    node.http().as_user(user, password)
}

/// zui's toggle: `PUT /v2/_zot/ext/userprefs?repo=<repo>&action=<action>`; the status.
fn toggle(http: &Registry, action: &str, repo: &str) -> Result<u16> {
    let response = http
        .put(&format!("{USERPREFS}?repo={repo}&action={action}"))
        .send()?;
    Ok(response.status().as_u16())
}

/// `StarCount`, `IsStarred` and `IsBookmarked` of `repo` as `http`'s caller sees them.
fn preferences(http: &Registry, repo: &str) -> Result<serde_json::Value> {
    let data = Gql::new(http.clone()).data(&format!(
        "{{ExpandedRepoInfo(repo:\"{repo}\"){{Summary{{StarCount IsStarred IsBookmarked}}}}}}"
    ))?;
    Ok(data["ExpandedRepoInfo"]["Summary"].clone())
}

#[test]
fn anonymous_callers_may_neither_star_nor_bookmark() -> Result<()> {
    let node = node_with_three_repositories()?;

    assert_eq!(toggle(&node.http(), "toggleStar", "public/alpine")?, 403);
    assert_eq!(
        toggle(&node.http(), "toggleBookmark", "public/alpine")?,
        403
    );
    Ok(())
}

#[test]
fn a_user_may_neither_star_nor_bookmark_what_it_may_not_read() -> Result<()> {
    let node = node_with_three_repositories()?;
    let dev = as_user(&node, DEV);

    assert_eq!(toggle(&dev, "toggleStar", "library/private")?, 403);
    assert_eq!(toggle(&dev, "toggleBookmark", "library/private")?, 403);
    Ok(())
}

#[test]
fn starring_an_unknown_repository_is_not_found() -> Result<()> {
    let node = node_with_three_repositories()?;

    assert_eq!(
        toggle(&as_user(&node, ADMIN), "toggleStar", "no/such/repo")?,
        404
    );
    Ok(())
}

#[test]
fn bookmarking_an_unknown_repository_succeeds_and_lists_nothing() -> Result<()> {
    let node = node_with_three_repositories()?;
    let admin = as_user(&node, ADMIN);

    assert_eq!(toggle(&admin, "toggleBookmark", "no/such/repo")?, 200);

    let data = Gql::new(admin).data("{BookmarkedRepos{Page{TotalCount} Results{Name}}}")?;
    assert_eq!(data["BookmarkedRepos"]["Results"], json!([]));
    assert_eq!(data["BookmarkedRepos"]["Page"]["TotalCount"], 0);
    Ok(())
}

#[test]
fn a_toggle_needs_a_known_action_and_a_repository() -> Result<()> {
    let node = node_with_three_repositories()?;
    let admin = as_user(&node, ADMIN);
    let status = |path: &str| -> Result<u16> { Ok(admin.put(path).send()?.status().as_u16()) };

    assert_eq!(
        status(&format!("{USERPREFS}?repo=public/alpine"))?,
        400,
        "no action"
    );
    assert_eq!(
        status(&format!("{USERPREFS}?repo=public/alpine&action=toggleFork"))?,
        400
    );
    assert_eq!(
        status(&format!("{USERPREFS}?action=toggleStar"))?,
        400,
        "no repo"
    );
    assert_eq!(
        status(&format!("{USERPREFS}?repo=&action=toggleStar"))?,
        404,
        "empty repo"
    );
    Ok(())
}

#[test]
fn only_put_toggles_a_preference() -> Result<()> {
    let node = node_with_three_repositories()?;

    let response = as_user(&node, ADMIN)
        .post(&format!("{USERPREFS}?repo=public/alpine&action=toggleStar"))
        .send()?;

    assert_eq!(response.status(), 405);
    Ok(())
}

#[test]
fn starring_twice_unstars() -> Result<()> {
    let node = node_with_three_repositories()?;
    let admin = as_user(&node, ADMIN);

    assert_eq!(toggle(&admin, "toggleStar", "public/alpine")?, 200);
    assert_eq!(
        preferences(&admin, "public/alpine")?,
        json!({"StarCount": 1, "IsStarred": true, "IsBookmarked": false})
    );
    assert_eq!(toggle(&admin, "toggleStar", "public/alpine")?, 200);
    assert_eq!(
        preferences(&admin, "public/alpine")?,
        json!({"StarCount": 0, "IsStarred": false, "IsBookmarked": false})
    );
    Ok(())
}

#[test]
fn bookmarking_twice_removes_the_bookmark() -> Result<()> {
    let node = node_with_three_repositories()?;
    let dev = as_user(&node, DEV);

    assert_eq!(toggle(&dev, "toggleBookmark", "team-a/api")?, 200);
    assert_eq!(preferences(&dev, "team-a/api")?["IsBookmarked"], true);
    assert_eq!(toggle(&dev, "toggleBookmark", "team-a/api")?, 200);
    assert_eq!(preferences(&dev, "team-a/api")?["IsBookmarked"], false);
    Ok(())
}

#[test]
fn the_star_count_counts_every_user_and_is_starred_is_the_callers_own() -> Result<()> {
    let node = node_with_three_repositories()?;
    let (admin, dev) = (as_user(&node, ADMIN), as_user(&node, DEV));

    assert_eq!(toggle(&admin, "toggleStar", "team-a/api")?, 200);
    assert_eq!(toggle(&dev, "toggleStar", "team-a/api")?, 200);
    assert_eq!(toggle(&admin, "toggleBookmark", "team-a/api")?, 200);

    assert_eq!(
        preferences(&admin, "team-a/api")?,
        json!({"StarCount": 2, "IsStarred": true, "IsBookmarked": true})
    );
    assert_eq!(
        preferences(&dev, "team-a/api")?,
        json!({"StarCount": 2, "IsStarred": true, "IsBookmarked": false})
    );
    assert_eq!(toggle(&dev, "toggleStar", "team-a/api")?, 200);
    assert_eq!(
        preferences(&admin, "team-a/api")?,
        json!({"StarCount": 1, "IsStarred": true, "IsBookmarked": true})
    );
    Ok(())
}

#[test]
fn starred_and_bookmarked_repos_list_each_users_own() -> Result<()> {
    let node = node_with_three_repositories()?;
    let (admin, dev) = (as_user(&node, ADMIN), as_user(&node, DEV));
    for (http, action, repo) in [
        (&admin, "toggleStar", "public/alpine"),
        (&admin, "toggleStar", "library/private"),
        (&admin, "toggleBookmark", "team-a/api"),
        (&dev, "toggleStar", "team-a/api"),
        (&dev, "toggleBookmark", "team-a/api"),
    ] {
        assert_eq!(toggle(http, action, repo)?, 200, "{action} {repo}");
    }
    let query = "{StarredRepos{Page{TotalCount} Results{Name IsStarred}} BookmarkedRepos{Results{Name IsBookmarked}}}";

    let admin = Gql::new(admin).data(query)?;
    let dev = Gql::new(dev).data(query)?;

    let mut starred = column(&admin["StarredRepos"]["Results"], "Name");
    starred.sort();
    assert_eq!(starred, ["library/private", "public/alpine"]);
    assert_eq!(admin["StarredRepos"]["Page"]["TotalCount"], 2);
    assert_eq!(
        admin["BookmarkedRepos"]["Results"],
        json!([{"Name": "team-a/api", "IsBookmarked": true}])
    );
    assert_eq!(
        dev["StarredRepos"]["Results"],
        json!([{"Name": "team-a/api", "IsStarred": true}])
    );
    assert_eq!(
        dev["BookmarkedRepos"]["Results"],
        json!([{"Name": "team-a/api", "IsBookmarked": true}])
    );
    Ok(())
}

#[test]
fn starred_and_bookmarked_repos_come_last_updated_first_with_full_summaries() -> Result<()> {
    let fixture = Fixture::start()?;
    let query = "{StarredRepos{Page{TotalCount ItemCount} Results{Name LastUpdated Size StarCount IsStarred IsBookmarked NewestImage{Tag Digest}}} \
                 BookmarkedRepos(requestedPage:{limit:1}){Page{TotalCount ItemCount} Results{Name IsBookmarked}}}";

    let data = fixture.as_admin().data(query)?;

    let starred = &data["StarredRepos"]["Results"];
    expect::last_updated_descending(starred)?;
    for repo in starred.as_array().into_iter().flatten() {
        expect::repo_summary(&fixture, Some(ADMIN.0), repo)?;
    }
    let mut names = column(starred, "Name");
    names.sort();
    assert_eq!(names, ["library/alpine", "public/alpine", "team-a/api"]);
    assert_eq!(
        data["StarredRepos"]["Page"],
        json!({"TotalCount": 3, "ItemCount": 3})
    );
    assert_eq!(
        data["BookmarkedRepos"]["Page"],
        json!({"TotalCount": 2, "ItemCount": 1})
    );
    Ok(())
}
