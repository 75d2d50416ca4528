//! Test fixture: a real store in a temporary directory, images pushed through storage and the metadata hooks, queries run through the GraphQL engine.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::{json, Value};

use super::{Meta, Pushed};
use crate::auth::{Access, Identity};
use crate::config::{AuthConfig, HtpasswdConfig};
use crate::search::NodeResolver;
use crate::storage::layout::{OCI_IMAGE_CONFIG, OCI_INDEX, OCI_MANIFEST};
use crate::storage::{ManifestPut, Store};
use crate::Config;
use flotilla_protocol::digest::{Algorithm, Digest};
use flotilla_protocol::graphql::{self, cost::Budget, normalize::Request, schema::SEARCH};

pub(crate) struct Fixture {
    pub dir: tempfile::TempDir,
    pub store: Store,
    pub meta: Arc<Meta>,
    pub access: Access,
}

/// What an image is made of.
#[derive(Clone)]
pub(crate) struct Spec {
    pub os: &'static str,
    pub arch: &'static str,
    pub created: Option<&'static str>,
    pub layers: Vec<&'static str>,
    pub annotations: Value,
    pub labels: Value,
}

impl Default for Spec {
    fn default() -> Self {
        Self {
            os: "linux",
            arch: "amd64",
            created: Some("2024-01-01T00:00:00Z"),
            layers: vec!["base"],
            annotations: json!({}),
            labels: json!({}),
        }
    }
}

pub(crate) fn user(name: &str) -> Identity {
    Identity::User {
        name: name.into(),
        groups: Vec::new(),
    }
}

impl Fixture {
    pub(crate) fn new() -> Self {
        Self::with_access(None)
    }

    /// A node whose `accessControl` is `policy` (users `alice`, `bob`).
    pub(crate) fn with_access(policy: Option<Value>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self::open(dir, policy)
    }

    fn open(dir: tempfile::TempDir, policy: Option<Value>) -> Self {
        let access = access(dir.path(), policy);
        Self::start(dir, access)
    }

    /// The node on `dir`: storage opened, metadata rebuilt from it.
    fn start(dir: tempfile::TempDir, access: Access) -> Self {
        let store = Store::open(dir.path()).unwrap();
        let meta = Arc::new(Meta::open(&store, dir.path()).unwrap());
        Self {
            dir,
            store,
            meta,
            access,
        }
    }

    /// Stops and starts the node on the same disk (the metadata rebuilt).
    pub(crate) async fn restart(self) -> Self {
        self.meta.flush().await;
        let Self {
            dir, meta, access, ..
        } = self;
        drop(meta);
        Self::start(dir, access)
    }

    pub(crate) async fn blob(&self, repo: &str, bytes: &[u8]) -> Digest {
        let digest = Digest::of(Algorithm::Sha256, bytes);
        let chunk = Ok::<_, std::io::Error>(Bytes::copy_from_slice(bytes));
        self.store
            .put_blob(repo, &digest, futures_util::stream::iter(vec![chunk]))
            .await
            .unwrap();
        digest
    }

    /// Pushes a manifest as the handler does: storage, then the hook.
    pub(crate) async fn push(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &Value,
        who: &str,
    ) -> String {
        let body: Bytes = serde_json::to_vec(body).unwrap().into();
        let pushed = self
            .store
            .put_manifest(ManifestPut {
                repo,
                reference,
                media_type,
                body: body.clone(),
                extra_tags: Vec::new(),
            })
            .await
            .unwrap();
        let digest = pushed.digest.to_string();
        let event = Pushed {
            repo,
            media_type,
            digest: &digest,
            body: &body,
            user: who,
        };
        self.meta
            .on_push(&self.store, event, &[reference.to_owned()])
            .await;
        digest
    }

    /// The manifest body of an image made from `spec` (its blobs pushed).
    pub(crate) async fn manifest(&self, repo: &str, spec: &Spec) -> Value {
        let mut config = json!({"architecture": spec.arch, "os": spec.os, "config": {"Labels": spec.labels},
            "rootfs": {"type": "layers", "diff_ids": []}});
        if let Some(created) = spec.created {
            config["created"] = created.into();
        }
        let config_bytes = serde_json::to_vec(&config).unwrap();
        let config_digest = self.blob(repo, &config_bytes).await;
        let mut layers = Vec::new();
        for layer in &spec.layers {
            let digest = self.blob(repo, layer.as_bytes()).await;
            layers.push(
                json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": digest.to_string(), "size": layer.len()}),
            );
        }
        json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_IMAGE_CONFIG, "digest": config_digest.to_string(), "size": config_bytes.len()},
            "layers": layers, "annotations": spec.annotations})
    }

    /// Pushes an image under `tag` (by `who`); returns its digest.
    pub(crate) async fn image(&self, repo: &str, tag: &str, spec: &Spec, who: &str) -> String {
        let body = self.manifest(repo, spec).await;
        self.push(repo, tag, OCI_MANIFEST, &body, who).await
    }

    /// Pushes an index of `children` (manifests pushed by digest) under `tag`.
    pub(crate) async fn index(
        &self,
        repo: &str,
        tag: &str,
        children: &[Spec],
        annotations: Value,
    ) -> String {
        let mut manifests = Vec::new();
        for spec in children {
            let body = self.manifest(repo, spec).await;
            let bytes = serde_json::to_vec(&body).unwrap();
            let by_digest = Digest::of(Algorithm::Sha256, &bytes).to_string();
            let digest = self.push(repo, &by_digest, OCI_MANIFEST, &body, "").await;
            let size = bytes.len();
            manifests.push(
                json!({"mediaType": OCI_MANIFEST, "digest": digest, "size": size,
                "platform": {"os": spec.os, "architecture": spec.arch}}),
            );
        }
        let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests, "annotations": annotations});
        self.push(repo, tag, OCI_INDEX, &index, "").await
    }

    pub(crate) async fn delete(&self, repo: &str, reference: &str) {
        let removed = self
            .store
            .delete_manifest(repo, reference, false)
            .await
            .unwrap();
        self.meta.on_delete(repo, reference, &removed.digest).await;
    }

    pub(crate) async fn pull(&self, repo: &str, reference: &str) {
        let m = self.store.get_manifest(repo, reference).await.unwrap();
        self.meta.on_pull(repo, reference, &m.digest, &m.media_type);
    }

    /// Runs a query as `who`; returns the whole response body.
    pub(crate) async fn query_as(&self, who: Identity, query: &str) -> Value {
        let resolver = NodeResolver {
            meta: self.meta.clone(),
            access: self.access.clone(),
            who,
        };
        let req = Request {
            query: query.into(),
            ..Request::default()
        };
        let resp = graphql::execute(&SEARCH, &req, &Budget::UNLIMITED, &resolver).await;
        serde_json::from_slice(&resp.to_bytes()).unwrap()
    }

    pub(crate) async fn query(&self, query: &str) -> Value {
        self.query_as(Identity::Anonymous, query).await
    }
}

/// `Access` for users `alice` and `bob` (password `pw`) under `policy`.
fn access(dir: &std::path::Path, policy: Option<Value>) -> Access {
    let path = dir.join("_htpasswd");
    let hash = bcrypt::hash("pw", 4).unwrap();
    std::fs::write(&path, format!("alice:{hash}\nbob:{hash}\n")).unwrap();
    let mut config = Config::default();
    config.http.auth = Some(AuthConfig {
        htpasswd: Some(HtpasswdConfig { path }),
        ..AuthConfig::default()
    });
    config.http.access_control = policy.map(|p| serde_json::from_value(p).unwrap());
    Access::from_config(&config).unwrap()
}
