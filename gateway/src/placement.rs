//! Placement, `owner(repo)`: which member holds a repository. A pure function of the members, the key and the name.

use std::hash::Hasher;

use siphasher::sip::SipHasher24;

use crate::config::Placement;

/// Where a repository is: its owner and, in the migration window, the
/// member that owned it before the change when that is another one. Indices
/// are into the gateway's member list.
pub(crate) trait Owners {
    fn owners(&self, repo: &str) -> (usize, Option<usize>);
}

/// A ring alone has no window.
impl Owners for Ring {
    fn owners(&self, repo: &str) -> (usize, Option<usize>) {
        (self.owner(repo), None)
    }
}

/// How many of the first `items` of a fleet-wide order (a catalog page, a
/// search page up to its end) one of `members` is first asked for: its even
/// share, plus room for placement's uneven spread (four standard deviations
/// of a fair one). A member that may hold more of them is asked again.
pub(crate) fn first_share(items: usize, members: usize) -> usize {
    let share = items.div_ceil(members.max(1));
    let spread = 4 * share.isqrt() + 8;
    items.min(share + spread)
}

/// The member list with its placement rule.
#[derive(Debug, Clone)]
pub struct Ring {
    kind: Placement,
    key: [u8; 16],
    members: Vec<String>,
}

impl Ring {
    pub fn new(kind: Placement, key: [u8; 16], members: Vec<String>) -> Self {
        Self { kind, key, members }
    }

    pub fn members(&self) -> &[String] {
        &self.members
    }

    /// The index of the member that owns `repo`.
    pub fn owner(&self, repo: &str) -> usize {
        match self.kind {
            // zot's ComputeTargetMember: SipHash-2-4 of the raw name, modulo.
            Placement::Zot => {
                (sip(&self.key, repo.as_bytes()) % self.members.len() as u64) as usize
            }
            Placement::Rendezvous => self.rendezvous(repo),
        }
    }

    /// Highest random weight: each member scores `siphash(member ‖ 0 ‖ repo)`
    /// and the highest wins, so a member joining or leaving moves only the
    /// repositories it wins or held. Ties (astronomically rare) go to the
    /// earlier member.
    fn rendezvous(&self, repo: &str) -> usize {
        let mut best = (0usize, 0u64);
        for (i, member) in self.members.iter().enumerate() {
            let mut h = SipHasher24::new_with_key(&self.key);
            h.write(member.as_bytes());
            h.write(&[0]);
            h.write(repo.as_bytes());
            let score = h.finish();
            if i == 0 || score > best.1 {
                best = (i, score);
            }
        }
        best.0
    }
}

/// SipHash-2-4 over raw bytes, as dchest/siphash computes it (not `Hash for str`,
/// which would append a terminator byte).
fn sip(key: &[u8; 16], bytes: &[u8]) -> u64 {
    let mut h = SipHasher24::new_with_key(key);
    h.write(bytes);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8; 16] = b"loremipsumdolors";

    fn ring(kind: Placement, n: usize) -> Ring {
        Ring::new(
            kind,
            *KEY,
            (0..n).map(|i| format!("member{}", i + 1)).collect(),
        )
    }

    /// zot-reference §3.2: the vectors computed with dchest/siphash.
    #[test]
    fn zot_placement_is_bit_identical() {
        let vectors: [(&str, u64, usize, usize); 6] = [
            ("zot-test", 9175301104817010337, 1, 1),
            ("alpine", 16892849003881565083, 1, 1),
            ("library/alpine", 15818287825730303535, 1, 0),
            ("busybox", 17305906831562717424, 0, 0),
            ("a/b/c", 16235634025964885761, 1, 1),
            ("", 6763244168904615216, 0, 0),
        ];
        for (repo, sum, of2, of3) in vectors {
            assert_eq!(sip(KEY, repo.as_bytes()), sum, "{repo}");
            assert_eq!(ring(Placement::Zot, 2).owner(repo), of2, "{repo}");
            assert_eq!(ring(Placement::Zot, 3).owner(repo), of3, "{repo}");
        }
    }

    #[test]
    fn rendezvous_moves_only_what_the_new_member_wins() {
        let names: Vec<String> = (0..20_000)
            .map(|i| format!("team{}/app{i}", i % 37))
            .collect();
        let before = ring(Placement::Rendezvous, 4);
        let after = ring(Placement::Rendezvous, 5);
        let mut moved = 0;
        for name in &names {
            let (a, b) = (before.owner(name), after.owner(name));
            if a != b {
                assert_eq!(b, 4, "{name} moved between old members");
                moved += 1;
            }
        }
        // Expect 1/5 of the repositories to move; allow sampling noise.
        let fraction = moved as f64 / names.len() as f64;
        assert!((0.18..0.22).contains(&fraction), "moved {fraction}");
    }

    /// The moved fraction `rebalance` reports on 3 → 4: rendezvous moves
    /// the quarter the new member wins; zot's modulo re-homes three quarters
    /// (a repository stays only when its hash is the same modulo 3 and 4).
    #[test]
    fn growing_three_to_four_moves_a_quarter_with_rendezvous_and_three_quarters_with_zot() {
        let names: Vec<String> = (0..20_000)
            .map(|i| format!("org{}/img{i}", i % 53))
            .collect();
        for (placement, expected) in [(Placement::Rendezvous, 0.25), (Placement::Zot, 0.75)] {
            let (before, after) = (ring(placement, 3), ring(placement, 4));
            let moved = names
                .iter()
                .filter(|n| before.members()[before.owner(n)] != after.members()[after.owner(n)])
                .count();
            let fraction = moved as f64 / names.len() as f64;
            assert!(
                (fraction - expected).abs() < 0.02,
                "{placement}: moved {fraction}, expected {expected}"
            );
        }
    }

    #[test]
    fn rendezvous_removal_moves_only_the_removed_members_repositories() {
        let names: Vec<String> = (0..10_000).map(|i| format!("r{i}")).collect();
        let full = ring(Placement::Rendezvous, 5);
        let mut members = full.members().to_vec();
        members.remove(2);
        let shrunk = Ring::new(Placement::Rendezvous, *KEY, members.clone());
        for name in &names {
            let old = &full.members()[full.owner(name)];
            let new = &members[shrunk.owner(name)];
            if old != "member3" {
                assert_eq!(old, new, "{name}");
            }
        }
    }

    #[test]
    fn rendezvous_spreads_evenly() {
        let r = ring(Placement::Rendezvous, 3);
        let mut counts = [0usize; 3];
        for i in 0..30_000 {
            counts[r.owner(&format!("repo{i}"))] += 1;
        }
        for c in counts {
            assert!((9_000..11_000).contains(&c), "{counts:?}");
        }
    }
}
