//! A realistic registry for the search extension's tests: 30 repositories pushed by skopeo and oras,
//! with multi-arch indexes, cosign signatures, referrers, shared base layers, three kinds of callers,
//! stars, bookmarks and downloads, and what zot would answer about all of it.
//!
//! Filling a node takes seconds, and nextest runs each test in a process of
//! its own, so the first test that needs the fixture fills a node once and
//! keeps its data directory as a template under
//! `target/<profile>/search-fixture/<key>`; every test then starts its own
//! node on a copy ([`Fixture::start`]). The key changes with the catalog and
//! with the `flotilla-node` binary, so a rebuilt node never meets old data.
//! Starting on a copy relies on the node keeping its metadata across a
//! restart, which `search_restart.rs` checks on its own.
//!
//! # Layout
//! - [`catalog`]: the repositories, tags, downloads, stars and bookmarks.
//! - [`images`]: images written by hand into OCI layouts.
//! - `build`: pushing the catalog to a live node.
//! - [`facts`]: what zot answers about each image and repository.
//! - [`expect`]: an answer's summaries checked against the facts, field by field.
//! - [`graphql`]: the search client ([`Gql`]) and its answers.
//! - [`hostile`]: documents built to cost far more than their size, refused while others are served.
//! - `values`: reading answers: times as instants, list columns.
//! - `template`: the filled node's data kept for every test, and stopping a node gracefully.

mod build;
pub mod catalog;
pub mod expect;
pub mod facts;
pub mod graphql;
pub mod hostile;
pub mod images;
mod template;
mod values;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};

use crate::layout::sha256_digest;
use crate::{Node, Registry, Users};

use build::Record;
pub use facts::{Fields, ImageFacts, ManifestFacts, RepoFacts};
pub use graphql::{Answer, Gql};
pub use template::stop_gracefully;
pub use values::{column, image_names, instant, platforms, strings, time};

/// May do everything everywhere (`adminPolicy`).
pub const ADMIN: (&str, &str) = ("admin", "admin-secret");
/// May read `team-a/**` and nothing else.
pub const DEV: (&str, &str) = ("dev", "dev-secret");

/// The fixture's htpasswd users.
pub fn users() -> Users {
    Users::new().with(ADMIN.0, ADMIN.1).with(DEV.0, DEV.1)
}

/// The fixture's `accessControl`: admin everywhere, dev reads `team-a/**`,
/// anonymous reads `public/**`.
pub fn access_control() -> Value {
    let all = ["read", "create", "update", "delete"];
    json!({
        "repositories": {
            "**": {
                "policies": [{ "users": [ADMIN.0], "actions": all }],
                "defaultPolicy": []
            },
            "team-a/**": {
                "policies": [
                    { "users": [ADMIN.0], "actions": all },
                    { "users": [DEV.0], "actions": ["read"] }
                ],
                "defaultPolicy": []
            },
            "public/**": {
                "policies": [{ "users": [ADMIN.0], "actions": all }],
                "defaultPolicy": [],
                "anonymousPolicy": ["read"]
            }
        },
        "adminPolicy": { "users": [ADMIN.0], "actions": all }
    })
}

/// A node with search on, the fixture's users and access control, and no data.
pub fn empty_node() -> Result<Node> {
    Node::builder()
        .htpasswd(&users())
        .access_control(access_control())
        .search()
        .start()
}

/// A template of the catalog pushed without any use (no downloads, stars or
/// bookmarks), plus whatever `extra` pushes (named by `extra_key`, which goes
/// into the template's key), for tests that spread the same data over several
/// nodes and then use it the same way on each side ([`use_catalog`]). Returns
/// the template directory: `data/` (a node's storage root) and `fixture.json`.
pub fn unused_template(
    extra_key: &str,
    extra: impl FnOnce(&Node) -> Result<()>,
) -> Result<std::path::PathBuf> {
    template::ensure_kind("oracle-fixture", &format!("|{extra_key}"), |node, work| {
        let record = build::push_catalog(node, work)?;
        extra(node)?;
        Ok(record)
    })
}

/// The catalog's downloads, stars and bookmarks, sent to `registry` (a node,
/// or a gateway in front of several) as the fixture's users.
pub fn use_catalog(registry: &Registry) -> Result<()> {
    build::download_all(&registry.as_user(ADMIN.0, ADMIN.1))?;
    build::toggle_all(registry, "toggleStar", catalog::STARS)?;
    build::toggle_all(registry, "toggleBookmark", catalog::BOOKMARKS)
}

/// Copies a directory tree.
pub fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    template::copy_dir(from, to)
}

fn credentials(user: &str) -> Result<(&'static str, &'static str)> {
    match user {
        u if u == ADMIN.0 => Ok(ADMIN),
        u if u == DEV.0 => Ok(DEV),
        _ => bail!("{user} is no user of the fixture"),
    }
}

/// A node holding the catalog, and the facts to check its answers against.
#[derive(Debug)]
pub struct Fixture {
    pub node: Node,
    images: Vec<ImageFacts>,
    repos: BTreeMap<String, RepoFacts>,
    record: Record,
}

impl Fixture {
    /// A node of this test's own, started on a copy of the template (which
    /// is built first if no test has built it yet).
    pub fn start() -> Result<Self> {
        let template = template::ensure()?;
        let record = Record::from_json(&serde_json::from_slice(&fs::read(
            template.join("fixture.json"),
        )?)?)?;
        let mut node = empty_node()?;
        node.kill()?;
        let root = node.root_dir();
        if root.exists() {
            fs::remove_dir_all(&root)?;
        }
        template::copy_dir(&template.join("data"), &root)?;
        node.restart()?;
        Self::from_record(node, record)
    }

    /// A fresh node filled live by the clients, without any template.
    pub fn build() -> Result<Self> {
        let node = empty_node()?;
        let work = tempfile::Builder::new()
            .prefix("search-fixture-")
            .tempdir()?;
        let record = build::populate(&node, work.path())
            .with_context(|| format!("filling the fixture node\n{}", node.log()))?;
        Self::from_record(node, record)
    }

    fn from_record(node: Node, record: Record) -> Result<Self> {
        let root = node.root_dir();
        let signed: BTreeSet<String> = record.signed.iter().cloned().collect();
        let mut images = Vec::new();
        let mut repos = BTreeMap::new();
        for (repo, tags) in record.by_repo() {
            let blobs = |digest: &str| read_blob(&root, &repo, digest);
            let facts = tags
                .iter()
                .map(|(tag, digest)| facts::image_facts(&repo, tag, digest, &blobs, &signed))
                .collect::<Result<Vec<_>>>()?;
            repos.insert(repo.clone(), facts::repo_facts(&repo, &facts, &blobs)?);
            images.extend(facts);
        }
        for (repo, tag, times) in catalog::DOWNLOADS {
            let digest = record
                .tags
                .iter()
                .find(|(r, t, _)| r == repo && t == tag)
                .map(|(_, _, d)| d.clone())
                .with_context(|| format!("{repo}:{tag} is not in the fixture"))?;
            for image in images
                .iter_mut()
                .filter(|i| i.repo == *repo && i.digest == digest)
            {
                image.downloads += times;
            }
        }
        // zot adds up the downloads of each tag's digest, so a digest under
        // two tags counts twice (`pkg/meta/convert/convert.go GetRepoMeta`).
        for image in &images {
            if let Some(facts) = repos.get_mut(&image.repo) {
                facts.downloads += image.downloads;
            }
        }
        for (_, repo) in catalog::STARS {
            if let Some(facts) = repos.get_mut(*repo) {
                facts.stars += 1;
            }
        }
        Ok(Self {
            node,
            images,
            repos,
            record,
        })
    }

    /// The search endpoint as `user` (`None`: anonymous).
    pub fn search(&self, user: Option<&str>) -> Gql {
        Gql::new(self.http(user))
    }

    pub fn as_admin(&self) -> Gql {
        self.search(Some(ADMIN.0))
    }

    pub fn as_dev(&self) -> Gql {
        self.search(Some(DEV.0))
    }

    pub fn anonymous(&self) -> Gql {
        self.search(None)
    }

    /// Raw HTTP to the node as `user` (`None`: anonymous).
    pub fn http(&self, user: Option<&str>) -> Registry {
        match user.map(credentials) {
            Some(Ok((user, password))) => self.node.http().as_user(user, password),
            _ => self.node.http(),
        }
    }

    /// The facts of `repo:tag`; panics if the fixture has no such tag.
    pub fn image(&self, repo: &str, tag: &str) -> &ImageFacts {
        self.images
            .iter()
            .find(|i| i.repo == repo && i.tag == tag)
            .unwrap_or_else(|| panic!("the fixture has no {repo}:{tag}"))
    }

    /// The facts of repository `name`; panics if the fixture has none.
    pub fn repo(&self, name: &str) -> &RepoFacts {
        self.repos
            .get(name)
            .unwrap_or_else(|| panic!("the fixture has no repository {name}"))
    }

    /// Every tag `user` may read.
    pub fn images_for(&self, user: Option<&str>) -> Vec<&ImageFacts> {
        self.images
            .iter()
            .filter(|i| catalog::readable_by(user, &i.repo))
            .collect()
    }

    /// Every repository `user` may read.
    pub fn repos_for(&self, user: Option<&str>) -> Vec<&RepoFacts> {
        self.repos
            .values()
            .filter(|r| catalog::readable_by(user, &r.name))
            .collect()
    }

    /// The repositories `user` starred (`toggleStar`).
    pub fn starred_by(&self, user: &str) -> BTreeSet<String> {
        listed(catalog::STARS, user)
    }

    /// The names `user` bookmarked, including ones that are no repository.
    pub fn bookmarked_by(&self, user: &str) -> BTreeSet<String> {
        listed(catalog::BOOKMARKS, user)
    }

    /// Digests of `team-a/tools/cli:1.0` and of the oras SBOM and the
    /// attestation that name it as their subject.
    pub fn referred(&self) -> (&str, &str, &str) {
        (
            &self.record.subject,
            &self.record.sbom,
            &self.record.attestation,
        )
    }

    /// Unix seconds before the first push and after the last.
    pub fn pushed_between(&self) -> (u64, u64) {
        (self.record.pushed_from, self.record.pushed_until)
    }

    /// The blob `digest` of `repo` as the node stored it.
    pub fn blob(&self, repo: &str, digest: &str) -> Result<Vec<u8>> {
        read_blob(&self.node.root_dir(), repo, digest)
    }
}

fn listed(pairs: &[(&str, &str)], user: &str) -> BTreeSet<String> {
    pairs
        .iter()
        .filter(|(u, _)| *u == user)
        .map(|(_, r)| r.to_string())
        .collect()
}

/// A blob from the node's storage (zot's layout: `<root>/<repo>/blobs/sha256/<hex>`), checked against its digest.
fn read_blob(root: &Path, repo: &str, digest: &str) -> Result<Vec<u8>> {
    let hex = digest
        .strip_prefix("sha256:")
        .with_context(|| format!("not a sha256 digest: {digest}"))?;
    let path = root.join(repo).join("blobs/sha256").join(hex);
    let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    ensure!(
        sha256_digest(&bytes) == digest,
        "{} does not hash to its name",
        path.display()
    );
    Ok(bytes)
}
