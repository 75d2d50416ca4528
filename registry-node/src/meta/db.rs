//! The metadata database on the node's disk (redb): what storage cannot tell, i.e. push and pull statistics, tag times, stars and user preferences.

use std::collections::HashMap;
use std::path::Path;

use redb::{Database, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use super::repo::Stats;
use super::time as mtime;

/// File name under the storage root. It starts with `_`, which no
/// repository name may, and it is a file, which the catalog walk skips.
pub(crate) const FILE: &str = "_flotilla-meta.redb";

/// (repo, manifest digest) → statistics, as JSON.
const STATS: TableDefinition<(&str, &str), &str> = TableDefinition::new("stats");
/// (repo, tag) → when the tag was first set, in Unix nanoseconds.
const TAGGED: TableDefinition<(&str, &str), i64> = TableDefinition::new("tagged");
/// user → starred and bookmarked repositories, as JSON.
const USERS: TableDefinition<&str, &str> = TableDefinition::new("users");
/// repo → star count.
const STARS: TableDefinition<&str, i64> = TableDefinition::new("stars");

/// One user's preferences (zot's `UserData`, without what the node lacks).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct UserData {
    pub starred_repos: Vec<String>,
    pub bookmarked_repos: Vec<String>,
}

/// `Stats` as stored: times in Unix nanoseconds.
#[derive(Serialize, Deserialize)]
struct StoredStats {
    d: i64,
    l: Option<i64>,
    p: Option<i64>,
    b: String,
}

impl From<&Stats> for StoredStats {
    fn from(s: &Stats) -> Self {
        Self {
            d: s.downloads,
            l: s.last_pull.map(mtime::to_nanos),
            p: s.pushed.map(mtime::to_nanos),
            b: s.pushed_by.clone(),
        }
    }
}

impl From<StoredStats> for Stats {
    fn from(s: StoredStats) -> Self {
        Self {
            downloads: s.d,
            last_pull: s.l.and_then(mtime::from_nanos),
            pushed: s.p.and_then(mtime::from_nanos),
            pushed_by: s.b,
        }
    }
}

/// Everything the database holds, read once at start.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    pub stats: HashMap<(String, String), Stats>,
    pub tagged: HashMap<(String, String), i64>,
    pub users: HashMap<String, UserData>,
    pub stars: HashMap<String, i64>,
}

/// Changes written in one transaction.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub stats: Vec<(String, String, Stats)>,
    pub stats_removed: Vec<(String, String)>,
    pub tagged: Vec<(String, String, i64)>,
    pub tagged_removed: Vec<(String, String)>,
    pub users: Vec<(String, UserData)>,
    pub stars: Vec<(String, i64)>,
    pub stars_removed: Vec<String>,
}

impl Batch {
    pub(crate) fn is_empty(&self) -> bool {
        self.stats.is_empty()
            && self.stats_removed.is_empty()
            && self.tagged.is_empty()
            && self.tagged_removed.is_empty()
            && self.users.is_empty()
            && self.stars.is_empty()
            && self.stars_removed.is_empty()
    }
}

/// A database failure; boxed, as redb's errors are large.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub(crate) struct DbError(Box<redb::Error>);

impl<E: Into<redb::Error>> From<E> for DbError {
    fn from(e: E) -> Self {
        Self(Box::new(e.into()))
    }
}

#[derive(Debug)]
pub(crate) struct Db {
    db: Database,
}

impl Db {
    /// Opens (creating) the database at `<root>/FILE`; redb recovers from a
    /// crash on open, so the last committed transaction is what is found.
    pub(crate) fn open(root: &Path) -> Result<Self, DbError> {
        let db = Database::create(root.join(FILE))?;
        let tx = db.begin_write()?;
        tx.open_table(STATS)?;
        tx.open_table(TAGGED)?;
        tx.open_table(USERS)?;
        tx.open_table(STARS)?;
        tx.commit()?;
        Ok(Self { db })
    }

    pub(crate) fn load(&self) -> Result<Loaded, DbError> {
        let tx = self.db.begin_read()?;
        let mut loaded = Loaded::default();
        for row in tx.open_table(STATS)?.iter()? {
            let (k, v) = row?;
            let (repo, digest) = k.value();
            if let Ok(stored) = serde_json::from_str::<StoredStats>(v.value()) {
                loaded
                    .stats
                    .insert((repo.to_owned(), digest.to_owned()), stored.into());
            }
        }
        for row in tx.open_table(TAGGED)?.iter()? {
            let (k, v) = row?;
            let (repo, tag) = k.value();
            loaded
                .tagged
                .insert((repo.to_owned(), tag.to_owned()), v.value());
        }
        for row in tx.open_table(USERS)?.iter()? {
            let (k, v) = row?;
            if let Ok(user) = serde_json::from_str(v.value()) {
                loaded.users.insert(k.value().to_owned(), user);
            }
        }
        for row in tx.open_table(STARS)?.iter()? {
            let (k, v) = row?;
            loaded.stars.insert(k.value().to_owned(), v.value());
        }
        Ok(loaded)
    }

    /// Writes `batch` in one durable transaction.
    pub(crate) fn write(&self, batch: &Batch) -> Result<(), DbError> {
        if batch.is_empty() {
            return Ok(());
        }
        let tx = self.db.begin_write()?;
        {
            let mut stats = tx.open_table(STATS)?;
            for (repo, digest, s) in &batch.stats {
                let text = serde_json::to_string(&StoredStats::from(s)).unwrap_or_default();
                stats.insert((repo.as_str(), digest.as_str()), text.as_str())?;
            }
            for (repo, digest) in &batch.stats_removed {
                stats.remove((repo.as_str(), digest.as_str()))?;
            }
            let mut tagged = tx.open_table(TAGGED)?;
            for (repo, tag, nanos) in &batch.tagged {
                tagged.insert((repo.as_str(), tag.as_str()), nanos)?;
            }
            for (repo, tag) in &batch.tagged_removed {
                tagged.remove((repo.as_str(), tag.as_str()))?;
            }
            let mut users = tx.open_table(USERS)?;
            for (user, data) in &batch.users {
                let text = serde_json::to_string(data).unwrap_or_default();
                users.insert(user.as_str(), text.as_str())?;
            }
            let mut stars = tx.open_table(STARS)?;
            for (repo, count) in &batch.stars {
                stars.insert(repo.as_str(), count)?;
            }
            for repo in &batch.stars_removed {
                stars.remove(repo.as_str())?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let stats = Stats {
            downloads: 3,
            last_pull: Some(time::OffsetDateTime::UNIX_EPOCH),
            pushed: mtime::parse("2024-01-01T00:00:00.25Z"),
            pushed_by: "alice".into(),
        };
        {
            let db = Db::open(dir.path()).unwrap();
            let batch = Batch {
                stats: vec![("r".into(), "sha256:a".into(), stats.clone())],
                tagged: vec![("r".into(), "v1".into(), 42)],
                users: vec![(
                    "alice".into(),
                    UserData {
                        starred_repos: vec!["r".into()],
                        bookmarked_repos: vec![],
                    },
                )],
                stars: vec![("r".into(), 1)],
                ..Batch::default()
            };
            db.write(&batch).unwrap();
        }
        let db = Db::open(dir.path()).unwrap();
        let loaded = db.load().unwrap();
        assert_eq!(loaded.stats[&("r".into(), "sha256:a".into())], stats);
        assert_eq!(loaded.tagged[&("r".into(), "v1".into())], 42);
        assert_eq!(loaded.users["alice"].starred_repos, vec!["r"]);
        assert_eq!(loaded.stars["r"], 1);
        db.write(&Batch {
            stats_removed: vec![("r".into(), "sha256:a".into())],
            stars_removed: vec!["r".into()],
            ..Batch::default()
        })
        .unwrap();
        let loaded = db.load().unwrap();
        assert!(loaded.stats.is_empty() && loaded.stars.is_empty());
    }
}
