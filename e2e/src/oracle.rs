//! The differential oracle (design.md, "The oracle"): the same registry in one node and spread by
//! placement over N nodes behind a gateway; the same search request must get the same JSON from both.
//!
//! Both sides start from one template: the search fixture's catalog (and a
//! seeded generated corpus) pushed once into a node, without any use. The
//! single node gets a copy of it; each member of a fleet gets the
//! repositories the gateway's placement gives it (plus the metadata
//! database, whose startup reconciliation drops what the member lacks). A
//! copy rather than a second push, because push and tag times are part of the
//! answers (`RepoSummary.LastUpdated`, `TaggedTimestamp`): two pushes could
//! never agree on them. Then both sides are used alike: the same manifest
//! GETs, stars and bookmarks, sent to the single node directly and to each
//! fleet through its gateway (so userprefs land on each repository's owner).
//!
//! A [`Case`] is one request as one user, and says which lists of its
//! answer zot leaves partly unordered ([`Order`]): items whose sort key ties
//! are compared as a set, and a tie group cut by the page edge only has to
//! come from the unpaged answer.

mod compare;
mod corpus;

use std::fs;
use std::path::{Path, PathBuf};
use std::thread;

use anyhow::{ensure, Context, Result};
use flotilla_gateway::config::Config;
use flotilla_gateway::placement::Ring;
use serde_json::Value;

use crate::search_fixture::{self, empty_node, Answer, Gql, ADMIN, DEV};
use crate::{Gateway, Node, Registry};

pub use compare::{rank, Key, Order};
pub use corpus::{generated_repos, GenTag, ListQuery, MULTI_ARCH, PAGES};

/// The fleet sizes every oracle test compares with the single node.
pub const SIZES: [usize; 3] = [2, 3, 5];

/// The fixture's callers: admin, dev and anonymous.
pub const USERS: [Option<&str>; 3] = [Some(ADMIN.0), Some(DEV.0), None];

/// One node holding everything, and fleets holding the same spread by placement.
#[derive(Debug)]
pub struct Oracle {
    pub single: Node,
    pub fleets: Vec<Fleet>,
    record: Value,
}

/// N members behind a gateway, each holding the repositories it owns.
#[derive(Debug)]
pub struct Fleet {
    // Dropped first: the gateway goes before its members.
    pub gateway: Gateway,
    pub members: Vec<Node>,
    ring: Ring,
}

/// How a request is sent: as zui sends it (GET `?query=`), with URL
/// variables and an operation name, or as a POSTed JSON body.
#[derive(Debug, Clone)]
pub enum Request {
    Get(String),
    GetWith {
        query: String,
        variables: Value,
        operation: Option<String>,
    },
    Post(Value),
}

/// One request as one user, and what zot leaves unordered in its answer.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub user: Option<&'static str>,
    pub request: Request,
    pub orders: Vec<Order>,
    /// The same request without paging, to check a tie group cut by the page edge.
    pub universe: Option<Request>,
}

impl Case {
    /// `GET ?query=` as `user`, every list compared exactly.
    pub fn get(name: impl Into<String>, user: Option<&'static str>, query: &str) -> Self {
        Self {
            name: name.into(),
            user,
            request: Request::Get(query.to_owned()),
            orders: Vec::new(),
            universe: None,
        }
    }

    /// The same case sent another way.
    pub fn with_request(mut self, request: Request) -> Self {
        self.request = request;
        self
    }

    /// The list at `path` (under `data`, aliases included) has ties in `key`.
    pub fn ties(mut self, path: &[&str], key: Key) -> Self {
        self.orders.push(Order {
            path: path.iter().map(|p| p.to_string()).collect(),
            key,
        });
        self
    }

    /// The unpaged request, whose lists a cut tie group must come from.
    pub fn universe(mut self, query: &str) -> Self {
        self.universe = Some(Request::Get(query.to_owned()));
        self
    }
}

impl Oracle {
    /// The single node and one fleet per size, all used alike.
    pub fn start(sizes: &[usize]) -> Result<Self> {
        let template = template()?;
        let record = serde_json::from_slice(&fs::read(template.join("fixture.json"))?)?;
        let data = template.join("data");
        let repos = repositories(&data)?;
        let (single, fleets) = thread::scope(|scope| {
            let fleets: Vec<_> = sizes
                .iter()
                .map(|&n| {
                    let (data, repos) = (&data, &repos);
                    scope.spawn(move || Fleet::start(n, data, repos))
                })
                .collect();
            let single = single_node(&data);
            let fleets = fleets
                .into_iter()
                .map(|f| {
                    f.join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("panicked")))
                })
                .collect::<Result<Vec<_>>>();
            (single, fleets)
        });
        Ok(Self {
            single: single?,
            fleets: fleets?,
            record,
        })
    }

    /// The digest `repo:tag` was pushed with.
    pub fn digest(&self, repo: &str, tag: &str) -> Result<String> {
        self.record["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t[0] == repo && t[1] == tag)
            .and_then(|t| t[2].as_str())
            .map(str::to_owned)
            .with_context(|| format!("{repo}:{tag} is not in the fixture"))
    }

    /// Every `(repository, tag, digest)` the fixture pushed.
    pub fn tags(&self) -> Vec<(String, String, String)> {
        self.record["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| {
                let text = |i: usize| t[i].as_str().map(str::to_owned);
                Some((text(0)?, text(1)?, text(2)?))
            })
            .collect()
    }

    /// The digest of `team-a/tools/cli:1.0`, the referrers' subject.
    pub fn subject(&self) -> String {
        self.record["subject"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The layer digests of `repo:tag`'s first manifest, as the single node lists them.
    pub fn layers(&self, image: &str) -> Result<Vec<String>> {
        let query = format!("{{Image(image: \"{image}\") {{Manifests {{Layers {{Digest}}}}}}}}");
        let data = client(&self.single.http(), Some(ADMIN.0)).data(&query)?;
        Ok(data["Image"]["Manifests"][0]["Layers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l["Digest"].as_str().map(str::to_owned))
            .collect())
    }

    /// Every case against the single node and every fleet: one line per difference.
    pub fn differences(&self, cases: &[Case]) -> Result<Vec<String>> {
        let mut found = Vec::new();
        for case in cases {
            let single = send(&self.single.http(), case.user, &case.request)?;
            let universe = || -> Result<Value> {
                match &case.universe {
                    Some(request) => Ok(send(&self.single.http(), case.user, request)?.body),
                    None => Ok(single.body.clone()),
                }
            };
            for fleet in &self.fleets {
                let got = send(&fleet.gateway.http(), case.user, &case.request)?;
                if let Err(diff) = compare::answers(&case.orders, &single, &got, &universe) {
                    found.push(format!(
                        "[{} members] {} (as {}): {diff}",
                        fleet.members.len(),
                        case.name,
                        case.user.unwrap_or("anonymous")
                    ));
                }
            }
        }
        Ok(found)
    }

    /// Fails with every difference, one per line.
    pub fn ensure_alike(&self, cases: &[Case]) -> Result<()> {
        let found = self.differences(cases)?;
        ensure!(
            found.is_empty(),
            "{} of {} cases × {} fleets differ from the single node:\n{}",
            found.len(),
            cases.len(),
            self.fleets.len(),
            found.join("\n")
        );
        Ok(())
    }
}

impl Fleet {
    fn start(size: usize, data: &Path, repos: &[String]) -> Result<Self> {
        let mut members = (0..size)
            .map(|_| empty_node())
            .collect::<Result<Vec<_>>>()?;
        let names: Vec<String> = members.iter().map(Node::host_port).collect();
        let builder = Gateway::builder().members(&names);
        let config = Config::parse(&builder.config().to_string())?.validate()?;
        let ring = Ring::new(
            config.placement,
            config.hash_key(),
            config.cluster.members.clone(),
        );
        for (index, member) in members.iter_mut().enumerate() {
            let owned: Vec<&String> = repos.iter().filter(|r| ring.owner(r) == index).collect();
            load(member, |root| {
                fs::copy(data.join(META_DB), root.join(META_DB))?;
                owned
                    .iter()
                    .try_for_each(|repo| copy_repo(&data.join(repo), &root.join(repo)))
            })?;
        }
        let gateway = builder.start()?;
        search_fixture::use_catalog(&gateway.http())?;
        Ok(Self {
            gateway,
            members,
            ring,
        })
    }

    /// Index of the member that owns `repo`.
    pub fn owner(&self, repo: &str) -> usize {
        self.ring.owner(repo)
    }
}

/// The metadata database's file name under a node's storage root.
const META_DB: &str = "_flotilla-meta.redb";

fn template() -> Result<PathBuf> {
    search_fixture::unused_template(&corpus::key(), corpus::push)
}

fn single_node(data: &Path) -> Result<Node> {
    let mut node = empty_node()?;
    load(&mut node, |root| search_fixture::copy_dir(data, root))?;
    search_fixture::use_catalog(&node.http())?;
    Ok(node)
}

/// Stops `node`, gives it the storage `fill` writes, and starts it again on the same port.
fn load(node: &mut Node, fill: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let before = node.host_port();
    node.kill()?;
    let root = node.root_dir();
    if root.exists() {
        fs::remove_dir_all(&root)?;
    }
    fs::create_dir_all(&root)?;
    fill(&root)?;
    node.restart()?;
    ensure!(
        node.host_port() == before,
        "the node came back on {}, not {before}: the placement would not hold",
        node.host_port()
    );
    Ok(())
}

/// One repository's layout, without the repositories nested under it.
fn copy_repo(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to)?;
    for name in ["index.json", "oci-layout"] {
        fs::copy(from.join(name), to.join(name))
            .with_context(|| format!("copying {}", from.join(name).display()))?;
    }
    search_fixture::copy_dir(&from.join("blobs"), &to.join("blobs"))
}

/// Every repository under a storage root: each directory holding an `index.json`.
fn repositories(root: &Path) -> Result<Vec<String>> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir)?.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if !entry.file_type()?.is_dir() || name == "blobs" || name.starts_with('.') {
                continue;
            }
            if path.join("index.json").is_file() {
                let repo = path.strip_prefix(root)?.to_string_lossy().into_owned();
                found.push(repo);
            }
            stack.push(path);
        }
    }
    found.sort();
    Ok(found)
}

/// The search client of `registry` as `user`.
fn client(registry: &Registry, user: Option<&str>) -> Gql {
    match user {
        Some(u) if u == ADMIN.0 => Gql::new(registry.as_user(ADMIN.0, ADMIN.1)),
        Some(u) if u == DEV.0 => Gql::new(registry.as_user(DEV.0, DEV.1)),
        _ => Gql::new(registry.clone()),
    }
}

fn send(registry: &Registry, user: Option<&str>, request: &Request) -> Result<Answer> {
    let gql = client(registry, user);
    match request {
        Request::Get(query) => gql.get(query),
        Request::GetWith {
            query,
            variables,
            operation,
        } => {
            let variables = variables.to_string();
            let mut params = vec![("query", query.as_str()), ("variables", variables.as_str())];
            if let Some(op) = operation {
                params.push(("operationName", op.as_str()));
            }
            gql.get_params(&params)
        }
        Request::Post(body) => gql.post_json(body),
    }
}
