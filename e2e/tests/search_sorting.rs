//! Every `sortBy` orders images and repositories as zot's comparators do (zot-reference §1.3.3).
//!
//! Images: RELEVANCE is ALPHABETIC_ASC (RepoName, then Tag, bytewise),
//! UPDATE_TIME is LastUpdated descending with null last, DOWNLOADS is
//! DownloadCount descending. Repositories: RELEVANCE is Rank ascending.
//! STARS and SEVERITY are valid enum values that every image and repository
//! list refuses with zot's error and `data: null`. Equal keys may come in any
//! order, so ties are checked as sets.

use std::cmp::Reverse;

use anyhow::Result;
use flotilla_e2e::search_fixture::{column, expect, image_names, Fixture, ImageFacts, ADMIN};
use serde_json::{json, Value};

fn image_list(sort: &str) -> String {
    format!(
        "{{ImageList(repo:\"\", requestedPage:{{sortBy:{sort}}}){{Page{{TotalCount ItemCount}} \
         Results{{RepoName Tag LastUpdated DownloadCount}}}}}}"
    )
}

fn repo_list(sort: &str) -> String {
    format!(
        "{{RepoListWithNewestImage(requestedPage:{{sortBy:{sort}}}){{Page{{TotalCount ItemCount}} \
         Results{{Name LastUpdated DownloadCount}}}}}}"
    )
}

/// The admin's images (`repo:tag`) in the order of `key`.
fn images_by<K: Ord>(fixture: &Fixture, key: impl Fn(&ImageFacts) -> K) -> Vec<String> {
    let mut images = fixture.images_for(Some(ADMIN.0));
    images.sort_by_key(|i| key(i));
    images
        .iter()
        .map(|i| format!("{}:{}", i.repo, i.tag))
        .collect()
}

fn sort_error(sort: &str) -> String {
    format!(
        "sorting repos by '{sort}' is not supported the pagination sort criteria is not supported"
    )
}

#[test]
fn images_by_relevance_are_alphabetic_by_repository_then_tag() -> Result<()> {
    let fixture = Fixture::start()?;

    let data = fixture.as_admin().data(&image_list("RELEVANCE"))?;

    let expected = images_by(&fixture, |i| (i.repo.clone(), i.tag.clone()));
    assert_eq!(image_names(&data["ImageList"]["Results"]), expected);
    assert_eq!(expected.len(), 44);
    Ok(())
}

#[test]
fn images_alphabetic_ascending_order_by_repository_then_tag() -> Result<()> {
    let fixture = Fixture::start()?;

    let data = fixture.as_admin().data(&image_list("ALPHABETIC_ASC"))?;

    let expected = images_by(&fixture, |i| (i.repo.clone(), i.tag.clone()));
    assert_eq!(image_names(&data["ImageList"]["Results"]), expected);
    Ok(())
}

#[test]
fn images_alphabetic_descending_order_by_repository_then_tag_reversed() -> Result<()> {
    let fixture = Fixture::start()?;

    let data = fixture.as_admin().data(&image_list("ALPHABETIC_DSC"))?;

    let expected = images_by(&fixture, |i| Reverse((i.repo.clone(), i.tag.clone())));
    assert_eq!(image_names(&data["ImageList"]["Results"]), expected);
    Ok(())
}

#[test]
fn image_list_sorts_by_relevance_when_no_sort_is_asked() -> Result<()> {
    let fixture = Fixture::start()?;

    let data = fixture
        .as_admin()
        .data("{ImageList(repo:\"\"){Results{RepoName Tag}}}")?;

    let expected = images_by(&fixture, |i| (i.repo.clone(), i.tag.clone()));
    assert_eq!(image_names(&data["ImageList"]["Results"]), expected);
    Ok(())
}

#[test]
fn images_by_update_time_come_newest_first_and_timeless_last() -> Result<()> {
    let fixture = Fixture::start()?;

    let data = fixture.as_admin().data(&image_list("UPDATE_TIME"))?;

    let results = &data["ImageList"]["Results"];
    for image in results.as_array().into_iter().flatten() {
        let facts = fixture.image(
            image["RepoName"].as_str().unwrap_or_default(),
            image["Tag"].as_str().unwrap_or_default(),
        );
        expect::image_summary(&fixture, Some(ADMIN.0), facts, image)?;
    }
    expect::last_updated_descending(results)?;
    let names = image_names(results);
    // The 2099 build; then mainline, whose created annotation (2025) beats its config (2024).
    assert_eq!(names[..2], ["infra/future:next", "public/nginx:mainline"]);
    let mut timeless = names[names.len() - 4..].to_vec();
    timeless.sort();
    assert_eq!(
        timeless,
        [
            "archive/old:undated",
            "ml/models/bert:v1",
            "public/docs/site:v1",
            "team-a/tools/cli:sbom"
        ]
    );
    Ok(())
}

#[test]
fn images_by_downloads_come_most_downloaded_first() -> Result<()> {
    let fixture = Fixture::start()?;

    let data = fixture.as_admin().data(&image_list("DOWNLOADS"))?;

    let results = &data["ImageList"]["Results"];
    let names = image_names(results);
    assert_eq!(
        names[..3],
        [
            "library/alpine:3.19",
            "public/nginx:1.26",
            "team-a/api:v2.0"
        ]
    );
    // One digest under two tags: each tag counts the digest's downloads.
    let mut tied = names[3..5].to_vec();
    tied.sort();
    assert_eq!(tied, ["public/alpine:3.20", "public/alpine:latest"]);
    assert_eq!(names[5..7], ["public/busybox:1.37", "team-a/web:v1"]);
    let counts: Vec<Value> = results
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| i["DownloadCount"].clone())
        .collect();
    assert_eq!(
        counts[..7],
        [
            json!(7),
            json!(5),
            json!(4),
            json!(3),
            json!(3),
            json!(2),
            json!(1)
        ]
    );
    assert!(counts[7..].iter().all(|c| *c == json!(0)), "{counts:?}");
    Ok(())
}

#[test]
fn images_cannot_be_sorted_by_stars_or_severity() -> Result<()> {
    let fixture = Fixture::start()?;

    for sort in ["STARS", "SEVERITY"] {
        let answer = fixture.as_admin().get(&image_list(sort))?;

        // zot's image page finder says "repos" too (zot-reference §1.3.3).
        answer.ensure_resolver_error("ImageList", &sort_error(sort))?;
    }
    Ok(())
}

#[test]
fn repositories_alphabetic_order_by_name_both_ways() -> Result<()> {
    let fixture = Fixture::start()?;
    let mut expected: Vec<String> = fixture
        .repos_for(Some(ADMIN.0))
        .iter()
        .map(|r| r.name.clone())
        .collect();
    expected.sort();

    let ascending = fixture.as_admin().data(&repo_list("ALPHABETIC_ASC"))?;
    let descending = fixture.as_admin().data(&repo_list("ALPHABETIC_DSC"))?;

    assert_eq!(
        column(&ascending["RepoListWithNewestImage"]["Results"], "Name"),
        expected
    );
    expected.reverse();
    assert_eq!(
        column(&descending["RepoListWithNewestImage"]["Results"], "Name"),
        expected
    );
    assert_eq!(expected.len(), 30);
    Ok(())
}

#[test]
fn repositories_sort_by_update_time_when_no_sort_is_asked() -> Result<()> {
    let fixture = Fixture::start()?;

    let default = fixture
        .as_admin()
        .data("{RepoListWithNewestImage{Results{Name LastUpdated}}}")?;
    let explicit = fixture.as_admin().data(&repo_list("UPDATE_TIME"))?;

    for data in [&default, &explicit] {
        let results = &data["RepoListWithNewestImage"]["Results"];
        expect::last_updated_descending(results)?;
        assert_eq!(
            column(results, "Name")[..4],
            [
                "infra/future",
                "team-a/tools/cli",
                "ml/models/bert",
                "public/docs/site"
            ]
        );
    }
    Ok(())
}

#[test]
fn repositories_by_downloads_come_most_downloaded_first() -> Result<()> {
    let fixture = Fixture::start()?;

    let data = fixture.as_admin().data(&repo_list("DOWNLOADS"))?;

    let results = &data["RepoListWithNewestImage"]["Results"];
    assert_eq!(
        column(results, "Name")[..6],
        // public/alpine adds up its two tags of one digest: 3 + 3.
        [
            "library/alpine",
            "public/alpine",
            "public/nginx",
            "team-a/api",
            "public/busybox",
            "team-a/web"
        ]
    );
    let counts: Vec<&Value> = results
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| &r["DownloadCount"])
        .collect();
    assert!(counts[6..].iter().all(|c| **c == json!(0)), "{counts:?}");
    Ok(())
}

#[test]
fn repositories_by_relevance_come_best_rank_first() -> Result<()> {
    let fixture = Fixture::start()?;
    let query =
        "{GlobalSearch(query:\"alpine\", requestedPage:{sortBy:RELEVANCE}){Repos{Name Rank}}}";

    let data = fixture.as_admin().data(query)?;

    let repos = &data["GlobalSearch"]["Repos"];
    let ranks: Vec<i64> = repos
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| r["Rank"].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(ranks, [1, 1, 1, 1, 1, 3, 10, 800], "{repos}");
    assert_eq!(
        column(repos, "Name")[5..],
        ["myalpine", "alpinelinux/tools", "mirror/alpine-edge/base"]
    );
    Ok(())
}

#[test]
fn repositories_cannot_be_sorted_by_stars_or_severity() -> Result<()> {
    let fixture = Fixture::start()?;

    for sort in ["STARS", "SEVERITY"] {
        let list = fixture.as_admin().get(&repo_list(sort))?;
        let search = fixture.as_admin().get(&format!(
            "{{GlobalSearch(query:\"\", requestedPage:{{sortBy:{sort}}}){{Repos{{Name}}}}}}"
        ))?;

        list.ensure_resolver_error("RepoListWithNewestImage", &sort_error(sort))?;
        search.ensure_resolver_error("GlobalSearch", &sort_error(sort))?;
    }
    Ok(())
}

#[test]
fn global_search_images_sort_like_image_list() -> Result<()> {
    let fixture = Fixture::start()?;
    let query = |sort: &str| {
        format!("{{GlobalSearch(query:\":3.1\", requestedPage:{{sortBy:{sort}}}){{Images{{RepoName Tag}}}}}}")
    };

    let descending = fixture.as_admin().data(&query("ALPHABETIC_DSC"))?;
    let relevance = fixture.as_admin().data(&query("RELEVANCE"))?;

    let mut expected = vec![
        "infra/alpine-mirror:3.19",
        "library/alpine:3.19",
        "public/alpine:3.18",
        "public/alpine:3.19",
        "public/python:3.11",
        "public/python:3.12",
        "team-a/alpine:3.19-custom",
    ];
    assert_eq!(image_names(&relevance["GlobalSearch"]["Images"]), expected);
    expected.reverse();
    assert_eq!(image_names(&descending["GlobalSearch"]["Images"]), expected);
    Ok(())
}

#[test]
fn a_sort_that_is_no_enum_value_fails_validation() -> Result<()> {
    let fixture = Fixture::start()?;

    let answer = fixture.as_admin().get(&image_list("NEWEST"))?;

    assert_eq!(answer.status, 422, "{}", answer.body);
    assert_eq!(
        answer.body["errors"][0]["extensions"]["code"],
        "GRAPHQL_VALIDATION_FAILED"
    );
    assert!(answer.data().is_null(), "{}", answer.body);
    Ok(())
}
