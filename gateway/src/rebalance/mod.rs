//! `flotilla-gateway rebalance CONFIG.json`: move every repository to the member that owns it under CONFIG, over the Distribution API alone.
//!
//! The plan comes from every member's catalog, current and previous
//! (`cluster.members` and `cluster.previousMembers`): each repository found
//! on a member other than its owner is a move. What a move carries is read
//! from the source with the API any registry serves, so the members may be
//! unmodified zot or distribution: every tag, every manifest a tag reaches
//! (index children, subjects, and referrers, recursively) and every blob they
//! name.
//!
//! With `--apply`, each move copies (blobs streamed and hashed on the way,
//! mounted where the target already holds them in another repository;
//! manifests pushed byte for byte), verifies that the target holds every
//! tag, manifest and blob, and only then deletes the source's copy. Every
//! step looks before it writes, so a run can be killed at any instant and
//! run again to finish: see `copy`.
//!
//! Stars and bookmarks are each node's per-user metadata, which the
//! Distribution API cannot read or write: the plan counts the repositories
//! with stars, where the node's search API says, and they stay behind.

mod copy;
mod fleet;
mod inventory;
mod plan;
mod progress;
pub mod rate;

use std::sync::Arc;

use anyhow::bail;
use base64::Engine as _;
use futures_util::{stream, StreamExt};
use serde_json::json;

use crate::config::Config;
use copy::{Mounts, Mover, Outcome};
use fleet::Fleet;
use plan::Plan;
use progress::{Mode, Progress};

/// The operator's credentials: read, create, update and delete on every repository of every member.
#[derive(Clone)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"<hidden>")
            .finish()
    }
}

impl Credentials {
    fn basic(&self) -> String {
        let pair = format!("{}:{}", self.user, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Carry the plan out; without it, only print it.
    pub apply: bool,
    /// Repositories moved at once.
    pub concurrency: usize,
    /// Bytes per second, shared by every copy.
    pub max_rate: Option<u64>,
    pub json: bool,
    pub credentials: Option<Credentials>,
}

/// One repository's move from a member (`from`) to its owner (`to`), as indices into the config's `all_members()`.
#[derive(Debug, Clone)]
pub(crate) struct Move {
    pub(crate) repo: String,
    pub(crate) from: usize,
    pub(crate) to: usize,
}

/// Prints the plan and, with `apply`, carries it out. Fails, naming each
/// repository, when anything could not be read or moved.
pub async fn run(config: Config, options: Options) -> anyhow::Result<()> {
    let concurrency = options.concurrency.max(1);
    let mode = Progress::mode(options.json);
    if options.credentials.is_none() {
        // A node's catalog lists only what the caller may read, without an error.
        eprintln!(
            "warning: no credentials (--user): the plan covers only the repositories anonymous users may read"
        );
    }
    let fleet = Fleet::new(&config, options.credentials.as_ref())?;
    let plan = Plan::make(&config, &fleet, concurrency).await;
    plan.print(&config, &fleet, mode);
    if !options.apply {
        if !plan.unread.is_empty() {
            bail!("{} parts of the fleet could not be read", plan.unread.len());
        }
        if !plan.moves.is_empty() && mode != Mode::Json {
            println!("run again with --apply to move them");
        }
        return Ok(());
    }
    let progress = Arc::new(Progress::new(mode, plan.moves.len(), plan.bytes()));
    let mover = Mover {
        fleet: &fleet,
        rate: options.max_rate.map(|r| Arc::new(rate::Rate::new(r))),
        mounts: &Mounts::default(),
        progress: progress.clone(),
    };
    let failures: Vec<String> = stream::iter(plan.moves.iter().map(|p| &p.mv))
        .map(|mv| {
            let mover = &mover;
            async move {
                let result = mover.run(mv).await;
                report(&mover.progress, mover.fleet, mv, &result);
                result.err().map(|err| format!("{}: {err}", mv.repo))
            }
        })
        .buffer_unordered(concurrency)
        .filter_map(|failed| async move { failed })
        .collect()
        .await;
    progress.finish();
    let unmoved: Vec<String> = plan.unread.iter().cloned().chain(failures).collect();
    if !unmoved.is_empty() {
        bail!(
            "{} could not move; run again once the cause is fixed:\n  {}",
            unmoved.len(),
            unmoved.join("\n  ")
        );
    }
    Ok(())
}

fn report(progress: &Progress, fleet: &Fleet, mv: &Move, result: &Result<Outcome, String>) {
    let (from, to) = (fleet.name(mv.from), fleet.name(mv.to));
    let (text, event) = match result {
        Ok(Outcome::Moved {
            tags,
            manifests,
            copied,
        }) => (
            format!(
                "moved {} {from} -> {to}: {tags} tags, {manifests} manifests, {} sent",
                mv.repo,
                indicatif::HumanBytes(*copied)
            ),
            json!({"event": "moved", "repository": mv.repo, "from": from, "to": to,
                   "tags": tags, "manifests": manifests, "bytesSent": copied}),
        ),
        Ok(Outcome::Gone) => (
            format!("gone {}: no longer on {from}", mv.repo),
            json!({"event": "gone", "repository": mv.repo, "from": from}),
        ),
        Ok(Outcome::Empty) => (
            format!(
                "cleared {} on {from}: nothing left there but what {to} holds",
                mv.repo
            ),
            json!({"event": "cleared", "repository": mv.repo, "from": from, "to": to}),
        ),
        Err(err) => (
            format!("FAILED {} {from} -> {to}: {err}", mv.repo),
            json!({"event": "failed", "repository": mv.repo, "from": from, "to": to, "error": err}),
        ),
    };
    progress.finished(result.is_ok(), &text, event);
}
