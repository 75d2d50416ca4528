//! Single-image and single-repository queries (`Image`, `ImageList` of one repository,
//! `ExpandedRepoInfo`, `Derived`/`BaseImageList`, `Referrers`) answer zot's values and refuse what
//! zot refuses, with zot's messages (zot-reference §1.5, §4.3).

use anyhow::Result;
use flotilla_e2e::search_fixture::catalog::{ATTESTATION_TYPE, SBOM_TYPE};
use flotilla_e2e::search_fixture::{column, expect, Fixture, ADMIN};
use serde_json::{json, Value};

fn error_of(fixture: &Fixture, query: &str) -> Result<Value> {
    Ok(fixture.as_admin().get(query)?.body)
}

#[test]
fn image_list_of_one_repository_lists_each_of_its_tags() -> Result<()> {
    let fixture = Fixture::start()?;
    let query = "{ImageList(repo:\"public/alpine\"){Page{TotalCount ItemCount} Results{RepoName Tag Digest MediaType Size LastUpdated IsSigned Vendor Description}}}";

    let data = fixture.anonymous().data(query)?;

    let results = &data["ImageList"]["Results"];
    assert_eq!(column(results, "Tag"), ["3.18", "3.19", "3.20", "latest"]);
    for image in results.as_array().into_iter().flatten() {
        let tag = image["Tag"].as_str().unwrap_or_default();
        expect::image_summary(&fixture, None, fixture.image("public/alpine", tag), image)?;
    }
    assert_eq!(
        data["ImageList"]["Page"],
        json!({"TotalCount": 4, "ItemCount": 4})
    );
    Ok(())
}

#[test]
fn expanded_repo_info_puts_images_without_a_time_last() -> Result<()> {
    let fixture = Fixture::start()?;

    let data = fixture.as_admin().data(
        "{ExpandedRepoInfo(repo:\"team-a/tools/cli\"){Images{Tag LastUpdated ArtifactType}}}",
    )?;

    let images = &data["ExpandedRepoInfo"]["Images"];
    assert_eq!(column(images, "Tag"), ["1.0", "sbom"]);
    assert_eq!(images[1]["LastUpdated"], Value::Null);
    assert_eq!(images[1]["ArtifactType"], SBOM_TYPE);
    Ok(())
}

#[test]
fn with_scanning_off_images_have_empty_summaries_and_manifests_none() -> Result<()> {
    let fixture = Fixture::start()?;
    let query = "{Image(image:\"public/alpine:3.19\"){Vulnerabilities{MaxSeverity Count UnknownCount LowCount MediumCount HighCount CriticalCount} Manifests{Digest Vulnerabilities{MaxSeverity Count}}}}";

    let data = fixture.anonymous().data(query)?;

    let image = &data["Image"];
    assert_eq!(
        image["Vulnerabilities"],
        json!({"MaxSeverity": "", "Count": 0, "UnknownCount": 0, "LowCount": 0, "MediumCount": 0, "HighCount": 0, "CriticalCount": 0})
    );
    for manifest in image["Manifests"].as_array().into_iter().flatten() {
        assert_eq!(manifest["Vulnerabilities"], Value::Null, "{manifest}");
    }
    Ok(())
}

#[test]
fn image_needs_a_tag_of_a_known_repository() -> Result<()> {
    let fixture = Fixture::start()?;
    let cases = [
        ("public/alpine", "no reference provided"),
        (
            "no/such/repo:1",
            "repo metadata not found for given repo name",
        ),
        ("public/alpine:9.9", "can't find image: public/alpine:9.9"),
    ];

    for (image, message) in cases {
        let answer = fixture
            .as_admin()
            .get(&format!("{{Image(image:\"{image}\"){{Tag}}}}"))?;

        answer.ensure_resolver_error("Image", message)?;
    }
    Ok(())
}

#[test]
fn derived_and_base_images_need_a_tag_of_a_known_image() -> Result<()> {
    let fixture = Fixture::start()?;
    let cases = [
        ("public/base", "no reference provided"),
        ("no/such/repo:1", "repository not found"),
        ("public/base:9.9", "can't find image: public/base:9.9"),
    ];

    for field in ["DerivedImageList", "BaseImageList"] {
        for (image, message) in cases {
            let answer = fixture
                .as_admin()
                .get(&format!("{{{field}(image:\"{image}\"){{Results{{Tag}}}}}}"))?;

            answer.ensure_resolver_error(field, message)?;
        }
    }
    Ok(())
}

#[test]
fn an_image_with_no_base_or_derived_image_lists_none() -> Result<()> {
    let fixture = Fixture::start()?;

    let data = fixture.as_admin().data(
        "{DerivedImageList(image:\"public/app:2.0\"){Page{TotalCount ItemCount} Results{Tag}} \
          BaseImageList(image:\"public/base:1.0\"){Page{TotalCount ItemCount} Results{Tag}}}",
    )?;

    for field in ["DerivedImageList", "BaseImageList"] {
        assert_eq!(data[field]["Results"], json!([]), "{field}");
        assert_eq!(
            data[field]["Page"],
            json!({"TotalCount": 0, "ItemCount": 0}),
            "{field}"
        );
    }
    Ok(())
}

#[test]
fn referrers_can_be_filtered_by_artifact_type() -> Result<()> {
    let fixture = Fixture::start()?;
    let (subject, sbom, attestation) = fixture.referred();
    let query = |types: &str| {
        format!("{{Referrers(repo:\"team-a/tools/cli\" digest:\"{subject}\" type:{types}){{Digest ArtifactType}}}}")
    };
    let digests = |data: &Value| {
        let mut d = column(&data["Referrers"], "Digest");
        d.sort();
        d
    };

    let only_sbom = fixture
        .as_admin()
        .data(&query(&json!([SBOM_TYPE]).to_string()))?;
    let both = fixture
        .as_admin()
        .data(&query(&json!([SBOM_TYPE, ATTESTATION_TYPE]).to_string()))?;
    let none = fixture
        .as_admin()
        .data(&query("[\"application/vnd.flotilla.none\"]"))?;
    let all = fixture.as_admin().data(&query("[]"))?;

    assert_eq!(digests(&only_sbom), [sbom]);
    let mut expected = vec![sbom.to_owned(), attestation.to_owned()];
    expected.sort();
    assert_eq!(digests(&both), expected);
    assert_eq!(none["Referrers"], json!([]));
    assert_eq!(digests(&all), expected);
    Ok(())
}

#[test]
fn referrers_of_an_image_without_any_is_an_empty_list() -> Result<()> {
    let fixture = Fixture::start()?;
    let digest = &fixture.image("team-a/api", "v1.0").digest;

    let data = fixture.as_admin().data(&format!(
        "{{Referrers(repo:\"team-a/api\" digest:\"{digest}\"){{Digest}}}}"
    ))?;

    assert_eq!(data["Referrers"], json!([]));
    Ok(())
}

#[test]
fn referrers_need_a_valid_digest_in_a_known_repository() -> Result<()> {
    let fixture = Fixture::start()?;
    let digest = &fixture.image("team-a/api", "v1.0").digest;

    let bad = fixture
        .as_admin()
        .get("{Referrers(repo:\"team-a/api\" digest:\"sha256:nope\"){Digest}}")?;
    let unknown = error_of(
        &fixture,
        &format!("{{Referrers(repo:\"no/such/repo\" digest:\"{digest}\"){{Digest}}}}"),
    )?;

    assert_eq!(bad.status, 200);
    assert!(bad.data().is_null(), "{}", bad.body);
    let message = bad.message().unwrap_or_default();
    assert!(
        message.starts_with("bad digest string from request 'sha256:nope'"),
        "{}",
        bad.body
    );
    assert_eq!(bad.body["errors"][0]["path"], json!(["Referrers"]));
    assert_eq!(
        unknown["errors"][0]["message"],
        "repo metadata not found for given repo name"
    );
    assert_eq!(unknown["data"], Value::Null);
    Ok(())
}

#[test]
fn expanded_repo_info_of_an_unknown_repository_is_an_error() -> Result<()> {
    let fixture = Fixture::start()?;

    let answer = fixture
        .search(Some(ADMIN.0))
        .get("{ExpandedRepoInfo(repo:\"no/such/repo\"){Summary{Name}}}")?;

    answer.ensure_resolver_error(
        "ExpandedRepoInfo",
        "repo metadata not found for given repo name",
    )
}
