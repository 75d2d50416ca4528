//! A node stopped and started again on its own data answers every search as before: push and tag
//! times, pushers, downloads, signatures, stars and bookmarks live in its metadata, not in memory.
//!
//! The other `search_*` tests start their nodes on a copy of one filled
//! node's data directory (see `flotilla_e2e::search_fixture`), so they rely
//! on exactly this; when it breaks, this test says so first.

use anyhow::Result;
use flotilla_e2e::search_fixture::{stop_gracefully, Fixture, ADMIN, DEV};
use serde_json::Value;

/// Every field a restart could lose, for every image and repository.
const IMAGES: &str = "{ImageList(repo:\"\"){Page{TotalCount} Results{RepoName Tag Digest Size \
    DownloadCount LastPullTimestamp PushTimestamp PushedBy TaggedTimestamp LastUpdated IsSigned \
    SignatureInfo{Tool IsTrusted Author} Referrers{Digest ArtifactType}}}}";
const REPOS: &str = "{RepoListWithNewestImage{Page{TotalCount} Results{Name LastUpdated Size \
    DownloadCount StarCount IsStarred IsBookmarked NewestImage{Tag}}}}";
const PREFERENCES: &str = "{StarredRepos{Results{Name}} BookmarkedRepos{Results{Name}}}";

#[test]
fn a_node_stopped_and_started_again_answers_every_search_as_before() -> Result<()> {
    let mut fixture = Fixture::build()?;
    let before = answers(&fixture)?;

    stop_gracefully(&fixture.node)?;
    fixture.node.restart()?;

    let after = answers(&fixture)?;
    for (query, (before, after)) in [IMAGES, REPOS, PREFERENCES]
        .iter()
        .cycle()
        .zip(before.iter().zip(&after))
    {
        let mut changes = Vec::new();
        differences("", &sorted(before), &sorted(after), &mut changes);
        assert!(
            changes.is_empty(),
            "after a restart, {query} answers differently:\n{}",
            changes.join("\n")
        );
    }
    Ok(())
}

/// The three queries as admin, then as dev.
fn answers(fixture: &Fixture) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for search in [fixture.search(Some(ADMIN.0)), fixture.search(Some(DEV.0))] {
        for query in [IMAGES, REPOS, PREFERENCES] {
            out.push(search.data(query)?);
        }
    }
    Ok(out)
}

/// Lists in a canonical order: zot's order among equals is unspecified.
fn sorted(value: &Value) -> Value {
    match value {
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(sorted).collect();
            items.sort_by_key(Value::to_string);
            Value::Array(items)
        }
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), sorted(v))).collect())
        }
        other => other.clone(),
    }
}

/// Every path where `before` and `after` differ, as `path: before -> after`.
fn differences(path: &str, before: &Value, after: &Value, out: &mut Vec<String>) {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            for (key, value) in b {
                let label = value
                    .get("Name")
                    .or_else(|| value.get("Tag"))
                    .and_then(Value::as_str)
                    .unwrap_or(key);
                differences(
                    &format!("{path}/{label}"),
                    value,
                    a.get(key).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (Value::Array(b), Value::Array(a)) if b.len() == a.len() => {
            for (i, (b, a)) in b.iter().zip(a).enumerate() {
                let label = ["RepoName", "Name"]
                    .iter()
                    .find_map(|k| b.get(*k).and_then(Value::as_str))
                    .map_or(i.to_string(), |name| {
                        format!("{name}:{}", b["Tag"].as_str().unwrap_or(""))
                    });
                differences(&format!("{path}[{label}]"), b, a, out);
            }
        }
        _ if before != after => out.push(format!("{path}: {before} -> {after}")),
        _ => {}
    }
}
