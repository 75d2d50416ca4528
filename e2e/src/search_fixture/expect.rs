//! Checks a `RepoSummary` or `ImageSummary` from an answer against the facts, field by field.
//!
//! Only the fields the query selected are in the answer, so only those are
//! checked; every check names the item and the field, and what zot would
//! have answered (zot-reference §1.7).

use std::collections::BTreeSet;

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Map, Value};

use super::values::{platforms, strings, time};
use super::{catalog, instant, Fixture, ImageFacts, ManifestFacts, ADMIN};

/// What a cosign signature without trusted keys looks like in `SignatureInfo`.
fn cosign_info() -> Value {
    json!({ "Tool": "cosign", "IsTrusted": false, "Author": "" })
}

/// Checks every selected field of repository summary `got`, as `user` sees it.
pub fn repo_summary(fx: &Fixture, user: Option<&str>, got: &Value) -> Result<()> {
    let name = got["Name"]
        .as_str()
        .with_context(|| format!("a RepoSummary without Name: {got}"))?;
    ensure!(
        catalog::readable_by(user, name),
        "{name} is listed to {user:?}, who may not read it"
    );
    let facts = fx.repo(name);
    let fields = object(got)?;
    let ctx = |field: &str| format!("RepoSummary {name}.{field}");
    for (field, value) in fields {
        match field.as_str() {
            "Name" | "Rank" => {}
            "Size" => same(value, &json!(facts.size.to_string()), &ctx(field))?,
            "DownloadCount" => same(value, &json!(facts.downloads), &ctx(field))?,
            "StarCount" => same(value, &json!(facts.stars), &ctx(field))?,
            "IsStarred" => {
                let starred = user.is_some_and(|u| fx.starred_by(u).contains(name));
                same(value, &json!(starred), &ctx(field))?
            }
            "IsBookmarked" => {
                let marked = user.is_some_and(|u| fx.bookmarked_by(u).contains(name));
                same(value, &json!(marked), &ctx(field))?
            }
            "Platforms" => {
                let got: BTreeSet<(String, String)> = platforms(value)?.into_iter().collect();
                ensure!(
                    got == facts.platforms,
                    "{}: got {got:?}, expected {:?}",
                    ctx(field),
                    facts.platforms
                );
            }
            "Vendors" => {
                let got: BTreeSet<String> = strings(value)?.into_iter().collect();
                ensure!(
                    got == facts.vendors,
                    "{}: got {got:?}, expected {:?}",
                    ctx(field),
                    facts.vendors
                );
            }
            "LastUpdated" => repo_last_updated(fx, name, value).with_context(|| ctx(field))?,
            "NewestImage" => {
                let tag = value["Tag"].as_str().unwrap_or(&facts.newest);
                ensure!(
                    facts.newest_ties.iter().any(|t| t == tag),
                    "{}: got tag {tag}, expected {} (by config time)",
                    ctx(field),
                    facts.newest
                );
                image_summary(fx, user, fx.image(name, tag), value).with_context(|| ctx(field))?
            }
            other => bail!("{}: the checker does not know this field", ctx(other)),
        }
    }
    Ok(())
}

/// A repository's LastUpdated: its newest config time or its latest tag
/// time, whichever is later (zot-reference §1.3.3); only `infra/future`'s
/// config is later than the pushes.
fn repo_last_updated(fx: &Fixture, name: &str, value: &Value) -> Result<()> {
    let got = time(value)?.context("LastUpdated is null")?;
    if name == "infra/future" {
        ensure!(
            got == instant("2099-01-01T00:00:00Z").unwrap_or_default(),
            "got {value}, expected 2099-01-01T00:00:00Z"
        );
        return Ok(());
    }
    within_push_window(fx, got, value)
}

/// Checks every selected field of image summary `got` against `facts`, as `user` sees it.
pub fn image_summary(
    fx: &Fixture,
    user: Option<&str>,
    facts: &ImageFacts,
    got: &Value,
) -> Result<()> {
    let ctx = |field: &str| format!("ImageSummary {}:{}.{field}", facts.repo, facts.tag);
    for (field, value) in object(got)? {
        let text = |s: &str| json!(s);
        let expected = match field.as_str() {
            "RepoName" => text(&facts.repo),
            "Tag" => text(&facts.tag),
            "Digest" => text(&facts.digest),
            "MediaType" => text(&facts.media_type),
            "Size" => text(&facts.size.to_string()),
            "DownloadCount" => json!(facts.downloads),
            "Description" => text(&facts.fields.description),
            "Title" => text(&facts.fields.title),
            "Vendor" => text(&facts.fields.vendor),
            "Licenses" => text(&facts.fields.licenses),
            "Source" => text(&facts.fields.source),
            "Documentation" => text(&facts.fields.documentation),
            "Authors" => text(&facts.fields.authors),
            "Labels" => text(&facts.fields.labels),
            "IsSigned" => json!(facts.signed),
            "ArtifactType" => text(&facts.artifact_type),
            "PushedBy" => text(ADMIN.0),
            "IsDeletable" => json!(user == Some(ADMIN.0)),
            "SignatureInfo" => signature_info(facts.signed),
            "LastUpdated" => {
                same_time(value, facts.last_updated.as_deref()).with_context(|| ctx(field))?;
                continue;
            }
            "PushTimestamp" | "TaggedTimestamp" => {
                let got = time(value)?.with_context(|| format!("{} is null", ctx(field)))?;
                within_push_window(fx, got, value).with_context(|| ctx(field))?;
                continue;
            }
            "LastPullTimestamp" => {
                last_pull(fx, facts, value).with_context(|| ctx(field))?;
                continue;
            }
            "Vulnerabilities" => {
                no_vulnerabilities(value).with_context(|| ctx(field))?;
                continue;
            }
            "Manifests" => {
                let list = value
                    .as_array()
                    .with_context(|| format!("{}: not a list", ctx(field)))?;
                ensure!(
                    list.len() == facts.manifests.len(),
                    "{}: {} manifests, expected {}",
                    ctx(field),
                    list.len(),
                    facts.manifests.len()
                );
                for manifest in list {
                    manifest_summary(fx, facts, manifest).with_context(|| ctx(field))?;
                }
                continue;
            }
            "Referrers" => {
                referrers(fx, &facts.repo, &facts.digest, value).with_context(|| ctx(field))?;
                continue;
            }
            other => bail!("{}: the checker does not know this field", ctx(other)),
        };
        same(value, &expected, &ctx(field))?;
    }
    Ok(())
}

/// One `ManifestSummary` of `image`, found by its digest.
pub fn manifest_summary(fx: &Fixture, image: &ImageFacts, got: &Value) -> Result<()> {
    let digest = got["Digest"]
        .as_str()
        .context("a ManifestSummary without Digest")?;
    let facts = image
        .manifests
        .iter()
        .find(|m| m.digest == digest)
        .with_context(|| format!("{digest} is no manifest of {}:{}", image.repo, image.tag))?;
    let ctx = |field: &str| format!("ManifestSummary {digest}.{field}");
    let signed = image.manifests.len() == 1 && image.signed;
    for (field, value) in object(got)? {
        let expected = match field.as_str() {
            "Digest" => continue,
            "ConfigDigest" => json!(facts.config_digest),
            "Size" => json!(facts.size.to_string()),
            "Platform" => json!({ "Os": facts.os, "Arch": facts.arch }),
            "ArtifactType" => json!(facts.artifact_type),
            "IsSigned" => json!(signed),
            "SignatureInfo" => signature_info(signed),
            "DownloadCount" => json!(if image.manifests.len() == 1 {
                image.downloads
            } else {
                0
            }),
            "Layers" => layers(facts),
            "LastUpdated" => {
                same_time(value, facts.last_updated.as_deref()).with_context(|| ctx(field))?;
                continue;
            }
            "History" => {
                history(facts, value).with_context(|| ctx(field))?;
                continue;
            }
            // With scanning off zot fills only the image's summary and returns
            // before the manifests' (`convert/cve.go updateImageSummaryVulnerabilities`).
            "Vulnerabilities" => Value::Null,
            "Referrers" => {
                referrers(fx, &image.repo, &facts.digest, value).with_context(|| ctx(field))?;
                continue;
            }
            other => bail!("{}: the checker does not know this field", ctx(other)),
        };
        same_selected(value, &expected, &ctx(field))?;
    }
    Ok(())
}

fn layers(facts: &ManifestFacts) -> Value {
    json!(facts
        .layers
        .iter()
        .map(|(digest, size)| json!({ "Digest": digest, "Size": size.to_string() }))
        .collect::<Vec<_>>())
}

/// zot's history: one entry per config history step (the layer only on
/// non-empty steps), or one per layer with an empty description when the
/// config has no history (`convert/oci.go getAllHistory`).
fn history(facts: &ManifestFacts, got: &Value) -> Result<()> {
    let list = got.as_array().context("History is not a list")?;
    let layers = layers(facts);
    let layers = layers.as_array().cloned().unwrap_or_default();
    let expected: Vec<Value> = if facts.history.is_empty() {
        layers
            .iter()
            .map(|layer| json!({ "Layer": layer, "HistoryDescription": { "CreatedBy": null, "EmptyLayer": null } }))
            .collect()
    } else {
        let mut next = layers.iter();
        facts
            .history
            .iter()
            .map(|(by, empty)| {
                let layer = if *empty { Value::Null } else { next.next().cloned().unwrap_or(Value::Null) };
                json!({ "Layer": layer, "HistoryDescription": { "CreatedBy": by, "EmptyLayer": empty } })
            })
            .collect()
    };
    ensure!(
        list.len() == expected.len(),
        "{} entries, expected {}: {got}",
        list.len(),
        expected.len()
    );
    for (got, expected) in list.iter().zip(&expected) {
        same_selected(got, expected, "History entry")?;
    }
    Ok(())
}

/// Checks a `Referrers` list: the referrers of `digest` in `repo`, compared
/// as a set (zot's order is a map's).
pub fn referrers(fx: &Fixture, repo: &str, digest: &str, got: &Value) -> Result<()> {
    let expected = expected_referrers(fx, repo, digest)?;
    let got = got.as_array().context("Referrers is not a list")?;
    ensure!(
        got.len() == expected.len(),
        "{} referrers, expected {}: {got:?}",
        got.len(),
        expected.len()
    );
    for referrer in got {
        let digest = referrer["Digest"].as_str().unwrap_or_default();
        let want = expected
            .iter()
            .find(|r| r["Digest"] == digest)
            .with_context(|| format!("unexpected referrer {referrer}"))?;
        same_selected(referrer, want, "Referrer")?;
    }
    Ok(())
}

/// `Referrers` of `digest` in `repo` as zot answers them: the fixture's
/// SBOM and attestation for `team-a/tools/cli:1.0`, nothing elsewhere.
pub fn expected_referrers(fx: &Fixture, repo: &str, digest: &str) -> Result<Vec<Value>> {
    let (subject, sbom, attestation) = fx.referred();
    if repo != "team-a/tools/cli" || digest != subject {
        return Ok(Vec::new());
    }
    [sbom, attestation]
        .iter()
        .map(|d| {
            let bytes = fx.blob(repo, d)?;
            let manifest: Value = serde_json::from_slice(&bytes)?;
            let artifact_type = manifest["artifactType"]
                .as_str()
                .or(manifest["config"]["mediaType"].as_str())
                .unwrap_or_default();
            let annotations: Vec<Value> = manifest["annotations"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| json!({ "Key": k, "Value": v }))
                .collect();
            Ok(json!({
                "MediaType": manifest["mediaType"],
                "ArtifactType": artifact_type,
                "Size": bytes.len(),
                "Digest": d,
                "Annotations": annotations,
            }))
        })
        .collect()
}

fn signature_info(signed: bool) -> Value {
    if signed {
        json!([cosign_info()])
    } else {
        json!([])
    }
}

/// CVE scanning is off: every count 0 and `MaxSeverity` "" (zot-reference §1.7).
fn no_vulnerabilities(got: &Value) -> Result<()> {
    for (field, value) in object(got)? {
        let expected = if field == "MaxSeverity" {
            json!("")
        } else {
            json!(0)
        };
        ensure!(
            *value == expected,
            "Vulnerabilities.{field}: got {value}, expected {expected}"
        );
    }
    Ok(())
}

/// A pulled image's last pull happened during the build; a never-pulled
/// one answers the Unix epoch, not null: zot stores an empty protobuf
/// timestamp (`LastPullTimestamp: &timestamppb.Timestamp{}` in
/// `pkg/meta/boltdb/boltdb.go SetRepoReference`), which reads back as
/// 1970-01-01, and gqlgen writes only Go's zero time as null.
fn last_pull(fx: &Fixture, facts: &ImageFacts, value: &Value) -> Result<()> {
    let got = time(value)?
        .with_context(|| format!("null, expected a time ({} downloads)", facts.downloads))?;
    if facts.downloads == 0 {
        ensure!(
            got == 0,
            "got {value} for an image never pulled, expected 1970-01-01T00:00:00Z"
        );
        return Ok(());
    }
    within_push_window(fx, got, value)
}

fn within_push_window(fx: &Fixture, got: i128, value: &Value) -> Result<()> {
    let (from, until) = fx.pushed_between();
    let second = 1_000_000_000i128;
    ensure!(
        got >= i128::from(from) * second - second && got <= i128::from(until) * second + second,
        "{value} is not between the first push (unix {from}) and the last (unix {until})"
    );
    Ok(())
}

fn same_time(got: &Value, expected: Option<&str>) -> Result<()> {
    let got_instant = time(got)?;
    let expected_instant = expected.and_then(instant);
    ensure!(
        got_instant == expected_instant,
        "got {got}, expected {}",
        expected.map_or("null".to_owned(), |e| format!("{e:?}"))
    );
    Ok(())
}

fn same(got: &Value, expected: &Value, what: &str) -> Result<()> {
    ensure!(got == expected, "{what}: got {got}, expected {expected}");
    Ok(())
}

/// `got` must equal `expected` in every field `got` has (the selection);
/// lists compare element by element, annotation lists as sets.
fn same_selected(got: &Value, expected: &Value, what: &str) -> Result<()> {
    match (got, expected) {
        (Value::Object(got), Value::Object(expected)) => {
            for (key, value) in got {
                let want = expected
                    .get(key)
                    .with_context(|| format!("{what}: unexpected field {key}"))?;
                if key == "Annotations" {
                    let set = |v: &Value| -> BTreeSet<String> {
                        v.as_array()
                            .into_iter()
                            .flatten()
                            .map(Value::to_string)
                            .collect()
                    };
                    ensure!(
                        set(value) == set(want),
                        "{what}.{key}: got {value}, expected {want}"
                    );
                } else {
                    same_selected(value, want, &format!("{what}.{key}"))?;
                }
            }
            Ok(())
        }
        (Value::Array(got), Value::Array(expected)) => {
            ensure!(
                got.len() == expected.len(),
                "{what}: got {got:?}, expected {expected:?}"
            );
            for (g, e) in got.iter().zip(expected) {
                same_selected(g, e, what)?;
            }
            Ok(())
        }
        _ => same(got, expected, what),
    }
}

fn object(value: &Value) -> Result<&Map<String, Value>> {
    value
        .as_object()
        .with_context(|| format!("not an object: {value}"))
}

/// Fails unless `LastUpdated` never increases down `list`, with nulls last
/// (zot's `UPDATE_TIME`, zot-reference §1.3.3).
pub fn last_updated_descending(list: &Value) -> Result<()> {
    let times = list
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| time(&item["LastUpdated"]))
        .collect::<Result<Vec<_>>>()?;
    for (i, pair) in times.windows(2).enumerate() {
        let ordered = match (pair[0], pair[1]) {
            (Some(a), Some(b)) => a >= b,
            (_, None) => true,
            (None, Some(_)) => false,
        };
        ensure!(
            ordered,
            "LastUpdated increases at position {}: {list}",
            i + 1
        );
    }
    Ok(())
}
