//! `extensions`: zot's extension switches, typed for the ones the node serves (search, UI user preferences) and accepted as they are for the rest.

use serde::Deserialize;

use super::ConfigError;
use flotilla_protocol::graphql::cost::Budget;

/// `extensions.search.maxFields` when it is not set.
const DEFAULT_SEARCH_FIELDS: usize = 10_000;

/// `extensions`. Keys the node does not act on are refused when switched on
/// (sync, lint, events) or named in the start warning (scrub, metrics, trust,
/// mgmt, apikey); see `inert` for why each.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExtensionsConfig {
    /// zot's GraphQL search extension; `/v2/_zot/ext/search` and `/v2/_zot/ext/mgmt`.
    pub search: Option<SearchConfig>,
    /// zot's web UI; with search it switches on `/v2/_zot/ext/userprefs`,
    /// and with `directory` the node serves the UI's files.
    pub ui: Option<UiConfig>,
    pub sync: Option<serde_json::Value>,
    pub metrics: Option<serde_json::Value>,
    pub scrub: Option<serde_json::Value>,
    pub lint: Option<serde_json::Value>,
    pub mgmt: Option<serde_json::Value>,
    pub apikey: Option<serde_json::Value>,
    pub trust: Option<serde_json::Value>,
    pub events: Option<serde_json::Value>,
}

/// `extensions.search`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct SearchConfig {
    /// Defaults to true when the `search` object is present, as zot's defaults do.
    pub enable: Option<bool>,
    /// zot's CVE scanning (trivy). Accepted with a warning; the node answers
    /// CVE queries as zot does with scanning off.
    pub cve: Option<serde_json::Value>,
    /// Flotilla's own (zot has no such key, and refuses a file that sets
    /// it): the most fields and argument values one search document may
    /// select with its fragments expanded, counted before anything is
    /// expanded; default 10000. zui's and zli's queries select under 100,
    /// the full introspection query a few hundred. Over it: 422 with
    /// `GRAPHQL_VALIDATION_FAILED`, nothing executed. Behind a gateway keep
    /// it above the gateway's `limits.searchFields`, whose documents the
    /// gateway passes on with a few fields of its own added.
    pub max_fields: Option<usize>,
}

/// `extensions.ui`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UiConfig {
    /// Off unless set: zot gives `ui.enable` no default.
    pub enable: Option<bool>,
    /// Flotilla's own: the directory of the UI's build (zui's `build/`),
    /// served at `/`. zot embeds its UI in the binary instead, and refuses
    /// a file that sets this key.
    pub directory: Option<std::path::PathBuf>,
}

impl ExtensionsConfig {
    /// zot's `IsSearchEnabled` after its defaults: present and not switched off.
    pub fn search_enabled(&self) -> bool {
        self.search
            .as_ref()
            .is_some_and(|s| s.enable != Some(false))
    }

    /// What one search document may cost (`extensions.search.maxFields`).
    pub fn search_budget(&self) -> Budget {
        Budget {
            fields: self
                .search
                .as_ref()
                .and_then(|s| s.max_fields)
                .unwrap_or(DEFAULT_SEARCH_FIELDS),
            key: "extensions.search.maxFields",
        }
    }

    /// zot's `AreUserPrefsEnabled`: search and UI both on.
    pub fn user_prefs_enabled(&self) -> bool {
        self.search_enabled() && self.ui.as_ref().is_some_and(|u| u.enable == Some(true))
    }

    /// The UI build to serve, when the UI is on and names one.
    pub fn ui_directory(&self) -> Option<&std::path::Path> {
        let ui = self.ui.as_ref().filter(|u| u.enable == Some(true))?;
        ui.directory.as_deref()
    }

    /// zot's `validateExtensionsConfig`: the UI needs search.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let ui = self.ui.as_ref().is_some_and(|u| u.enable == Some(true));
        if ui && !self.search_enabled() {
            return Err(ConfigError::Invalid {
                key: "extensions.ui.enable",
                message: "failed to enable ui, search extension must be enabled".into(),
            });
        }
        if self.search.as_ref().and_then(|s| s.max_fields) == Some(0) {
            return Err(ConfigError::Invalid {
                key: "extensions.search.maxFields",
                message: "must be greater than 0 (leave it out for the default, 10000)".into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::Config;

    fn parse(ext: &str) -> Result<Config, String> {
        let text = format!(r#"{{"storage":{{"rootDirectory":"d"}},"extensions":{ext}}}"#);
        Config::parse(&text)
            .and_then(Config::validate)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn search_defaults_to_on_when_present() {
        let cfg = parse(r#"{"search":{}}"#).unwrap();
        let ext = cfg.extensions.unwrap();
        assert!(ext.search_enabled());
        assert!(!ext.user_prefs_enabled());
        let off = parse(r#"{"search":{"enable":false}}"#).unwrap();
        assert!(!off.extensions.unwrap().search_enabled());
    }

    #[test]
    fn ui_needs_search_and_switches_on_user_prefs() {
        let err = parse(r#"{"ui":{"enable":true}}"#).unwrap_err();
        assert!(err.contains("extensions.ui.enable"), "{err}");
        let cfg = parse(
            r#"{"search":{"enable":true,"cve":{"updateInterval":"2h"}},"ui":{"enable":true}}"#,
        )
        .unwrap();
        assert!(cfg.extensions.unwrap().user_prefs_enabled());
    }

    #[test]
    fn zot_extension_keys_are_accepted_and_bad_values_named() {
        parse(r#"{"sync":{"enable":false},"scrub":{},"metrics":{"enable":true},"lint":{"enable":false},"trust":{"enable":false},"mgmt":{},"apikey":{},"events":{"enable":false}}"#)
            .unwrap();
        let err = parse(r#"{"search":{"enable":"yes"}}"#).unwrap_err();
        assert!(err.contains("extensions.search.enable"), "{err}");
        let err = parse(r#"{"serch":{}}"#).unwrap_err();
        assert!(err.contains("serch"), "{err}");
    }

    #[test]
    fn the_search_budget_has_a_default_and_refuses_zero() {
        let cfg = parse(r#"{"search":{}}"#).unwrap();
        let budget = cfg.extensions.unwrap().search_budget();
        assert_eq!(
            (budget.fields, budget.key),
            (10_000, "extensions.search.maxFields")
        );
        let cfg = parse(r#"{"search":{"maxFields":200}}"#).unwrap();
        assert_eq!(cfg.extensions.unwrap().search_budget().fields, 200);
        let err = parse(r#"{"search":{"maxFields":0}}"#).unwrap_err();
        assert!(err.contains("extensions.search.maxFields"), "{err}");
    }
}
