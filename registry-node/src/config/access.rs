//! `http.auth` and `http.accessControl`: who a caller is and what each caller may do, in zot's shape.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::ConfigError;
use crate::auth::{Action, RepoGlob};

/// `http.auth`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct AuthConfig {
    /// Basic authentication against an htpasswd file of bcrypt hashes.
    pub htpasswd: Option<HtpasswdConfig>,
    /// Seconds to wait before answering a failed authentication that carried
    /// credentials; default 0, as zot.
    pub fail_delay: u64,
    /// zot keys for identity providers this node does not offer; a config
    /// naming one is refused at validation rather than silently open.
    pub ldap: Option<serde_json::Value>,
    pub bearer: Option<serde_json::Value>,
    pub openid: Option<serde_json::Value>,
    pub mtls: Option<serde_json::Value>,
    /// Accepted for zot compatibility; API keys need the metadata database.
    pub apikey: Option<bool>,
    /// zot's keys to sign session cookies: accepted, unused (the node's UI
    /// session cookie is a random token, its state kept by the node).
    pub session_keys_file: Option<String>,
    /// zot's session store; the node always keeps sessions in files under
    /// `<storage.rootDirectory>/_sessions`, as zot's `local` driver does.
    pub session_driver: Option<serde_json::Value>,
    /// Mark the UI session cookies `Secure` even without `http.tls` (with
    /// it they always are), for a node behind a proxy that terminates TLS.
    pub secure_session: Option<bool>,
}

/// `http.auth.htpasswd`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct HtpasswdConfig {
    /// Path to the htpasswd file (`user:$2y$…` lines).
    pub path: PathBuf,
}

impl AuthConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        for (key, set) in [
            ("http.auth.ldap", self.ldap.is_some()),
            ("http.auth.bearer", self.bearer.is_some()),
            ("http.auth.openid", self.openid.is_some()),
            ("http.auth.mtls", self.mtls.is_some()),
        ] {
            if set {
                return Err(ConfigError::Invalid {
                    key,
                    message: "is not supported by flotilla-node; use http.auth.htpasswd".into(),
                });
            }
        }
        if let Some(htpasswd) = &self.htpasswd {
            if htpasswd.path.as_os_str().is_empty() {
                return Err(ConfigError::Invalid {
                    key: "http.auth.htpasswd.path",
                    message: "is required when htpasswd is configured".into(),
                });
            }
        }
        Ok(())
    }

    /// zot's `IsBasicAuthnEnabled` for what this node offers: htpasswd, or API
    /// keys (stored in zot's metadata database, so none can ever match here).
    pub(crate) fn basic_authn_enabled(&self) -> bool {
        let htpasswd = self
            .htpasswd
            .as_ref()
            .is_some_and(|h| !h.path.as_os_str().is_empty());
        htpasswd || self.apikey == Some(true)
    }
}

/// `http.accessControl`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct AccessControlConfig {
    /// Repository glob (`**`, `team/*`, …) → policies for the repositories it matches.
    pub repositories: BTreeMap<String, PolicyGroup>,
    /// Users and groups whose actions apply to every repository.
    pub admin_policy: Policy,
    /// Group name → members.
    pub groups: BTreeMap<String, Group>,
    /// zot's metrics access list; accepted, not used by the node.
    pub metrics: Option<serde_json::Value>,
}

/// One entry of `accessControl.repositories`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct PolicyGroup {
    pub policies: Vec<Policy>,
    /// Actions any authenticated user gets on matching repositories.
    pub default_policy: Vec<String>,
    /// Actions an unauthenticated caller gets on matching repositories.
    pub anonymous_policy: Vec<String>,
}

/// Users and groups, and the actions (`read`, `create`, `update`, `delete`) they get.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Policy {
    pub users: Vec<String>,
    pub groups: Vec<String>,
    pub actions: Vec<String>,
    /// zot's CEL policy conditions. Not evaluated by this node, so a non-empty
    /// list is refused at validation: ignoring a restriction would grant more.
    pub conditions: Option<serde_json::Value>,
}

/// `accessControl.groups.<name>`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Group {
    pub users: Vec<String>,
}

impl AccessControlConfig {
    /// zot's `validateAuthzPolicies` and its glob check, plus what the node refuses
    /// rather than ignore: CEL conditions and unknown action names.
    pub(crate) fn validate(&self, auth: Option<&AuthConfig>) -> Result<(), ConfigError> {
        const REPOS: &str = "http.accessControl.repositories";
        for (pattern, group) in &self.repositories {
            if let Err(err) = RepoGlob::new(pattern) {
                let message = format!("`{pattern}` is not a valid repository glob: {err}");
                return Err(ConfigError::Invalid {
                    key: REPOS,
                    message,
                });
            }
            let at = |field: &str| format!("`{pattern}`.{field}");
            for (i, policy) in group.policies.iter().enumerate() {
                if has_conditions(policy) {
                    let message =
                        format!("{}: {CONDITIONS}", at(&format!("policies[{i}].conditions")));
                    return Err(ConfigError::Invalid {
                        key: REPOS,
                        message,
                    });
                }
                check_actions(
                    REPOS,
                    &at(&format!("policies[{i}].actions")),
                    &policy.actions,
                )?;
            }
            check_actions(REPOS, &at("defaultPolicy"), &group.default_policy)?;
            check_actions(REPOS, &at("anonymousPolicy"), &group.anonymous_policy)?;
        }
        if has_conditions(&self.admin_policy) {
            let key = "http.accessControl.adminPolicy.conditions";
            return Err(ConfigError::Invalid {
                key,
                message: CONDITIONS.into(),
            });
        }
        check_actions(
            "http.accessControl.adminPolicy.actions",
            "",
            &self.admin_policy.actions,
        )?;
        let authenticates = auth.is_some_and(AuthConfig::basic_authn_enabled);
        if !authenticates
            && !self.contains_only_anonymous_policy()
            && !self.contains_only_metrics_anonymous_policy()
        {
            return Err(ConfigError::Invalid {
                key: "http.accessControl",
                message:
                    "grants to users need http.auth.htpasswd; without it use only `anonymousPolicy`"
                        .into(),
            });
        }
        Ok(())
    }

    /// zot's `AnonymousPolicyExists`: callers without credentials are let in (as anonymous).
    pub(crate) fn anonymous_policy_exists(&self) -> bool {
        self.repositories
            .values()
            .any(|group| !group.anonymous_policy.is_empty())
    }

    /// zot's `HasMixedAnonymousAndAuthenticatedPolicies`.
    pub(crate) fn has_mixed_anonymous_and_authenticated_policies(&self) -> bool {
        self.anonymous_policy_exists() && !self.contains_only_anonymous_policy()
    }

    /// zot's `ContainsOnlyAnonymousPolicy`: some `anonymousPolicy`, and no
    /// grant to a user (admin policy, `defaultPolicy`, or a policy with users or actions).
    fn contains_only_anonymous_policy(&self) -> bool {
        let admin = &self.admin_policy;
        if admin.actions.len() + admin.users.len() > 0 {
            return false;
        }
        let user_grants = |group: &PolicyGroup| {
            !group.default_policy.is_empty()
                || group
                    .policies
                    .iter()
                    .any(|p| p.actions.len() + p.users.len() > 0)
        };
        if self.repositories.values().any(user_grants) {
            return false;
        }
        self.anonymous_policy_exists()
    }

    /// zot's `ContainsOnlyMetricsAnonymousPolicy`: nothing but anonymous read on metrics.
    fn contains_only_metrics_anonymous_policy(&self) -> bool {
        let admin = &self.admin_policy;
        let metrics_read = self
            .metrics
            .as_ref()
            .and_then(|m| m.get("anonymousPolicy"))
            .and_then(|p| p.as_array())
            .is_some_and(|p| p.iter().any(|a| a == "read"));
        admin.actions.len() + admin.users.len() + admin.groups.len() == 0
            && self.repositories.is_empty()
            && self.groups.is_empty()
            && metrics_read
    }
}

const CONDITIONS: &str =
    "policy conditions (CEL) are not supported by flotilla-node, and ignoring \
    them would grant more than the config allows; remove them, or express the restriction with \
    narrower repository globs";

/// `null` and `[]` restrict nothing; anything else would.
fn has_conditions(policy: &Policy) -> bool {
    match &policy.conditions {
        None | Some(serde_json::Value::Null) => false,
        Some(serde_json::Value::Array(list)) => !list.is_empty(),
        Some(_) => true,
    }
}

fn check_actions(key: &'static str, at: &str, actions: &[String]) -> Result<(), ConfigError> {
    match actions.iter().find(|a| Action::from_name(a).is_none()) {
        None => Ok(()),
        Some(unknown) => Err(ConfigError::Invalid {
            key,
            message: format!(
                "{at}{}unknown action `{unknown}`; use read, create, update, delete or detectManifestCollision",
                if at.is_empty() { "" } else { ": " }
            ),
        }),
    }
}
