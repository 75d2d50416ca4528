//! The startup rebuild: zot's `ParseStorage`: every repository's `index.json` read in walk order, then reconciled with what the database remembers.

use time::OffsetDateTime;

use super::db::{Batch, Db};
use super::image::RawManifest;
use super::ingest::{apply, classify};
use super::{time as mtime, Pushed, State};
use crate::storage::layout::Index;
use crate::storage::Store;
use flotilla_protocol::digest::Digest;

/// Rebuilds the state from storage. Returns it with the database changes
/// that bring the database in line: statistics and tag times of images and
/// tags storage no longer has are dropped (a crash between a storage change
/// and its metadata write is healed here), new ones are recorded, and the
/// star counts of repositories that are gone are dropped, as zot's
/// `DeleteRepoMeta` drops them.
pub(crate) fn rebuild(store: &Store, db: &Db) -> anyhow::Result<(State, Batch)> {
    let loaded = db.load()?;
    let mut state = State {
        users: loaded.users,
        ..State::default()
    };
    let now = mtime::now();
    for repo in store.catalog() {
        if let Err(err) = parse_repo(store, &repo, &mut state, now) {
            // zot skips a repository it cannot parse and goes on.
            tracing::warn!(%repo, %err, "repository left out of search metadata");
        }
    }
    let mut batch = Batch::default();
    for repo in state.repos.values_mut() {
        let name = &repo.name;
        for (digest, stats) in repo.stats.iter_mut() {
            match loaded.stats.get(&(name.clone(), digest.clone())) {
                Some(kept) => *stats = kept.clone(),
                None => batch
                    .stats
                    .push((name.clone(), digest.clone(), stats.clone())),
            }
        }
        for (tag, t) in repo.tags.iter_mut() {
            let key = (name.clone(), tag.clone());
            match loaded.tagged.get(&key) {
                Some(nanos) => t.tagged = mtime::from_nanos(*nanos),
                None => {
                    if let Some(at) = t.tagged {
                        batch.tagged.push((key.0, key.1, mtime::to_nanos(at)));
                    }
                }
            }
        }
        repo.stars = loaded.stars.get(name).copied().unwrap_or(0);
        repo.refresh_derived();
    }
    state.reindex_all();
    let has =
        |repo: &str, f: &dyn Fn(&super::repo::Repo) -> bool| state.repos.get(repo).is_some_and(f);
    for (repo, digest) in loaded.stats.keys() {
        if !has(repo, &|r| r.stats.contains_key(digest)) {
            batch.stats_removed.push((repo.clone(), digest.clone()));
        }
    }
    for (repo, tag) in loaded.tagged.keys() {
        if !has(repo, &|r| r.tags.contains_key(tag)) {
            batch.tagged_removed.push((repo.clone(), tag.clone()));
        }
    }
    for repo in loaded.stars.keys() {
        if !state.repos.contains_key(repo) {
            batch.stars_removed.push(repo.clone());
        }
    }
    Ok((state, batch))
}

/// zot's `parseRepo`: every descriptor of `index.json` in order; a missing
/// manifest blob is skipped. The push time of an image seen for the first
/// time is its blob's modification time (zot's `WithPushTimestamp` hint).
fn parse_repo(
    store: &Store,
    repo: &str,
    state: &mut State,
    now: OffsetDateTime,
) -> anyhow::Result<()> {
    let index: Index = serde_json::from_slice(&std::fs::read(store.index_path(repo))?)?;
    for desc in &index.manifests {
        let reference = desc.tag().unwrap_or(&desc.digest).to_owned();
        let Ok(digest) = desc.digest.parse::<Digest>() else {
            continue;
        };
        let path = store.blob_path(repo, &digest);
        let Ok(body) = std::fs::read(&path) else {
            continue;
        };
        let pushed_at = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .map(OffsetDateTime::from)
            .unwrap_or(now);
        let Some(raw) = RawManifest::parse(&body) else {
            continue;
        };
        let config = raw
            .config_to_read()
            .and_then(|d| d.parse::<Digest>().ok())
            .and_then(|d| std::fs::read(store.blob_path(repo, &d)).ok());
        let pushed = Pushed {
            repo,
            media_type: &desc.media_type,
            digest: &desc.digest,
            body: &body,
            user: "",
        };
        let ingest = classify(&reference, pushed, raw, config.as_deref());
        apply(state, repo, &reference, ingest, pushed_at, "", now);
    }
    Ok(())
}
