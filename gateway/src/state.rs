//! What every request shares: the config, the placement ring, the members and their health, metrics, the search schema, the merge budget.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::budget::Budget;
use crate::config::Config;
use crate::members::Members;
use crate::metrics::Metrics;
use crate::placement::Ring;
use crate::schema::HeldSchema;

/// Everything shared by all requests. Immutable but for health and draining.
#[derive(Debug)]
pub(crate) struct Gateway {
    pub(crate) config: Config,
    pub(crate) ring: Ring,
    pub(crate) members: Arc<Members>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) draining: AtomicBool,
    /// The search schema documents are validated with.
    pub(crate) schema: HeldSchema,
    /// What all merges together may buffer (`limits.mergeBudgetBytes`).
    pub(crate) budget: Budget,
}

impl Gateway {
    pub(crate) fn new(config: Config) -> anyhow::Result<Self> {
        let metrics = Arc::new(Metrics::new(&config.cluster.members));
        let members = Arc::new(Members::new(&config, metrics.clone())?);
        let ring = Ring::new(
            config.placement,
            config.hash_key(),
            config.cluster.members.clone(),
        );
        let budget = Budget::new(
            config.limits.merge_budget_bytes,
            metrics.merge_budget_gauge(),
        );
        Ok(Self {
            budget,
            config,
            ring,
            members,
            metrics,
            draining: AtomicBool::new(false),
            schema: HeldSchema::built_in(),
        })
    }
}
