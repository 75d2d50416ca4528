//! zot's route shapes: every request a zot-compatible node answers, classified once from its method-independent path; the node dispatches on it, the gateway routes by it.
//!
//! zot matches on the escaped path and a `{name}` that may contain `/`, so the
//! name is everything before the route's fixed tail (`/manifests/<ref>`,
//! `/blobs/<digest>`, …). A name that fails the distribution grammar is
//! refused as `NAME_INVALID`, which also keeps every name inside the storage root.

/// What a request is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/livez`, `/readyz`, `/startupz`.
    Health,
    /// `/v2/`: the API version check.
    Base,
    /// `/v2/_catalog`.
    Catalog,
    /// `/v2/_oci/ext/discover`.
    Discover,
    /// `/v2/_zot/ext/search`: zot's GraphQL search extension.
    Search,
    /// `/v2/_zot/ext/userprefs`: stars and bookmarks.
    UserPrefs,
    /// `/v2/_zot/ext/mgmt`: the configuration zot's UI reads.
    Mgmt,
    /// `/zot/auth/logout`: ends a UI login session (outside `/v2`, as in zot).
    Logout,
    /// `/v2/<name>/tags/list`.
    Tags { name: String },
    /// `/v2/<name>/manifests/<reference>`.
    Manifest { name: String, reference: String },
    /// `/v2/<name>/blobs/<digest>`.
    Blob { name: String, digest: String },
    /// `/v2/<name>/blobs/uploads/`.
    UploadStart { name: String },
    /// `/v2/<name>/blobs/uploads/<session>`.
    Upload { name: String, session: String },
    /// `/v2/<name>/referrers/<digest>`.
    Referrers { name: String, digest: String },
    /// A repository route whose name breaks the grammar.
    InvalidName { name: String },
    /// Nothing here.
    NotFound,
}

impl Route {
    /// The repository a route is keyed on, if any.
    pub fn repository(&self) -> Option<&str> {
        match self {
            Self::Tags { name }
            | Self::Manifest { name, .. }
            | Self::Blob { name, .. }
            | Self::UploadStart { name }
            | Self::Upload { name, .. }
            | Self::Referrers { name, .. } => Some(name),
            _ => None,
        }
    }
}

/// The form of a request target (RFC 9112 §3.2). Only an origin-form path
/// (HTTP/2's `:path`, or an absolute-form URI's path) is routed: anything
/// else must never become part of a URI the server builds or forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A path starting with `/`: route it.
    Path,
    /// `OPTIONS *`: a question about the server itself, answered `200` with
    /// no handler, as Go's server answers it for zot.
    ServerOptions,
    /// `*` with another method, authority-form (`CONNECT host:port`), or no path.
    Invalid,
}

/// What the request target is; see [`Target`].
pub fn target(method: &http::Method, uri: &http::Uri) -> Target {
    let path = uri.path();
    if *method == http::Method::CONNECT || !path.starts_with('/') {
        if *method == http::Method::OPTIONS && path == "*" && uri.query().is_none() {
            return Target::ServerOptions;
        }
        return Target::Invalid;
    }
    Target::Path
}

/// The request target as the client wrote it, for an error naming it:
/// the path (`*`), or the authority of `CONNECT host:port`.
pub fn target_text(uri: &http::Uri) -> String {
    match (uri.path_and_query(), uri.authority()) {
        (Some(path), _) if !path.as_str().is_empty() => path.to_string(),
        (_, Some(authority)) => authority.to_string(),
        _ => uri.to_string(),
    }
}

/// Classifies a request path (without query).
pub fn classify(path: &str) -> Route {
    match path {
        "/livez" | "/readyz" | "/startupz" => return Route::Health,
        "/v2" | "/v2/" => return Route::Base,
        "/v2/_catalog" => return Route::Catalog,
        "/v2/_oci/ext/discover" => return Route::Discover,
        "/v2/_zot/ext/search" => return Route::Search,
        "/v2/_zot/ext/userprefs" => return Route::UserPrefs,
        "/v2/_zot/ext/mgmt" => return Route::Mgmt,
        "/zot/auth/logout" => return Route::Logout,
        _ => {}
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return Route::NotFound;
    };
    let segments: Vec<&str> = rest.split('/').collect();
    let n = segments.len();
    let name_of =
        |tail: usize| -> Option<String> { (n > tail).then(|| segments[..n - tail].join("/")) };
    let tail = |k: usize| segments.get(n.wrapping_sub(k)).copied();
    let route = match (tail(3), tail(2), tail(1)) {
        (Some("blobs"), Some("uploads"), Some("")) => {
            name_of(3).map(|name| Route::UploadStart { name })
        }
        (Some("blobs"), Some("uploads"), Some(session)) => name_of(3).map(|name| Route::Upload {
            name,
            session: session.to_owned(),
        }),
        (_, Some("tags"), Some("list")) => name_of(2).map(|name| Route::Tags { name }),
        (_, Some("manifests"), Some(reference)) if !reference.is_empty() => {
            name_of(2).map(|name| Route::Manifest {
                name,
                reference: reference.to_owned(),
            })
        }
        (_, Some("blobs"), Some(digest)) if !digest.is_empty() => {
            name_of(2).map(|name| Route::Blob {
                name,
                digest: digest.to_owned(),
            })
        }
        (_, Some("referrers"), Some(digest)) if !digest.is_empty() => {
            name_of(2).map(|name| Route::Referrers {
                name,
                digest: digest.to_owned(),
            })
        }
        _ => None,
    };
    match route {
        Some(route) => match route.repository() {
            Some(name) if !crate::name::is_valid(name) => Route::InvalidName {
                name: name.to_owned(),
            },
            _ => route,
        },
        None => Route::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_may_contain_slashes_and_route_words() {
        assert_eq!(
            classify("/v2/a/manifests/b/manifests/latest"),
            Route::Manifest {
                name: "a/manifests/b".into(),
                reference: "latest".into()
            }
        );
        assert_eq!(
            classify("/v2/a/b/tags/list"),
            Route::Tags { name: "a/b".into() }
        );
        assert_eq!(
            classify("/v2/x/blobs/uploads/"),
            Route::UploadStart { name: "x".into() }
        );
        assert_eq!(
            classify("/v2/x/blobs/uploads/abc"),
            Route::Upload {
                name: "x".into(),
                session: "abc".into()
            }
        );
        assert_eq!(
            classify("/v2/x/blobs/sha256:00"),
            Route::Blob {
                name: "x".into(),
                digest: "sha256:00".into()
            }
        );
        assert_eq!(
            classify("/v2/x/referrers/sha256:00"),
            Route::Referrers {
                name: "x".into(),
                digest: "sha256:00".into()
            }
        );
    }

    #[test]
    fn only_origin_form_paths_are_routed() {
        let t = |method: http::Method, uri: &str| target(&method, &uri.parse().unwrap());
        assert_eq!(t(http::Method::OPTIONS, "*"), Target::ServerOptions);
        assert_eq!(t(http::Method::GET, "*"), Target::Invalid);
        assert_eq!(t(http::Method::CONNECT, "evil:80"), Target::Invalid);
        assert_eq!(t(http::Method::GET, "evil:80"), Target::Invalid);
        assert_eq!(t(http::Method::GET, "/v2/"), Target::Path);
        assert_eq!(t(http::Method::GET, "http://gw:5000/v2/"), Target::Path);
        assert_eq!(t(http::Method::OPTIONS, "/v2/x/tags/list"), Target::Path);
    }

    #[test]
    fn fixed_routes() {
        assert_eq!(classify("/v2/"), Route::Base);
        assert_eq!(classify("/v2"), Route::Base);
        assert_eq!(classify("/v2/_catalog"), Route::Catalog);
        assert_eq!(classify("/v2/_zot/ext/search"), Route::Search);
        assert_eq!(classify("/v2/_zot/ext/userprefs"), Route::UserPrefs);
        assert_eq!(classify("/v2/_zot/ext/mgmt"), Route::Mgmt);
        assert_eq!(classify("/zot/auth/logout"), Route::Logout);
        assert_eq!(classify("/zot/auth/logout/"), Route::NotFound);
        assert_eq!(classify("/v2/zot/auth/logout"), Route::NotFound);
        assert_eq!(classify("/readyz"), Route::Health);
        assert_eq!(classify("/v2/tags/list"), Route::NotFound);
        assert_eq!(classify("/v2/x/manifests/"), Route::NotFound);
        assert_eq!(classify("/other"), Route::NotFound);
    }

    #[test]
    fn names_that_could_escape_the_root_are_invalid() {
        for path in [
            "/v2/../etc/manifests/latest",
            "/v2/a/../../manifests/latest",
            "/v2//abs/manifests/latest",
            "/v2/a%2Fb/manifests/latest",
            "/v2/A/manifests/latest",
            "/v2/./x/blobs/uploads/",
        ] {
            assert!(
                matches!(classify(path), Route::InvalidName { .. }),
                "{path}"
            );
        }
    }
}
