//! The node's configuration: zot's JSON shape and key names, parsed from a string and validated once.
//!
//! One file means the same to zot and to `flotilla-node`. Keys zot has that the
//! node does not act on are sorted in `inert`: refused by name where ignoring
//! them would move data or open access, accepted with one warning where their
//! absence is harmless (garbage collection, dedupe, …); any other key is
//! refused by name.

mod access;
mod extensions;
mod inert;

use std::path::PathBuf;

use serde::Deserialize;

pub use access::{AccessControlConfig, AuthConfig, HtpasswdConfig, Policy, PolicyGroup};
// The keys zot defines for both binaries, and Flotilla's own listener keys.
pub use extensions::{ExtensionsConfig, SearchConfig, UiConfig};
pub use flotilla_protocol::config::{
    duration, parse_json, port, readable, ConfigError, LogConfig, TlsConfig,
};
pub use flotilla_serve::clients::{ClientLimits, ClientTimeouts};

/// The whole file, as `zot serve CONFIG.json` reads it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Config {
    /// Written by every zot config; informational.
    pub dist_spec_version: Option<String>,
    pub storage: StorageConfig,
    pub http: HttpConfig,
    pub log: LogConfig,
    /// zot's extensions block: search (GraphQL, mgmt) and UI (user
    /// preferences) are served; the others are sorted in `inert`.
    pub extensions: Option<ExtensionsConfig>,
    /// zot's scheduler tuning; accepted with a warning (the node's `limits` apply).
    pub scheduler: Option<serde_json::Value>,
    /// zot's scale-out cluster block. A node is always standalone (the gateway
    /// does the routing): with more than one member it is refused, since zot
    /// would forward repositories the node would keep; with one, zot does not
    /// cluster either.
    pub cluster: Option<serde_json::Value>,
    /// Flotilla's own: how long a client may take (request head, idle
    /// connection, stalled body).
    pub timeouts: ClientTimeouts,
    /// Flotilla's own: how many connections clients may hold.
    pub limits: ClientLimits,
}

/// `storage`: where repositories live.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct StorageConfig {
    /// Root of the OCI layouts, one per repository. Required.
    pub root_directory: PathBuf,
    /// zot keys with no effect on this node: refused (`storageDriver`,
    /// `subPaths`, `remoteCache: true`, `maxRepos`) or named in the start
    /// warning (the rest); see `inert` for why each.
    pub dedupe: Option<serde_json::Value>,
    pub gc: Option<serde_json::Value>,
    /// zot's `gcDelay` (a duration, default `1h`): an upload session not
    /// written for this long is removed, whether abandoned or left by a
    /// final PUT whose digest did not match.
    #[serde(deserialize_with = "some_duration")]
    pub gc_delay: Option<std::time::Duration>,
    pub gc_interval: Option<serde_json::Value>,
    pub gc_time_window: Option<serde_json::Value>,
    pub commit: Option<serde_json::Value>,
    pub remote_cache: Option<serde_json::Value>,
    pub max_repos: Option<serde_json::Value>,
    pub retention: Option<serde_json::Value>,
    pub redirect_blob_url: Option<serde_json::Value>,
    pub fast_restart: Option<serde_json::Value>,
    pub storage_driver: Option<serde_json::Value>,
    pub cache_driver: Option<serde_json::Value>,
    pub sub_paths: Option<serde_json::Value>,
}

impl StorageConfig {
    /// How long an upload session may go unwritten before it is removed.
    pub fn upload_expiry(&self) -> std::time::Duration {
        self.gc_delay
            .unwrap_or(std::time::Duration::from_secs(60 * 60))
    }
}

fn some_duration<'de, D: serde::Deserializer<'de>>(
    de: D,
) -> Result<Option<std::time::Duration>, D::Error> {
    duration(de).map(Some)
}

/// `http`: the listener and who may use it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct HttpConfig {
    /// Address to bind; default `127.0.0.1`.
    pub address: String,
    /// Port to bind; zot writes it as a string, numbers are accepted too. Default 5000.
    #[serde(deserialize_with = "port")]
    pub port: u16,
    /// Realm in `WWW-Authenticate: Basic realm="…"`; default `Authorization Required` as zot.
    pub realm: Option<String>,
    pub auth: Option<AuthConfig>,
    pub access_control: Option<AccessControlConfig>,
    /// Serve HTTPS (HTTP/1.1 and HTTP/2 by ALPN) with `cert` and `key`; with
    /// `cacert`, require client certificates it signed.
    pub tls: Option<TlsConfig>,
    /// zot keys with no effect on this node: `ratelimit` is refused, the
    /// timeouts and `externalUrl` named in the start warning; `allowOrigin`
    /// and `compat` mean here what they mean to zot.
    pub external_url: Option<String>,
    pub allow_origin: Option<String>,
    pub read_timeout: Option<serde_json::Value>,
    pub write_timeout: Option<serde_json::Value>,
    pub ratelimit: Option<serde_json::Value>,
    pub compat: Option<serde_json::Value>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            address: "127.0.0.1".to_owned(),
            port: 5000,
            realm: None,
            auth: None,
            access_control: None,
            external_url: None,
            allow_origin: None,
            read_timeout: None,
            write_timeout: None,
            tls: None,
            ratelimit: None,
            compat: None,
        }
    }
}

impl Config {
    /// Parses a config file's text; errors name the key (`http.port`).
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        parse_json(text)
    }

    /// Cross-field checks, once at startup.
    pub fn validate(self) -> Result<Self, ConfigError> {
        if self.storage.root_directory.as_os_str().is_empty() {
            return Err(ConfigError::Invalid {
                key: "storage.rootDirectory",
                message: "is required: the directory that holds the repositories".into(),
            });
        }
        self.log.validate()?;
        if let Some(tls) = &self.http.tls {
            if tls.cert.is_none() || tls.key.is_none() {
                return Err(ConfigError::Invalid {
                    key: "http.tls",
                    message: "needs both `cert` and `key` to serve HTTPS".into(),
                });
            }
        }
        if let Some(auth) = &self.http.auth {
            auth.validate()?;
        }
        if let Some(access_control) = &self.http.access_control {
            access_control.validate(self.http.auth.as_ref())?;
        }
        if let Some(extensions) = &self.extensions {
            extensions.validate()?;
        }
        if self.storage.gc_delay.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError::Invalid {
                key: "storage.gcDelay",
                message: "must be greater than 0".into(),
            });
        }
        self.timeouts.validate(&self.limits)?;
        self.refuse_inert()?;
        Ok(self)
    }

    /// Every file the config names can be read: the htpasswd file and the
    /// TLS material. `verify` and `serve` check it, not [`Config::validate`],
    /// which looks at the text alone.
    pub fn check_files(&self) -> Result<(), ConfigError> {
        if let Some(htpasswd) = self.http.auth.as_ref().and_then(|a| a.htpasswd.as_ref()) {
            readable("http.auth.htpasswd.path", &htpasswd.path)?;
        }
        if let Some(tls) = &self.http.tls {
            tls.check_files(["http.tls.cert", "http.tls.key", "http.tls.cacert"])?;
        }
        Ok(())
    }

    /// Is `/v2/_zot/ext/search` served?
    pub fn search_enabled(&self) -> bool {
        self.extensions
            .as_ref()
            .is_some_and(ExtensionsConfig::search_enabled)
    }

    /// What one search document may cost; the default without `extensions`.
    pub fn search_budget(&self) -> flotilla_protocol::graphql::cost::Budget {
        self.extensions
            .as_ref()
            .map(ExtensionsConfig::search_budget)
            .unwrap_or_else(|| ExtensionsConfig::default().search_budget())
    }

    /// Is `/v2/_zot/ext/userprefs` served?
    pub fn user_prefs_enabled(&self) -> bool {
        self.extensions
            .as_ref()
            .is_some_and(ExtensionsConfig::user_prefs_enabled)
    }

    pub fn realm(&self) -> &str {
        self.http
            .realm
            .as_deref()
            .unwrap_or("Authorization Required")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zot_config_parses() {
        let cfg = Config::parse(
            r#"{"distSpecVersion":"1.1.1","storage":{"rootDirectory":"/tmp/zot","dedupe":true,"gc":true},
                "http":{"address":"127.0.0.1","port":"8080"},"log":{"level":"debug"}}"#,
        )
        .unwrap()
        .validate()
        .unwrap();
        assert_eq!(cfg.http.port, 8080);
        assert_eq!(cfg.storage.root_directory, PathBuf::from("/tmp/zot"));
    }

    #[test]
    fn numeric_port_is_accepted() {
        let cfg =
            Config::parse(r#"{"storage":{"rootDirectory":"d"},"http":{"port":5001}}"#).unwrap();
        assert_eq!(cfg.http.port, 5001);
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::parse(r#"{"storage":{"rootDirectory":"d"},"http":{"prot":"1"}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("http"), "{err}");
        assert!(err.contains("prot"), "{err}");
    }

    #[test]
    fn bad_port_is_named() {
        let err = Config::parse(r#"{"http":{"port":"eighty"}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("http.port"), "{err}");
    }

    #[test]
    fn missing_root_is_refused() {
        let err = Config::parse("{}")
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.contains("storage.rootDirectory"), "{err}");
    }

    /// The hole: `verify` passed with an htpasswd file that did not exist, and
    /// the node then refused every login.
    #[test]
    fn files_the_config_names_must_be_readable() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("htpasswd");
        let text = format!(
            r#"{{"storage":{{"rootDirectory":"d"}},"http":{{"auth":{{"htpasswd":{{"path":{:?}}}}}}}}}"#,
            missing.display().to_string()
        );
        let cfg = Config::parse(&text).unwrap().validate().unwrap();
        let err = cfg.check_files().unwrap_err().to_string();
        assert!(err.contains("http.auth.htpasswd.path"), "{err}");
        assert!(err.contains(&missing.display().to_string()), "{err}");
        std::fs::write(&missing, "u:$2y$05$x\n").unwrap();
        cfg.check_files().unwrap();

        let tls = TlsConfig {
            cert: Some(missing.clone()),
            key: Some(dir.path().to_path_buf()),
            cacert: None,
        };
        let err = tls
            .check_files(["c.cert", "c.key", "c.cacert"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("c.key"), "{err}");
    }
}
