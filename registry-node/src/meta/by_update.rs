//! The tagged repositories in zot's `UPDATE_TIME` order, kept as they change, so a page of `RepoListWithNewestImage` costs its offset plus its length, not a sort of every repository.

use std::collections::{BTreeSet, HashMap};

use flotilla_protocol::search::paging::{NewestFirst, Stamp};

use super::repo::Repo;

/// Every repository with at least one tag, newest first, ties by name:
/// the order `repo_order(UpdateTime)` sorts into.
#[derive(Debug, Default)]
pub(crate) struct ByUpdate {
    order: BTreeSet<(NewestFirst, String)>,
    /// Each indexed repository's key as it was indexed, to find its entry
    /// once the repository has changed.
    keys: HashMap<String, NewestFirst>,
}

impl ByUpdate {
    /// Puts `repo` where it now belongs (or takes it out when it has no tag).
    pub(crate) fn update(&mut self, repo: &Repo) {
        let key = (!repo.tags.is_empty()).then(|| NewestFirst(Stamp::of(repo.last_updated)));
        let old = match key {
            Some(key) => self.keys.insert(repo.name.clone(), key),
            None => self.keys.remove(&repo.name),
        };
        if old == key {
            return;
        }
        if let Some(old) = old {
            self.order.remove(&(old, repo.name.clone()));
        }
        if let Some(key) = key {
            self.order.insert((key, repo.name.clone()));
        }
    }

    /// How many repositories have a tag.
    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }

    /// The names in order.
    pub(crate) fn names(&self) -> impl DoubleEndedIterator<Item = &str> {
        self.order.iter().map(|(_, name)| name.as_str())
    }
}
