//! Storage tests on a real temporary directory: visibility only after verification, restarts, concurrent tag pushes.

use std::sync::Arc;

use bytes::Bytes;

use super::layout::{OCI_IMAGE_CONFIG, OCI_INDEX, OCI_MANIFEST};
use super::{ManifestPut, Store};
use crate::error::NodeError;
use flotilla_protocol::digest::{Algorithm, Digest};

type Chunk = Result<Bytes, std::io::Error>;

fn body(parts: &[&[u8]]) -> impl futures_util::Stream<Item = Chunk> + Unpin {
    futures_util::stream::iter(
        parts
            .iter()
            .map(|p| Ok(Bytes::copy_from_slice(p)))
            .collect::<Vec<_>>(),
    )
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (dir, store)
}

async fn push_blob(store: &Store, repo: &str, bytes: &[u8]) -> Digest {
    let digest = Digest::of(Algorithm::Sha256, bytes);
    store.put_blob(repo, &digest, body(&[bytes])).await.unwrap();
    digest
}

fn manifest(config: &Digest, layer: &Digest) -> Bytes {
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_IMAGE_CONFIG, "digest": config.to_string(), "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer.to_string(), "size": 5}]
    }))
    .unwrap()
    .into()
}

fn put<'a>(repo: &'a str, reference: &'a str, media_type: &'a str, body: Bytes) -> ManifestPut<'a> {
    ManifestPut {
        repo,
        reference,
        media_type,
        body,
        extra_tags: Vec::new(),
    }
}

#[tokio::test]
async fn an_upload_is_invisible_until_its_digest_verifies() {
    let (_dir, store) = store();
    let id = store.new_upload("r").await.unwrap();
    let digest = Digest::of(Algorithm::Sha256, b"hello world");
    assert_eq!(
        store
            .append_upload("r", &id, Some(0), body(&[b"hello "]))
            .await
            .unwrap(),
        6
    );
    assert!(store.stat_blob("r", &digest).await.is_none());
    let wrong = Digest::of(Algorithm::Sha256, b"other");
    let err = store
        .finish_upload("r", &id, &wrong, body(&[b"world"]))
        .await
        .unwrap_err();
    assert_eq!(err.status(), http::StatusCode::BAD_REQUEST);
    assert!(store.stat_blob("r", &wrong).await.is_none());
    // The session survives a failed finish with all its bytes.
    assert_eq!(store.upload_size("r", &id).await.unwrap(), 11);
    store
        .finish_upload("r", &id, &digest, body(&[]))
        .await
        .unwrap();
    assert_eq!(store.stat_blob("r", &digest).await, Some(11));
    assert!(store.upload_size("r", &id).await.is_err());
}

#[tokio::test]
async fn out_of_order_chunks_are_refused() {
    let (_dir, store) = store();
    let id = store.new_upload("r").await.unwrap();
    store
        .append_upload("r", &id, Some(0), body(&[b"abc"]))
        .await
        .unwrap();
    let err = store
        .append_upload("r", &id, Some(10), body(&[b"x"]))
        .await
        .unwrap_err();
    assert_eq!(err.status(), http::StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(store.upload_size("r", &id).await.unwrap(), 3);
}

#[tokio::test]
async fn an_upload_survives_a_restart_and_sha512_verifies() {
    let (dir, store) = store();
    let id = store.new_upload("r").await.unwrap();
    store
        .append_upload("r", &id, None, body(&[b"part one,"]))
        .await
        .unwrap();
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.upload_size("r", &id).await.unwrap(), 9);
    let digest = Digest::of(Algorithm::Sha512, b"part one, part two");
    store
        .finish_upload("r", &id, &digest, body(&[b" part two"]))
        .await
        .unwrap();
    assert_eq!(
        store.read_blob("r", &digest).await.unwrap(),
        b"part one, part two"
    );
}

#[tokio::test]
async fn session_ids_cannot_name_paths() {
    let (_dir, store) = store();
    store.init_repo("r").await.unwrap();
    for id in ["../index.json", "x", "00000000-0000-0000-0000-00000000000G"] {
        assert!(
            matches!(store.upload_size("r", id).await, Err(NodeError::Oci { .. })),
            "{id}"
        );
    }
}

#[tokio::test]
async fn manifests_round_trip_by_tag_and_digest_and_delete_as_zot() {
    let (_dir, store) = store();
    let config = push_blob(&store, "r", b"{}").await;
    let layer = push_blob(&store, "r", b"layer").await;
    let body = manifest(&config, &layer);
    let pushed = store
        .put_manifest(put("r", "v1", OCI_MANIFEST, body.clone()))
        .await
        .unwrap();
    let by_tag = store.get_manifest("r", "v1").await.unwrap();
    let by_digest = store
        .get_manifest("r", &pushed.digest.to_string())
        .await
        .unwrap();
    assert_eq!(by_tag.body, body);
    assert_eq!(by_digest.digest, pushed.digest.to_string());
    assert_eq!(store.tags("r").await.unwrap(), vec!["v1"]);
    // A referenced blob cannot be deleted.
    assert_eq!(
        store.delete_blob("r", &layer).await.unwrap_err().status(),
        http::StatusCode::METHOD_NOT_ALLOWED
    );
    store.delete_manifest("r", "v1", false).await.unwrap();
    assert!(store.tags("r").await.unwrap().is_empty());
    assert!(store
        .get_manifest("r", &pushed.digest.to_string())
        .await
        .is_ok());
    store
        .delete_manifest("r", &pushed.digest.to_string(), false)
        .await
        .unwrap();
    assert!(store
        .get_manifest("r", &pushed.digest.to_string())
        .await
        .is_err());
    store.delete_blob("r", &layer).await.unwrap();
}

#[tokio::test]
async fn a_manifest_with_a_missing_blob_is_invalid() {
    let (_dir, store) = store();
    let config = push_blob(&store, "r", b"{}").await;
    let missing = Digest::of(Algorithm::Sha256, b"never pushed");
    let err = store
        .put_manifest(put("r", "v1", OCI_MANIFEST, manifest(&config, &missing)))
        .await
        .unwrap_err();
    assert_eq!(err.status(), http::StatusCode::BAD_REQUEST);
    assert!(store.tags("r").await.unwrap().is_empty());
}

#[tokio::test]
async fn an_index_child_cannot_be_deleted_by_digest() {
    let (_dir, store) = store();
    let config = push_blob(&store, "r", b"{}").await;
    let layer = push_blob(&store, "r", b"layer").await;
    let child_body = manifest(&config, &layer);
    let child_ref = Digest::of(Algorithm::Sha256, &child_body).to_string();
    let child = store
        .put_manifest(put("r", &child_ref, OCI_MANIFEST, child_body))
        .await
        .unwrap()
        .digest;
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": child.to_string(), "size": 1}]
    }))
    .unwrap();
    store
        .put_manifest(put("r", "multi", OCI_INDEX, index.into()))
        .await
        .unwrap();
    let err = store
        .delete_manifest("r", &child.to_string(), false)
        .await
        .unwrap_err();
    assert_eq!(err.status(), http::StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn concurrent_pushes_to_one_repository_never_lose_a_tag() {
    let (_dir, store) = store();
    let store = Arc::new(store);
    let config = push_blob(&store, "r", b"{}").await;
    let layer = push_blob(&store, "r", b"layer").await;
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let store = store.clone();
            let (config, layer) = (config.clone(), layer.clone());
            tokio::spawn(async move {
                let mut value: serde_json::Value =
                    serde_json::from_slice(&manifest(&config, &layer)).unwrap();
                value["annotations"] = serde_json::json!({"n": i.to_string()});
                let body = Bytes::from(serde_json::to_vec(&value).unwrap());
                let tag = format!("t{i}");
                store
                    .put_manifest(put("r", &tag, OCI_MANIFEST, body))
                    .await
                    .unwrap();
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(store.tags("r").await.unwrap().len(), 32);
}

#[tokio::test]
async fn catalog_is_component_wise_and_skips_non_repositories() {
    let (dir, store) = store();
    for repo in ["a-c", "a/b", "a", "b/x/y"] {
        store.init_repo(repo).await.unwrap();
    }
    std::fs::create_dir_all(dir.path().join("not-a-repo/empty")).unwrap();
    let want = vec!["a", "a/b", "a-c", "b/x/y"];
    assert_eq!(store.catalog(), want);
    // The index kept by pushes is the walk a restart makes.
    let reopened = Store::open(dir.path()).unwrap();
    assert_eq!(reopened.catalog(), want);
}

/// A page from the index is the page zot's rules cut from the whole walk,
/// for every `last` (existing or not) and `n`, with unreadable names skipped.
#[tokio::test]
async fn catalog_pages_from_the_index_are_zots_pages() {
    let (dir, store) = store();
    let names = [
        "a", "a/b", "a/b/c", "a-c", "a0", "b", "b/x", "c-1", "c/d", "zz",
    ];
    for repo in names.iter().rev() {
        store.init_repo(repo).await.unwrap();
    }
    let walk = Store::open(dir.path()).unwrap().catalog();
    assert_eq!(store.catalog(), walk);
    let readable = |r: &str| r != "b" && r != "a/b/c";
    let mut lasts: Vec<&str> = names.to_vec();
    lasts.extend(["", "a/a", "missing", "b/", "~"]);
    for last in lasts {
        for n in [-1, 0, 1, 2, 3, 20] {
            let want: Vec<String> =
                flotilla_protocol::paging::catalog_page(&walk, last, n, readable)
                    .into_iter()
                    .cloned()
                    .collect();
            assert_eq!(
                store.catalog_page(last, n, readable),
                want,
                "last={last:?} n={n}"
            );
            let from: Vec<String> = walk
                .iter()
                .filter(|r| {
                    flotilla_protocol::paging::catalog_order(r, last) != std::cmp::Ordering::Less
                        && (*r == last || readable(r))
                })
                .take(usize::try_from(n).unwrap_or(usize::MAX))
                .cloned()
                .collect();
            assert_eq!(
                store.catalog_from(last, n, readable),
                from,
                "from={last:?} n={n}"
            );
        }
    }
}

/// Even shaped as a layout, the session store is no repository, for the
/// catalog or for the metadata rebuild that walks it.
#[tokio::test]
async fn the_session_store_is_never_a_repository() {
    let (dir, store) = store();
    store.init_repo("a").await.unwrap();
    let sessions = dir.path().join(super::SESSIONS_DIR);
    std::fs::create_dir_all(sessions.join("blobs")).unwrap();
    std::fs::write(sessions.join("oci-layout"), super::OCI_LAYOUT).unwrap();
    std::fs::write(
        sessions.join("index.json"),
        br#"{"schemaVersion":2,"manifests":[]}"#,
    )
    .unwrap();
    std::fs::write(sessions.join("session_00"), b"{}").unwrap();
    // Nested, `_sessions` is outside the name grammar too.
    let nested = dir.path().join("a/b").join(super::SESSIONS_DIR);
    std::fs::create_dir_all(nested.join("blobs")).unwrap();
    std::fs::write(nested.join("oci-layout"), super::OCI_LAYOUT).unwrap();
    std::fs::write(nested.join("index.json"), b"{}").unwrap();
    assert_eq!(store.catalog(), vec!["a"]);
    // The walk at open (a restart) passes it by too.
    assert_eq!(Store::open(dir.path()).unwrap().catalog(), vec!["a"]);
}

#[tokio::test]
async fn a_repository_cannot_be_nested_in_another_layout() {
    let (_dir, store) = store();
    store.init_repo("a").await.unwrap();
    assert!(store.init_repo("a/blobs/sha256").await.is_err());
    assert!(store.init_repo("b/blobs").await.is_ok());
}

#[tokio::test]
async fn referrers_filter_by_artifact_type() {
    let (_dir, store) = store();
    let config = push_blob(&store, "r", b"{}").await;
    let layer = push_blob(&store, "r", b"layer").await;
    let subject = store
        .put_manifest(put("r", "v1", OCI_MANIFEST, manifest(&config, &layer)))
        .await
        .unwrap()
        .digest;
    let empty = push_blob(&store, "r", b"{}").await;
    let referrer = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/x-sig",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty.to_string(), "size": 2},
        "layers": [], "subject": {"mediaType": OCI_MANIFEST, "digest": subject.to_string(), "size": 1},
        "annotations": {"k": "v"}
    }))
    .unwrap();
    let pushed = store
        .put_manifest(put("r", "sig", OCI_MANIFEST, referrer.into()))
        .await
        .unwrap();
    assert_eq!(
        pushed.subject.as_deref(),
        Some(subject.to_string().as_str())
    );
    let all = store.referrers("r", &subject, &[]).await.unwrap();
    assert_eq!(all.manifests.len(), 1);
    assert_eq!(
        all.manifests[0].artifact_type.as_deref(),
        Some("application/x-sig")
    );
    let none = store
        .referrers("r", &subject, &["other".into()])
        .await
        .unwrap();
    assert!(none.manifests.is_empty());
    let missing_repo = store.referrers("nope", &subject, &[]).await.unwrap();
    assert!(missing_repo.manifests.is_empty());
}

#[tokio::test]
async fn a_blobs_media_type_follows_every_change_of_the_index() {
    let (_dir, store) = store();
    let config = push_blob(&store, "r", b"{}").await;
    let layer = push_blob(&store, "r", b"layer").await;
    store.init_repo("r").await.unwrap();
    assert_eq!(store.blob_media_type("r", &layer).await, None);
    let pushed = store
        .put_manifest(put("r", "v1", OCI_MANIFEST, manifest(&config, &layer)))
        .await
        .unwrap();
    // Asked twice: the second answer comes from what the first computed.
    for _ in 0..2 {
        assert_eq!(
            store.blob_media_type("r", &layer).await.as_deref(),
            Some("application/vnd.oci.image.layer.v1.tar")
        );
    }
    store.delete_manifest("r", "v1", false).await.unwrap();
    store
        .delete_manifest("r", &pushed.digest.to_string(), false)
        .await
        .unwrap();
    assert_eq!(store.blob_media_type("r", &layer).await, None);
    store.delete_blob("r", &layer).await.unwrap();
}
