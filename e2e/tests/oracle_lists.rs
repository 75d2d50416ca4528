//! The oracle for the fanned-out lists: `ImageList(repo: "")`, `RepoListWithNewestImage`,
//! `GlobalSearch` over every target and `ImageListForDigest`, each with every `sortBy` and the page
//! edges of zot-reference §1.3.2, answer alike from one node and from 2, 3 and 5 members.
//!
//! Ties (said per case by `ListQuery::case`): `UPDATE_TIME` ties on
//! `LastUpdated` (the generated corpus builds several images at the same
//! instant, and some without any time), `DOWNLOADS` on the count (most are
//! 0), `RELEVANCE` over repositories on rank. Names never tie. `STARS` and
//! `SEVERITY` must fail alike. Admin gets every sort × every page edge; dev
//! and anonymous every page edge of the default, `UPDATE_TIME` and `DOWNLOADS`.

use anyhow::Result;
use flotilla_e2e::layout::{seeded_bytes, sha256_digest};
use flotilla_e2e::oracle::{Case, ListQuery, Oracle, SIZES};
use flotilla_e2e::search_fixture::{ADMIN, DEV};

const IMAGES: &str = "{Page {TotalCount ItemCount} Results {RepoName Tag Digest MediaType LastUpdated DownloadCount Size IsSigned Vendor Manifests {Digest Platform {Os Arch} Layers {Digest}}}}";
const REPOS: &str = "{Page {TotalCount ItemCount} Results {Name LastUpdated Size DownloadCount StarCount IsStarred IsBookmarked Platforms {Os Arch} Vendors NewestImage {RepoName Tag Digest LastUpdated DownloadCount IsSigned}}}";
const SEARCH_REPOS: &str = "{Page {TotalCount ItemCount} Repos {Name Rank LastUpdated Size DownloadCount StarCount IsStarred IsBookmarked Platforms {Os Arch} NewestImage {Tag LastUpdated}} Images {RepoName Tag} Layers {Digest}}";
const SEARCH_IMAGES: &str = "{Page {TotalCount ItemCount} Images {RepoName Tag Digest LastUpdated DownloadCount IsSigned Manifests {Digest Platform {Os Arch}}} Repos {Name}}";

const ALL_SORTS: [Option<&str>; 7] = [
    None,
    Some("RELEVANCE"),
    Some("UPDATE_TIME"),
    Some("ALPHABETIC_ASC"),
    Some("ALPHABETIC_DSC"),
    Some("DOWNLOADS"),
    Some("STARS"),
];
const SOME_SORTS: [Option<&str>; 3] = [None, Some("UPDATE_TIME"), Some("DOWNLOADS")];

fn list(
    field: &'static str,
    args: &str,
    list: &'static str,
    selection: &str,
    repos: bool,
    search: &str,
    default_sort: &'static str,
) -> ListQuery {
    ListQuery {
        field,
        args: args.to_owned(),
        list,
        selection: selection.to_owned(),
        repos,
        search: search.to_owned(),
        default_sort,
    }
}

/// Every sort and page as admin; the usual sorts as dev and anonymous.
fn cases(query: &ListQuery) -> Vec<Case> {
    let mut cases = query.cases(&ALL_SORTS, &[Some(ADMIN.0)]);
    cases.extend(query.cases(&SOME_SORTS, &[Some(DEV.0), None]));
    cases
}

/// Every page of the default sort and `UPDATE_TIME` as admin; three page
/// edges of the default as dev and anonymous (for the variants of a field).
fn light(query: &ListQuery) -> Vec<Case> {
    let mut cases = query.cases(&SOME_SORTS[..2], &[Some(ADMIN.0)]);
    for user in [Some(DEV.0), None] {
        for (limit, offset) in [
            (Some(0), Some(0)),
            (Some(3), Some(2)),
            (Some(5), Some(1000)),
        ] {
            cases.push(query.case(user, limit, offset, None));
        }
    }
    cases
}

#[test]
fn image_list_of_every_repository_answers_alike() -> Result<()> {
    let oracle = Oracle::start(&SIZES)?;
    let query = list(
        "ImageList",
        "repo: \"\"",
        "Results",
        IMAGES,
        false,
        "",
        "RELEVANCE",
    );

    oracle.ensure_alike(&cases(&query))
}

#[test]
fn repo_list_with_newest_image_answers_alike() -> Result<()> {
    let oracle = Oracle::start(&SIZES)?;
    let query = list(
        "RepoListWithNewestImage",
        "",
        "Results",
        REPOS,
        true,
        "",
        "UPDATE_TIME",
    );

    oracle.ensure_alike(&cases(&query))
}

#[test]
fn global_search_over_repositories_answers_alike() -> Result<()> {
    let oracle = Oracle::start(&SIZES)?;
    let mut all = Vec::new();
    let query = list(
        "GlobalSearch",
        "query: \"alp\"",
        "Repos",
        SEARCH_REPOS,
        true,
        "alp",
        "RELEVANCE",
    );
    all.extend(cases(&query));
    for (search, filter) in [
        ("", ""),
        ("team-a/", ""),
        ("gen/alp", ""),
        ("alpine", ", filter: {Os: [\"linux\"], Arch: [\"arm64\"]}"),
        ("", ", filter: {HasToBeSigned: true}"),
    ] {
        let query = list(
            "GlobalSearch",
            &format!("query: \"{search}\"{filter}"),
            "Repos",
            SEARCH_REPOS,
            true,
            search,
            "RELEVANCE",
        );
        all.extend(light(&query));
    }

    oracle.ensure_alike(&all)
}

#[test]
fn global_search_over_tags_digests_and_images_answers_alike() -> Result<()> {
    let oracle = Oracle::start(&SIZES)?;
    let digest = oracle.digest("public/alpine", "3.20")?;
    let mut all = Vec::new();
    let query = list(
        "GlobalSearch",
        "query: \":v\"",
        "Images",
        SEARCH_IMAGES,
        false,
        ":v",
        "RELEVANCE",
    );
    all.extend(cases(&query));
    for search in [":3", &digest, "public/alpine:3", "team-a/api:v"] {
        let query = list(
            "GlobalSearch",
            &format!("query: \"{search}\""),
            "Images",
            SEARCH_IMAGES,
            false,
            search,
            "RELEVANCE",
        );
        all.extend(light(&query));
    }

    oracle.ensure_alike(&all)
}

#[test]
fn image_list_for_digest_answers_alike() -> Result<()> {
    let oracle = Oracle::start(&SIZES)?;
    let shared_layer = sha256_digest(&seeded_bytes("gen-chain-0", 512));
    let base_layer = oracle.layers("public/base:1.0")?[0].clone();
    let by_id = |id: &str| {
        list(
            "ImageListForDigest",
            &format!("id: \"{id}\""),
            "Results",
            IMAGES,
            false,
            "",
            "RELEVANCE",
        )
    };
    let mut all = cases(&by_id(&shared_layer));
    for id in [
        oracle.digest("public/alpine", "3.20")?,
        base_layer,
        oracle.digest("team-a/web", "v1")?,
    ] {
        all.extend(light(&by_id(&id)));
    }

    oracle.ensure_alike(&all)
}
