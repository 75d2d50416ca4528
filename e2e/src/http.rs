//! Raw HTTP against a registry, for what real clients hide: status codes, headers, exact bodies.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use reqwest::blocking::{Client, RequestBuilder};
use reqwest::Method;

/// Media types a manifest GET accepts, as clients send them.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
    application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.docker.distribution.manifest.list.v2+json";

/// The tests' HTTP client: bounded, and never following a redirect (what a
/// registry redirects to is part of what a test checks).
pub fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a reqwest client with a timeout always builds")
}

/// A registry's base URL plus, optionally, the basic credentials to send.
#[derive(Debug, Clone)]
pub struct Registry {
    base: String,
    client: Client,
    creds: Option<(String, String)>,
}

impl Registry {
    /// `base` is `http://host:port`, without a trailing slash.
    pub fn new(base: &str) -> Self {
        let client = client();
        Self {
            base: base.trim_end_matches('/').to_owned(),
            client,
            creds: None,
        }
    }

    /// The same registry, sending `user`'s basic credentials on every request.
    pub fn as_user(&self, user: &str, password: &str) -> Self {
        Self {
            creds: Some((user.to_owned(), password.to_owned())),
            ..self.clone()
        }
    }

    /// An absolute URL for `path`, which may already be absolute (a `Location` header).
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let builder = self.client.request(method, self.url(path));
        match &self.creds {
            Some((user, password)) => builder.basic_auth(user, Some(password)),
            None => builder,
        }
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.request(Method::GET, path)
    }

    pub fn head(&self, path: &str) -> RequestBuilder {
        self.request(Method::HEAD, path)
    }

    pub fn post(&self, path: &str) -> RequestBuilder {
        self.request(Method::POST, path)
    }

    pub fn patch(&self, path: &str) -> RequestBuilder {
        self.request(Method::PATCH, path)
    }

    pub fn put(&self, path: &str) -> RequestBuilder {
        self.request(Method::PUT, path)
    }

    pub fn delete(&self, path: &str) -> RequestBuilder {
        self.request(Method::DELETE, path)
    }

    /// The bytes of manifest `reference` in `repo`, which must exist.
    pub fn manifest(&self, repo: &str, reference: &str) -> Result<Vec<u8>> {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let response = self.get(&path).header("Accept", MANIFEST_ACCEPT).send()?;
        ok_bytes(response, &path)
    }

    /// The bytes of blob `digest` in `repo`, which must exist.
    pub fn blob(&self, repo: &str, digest: &str) -> Result<Vec<u8>> {
        let path = format!("/v2/{repo}/blobs/{digest}");
        ok_bytes(self.get(&path).send()?, &path)
    }
}

fn ok_bytes(response: reqwest::blocking::Response, path: &str) -> Result<Vec<u8>> {
    let status = response.status();
    let body = response
        .bytes()
        .with_context(|| format!("reading GET {path}"))?;
    ensure!(
        status.is_success(),
        "GET {path}: expected 200, got {status}: {}",
        String::from_utf8_lossy(&body)
    );
    Ok(body.to_vec())
}
