//! The tagged repositories in zot's `UPDATE_TIME` order, kept as they change, so a page of `RepoListWithNewestImage` costs its offset plus its length, not a sort of every repository.

use std::collections::BTreeMap;

use flotilla_protocol::search::paging::{NewestFirst, Stamp};

use super::repo::Repo;
use super::repos::RepoId;

/// Every repository with at least one tag, newest first, ties by name:
/// the order `repo_order(UpdateTime)` sorts into.
#[derive(Debug, Default)]
pub(crate) struct ByUpdate {
    order: BTreeMap<(NewestFirst, String), RepoId>,
    /// Each repository's key as it was indexed, by handle, to find its
    /// entry once the repository has changed.
    keys: Vec<Option<NewestFirst>>,
}

impl ByUpdate {
    /// Puts `repo` where it now belongs (or takes it out when it has no tag).
    pub(crate) fn update(&mut self, id: RepoId, repo: &Repo) {
        let key = (!repo.tags.is_empty()).then(|| NewestFirst(Stamp::of(repo.last_updated)));
        if self.keys.len() <= id.index() {
            self.keys.resize(id.index() + 1, None);
        }
        let old = std::mem::replace(&mut self.keys[id.index()], key);
        if old == key {
            return;
        }
        if let Some(old) = old {
            self.order.remove(&(old, repo.name.clone()));
        }
        if let Some(key) = key {
            self.order.insert((key, repo.name.clone()), id);
        }
    }

    /// How many repositories have a tag.
    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }

    /// The repositories in order.
    pub(crate) fn ids(&self) -> impl DoubleEndedIterator<Item = RepoId> + '_ {
        self.order.values().copied()
    }
}
