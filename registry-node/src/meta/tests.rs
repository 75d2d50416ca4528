//! Metadata hooks and the startup rebuild on a real store: signatures, referrers, statistics, stars, and reconciliation after a crash.

use serde_json::{json, Value};

use super::fixture::{user, Fixture, Spec};
use crate::storage::layout::OCI_MANIFEST;
use flotilla_protocol::digest::Digest;

const NOTATION: &str = "application/vnd.cncf.notary.signature";

/// A referrer manifest of `artifact_type` on `subject`, its blobs pushed.
async fn referrer(
    f: &Fixture,
    repo: &str,
    subject: &str,
    artifact_type: &str,
    layers: usize,
) -> Value {
    let empty = f.blob(repo, b"{}").await;
    let mut list = Vec::new();
    for i in 0..layers {
        let d = f.blob(repo, format!("sig{i}").as_bytes()).await;
        list.push(
            json!({"mediaType": "application/octet-stream", "digest": d.to_string(), "size": 4}),
        );
    }
    json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty.to_string(), "size": 2},
        "layers": list, "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": 1},
        "annotations": {"b": "2", "a": "1"}})
}

fn by_digest(body: &Value) -> String {
    Digest::of(
        flotilla_protocol::digest::Algorithm::Sha256,
        &serde_json::to_vec(body).unwrap(),
    )
    .to_string()
}

#[tokio::test]
async fn signatures_sign_and_referrers_refer() {
    let f = Fixture::new();
    let signed = f.image("r", "v1", &Spec::default(), "").await;
    // A notation signature and an SBOM, both OCI referrers; a cosign tag signature.
    let notation = referrer(&f, "r", &signed, NOTATION, 1).await;
    f.push("r", &by_digest(&notation), OCI_MANIFEST, &notation, "")
        .await;
    let sbom = referrer(&f, "r", &signed, "application/spdx+json", 1).await;
    let sbom_digest = f
        .push("r", &by_digest(&sbom), OCI_MANIFEST, &sbom, "")
        .await;
    let cosign = f.manifest("r", &Spec::default()).await;
    let tag = format!("sha256-{}.sig", &signed["sha256:".len()..]);
    f.push("r", &tag, OCI_MANIFEST, &cosign, "").await;

    let out = f
        .query(r#"{Image(image: "r:v1"){IsSigned SignatureInfo{Tool IsTrusted Author} Referrers{Digest ArtifactType Annotations{Key Value}}}}"#)
        .await;
    let image = &out["data"]["Image"];
    assert_eq!(image["IsSigned"], true);
    assert_eq!(
        image["SignatureInfo"],
        json!([{"Tool": "cosign", "IsTrusted": false, "Author": ""}, {"Tool": "notation", "IsTrusted": false, "Author": ""}])
    );
    // Signatures are not referrers in zot's metadata; the SBOM is.
    assert_eq!(image["Referrers"][0]["Digest"], sbom_digest);
    assert_eq!(
        image["Referrers"][0]["Annotations"],
        json!([{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    );
    let tags = f.query(r#"{ImageList(repo: "r"){Results{Tag}}}"#).await;
    assert_eq!(tags["data"]["ImageList"]["Results"], json!([{"Tag": "v1"}]));
    let filtered = f
        .query(&format!(
            r#"{{Referrers(repo: "r", digest: "{signed}", type: "application/x"){{Digest}}}}"#
        ))
        .await;
    assert_eq!(filtered["data"]["Referrers"], json!([]));
    let all = f
        .query(&format!(
            r#"{{Referrers(repo: "r", digest: "{signed}", type: ""){{Digest Size}}}}"#
        ))
        .await;
    assert_eq!(all["data"]["Referrers"].as_array().unwrap().len(), 1);
    // Deleting the tag signature leaves only notation.
    f.delete("r", &tag).await;
    let out = f
        .query(r#"{Image(image: "r:v1"){SignatureInfo{Tool}}}"#)
        .await;
    assert_eq!(
        out["data"]["Image"]["SignatureInfo"],
        json!([{"Tool": "notation"}])
    );
}

#[tokio::test]
async fn tags_keep_their_time_and_images_their_pusher() {
    let f = Fixture::new();
    f.image("r", "v1", &Spec::default(), "alice").await;
    let q = r#"{Image(image: "r:v1"){TaggedTimestamp PushTimestamp PushedBy Digest}}"#;
    let first = f.query(q).await["data"]["Image"].clone();
    let moved = Spec {
        layers: vec!["other"],
        ..Spec::default()
    };
    f.image("r", "v1", &moved, "bob").await;
    let second = f.query(q).await["data"]["Image"].clone();
    assert_ne!(first["Digest"], second["Digest"]);
    assert_eq!(
        first["TaggedTimestamp"], second["TaggedTimestamp"],
        "a moved tag keeps its time"
    );
    assert_eq!(second["PushedBy"], "bob");
    // Restarting keeps push times, pushers and tag times from the database.
    let f = f.restart().await;
    assert_eq!(f.query(q).await["data"]["Image"], second);
}

#[tokio::test]
async fn pull_counts_survive_a_restart_and_deletes_drop_them() {
    let f = Fixture::new();
    f.image("r", "v1", &Spec::default(), "").await;
    f.pull("r", "v1").await;
    f.pull("r", "v1").await;
    let f = f.restart().await;
    let q = r#"{Image(image: "r:v1"){DownloadCount}}"#;
    assert_eq!(f.query(q).await["data"]["Image"]["DownloadCount"], 2);
    f.delete("r", "v1").await;
    f.image("r", "v1", &Spec::default(), "").await;
    assert_eq!(
        f.query(q).await["data"]["Image"]["DownloadCount"],
        0,
        "untagged images lose their statistics"
    );
}

#[tokio::test]
async fn the_rebuild_reconciles_with_storage_after_a_crash() {
    let f = Fixture::new();
    f.image("kept", "v1", &Spec::default(), "alice").await;
    let gone = f.image("broken", "v1", &Spec::default(), "alice").await;
    f.pull("broken", "v1").await;
    f.meta.flush().await;
    // The crash: a manifest blob vanishes, and a repository is copied in by hand.
    let gone: Digest = gone.parse().unwrap();
    std::fs::remove_file(f.store.blob_path("broken", &gone)).unwrap();
    let src = f.dir.path().join("kept");
    let dst = f.dir.path().join("copied");
    copy_dir(&src, &dst);
    let f = f.restart().await;
    let out = f
        .query(r#"{RepoListWithNewestImage{Results{Name NewestImage{PushedBy}}}}"#)
        .await;
    let results = &out["data"]["RepoListWithNewestImage"]["Results"];
    let mut names: Vec<&str> = results
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["Name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["copied", "kept"]);
    let loaded = f.meta.db.load().unwrap();
    assert!(
        !loaded.stats.keys().any(|(repo, _)| repo == "broken"),
        "statistics of a manifest whose blob vanished are dropped"
    );
    assert!(loaded.stats.keys().any(|(repo, _)| repo == "copied"));
    assert!(loaded.tagged.contains_key(&("copied".into(), "v1".into())));
}

fn copy_dir(src: &std::path::Path, dst: &std::path::Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let to = dst.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to);
        } else {
            std::fs::copy(entry.path(), to).unwrap();
        }
    }
}

#[tokio::test]
async fn stars_and_bookmarks_are_per_user() {
    let f = Fixture::new();
    f.image("r", "v1", &Spec::default(), "").await;
    f.image("s", "v1", &Spec::default(), "").await;
    f.meta.toggle_star("alice", "r").await.unwrap();
    f.meta.toggle_star("bob", "r").await.unwrap();
    f.meta.toggle_bookmark("alice", "s").await.unwrap();
    f.meta.toggle_bookmark("alice", "unknown").await.unwrap();
    assert_eq!(
        f.meta.toggle_star("alice", "unknown").await,
        Err(super::ToggleError::RepoNotFound)
    );
    let f = f.restart().await;
    let q = r#"{StarredRepos{Page{TotalCount} Results{Name StarCount IsStarred IsBookmarked Rank}}
                BookmarkedRepos{Results{Name}}}"#;
    let alice = f.query_as(user("alice"), q).await;
    assert_eq!(
        alice["data"]["StarredRepos"]["Results"],
        json!([{"Name": "r", "StarCount": 2, "IsStarred": true, "IsBookmarked": false, "Rank": 0}])
    );
    assert_eq!(
        alice["data"]["BookmarkedRepos"]["Results"],
        json!([{"Name": "s"}])
    );
    f.meta.toggle_star("bob", "r").await.unwrap();
    let anonymous = f.query(q).await;
    assert_eq!(anonymous["data"]["StarredRepos"]["Page"]["TotalCount"], 0);
    let starred = f
        .query_as(
            user("alice"),
            r#"{GlobalSearch(query: "", filter: {IsStarred: true}){Repos{Name StarCount}}}"#,
        )
        .await;
    assert_eq!(
        starred["data"]["GlobalSearch"]["Repos"],
        json!([{"Name": "r", "StarCount": 1}])
    );
}
