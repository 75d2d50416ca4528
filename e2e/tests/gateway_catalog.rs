//! The catalog of a cluster answers exactly as one registry holding all the same repositories: the oracle.
//!
//! Forty repositories, chosen so that zot's component-wise order (`a` <
//! `a/b` < `a-c`) differs from plain byte order, are pushed through a
//! gateway in front of three nodes, and the same forty straight into one
//! node. Then the same `/v2/_catalog` requests go to both: whole, and in
//! random `n`/`last` walks that follow `Link` to the end.

use anyhow::{ensure, Context, Result};
use flotilla_e2e::{push_small_image, Cluster, Node, Registry};
use serde_json::Value;

const REPOS: [&str; 40] = [
    "0/a",
    "a",
    "a/b",
    "a/b/c",
    "a-c",
    "a.b",
    "a_b",
    "a__b",
    "a0",
    "ab",
    "ab/c",
    "abc",
    "b",
    "b/a",
    "b-a",
    "b--a",
    "b.a",
    "c/d/e/f",
    "c/d-e",
    "c-d/e",
    "c.d/e",
    "lib/alpine",
    "lib/alpine-edge",
    "lib/alpine/edge",
    "lib-alpine",
    "team-1/app",
    "team-1/app-2",
    "team-1/app/web",
    "team-10/app",
    "team-2/app",
    "team_1/app",
    "x",
    "x/y",
    "x-y",
    "x.y",
    "x0/y",
    "y9",
    "z/z/z",
    "z-z",
    "zz",
];

/// The page sizes every walk uses, besides random ones: 1, around the member
/// count, exactly the total, and beyond it.
const FIXED_N: [usize; 7] = [1, 2, 3, 7, 39, 40, 41];

/// A cluster and the oracle node, both holding [`REPOS`].
struct Fixture {
    cluster: Cluster,
    oracle: Node,
}

impl Fixture {
    fn seeded() -> Result<Self> {
        let cluster = Cluster::start(3)?;
        let oracle = Node::start()?;
        for repo in REPOS {
            push_small_image(&cluster.gateway().http(), repo, "v1")?;
            push_small_image(&oracle.http(), repo, "v1")?;
        }
        Ok(Self { cluster, oracle })
    }

    fn gateway(&self) -> Registry {
        self.cluster.gateway().http()
    }
}

/// One catalog answer: the status, the JSON body, the `Link` header.
#[derive(Debug, PartialEq)]
struct Page {
    status: u16,
    body: Value,
    link: Option<String>,
}

impl Page {
    fn get(http: &Registry, path: &str) -> Result<Self> {
        let response = http.get(path).send()?;
        let status = response.status().as_u16();
        let link = response
            .headers()
            .get("link")
            .map(|l| l.to_str().map(str::to_owned))
            .transpose()?;
        let body = response.json().with_context(|| format!("GET {path}"))?;
        Ok(Self { status, body, link })
    }

    fn repositories(&self) -> Vec<String> {
        self.body["repositories"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_str().map(str::to_owned))
            .collect()
    }

    /// The target of `Link: <…>; rel="next"`.
    fn next(&self) -> Result<Option<String>> {
        let Some(link) = &self.link else {
            return Ok(None);
        };
        let target = link
            .strip_prefix('<')
            .and_then(|l| l.strip_suffix(">; rel=\"next\""))
            .with_context(|| format!("malformed Link {link}"))?;
        Ok(Some(target.to_owned()))
    }
}

/// zot's order for catalog names: component by component.
fn zot_sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort_by(|a, b| a.split('/').cmp(b.split('/')));
    names
}

#[test]
fn the_catalog_is_the_sorted_union_of_every_members_catalog() -> Result<()> {
    let fixture = Fixture::seeded()?;
    let mut union = Vec::new();
    for (i, member) in fixture.cluster.members().iter().enumerate() {
        let theirs = Page::get(&member.http(), "/v2/_catalog")?.repositories();
        let owned: Vec<String> = REPOS
            .iter()
            .filter(|r| fixture.cluster.owner(r) == i)
            .map(|r| r.to_string())
            .collect();
        assert_eq!(zot_sorted(theirs.clone()), zot_sorted(owned), "member {i}");
        union.extend(theirs);
    }

    let whole = Page::get(&fixture.gateway(), "/v2/_catalog")?;

    assert_eq!(whole.status, 200);
    assert_eq!(whole.repositories(), zot_sorted(union));
    assert_eq!(whole.link, None, "an unpaged catalog has no Link");
    Ok(())
}

#[test]
fn the_whole_catalog_equals_one_node_holding_the_same_repositories() -> Result<()> {
    let fixture = Fixture::seeded()?;

    let cluster = Page::get(&fixture.gateway(), "/v2/_catalog")?;
    let oracle = Page::get(&fixture.oracle.http(), "/v2/_catalog")?;

    assert_eq!(cluster, oracle);
    assert_eq!(
        oracle.repositories(),
        zot_sorted(REPOS.map(str::to_owned).to_vec())
    );
    Ok(())
}

#[test]
fn random_paged_walks_following_link_reproduce_the_catalog_page_for_page_like_one_node(
) -> Result<()> {
    let fixture = Fixture::seeded()?;
    let all = zot_sorted(REPOS.map(str::to_owned).to_vec());
    let mut rng = SplitMix64(0x5eed_f107_111a);
    let mut walks: Vec<(usize, Option<String>)> = FIXED_N.iter().map(|&n| (n, None)).collect();
    for _ in 0..8 {
        let n = 1 + rng.below(45);
        let start = rng.below(all.len());
        walks.push((n, Some(all[start].clone())));
    }

    for (n, last) in walks {
        let expected: Vec<String> = match &last {
            Some(last) => all
                .iter()
                .skip_while(|r| *r != last)
                .skip(1)
                .cloned()
                .collect(),
            None => all.clone(),
        };
        let walked = walk(
            &fixture.gateway(),
            &fixture.oracle.http(),
            n,
            last.as_deref(),
        )
        .with_context(|| format!("walk with n={n}, last={last:?}"))?;
        assert_eq!(walked, expected, "walk with n={n}, last={last:?}");
    }
    Ok(())
}

#[test]
fn a_last_that_names_no_repository_gives_an_empty_page_like_one_node() -> Result<()> {
    let fixture = Fixture::seeded()?;

    for path in [
        "/v2/_catalog?n=5&last=no/such-repo",
        "/v2/_catalog?last=a%2Fb%2Fc%2Fd",
        "/v2/_catalog?n=1&last=zzz",
    ] {
        let cluster = Page::get(&fixture.gateway(), path)?;
        let oracle = Page::get(&fixture.oracle.http(), path)?;
        assert_eq!(cluster.status, 200, "{path}");
        assert_eq!(cluster.repositories(), Vec::<String>::new(), "{path}");
        assert_eq!(cluster.link, None, "{path}");
        assert_eq!(cluster, oracle, "{path}");
    }
    Ok(())
}

#[test]
fn a_member_holding_most_of_a_page_is_asked_for_the_rest_of_it_like_one_node() -> Result<()> {
    // The gateway first asks each member for its even share of a page. One
    // member here holds far more than its share (repositories it had before
    // it joined, or that a move has yet to spread): a page must still hold
    // all of its names, in order, as one node's does.
    let cluster = Cluster::start(3)?;
    let oracle = Node::start()?;
    let crowd: Vec<String> = (0..120).map(|i| format!("crowd/r{i:03}")).collect();
    for repo in &crowd {
        push_small_image(&cluster.members()[0].http(), repo, "v1")?;
        push_small_image(&oracle.http(), repo, "v1")?;
    }
    for repo in ["a", "crowd/r050-b", "zz"] {
        push_small_image(&cluster.gateway().http(), repo, "v1")?;
        push_small_image(&oracle.http(), repo, "v1")?;
    }
    let mut all = crowd.clone();
    all.extend(["a", "crowd/r050-b", "zz"].map(str::to_owned));
    let all = zot_sorted(all);

    for (n, last) in [
        (50, None),
        (100, None),
        (123, None),
        (60, Some("crowd/r010")),
    ] {
        let walked = walk(&cluster.gateway().http(), &oracle.http(), n, last)
            .with_context(|| format!("walk with n={n}, last={last:?}"))?;
        let from = last.map_or(0, |l| all.iter().position(|r| r == l).unwrap() + 1);
        assert_eq!(walked, all[from..], "walk with n={n}, last={last:?}");
    }
    Ok(())
}

/// Walks the catalog from `last` in pages of `n`, following `Link`, asking
/// the gateway and the oracle node each page; returns what the gateway listed.
/// Every page must equal the oracle's, and carry a `Link` exactly when it is
/// full (zot's rule, even when the next page is empty).
fn walk(
    gateway: &Registry,
    oracle: &Registry,
    n: usize,
    last: Option<&str>,
) -> Result<Vec<String>> {
    let mut listed = Vec::new();
    let mut next = Some(match last {
        Some(last) => format!("/v2/_catalog?n={n}&last={last}"),
        None => format!("/v2/_catalog?n={n}"),
    });
    let mut pages = 0;
    while let Some(path) = next.take() {
        pages += 1;
        ensure!(pages <= 1000, "the walk does not end");
        let page = Page::get(gateway, &path)?;
        let oracle = Page::get(oracle, &path)?;
        ensure!(
            page == oracle,
            "GET {path}: the cluster answered\n{page:?}\none node answered\n{oracle:?}"
        );
        let repos = page.repositories();
        let expected_link = (repos.len() == n)
            .then(|| format!("</v2/_catalog?n={n}&last={}>; rel=\"next\"", repos[n - 1]));
        ensure!(
            page.link == expected_link,
            "GET {path}: {} repositories and Link {:?}; zot's rule gives {expected_link:?}",
            repos.len(),
            page.link
        );
        next = page.next()?;
        listed.extend(repos);
    }
    Ok(listed)
}

/// A tiny seeded generator, so a failing walk fails the same way again.
struct SplitMix64(u64);

impl SplitMix64 {
    fn below(&mut self, bound: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) % bound as u64) as usize
    }
}
