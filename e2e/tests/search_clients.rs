//! What skopeo and oras pushed shows up in search as zot shows it (zot-reference §1.7): digests the
//! clients report, sizes as strings, platforms, annotation fields with their fallbacks, signatures,
//! referrers, times, pushers, downloads, and who may delete.

use anyhow::{Context, Result};
use flotilla_e2e::search_fixture::catalog::{MODEL_TYPE, SBOM_TYPE};
use flotilla_e2e::search_fixture::{expect, Fixture, ADMIN, DEV};
use flotilla_e2e::Skopeo;
use serde_json::{json, Value};

const IMAGE_FIELDS: &str =
    "RepoName Tag Digest MediaType Size LastUpdated Description Title Vendor \
    Licenses Source Documentation Authors Labels IsSigned SignatureInfo{Tool IsTrusted Author} \
    ArtifactType DownloadCount PushedBy PushTimestamp TaggedTimestamp LastPullTimestamp \
    Manifests{Digest ConfigDigest Size Platform{Os Arch} LastUpdated ArtifactType \
    Layers{Size Digest} DownloadCount IsSigned}";

fn image(fixture: &Fixture, user: Option<&str>, repo: &str, tag: &str) -> Result<Value> {
    let data = fixture.search(user).data(&format!(
        "{{Image(image:\"{repo}:{tag}\"){{{IMAGE_FIELDS}}}}}"
    ))?;
    Ok(data["Image"].clone())
}

fn skopeo_inspect_raw(fixture: &Fixture, repo_tag: &str) -> Result<Value> {
    let skopeo = Skopeo::as_user(ADMIN.0, ADMIN.1)?;
    Ok(serde_json::from_slice(
        &skopeo.inspect_raw(&fixture.node.image(repo_tag))?,
    )?)
}

#[test]
fn an_image_pushed_by_skopeo_shows_its_digest_size_platform_and_annotations() -> Result<()> {
    let fixture = Fixture::start()?;
    let skopeo = Skopeo::as_user(ADMIN.0, ADMIN.1)?;

    let got = image(&fixture, Some(ADMIN.0), "public/alpine", "3.18")?;

    let inspected = skopeo.inspect(&fixture.node.image("public/alpine:3.18"))?;
    assert_eq!(got["Digest"], inspected["Digest"]);
    let raw: Value =
        serde_json::from_slice(&skopeo.inspect_raw(&fixture.node.image("public/alpine:3.18"))?)?;
    let manifest_size = skopeo
        .inspect_raw(&fixture.node.image("public/alpine:3.18"))?
        .len() as u64;
    let blobs: u64 = std::iter::once(&raw["config"])
        .chain(raw["layers"].as_array().into_iter().flatten())
        .map(|d| d["size"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(got["Size"], json!((manifest_size + blobs).to_string()));
    assert_eq!(
        got["Manifests"][0]["Platform"],
        json!({"Os": "linux", "Arch": "amd64"})
    );
    assert_eq!(got["Description"], "Alpine Linux 3.18");
    assert_eq!(got["Vendor"], "Alpine Linux");
    assert_eq!(got["Licenses"], "Apache-2.0");
    assert_eq!(got["LastUpdated"], "2023-06-01T10:00:00Z");
    expect::image_summary(
        &fixture,
        Some(ADMIN.0),
        fixture.image("public/alpine", "3.18"),
        &got,
    )
}

#[test]
fn a_multi_arch_index_pushed_by_skopeo_lists_each_platform_and_sums_their_sizes() -> Result<()> {
    let fixture = Fixture::start()?;

    let got = image(&fixture, None, "public/alpine", "3.19")?;

    let index = skopeo_inspect_raw(&fixture, "public/alpine:3.19")?;
    let listed: Vec<(Value, Value)> = index["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| (m["digest"].clone(), m["platform"]["architecture"].clone()))
        .collect();
    let platforms: Vec<(Value, Value)> = got["Manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| (m["Digest"].clone(), m["Platform"]["Arch"].clone()))
        .collect();
    assert_eq!(platforms.len(), 3);
    for ((digest, arch), (got_digest, got_arch)) in listed.iter().zip(&platforms) {
        assert_eq!(got_digest, digest);
        assert!(got_arch
            .as_str()
            .unwrap_or_default()
            .starts_with(arch.as_str().unwrap_or("?")));
    }
    assert_eq!(platforms[2].1, "arm/v7");
    let sum: u64 = got["Manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            m["Size"]
                .as_str()
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(0)
        })
        .sum();
    assert_eq!(
        got["Size"],
        json!(sum.to_string()),
        "an index's size is its manifests' sum"
    );
    assert_eq!(got["MediaType"], "application/vnd.oci.image.index.v1+json");
    expect::image_summary(&fixture, None, fixture.image("public/alpine", "3.19"), &got)
}

#[test]
fn an_index_takes_its_own_annotations_first_then_its_first_manifests() -> Result<()> {
    let fixture = Fixture::start()?;

    let alpine = image(&fixture, None, "public/alpine", "3.19")?;
    let busybox = image(&fixture, None, "public/busybox", "1.37")?;

    assert_eq!(alpine["Description"], "Alpine Linux 3.19, multi-arch");
    assert_eq!(alpine["LastUpdated"], "2023-12-07T00:00:00Z");
    assert_eq!(alpine["Vendor"], "Alpine Linux", "from the first manifest");
    // No index annotations: the first manifest's, not the newest manifest's.
    assert_eq!(busybox["Description"], "BusyBox 1.37");
    assert_eq!(busybox["LastUpdated"], "2024-09-26T00:00:00Z");
    Ok(())
}

#[test]
fn config_labels_fill_the_fields_annotations_leave_empty() -> Result<()> {
    let fixture = Fixture::start()?;

    let got = image(&fixture, None, "public/busybox", "1.36")?;

    assert_eq!(got["Description"], "BusyBox 1.36 (from a label)");
    assert_eq!(got["Licenses"], "GPL-2.0");
    assert_eq!(
        got["Vendor"], "",
        "absent fields are empty strings, not null"
    );
    assert_eq!(
        got["LastUpdated"], "2023-09-01T00:00:00Z",
        "the config's created"
    );
    Ok(())
}

#[test]
fn last_updated_prefers_the_created_annotation_but_newest_image_the_config_time() -> Result<()> {
    let fixture = Fixture::start()?;

    let mainline = image(&fixture, None, "public/nginx", "mainline")?;
    let repo = fixture
        .anonymous()
        .data("{ExpandedRepoInfo(repo:\"public/nginx\"){Summary{NewestImage{Tag}}}}")?;

    assert_eq!(mainline["LastUpdated"], "2025-02-05T00:00:00Z");
    assert_eq!(
        repo["ExpandedRepoInfo"]["Summary"]["NewestImage"]["Tag"],
        "1.26"
    );
    Ok(())
}

#[test]
fn an_image_without_any_time_has_a_null_last_updated() -> Result<()> {
    let fixture = Fixture::start()?;

    let got = image(&fixture, Some(ADMIN.0), "archive/old", "undated")?;

    assert_eq!(got["LastUpdated"], Value::Null);
    assert_eq!(got["Manifests"][0]["LastUpdated"], Value::Null);
    Ok(())
}

#[test]
fn an_artifact_pushed_by_oras_shows_its_type_digest_and_size() -> Result<()> {
    let fixture = Fixture::start()?;
    let facts = fixture.image("ml/models/bert", "v1");

    let got = image(&fixture, Some(ADMIN.0), "ml/models/bert", "v1")?;

    let manifest: Value = serde_json::from_slice(&fixture.blob("ml/models/bert", &facts.digest)?)?;
    assert_eq!(
        got["Digest"],
        facts.digest.as_str(),
        "the digest oras reported"
    );
    assert_eq!(got["ArtifactType"], MODEL_TYPE);
    assert_eq!(
        got["MediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        got["Manifests"][0]["Platform"],
        json!({"Os": "", "Arch": ""})
    );
    assert_eq!(
        got["Manifests"][0]["Layers"][0]["Digest"],
        manifest["layers"][0]["digest"]
    );
    assert_eq!(
        got["LastUpdated"],
        Value::Null,
        "an artifact config has no time"
    );
    expect::image_summary(&fixture, Some(ADMIN.0), facts, &got)
}

#[test]
fn an_oras_artifact_with_a_subject_is_a_referrer_of_it() -> Result<()> {
    let fixture = Fixture::start()?;
    let (subject, sbom, attestation) = fixture.referred();

    let data = fixture.as_dev().data(
        "{Image(image:\"team-a/tools/cli:1.0\"){Digest Referrers{MediaType ArtifactType Size Digest Annotations{Key Value}}}}",
    )?;

    let referrers = &data["Image"]["Referrers"];
    assert_eq!(data["Image"]["Digest"], subject);
    let sbom_entry = referrers
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["Digest"] == sbom)
        .context("the oras SBOM is no referrer")?;
    assert_eq!(sbom_entry["ArtifactType"], SBOM_TYPE);
    assert!(
        sbom_entry["Size"].is_u64(),
        "Referrer.Size is an Int: {sbom_entry}"
    );
    assert!(referrers
        .as_array()
        .into_iter()
        .flatten()
        .any(|r| r["Digest"] == attestation));
    expect::referrers(&fixture, "team-a/tools/cli", subject, referrers)
}

#[test]
fn sizes_are_strings_except_a_referrers() -> Result<()> {
    let fixture = Fixture::start()?;
    let (subject, ..) = fixture.referred();
    let query = format!(
        "{{ExpandedRepoInfo(repo:\"team-a/tools/cli\"){{Summary{{Size}} Images{{Size Manifests{{Size Layers{{Size}}}}}}}} \
         Referrers(repo:\"team-a/tools/cli\" digest:\"{subject}\"){{Size}}}}"
    );

    let data = fixture.as_admin().data(&query)?;

    let info = &data["ExpandedRepoInfo"];
    assert!(info["Summary"]["Size"].is_string(), "{info}");
    for image in info["Images"].as_array().into_iter().flatten() {
        assert!(image["Size"].is_string(), "{image}");
        for manifest in image["Manifests"].as_array().into_iter().flatten() {
            assert!(manifest["Size"].is_string(), "{manifest}");
            assert!(
                manifest["Layers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .all(|l| l["Size"].is_string()),
                "{manifest}"
            );
        }
    }
    assert!(
        data["Referrers"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|r| r["Size"].is_u64()),
        "{data}"
    );
    Ok(())
}

#[test]
fn a_repository_size_counts_each_blob_once() -> Result<()> {
    let fixture = Fixture::start()?;

    for repo in ["public/alpine", "public/app", "team-a/tools/cli"] {
        let data = fixture
            .as_admin()
            .data(&format!("{{ExpandedRepoInfo(repo:\"{repo}\"){{Summary{{Name Size Platforms{{Os Arch}} Vendors}}}}}}"))?;

        expect::repo_summary(
            &fixture,
            Some(ADMIN.0),
            &data["ExpandedRepoInfo"]["Summary"],
        )?;
    }
    Ok(())
}

#[test]
fn a_cosign_signature_tag_signs_its_digest_and_is_no_image() -> Result<()> {
    let fixture = Fixture::start()?;

    let data = fixture.anonymous().data(
        "{ImageList(repo:\"public/alpine\"){Results{Tag IsSigned SignatureInfo{Tool IsTrusted Author}}}}",
    )?;

    let results = data["ImageList"]["Results"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let signed: Vec<(&str, &Value)> = results
        .iter()
        .map(|i| (i["Tag"].as_str().unwrap_or_default(), &i["IsSigned"]))
        .collect();
    assert_eq!(
        signed,
        [
            ("3.18", &json!(false)),
            ("3.19", &json!(false)),
            ("3.20", &json!(true)),
            ("latest", &json!(true))
        ]
    );
    assert_eq!(
        results[2]["SignatureInfo"],
        json!([{"Tool": "cosign", "IsTrusted": false, "Author": ""}])
    );
    assert_eq!(results[0]["SignatureInfo"], json!([]));
    Ok(())
}

#[test]
fn push_and_tag_times_and_the_pusher_are_recorded() -> Result<()> {
    let fixture = Fixture::start()?;

    let got = image(&fixture, Some(DEV.0), "team-a/api", "v2.0")?;

    assert_eq!(got["PushedBy"], ADMIN.0);
    assert!(got["PushTimestamp"].is_string(), "{got}");
    assert!(got["TaggedTimestamp"].is_string(), "{got}");
    expect::image_summary(
        &fixture,
        Some(DEV.0),
        fixture.image("team-a/api", "v2.0"),
        &got,
    )
}

#[test]
fn each_manifest_get_by_tag_counts_one_download_of_its_digest() -> Result<()> {
    let fixture = Fixture::start()?;
    let repos = "{RepoListWithNewestImage{Results{Name DownloadCount}}}";

    let before = image(&fixture, None, "public/alpine", "3.20")?;
    fixture.http(None).manifest("public/alpine", "3.20")?;
    fixture
        .http(None)
        .head("/v2/public/alpine/manifests/latest")
        .send()?;
    let after = image(&fixture, None, "public/alpine", "latest")?;
    let listed = fixture.anonymous().data(repos)?;

    // Three GETs of `latest` at build time, one of `3.20` now; a HEAD is no download.
    assert_eq!(before["DownloadCount"], 3);
    assert_eq!(after["DownloadCount"], 4, "3.20 and latest are one digest");
    assert!(after["LastPullTimestamp"].is_string(), "{after}");
    let alpine = listed["RepoListWithNewestImage"]["Results"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["Name"] == "public/alpine")
        .context("public/alpine not listed")?;
    // A repository adds up its tags' counts: 3.20 and latest, 4 each.
    assert_eq!(alpine["DownloadCount"], 8);
    Ok(())
}

#[test]
fn only_a_caller_who_may_delete_sees_tags_as_deletable() -> Result<()> {
    let fixture = Fixture::start()?;
    let query =
        |repo: &str| format!("{{ExpandedRepoInfo(repo:\"{repo}\"){{Images{{Tag IsDeletable}}}}}}");

    for (user, repo, deletable) in [
        (Some(ADMIN.0), "team-a/api", true),
        (Some(DEV.0), "team-a/api", false),
        (None, "public/alpine", false),
    ] {
        let data = fixture.search(user).data(&query(repo))?;

        let images = data["ExpandedRepoInfo"]["Images"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(!images.is_empty(), "{user:?} sees no image of {repo}");
        for image in images {
            assert_eq!(
                image["IsDeletable"], deletable,
                "{user:?} on {repo}: {image}"
            );
        }
    }
    Ok(())
}
