//! `accessControl` hides repositories from search as from the catalog: dev, who may read only
//! `team-a/**`, and anonymous callers, who may read only `public/**`, never see anything else, and
//! single-repository queries about a hidden repository answer empty, without an error, as zot does
//! (zot-reference §1.5, "Access control inside resolvers").

use std::collections::BTreeSet;

use anyhow::Result;
use flotilla_e2e::search_fixture::{column, image_names, Fixture, ADMIN, DEV};
use serde_json::{json, Value};

/// Who may read what, by repository prefix.
const CALLERS: [(Option<&str>, &str, usize); 3] = [
    (Some(ADMIN.0), "", 30),
    (Some(DEV.0), "team-a/", 9),
    (None, "public/", 9),
];

fn repositories_of(names: Vec<String>) -> BTreeSet<String> {
    names
        .into_iter()
        .map(|n| n.split_once(':').map_or(n.clone(), |(r, _)| r.to_owned()))
        .collect()
}

fn only_under(names: &BTreeSet<String>, prefix: &str) -> bool {
    names.iter().all(|n| n.starts_with(prefix))
}

#[test]
fn every_list_query_shows_each_caller_only_what_it_may_read() -> Result<()> {
    let fixture = Fixture::start()?;
    let queries = [
        (
            "ImageList",
            "Results",
            "{ImageList(repo:\"\"){Results{RepoName Tag}}}",
        ),
        (
            "RepoListWithNewestImage",
            "Results",
            "{RepoListWithNewestImage{Results{Name}}}",
        ),
        (
            "GlobalSearch",
            "Repos",
            "{GlobalSearch(query:\"\"){Repos{Name}}}",
        ),
        (
            "GlobalSearch",
            "Images",
            "{GlobalSearch(query:\":1\"){Images{RepoName Tag}}}",
        ),
        (
            "ImageListForDigest",
            "Results",
            "{ImageListForDigest(id:\"sha256:\"){Results{RepoName Tag}}}",
        ),
    ];

    for (user, prefix, repos) in CALLERS {
        for (field, list, query) in queries {
            let data = fixture.search(user).data(query)?;

            let items = &data[field][list];
            let names = if list == "Repos" || field == "RepoListWithNewestImage" {
                column(items, "Name")
            } else {
                image_names(items)
            };
            let seen = repositories_of(names);
            assert!(
                only_under(&seen, prefix),
                "{user:?} saw {seen:?} in {query}"
            );
            assert!(!seen.is_empty(), "{user:?} saw nothing in {query}");
            if list != "Images" && field != "ImageListForDigest" {
                assert_eq!(seen.len(), repos, "{user:?} in {query}: {seen:?}");
            }
        }
    }
    Ok(())
}

#[test]
fn the_catalog_lists_each_caller_only_what_it_may_read() -> Result<()> {
    let fixture = Fixture::start()?;

    for (user, prefix, repos) in CALLERS {
        let catalog: Value = fixture.http(user).get("/v2/_catalog").send()?.json()?;

        let names: BTreeSet<String> = catalog["repositories"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n.as_str().map(str::to_owned))
            .collect();
        assert!(only_under(&names, prefix), "{user:?}: {names:?}");
        assert_eq!(names.len(), repos, "{user:?}: {names:?}");
    }
    Ok(())
}

#[test]
fn a_hidden_repository_has_no_expanded_info_and_no_error() -> Result<()> {
    let fixture = Fixture::start()?;
    let query = "{ExpandedRepoInfo(repo:\"library/alpine\"){Images{Tag} Summary{Name}}}";

    let answer = fixture.as_dev().get(query)?;

    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.body,
        json!({"data": {"ExpandedRepoInfo": {"Images": null, "Summary": null}}})
    );
    Ok(())
}

#[test]
fn a_hidden_image_answers_an_empty_summary_and_no_error() -> Result<()> {
    let fixture = Fixture::start()?;

    let answer = fixture
        .anonymous()
        .get("{Image(image:\"team-a/api:v2.0\"){RepoName Tag Digest Manifests{Digest}}}")?;

    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.body,
        json!({"data": {"Image": {"RepoName": null, "Tag": null, "Digest": null, "Manifests": null}}})
    );
    Ok(())
}

#[test]
fn a_hidden_repository_has_no_referrers_and_no_error() -> Result<()> {
    let fixture = Fixture::start()?;
    let (subject, ..) = fixture.referred();
    let query = format!(
        "{{Referrers(repo:\"team-a/tools/cli\" digest:\"{subject}\" type:\"\"){{Digest}}}}"
    );

    let hidden = fixture.anonymous().get(&query)?;
    let visible = fixture.as_dev().data(&query)?;

    assert_eq!(hidden.body, json!({"data": {"Referrers": []}}));
    assert_eq!(visible["Referrers"].as_array().map(Vec::len), Some(2));
    Ok(())
}

#[test]
fn a_hidden_repository_lists_no_images() -> Result<()> {
    let fixture = Fixture::start()?;

    let data = fixture
        .as_dev()
        .data("{ImageList(repo:\"public/alpine\"){Page{TotalCount ItemCount} Results{Tag}}}")?;

    assert_eq!(data["ImageList"]["Results"], json!([]));
    assert_eq!(
        data["ImageList"]["Page"],
        json!({"TotalCount": 0, "ItemCount": 0})
    );
    Ok(())
}

#[test]
fn derived_and_base_images_leave_out_hidden_repositories() -> Result<()> {
    let fixture = Fixture::start()?;
    let derived =
        "{DerivedImageList(image:\"public/base:1.0\"){Page{TotalCount} Results{RepoName Tag}}}";
    let base = "{BaseImageList(image:\"team-a/api:v2.0\"){Page{TotalCount} Results{RepoName Tag}}}";

    let anonymous = fixture.anonymous().data(derived)?;
    let admin = fixture.as_admin().data(base)?;
    let dev = fixture.as_dev().data(base)?;
    let dev_on_hidden = fixture.as_dev().data(derived)?;

    // team-a/api:v2.0 is built on public/base:1.0, but anonymous cannot read team-a.
    assert_eq!(
        image_names(&anonymous["DerivedImageList"]["Results"]),
        ["public/app:2.0", "public/app:1.0"]
    );
    assert_eq!(
        image_names(&admin["BaseImageList"]["Results"]),
        ["public/base:1.0"]
    );
    assert_eq!(dev["BaseImageList"]["Results"], json!([]));
    assert_eq!(dev["BaseImageList"]["Page"]["TotalCount"], 0);
    // The argument image itself is hidden from dev: an empty list, no error.
    assert_eq!(dev_on_hidden["DerivedImageList"]["Results"], json!([]));
    Ok(())
}

#[test]
fn starred_and_bookmarked_repositories_leave_out_hidden_and_missing_ones() -> Result<()> {
    let fixture = Fixture::start()?;
    let query = "{StarredRepos{Results{Name}} BookmarkedRepos{Results{Name}}}";

    let dev = fixture.as_dev().data(query)?;
    let anonymous = fixture.anonymous().data(query)?;

    let mut starred = column(&dev["StarredRepos"]["Results"], "Name");
    starred.sort();
    assert_eq!(starred, ["team-a/api", "team-a/web"]);
    assert_eq!(
        column(&dev["BookmarkedRepos"]["Results"], "Name"),
        ["team-a/db/postgres"]
    );
    assert_eq!(anonymous["StarredRepos"]["Results"], json!([]));
    assert_eq!(anonymous["BookmarkedRepos"]["Results"], json!([]));
    Ok(())
}
