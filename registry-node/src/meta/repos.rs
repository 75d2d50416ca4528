//! Every repository's metadata by name, each also held by a handle, so an order kept beside them (newest first) reads its repositories without a lookup by name.
//!
//! A lookup by name walks a tree of heap strings, a cache miss and a
//! compare at each level; a page of keys read off [`super::ByUpdate`] made
//! one per item, a fifth of the request. A handle is an index.

use std::collections::BTreeMap;
use std::ops::Index;

use super::repo::Repo;

/// Which repository, for as long as the node runs: a repository's metadata,
/// once recorded, stays (without tags it is left out of every order) until
/// the next start rebuilds the table, so a handle never dangles and is
/// never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RepoId(usize);

impl RepoId {
    /// Where the repository sits in a table kept by handle.
    pub(crate) fn index(self) -> usize {
        self.0
    }
}

/// The repositories, walked in name byte order (as zot's bolt cursor walks
/// them), each reachable by name or by [`RepoId`].
#[derive(Debug, Default)]
pub(crate) struct Repos {
    all: Vec<Repo>,
    by_name: BTreeMap<String, RepoId>,
}

impl Repos {
    pub(crate) fn get(&self, name: &str) -> Option<&Repo> {
        self.by_name.get(name).map(|id| &self[*id])
    }

    pub(crate) fn get_mut(&mut self, name: &str) -> Option<&mut Repo> {
        let id = *self.by_name.get(name)?;
        Some(&mut self.all[id.0])
    }

    pub(crate) fn id(&self, name: &str) -> Option<RepoId> {
        self.by_name.get(name).copied()
    }

    pub(crate) fn contains_key(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// `name`'s metadata, recorded empty if there was none.
    pub(crate) fn or_insert(&mut self, name: &str) -> &mut Repo {
        let id = match self.by_name.get(name) {
            Some(id) => *id,
            None => {
                let id = RepoId(self.all.len());
                self.all.push(Repo::new(name));
                self.by_name.insert(name.to_owned(), id);
                id
            }
        };
        &mut self.all[id.0]
    }

    /// In name order.
    pub(crate) fn values(&self) -> impl DoubleEndedIterator<Item = &Repo> {
        self.by_name.values().map(|id| &self[*id])
    }

    /// With their handles, in no set order.
    pub(crate) fn with_ids(&self) -> impl Iterator<Item = (RepoId, &Repo)> {
        self.all.iter().enumerate().map(|(i, r)| (RepoId(i), r))
    }

    /// In no set order.
    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut Repo> {
        self.all.iter_mut()
    }
}

impl Index<RepoId> for Repos {
    type Output = Repo;

    fn index(&self, id: RepoId) -> &Repo {
        &self.all[id.0]
    }
}

#[cfg(test)]
impl Index<&str> for Repos {
    type Output = Repo;

    /// Panics when `name` has no metadata, as a map's index does.
    fn index(&self, name: &str) -> &Repo {
        self.get(name).expect("repository has metadata")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_walk_in_byte_order_and_handles_stay_put() {
        let mut repos = Repos::default();
        for name in ["b", "a/x", "a", "B"] {
            repos.or_insert(name).stars = name.len() as i64;
        }
        let b = repos.id("b").unwrap();
        repos.or_insert("b").stars = 7;
        assert_eq!(repos.id("b"), Some(b), "inserting again keeps the handle");
        assert_eq!(repos[b].stars, 7);
        let names: Vec<&str> = repos.values().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["B", "a", "a/x", "b"]);
        assert_eq!(repos.values().next_back().unwrap().name, "b");
        assert!(repos.contains_key("a/x") && !repos.contains_key("c"));
        assert!(repos.get("c").is_none() && repos.id("c").is_none());
        for (id, repo) in repos.with_ids() {
            assert_eq!(repos.id(&repo.name), Some(id));
        }
        repos.get_mut("a").unwrap().stars = 9;
        assert_eq!(repos["a"].stars, 9);
    }
}
