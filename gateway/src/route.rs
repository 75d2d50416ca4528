//! The route table: every request is classified once, here, and each route has exactly one strategy.
//!
//! | request | route | strategy |
//! | --- | --- | --- |
//! | `OPTIONS *` | `Own` | `200`, as Go's server answers it for zot; no member contacted |
//! | any other target that is not an origin-form path (`GET *`, `CONNECT host:port`) | `BadTarget` | `400 UNSUPPORTED`; no member contacted |
//! | `/livez`, `/readyz`, `/startupz`, `/metrics` | `Own` | the gateway answers itself |
//! | a request carrying the hop header | `Loop` | `508 Loop Detected`, never forwarded |
//! | `/v2/<name>/manifests/…`, `/blobs/…`, `/blobs/uploads/…`, `/tags/list`, `/referrers/…` | `Repository` | proxy-once to `owner(name)`; in the migration window (`cluster.previousMembers`), when its previous owner differs, `window`'s per-request rules |
//! | `POST /v2/<name>/blobs/uploads/?mount=D&from=F` | `Mount` | copy `D` from `owner(F)` when owners differ, else proxy-once |
//! | `/v2/<name>/…` with a name outside the grammar | `InvalidName` | `400 NAME_INVALID`, no member contacted |
//! | `/v2/_catalog` | `Catalog` | fan-out to every member, merge, page as zot |
//! | `/v2/_zot/ext/search` | `Search` | the GraphQL engine: each root field planned (`search::plan`) |
//! | `/v2/_zot/ext/userprefs?repo=R` | `UserPrefs` | proxy-once to `owner(R)` |
//! | `/zot/auth/logout` | `Logout` | the gateway ends its own UI session (`session`) |
//! | `GET`/`HEAD` of any other path outside `/v2/` and `/zot/` | `Ui` | the UI's files from `extensions.ui.directory`; without it, any healthy member (zot members serve zui) |
//! | `/v2/`, `/v2/_oci/ext/discover`, `/v2/_zot/ext/mgmt`, anything else | `AnyMember` | any healthy member |
//!
//! Before any strategy runs, `session` turns a UI session into the user's
//! credentials; a `GET /v2/` with Basic credentials and zui's header is a UI
//! login, whose cookies the gateway sets once a member has accepted them.

use http::request::Parts;
use http::Method;

use flotilla_protocol::route::{Route as NodeRoute, Target};

/// The header every request to a member carries. A request that arrives with
/// it came from a gateway, so a member address points back at a gateway.
pub const HOP_HEADER: &str = "x-flotilla-hop";

/// Routes the gateway answers itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Own {
    /// `OPTIONS *`.
    ServerOptions,
    Livez,
    Readyz,
    Metrics,
}

/// What a request is, and so how it is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Own(Own),
    Loop,
    /// A request target that is not a path: never turned into a member URI.
    BadTarget {
        target: String,
    },
    Repository {
        name: String,
        class: &'static str,
    },
    Mount {
        name: String,
        from: String,
        digest: String,
    },
    InvalidName {
        name: String,
    },
    Catalog,
    Search,
    UserPrefs {
        repo: Option<String>,
    },
    Logout,
    Ui,
    AnyMember {
        class: &'static str,
    },
}

impl Route {
    /// The label metrics group this route under.
    pub fn class(&self) -> &'static str {
        match self {
            Self::Own(_) | Self::Loop => "own",
            Self::BadTarget { .. } => "other",
            Self::Repository { class, .. } | Self::AnyMember { class } => class,
            Self::Mount { .. } => "upload",
            Self::InvalidName { .. } => "other",
            Self::Catalog => "catalog",
            Self::Search => "search",
            Self::UserPrefs { .. } => "userprefs",
            Self::Logout => "own",
            Self::Ui => "ui",
        }
    }
}

/// Classifies a request from its head. The repository grammar is the node's,
/// so the gateway and its members agree on every name.
pub fn classify(parts: &Parts) -> Route {
    match flotilla_protocol::route::target(&parts.method, &parts.uri) {
        Target::Path => {}
        Target::ServerOptions => return Route::Own(Own::ServerOptions),
        Target::Invalid => {
            return Route::BadTarget {
                target: flotilla_protocol::route::target_text(&parts.uri),
            }
        }
    }
    if parts.headers.contains_key(HOP_HEADER) {
        return Route::Loop;
    }
    let path = parts.uri.path();
    match path {
        "/livez" | "/startupz" => return Route::Own(Own::Livez),
        "/readyz" => return Route::Own(Own::Readyz),
        "/metrics" => return Route::Own(Own::Metrics),
        "/v2/_zot/ext/search" => return Route::Search,
        "/v2/_zot/ext/userprefs" => {
            let repo = query_value(parts.uri.query(), "repo");
            return Route::UserPrefs { repo };
        }
        "/zot/auth/logout" => return Route::Logout,
        _ => {}
    }
    if flotilla_serve::ui::UiFiles::serves(&parts.method, path) {
        return Route::Ui;
    }
    match flotilla_protocol::route::classify(path) {
        NodeRoute::Catalog => Route::Catalog,
        NodeRoute::Base => Route::AnyMember { class: "base" },
        NodeRoute::InvalidName { name } => Route::InvalidName { name },
        NodeRoute::UploadStart { name } if parts.method == Method::POST => {
            let query = parts.uri.query();
            match (query_value(query, "mount"), query_value(query, "from")) {
                (Some(digest), Some(from)) if from != name => Route::Mount { name, from, digest },
                _ => Route::Repository {
                    name,
                    class: "upload",
                },
            }
        }
        route => match route.repository() {
            Some(name) => Route::Repository {
                name: name.to_owned(),
                class: repo_class(&route),
            },
            None => Route::AnyMember { class: "other" },
        },
    }
}

fn repo_class(route: &NodeRoute) -> &'static str {
    match route {
        NodeRoute::Manifest { .. } => "manifest",
        NodeRoute::Blob { .. } => "blob",
        NodeRoute::UploadStart { .. } | NodeRoute::Upload { .. } => "upload",
        NodeRoute::Tags { .. } => "tags",
        NodeRoute::Referrers { .. } => "referrers",
        _ => "other",
    }
}

/// The first value of `key` in a query string, decoded.
fn query_value(query: Option<&str>, key: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: Method, uri: &str) -> Parts {
        http::Request::builder()
            .method(method)
            .uri(uri)
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    fn get(uri: &str) -> Route {
        classify(&parts(Method::GET, uri))
    }

    #[test]
    fn repository_routes_go_to_the_owner_of_their_name() {
        let cases = [
            ("/v2/a/b/manifests/v1", "a/b", "manifest"),
            ("/v2/a/blobs/sha256:00", "a", "blob"),
            ("/v2/a/blobs/uploads/", "a", "upload"),
            ("/v2/a/blobs/uploads/0000", "a", "upload"),
            ("/v2/a/tags/list", "a", "tags"),
            ("/v2/a/referrers/sha256:00", "a", "referrers"),
        ];
        for (uri, name, class) in cases {
            assert_eq!(
                get(uri),
                Route::Repository {
                    name: name.into(),
                    class
                },
                "{uri}"
            );
        }
    }

    #[test]
    fn a_mount_from_another_repository_is_its_own_route() {
        let mount = classify(&parts(
            Method::POST,
            "/v2/dst/blobs/uploads/?mount=sha256:ab&from=src%2Fx",
        ));
        assert_eq!(
            mount,
            Route::Mount {
                name: "dst".into(),
                from: "src/x".into(),
                digest: "sha256:ab".into()
            }
        );
        let same = classify(&parts(
            Method::POST,
            "/v2/dst/blobs/uploads/?mount=sha256:ab&from=dst",
        ));
        assert_eq!(
            same,
            Route::Repository {
                name: "dst".into(),
                class: "upload"
            }
        );
        let plain = classify(&parts(
            Method::POST,
            "/v2/dst/blobs/uploads/?mount=sha256:ab",
        ));
        assert_eq!(
            plain,
            Route::Repository {
                name: "dst".into(),
                class: "upload"
            }
        );
    }

    #[test]
    fn fixed_routes() {
        assert_eq!(get("/v2/_catalog"), Route::Catalog);
        assert_eq!(get("/v2/"), Route::AnyMember { class: "base" });
        assert_eq!(
            get("/v2/_oci/ext/discover"),
            Route::AnyMember { class: "other" }
        );
        assert_eq!(
            get("/v2/_zot/ext/mgmt"),
            Route::AnyMember { class: "other" }
        );
        assert_eq!(get("/v2/_zot/ext/search?query=x"), Route::Search);
        assert_eq!(
            get("/v2/_zot/ext/userprefs?action=toggleStar&repo=a%2Fb"),
            Route::UserPrefs {
                repo: Some("a/b".into())
            }
        );
        assert_eq!(get("/readyz"), Route::Own(Own::Readyz));
        assert_eq!(get("/"), Route::Ui);
        assert_eq!(get("/explore?filter=x"), Route::Ui);
        assert_eq!(
            classify(&parts(Method::POST, "/zot/auth/logout")),
            Route::Logout
        );
        assert_eq!(
            get("/zot/auth/login?provider=github"),
            Route::AnyMember { class: "other" }
        );
        assert_eq!(get("/metrics"), Route::Own(Own::Metrics));
        assert_eq!(
            get("/v2/../x/manifests/v1"),
            Route::InvalidName {
                name: "../x".into()
            }
        );
    }

    /// An asterisk-form target once became a member URI on port 80, carrying
    /// the client's credentials there; no target but a path may reach a member.
    #[test]
    fn targets_that_are_not_paths_never_reach_a_member() {
        assert_eq!(
            classify(&parts(Method::OPTIONS, "*")),
            Route::Own(Own::ServerOptions)
        );
        for (method, target) in [
            (Method::GET, "*"),
            (Method::PUT, "*"),
            (Method::CONNECT, "member:80"),
        ] {
            assert!(
                matches!(
                    classify(&parts(method.clone(), target)),
                    Route::BadTarget { .. }
                ),
                "{method} {target}"
            );
        }
    }

    #[test]
    fn the_hop_header_is_a_loop() {
        let mut p = parts(Method::GET, "/v2/a/manifests/v1");
        p.headers
            .insert(HOP_HEADER, http::HeaderValue::from_static("1"));
        assert_eq!(classify(&p), Route::Loop);
    }
}
