//! What every request shares: the config, the placement ring, the members and their health, metrics, the search schema, the merge budget, UI sessions and files.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::budget::Budget;
use crate::config::Config;
use crate::members::Members;
use crate::metrics::Metrics;
use crate::placement::{Owners, Ring};
use crate::schema::HeldSchema;
use crate::session::Sessions;
use flotilla_serve::ui::UiFiles;

/// Everything shared by all requests. Immutable but for health and draining;
/// a config reload builds a new one ([`Gateway::reloaded`]) for the requests
/// that start after it.
#[derive(Debug)]
pub(crate) struct Gateway {
    pub(crate) config: Config,
    /// Placement over `cluster.members`, which come first in `members`.
    pub(crate) ring: Ring,
    /// Placement before the change, in the migration window.
    pub(crate) previous: Option<Previous>,
    /// `cluster.members`, then those only in `cluster.previousMembers`.
    pub(crate) members: Arc<Members>,
    /// Kept across reloads, so counters run on.
    pub(crate) metrics: Arc<Metrics>,
    /// Set once on shutdown, seen by every state since.
    pub(crate) draining: Arc<AtomicBool>,
    /// The search schema documents are validated with; kept across reloads.
    pub(crate) schema: Arc<HeldSchema>,
    /// What all merges together may buffer (`limits.mergeBudgetBytes`);
    /// kept across reloads that leave its size alone.
    pub(crate) budget: Arc<Budget>,
    /// UI login sessions: sealed under the keys file, or in a shared Redis.
    pub(crate) sessions: Sessions,
    /// `extensions.ui.directory`, served by the gateway itself.
    pub(crate) ui: Option<UiFiles>,
}

impl Gateway {
    pub(crate) fn new(config: Config) -> anyhow::Result<Self> {
        let metrics = Arc::new(Metrics::new(&config.all_members()));
        let members = Arc::new(Members::new(&config, metrics.clone())?);
        let ring = ring(&config);
        let budget = Arc::new(Budget::new(
            config.limits.merge_budget_bytes,
            metrics.merge_budget_gauge(),
        ));
        Ok(Self {
            budget,
            previous: Previous::of(&config),
            sessions: Sessions::new(&config, None)?,
            ui: ui_files(&config)?,
            config,
            ring,
            members,
            metrics,
            draining: Arc::new(AtomicBool::new(false)),
            schema: Arc::new(HeldSchema::built_in()),
        })
    }

    /// The state `config` gives, carrying over from this one what outlives a
    /// config: metrics, the learned schema, the draining flag, the merge
    /// budget when its size is unchanged, and the health of members that stay.
    /// Fails, leaving this one in force, when `config` names files that cannot
    /// be read or TLS material that is bad.
    pub(crate) fn reloaded(&self, config: Config) -> anyhow::Result<Self> {
        config.check_files()?;
        let members = Members::new(&config, self.metrics.clone())?;
        members.inherit_health(&self.members);
        let ring = ring(&config);
        let budget = if config.limits.merge_budget_bytes == self.config.limits.merge_budget_bytes {
            self.budget.clone()
        } else {
            Arc::new(Budget::new(
                config.limits.merge_budget_bytes,
                self.metrics.merge_budget_gauge(),
            ))
        };
        Ok(Self {
            budget,
            previous: Previous::of(&config),
            sessions: Sessions::new(&config, Some(&self.sessions))?,
            ui: ui_files(&config)?,
            config,
            ring,
            members: Arc::new(members),
            metrics: self.metrics.clone(),
            draining: self.draining.clone(),
            schema: self.schema.clone(),
        })
    }
}

fn ui_files(config: &Config) -> anyhow::Result<Option<UiFiles>> {
    config
        .ui_directory()
        .map(|dir| UiFiles::new(&dir))
        .transpose()
}

/// Placement over `cluster.members`.
fn ring(config: &Config) -> Ring {
    Ring::new(
        config.placement,
        config.hash_key(),
        config.cluster.members.clone(),
    )
}

impl Owners for Gateway {
    fn owners(&self, repo: &str) -> (usize, Option<usize>) {
        let owner = self.ring.owner(repo);
        let previous = self
            .previous
            .as_ref()
            .map(|p| p.owner(repo))
            .filter(|&p| p != owner);
        (owner, previous)
    }
}

/// The placement before a change of members, mapped onto the gateway's member list.
#[derive(Debug)]
pub(crate) struct Previous {
    ring: Ring,
    /// Index in `members` of each of the ring's members.
    index: Vec<usize>,
}

impl Previous {
    fn of(config: &Config) -> Option<Self> {
        let previous = config.cluster.previous_members.clone()?;
        let all = config.all_members();
        let index = previous
            .iter()
            .map(|m| all.iter().position(|a| a == m).unwrap_or_default())
            .collect();
        let placement = config.previous_placement.unwrap_or(config.placement);
        Some(Self {
            ring: Ring::new(placement, config.hash_key(), previous),
            index,
        })
    }

    fn owner(&self, repo: &str) -> usize {
        self.index[self.ring.owner(repo)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_previous_owner_is_named_by_its_place_in_the_gateway_member_list() {
        let cfg = Config::parse(
            r#"{"cluster":{"members":["a:1","b:2"],"hashKey":"0123456789abcdef","previousMembers":["c:3","a:1"]}}"#,
        )
        .and_then(Config::validate)
        .unwrap();
        let previous = Previous::of(&cfg).unwrap();
        let before = Ring::new(
            cfg.placement,
            cfg.hash_key(),
            vec!["c:3".into(), "a:1".into()],
        );
        let all = cfg.all_members();
        for i in 0..200 {
            let repo = format!("repo-{i}");
            assert_eq!(
                all[previous.owner(&repo)],
                before.members()[before.owner(&repo)],
                "{repo}"
            );
        }
    }
}
