//! The gateway's configuration: zot's JSON keys where zot has them (`http`, `cluster`), Flotilla's own beside them.
//!
//! ```json
//! {
//!   "http": {"address": "127.0.0.1", "port": "5000", "tls": {"cert": "…", "key": "…"}},
//!   "cluster": {"members": ["10.0.0.1:5000", "10.0.0.2:5000"], "hashKey": "loremipsumdolors",
//!               "tls": {"cacert": "…", "cert": "…", "key": "…"}},
//!   "placement": "rendezvous",
//!   "timeouts": {"connect": "3s", "response": "60s", "bodyStall": "60s", "poolIdle": "90s",
//!                "fanOut": "30s", "probeInterval": "2s", "drain": "30s"},
//!   "limits": {"mergedBodyBytes": 67108864, "mergeBudgetBytes": 268435456},
//!   "onMemberFailure": "fail",
//!   "metaDB": "per-node"
//! }
//! ```

use std::time::Duration;

use serde::Deserialize;

use flotilla_protocol::config::duration;

pub use flotilla_protocol::config::{ConfigError, LogConfig, TlsConfig};

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Config {
    /// Written by every zot config; informational.
    pub dist_spec_version: Option<String>,
    pub http: HttpConfig,
    pub cluster: ClusterConfig,
    /// `rendezvous` (default): adding or removing a member moves only the
    /// repositories it wins or held. `zot`: zot's own modulo placement, for
    /// fleets that ran zot's scale-out cluster.
    pub placement: Placement,
    /// The placement `cluster.previousMembers` were under, when it changed
    /// too; `placement` when absent.
    pub previous_placement: Option<Placement>,
    pub timeouts: Timeouts,
    pub limits: Limits,
    /// What `/v2/_catalog` does when a member fails: `fail` (default, 503
    /// naming the member) or `partial` (the others' answer plus a `Warning`).
    pub on_member_failure: OnMemberFailure,
    /// `per-node` (default): each member keeps its own metadata (stars,
    /// bookmarks). `shared`: one store behind all members.
    #[serde(rename = "metaDB")]
    pub meta_db: MetaDb,
    pub log: LogConfig,
    /// Accepted so a member's zot config can be reused as is; a gateway has no storage.
    pub storage: Option<serde_json::Value>,
    /// Accepted for the same reason; the gateway serves zot's extensions by routing.
    pub extensions: Option<serde_json::Value>,
}

/// `http`: the gateway's own listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct HttpConfig {
    /// Address to bind; default `127.0.0.1`.
    pub address: String,
    /// Port; a string as zot writes it, or a number. Default 5000.
    #[serde(deserialize_with = "flotilla_protocol::config::port")]
    pub port: u16,
    /// Serve HTTPS (HTTP/1.1 and HTTP/2 by ALPN) with this certificate and key.
    pub tls: Option<TlsConfig>,
    /// zot keys accepted for compatibility; authentication is each member's.
    pub realm: Option<String>,
    /// zot's `http.auth`: members check credentials; the gateway reads the
    /// keys of UI login sessions, which it holds itself (`session`).
    pub auth: Option<AuthConfig>,
    pub access_control: Option<serde_json::Value>,
    /// Flotilla's own: the load balancers (addresses or networks, `10.0.0.0/8`)
    /// whose `X-Forwarded-Proto: https` marks a client's connection as TLS,
    /// so its session cookie is `Secure`. Nobody by default.
    #[serde(deserialize_with = "networks")]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Flotilla's own: threads serving clients, each a single-threaded
    /// runtime with its own connections to members, so a relayed body never
    /// crosses threads. Default: one per core the process may use.
    pub workers: Option<usize>,
}

/// Addresses (`10.0.0.7`) or networks (`10.0.0.0/8`), an address being the
/// network of itself alone.
fn networks<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Vec<ipnet::IpNet>, D::Error> {
    Vec::<String>::deserialize(de)?
        .iter()
        .map(|text| {
            text.parse::<ipnet::IpNet>()
                .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    serde::de::Error::custom(format!(
                        "`{text}` is not an address or a network like \"10.0.0.0/8\""
                    ))
                })
        })
        .collect()
}

/// zot's `http.auth`, as the gateway reads it. Members authenticate; the
/// gateway only terminates UI logins, so it acts on the session keys alone
/// and accepts the rest (`htpasswd`, `ldap`, …) so a member's file can be reused.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AuthConfig {
    /// zot's JSON file of `hashKey` and `encryptKey` (Flotilla adds
    /// `previous`: earlier pairs, still opened, never sealed with). Every
    /// gateway with the same file accepts the same sessions.
    pub session_keys_file: Option<std::path::PathBuf>,
    /// `{"name": "redis", "url": "redis://…", "keyprefix": "zotsession"}`:
    /// sessions live in a shared Redis, so a logout ends them on every gateway.
    pub session_driver: Option<SessionDriver>,
    /// Session cookies are `Secure` even on plain HTTP (zot's key).
    pub secure_session: Option<bool>,
    /// Every other zot key: each member's business.
    #[serde(flatten)]
    pub members: serde_json::Map<String, serde_json::Value>,
}

/// zot's `http.auth.sessionDriver`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionDriver {
    /// `redis`, or `local` (the default: sealed cookies).
    pub name: String,
    pub url: Option<String>,
    /// zot's spelling; default `zotsession`.
    #[serde(alias = "keyPrefix")]
    pub keyprefix: Option<String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            address: "127.0.0.1".into(),
            port: 5000,
            tls: None,
            realm: None,
            auth: None,
            access_control: None,
            trusted_proxies: Vec::new(),
            workers: None,
        }
    }
}

/// zot's `cluster` block, accepted exactly as zot writes it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct ClusterConfig {
    /// `host:port` of every member, in the same order everywhere (placement depends on it).
    pub members: Vec<String>,
    /// The SipHash key placement uses: exactly 16 bytes, as zot reads it.
    pub hash_key: String,
    /// TLS towards members: `cacert` to verify them, `cert`+`key` for mTLS.
    /// When present, members are reached over HTTPS.
    pub tls: Option<TlsConfig>,
    /// The members before a change of `members`, in their old order: while
    /// set, a repository not (yet) on its owner is still found on its
    /// previous owner (the migration window; `window` in the code).
    /// Flotilla's own key; zot has none.
    pub previous_members: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Placement {
    #[default]
    Rendezvous,
    Zot,
}

/// As the config spells it, so `verify-config` echoes what the operator wrote.
impl std::fmt::Display for Placement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Rendezvous => "rendezvous",
            Self::Zot => "zot",
        })
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnMemberFailure {
    #[default]
    Fail,
    Partial,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MetaDb {
    #[default]
    PerNode,
    Shared,
}

/// `timeouts`: Go-style durations (`"3s"`, `"250ms"`, `"2m"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Timeouts {
    /// Connecting to a member; default 3s. A dead member costs at most this.
    #[serde(deserialize_with = "duration")]
    pub connect: Duration,
    /// Waiting for a member to start answering (its response head), counted
    /// from the end of the request body, so a slow upload never counts
    /// against it; default 60s (zot hashes a whole upload again when its
    /// closing `PUT` arrives, seconds per GiB). Over it: 504 naming the
    /// member. A member marked down by probes fails the requests awaiting
    /// its answer at once with a 503 naming it.
    #[serde(deserialize_with = "duration")]
    pub response: Duration,
    /// Longest pause between bytes of a body, either way; default 60s. A
    /// client whose request body stalls gets 408 (its fault: the member's
    /// health is untouched); a member that stops taking a request body gets
    /// the request a 504 naming it; a member whose answer stalls mid-body has
    /// the client's response aborted. Bodies of any length stream as long
    /// as bytes keep moving.
    #[serde(deserialize_with = "duration")]
    pub body_stall: Duration,
    /// How long an unused connection to a member is kept for reuse before
    /// it is closed; default 90s.
    #[serde(deserialize_with = "duration")]
    pub pool_idle: Duration,
    /// A whole fan-out (catalog, search) end to end: every member's pages
    /// and bodies, every round of a deep search page; default 30s. Members
    /// not finished by then are left out, each named in the error.
    #[serde(deserialize_with = "duration")]
    pub fan_out: Duration,
    /// Between health probes of each member; default 2s.
    #[serde(deserialize_with = "duration")]
    pub probe_interval: Duration,
    /// For one probe; default 1s.
    #[serde(deserialize_with = "duration")]
    pub probe: Duration,
    /// After SIGTERM, keep accepting for this long with `/readyz` at 503, so
    /// a load balancer's health check moves traffic away before connections
    /// are refused; default 0s (set it to the balancer's check interval).
    #[serde(deserialize_with = "duration")]
    pub drain_delay: Duration,
    /// In-flight requests may finish for this long after SIGTERM; default 30s.
    #[serde(deserialize_with = "duration")]
    pub drain: Duration,
    /// A client's TLS handshake, and an HTTP/1 request head, must arrive
    /// within this (slow-header clients are cut off); on HTTP/1 it also
    /// bounds a keep-alive connection's wait for its next request. Default 30s.
    #[serde(deserialize_with = "duration")]
    pub request_header: Duration,
    /// A client connection with no request in flight for this long is
    /// closed, on HTTP/1.1 and HTTP/2 alike. Default 90s.
    #[serde(deserialize_with = "duration")]
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        let listener = flotilla_serve::listener::Limits::default();
        Self {
            connect: Duration::from_secs(3),
            response: Duration::from_secs(60),
            body_stall: Duration::from_secs(60),
            pool_idle: Duration::from_secs(90),
            fan_out: Duration::from_secs(30),
            probe_interval: Duration::from_secs(2),
            probe: Duration::from_secs(1),
            drain_delay: Duration::ZERO,
            drain: Duration::from_secs(30),
            request_header: listener.header,
            idle: listener.idle,
        }
    }
}

/// `limits`: bounds on what the gateway buffers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Limits {
    /// Largest JSON body read from one member for a merge (catalog pages,
    /// GraphQL answers); default 64 MiB. Over it, the member counts as failed.
    pub merged_body_bytes: usize,
    /// Most `Link` pages followed per member for one catalog; default 10000.
    /// Each followed page must also move the walk on (its `Link` names a
    /// `last` after the one before, never one seen before), or the member
    /// counts as failed at once.
    pub catalog_pages: usize,
    /// Memory all merges together may hold at once, across concurrent
    /// requests: members' bodies as they are read, the merge's index and a
    /// merged catalog until it is sent; default 256 MiB. A merge that would go
    /// over fails at once: 503 on `/v2/_catalog`, a GraphQL error
    /// (`MERGE_BUDGET_EXHAUSTED`) on search. At least `mergedBodyBytes`.
    pub merge_budget_bytes: usize,
    /// Largest search request body (POST JSON) read; default 1 MiB. Over it: 413.
    pub search_request_bytes: usize,
    /// Most root fields in one search document (each may fan out to every
    /// member); default 16. Over it: 422, no member contacted.
    pub search_root_fields: usize,
    /// Deepest nesting of a search document; default 24 (introspection needs about 12).
    pub search_depth: usize,
    /// Most fields and argument values a search document may select in all
    /// (a string argument counting one more per KiB), counted with its
    /// fragments expanded but before expanding them, so a small document
    /// that expands exponentially costs no more than its own size to
    /// refuse; default 5000. Over it: 422, no member contacted.
    pub search_fields: usize,
    /// Client connections open at once; past it a new connection is answered
    /// `503` and closed. The descriptor limit is raised at start to fit it
    /// (two per client: its own and one to a member). Default 10000.
    pub connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            merged_body_bytes: 64 << 20,
            catalog_pages: 10_000,
            merge_budget_bytes: 256 << 20,
            search_request_bytes: 1 << 20,
            search_root_fields: 16,
            search_depth: 24,
            search_fields: 5000,
            connections: flotilla_serve::listener::Limits::default().connections,
        }
    }
}

/// Each member of the list at `key` is a `host:port` given once.
fn check_members(key: &'static str, members: &[String]) -> Result<(), ConfigError> {
    for (i, member) in members.iter().enumerate() {
        // zot's members are sockets; without a port the gateway would
        // reach a port (80 or 443) no node was told to listen on.
        let authority = member.parse::<http::uri::Authority>();
        if !authority.is_ok_and(|a| a.port().is_some()) || member.contains('@') {
            return Err(ConfigError::Invalid {
                key,
                message: format!("member {i} `{member}` is not \"host:port\""),
            });
        }
        if members[..i].contains(member) {
            return Err(ConfigError::Invalid {
                key,
                message: format!("member `{member}` is listed twice"),
            });
        }
    }
    Ok(())
}

impl Config {
    /// Every member the gateway contacts: `cluster.members`, then those only
    /// in `cluster.previousMembers`.
    pub fn all_members(&self) -> Vec<String> {
        let mut all = self.cluster.members.clone();
        for member in self.cluster.previous_members.iter().flatten() {
            if !all.contains(member) {
                all.push(member.clone());
            }
        }
        all
    }

    /// Parses a config file's text; errors name the key (`cluster.hashKey`).
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        flotilla_protocol::config::parse_json(text)
    }

    /// Cross-field checks, once at startup, with messages that say how to fix them.
    pub fn validate(self) -> Result<Self, ConfigError> {
        let cluster = &self.cluster;
        if cluster.members.is_empty() {
            return Err(ConfigError::Invalid {
                key: "cluster.members",
                message: "cannot have 0 members: list every node as \"host:port\"".into(),
            });
        }
        check_members("cluster.members", &cluster.members)?;
        if let Some(previous) = &cluster.previous_members {
            if previous.is_empty() {
                return Err(ConfigError::Invalid {
                    key: "cluster.previousMembers",
                    message: "cannot have 0 members: leave the key out once the window closes"
                        .into(),
                });
            }
            check_members("cluster.previousMembers", previous)?;
        }
        if cluster.hash_key.len() != 16 {
            return Err(ConfigError::Invalid {
                key: "cluster.hashKey",
                message: format!(
                    "must be exactly 16 bytes (has {} bytes), the length of zot's SipHash key",
                    cluster.hash_key.len()
                ),
            });
        }
        if self.http.workers == Some(0) {
            return Err(ConfigError::Invalid {
                key: "http.workers",
                message: "must be greater than 0".into(),
            });
        }
        if let Some(tls) = &self.http.tls {
            if tls.cert.is_none() || tls.key.is_none() {
                return Err(ConfigError::Invalid {
                    key: "http.tls",
                    message: "needs both `cert` and `key` to serve HTTPS".into(),
                });
            }
        }
        if let Some(tls) = &cluster.tls {
            if tls.cert.is_some() != tls.key.is_some() {
                return Err(ConfigError::Invalid {
                    key: "cluster.tls",
                    message: "a client certificate needs both `cert` and `key`".into(),
                });
            }
        }
        self.log.validate()?;
        self.validate_sessions()?;
        let t = &self.timeouts;
        if [
            t.connect,
            t.response,
            t.body_stall,
            t.probe,
            t.probe_interval,
            t.request_header,
            t.idle,
        ]
        .contains(&Duration::ZERO)
        {
            return Err(ConfigError::Invalid {
                key: "timeouts",
                message: "connect, response, bodyStall, probe, probeInterval, requestHeader and idle must be longer than 0s".into(),
            });
        }
        let l = &self.limits;
        if [
            l.merged_body_bytes,
            l.catalog_pages,
            l.merge_budget_bytes,
            l.search_request_bytes,
            l.search_root_fields,
            l.search_depth,
            l.search_fields,
            l.connections,
        ]
        .contains(&0)
        {
            return Err(ConfigError::Invalid {
                key: "limits",
                message: "limits must be greater than 0".into(),
            });
        }
        if l.merge_budget_bytes < l.merged_body_bytes {
            return Err(ConfigError::Invalid {
                key: "limits.mergeBudgetBytes",
                message: format!(
                    "{} is less than limits.mergedBodyBytes ({}): no merge of one full-size member answer would fit; raise it",
                    l.merge_budget_bytes, l.merged_body_bytes
                ),
            });
        }
        Ok(self)
    }

    /// The session store: keys in a file, or a Redis; zot refuses both at once.
    fn validate_sessions(&self) -> Result<(), ConfigError> {
        let Some(auth) = &self.http.auth else {
            return Ok(());
        };
        match &auth.session_driver {
            None => Ok(()),
            Some(d) if d.name == "local" => Ok(()),
            Some(d) if d.name == "redis" => {
                if auth.session_keys_file.is_some() {
                    return Err(ConfigError::Invalid {
                        key: "http.auth.sessionDriver",
                        message: "the redis session driver cannot be combined with http.auth.sessionKeysFile (as in zot): sessions live in Redis, sealed by a secret only the cookie holds".into(),
                    });
                }
                match d.url.as_deref().map(redis::Client::open) {
                    Some(Ok(_)) => Ok(()),
                    _ => Err(ConfigError::Invalid {
                        key: "http.auth.sessionDriver.url",
                        message: "needs a redis:// or rediss:// URL".into(),
                    }),
                }
            }
            Some(d) => Err(ConfigError::Invalid {
                key: "http.auth.sessionDriver.name",
                message: format!("{:?} is not supported: use \"redis\" or \"local\"", d.name),
            }),
        }
    }

    /// `extensions.ui.directory`: the built UI the gateway serves itself.
    /// Without it, UI paths go to a member (zot members serve zui).
    pub fn ui_directory(&self) -> Option<std::path::PathBuf> {
        let ui = self.extensions.as_ref()?.get("ui")?;
        if ui.get("enable") == Some(&serde_json::Value::Bool(false)) {
            return None;
        }
        ui.get("directory")?.as_str().map(Into::into)
    }

    /// Every file the config names can be read: the TLS material, the
    /// listener's and the one towards members.
    pub fn check_files(&self) -> Result<(), ConfigError> {
        if let Some(tls) = &self.http.tls {
            tls.check_files(["http.tls.cert", "http.tls.key", "http.tls.cacert"])?;
        }
        if let Some(tls) = &self.cluster.tls {
            tls.check_files(["cluster.tls.cert", "cluster.tls.key", "cluster.tls.cacert"])?;
        }
        Ok(())
    }

    /// The listener's bounds on each client.
    pub fn client_limits(&self) -> flotilla_serve::listener::Limits {
        flotilla_serve::listener::Limits {
            connections: self.limits.connections,
            header: self.timeouts.request_header,
            idle: self.timeouts.idle,
            workers: self.workers(),
        }
    }

    /// Threads serving clients: `http.workers`, else one per core.
    pub fn workers(&self) -> usize {
        self.http
            .workers
            .unwrap_or_else(flotilla_serve::workers::default_count)
    }

    /// The key placement hashes with.
    pub fn hash_key(&self) -> [u8; 16] {
        let mut key = [0u8; 16];
        key.copy_from_slice(&self.cluster.hash_key.as_bytes()[..16]);
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"{"http":{"port":"5000"},"cluster":{"members":["127.0.0.1:9000","127.0.0.1:9001"],
        "hashKey":"loremipsumdolors"}}"#;

    #[test]
    fn session_keys_are_read_as_zot_writes_them() {
        let cfg = Config::parse(
            r#"{"http":{"auth":{"htpasswd":{"path":"/etc/htpasswd"},"sessionKeysFile":"/k.json","secureSession":true},
                "trustedProxies":["127.0.0.1","10.0.0.0/8","::1"]},
                "cluster":{"members":["a:1"],"hashKey":"loremipsumdolors"}}"#,
        )
        .and_then(Config::validate)
        .unwrap();
        let auth = cfg.http.auth.as_ref().unwrap();
        assert_eq!(
            auth.session_keys_file.as_deref(),
            Some(std::path::Path::new("/k.json"))
        );
        assert!(auth.members.contains_key("htpasswd"));
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let trusted = |a| cfg.http.trusted_proxies.iter().any(|n| n.contains(&ip(a)));
        assert!(trusted("127.0.0.1") && trusted("10.9.8.7") && trusted("::1"));
        assert!(!trusted("127.0.0.2") && !trusted("192.168.0.1"));
        for (text, key) in [
            (r#""trustedProxies":["example.com"]"#, "trustedProxies"),
            (r#""workers":0"#, "http.workers"),
            (
                r#""auth":{"sessionDriver":{"name":"memcached"}}"#,
                "sessionDriver.name",
            ),
            (
                r#""auth":{"sessionDriver":{"name":"redis","url":"nope"}}"#,
                "sessionDriver.url",
            ),
            (
                r#""auth":{"sessionKeysFile":"/k","sessionDriver":{"name":"redis","url":"redis://r:6379"}}"#,
                "sessionDriver",
            ),
        ] {
            let err = Config::parse(&format!(
                r#"{{"http":{{{text}}},"cluster":{{"members":["a:1"],"hashKey":"loremipsumdolors"}}}}"#
            ))
            .and_then(Config::validate)
            .unwrap_err()
            .to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
    }

    #[test]
    fn a_zot_cluster_block_is_accepted_as_written() {
        let cfg = Config::parse(OK).unwrap().validate().unwrap();
        assert_eq!(cfg.cluster.members.len(), 2);
        assert_eq!(cfg.placement, Placement::Rendezvous);
        assert_eq!(&cfg.hash_key(), b"loremipsumdolors");
    }

    #[test]
    fn flotilla_keys_parse() {
        let cfg = Config::parse(
            r#"{"cluster":{"members":["a:1"],"hashKey":"0123456789abcdef"},"placement":"zot",
                "timeouts":{"connect":"250ms","fanOut":"1m","response":"20s","bodyStall":"5s","poolIdle":"1s"},"onMemberFailure":"partial","metaDB":"shared"}"#,
        )
        .unwrap()
        .validate()
        .unwrap();
        assert_eq!(cfg.placement, Placement::Zot);
        assert_eq!(cfg.timeouts.connect, Duration::from_millis(250));
        assert_eq!(cfg.timeouts.fan_out, Duration::from_secs(60));
        assert_eq!(cfg.timeouts.response, Duration::from_secs(20));
        assert_eq!(cfg.timeouts.body_stall, Duration::from_secs(5));
        assert_eq!(cfg.timeouts.pool_idle, Duration::from_secs(1));
        assert_eq!(cfg.on_member_failure, OnMemberFailure::Partial);
        assert_eq!(cfg.meta_db, MetaDb::Shared);
        assert_eq!(cfg.workers(), flotilla_serve::workers::default_count());
        let three = Config::parse(&OK.replace(r#""port":"5000""#, r#""port":"5000","workers":3"#));
        assert_eq!(
            three.unwrap().validate().unwrap().client_limits().workers,
            3
        );
    }

    #[test]
    fn errors_name_the_key() {
        let short = OK.replace("loremipsumdolors", "lorem");
        let err = Config::parse(&short)
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cluster.hashKey") && err.contains("16 bytes (has 5 bytes)"),
            "{err}"
        );
        let none = r#"{"cluster":{"members":[],"hashKey":"loremipsumdolors"}}"#;
        let err = Config::parse(none)
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.contains("cluster.members"), "{err}");
        let err = Config::parse(r#"{"placement":"random"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("placement"), "{err}");
        let err = Config::parse(r#"{"timeouts":{"connect":"soon"}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("timeouts.connect"), "{err}");
        let zero = OK.replace(r#""http""#, r#""timeouts":{"bodyStall":"0s"},"http""#);
        let err = Config::parse(&zero)
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("timeouts") && err.contains("bodyStall"),
            "{err}"
        );
        let small = OK.replace(
            "}}",
            "},\"limits\":{\"mergedBodyBytes\":2048,\"mergeBudgetBytes\":1024}}",
        );
        let err = Config::parse(&small)
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.contains("limits.mergeBudgetBytes"), "{err}");
        let err = Config::parse(r#"{"cluster":{"member":[]}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("member"), "{err}");
    }

    /// The hole: a member written without a port was accepted, and the
    /// gateway then reached it on port 80.
    #[test]
    fn previous_members_open_the_window_and_every_member_is_contacted_once() {
        let with = |previous: &str| {
            let cluster = format!(
                r#""cluster":{{"members":["a:1","b:2"],"hashKey":"0123456789abcdef","previousMembers":{previous}}}"#
            );
            Config::parse(&format!("{{{cluster}}}")).and_then(Config::validate)
        };
        let cfg = with(r#"["c:3","a:1"]"#).unwrap();
        assert_eq!(cfg.all_members(), ["a:1", "b:2", "c:3"]);
        for (previous, needle) in [
            ("[]", "0 members"),
            (r#"["c"]"#, "host:port"),
            (r#"["c:3","c:3"]"#, "twice"),
        ] {
            let err = with(previous).unwrap_err().to_string();
            assert!(
                err.contains("cluster.previousMembers") && err.contains(needle),
                "{err}"
            );
        }
    }

    #[test]
    fn a_member_without_a_port_is_refused() {
        for member in ["127.0.0.1", "node-a", "[::1]"] {
            let text = OK.replace("127.0.0.1:9001", member);
            let err = Config::parse(&text)
                .unwrap()
                .validate()
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("cluster.members") && err.contains(member),
                "{member}: {err}"
            );
        }
    }

    #[test]
    fn the_hash_key_is_counted_in_bytes() {
        // 16 characters, 17 bytes: zot reads bytes.
        let text = OK.replace("loremipsumdolors", "loremipsumdolor\u{e9}");
        let err = Config::parse(&text)
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.contains("16 bytes (has 17 bytes)"), "{err}");
    }

    #[test]
    fn placement_prints_as_the_config_spells_it() {
        for name in ["rendezvous", "zot"] {
            let text = OK.replace(r#""http""#, &format!(r#""placement":"{name}","http""#));
            let cfg = Config::parse(&text).unwrap();
            assert_eq!(cfg.placement.to_string(), name);
        }
    }
}
