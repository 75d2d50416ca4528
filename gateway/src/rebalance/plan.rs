//! The plan: every repository whose data is not (only) on its owner under the config, read from every member's catalog.

use std::collections::BTreeMap;

use futures_util::{stream, StreamExt};
use indicatif::HumanBytes;
use serde_json::{json, Value};

use super::copy;
use super::fleet::Fleet;
use super::inventory::{self, Inventory};
use super::progress::{self, Mode};
use super::Move;
use crate::config::Config;
use crate::placement::Ring;

pub(super) struct Plan {
    /// Distinct repositories found on any member.
    pub(super) repositories: usize,
    pub(super) moves: Vec<Planned>,
    /// Empty layouts on members that do not own them still holding
    /// manifests or blobs of the owner's copy: a move killed while deleting.
    pub(super) leftovers: usize,
    /// What could not be read: a member's catalog, a repository's inventory.
    pub(super) unread: Vec<String>,
}

pub(super) struct Planned {
    pub(super) mv: Move,
    pub(super) inventory: Inventory,
    pub(super) stars: Option<u64>,
}

impl Plan {
    pub(super) async fn make(config: &Config, fleet: &Fleet, concurrency: usize) -> Self {
        let ring = Ring::new(
            config.placement,
            config.hash_key(),
            config.cluster.members.clone(),
        );
        let all = config.all_members();
        let mut unread = Vec::new();
        let mut holders: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        let catalogs = stream::iter(0..all.len())
            .map(|i| async move { (i, fleet.catalog(i).await) })
            .buffered(concurrency)
            .collect::<Vec<_>>()
            .await;
        for (i, catalog) in catalogs {
            match catalog {
                Ok(names) => {
                    for name in names {
                        holders.entry(name).or_default().push(i);
                    }
                }
                Err(err) => unread.push(err),
            }
        }
        let candidates: Vec<Move> = holders
            .iter()
            .flat_map(|(repo, on)| {
                let to = ring.owner(repo);
                on.iter()
                    .filter(move |&&from| from != to)
                    .map(move |&from| Move {
                        repo: repo.clone(),
                        from,
                        to,
                    })
            })
            .collect();
        let read = stream::iter(candidates)
            .map(|mv| async move {
                let inventory = match inventory::take(fleet, mv.from, &mv.repo).await {
                    // An empty layout is a move only while it holds leftovers.
                    Ok(Some(inv)) if inv.is_empty() => match copy::leftovers(fleet, &mv).await {
                        Ok((m, b)) if m.is_empty() && b.is_empty() => Ok(None),
                        Ok(_) => Ok(Some(inv)),
                        Err(err) => Err(err),
                    },
                    read => read,
                };
                let stars = match &inventory {
                    Ok(Some(inv)) if !inv.is_empty() => fleet.stars(mv.from, &mv.repo).await,
                    _ => None,
                };
                (mv, inventory, stars)
            })
            .buffered(concurrency)
            .collect::<Vec<_>>()
            .await;
        let mut moves = Vec::new();
        let mut leftovers = 0;
        for (mv, inventory, stars) in read {
            match inventory {
                Ok(Some(inventory)) if !inventory.is_empty() => moves.push(Planned {
                    mv,
                    inventory,
                    stars,
                }),
                // The owner's copy names what to clear.
                Ok(Some(inventory)) => {
                    leftovers += 1;
                    moves.push(Planned {
                        mv,
                        inventory,
                        stars,
                    });
                }
                Ok(None) => {}
                Err(err) => unread.push(err),
            }
        }
        Self {
            repositories: holders.len(),
            moves,
            leftovers,
            unread,
        }
    }

    /// Repositories with content to move, each counted once.
    fn moving(&self) -> usize {
        let mut names: Vec<&str> = self
            .moves
            .iter()
            .filter(|p| !p.inventory.is_empty())
            .map(|p| p.mv.repo.as_str())
            .collect();
        names.dedup();
        names.len()
    }

    /// The fraction of all repositories that move.
    pub(super) fn moved_fraction(&self) -> f64 {
        if self.repositories == 0 {
            return 0.0;
        }
        self.moving() as f64 / self.repositories as f64
    }

    pub(super) fn bytes(&self) -> u64 {
        self.moves.iter().map(|p| p.inventory.bytes()).sum()
    }

    /// Prints the plan, as a table or one JSON object.
    pub(super) fn print(&self, config: &Config, fleet: &Fleet, mode: Mode) {
        let starred: Vec<&Planned> = self
            .moves
            .iter()
            .filter(|p| p.stars.is_some_and(|s| s > 0))
            .collect();
        let stars: u64 = starred.iter().filter_map(|p| p.stars).sum();
        let stars_unknown = self
            .moves
            .iter()
            .filter(|p| !p.inventory.is_empty() && p.stars.is_none())
            .count();
        let (tags, manifests) = self.moves.iter().fold((0, 0), |(t, m), p| {
            (t + p.inventory.tags.len(), m + p.inventory.manifests.len())
        });
        if mode == Mode::Json {
            let moves: Vec<Value> = self
                .moves
                .iter()
                .filter(|p| !p.inventory.is_empty())
                .map(|p| {
                    json!({"repository": p.mv.repo, "from": fleet.name(p.mv.from), "to": fleet.name(p.mv.to),
                           "tags": p.inventory.tags.len(), "manifests": p.inventory.manifests.len(),
                           "bytes": p.inventory.bytes(), "stars": p.stars})
                })
                .collect();
            progress::emit(&json!({
                "event": "plan",
                "placement": config.placement.to_string(),
                "members": config.cluster.members,
                "previousMembers": config.cluster.previous_members,
                "repositories": self.repositories,
                "moving": self.moving(),
                "movedFraction": self.moved_fraction(),
                "tags": tags, "manifests": manifests, "bytes": self.bytes(),
                "starredRepositories": starred.len(), "stars": stars,
                "starsUnknown": stars_unknown,
                "leftovers": self.leftovers,
                "unread": self.unread,
                "moves": moves,
            }));
            return;
        }
        println!(
            "plan: {} members ({}), {} placement; {} repositories, {} to move ({:.1}%)",
            config.cluster.members.len(),
            match &config.cluster.previous_members {
                Some(previous) => format!("{} before the change", previous.len()),
                None => "no previousMembers".into(),
            },
            config.placement,
            self.repositories,
            self.moving(),
            100.0 * self.moved_fraction()
        );
        for p in self.moves.iter().filter(|p| !p.inventory.is_empty()) {
            println!(
                "  {}  {} -> {}  {} tags, {} manifests, {}",
                p.mv.repo,
                fleet.name(p.mv.from),
                fleet.name(p.mv.to),
                p.inventory.tags.len(),
                p.inventory.manifests.len(),
                HumanBytes(p.inventory.bytes())
            );
        }
        println!(
            "total: {} repositories, {tags} tags, {manifests} manifests, {}",
            self.moving(),
            HumanBytes(self.bytes())
        );
        println!(
            "stars: {} of them starred ({stars} stars){}; stars and bookmarks are each node's per-user metadata and do not move",
            starred.len(),
            if stars_unknown > 0 {
                format!(", {stars_unknown} whose node does not say")
            } else {
                String::new()
            }
        );
        if self.leftovers > 0 {
            println!(
                "leftovers: {} repositories keep, on a member that does not own them, data of an interrupted move; --apply clears them against the owner's copy",
                self.leftovers
            );
        }
        for err in &self.unread {
            println!("unread: {err}");
        }
    }
}
