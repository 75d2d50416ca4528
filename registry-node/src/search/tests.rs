//! Resolver tests on a real store: images pushed through storage and the metadata hooks, queries run through the GraphQL engine, answers held to zot's documented behaviour.

use serde_json::{json, Value};

use crate::meta::fixture::{user, Fixture, Spec};

fn names(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|v| v[key].as_str().unwrap().to_owned())
        .collect()
}

fn spec(created: &'static str, layers: Vec<&'static str>) -> Spec {
    Spec {
        created: Some(created),
        layers,
        ..Spec::default()
    }
}

/// Three repositories: `a` (two tags), `b/c` (one), `zeta` (an index).
async fn fixture() -> Fixture {
    let f = Fixture::new();
    f.image(
        "a",
        "v1",
        &spec("2024-01-01T00:00:00Z", vec!["l1"]),
        "alice",
    )
    .await;
    f.image(
        "a",
        "v2",
        &spec("2024-03-01T00:00:00Z", vec!["l1", "l2"]),
        "alice",
    )
    .await;
    f.image(
        "b/c",
        "latest",
        &spec("2024-02-01T00:00:00Z", vec!["l1", "l2", "l3"]),
        "",
    )
    .await;
    let arm = Spec {
        arch: "arm64",
        layers: vec!["arm"],
        ..Spec::default()
    };
    f.index(
        "zeta",
        "multi",
        &[Spec::default(), arm],
        json!({"org.opencontainers.image.vendor": "Z"}),
    )
    .await;
    f
}

#[tokio::test]
async fn image_list_pages_sort_and_default_to_relevance() {
    let f = fixture().await;
    let all = f
        .query(r#"{ImageList(repo: ""){Page{TotalCount ItemCount} Results{RepoName Tag}}}"#)
        .await;
    let list = &all["data"]["ImageList"];
    assert_eq!(list["Page"], json!({"TotalCount": 4, "ItemCount": 4}));
    assert_eq!(
        names(&list["Results"], "Tag"),
        ["v1", "v2", "latest", "multi"]
    );
    let one = f
        .query(r#"{ImageList(repo: "a", requestedPage: {limit: 1, offset: 1, sortBy: ALPHABETIC_DSC}){Page{TotalCount ItemCount} Results{Tag}}}"#)
        .await;
    assert_eq!(
        one["data"]["ImageList"]["Page"],
        json!({"TotalCount": 2, "ItemCount": 1})
    );
    assert_eq!(names(&one["data"]["ImageList"]["Results"], "Tag"), ["v1"]);
    let newest = f
        .query(r#"{ImageList(repo: "", requestedPage: {sortBy: UPDATE_TIME}){Results{Tag LastUpdated}}}"#)
        .await;
    // v1 and multi were both built on 2024-01-01: a tie, which zot leaves open.
    assert_eq!(
        names(&newest["data"]["ImageList"]["Results"], "Tag"),
        ["v2", "latest", "v1", "multi"]
    );
}

#[tokio::test]
async fn paging_edge_cases_follow_zots_cut() {
    let f = fixture().await;
    let page = |limit: i64, offset: i64| {
        format!(
            r#"{{ImageList(repo: "", requestedPage: {{limit: {limit}, offset: {offset}}}){{Page{{TotalCount ItemCount}} Results{{Tag}}}}}}"#
        )
    };
    let run = |q: String| {
        let f = &f;
        async move { f.query(&q).await["data"]["ImageList"].clone() }
    };
    // limit 0 with an offset: nothing (zot's quirk).
    let quirk = run(page(0, 2)).await;
    assert_eq!(quirk["Page"], json!({"TotalCount": 4, "ItemCount": 0}));
    assert_eq!(quirk["Results"], json!([]));
    // Offset past the end: an empty page that still counts everything.
    assert_eq!(
        run(page(2, 9)).await["Page"],
        json!({"TotalCount": 4, "ItemCount": 0})
    );
    assert_eq!(
        run(page(3, 2)).await["Page"],
        json!({"TotalCount": 4, "ItemCount": 2})
    );
    let negative = f.query(&page(-1, 0)).await;
    assert_eq!(negative["data"], Value::Null);
    assert_eq!(
        negative["errors"][0]["message"],
        "pagination limit has negative value"
    );
    let stars = f
        .query(r#"{ImageList(repo: "", requestedPage: {sortBy: STARS}){Results{Tag}}}"#)
        .await;
    assert_eq!(
        stars["errors"][0]["message"],
        "sorting repos by 'STARS' is not supported the pagination sort criteria is not supported"
    );
}

#[tokio::test]
async fn an_image_summary_has_zots_field_semantics() {
    let f = fixture().await;
    let out = f
        .query(r#"{Image(image: "a:v2"){RepoName Tag Digest MediaType Size DownloadCount LastUpdated PushedBy
            IsSigned SignatureInfo{Tool} Referrers{Digest} Vendor IsDeletable ArtifactType
            Vulnerabilities{MaxSeverity Count} LastPullTimestamp
            Manifests{Platform{Os Arch} Layers{Size} History{Layer{Digest} HistoryDescription{CreatedBy}} Size Vulnerabilities{Count}}}}"#)
        .await;
    let image = &out["data"]["Image"];
    assert_eq!(
        image["MediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(image["LastUpdated"], "2024-03-01T00:00:00Z");
    assert_eq!(image["PushedBy"], "alice");
    assert_eq!(image["IsSigned"], false);
    assert_eq!(image["SignatureInfo"], json!([]));
    assert_eq!(image["Referrers"], json!([]));
    assert_eq!(image["IsDeletable"], Value::Null);
    assert_eq!(
        image["Vulnerabilities"],
        json!({"MaxSeverity": "", "Count": 0})
    );
    assert_eq!(image["LastPullTimestamp"], "1970-01-01T00:00:00Z");
    assert!(image["Size"].is_string());
    let m = &image["Manifests"][0];
    assert_eq!(m["Platform"], json!({"Os": "linux", "Arch": "amd64"}));
    assert_eq!(
        m["Vulnerabilities"],
        Value::Null,
        "with scanning off only images get a summary"
    );
    assert_eq!(m["Layers"], json!([{"Size": "2"}, {"Size": "2"}]));
    assert_eq!(m["History"].as_array().unwrap().len(), 2);
    assert_eq!(
        m["History"][0]["HistoryDescription"]["CreatedBy"],
        Value::Null
    );
}

#[tokio::test]
async fn an_index_summary_sums_its_manifests() {
    let f = fixture().await;
    let out = f
        .query(
            r#"{Image(image: "zeta:multi"){MediaType Vendor Size Manifests{Platform{Os Arch}}}}"#,
        )
        .await;
    let image = &out["data"]["Image"];
    assert_eq!(
        image["MediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    assert_eq!(image["Vendor"], "Z");
    assert_eq!(
        image["Manifests"],
        json!([{"Platform": {"Os": "linux", "Arch": "amd64"}}, {"Platform": {"Os": "linux", "Arch": "arm64"}}])
    );
}

#[tokio::test]
async fn repo_list_sorts_by_update_time_by_default() {
    let f = fixture().await;
    let q = |sort: &str| {
        format!(
            r#"{{RepoListWithNewestImage(requestedPage: {{limit: 10 {sort}}}){{Page{{TotalCount ItemCount}} Results{{Name Rank Size Platforms{{Os Arch}} Vendors NewestImage{{Tag}} StarCount IsStarred DownloadCount LastUpdated}}}}}}"#
        )
    };
    let out = f.query(&q("")).await;
    let list = &out["data"]["RepoListWithNewestImage"];
    assert_eq!(list["Page"], json!({"TotalCount": 3, "ItemCount": 3}));
    // Every tag was just pushed, so tag times decide: the last pushed first.
    assert_eq!(names(&list["Results"], "Name"), ["zeta", "b/c", "a"]);
    let a = &list["Results"][2];
    assert_eq!(a["Rank"], 1);
    assert_eq!(a["NewestImage"]["Tag"], "v2");
    assert_eq!(a["Platforms"], json!([{"Os": "linux", "Arch": "amd64"}]));
    assert_eq!(a["Vendors"], json!([]));
    assert_eq!(list["Results"][0]["Vendors"], json!([]));
    let by_name = f.query(&q("sortBy: ALPHABETIC_ASC")).await;
    assert_eq!(
        names(
            &by_name["data"]["RepoListWithNewestImage"]["Results"],
            "Name"
        ),
        ["a", "b/c", "zeta"]
    );
    let stars = f.query(&q("sortBy: STARS")).await;
    assert_eq!(stars["data"], Value::Null);
}

#[tokio::test]
async fn downloads_count_gets_and_sort_by_downloads() {
    let f = fixture().await;
    f.pull("b/c", "latest").await;
    f.pull("b/c", "latest").await;
    let digest = f.store.get_manifest("a", "v1").await.unwrap().digest;
    f.pull("a", &digest).await;
    let out = f
        .query(r#"{RepoListWithNewestImage(requestedPage: {sortBy: DOWNLOADS}){Results{Name DownloadCount}}}"#)
        .await;
    let results = &out["data"]["RepoListWithNewestImage"]["Results"];
    assert_eq!(names(results, "Name")[..2], ["b/c", "a"]);
    assert_eq!(results[0]["DownloadCount"], 2);
    let image = f
        .query(r#"{Image(image: "b/c:latest"){DownloadCount LastPullTimestamp}}"#)
        .await;
    assert_eq!(image["data"]["Image"]["DownloadCount"], 2);
    assert_ne!(
        image["data"]["Image"]["LastPullTimestamp"],
        "1970-01-01T00:00:00Z"
    );
}

#[tokio::test]
async fn global_search_targets_and_ranks() {
    let f = fixture().await;
    f.image("library/alpine", "3.19", &Spec::default(), "")
        .await;
    f.image("alpine", "3.18", &Spec::default(), "").await;
    let repos = f
        .query(r#"{GlobalSearch(query: "alpine"){Page{TotalCount} Repos{Name Rank} Images{Tag} Layers{Digest}}}"#)
        .await;
    let gs = &repos["data"]["GlobalSearch"];
    assert_eq!(names(&gs["Repos"], "Name"), ["alpine", "library/alpine"]);
    assert_eq!(gs["Repos"][0]["Rank"], 0);
    assert_eq!(gs["Repos"][1]["Rank"], 1);
    assert_eq!(gs["Images"], json!([]));
    assert_eq!(gs["Layers"], json!([]));
    let image = f
        .query(r#"{GlobalSearch(query: " Library/Alpine:3 "){Page{TotalCount} Repos{Name} Images{RepoName Tag}}}"#)
        .await;
    let gs = &image["data"]["GlobalSearch"];
    assert_eq!(gs["Repos"], Value::Null);
    assert_eq!(names(&gs["Images"], "Tag"), ["3.19"]);
    let tags = f
        .query(r#"{GlobalSearch(query: ":3.1"){Images{RepoName Tag}}}"#)
        .await;
    assert_eq!(
        names(&tags["data"]["GlobalSearch"]["Images"], "Tag"),
        ["3.18", "3.19"]
    );
    let digest = f.store.get_manifest("b/c", "latest").await.unwrap().digest;
    let by_digest = f
        .query(&format!(
            r#"{{GlobalSearch(query: "{}"){{Images{{RepoName}}}}}}"#,
            &digest[..20]
        ))
        .await;
    assert_eq!(
        names(&by_digest["data"]["GlobalSearch"]["Images"], "RepoName"),
        ["b/c"]
    );
    let bad = f
        .query(r#"{GlobalSearch(query: "a@b"){Page{TotalCount}}}"#)
        .await;
    assert_eq!(bad["errors"][0]["message"], "invalid search query");
    let long = format!(
        r#"{{GlobalSearch(query: "{}"){{Page{{TotalCount}}}}}}"#,
        "a".repeat(257)
    );
    let long = f.query(&long).await;
    assert!(long["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("max=256 current=257"));
}

#[tokio::test]
async fn global_search_filters_repositories() {
    let f = fixture().await;
    let q = |filter: &str| {
        format!(
            r#"{{GlobalSearch(query: "", filter: {filter}, requestedPage: {{sortBy: ALPHABETIC_ASC}}){{Page{{TotalCount}} Repos{{Name}}}}}}"#
        )
    };
    let arm = f.query(&q(r#"{Arch: [" ARM64 "]}"#)).await;
    assert_eq!(
        names(&arm["data"]["GlobalSearch"]["Repos"], "Name"),
        ["zeta"]
    );
    let signed = f.query(&q("{HasToBeSigned: true}")).await;
    assert_eq!(signed["data"]["GlobalSearch"]["Page"]["TotalCount"], 0);
    // Anonymous users have no bookmarks: `false` keeps everything.
    let not_bookmarked = f.query(&q("{IsBookmarked: false}")).await;
    assert_eq!(
        not_bookmarked["data"]["GlobalSearch"]["Page"]["TotalCount"],
        3
    );
}

#[tokio::test]
async fn repositories_a_user_cannot_read_are_invisible() {
    let policy = json!({"repositories": {"a": {"policies": [{"users": ["alice"], "actions": ["read", "delete"]}]},
        "b": {"anonymousPolicy": ["read"], "policies": [{"users": ["alice", "bob"], "actions": ["read"]}]}}});
    let f = Fixture::with_access(Some(policy));
    f.image("a", "v1", &Spec::default(), "alice").await;
    f.image("b", "v1", &Spec::default(), "alice").await;
    let list = r#"{RepoListWithNewestImage{Results{Name}}}"#;
    let bob = f.query_as(user("bob"), list).await;
    assert_eq!(
        names(&bob["data"]["RepoListWithNewestImage"]["Results"], "Name"),
        ["b"]
    );
    let alice = f.query_as(user("alice"), list).await;
    assert_eq!(
        alice["data"]["RepoListWithNewestImage"]["Results"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Single-repository queries answer an empty object, not an error.
    let info = f
        .query_as(
            user("bob"),
            r#"{ExpandedRepoInfo(repo: "a"){Images{Tag} Summary{Name}}}"#,
        )
        .await;
    assert_eq!(
        info["data"]["ExpandedRepoInfo"],
        json!({"Images": null, "Summary": null})
    );
    let image = f
        .query_as(user("bob"), r#"{Image(image: "a:v1"){Tag}}"#)
        .await;
    assert_eq!(image["data"]["Image"], json!({"Tag": null}));
    let deletable = f
        .query_as(
            user("alice"),
            r#"{ExpandedRepoInfo(repo: "a"){Images{IsDeletable}}}"#,
        )
        .await;
    assert_eq!(
        deletable["data"]["ExpandedRepoInfo"]["Images"][0]["IsDeletable"],
        true
    );
    let b = f
        .query_as(
            user("alice"),
            r#"{ExpandedRepoInfo(repo: "b"){Images{IsDeletable}}}"#,
        )
        .await;
    assert_eq!(
        b["data"]["ExpandedRepoInfo"]["Images"][0]["IsDeletable"],
        false
    );
}

#[tokio::test]
async fn single_repository_errors_are_zots() {
    let f = fixture().await;
    let missing = f
        .query(r#"{ExpandedRepoInfo(repo: "nope"){Summary{Name}}}"#)
        .await;
    assert_eq!(
        missing["errors"][0]["message"],
        "repo metadata not found for given repo name"
    );
    assert_eq!(missing["data"], Value::Null);
    let no_tag = f.query(r#"{Image(image: "a"){Tag}}"#).await;
    assert_eq!(no_tag["errors"][0]["message"], "no reference provided");
    let bad_tag = f.query(r#"{Image(image: "a:v9"){Tag}}"#).await;
    assert_eq!(bad_tag["errors"][0]["message"], "can't find image: a:v9");
    let cve = f.query(r#"{CVEListForImage(image: "a:v1"){Tag}}"#).await;
    assert_eq!(cve["errors"][0]["message"], "cve search is disabled");
    let digest = f
        .query(r#"{Referrers(repo: "a", digest: "sha256:abc"){Digest}}"#)
        .await;
    assert_eq!(
        digest["errors"][0]["message"],
        "bad digest string from request 'sha256:abc' invalid checksum digest length"
    );
    let derived = f
        .query(r#"{DerivedImageList(image: "nope:v1"){Page{TotalCount}}}"#)
        .await;
    assert_eq!(derived["errors"][0]["message"], "repository not found");
}

#[tokio::test]
async fn expanded_repo_info_lists_images_newest_first() {
    let f = fixture().await;
    let out = f
        .query(r#"{ExpandedRepoInfo(repo: "a"){Images{Tag IsDeletable} Summary{Name Rank NewestImage{Tag} Size}}}"#)
        .await;
    let info = &out["data"]["ExpandedRepoInfo"];
    assert_eq!(names(&info["Images"], "Tag"), ["v2", "v1"]);
    assert_eq!(info["Images"][0]["IsDeletable"], true);
    assert_eq!(info["Summary"]["Rank"], 0);
    assert_eq!(info["Summary"]["NewestImage"]["Tag"], "v2");
}

#[tokio::test]
async fn derived_and_base_images_share_layer_prefixes() {
    let f = fixture().await;
    let derived = f
        .query(r#"{DerivedImageList(image: "a:v1"){Page{TotalCount} Results{RepoName Tag}}}"#)
        .await;
    let results = &derived["data"]["DerivedImageList"]["Results"];
    assert_eq!(names(results, "Tag"), ["v2", "latest"]);
    let base = f
        .query(r#"{BaseImageList(image: "b/c:latest", requestedPage: {sortBy: ALPHABETIC_ASC}){Results{Tag}}}"#)
        .await;
    assert_eq!(
        names(&base["data"]["BaseImageList"]["Results"], "Tag"),
        ["v1", "v2"]
    );
}

/// A user who reads every repository gets `RepoListWithNewestImage` off the
/// orders the metadata keeps; one whose policy must be asked about each
/// repository gets it by sorting. Through pushes, retags, deletes, pulls and
/// a restart, with times that tie, every sort and page agree.
#[tokio::test]
async fn kept_orders_page_as_the_sort_does() {
    let policy = json!({"repositories": {
            "**": {"anonymousPolicy": ["read"]},
            "nothing-here/**": {"anonymousPolicy": []}},
        "adminPolicy": {"users": ["alice"], "actions": ["read"]}});
    let mut f = Fixture::with_access(Some(policy));
    assert!(f.access.reads_everything(&user("alice")));
    assert!(!f.access.reads_everything(&crate::auth::Identity::Anonymous));
    let repos = ["a", "b", "c/d", "c", "e-f", "z", "m/n/o", "k"];
    let tags = ["v1", "v2", "latest"];
    // Future times stay each image's LastUpdated (the tag time, now, is
    // earlier); repeated ones tie across repositories.
    let times = [
        Some("2100-01-01T00:00:00Z"),
        Some("2100-01-02T00:00:00Z"),
        Some("2100-01-02T00:00:00Z"),
        Some("2100-03-01T00:00:00Z"),
        Some("2020-01-01T00:00:00Z"),
        None,
    ];
    let mut tagged: std::collections::BTreeSet<(usize, usize)> = Default::default();
    let mut seed: u64 = 0x5eed;
    let mut next = |n: usize| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 33) as usize) % n
    };
    let sorts = [
        "UPDATE_TIME",
        "ALPHABETIC_ASC",
        "ALPHABETIC_DSC",
        "RELEVANCE",
    ];
    let pages = [(0, 0), (3, 0), (3, 2), (5, 4), (0, 3), (2, 100), (1, 7)];
    for step in 0..60 {
        let (r, t) = (next(repos.len()), next(tags.len()));
        match next(4) {
            0 if tagged.contains(&(r, t)) => {
                f.delete(repos[r], tags[t]).await;
                tagged.remove(&(r, t));
            }
            1 if tagged.contains(&(r, t)) => f.pull(repos[r], tags[t]).await,
            _ => {
                let spec = Spec {
                    created: times[next(times.len())],
                    layers: vec![["l1", "l2", "l3"][next(3)]],
                    ..Spec::default()
                };
                f.image(repos[r], tags[t], &spec, "").await;
                tagged.insert((r, t));
            }
        }
        if step == 30 {
            f = f.restart().await;
        }
        if step % 10 != 9 {
            continue;
        }
        for sort in sorts {
            for (limit, offset) in pages {
                let q = format!(
                    r#"{{RepoListWithNewestImage(requestedPage: {{limit: {limit}, offset: {offset}, sortBy: {sort}}})
                    {{Page{{TotalCount ItemCount}} Results{{Name LastUpdated Rank Size DownloadCount NewestImage{{Tag Digest}}}}}}}}"#
                );
                let kept = f.query_as(user("alice"), &q).await;
                let sorted = f.query(&q).await;
                assert!(kept.get("errors").is_none(), "{kept}");
                assert_eq!(
                    kept, sorted,
                    "step {step}, {sort}, limit {limit} offset {offset}"
                );
            }
        }
    }
}
