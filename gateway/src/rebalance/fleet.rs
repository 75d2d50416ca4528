//! The rebalance's client: the Distribution API on every member, current and previous, with the operator's credentials.

use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use serde::Deserialize;

use super::Credentials;
use crate::catalog;
use crate::config::Config;
use crate::members::{self, Members, UpstreamBody};
use crate::metrics::Metrics;

/// Every manifest type a member may hold, to read one as it is.
pub(super) const MANIFEST_TYPES: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// The largest manifest, tag list or catalog page read whole.
const DOCUMENT_BYTES: usize = 64 << 20;

/// How many pages of one list are followed before the member is at fault.
const PAGES: usize = 100_000;

/// A manifest as a member holds it: the exact bytes and the type it was pushed with.
#[derive(Debug, Clone)]
pub(super) struct Manifest {
    pub(super) digest: String,
    pub(super) media_type: String,
    pub(super) bytes: Bytes,
}

/// One member's answer, or why there is none.
pub(super) type Answer<T> = Result<T, String>;

pub(super) struct Fleet {
    members: Members,
    auth: Option<HeaderValue>,
}

impl Fleet {
    pub(super) fn new(config: &Config, credentials: Option<&Credentials>) -> anyhow::Result<Self> {
        let metrics = std::sync::Arc::new(Metrics::new(&config.all_members()));
        let auth = credentials
            .map(|c| {
                let mut value = HeaderValue::from_str(&c.basic())?;
                value.set_sensitive(true);
                Ok::<_, http::header::InvalidHeaderValue>(value)
            })
            .transpose()?;
        Ok(Self {
            members: Members::new(config, metrics)?,
            auth,
        })
    }

    pub(super) fn name(&self, index: usize) -> &str {
        &self.members.get(index).name
    }

    fn request(
        &self,
        index: usize,
        method: Method,
        path: &str,
        body: UpstreamBody,
    ) -> Answer<Request<UpstreamBody>> {
        let uri = self.members.uri(index, path).map_err(|e| e.to_string())?;
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::USER_AGENT, "flotilla-rebalance")
            .body(body)
            .map_err(|e| e.to_string())?;
        if let Some(auth) = &self.auth {
            req.headers_mut()
                .insert(header::AUTHORIZATION, auth.clone());
        }
        Ok(req)
    }

    /// Sends `req` to member `index`; the answer's head.
    pub(super) async fn send(
        &self,
        index: usize,
        req: Request<UpstreamBody>,
    ) -> Answer<Response<Incoming>> {
        let what = format!("{} {}", req.method(), req.uri().path());
        match self.members.send(index, req).await {
            Ok(resp) if resp.status() == StatusCode::UNAUTHORIZED => Err(format!(
                "{what} on {}: 401 Unauthorized (give credentials allowed to read, create, update and delete every repository)",
                self.name(index)
            )),
            Ok(resp) if resp.status() == StatusCode::FORBIDDEN => Err(format!(
                "{what} on {}: 403 Forbidden (the credentials lack a permission)",
                self.name(index)
            )),
            Ok(resp) => Ok(resp),
            Err(err) => Err(format!("{what}: {err}")),
        }
    }

    async fn call(
        &self,
        index: usize,
        method: Method,
        path: &str,
        headers: &[(header::HeaderName, &str)],
    ) -> Answer<Response<Incoming>> {
        let mut req = self.request(index, method, path, members::empty())?;
        for (name, value) in headers {
            let value = HeaderValue::from_str(value).map_err(|e| e.to_string())?;
            req.headers_mut().insert(name.clone(), value);
        }
        self.send(index, req).await
    }

    async fn read(&self, index: usize, resp: Response<Incoming>) -> Answer<Bytes> {
        members::read_body(resp, DOCUMENT_BYTES)
            .await
            .map_err(|e| format!("reading an answer of {}: {e}", self.name(index)))
    }

    /// An unexpected answer, named with its status and the start of its body.
    async fn unexpected(&self, index: usize, what: &str, resp: Response<Incoming>) -> String {
        let status = resp.status();
        let body = members::read_body(resp, 4096).await.unwrap_or_default();
        let text = String::from_utf8_lossy(&body);
        format!(
            "{what} on {}: {status} {}",
            self.name(index),
            text.trim().chars().take(300).collect::<String>()
        )
    }

    /// Every repository of member `index`, following its `Link` pages.
    pub(super) async fn catalog(&self, index: usize) -> Answer<Vec<String>> {
        self.list(index, "/v2/_catalog", "repositories")
            .await?
            .ok_or_else(|| format!("catalog of {}: 404 Not Found", self.name(index)))
    }

    /// The tags of `repo` on member `index`; `None` when it does not hold the repository.
    pub(super) async fn tags(&self, index: usize, repo: &str) -> Answer<Option<Vec<String>>> {
        self.list(index, &format!("/v2/{repo}/tags/list"), "tags")
            .await
    }

    /// The names under `key` of the paged list at `base` (the catalog, a tag
    /// list), following `Link` while it advances; `None` on `404`.
    async fn list(&self, index: usize, base: &str, key: &str) -> Answer<Option<Vec<String>>> {
        let mut path = base.to_owned();
        let mut names: Vec<String> = Vec::new();
        for _ in 0..PAGES {
            let resp = self.call(index, Method::GET, &path, &[]).await?;
            match resp.status() {
                StatusCode::OK => {}
                StatusCode::NOT_FOUND => return Ok(None),
                _ => return Err(self.unexpected(index, base, resp).await),
            }
            let next = catalog::next_link(resp.headers(), self.name(index), base)?;
            let mut page: serde_json::Value =
                serde_json::from_slice(&self.read(index, resp).await?)
                    .map_err(|e| format!("{base} on {}: {e}", self.name(index)))?;
            let page: Vec<String> = match page.get_mut(key).map(serde_json::Value::take) {
                None | Some(serde_json::Value::Null) => Vec::new(),
                Some(list) => serde_json::from_value(list)
                    .map_err(|e| format!("{base} on {}: `{key}`: {e}", self.name(index)))?,
            };
            let advanced = page.last().is_some_and(|l| names.last() != Some(l));
            names.extend(page);
            match next {
                Some(next) if advanced => path = next,
                _ => return Ok(Some(names)),
            }
        }
        Err(format!(
            "{base} on {}: more than {PAGES} pages",
            self.name(index)
        ))
    }

    /// A manifest by tag or digest, as stored; `None` when it is not there.
    /// One asked for by digest is checked against it.
    pub(super) async fn manifest(
        &self,
        index: usize,
        repo: &str,
        reference: &str,
    ) -> Answer<Option<Manifest>> {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let resp = self
            .call(
                index,
                Method::GET,
                &path,
                &[(header::ACCEPT, MANIFEST_TYPES)],
            )
            .await?;
        match resp.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Ok(None),
            _ => return Err(self.unexpected(index, "manifest", resp).await),
        }
        let media_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = self.read(index, resp).await?;
        let named: Option<flotilla_protocol::digest::Digest> = reference.parse().ok();
        let algorithm = named.as_ref().map_or(
            flotilla_protocol::digest::Algorithm::Sha256,
            flotilla_protocol::digest::Digest::algorithm,
        );
        let digest = flotilla_protocol::digest::Digest::of(algorithm, &bytes).to_string();
        if named.is_some() && digest != reference {
            return Err(format!(
                "{repo}@{reference} on {} hashes to {digest}",
                self.name(index)
            ));
        }
        Ok(Some(Manifest {
            digest,
            media_type,
            bytes,
        }))
    }

    /// The digests the referrers API lists for `digest` (none where it is not served).
    pub(super) async fn referrers(
        &self,
        index: usize,
        repo: &str,
        digest: &str,
    ) -> Answer<Vec<String>> {
        #[derive(Deserialize)]
        struct Index {
            #[serde(default)]
            manifests: Vec<Descriptor>,
        }
        #[derive(Deserialize)]
        struct Descriptor {
            digest: String,
        }
        let path = format!("/v2/{repo}/referrers/{digest}");
        let resp = self.call(index, Method::GET, &path, &[]).await?;
        if resp.status() != StatusCode::OK {
            // distribution has no referrers API; a repository gone has none.
            return Ok(Vec::new());
        }
        let index_doc: Index = serde_json::from_slice(&self.read(index, resp).await?)
            .map_err(|e| format!("referrers of {repo}@{digest} on {}: {e}", self.name(index)))?;
        Ok(index_doc.manifests.into_iter().map(|d| d.digest).collect())
    }

    /// The size of a blob member `index` holds in `repo`, `None` when it does not.
    pub(super) async fn blob_size(
        &self,
        index: usize,
        repo: &str,
        digest: &str,
    ) -> Answer<Option<u64>> {
        let path = format!("/v2/{repo}/blobs/{digest}");
        let resp = self.call(index, Method::HEAD, &path, &[]).await?;
        match resp.status() {
            StatusCode::OK => Ok(Some(content_length(&resp).unwrap_or(0))),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(self.unexpected(index, "blob HEAD", resp).await),
        }
    }

    /// The digest a manifest reference resolves to on member `index`, `None` when it does not.
    pub(super) async fn manifest_digest(
        &self,
        index: usize,
        repo: &str,
        reference: &str,
    ) -> Answer<Option<String>> {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let resp = self
            .call(
                index,
                Method::HEAD,
                &path,
                &[(header::ACCEPT, MANIFEST_TYPES)],
            )
            .await?;
        match resp.status() {
            StatusCode::OK => Ok(resp
                .headers()
                .get("docker-content-digest")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(self.unexpected(index, "manifest HEAD", resp).await),
        }
    }

    /// Pushes `manifest` as it is, under `reference` (its digest or a tag).
    pub(super) async fn put_manifest(
        &self,
        index: usize,
        repo: &str,
        reference: &str,
        manifest: &Manifest,
    ) -> Answer<()> {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let body = Full::new(manifest.bytes.clone())
            .map_err(|never| match never {})
            .boxed();
        let mut req = self.request(index, Method::PUT, &path, body)?;
        let media_type = HeaderValue::from_str(&manifest.media_type).map_err(|e| e.to_string())?;
        req.headers_mut().insert(header::CONTENT_TYPE, media_type);
        let resp = self.send(index, req).await?;
        if resp.status() != StatusCode::CREATED {
            return Err(self
                .unexpected(index, &format!("PUT {repo}:{reference}"), resp)
                .await);
        }
        Ok(())
    }

    /// Opens an upload session in `repo`, by mount from `from` when given:
    /// `None` when the mount linked the blob, else the session's path.
    pub(super) async fn open_upload(
        &self,
        index: usize,
        repo: &str,
        mount: Option<(&str, &str)>,
    ) -> Answer<Option<String>> {
        let path = match mount {
            Some((digest, from)) => format!("/v2/{repo}/blobs/uploads/?mount={digest}&from={from}"),
            None => format!("/v2/{repo}/blobs/uploads/"),
        };
        let resp = self.call(index, Method::POST, &path, &[]).await?;
        match resp.status() {
            StatusCode::CREATED if mount.is_some() => Ok(None),
            StatusCode::ACCEPTED => {
                let location = resp
                    .headers()
                    .get(header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .and_then(|l| l.parse::<http::Uri>().ok())
                    .ok_or_else(|| {
                        format!("upload session on {} without Location", self.name(index))
                    })?;
                // Only the path and query are kept: the session is on this member, whatever host it names.
                Ok(Some(
                    location
                        .path_and_query()
                        .map(|p| p.as_str().to_owned())
                        .unwrap_or_default(),
                ))
            }
            _ => Err(self.unexpected(index, "upload", resp).await),
        }
    }

    /// Closes the upload session `session` with `body`, the blob `digest` of `size` bytes.
    pub(super) async fn finish_upload(
        &self,
        index: usize,
        session: &str,
        digest: &str,
        size: u64,
        body: UpstreamBody,
    ) -> Answer<()> {
        let path = match session.split_once('?') {
            Some((p, q)) => format!("{p}?{q}&digest={digest}"),
            None => format!("{session}?digest={digest}"),
        };
        let mut req = self.request(index, Method::PUT, &path, body)?;
        req.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(size));
        req.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        let resp = self.send(index, req).await?;
        if resp.status() != StatusCode::CREATED {
            return Err(self
                .unexpected(index, &format!("blob {digest}"), resp)
                .await);
        }
        Ok(())
    }

    /// The blob's body on member `index`.
    pub(super) async fn blob(&self, index: usize, repo: &str, digest: &str) -> Answer<Incoming> {
        let path = format!("/v2/{repo}/blobs/{digest}");
        let resp = self.call(index, Method::GET, &path, &[]).await?;
        if resp.status() != StatusCode::OK {
            return Err(self
                .unexpected(index, &format!("GET {repo}@{digest}"), resp)
                .await);
        }
        Ok(resp.into_body())
    }

    /// Deletes a manifest or blob; one already gone is not an error.
    pub(super) async fn delete(
        &self,
        index: usize,
        repo: &str,
        what: &str,
        digest: &str,
    ) -> Answer<()> {
        let path = format!("/v2/{repo}/{what}/{digest}");
        let resp = self.call(index, Method::DELETE, &path, &[]).await?;
        match resp.status() {
            StatusCode::ACCEPTED | StatusCode::OK | StatusCode::NOT_FOUND => Ok(()),
            _ => Err(self
                .unexpected(index, &format!("DELETE {repo}@{digest}"), resp)
                .await),
        }
    }

    /// How many users starred `repo` on member `index`, when its search API says.
    pub(super) async fn stars(&self, index: usize, repo: &str) -> Option<u64> {
        let query = serde_json::json!({
            "query": format!("{{ExpandedRepoInfo(repo: {}){{Summary{{StarCount}}}}}}", serde_json::Value::from(repo))
        });
        let body = Full::new(Bytes::from(query.to_string()))
            .map_err(|never| match never {})
            .boxed();
        let mut req = self
            .request(index, Method::POST, "/v2/_zot/ext/search", body)
            .ok()?;
        req.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let resp = tokio::time::timeout(Duration::from_secs(10), self.send(index, req))
            .await
            .ok()?
            .ok()?;
        if resp.status() != StatusCode::OK {
            return None;
        }
        let value: serde_json::Value =
            serde_json::from_slice(&self.read(index, resp).await.ok()?).ok()?;
        value
            .pointer("/data/ExpandedRepoInfo/Summary/StarCount")
            .and_then(serde_json::Value::as_u64)
    }
}

fn content_length(resp: &Response<Incoming>) -> Option<u64> {
    resp.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}
