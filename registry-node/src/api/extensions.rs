//! zot's extension routes besides search: discover, mgmt and userprefs, with the CORS and security headers zot's extension routers add.

use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode};
use serde_json::{json, Map, Value};

use super::query::Query;
use super::response::{self, set};
use super::{Node, Request, Response};
use crate::auth::Identity;
use crate::error::Result;
use crate::meta::ToggleError;
use crate::Config;
use flotilla_protocol::graphql::cost::Budget;

/// The UI header zot's CORS answers allow.
const ALLOW_HEADERS: &str = "Authorization,content-type,X-ZOT-API-CLIENT";

/// Which extensions are on and how their routes answer, fixed at start.
#[derive(Debug, Clone)]
pub(crate) struct Extensions {
    pub(crate) search: bool,
    /// What one search document may cost (`extensions.search.maxFields`).
    pub(crate) search_budget: Budget,
    pub(crate) user_prefs: bool,
    /// `Access-Control-Allow-Origin`: `http.allowOrigin`, or `*`.
    origin: String,
    /// zot sends `Access-Control-Allow-Credentials: true` only with basic
    /// authentication and an explicit origin (never with `*`).
    credentials: bool,
    /// zot's `StrippedConfig`, as `/v2/_zot/ext/mgmt` answers it.
    mgmt: Bytes,
}

impl Extensions {
    pub(crate) fn from_config(config: &Config) -> Self {
        let origin = config.http.allow_origin.clone().unwrap_or_default();
        let basic = config
            .http
            .auth
            .as_ref()
            .is_some_and(|a| a.basic_authn_enabled());
        let explicit = !origin.trim().is_empty() && origin.trim() != "*";
        Self {
            search: config.search_enabled(),
            search_budget: config.search_budget(),
            user_prefs: config.user_prefs_enabled(),
            credentials: basic && explicit,
            origin: if origin.is_empty() {
                "*".into()
            } else {
                origin
            },
            mgmt: mgmt_body(config).into(),
        }
    }

    /// zot's `CORSHeadersMiddleware` and `ACHeadersMiddleware` for a route
    /// allowing `methods` (OPTIONS is always added).
    pub(crate) fn cors(&self, resp: &mut Response, methods: &str) {
        set(resp, "Access-Control-Allow-Origin", &self.origin);
        set(
            resp,
            "Access-Control-Allow-Methods",
            &format!("{methods},OPTIONS"),
        );
        set(resp, "Access-Control-Allow-Headers", ALLOW_HEADERS);
        if self.credentials {
            set(resp, "Access-Control-Allow-Credentials", "true");
        }
    }
}

/// zot's `AddExtensionSecurityHeaders`.
pub(crate) fn nosniff(resp: &mut Response) {
    resp.headers_mut().insert(
        "X-Content-Type-Options",
        HeaderValue::from_static("nosniff"),
    );
}

/// zot's `StrippedConfig` through `Auth.MarshalJSON`: the htpasswd path
/// blanked, API keys shown, nothing else of the configuration.
fn mgmt_body(config: &Config) -> Vec<u8> {
    let mut http = Map::new();
    if let Some(auth) = &config.http.auth {
        let mut out = Map::new();
        if auth
            .htpasswd
            .as_ref()
            .is_some_and(|h| !h.path.as_os_str().is_empty())
        {
            out.insert("htpasswd".into(), json!({}));
        }
        if auth.apikey == Some(true) {
            out.insert("apikey".into(), true.into());
        }
        http.insert("auth".into(), Value::Object(out));
    }
    let body = json!({
        "distSpecVersion": DIST_SPEC_VERSION,
        "commit": "",
        "releaseTag": RELEASE_TAG,
        "binaryType": "",
        "http": http,
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

/// The distribution-spec version zot reports (it overrides the config's).
const DIST_SPEC_VERSION: &str = "1.1.1";
/// This node's release, where zot reports its own.
const RELEASE_TAG: &str = concat!("v", env!("CARGO_PKG_VERSION"));

/// `/v2/_oci/ext/discover`: zot's extension list, endpoints in zot's order.
pub(crate) fn discover(node: &Node) -> Response {
    let ext = &node.extensions;
    let mut endpoints = Vec::new();
    if ext.search {
        endpoints.push("/v2/_zot/ext/search");
    }
    if ext.user_prefs {
        endpoints.push("/v2/_zot/ext/userprefs");
    }
    if ext.search {
        endpoints.push("/v2/_zot/ext/mgmt");
    }
    let extensions = if endpoints.is_empty() {
        json!([])
    } else {
        json!([{
            "name": "_zot",
            "url": "https://github.com/project-zot/zot/blob/main/pkg/extensions/_zot.md",
            "description": "zot registry extensions",
            "endpoints": endpoints,
        }])
    };
    response::json(StatusCode::OK, &json!({ "extensions": extensions }))
}

/// `GET /v2/_zot/ext/mgmt`. zot writes the body without a content type, so
/// Go sniffs it as text.
pub(crate) fn mgmt(node: &Node, method: &Method) -> Result<Response> {
    super::only(method, &[Method::GET])?;
    let mut resp = response::bytes(
        StatusCode::OK,
        "text/plain; charset=utf-8",
        node.extensions.mgmt.clone(),
    );
    node.extensions.cors(&mut resp, "GET");
    nosniff(&mut resp);
    Ok(resp)
}

/// A CORS preflight on an extension route: zot's access-control middleware
/// answers it at once. The search router sets `nosniff` after that
/// middleware, so its preflight lacks it; mgmt and userprefs set it before.
pub(crate) fn preflight(node: &Node, methods: &str, with_nosniff: bool) -> Response {
    let mut resp = response::empty(StatusCode::OK);
    node.extensions.cors(&mut resp, methods);
    if with_nosniff {
        nosniff(&mut resp);
    }
    resp
}

/// `PUT /v2/_zot/ext/userprefs?action=toggleStar|toggleBookmark&repo=R`
/// (zot's `HandleUserPrefs`): 400 for a missing or unknown action or a
/// missing repo, 404 for an empty repo or (stars) a repository with no
/// metadata, 403 for anonymous users and users who may not read it.
pub(crate) async fn user_prefs(node: &Node, who: &Identity, req: &Request) -> Result<Response> {
    let method = req.method();
    if method == Method::GET {
        // GET falls through to zot's UI file server, which has no such file.
        return Ok(super::base::not_found());
    }
    super::only(method, &[Method::PUT])?;
    let q = Query::parse(req.uri().query());
    let status = toggle(node, who, &q).await;
    let mut resp = response::empty(status);
    node.extensions.cors(&mut resp, "PUT");
    nosniff(&mut resp);
    Ok(resp)
}

async fn toggle(node: &Node, who: &Identity, q: &Query) -> StatusCode {
    let star = match q.first("action") {
        _ if !q.has("action") => return StatusCode::BAD_REQUEST,
        "toggleStar" => true,
        "toggleBookmark" => false,
        _ => return StatusCode::BAD_REQUEST,
    };
    if !q.has("repo") {
        return StatusCode::BAD_REQUEST;
    }
    let repo = q.first("repo");
    if repo.is_empty() {
        return StatusCode::NOT_FOUND;
    }
    if who.name().is_empty() || !node.access.can_read(who, repo) {
        return StatusCode::FORBIDDEN;
    }
    let Some(meta) = &node.meta else {
        return StatusCode::NOT_FOUND;
    };
    let done = if star {
        meta.toggle_star(who.name(), repo).await
    } else {
        meta.toggle_bookmark(who.name(), repo).await
    };
    match done {
        Ok(()) => StatusCode::OK,
        Err(ToggleError::RepoNotFound) => StatusCode::NOT_FOUND,
        Err(ToggleError::Storage) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::fixture::{user, Fixture, Spec};
    use crate::storage::Store;

    fn node(f: &Fixture, config: &Config) -> Node {
        Node {
            store: Store::open(f.dir.path()).unwrap(),
            access: f.access.clone(),
            meta: Some(f.meta.clone()),
            extensions: Extensions::from_config(config),
            ui: None,
        }
    }

    fn q(query: &str) -> Query {
        Query::parse(Some(query))
    }

    #[tokio::test]
    async fn user_prefs_statuses_are_zots() {
        let f = Fixture::with_access(Some(serde_json::json!({"repositories": {
            "r": {"policies": [{"users": ["alice"], "actions": ["read"]}]}}})));
        f.image("r", "v1", &Spec::default(), "").await;
        let node = node(&f, &Config::default());
        let alice = user("alice");
        assert_eq!(
            toggle(&node, &alice, &q("repo=r")).await,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            toggle(&node, &alice, &q("action=nope&repo=r")).await,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            toggle(&node, &alice, &q("action=toggleStar")).await,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            toggle(&node, &alice, &q("action=toggleStar&repo=")).await,
            StatusCode::NOT_FOUND
        );
        let anonymous = Identity::Anonymous;
        assert_eq!(
            toggle(&node, &anonymous, &q("action=toggleStar&repo=r")).await,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            toggle(&node, &user("bob"), &q("action=toggleBookmark&repo=r")).await,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            toggle(&node, &alice, &q("action=toggleStar&repo=r")).await,
            StatusCode::OK
        );
        assert_eq!(f.meta.read().repos["r"].stars, 1);
        assert_eq!(
            toggle(&node, &alice, &q("action=toggleStar&repo=r")).await,
            StatusCode::OK
        );
        assert_eq!(f.meta.read().repos["r"].stars, 0);
    }

    #[tokio::test]
    async fn stars_need_metadata_and_bookmarks_do_not() {
        let f = Fixture::new();
        let node = node(&f, &Config::default());
        let alice = user("alice");
        assert_eq!(
            toggle(&node, &alice, &q("action=toggleStar&repo=ghost")).await,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            toggle(&node, &alice, &q("action=toggleBookmark&repo=ghost")).await,
            StatusCode::OK
        );
        assert_eq!(f.meta.read().users["alice"].bookmarked_repos, ["ghost"]);
    }

    #[test]
    fn mgmt_shows_login_methods_only() {
        let config = Config::parse(
            r#"{"storage":{"rootDirectory":"d"},"http":{"auth":{"htpasswd":{"path":"/secret"},"apikey":true}},
                "extensions":{"search":{}}}"#,
        )
        .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&mgmt_body(&config)).unwrap();
        assert_eq!(
            body["http"],
            serde_json::json!({"auth": {"htpasswd": {}, "apikey": true}})
        );
        assert_eq!(body["distSpecVersion"], "1.1.1");
        let ext = Extensions::from_config(&config);
        assert!(ext.search && !ext.user_prefs && !ext.credentials);
        assert_eq!(ext.origin, "*");
    }
}
