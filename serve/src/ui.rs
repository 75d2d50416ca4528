//! A directory of built web-UI files (zot's UI, zui) served as zot serves its embedded copy: files, the single-page-app fallback, zot's security headers.
//!
//! zot embeds its UI in the binary; Flotilla reads it from the directory
//! `extensions.ui.directory` names, so the node and the gateway serve the
//! same files. Files come from tower-http's `ServeDir` (content types,
//! `Last-Modified`, conditional and range requests, no path escapes the
//! directory). What it adds:
//! - a path whose last segment has no extension and names no file is one of
//!   the UI's client-side routes (`/home`, `/explore`, `/image/…`), answered
//!   with `index.html` as zot answers `/login`, `/home`, `/explore`, `/image`
//!   and `/user`, so a bookmarked or reloaded page opens; a missing asset
//!   (`/static/x.js`) stays a 404;
//! - `Cache-Control`: the build's content-hashed assets under `/static/`
//!   never change (`immutable`, a year); everything else, `index.html` above
//!   all, is revalidated on each use (`no-cache`), so a new UI build is
//!   picked up at once;
//! - zot's `addUISecurityHeaders` (CSP, frame and sniffing rules) on every answer.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty};
use sync_wrapper::SyncWrapper;
use tower::ServiceExt;
use tower_http::services::fs::ServeFileSystemResponseBody;
use tower_http::services::{ServeDir, ServeFile};

/// Where the build's hashed assets live (create-react-app's layout, zui's).
const IMMUTABLE_PREFIX: &str = "/static/";

/// zot's `addUISecurityHeaders`, in its order.
const SECURITY_HEADERS: [(&str, &str); 7] = [
    (
        "permissions-policy",
        "microphone=(), geolocation=(), battery=(), camera=(), autoplay=(), gyroscope=(), payment=()",
    ),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("cross-origin-resource-policy", "same-origin"),
    ("cross-origin-embedder-policy", "require-corp"),
    ("cross-origin-opener-policy", "same-origin"),
    (
        "content-security-policy",
        "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; font-src 'self'; connect-src 'self'; img-src 'self' data:; manifest-src 'self'; base-uri 'self'",
    ),
];

/// The UI's files, ready to serve; cheap to clone.
#[derive(Debug, Clone)]
pub struct UiFiles {
    dir: PathBuf,
    files: ServeDir,
    index: ServeFile,
}

/// A response body as both binaries send them.
pub type UiBody = BoxBody<Bytes, std::io::Error>;

impl UiFiles {
    /// Serves `dir`, which must hold the build's `index.html`: a missing one
    /// is a config error at start, not a 404 on every page later.
    pub fn new(dir: &Path) -> anyhow::Result<Self> {
        let index = dir.join("index.html");
        if !index.is_file() {
            anyhow::bail!(
                "extensions.ui.directory: {} holds no index.html (point it at the UI's build output)",
                dir.display()
            );
        }
        Ok(Self {
            dir: dir.to_owned(),
            files: ServeDir::new(dir).append_index_html_on_directories(true),
            index: ServeFile::new(index),
        })
    }

    /// The directory served.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Does the UI answer this request? `GET` and `HEAD` (zot's UI routes
    /// allow `GET`; Go answers `HEAD` with it) of a path outside the API.
    pub fn serves(method: &Method, path: &str) -> bool {
        (method == Method::GET || method == Method::HEAD)
            && !(path == "/v2" || path.starts_with("/v2/") || path.starts_with("/zot/"))
    }

    /// Answers a `GET` or `HEAD` for `path`; `headers` are the client's
    /// (conditional and range requests are honoured).
    pub async fn serve(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
    ) -> Response<UiBody> {
        let mut resp = self.file(method, path, headers, &self.files).await;
        let client_route = resp.status() == StatusCode::NOT_FOUND && is_client_route(path);
        if client_route {
            resp = self.file(method, "/", headers, &self.index).await;
        }
        let cache = if path.starts_with(IMMUTABLE_PREFIX) && !client_route {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        let fresh = resp.status().is_success() || resp.status() == StatusCode::NOT_MODIFIED;
        let out = resp.headers_mut();
        if fresh {
            out.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        }
        for (name, value) in SECURITY_HEADERS {
            out.insert(name, HeaderValue::from_static(value));
        }
        resp
    }

    async fn file<S>(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        service: &S,
    ) -> Response<UiBody>
    where
        S: tower::Service<
                Request<Empty<Bytes>>,
                Response = Response<ServeFileSystemResponseBody>,
                Error = Infallible,
            > + Clone,
    {
        let mut req = Request::new(Empty::new());
        *req.method_mut() = method.clone();
        match path.parse() {
            Ok(uri) => *req.uri_mut() = uri,
            Err(_) => return status(StatusCode::NOT_FOUND),
        }
        for name in [
            header::IF_MODIFIED_SINCE,
            header::IF_UNMODIFIED_SINCE,
            header::RANGE,
            header::IF_RANGE,
            header::ACCEPT_ENCODING,
        ] {
            if let Some(value) = headers.get(&name) {
                req.headers_mut().insert(name, value.clone());
            }
        }
        match service.clone().oneshot(req).await {
            Ok(resp) => resp.map(|body| SyncBody(SyncWrapper::new(body)).boxed()),
            Err(never) => match never {},
        }
    }
}

/// `ServeDir`'s body is `Send` but not `Sync`, as the binaries' bodies
/// must be; polling needs only `&mut`, which the wrapper gives safely.
struct SyncBody(SyncWrapper<ServeFileSystemResponseBody>);

impl http_body::Body for SyncBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        Pin::new(self.get_mut().0.get_mut()).poll_frame(cx)
    }
}

/// A client-side route of the UI: its last segment names no file.
fn is_client_route(path: &str) -> bool {
    let last = path.rsplit('/').next().unwrap_or_default();
    !last.contains('.')
}

fn status(code: StatusCode) -> Response<UiBody> {
    let mut resp = Response::new(Empty::new().map_err(|never| match never {}).boxed());
    *resp.status_mut() = code;
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn built() -> (tempfile::TempDir, UiFiles) {
        let root = tempfile::tempdir().unwrap();
        let ui = root.path().join("ui");
        std::fs::create_dir_all(ui.join("static")).unwrap();
        std::fs::write(ui.join("index.html"), "<html>ui</html>").unwrap();
        std::fs::write(ui.join("static/main.abc123.js"), "let a = 1;").unwrap();
        std::fs::write(root.path().join("secret.txt"), "no").unwrap();
        let files = UiFiles::new(&ui).unwrap();
        (root, files)
    }

    async fn get(files: &UiFiles, path: &str) -> (StatusCode, HeaderMap, Bytes) {
        let resp = files.serve(&Method::GET, path, &HeaderMap::new()).await;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        (parts.status, parts.headers, body)
    }

    #[tokio::test]
    async fn files_come_with_their_type_and_cache_rule() {
        let (_dir, files) = built();
        let (status, headers, body) = get(&files, "/static/main.abc123.js").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(&body[..], b"let a = 1;");
        assert!(headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .contains("javascript"));
        assert_eq!(
            headers[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        assert!(headers.contains_key(header::LAST_MODIFIED));
        assert_eq!(headers["x-frame-options"], "DENY");

        let (status, headers, body) = get(&files, "/").await;
        assert_eq!(
            (status, &body[..]),
            (StatusCode::OK, &b"<html>ui</html>"[..])
        );
        assert!(headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
    }

    #[tokio::test]
    async fn client_routes_open_the_app_and_missing_assets_are_404() {
        let (_dir, files) = built();
        for route in [
            "/home",
            "/explore",
            "/image/team-a%2Fapi/tag/v1",
            "/user/apikey",
        ] {
            let (status, headers, body) = get(&files, route).await;
            assert_eq!(status, StatusCode::OK, "{route}");
            assert_eq!(&body[..], b"<html>ui</html>", "{route}");
            assert_eq!(headers[header::CACHE_CONTROL], "no-cache", "{route}");
        }
        let (status, headers, _) = get(&files, "/static/missing.js").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(!headers.contains_key(header::CACHE_CONTROL));
        assert_eq!(headers["x-content-type-options"], "nosniff");
    }

    #[tokio::test]
    async fn no_path_leaves_the_directory() {
        let (_dir, files) = built();
        for path in [
            "/../secret.txt",
            "/%2e%2e/secret.txt",
            "/static/../../secret.txt",
        ] {
            let (status, _, body) = get(&files, path).await;
            assert_ne!(&body[..], b"no", "{path}");
            assert!(
                status.is_client_error() || body == "<html>ui</html>",
                "{path}: {status}"
            );
        }
    }

    #[test]
    fn api_paths_are_never_the_ui() {
        assert!(UiFiles::serves(&Method::GET, "/"));
        assert!(UiFiles::serves(&Method::HEAD, "/home"));
        assert!(!UiFiles::serves(&Method::POST, "/home"));
        assert!(!UiFiles::serves(&Method::GET, "/v2/"));
        assert!(!UiFiles::serves(&Method::GET, "/v2"));
        assert!(!UiFiles::serves(&Method::GET, "/zot/auth/logout"));
    }

    #[test]
    fn a_directory_without_the_app_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = UiFiles::new(dir.path()).unwrap_err().to_string();
        assert!(err.contains("index.html"), "{err}");
    }
}
