//! zot keys the node has no code for, sorted once: refused where ignoring one would change where data goes or who may use it, named in one warning where its absence is harmless.
//!
//! The rule, key by key (zot-reference §6 and zot's `pkg/api/config`):
//! - refused: `storage.storageDriver` (zot would store in S3; the node would
//!   write to local disk), `storage.subPaths` (repositories under a prefix
//!   would land in the root directory instead of their own), `storage.remoteCache:
//!   true` (metadata and the dedupe cache would stay local instead of Redis or
//!   DynamoDB, out of sight of whatever reads them there), `storage.maxRepos`
//!   (a quota: ignoring it lets clients create what the operator forbade),
//!   `http.ratelimit` (likewise a restriction on clients), `log.audit` (the
//!   audit trail the operator asked for would not be written), a `cluster`
//!   with more than one member (zot would forward each repository to the
//!   member its hash picks; the node would keep it — put the gateway in front
//!   instead), and, when switched on, `extensions.sync` (zot mirrors
//!   repositories to or from other registries), `extensions.lint` (zot refuses
//!   manifests without the annotations it names) and `extensions.events` (zot
//!   sends every change to a sink that would hear nothing). The identity
//!   providers of `http.auth` and CEL `conditions` are refused in `access.rs`.
//! - accepted with a warning: garbage collection, dedupe, retention, commit,
//!   fast restart and blob redirects (the node keeps every byte it is given,
//!   serves blobs itself and writes each file atomically), zot's own HTTP
//!   timeouts and scheduler (the node's `timeouts` and `limits` apply),
//!   `log.output` (logs go to stderr), API keys (no key is ever issued, so
//!   nobody gets in by one), `http.auth.sessionKeysFile` (UI sessions need
//!   no keys here: the cookie is a random token and the node keeps the
//!   session), a `sessionDriver` other than `local` (sessions always live in
//!   the node's own files under the storage root), a `cacheDriver` without
//!   `remoteCache` (zot falls back to its local database too), and the
//!   extensions that only add (metrics, scrub, trust, mgmt, CVE scanning).
//! - acted on or meaning nothing here: everything else the config structs
//!   hold (`http.auth.secureSession` marks the session cookies `Secure`;
//!   `http.compat`: the node always takes Docker media types).

use serde_json::Value;

use super::{Config, ConfigError};

/// Is a zot switch on? Absent, `false`, or `{"enable": false}` is off; any
/// other value is on (zot turns an extension on when its object is present
/// without `enable`).
fn on(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null | Value::Bool(false)) => false,
        Some(Value::Number(n)) => n.as_f64() != Some(0.0),
        Some(Value::Object(map)) => map.get("enable") != Some(&Value::Bool(false)),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(items)) => !items.is_empty(),
        Some(Value::Bool(true)) => true,
    }
}

impl Config {
    /// Refuses, naming the key, every zot key whose effect the node would not give.
    pub(super) fn refuse_inert(&self) -> Result<(), ConfigError> {
        let storage = &self.storage;
        let extensions = self.extensions.as_ref();
        let members = self
            .cluster
            .as_ref()
            .and_then(|c| c.get("members"))
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        let refused: [(&'static str, bool, &str); 10] = [
            (
                "storage.storageDriver",
                storage.storage_driver.is_some(),
                "the node stores only on local disk under storage.rootDirectory; remove it or run zot",
            ),
            (
                "storage.subPaths",
                // A map of prefixes: empty is none.
                storage
                    .sub_paths
                    .as_ref()
                    .and_then(Value::as_object)
                    .is_some_and(|paths| !paths.is_empty()),
                "the node keeps every repository under storage.rootDirectory; remove it or run zot",
            ),
            (
                "storage.remoteCache",
                storage.remote_cache.as_ref() == Some(&Value::Bool(true)),
                "the node keeps its metadata on local disk, not in a remote cache; set it to false",
            ),
            (
                "storage.maxRepos",
                on(storage.max_repos.as_ref()),
                "the node has no repository quota, so it would not be enforced; remove it",
            ),
            (
                "http.ratelimit",
                on(self.http.ratelimit.as_ref()),
                "the node does not rate-limit; use limits.connections or the load balancer",
            ),
            (
                "log.audit",
                self.log.audit.as_deref().is_some_and(|a| !a.is_empty()),
                "the node writes no audit log; remove it",
            ),
            (
                "cluster",
                members > 1,
                "a node is standalone; put flotilla-gateway in front of the members instead",
            ),
            (
                "extensions.sync",
                on(extensions.and_then(|e| e.sync.as_ref())),
                "the node does not mirror other registries; set enable to false",
            ),
            (
                "extensions.lint",
                on(extensions.and_then(|e| e.lint.as_ref())),
                "the node does not lint manifests; set enable to false",
            ),
            (
                "extensions.events",
                on(extensions.and_then(|e| e.events.as_ref())),
                "the node sends no events; set enable to false",
            ),
        ];
        match refused.into_iter().find(|(_, set, _)| *set) {
            Some((key, _, why)) => Err(ConfigError::Invalid {
                key,
                message: format!("is not supported by flotilla-node: {why}"),
            }),
            None => Ok(()),
        }
    }

    /// zot keys set in this config that the node accepts without acting on
    /// them, because their absence is harmless; `serve` names them in one
    /// warning line at start.
    pub fn inert_keys(&self) -> Vec<&'static str> {
        let s = &self.storage;
        let h = &self.http;
        let auth = h.auth.as_ref();
        let ext = self.extensions.as_ref();
        let search_cve = ext
            .and_then(|e| e.search.as_ref())
            .and_then(|s| s.cve.as_ref());
        // `{"name":"local"}` is the store the node uses anyway.
        let session_driver = auth
            .and_then(|a| a.session_driver.as_ref())
            .filter(|d| d.get("name").and_then(Value::as_str) != Some("local"));
        let candidates: [(&'static str, Option<&Value>); 19] = [
            ("storage.dedupe", s.dedupe.as_ref()),
            ("storage.gc", s.gc.as_ref()),
            ("storage.gcInterval", s.gc_interval.as_ref()),
            ("storage.gcTimeWindow", s.gc_time_window.as_ref()),
            ("storage.retention", s.retention.as_ref()),
            ("storage.commit", s.commit.as_ref()),
            ("storage.fastRestart", s.fast_restart.as_ref()),
            ("storage.redirectBlobURL", s.redirect_blob_url.as_ref()),
            ("storage.cacheDriver", s.cache_driver.as_ref()),
            ("http.readTimeout", h.read_timeout.as_ref()),
            ("http.writeTimeout", h.write_timeout.as_ref()),
            ("http.auth.sessionDriver", session_driver),
            ("scheduler", self.scheduler.as_ref()),
            ("extensions.metrics", ext.and_then(|e| e.metrics.as_ref())),
            ("extensions.scrub", ext.and_then(|e| e.scrub.as_ref())),
            ("extensions.trust", ext.and_then(|e| e.trust.as_ref())),
            ("extensions.mgmt", ext.and_then(|e| e.mgmt.as_ref())),
            ("extensions.apikey", ext.and_then(|e| e.apikey.as_ref())),
            ("extensions.search.cve", search_cve),
        ];
        let mut keys: Vec<&'static str> = candidates
            .into_iter()
            .filter(|(_, value)| on(*value))
            .map(|(key, _)| key)
            .collect();
        // Keys typed as strings or booleans rather than kept as JSON values.
        let flags = [
            (
                "http.externalUrl",
                h.external_url.as_deref().is_some_and(|u| !u.is_empty()),
            ),
            (
                "http.auth.apikey",
                auth.is_some_and(|a| a.apikey == Some(true)),
            ),
            (
                "http.auth.sessionKeysFile",
                auth.is_some_and(|a| a.session_keys_file.is_some()),
            ),
            (
                "http.accessControl.metrics",
                on(h.access_control.as_ref().and_then(|a| a.metrics.as_ref())),
            ),
            (
                "log.output",
                self.log.output.as_deref().is_some_and(|o| !o.is_empty()),
            ),
        ];
        keys.extend(flags.into_iter().filter(|(_, set)| *set).map(|(k, _)| k));
        keys
    }
}

#[cfg(test)]
mod tests {
    use crate::Config;

    /// A config of `fields`, with a root directory unless they give `storage`.
    fn parse(fields: &str) -> Result<Config, String> {
        let text = if fields.contains(r#""storage""#) {
            format!("{{{fields}}}")
        } else {
            format!(r#"{{"storage":{{"rootDirectory":"d"}},{fields}}}"#)
        };
        Config::parse(&text)
            .and_then(Config::validate)
            .map_err(|e| e.to_string())
    }

    /// The hole: `storageDriver: s3` was accepted and every push landed on local disk.
    #[test]
    fn keys_that_move_data_or_open_access_are_refused_by_name() {
        for (fields, key) in [
            (
                r#""storage":{"rootDirectory":"d","storageDriver":{"name":"s3","bucket":"b"}}"#,
                "storage.storageDriver",
            ),
            (
                r#""storage":{"rootDirectory":"d","subPaths":{"/a":{"rootDirectory":"/x"}}}"#,
                "storage.subPaths",
            ),
            (
                r#""storage":{"rootDirectory":"d","remoteCache":true,"cacheDriver":{"name":"redis"}}"#,
                "storage.remoteCache",
            ),
            (
                r#""storage":{"rootDirectory":"d","maxRepos":10}"#,
                "storage.maxRepos",
            ),
            (r#""http":{"ratelimit":{"rate":5}}"#, "http.ratelimit"),
            (r#""log":{"audit":"/var/log/audit.log"}"#, "log.audit"),
            (
                r#""cluster":{"members":["a:1","b:1"],"hashKey":"loremipsumdolors"}"#,
                "cluster",
            ),
            (
                r#""extensions":{"sync":{"registries":[]}}"#,
                "extensions.sync",
            ),
            (
                r#""extensions":{"lint":{"enable":true}}"#,
                "extensions.lint",
            ),
            (
                r#""extensions":{"events":{"sinks":[]}}"#,
                "extensions.events",
            ),
            (
                r#""http":{"auth":{"ldap":{"address":"x"}}}"#,
                "http.auth.ldap",
            ),
        ] {
            let err = parse(fields).expect_err(fields);
            assert!(err.contains(&format!("`{key}`")), "{fields}: {err}");
        }
    }

    #[test]
    fn switched_off_or_single_member_keys_are_accepted_silently() {
        let cfg = parse(
            r#""storage":{"rootDirectory":"d","remoteCache":false,"subPaths":{},"maxRepos":0,"dedupe":false,"gc":false},
               "cluster":{"members":["a:1"],"hashKey":"loremipsumdolors"},
               "extensions":{"sync":{"enable":false},"lint":{"enable":false},"events":{"enable":false}}"#,
        )
        .unwrap();
        assert_eq!(cfg.inert_keys(), Vec::<&str>::new());
    }

    /// Sessions are issued now: `secureSession` is acted on and the local
    /// driver is what the node does anyway; keys and other drivers are not used.
    #[test]
    fn session_keys_are_inert_except_secure_session_and_the_local_driver() {
        let cfg = parse(
            r#""http":{"auth":{"htpasswd":{"path":"p"},"secureSession":true,"sessionDriver":{"name":"local"}}}"#,
        )
        .unwrap();
        assert_eq!(cfg.inert_keys(), Vec::<&str>::new());
        let cfg = parse(
            r#""http":{"auth":{"htpasswd":{"path":"p"},"sessionKeysFile":"/k","sessionDriver":{"name":"redis","url":"redis://x"}}}"#,
        )
        .unwrap();
        assert_eq!(
            cfg.inert_keys(),
            ["http.auth.sessionDriver", "http.auth.sessionKeysFile"]
        );
    }

    #[test]
    fn keys_whose_absence_is_harmless_are_listed_for_one_warning() {
        let cfg = parse(
            r#""storage":{"rootDirectory":"d","dedupe":true,"gc":true,"gcDelay":"1h","retention":{"policies":[]},"commit":true,"cacheDriver":{"name":"boltdb"}},
               "http":{"readTimeout":"5s","auth":{"apikey":true}},"log":{"output":"/var/log/zot.log"},"scheduler":{"numWorkers":3},
               "extensions":{"scrub":{"interval":"24h"},"metrics":{},"search":{"cve":{}}}"#,
        )
        .unwrap();
        assert_eq!(
            cfg.inert_keys(),
            [
                "storage.dedupe",
                "storage.gc",
                "storage.retention",
                "storage.commit",
                "storage.cacheDriver",
                "http.readTimeout",
                "scheduler",
                "extensions.metrics",
                "extensions.scrub",
                "extensions.search.cve",
                "http.auth.apikey",
                "log.output",
            ]
        );
    }
}
