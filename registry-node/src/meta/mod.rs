//! The search extension's metadata: what zot's metaDB knows of repositories and images, kept in memory and made durable where storage cannot tell it.
//!
//! Anything derivable from storage (tags, manifests, configs, platforms,
//! sizes, signatures, referrers) is rebuilt at start by walking storage, as
//! zot's startup parse does, and kept current by the manifest handlers. What
//! storage cannot tell (push and pull statistics, tag times, stars,
//! bookmarks) lives in a redb database under the storage root.
//!
//! Durability: pushes, deletes and user preferences are committed before the
//! request is answered. Pull counts are batched: a crash loses the counts and
//! last-pull times of at most the last [`FLUSH_EVERY`].
//!
//! # Layout
//! - `image`: manifests, configs and indexes parsed into [`image::Image`].
//! - `repo`: one repository's metadata and zot's rules for changing it.
//! - `signature`: cosign and notation signatures, referrers tags.
//! - `ingest`: what a pushed manifest is to the metadata, and recording it.
//! - `db`: the redb database.
//! - `load`: the startup walk and its reconciliation with the database.
//! - `time`: Go's time formats.

mod by_update;
mod db;
#[cfg(test)]
pub(crate) mod fixture;
pub(crate) mod image;
mod ingest;
mod load;
pub(crate) mod repo;
mod repos;
pub(crate) mod signature;
pub(crate) mod time;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use by_update::ByUpdate;
use repos::Repos;

pub(crate) use db::UserData;
use db::{Batch, Db};
use image::RawManifest;
use ingest::{apply, classify, collect};

use crate::storage::Store;
use flotilla_protocol::digest::Digest;

/// How long pull counts may wait in memory before they are written.
pub(crate) const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// What every query reads: repositories by name (in byte order, as zot's
/// bolt cursor walks them) and users' preferences.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub repos: Repos,
    pub users: HashMap<String, UserData>,
    /// The tagged repositories newest first: whoever changes a repository's
    /// tags or times calls [`State::reindex`].
    pub by_update: ByUpdate,
}

impl State {
    /// Brings the orders kept beside `repos` up to date with `name`.
    pub(crate) fn reindex(&mut self, name: &str) {
        if let Some(id) = self.repos.id(name) {
            self.by_update.update(id, &self.repos[id]);
        }
    }

    /// [`State::reindex`] for every repository.
    pub(crate) fn reindex_all(&mut self) {
        for (id, repo) in self.repos.with_ids() {
            self.by_update.update(id, repo);
        }
    }

    /// A user's preferences; anonymous and unknown users have none.
    pub(crate) fn user(&self, name: &str) -> Option<&UserData> {
        (!name.is_empty()).then(|| self.users.get(name)).flatten()
    }
}

/// Why a user-preference toggle was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ToggleError {
    /// zot's `ErrRepoMetaNotFound`: nothing was ever recorded for the repository.
    RepoNotFound,
    Storage,
}

/// The node's metadata: shared state plus its database.
#[derive(Debug)]
pub(crate) struct Meta {
    state: RwLock<State>,
    db: Db,
    /// Stats rows changed by pulls and not yet written.
    pending: Mutex<HashSet<(String, String)>>,
    /// Serializes database writes so a later state is never overwritten by an earlier one.
    writer: tokio::sync::Mutex<()>,
}

/// A manifest as a handler saw it, for the hooks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pushed<'a> {
    pub repo: &'a str,
    pub media_type: &'a str,
    pub digest: &'a str,
    pub body: &'a [u8],
    /// zot's user name of the pusher ("" for anonymous).
    pub user: &'a str,
}

impl Meta {
    /// Opens the database and rebuilds the metadata from storage
    /// (blocking: run it off the async threads).
    pub(crate) fn open(store: &Store, root: &Path) -> anyhow::Result<Self> {
        let db = Db::open(root)
            .map_err(|e| anyhow::anyhow!("metadata database under `{}`: {e}", root.display()))?;
        let (state, batch) = load::rebuild(store, &db)?;
        db.write(&batch)?;
        Ok(Self {
            state: RwLock::new(state),
            db,
            pending: Mutex::default(),
            writer: tokio::sync::Mutex::new(()),
        })
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_state(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// zot's `OnUpdateManifest`, once per reference: the path tag, each
    /// `?tag=` of a push by digest, or the digest itself.
    pub(crate) async fn on_push(
        self: &Arc<Self>,
        store: &Store,
        pushed: Pushed<'_>,
        references: &[String],
    ) {
        let Some(raw) = RawManifest::parse(pushed.body) else {
            return;
        };
        let config = match raw.config_to_read().and_then(|d| d.parse::<Digest>().ok()) {
            Some(digest) if image::is_manifest_type(pushed.media_type) => {
                store.read_blob(pushed.repo, &digest).await.ok()
            }
            _ => None,
        };
        let _writer = self.writer.lock().await;
        let batch = {
            let mut state = self.write_state();
            let now = time::now();
            let mut batch = Batch::default();
            for reference in references {
                let raw = RawManifest::parse(pushed.body).unwrap_or_default();
                let ingest = classify(reference, pushed, raw, config.as_deref());
                let touched = apply(
                    &mut state,
                    pushed.repo,
                    reference,
                    ingest,
                    now,
                    pushed.user,
                    now,
                );
                collect(&state, pushed.repo, &touched, &mut batch);
            }
            batch
        };
        self.persist(batch).await;
    }

    /// zot's `OnDeleteManifest` for the descriptor storage removed.
    pub(crate) async fn on_delete(self: &Arc<Self>, repo: &str, reference: &str, digest: &str) {
        if signature::is_referrers_tag(reference) {
            return;
        }
        let _writer = self.writer.lock().await;
        let batch = {
            let mut state = self.write_state();
            let Some(r) = state.repos.get_mut(repo) else {
                return;
            };
            if r.delete_signature(digest) {
                return;
            }
            let touched = r.remove_reference(reference, digest);
            state.reindex(repo);
            let mut batch = Batch::default();
            collect(&state, repo, &touched, &mut batch);
            batch
        };
        self.persist(batch).await;
    }

    /// zot's `OnGetManifest`: counts a manifest GET, written with the next flush.
    pub(crate) fn on_pull(&self, repo: &str, reference: &str, digest: &str, media_type: &str) {
        let counted = image::is_manifest_type(media_type) || image::is_index_type(media_type);
        if !counted || signature::is_referrers_tag(reference) || signature::is_cosign_tag(reference)
        {
            return;
        }
        let mut state = self.write_state();
        let Some(r) = state.repos.get_mut(repo) else {
            return;
        };
        if r.signature_of.contains_key(digest) {
            return;
        }
        if let Some(counted) = r.record_download(reference, time::now()) {
            drop(state);
            self.pending_rows().insert((repo.to_owned(), counted));
        }
    }

    fn pending_rows(&self) -> std::sync::MutexGuard<'_, HashSet<(String, String)>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes the pull counts gathered since the last flush.
    pub(crate) async fn flush(self: &Arc<Self>) {
        let rows: Vec<(String, String)> = self.pending_rows().drain().collect();
        if rows.is_empty() {
            return;
        }
        let _writer = self.writer.lock().await;
        let batch = {
            let state = self.read();
            let mut batch = Batch::default();
            for (repo, digest) in rows {
                if let Some(stats) = state.repos.get(&repo).and_then(|r| r.stats.get(&digest)) {
                    batch.stats.push((repo, digest, stats.clone()));
                }
            }
            batch
        };
        self.persist(batch).await;
    }

    /// Flushes pull counts every [`FLUSH_EVERY`] until the node stops.
    pub(crate) fn spawn_flusher(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let meta = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(FLUSH_EVERY);
            loop {
                tick.tick().await;
                let Some(meta) = meta.upgrade() else { return };
                meta.flush().await;
            }
        })
    }

    /// zot's `ToggleStarRepo` once the caller has checked the user may read
    /// `repo`: flips it in the user's list and moves the repository's count.
    pub(crate) async fn toggle_star(
        self: &Arc<Self>,
        user: &str,
        repo: &str,
    ) -> Result<(), ToggleError> {
        let _writer = self.writer.lock().await;
        let batch = {
            let mut state = self.write_state();
            if !state.repos.contains_key(repo) {
                return Err(ToggleError::RepoNotFound);
            }
            let data = state.users.entry(user.to_owned()).or_default();
            let added = toggle(&mut data.starred_repos, repo);
            let data = data.clone();
            let r = state.repos.get_mut(repo).ok_or(ToggleError::RepoNotFound)?;
            r.stars += if added { 1 } else { -1 };
            Batch {
                users: vec![(user.to_owned(), data)],
                stars: vec![(repo.to_owned(), r.stars)],
                ..Batch::default()
            }
        };
        self.persist_checked(batch).await
    }

    /// zot's `ToggleBookmarkRepo`: the repository need not exist.
    pub(crate) async fn toggle_bookmark(
        self: &Arc<Self>,
        user: &str,
        repo: &str,
    ) -> Result<(), ToggleError> {
        let _writer = self.writer.lock().await;
        let batch = {
            let mut state = self.write_state();
            let data = state.users.entry(user.to_owned()).or_default();
            toggle(&mut data.bookmarked_repos, repo);
            Batch {
                users: vec![(user.to_owned(), data.clone())],
                ..Batch::default()
            }
        };
        self.persist_checked(batch).await
    }

    async fn persist(self: &Arc<Self>, batch: Batch) {
        if let Err(err) = self.persist_checked(batch).await {
            tracing::error!(?err, "metadata database write failed");
        }
    }

    async fn persist_checked(self: &Arc<Self>, batch: Batch) -> Result<(), ToggleError> {
        if batch.is_empty() {
            return Ok(());
        }
        let meta = self.clone();
        let written = tokio::task::spawn_blocking(move || meta.db.write(&batch)).await;
        match written {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => {
                tracing::error!(%err, "metadata database write failed");
                Err(ToggleError::Storage)
            }
            Err(_) => Err(ToggleError::Storage),
        }
    }
}

/// Adds `repo` to `list` or takes it out; true when added.
fn toggle(list: &mut Vec<String>, repo: &str) -> bool {
    if let Some(i) = list.iter().position(|r| r == repo) {
        list.remove(i);
        false
    } else {
        list.push(repo.to_owned());
        true
    }
}

#[cfg(test)]
mod tests;
