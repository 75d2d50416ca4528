//! The list of repositories, in the order zot's local-storage walk produces it, kept as an ordered index so a catalog page costs the page, not the walk.
//!
//! zot walks its storage on every `/v2/_catalog` request. The node walks it
//! once, at start, into a set ordered as the walk is; [`Store::init_repo`]
//! adds each repository it creates, and nothing removes one (zot and the
//! node keep a repository's layout once made, empty or not). A page is then
//! a range of the set from `last`.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::ops::Bound;
use std::path::PathBuf;
use std::sync::RwLock;

use flotilla_protocol::paging;

use super::{Store, SESSIONS_DIR};

/// A repository name ordered as zot's walk visits it (component-wise).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Walked(String);

impl Ord for Walked {
    fn cmp(&self, other: &Self) -> Ordering {
        paging::catalog_order(&self.0, &other.0)
    }
}

impl PartialOrd for Walked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Every repository of the store, in walk order.
#[derive(Debug)]
pub(super) struct Catalog(RwLock<BTreeSet<Walked>>);

impl Catalog {
    /// The walk of `root`, once.
    pub(super) fn load(root: &std::path::Path) -> std::io::Result<Self> {
        let names = walk(root)?.into_iter().map(Walked).collect();
        Ok(Self(RwLock::new(names)))
    }

    pub(super) fn insert(&self, repo: &str) {
        let mut names = self.0.write().unwrap_or_else(|e| e.into_inner());
        names.insert(Walked(repo.to_owned()));
    }

    /// The names as they stand, read-locked.
    fn names(&self) -> std::sync::RwLockReadGuard<'_, BTreeSet<Walked>> {
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// Directory names the walk never descends into: layout internals, as zot skips them.
fn skipped(name: &str) -> bool {
    matches!(name, "blobs" | ".uploads" | ".sync")
}

impl Store {
    /// Every repository, depth-first with each directory's entries sorted
    /// byte-wise: component-wise lexicographic (`a`, `a/b`, `a-c`), the order
    /// of zot's local driver (zot-reference §2.3.1).
    pub(crate) fn catalog(&self) -> Vec<String> {
        let names = self.catalog.names();
        names.iter().map(|w| w.0.clone()).collect()
    }

    /// zot's catalog page (`paging::catalog_page`) read from the index: the
    /// scan starts at `last`, so it costs the page (plus the unreadable
    /// names skipped inside it), however many repositories come before.
    pub(crate) fn catalog_page(
        &self,
        last: &str,
        n: i64,
        readable: impl Fn(&str) -> bool,
    ) -> Vec<String> {
        let names = self.catalog.names();
        let from = Walked(last.to_owned());
        let scan: Box<dyn Iterator<Item = &Walked>> = if last.is_empty() {
            Box::new(names.iter())
        } else if names.contains(&from) {
            Box::new(names.range((Bound::Included(&from), Bound::Unbounded)))
        } else {
            // zot: a `last` that names no repository gives an empty page.
            Box::new(std::iter::empty())
        };
        paging::catalog_page(scan.map(|w| w.0.as_str()), last, n, readable)
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    /// The readable names from `from` on, at most `n` of them (`n < 0`: all):
    /// a gateway's push-down of a fleet page. `from` itself comes first if it
    /// is a repository, readable or not: as zot's `last`, it only marks where
    /// the page starts, and the gateway never lists it.
    pub(crate) fn catalog_from(
        &self,
        from: &str,
        n: i64,
        readable: impl Fn(&str) -> bool,
    ) -> Vec<String> {
        let names = self.catalog.names();
        let from = Walked(from.to_owned());
        let limit = usize::try_from(n).unwrap_or(usize::MAX);
        names
            .range((Bound::Included(&from), Bound::Unbounded))
            .filter(|w| *w == &from || readable(&w.0))
            .take(limit)
            .map(|w| w.0.clone())
            .collect()
    }
}

/// zot's `ValidateRepo` for the local driver, synchronously: `oci-layout`,
/// `index.json` and a `blobs/` directory.
fn is_layout(dir: &std::path::Path) -> bool {
    dir.join("oci-layout").exists() && dir.join("index.json").exists() && dir.join("blobs").is_dir()
}

/// Repositories under `root`, in walk order.
fn walk(root: &std::path::Path) -> std::io::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack: Vec<(PathBuf, String)> = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        let mut children = Vec::new();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            if !entry.file_type()?.is_dir() {
                continue;
            }
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            // The session store can hold thousands of files: not worth a listing.
            if skipped(&name) || (prefix.is_empty() && name == SESSIONS_DIR) {
                continue;
            }
            children.push(name);
        }
        children.sort();
        // Pushed in reverse so the smallest child is visited next, depth first.
        for name in children.into_iter().rev() {
            let rel = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            stack.push((dir.join(&name), rel));
        }
        if !prefix.is_empty() && flotilla_protocol::name::is_valid(&prefix) && is_layout(&dir) {
            out.push(prefix);
        }
    }
    Ok(out)
}
