//! `GlobalSearch` reads its query as zot does (zot-reference §1.6): a repository name, `repo:tag`
//! prefix, `:tag` or a `sha256:` digest, each with its own result shape; repositories are ranked by
//! `RankRepoName`; queries are cleaned, bounded to 256 bytes, and refused when malformed.

use anyhow::Result;
use flotilla_e2e::search_fixture::{column, expect, image_names, Fixture, ADMIN, DEV};
use serde_json::{json, Value};

const SHAPE: &str =
    "{Page{TotalCount ItemCount} Repos{Name Rank} Images{RepoName Tag} Layers{Digest}}";

fn search(fixture: &Fixture, user: Option<&str>, query: &str) -> Result<Value> {
    let data = fixture
        .search(user)
        .data(&format!("{{GlobalSearch(query:{}){SHAPE}}}", json!(query)))?;
    Ok(data["GlobalSearch"].clone())
}

/// (name, rank) of each repository found, in order.
fn ranked(result: &Value) -> Vec<(String, i64)> {
    result["Repos"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["Name"].as_str().unwrap_or_default().to_owned(),
                r["Rank"].as_i64().unwrap_or(-1),
            )
        })
        .collect()
}

/// The layer digest that `public/base:1.0` shares with the images built on it.
fn shared_layer(fixture: &Fixture) -> String {
    fixture.image("public/base", "1.0").manifests[0].layers[0]
        .0
        .clone()
}

#[test]
fn a_name_finds_repositories_and_answers_empty_image_and_layer_lists() -> Result<()> {
    let fixture = Fixture::start()?;

    let result = search(&fixture, Some(ADMIN.0), "alpine")?;

    assert_eq!(result["Images"], json!([]));
    assert_eq!(result["Layers"], json!([]));
    assert_eq!(result["Page"], json!({"TotalCount": 8, "ItemCount": 8}));
    assert_eq!(result["Repos"].as_array().map(Vec::len), Some(8));
    Ok(())
}

#[test]
fn repositories_are_ranked_by_where_the_name_matches() -> Result<()> {
    let fixture = Fixture::start()?;

    let result = search(&fixture, Some(ADMIN.0), "alpine")?;

    let mut ranks = ranked(&result);
    ranks[..5].sort();
    assert_eq!(
        ranks,
        [
            // `alpine` opens the last path component.
            ("infra/alpine-mirror".into(), 1),
            ("library/alpine".into(), 1),
            ("public/alpine".into(), 1),
            ("public/tools/alpine-utils".into(), 1),
            ("team-a/alpine".into(), 1),
            // At byte 2 of the last component.
            ("myalpine".into(), 3),
            // In the first component only.
            ("alpinelinux/tools".into(), 10),
            // Only inside a middle component, at byte 7 of the name.
            ("mirror/alpine-edge/base".into(), 800),
        ]
    );
    Ok(())
}

#[test]
fn an_exact_name_ranks_zero_and_a_path_matches_component_by_component() -> Result<()> {
    let fixture = Fixture::start()?;

    let exact = search(&fixture, Some(ADMIN.0), "myalpine")?;
    let path = search(&fixture, Some(ADMIN.0), "public/alpine")?;
    let prefix = search(&fixture, Some(ADMIN.0), "infra/mon")?;

    assert_eq!(ranked(&exact), [("myalpine".to_owned(), 0)]);
    assert_eq!(
        ranked(&path),
        [
            ("public/alpine".to_owned(), 0),
            ("public/tools/alpine-utils".to_owned(), 1)
        ]
    );
    // `infra/mon` is a prefix of both names: medium priority, 10.
    let mut prefix = ranked(&prefix);
    prefix.sort();
    assert_eq!(
        prefix,
        [
            ("infra/monitoring/grafana".to_owned(), 10),
            ("infra/monitoring/prometheus".to_owned(), 10)
        ]
    );
    Ok(())
}

#[test]
fn the_query_is_trimmed_stripped_of_slashes_and_lower_cased() -> Result<()> {
    let fixture = Fixture::start()?;

    let plain = search(&fixture, Some(ADMIN.0), "alpine")?;
    let messy = search(&fixture, Some(ADMIN.0), "  /ALPINE/ ")?;

    let sorted = |v: &Value| {
        let mut r = ranked(v);
        r.sort();
        r
    };
    assert_eq!(sorted(&messy), sorted(&plain));
    Ok(())
}

#[test]
fn an_empty_query_finds_every_readable_repository_at_rank_one() -> Result<()> {
    let fixture = Fixture::start()?;

    let result = search(&fixture, Some(DEV.0), "")?;

    let mut found = ranked(&result);
    found.sort();
    let mut expected: Vec<(String, i64)> = fixture
        .repos_for(Some(DEV.0))
        .iter()
        .map(|r| (r.name.clone(), 1))
        .collect();
    expected.sort();
    assert_eq!(found, expected);
    Ok(())
}

#[test]
fn repo_colon_tag_finds_the_tags_of_that_repository_starting_with_the_prefix() -> Result<()> {
    let fixture = Fixture::start()?;

    let result = search(&fixture, None, "PUBLIC/ALPINE:3.1")?;
    let none = search(&fixture, None, "public/alp:3")?;

    assert_eq!(
        image_names(&result["Images"]),
        ["public/alpine:3.18", "public/alpine:3.19"]
    );
    assert_eq!(result["Repos"], Value::Null);
    assert_eq!(result["Layers"], json!([]));
    assert_eq!(result["Page"], json!({"TotalCount": 2, "ItemCount": 2}));
    // The repository must be named exactly.
    assert_eq!(none["Images"], json!([]));
    assert_eq!(none["Page"], json!({"TotalCount": 0, "ItemCount": 0}));
    Ok(())
}

#[test]
fn colon_tag_finds_every_tag_containing_the_text_in_every_repository() -> Result<()> {
    let fixture = Fixture::start()?;

    let result = search(&fixture, Some(ADMIN.0), ":3.19")?;

    assert_eq!(
        image_names(&result["Images"]),
        [
            "infra/alpine-mirror:3.19",
            "library/alpine:3.19",
            "public/alpine:3.19",
            "team-a/alpine:3.19-custom"
        ]
    );
    assert_eq!(result["Repos"], Value::Null);
    assert_eq!(result["Layers"], json!([]));
    assert_eq!(result["Page"], json!({"TotalCount": 4, "ItemCount": 4}));
    Ok(())
}

#[test]
fn a_digest_finds_every_image_with_that_manifest_config_or_layer() -> Result<()> {
    let fixture = Fixture::start()?;
    let layer = shared_layer(&fixture);
    let nginx = fixture.image("public/nginx", "1.26");

    let by_layer = search(&fixture, Some(ADMIN.0), &layer[..19])?;
    let by_manifest = search(&fixture, Some(ADMIN.0), &nginx.digest)?;
    let by_config = search(&fixture, Some(ADMIN.0), &nginx.manifests[0].config_digest)?;

    assert_eq!(
        image_names(&by_layer["Images"]),
        [
            "public/app:1.0",
            "public/app:2.0",
            "public/base:1.0",
            "team-a/api:v2.0"
        ]
    );
    assert_eq!(by_layer["Repos"], Value::Null);
    assert_eq!(by_layer["Page"], json!({"TotalCount": 4, "ItemCount": 4}));
    assert_eq!(image_names(&by_manifest["Images"]), ["public/nginx:1.26"]);
    assert_eq!(image_names(&by_config["Images"]), ["public/nginx:1.26"]);
    Ok(())
}

#[test]
fn a_digest_inside_an_index_finds_the_index_with_only_that_manifest() -> Result<()> {
    let fixture = Fixture::start()?;
    let index = fixture.image("public/alpine", "3.19");
    let arm64 = &index.manifests[1];
    let query = format!(
        "{{GlobalSearch(query:\"{}\"){{Images{{RepoName Tag Digest Manifests{{Digest Platform{{Os Arch}}}}}}}}}}",
        arm64.digest
    );

    let data = fixture.anonymous().data(&query)?;

    let images = &data["GlobalSearch"]["Images"];
    assert_eq!(image_names(images), ["public/alpine:3.19"]);
    assert_eq!(images[0]["Digest"], index.digest.as_str());
    assert_eq!(
        images[0]["Manifests"],
        json!([{ "Digest": arm64.digest, "Platform": { "Os": "linux", "Arch": "arm64" } }])
    );
    Ok(())
}

#[test]
fn image_list_for_digest_matches_digests_and_their_substrings() -> Result<()> {
    let fixture = Fixture::start()?;
    let layer = shared_layer(&fixture);
    let query = |id: &str| {
        format!("{{ImageListForDigest(id:\"{id}\"){{Page{{TotalCount ItemCount}} Results{{RepoName Tag Digest Size}}}}}}")
    };

    let full = fixture.anonymous().data(&query(&layer))?;
    let hex = fixture
        .anonymous()
        .data(&query(&layer["sha256:".len()..]))?;
    let everything = fixture.anonymous().data(&query("sha"))?;

    let results = &full["ImageListForDigest"]["Results"];
    assert_eq!(
        image_names(results),
        ["public/app:1.0", "public/app:2.0", "public/base:1.0"]
    );
    for image in results.as_array().into_iter().flatten() {
        let facts = fixture.image(
            image["RepoName"].as_str().unwrap_or_default(),
            image["Tag"].as_str().unwrap_or_default(),
        );
        expect::image_summary(&fixture, None, facts, image)?;
    }
    assert_eq!(
        image_names(&hex["ImageListForDigest"]["Results"]),
        image_names(results)
    );
    // Every digest contains "sha".
    assert_eq!(
        everything["ImageListForDigest"]["Page"],
        json!({"TotalCount": 17, "ItemCount": 17})
    );
    Ok(())
}

#[test]
fn a_query_of_256_bytes_is_searched_and_257_is_refused() -> Result<()> {
    let fixture = Fixture::start()?;
    let long = |n: usize| {
        format!(
            "{{GlobalSearch(query:\"{}\"){{Page{{TotalCount}}}}}}",
            "a".repeat(n)
        )
    };

    let fits = fixture.as_admin().data(&long(256))?;
    let refused = fixture.as_admin().get(&long(257))?;

    assert_eq!(fits["GlobalSearch"]["Page"]["TotalCount"], 0);
    refused.ensure_resolver_error(
        "GlobalSearch",
        "max string size limit exceeded for query parameter. max=256 current=257 request parameter has invalid value",
    )
}

#[test]
fn a_query_that_is_no_name_tag_or_digest_is_invalid() -> Result<()> {
    let fixture = Fixture::start()?;

    for query in ["alpine@sha", ":", "@"] {
        let answer = fixture.as_admin().get(&format!(
            "{{GlobalSearch(query:\"{query}\"){{Repos{{Name}}}}}}"
        ))?;

        answer.ensure_resolver_error("GlobalSearch", "invalid search query")?;
    }
    Ok(())
}

#[test]
fn a_repo_tag_query_with_two_colons_cannot_be_parsed() -> Result<()> {
    let fixture = Fixture::start()?;

    let answer = fixture
        .as_admin()
        .get("{GlobalSearch(query:\"public/alpine:3:19\"){Images{Tag}}}")?;

    answer.ensure_resolver_error(
        "GlobalSearch",
        "failed to parse search text, invalid format invalid image reference format, use [repo:tag] or [repo@digest]",
    )
}

#[test]
fn global_search_finds_only_what_the_caller_may_read() -> Result<()> {
    let fixture = Fixture::start()?;

    let dev = search(&fixture, Some(DEV.0), "alpine")?;
    let anonymous = search(&fixture, None, "alpine")?;
    let dev_tags = search(&fixture, Some(DEV.0), ":3.19")?;

    assert_eq!(column(&dev["Repos"], "Name"), ["team-a/alpine"]);
    let mut public = column(&anonymous["Repos"], "Name");
    public.sort();
    assert_eq!(public, ["public/alpine", "public/tools/alpine-utils"]);
    assert_eq!(
        image_names(&dev_tags["Images"]),
        ["team-a/alpine:3.19-custom"]
    );
    Ok(())
}
