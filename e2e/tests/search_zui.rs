//! The zot web UI (zui) browses a node: every query of zot-reference §5.2, in zui's own shape, gets
//! the documented answer.
//!
//! The queries are zui's strings with the fixture's names in place of
//! `library/alpine`; each answer is checked field by field against what
//! zot would answer about the fixture (`search_fixture::expect`).

use anyhow::Result;
use flotilla_e2e::search_fixture::{column, expect, image_names, Fixture, ADMIN, DEV};
use serde_json::{json, Value};

const REPO_FIELDS: &str = "{Page {TotalCount ItemCount} Repos {Name LastUpdated Size Platforms { Os Arch } IsStarred IsBookmarked NewestImage { Tag Vulnerabilities {MaxSeverity Count} Description IsSigned SignatureInfo { Tool IsTrusted Author } Licenses Vendor Labels } StarCount DownloadCount}}";

fn home_popular() -> String {
    format!("{{GlobalSearch(query:\"\", requestedPage: {{limit:3 offset:0 sortBy: DOWNLOADS}} ) {REPO_FIELDS}}}")
}

fn home_recent() -> String {
    format!("{{GlobalSearch(query:\"\", requestedPage: {{limit:2 offset:0 sortBy: UPDATE_TIME}} ) {REPO_FIELDS}}}")
}

fn home_filtered(filter: &str) -> String {
    format!("{{GlobalSearch(query:\"\", requestedPage: {{limit:2 offset:0 sortBy: RELEVANCE}} ,filter: {{ {filter}: true}}) {REPO_FIELDS}}}")
}

fn explore(offset: u32) -> String {
    format!("{{GlobalSearch(query:\"alpine\", requestedPage: {{limit:10 offset:{offset} sortBy: ALPHABETIC_ASC}} ,filter: {{ Os:[\"linux\"] Arch:[\"amd64\",\"arm64\"] HasToBeSigned: true}}) {REPO_FIELDS}}}")
}

/// Checks each repository of a `GlobalSearch` answer and returns its names in order.
fn repos(fixture: &Fixture, user: Option<&str>, data: &Value) -> Result<Vec<String>> {
    let repos = &data["GlobalSearch"]["Repos"];
    for repo in repos.as_array().into_iter().flatten() {
        expect::repo_summary(fixture, user, repo)?;
    }
    Ok(column(repos, "Name"))
}

fn page(data: &Value, query: &str) -> Value {
    data[query]["Page"].clone()
}

#[test]
fn home_popular_lists_the_three_most_downloaded_repositories() -> Result<()> {
    let fixture = Fixture::start()?;

    let admin = fixture.as_admin().data(&home_popular())?;
    let anonymous = fixture.anonymous().data(&home_popular())?;

    assert_eq!(
        repos(&fixture, Some(ADMIN.0), &admin)?,
        ["library/alpine", "public/alpine", "public/nginx"]
    );
    assert_eq!(
        page(&admin, "GlobalSearch"),
        json!({"TotalCount": 30, "ItemCount": 3})
    );
    assert_eq!(
        repos(&fixture, None, &anonymous)?,
        ["public/alpine", "public/nginx", "public/busybox"]
    );
    assert_eq!(
        page(&anonymous, "GlobalSearch"),
        json!({"TotalCount": 9, "ItemCount": 3})
    );
    Ok(())
}

#[test]
fn home_recent_lists_the_two_most_recently_updated_repositories() -> Result<()> {
    let fixture = Fixture::start()?;

    let admin = fixture.as_admin().data(&home_recent())?;
    let dev = fixture.as_dev().data(&home_recent())?;

    // infra/future's image was built in 2099; team-a/tools/cli got the last tag pushed.
    assert_eq!(
        repos(&fixture, Some(ADMIN.0), &admin)?,
        ["infra/future", "team-a/tools/cli"]
    );
    assert_eq!(
        page(&admin, "GlobalSearch"),
        json!({"TotalCount": 30, "ItemCount": 2})
    );
    assert_eq!(repos(&fixture, Some(DEV.0), &dev)?[0], "team-a/tools/cli");
    assert_eq!(
        page(&dev, "GlobalSearch"),
        json!({"TotalCount": 9, "ItemCount": 2})
    );
    Ok(())
}

#[test]
fn home_bookmarks_lists_the_callers_bookmarked_repositories() -> Result<()> {
    let fixture = Fixture::start()?;

    let admin = fixture.as_admin().data(&home_filtered("IsBookmarked"))?;
    let dev = fixture.as_dev().data(&home_filtered("IsBookmarked"))?;

    let mut names = repos(&fixture, Some(ADMIN.0), &admin)?;
    names.sort();
    assert_eq!(names, ["infra/ci/runner", "public/nginx"]);
    assert_eq!(
        page(&admin, "GlobalSearch"),
        json!({"TotalCount": 2, "ItemCount": 2})
    );
    // dev's bookmark of team-a/ghost names no repository.
    assert_eq!(repos(&fixture, Some(DEV.0), &dev)?, ["team-a/db/postgres"]);
    assert_eq!(
        page(&dev, "GlobalSearch"),
        json!({"TotalCount": 1, "ItemCount": 1})
    );
    Ok(())
}

#[test]
fn home_stars_lists_the_callers_starred_repositories() -> Result<()> {
    let fixture = Fixture::start()?;

    let admin = fixture.as_admin().data(&home_filtered("IsStarred"))?;
    let dev = fixture.as_dev().data(&home_filtered("IsStarred"))?;
    let anonymous = fixture.anonymous().data(&home_filtered("IsStarred"))?;

    // Three starred, all rank 1: any two of them make the page.
    let names = repos(&fixture, Some(ADMIN.0), &admin)?;
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        names
            .iter()
            .all(|n| fixture.starred_by(ADMIN.0).contains(n)),
        "{names:?}"
    );
    assert_eq!(
        page(&admin, "GlobalSearch"),
        json!({"TotalCount": 3, "ItemCount": 2})
    );
    let mut names = repos(&fixture, Some(DEV.0), &dev)?;
    names.sort();
    assert_eq!(names, ["team-a/api", "team-a/web"]);
    assert_eq!(
        page(&anonymous, "GlobalSearch"),
        json!({"TotalCount": 0, "ItemCount": 0})
    );
    Ok(())
}

#[test]
fn explore_page_two_is_empty_past_the_signed_linux_matches() -> Result<()> {
    let fixture = Fixture::start()?;

    let page_two = fixture.as_admin().data(&explore(10))?;
    let page_one = fixture.as_admin().data(&explore(0))?;

    assert_eq!(page_two["GlobalSearch"]["Repos"], json!([]));
    assert_eq!(
        page(&page_two, "GlobalSearch"),
        json!({"TotalCount": 2, "ItemCount": 0})
    );
    assert_eq!(
        repos(&fixture, Some(ADMIN.0), &page_one)?,
        ["library/alpine", "public/alpine"]
    );
    assert_eq!(
        page(&page_one, "GlobalSearch"),
        json!({"TotalCount": 2, "ItemCount": 2})
    );
    Ok(())
}

#[test]
fn header_suggestion_ranks_the_repositories_matching_what_was_typed() -> Result<()> {
    let fixture = Fixture::start()?;
    let query = format!("{{GlobalSearch(query:\"alp\", requestedPage: {{limit:9 offset:0 sortBy: RELEVANCE}} ) {REPO_FIELDS}}}");

    let data = fixture.as_admin().data(&query)?;

    let names = repos(&fixture, Some(ADMIN.0), &data)?;
    assert_eq!(
        page(&data, "GlobalSearch"),
        json!({"TotalCount": 8, "ItemCount": 8})
    );
    // Rank 1 (`alp` starts the last path component) in any order, then 3, 10 and 800.
    let mut best = names[..5].to_vec();
    best.sort();
    assert_eq!(
        best,
        [
            "infra/alpine-mirror",
            "library/alpine",
            "public/alpine",
            "public/tools/alpine-utils",
            "team-a/alpine"
        ]
    );
    assert_eq!(
        names[5..],
        ["myalpine", "alpinelinux/tools", "mirror/alpine-edge/base"]
    );
    Ok(())
}

#[test]
fn header_suggestion_lists_the_tags_of_a_repository_starting_with_what_was_typed() -> Result<()> {
    let fixture = Fixture::start()?;
    let query = "{GlobalSearch(query:\"public/alpine:3\", requestedPage: {limit:9 offset:0 sortBy:RELEVANCE}) {Images {RepoName Tag}}}";

    let data = fixture.anonymous().data(query)?;

    assert_eq!(
        image_names(&data["GlobalSearch"]["Images"]),
        [
            "public/alpine:3.18",
            "public/alpine:3.19",
            "public/alpine:3.20"
        ]
    );
    Ok(())
}

#[test]
fn repo_list_page_one_lists_fifteen_repositories_last_updated_first() -> Result<()> {
    let fixture = Fixture::start()?;
    let query = "{RepoListWithNewestImage(requestedPage: {limit:15 offset:0}){Results {Name LastUpdated Size Platforms {Os Arch}  NewestImage { Tag Vulnerabilities {MaxSeverity Count} Description  Licenses Title Source IsSigned SignatureInfo { Tool IsTrusted Author } Documentation Vendor Labels} IsStarred IsBookmarked StarCount DownloadCount}}}";

    let data = fixture.as_admin().data(query)?;

    let results = &data["RepoListWithNewestImage"]["Results"];
    for repo in results.as_array().into_iter().flatten() {
        expect::repo_summary(&fixture, Some(ADMIN.0), repo)?;
    }
    let names = column(results, "Name");
    assert_eq!(names.len(), 15, "{names:?}");
    // The 2099 build, then the oras artifacts, pushed last in this order.
    assert_eq!(
        names[..4],
        [
            "infra/future",
            "team-a/tools/cli",
            "ml/models/bert",
            "public/docs/site"
        ]
    );
    expect::last_updated_descending(results)?;
    Ok(())
}

#[test]
fn detailed_repo_info_lists_every_tag_last_updated_first_with_the_summary() -> Result<()> {
    let fixture = Fixture::start()?;
    let query = "{ExpandedRepoInfo(repo:\"public/alpine\"){Images {Manifests {Digest Platform {Os Arch} Size} Vulnerabilities {MaxSeverity Count} Tag LastUpdated Vendor IsDeletable } Summary {Name LastUpdated Size Platforms {Os Arch} Vendors IsStarred IsBookmarked NewestImage {RepoName IsSigned SignatureInfo { Tool IsTrusted Author } Vulnerabilities {MaxSeverity Count} Manifests {Digest} Tag Vendor Title Documentation DownloadCount Source Description Licenses}}}}";

    let data = fixture.as_admin().data(query)?;

    let info = &data["ExpandedRepoInfo"];
    expect::repo_summary(&fixture, Some(ADMIN.0), &info["Summary"])?;
    let images = info["Images"].as_array().cloned().unwrap_or_default();
    for image in &images {
        let tag = image["Tag"].as_str().unwrap_or_default();
        expect::image_summary(
            &fixture,
            Some(ADMIN.0),
            fixture.image("public/alpine", tag),
            image,
        )?;
    }
    let tags = column(&info["Images"], "Tag");
    // 3.20 and latest are one image (same time, either first), then 3.19, then 3.18.
    let mut newest = tags[..2].to_vec();
    newest.sort();
    assert_eq!(newest, ["3.20", "latest"]);
    assert_eq!(tags[2..], ["3.19", "3.18"]);
    Ok(())
}

#[test]
fn detailed_image_info_shows_referrers_layers_history_and_platform() -> Result<()> {
    let fixture = Fixture::start()?;

    for (repo, tag) in [
        ("team-a/tools/cli", "1.0"),
        ("public/alpine", "3.20"),
        ("public/alpine", "3.19"),
    ] {
        let query = format!("{{Image(image: \"{repo}:{tag}\"){{RepoName IsSigned SignatureInfo {{ Tool IsTrusted Author }} Vulnerabilities {{MaxSeverity Count}}  Referrers {{MediaType ArtifactType Size Digest Annotations{{Key Value}}}} Tag TaggedTimestamp ArtifactType Manifests {{ArtifactType Layers {{Size Digest}} History {{Layer {{Size Digest}} HistoryDescription {{CreatedBy EmptyLayer}}}} Digest ConfigDigest LastUpdated Size Platform {{Os Arch}} Referrers {{MediaType ArtifactType Size Digest Annotations{{Key Value}}}}}} Vendor Licenses }}}}");

        let data = fixture.as_admin().data(&query)?;

        expect::image_summary(
            &fixture,
            Some(ADMIN.0),
            fixture.image(repo, tag),
            &data["Image"],
        )?;
    }
    let (subject, ..) = fixture.referred();
    assert_eq!(fixture.image("team-a/tools/cli", "1.0").digest, subject);
    Ok(())
}

#[test]
fn vulnerability_queries_answer_that_cve_search_is_disabled() -> Result<()> {
    let fixture = Fixture::start()?;
    let queries = [
        ("CVEListForImage", "{CVEListForImage(image: \"public/alpine:3.19\", requestedPage: {limit:15 offset:0}, searchedCVE: \"openssl\", severity: \"HIGH\"){Tag Page {TotalCount ItemCount} CVEList {Id Title Description Severity Reference PackageList {Name PackagePath InstalledVersion FixedVersion}} Summary {Count UnknownCount LowCount MediumCount HighCount CriticalCount}}}"),
        ("CVEListForImage", "{CVEListForImage(image: \"public/alpine:3.19\"){Tag Page {TotalCount ItemCount} CVEList {Id Title Description Severity Reference PackageList {Name PackagePath InstalledVersion FixedVersion}}}}"),
        ("ImageListWithCVEFixed", "{ImageListWithCVEFixed(id:\"CVE-2023-5363\", image:\"public/alpine\", requestedPage: {limit:5 offset:0},filter:{ Os:[\"linux\"]}) {Page {TotalCount ItemCount} Results {Tag}}}"),
    ];

    for (field, query) in queries {
        let answer = fixture.as_admin().get(query)?;

        // No `extensions.search.cve` in the config: zot-reference §1.5.
        answer.ensure_resolver_error(field, "cve search is disabled")?;
    }
    Ok(())
}

#[test]
fn depends_on_lists_the_images_whose_layers_start_this_one() -> Result<()> {
    let fixture = Fixture::start()?;
    let query = "{BaseImageList(image: \"public/app:2.0\", requestedPage: {limit:15 offset:0}){Page {TotalCount ItemCount} Results { RepoName Tag Description Manifests {Digest Platform {Os Arch} Size} Vendor DownloadCount LastUpdated IsSigned SignatureInfo { Tool IsTrusted Author } Vulnerabilities {MaxSeverity Count}}}}";

    let data = fixture.anonymous().data(query)?;

    let results = &data["BaseImageList"]["Results"];
    assert_eq!(image_names(results), ["public/base:1.0"]);
    expect::image_summary(
        &fixture,
        None,
        fixture.image("public/base", "1.0"),
        &results[0],
    )?;
    assert_eq!(
        page(&data, "BaseImageList"),
        json!({"TotalCount": 1, "ItemCount": 1})
    );
    Ok(())
}

#[test]
fn is_dependent_on_lists_the_images_built_on_this_one_last_updated_first() -> Result<()> {
    let fixture = Fixture::start()?;
    let query = "{DerivedImageList(image: \"public/base:1.0\", requestedPage: {limit:15 offset:0}){Page {TotalCount ItemCount} Results {RepoName Tag Description Manifests {Digest Platform {Os Arch} Size} Vendor DownloadCount LastUpdated IsSigned SignatureInfo { Tool IsTrusted Author } Vulnerabilities {MaxSeverity Count}}}}";

    let data = fixture.as_admin().data(query)?;

    let results = &data["DerivedImageList"]["Results"];
    assert_eq!(
        image_names(results),
        ["public/app:2.0", "team-a/api:v2.0", "public/app:1.0"]
    );
    for image in results.as_array().into_iter().flatten() {
        let (repo, tag) = (
            image["RepoName"].as_str().unwrap_or_default(),
            image["Tag"].as_str().unwrap_or_default(),
        );
        expect::image_summary(&fixture, Some(ADMIN.0), fixture.image(repo, tag), image)?;
    }
    assert_eq!(
        page(&data, "DerivedImageList"),
        json!({"TotalCount": 3, "ItemCount": 3})
    );
    Ok(())
}

#[test]
fn referrers_lists_every_artifact_whose_subject_is_the_digest() -> Result<()> {
    let fixture = Fixture::start()?;
    let (subject, ..) = fixture.referred();
    let query = format!("{{Referrers(repo: \"team-a/tools/cli\" digest: \"{subject}\" type: \"\"){{MediaType ArtifactType Size Digest Annotations{{Key Value}}}}}}");

    let data = fixture.as_dev().data(&query)?;

    assert_eq!(
        data["Referrers"].as_array().map(Vec::len),
        Some(2),
        "{data}"
    );
    expect::referrers(&fixture, "team-a/tools/cli", subject, &data["Referrers"])
}
