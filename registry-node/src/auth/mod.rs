//! Who a caller is (Basic credentials against htpasswd, or zui's login session) and what they may do (`accessControl`), as zot decides.
//!
//! - [`Access::authenticate`] is zot's authn middleware (`tryAuthnHandlers` in `pkg/api/authn.go`),
//!   UI logins and session cookies included; [`Access::logout`] is zot's `Logout`.
//! - [`Access::authorize`] is `DistSpecAuthzHandler` (`pkg/api/authz.go`) for one repository and action.
//! - [`Access::can`] is `UserAccessControl.Can`, used to filter `_catalog`.
//! - `policy` holds the policy rules, `glob` zot's repository globs, `htpasswd` the password
//!   file, `request` the reading of credentials from headers, `session` the
//!   server side of UI sessions (their cookies are `flotilla_protocol::session_cookie`).
//!
//! zot only installs its authz middleware when `http.accessControl` exists: with
//! htpasswd and no `accessControl`, every authenticated user may do everything
//! and nobody else gets in.

mod glob;
mod htpasswd;
mod policy;
mod request;
mod session;
#[cfg(test)]
mod session_tests;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, StatusCode, Uri};
use time::OffsetDateTime;

use crate::config::{Config, ConfigError};
use crate::error::{ErrorCode, NodeError};
pub(crate) use cookie::SetCookies;
use flotilla_protocol::session_cookie as cookie;
pub(crate) use glob::RepoGlob;
use htpasswd::Htpasswd;
use policy::Policies;
use request::{basic_credentials, from_ui, go_quote, Presented};
use session::Sessions;

/// A permission name of `accessControl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Read,
    Create,
    Update,
    Delete,
    /// A "behaviour" permission: may a manifest delete refuse a digest that
    /// several tags share (zot's `detectManifestCollision`)? Never granted by default.
    DetectManifestCollision,
}

impl Action {
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "read" => Self::Read,
            "create" => Self::Create,
            "update" => Self::Update,
            "delete" => Self::Delete,
            "detectManifestCollision" => Self::DetectManifestCollision,
            _ => return None,
        })
    }

    /// Method actions are granted by default where authz is off; behaviour actions are not.
    fn is_method(self) -> bool {
        !matches!(self, Self::DetectManifestCollision)
    }
}

/// Who sent a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Identity {
    Anonymous,
    /// Authenticated by htpasswd; `groups` are the `accessControl.groups` naming the user.
    User {
        name: String,
        groups: Vec<String>,
    },
}

impl Identity {
    /// zot's user name: empty for anonymous, which is how zot tells them apart.
    pub(crate) fn name(&self) -> &str {
        match self {
            Self::Anonymous => "",
            Self::User { name, .. } => name,
        }
    }

    fn groups(&self) -> &[String] {
        match self {
            Self::Anonymous => &[],
            Self::User { groups, .. } => groups,
        }
    }
}

/// What [`Access::authenticate`] decided, and the cookies the answer must
/// carry whatever it turns out to be (a 401 included).
#[derive(Debug)]
pub(crate) struct Authenticated {
    pub(crate) who: Result<Identity, NodeError>,
    pub(crate) cookies: SetCookies,
}

/// Authentication and authorization for the node: built once from the config, cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Access {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// zot's `IsBasicAuthnEnabled`: htpasswd, or `apikey` (whose keys live in
    /// zot's metadata database, which the node lacks, so none ever matches).
    basic: bool,
    htpasswd: Option<Htpasswd>,
    /// `None` without `http.accessControl`: no authz at all, as in zot.
    policies: Option<Policies>,
    /// zot's `AnonymousPolicyExists`: callers without credentials get in as anonymous.
    allow_anonymous: bool,
    /// zot's `HasMixedAnonymousAndAuthenticatedPolicies` (see `docker_needs_challenge`).
    mixed_policies: bool,
    /// `Basic realm="…"` for 401 answers (realm defaults to `Authorization Required`).
    denial_challenge: String,
    /// `basic realm=…` for `/v2/`: zot writes `http.realm` there raw, unquoted, even when empty.
    version_challenge: String,
    fail_delay: Duration,
    /// UI login sessions, kept whenever basic authentication is on, as zot
    /// keeps its cookie store.
    sessions: Option<Sessions>,
    /// Session cookies are `Secure`: the node serves TLS, or `http.auth.secureSession`.
    secure_session: bool,
}

impl Access {
    /// Loads the htpasswd file named by the config (errors name the file and line) and
    /// compiles `accessControl`. Re-checks what validation checks, since ignoring a
    /// refused setting would widen access.
    pub(crate) fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let auth = config.http.auth.clone().unwrap_or_default();
        auth.validate()?;
        let access_control = config.http.access_control.as_ref();
        if let Some(access_control) = access_control {
            access_control.validate(Some(&auth))?;
        }
        let htpasswd = match &auth.htpasswd {
            Some(htpasswd) => Some(Htpasswd::load(&htpasswd.path)?),
            None => None,
        };
        let raw_realm = config.http.realm.as_deref().unwrap_or_default();
        let basic = auth.basic_authn_enabled();
        let inner = Inner {
            basic,
            htpasswd,
            policies: access_control.map(Policies::compile).transpose()?,
            allow_anonymous: access_control.is_some_and(|ac| ac.anonymous_policy_exists()),
            mixed_policies: access_control
                .is_some_and(|ac| ac.has_mixed_anonymous_and_authenticated_policies()),
            denial_challenge: format!("Basic realm={}", go_quote(config.realm())),
            version_challenge: format!("basic realm={raw_realm}"),
            fail_delay: Duration::from_secs(auth.fail_delay),
            sessions: basic.then(|| Sessions::new(&config.storage.root_directory)),
            secure_session: config.http.tls.is_some() || auth.secure_session == Some(true),
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// zot's authn middleware, in its order: two `Authorization` headers fail;
    /// Basic credentials are checked against htpasswd (and, from zui, start a
    /// session); zui without credentials is authenticated by its session
    /// cookie (one that names no live session is expired in the answer, and
    /// the caller is anonymous where anonymous access exists, basic auth or
    /// not, as zot's switch has it); without basic auth everyone else is
    /// anonymous; without credentials a caller
    /// is anonymous only where some `anonymousPolicy` exists (or on the mgmt
    /// URI). Failures that carried credentials or the UI header wait
    /// `failDelay` first. The caller answers `OPTIONS` before asking.
    pub(crate) async fn authenticate(&self, uri: &Uri, headers: &HeaderMap) -> Authenticated {
        let req = Presented::read(uri, headers);
        let mut cookies = SetCookies::default();
        let who = match self.identify(&req, &mut cookies).await {
            Ok(Some(who)) => Ok(who),
            Ok(None) => {
                if req.authorization.is_some() || req.ui {
                    tokio::time::sleep(self.inner.fail_delay).await;
                }
                Err(NodeError::Unauthenticated {
                    www_authenticate: (!req.ui).then(|| self.inner.denial_challenge.clone()),
                })
            }
            Err(err) => Err(err),
        };
        Authenticated { who, cookies }
    }

    /// `Ok(None)`: not authenticated.
    async fn identify(
        &self,
        req: &Presented<'_>,
        cookies: &mut SetCookies,
    ) -> Result<Option<Identity>, NodeError> {
        let inner = &*self.inner;
        if req.several_authorizations {
            return Ok(None);
        }
        if let (Some(value), true) = (req.authorization, inner.basic) {
            return self.basic(value, req.ui, cookies).await;
        }
        let anonymous = inner.allow_anonymous || req.mgmt;
        if req.ui {
            if let Some(who) = self.session(req).await? {
                return Ok(Some(who));
            }
            // zot's `sessionAuthn` tells the browser to drop whatever session
            // it holds, even when it sent none.
            cookies.push(cookie::refused());
            return Ok(anonymous.then_some(Identity::Anonymous));
        }
        if !inner.basic {
            return Ok(Some(Identity::Anonymous));
        }
        // Docker treats a 200 on `/v2/` as "no auth needed" and then never sends
        // its stored credentials, so zot refuses it there when some
        // repositories need a login (moby's documented behaviour).
        let docker_needs_challenge = req.docker && req.version_check && inner.mixed_policies;
        Ok((anonymous && !docker_needs_challenge).then_some(Identity::Anonymous))
    }

    /// zot's `basicAuthn` with htpasswd as the only provider; a success from
    /// zui saves a session and sets its cookies (`saveUserLoggedSession`).
    async fn basic(
        &self,
        value: &[u8],
        ui: bool,
        cookies: &mut SetCookies,
    ) -> Result<Option<Identity>, NodeError> {
        let (Some((user, password)), Some(htpasswd)) =
            (basic_credentials(value), &self.inner.htpasswd)
        else {
            return Ok(None);
        };
        let verified = htpasswd.verify(&user, &password).await.map_err(|err| {
            tracing::error!(%err, "password verification task failed");
            NodeError::Status(StatusCode::INTERNAL_SERVER_ERROR)
        })?;
        if !verified {
            return Ok(None);
        }
        if ui {
            if let Some(sessions) = &self.inner.sessions {
                let now = OffsetDateTime::now_utc();
                let login = sessions.create(&user, now.unix_timestamp()).await?;
                let expires = OffsetDateTime::from_unix_timestamp(login.expires).unwrap_or(now);
                let secure = self.inner.secure_session;
                cookies.append(cookie::login(&login.token, &user, expires, secure));
            }
        }
        Ok(Some(self.user(user)))
    }

    /// The user a live session cookie names. A user since removed from the
    /// htpasswd file is not let back in by a session (zot would, until it expires).
    async fn session(&self, req: &Presented<'_>) -> Result<Option<Identity>, NodeError> {
        let inner = &*self.inner;
        let (Some(sessions), Some(htpasswd), Some(token)) =
            (&inner.sessions, &inner.htpasswd, req.session)
        else {
            return Ok(None);
        };
        let now = OffsetDateTime::now_utc().unix_timestamp();
        match sessions.lookup(token, now).await? {
            Some(user) if htpasswd.has_user(&user) => Ok(Some(self.user(user))),
            _ => Ok(None),
        }
    }

    /// An authenticated user, with the groups `accessControl` gives them.
    fn user(&self, name: String) -> Identity {
        let groups = self
            .inner
            .policies
            .as_ref()
            .map(|p| p.groups_of(&name))
            .unwrap_or_default();
        Identity::User { name, groups }
    }

    /// Does the node keep UI sessions and route `/zot/auth/logout`? zot does
    /// whenever basic authentication is on.
    pub(crate) fn ui_sessions(&self) -> bool {
        self.inner.sessions.is_some()
    }

    /// zot's `Logout`: ends the session the `session` cookie names, if it is
    /// live, and returns the cookies that make the browser forget it and its user.
    pub(crate) async fn logout(&self, headers: &HeaderMap) -> Result<SetCookies, NodeError> {
        if let (Some(sessions), Some(token)) =
            (&self.inner.sessions, cookie::find(headers, cookie::SESSION))
        {
            sessions.delete(token).await?;
        }
        Ok(cookie::logged_out())
    }

    /// Removes the sessions that expired (zot's `SessionCleanup`); how many went.
    pub(crate) async fn sweep_sessions(&self) -> std::io::Result<usize> {
        match &self.inner.sessions {
            Some(sessions) => {
                let now = OffsetDateTime::now_utc().unix_timestamp();
                sessions.sweep(now).await
            }
            None => Ok(0),
        }
    }

    /// zot's `DistSpecAuthzHandler` for `action` on `repo`. Denials wait
    /// `failDelay` (zot's `AuthzFail` always does), then answer 401 (list form,
    /// with a challenge) to an anonymous caller and 403 `DENIED` to a user.
    pub(crate) async fn authorize(
        &self,
        who: &Identity,
        repo: &str,
        action: Action,
        headers: &HeaderMap,
    ) -> Result<(), NodeError> {
        let Some(policies) = &self.inner.policies else {
            return Ok(());
        };
        if policies.can(who, action, repo) {
            return Ok(());
        }
        tokio::time::sleep(self.inner.fail_delay).await;
        if who.name().is_empty() {
            let challenge = (!from_ui(headers)).then(|| self.inner.denial_challenge.clone());
            return Err(NodeError::AnonymousDenied {
                www_authenticate: challenge,
            });
        }
        Err(NodeError::oci(StatusCode::FORBIDDEN, ErrorCode::Denied))
    }

    /// zot's `UserAccessControl.Can`: without `accessControl` every method action is
    /// allowed; admins may do every method action anywhere.
    pub(crate) fn can(&self, who: &Identity, action: Action, repo: &str) -> bool {
        match &self.inner.policies {
            Some(policies) => policies.can_anywhere(who, action, repo),
            None => action.is_method(),
        }
    }

    /// Whether [`Access::can_read`] is true of every repository for `who`,
    /// so a listing may skip asking it one repository at a time.
    pub(crate) fn reads_everything(&self, who: &Identity) -> bool {
        self.inner
            .policies
            .as_ref()
            .is_none_or(|p| p.reads_everything(who))
    }

    /// zot's `AuthzFilterFunc`, the `_catalog` filter.
    pub(crate) fn can_read(&self, who: &Identity, repo: &str) -> bool {
        self.can(who, Action::Read, repo)
    }

    /// What zot's `CheckVersionSupport` puts on `/v2/` answers, 200 included,
    /// when basic auth is on and the caller is not zui.
    pub(crate) fn challenge(&self, headers: &HeaderMap) -> Option<String> {
        (self.inner.basic && !from_ui(headers)).then(|| self.inner.version_challenge.clone())
    }

    /// zot's `UserAccessControl.IsAdmin`: without `accessControl` everyone is.
    // For zot's admin-only routes (cosign and notation uploads), not served yet.
    #[allow(dead_code)]
    pub(crate) fn is_admin(&self, who: &Identity) -> bool {
        self.inner.policies.as_ref().is_none_or(|p| p.is_admin(who))
    }
}

/// The permissions a manifest `PUT` needs (zot's `manifestWriteAuthzChecks`;
/// without CEL conditions its per-reference checks collapse to actions).
/// `path_tag` is the reference when it is a tag, `None` when it is a digest;
/// `query_tags` are the `tag=` values; `repo_tags` the tags the repository
/// has now (none if it does not exist). A tag path needs `update` if the tag
/// exists, else `create`. A digest path needs `update` if a valid `tag=` names
/// an existing tag, and `create` if one is new or none exists.
pub(crate) fn manifest_write_actions(
    path_tag: Option<&str>,
    query_tags: &[String],
    repo_tags: &[String],
) -> Vec<Action> {
    let exists = |tag: &str| repo_tags.iter().any(|t| t == tag);
    if let Some(tag) = path_tag {
        return vec![if exists(tag) {
            Action::Update
        } else {
            Action::Create
        }];
    }
    let valid = query_tags.iter().map(|t| t.trim()).filter(|t| is_tag(t));
    let (mut moved, mut added) = (false, false);
    for tag in valid {
        if exists(tag) {
            moved = true;
        } else {
            added = true;
        }
    }
    let mut actions = Vec::with_capacity(2);
    if moved {
        actions.push(Action::Update);
    }
    if added || !moved {
        actions.push(Action::Create);
    }
    actions
}

/// The distribution-spec tag grammar, `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
fn is_tag(tag: &str) -> bool {
    let mut bytes = tag.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
    first_ok
        && tag.len() <= 128
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}
