//! zot's `accessControl` decisions: the rule of the longest matching glob, its grants, and the admin policy.
//!
//! Two zot functions decide, and they differ for admins: the dist-spec
//! middleware (`AccessController.can` in `pkg/api/authz.go`) grants an admin
//! only the actions listed in `adminPolicy.actions`; everything else
//! (`UserAccessControl.Can` in `pkg/requestcontext`, used for `_catalog` and
//! extensions) lets an admin do every action on every repository.

use super::glob::RepoGlob;
use super::{Action, Identity};
use crate::config::{AccessControlConfig, ConfigError, Policy, PolicyGroup};

/// `http.accessControl`, compiled once.
#[derive(Debug)]
pub(super) struct Policies {
    /// In the config's (sorted) key order, which settles ties (see [`Policies::rule_for`]).
    rules: Vec<Rule>,
    admin: Grant,
    /// `accessControl.groups`: group → members.
    groups: Vec<(String, Vec<String>)>,
}

/// One `accessControl.repositories` entry.
#[derive(Debug)]
struct Rule {
    pattern: String,
    glob: RepoGlob,
    grants: Vec<Grant>,
    default: Vec<Action>,
    anonymous: Vec<Action>,
}

/// One policy: who gets which actions.
#[derive(Debug, Default)]
struct Grant {
    users: Vec<String>,
    groups: Vec<String>,
    actions: Vec<Action>,
}

impl Policies {
    /// Expects a validated config: conditions refused, action names known.
    pub(super) fn compile(config: &AccessControlConfig) -> Result<Self, ConfigError> {
        let mut rules = Vec::with_capacity(config.repositories.len());
        for (pattern, group) in &config.repositories {
            rules.push(Rule::compile(pattern, group)?);
        }
        Ok(Self {
            rules,
            admin: Grant::compile(&config.admin_policy),
            groups: config
                .groups
                .iter()
                .map(|(name, group)| (name.clone(), group.users.clone()))
                .collect(),
        })
    }

    /// zot's `getUserGroups`: the `accessControl.groups` that list `user`.
    pub(super) fn groups_of(&self, user: &str) -> Vec<String> {
        let member = |(_, users): &&(String, Vec<String>)| users.iter().any(|u| u == user);
        self.groups
            .iter()
            .filter(member)
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// zot's `AccessController.isAdmin`: named in `adminPolicy.users`, or a member of one of its groups.
    pub(super) fn is_admin(&self, who: &Identity) -> bool {
        self.admin.names(who)
    }

    /// zot's `AccessController.can`, what `DistSpecAuthzHandler` asks.
    pub(super) fn can(&self, who: &Identity, action: Action, repo: &str) -> bool {
        let by_rule = self
            .rule_for(repo)
            .is_some_and(|rule| rule.permits(who, action));
        by_rule || (self.is_admin(who) && self.admin.actions.contains(&action))
    }

    /// zot's `UserAccessControl.Can` once `BaseAuthzHandler` has filled it
    /// (`getGlobPatterns` + `matchesRepo`): admins may do every method action
    /// whatever `adminPolicy.actions` says, and no behaviour action.
    pub(super) fn can_anywhere(&self, who: &Identity, action: Action, repo: &str) -> bool {
        if self.is_admin(who) {
            return action.is_method();
        }
        self.rule_for(repo)
            .is_some_and(|rule| rule.permits(who, action))
    }

    /// Whether [`Policies::can_anywhere`] lets `who` read every repository
    /// there could be: an admin, or every rule grants it and some rule
    /// (`**`, or the `""` fallback) covers any name. A `false` only means
    /// each repository must be asked about.
    pub(super) fn reads_everything(&self, who: &Identity) -> bool {
        let covered = self
            .rules
            .iter()
            .any(|rule| rule.pattern.is_empty() || rule.pattern == "**");
        self.is_admin(who)
            || (covered
                && self
                    .rules
                    .iter()
                    .all(|rule| rule.permits(who, Action::Read)))
    }

    /// zot picks the longest matching pattern, by byte length. Equal lengths
    /// are a draw settled by Go's random map order; here the first key in
    /// sorted order wins, so the answer is at least stable. As in zot, a key
    /// `""` (which matches no repository) applies when no pattern matches.
    fn rule_for(&self, repo: &str) -> Option<&Rule> {
        let mut best: Option<&Rule> = None;
        for rule in &self.rules {
            let longer = best.is_none_or(|b| rule.pattern.len() > b.pattern.len());
            if !rule.pattern.is_empty() && longer && rule.glob.is_match(repo) {
                best = Some(rule);
            }
        }
        best.or_else(|| self.rules.iter().find(|rule| rule.pattern.is_empty()))
    }
}

impl Rule {
    fn compile(pattern: &str, group: &PolicyGroup) -> Result<Self, ConfigError> {
        let glob = RepoGlob::new(pattern).map_err(|err| ConfigError::Invalid {
            key: "http.accessControl.repositories",
            message: format!("`{pattern}` is not a valid repository glob: {err}"),
        })?;
        Ok(Self {
            pattern: pattern.to_owned(),
            glob,
            grants: group.policies.iter().map(Grant::compile).collect(),
            default: actions(&group.default_policy),
            anonymous: actions(&group.anonymous_policy),
        })
    }

    /// zot's `isPermitted` without conditions: a policy naming the user, one
    /// naming a group of the user, `defaultPolicy` for anyone authenticated,
    /// `anonymousPolicy` for anyone not. zot tells the two apart by an empty
    /// user name, so that is the test here too.
    fn permits(&self, who: &Identity, action: Action) -> bool {
        let user = who.name();
        self.grants
            .iter()
            .any(|g| g.actions.contains(&action) && g.names(who))
            || (!user.is_empty() && self.default.contains(&action))
            || (user.is_empty() && self.anonymous.contains(&action))
    }
}

impl Grant {
    fn compile(policy: &Policy) -> Self {
        Self {
            users: policy.users.clone(),
            groups: policy.groups.clone(),
            actions: actions(&policy.actions),
        }
    }

    fn names(&self, who: &Identity) -> bool {
        self.users.iter().any(|u| u == who.name()) || self.in_group(who)
    }

    fn in_group(&self, who: &Identity) -> bool {
        who.groups().iter().any(|g| self.groups.contains(g))
    }
}

/// Names validation has not refused are known; zot ignores unknown ones, which grant nothing.
fn actions(names: &[String]) -> Vec<Action> {
    names
        .iter()
        .filter_map(|name| Action::from_name(name))
        .collect()
}
