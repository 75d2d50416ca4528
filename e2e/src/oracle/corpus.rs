//! A seeded generated corpus: repositories with shared layers and tied or missing build times, and
//! list queries crossed with every `sortBy` and the page edges of zot-reference §1.3.2.

use anyhow::Result;
use serde_json::json;

use crate::cluster::{expect_status, upload_blob};
use crate::layout::{seeded_bytes, Platform, OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST};
use crate::search_fixture::ADMIN;
use crate::{Descriptor, Node, Registry};

use super::{Case, Key};

const SEED: u64 = 0x005e_ed0f_f107_111a;
const REPOS: usize = 14;
/// Build times, two of them equal, and `None` (no time: `LastUpdated: null`).
const TIMES: [Option<&str>; 5] = [
    Some("2024-03-01T00:00:00Z"),
    Some("2024-03-01T00:00:00Z"),
    Some("2022-05-05T12:00:00Z"),
    Some("2025-01-01T00:00:00Z"),
    None,
];
const PREFIXES: [&str; 3] = ["public/gen", "team-a/gen", "gen"];
const WORDS: [&str; 6] = ["alpine-x", "beta", "alp", "gamma", "omega", "zeta"];

/// One generated tag: its build time and layer seeds.
#[derive(Debug, Clone)]
pub struct GenTag {
    pub tag: String,
    pub created: Option<&'static str>,
    pub layers: Vec<String>,
}

/// xorshift64*: a fixed sequence from [`SEED`], so the corpus is the same on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
}

/// The generated repositories and their tags, in push order. Layers are a
/// prefix of a shared chain, so Derived/BaseImageList find relations among them.
pub fn generated_repos() -> Vec<(String, Vec<GenTag>)> {
    let mut rng = Rng(SEED);
    (0..REPOS)
        .map(|i| {
            let repo = format!(
                "{}/{}-{i}",
                PREFIXES[rng.below(PREFIXES.len())],
                WORDS[rng.below(WORDS.len())]
            );
            let tags = (0..1 + rng.below(3))
                .map(|t| {
                    let depth = 1 + rng.below(3);
                    let mut layers: Vec<String> =
                        (0..depth).map(|d| format!("gen-chain-{d}")).collect();
                    if rng.below(2) == 0 {
                        layers.push(format!("gen-own-{i}-{t}"));
                    }
                    GenTag {
                        tag: format!("v{t}"),
                        created: TIMES[rng.below(TIMES.len())],
                        layers,
                    }
                })
                .collect();
            (repo, tags)
        })
        .collect()
}

/// What goes into the template's key.
pub(super) fn key() -> String {
    // Bump the revision when `push_multi_arch` changes what it pushes.
    format!("corpus:{SEED}:{:?}:{MULTI_ARCH:?}:2", generated_repos())
}

/// Pushes the corpus to `node` with raw HTTP, as admin.
pub(super) fn push(node: &Node) -> Result<()> {
    let http = node.http().as_user(ADMIN.0, ADMIN.1);
    for (repo, tags) in generated_repos() {
        for tag in tags {
            let arch = if tag.layers.len() % 2 == 0 {
                "arm64"
            } else {
                "amd64"
            };
            push_manifest(&http, &repo, &tag.tag, &tag.layers, arch, tag.created)?;
        }
    }
    push_multi_arch(&http)
}

/// The multi-arch pair: [`MULTI_ARCH`]'s base index (amd64 and arm64, each
/// on its own first layer), and its derived index, whose amd64 and arm64
/// extend the base's. Each platform of one is found through a different
/// first layer of the other. Each index opens with a child related to
/// nothing (ppc64le, s390x), the newest, so an answer holding only the
/// related children differs from the whole index in `Size`, `LastUpdated`
/// and the fields taken from the first child's labels (`Vendor`, `Description`).
fn push_multi_arch(http: &Registry) -> Result<()> {
    let (base, derived) = MULTI_ARCH;
    let mut base_children = Vec::new();
    let mut derived_children = Vec::new();
    for (repo, children, arch) in [
        (base, &mut base_children, "ppc64le"),
        (derived, &mut derived_children, "s390x"),
    ] {
        let unrelated = [format!("multi-other-{arch}")];
        children.push(push_manifest(
            http,
            repo,
            "",
            &unrelated,
            arch,
            Some("2025-01-01T00:00:00Z"),
        )?);
    }
    let platforms = [
        ("amd64", Some("2024-04-01T00:00:00Z")),
        ("arm64", Some("2024-06-01T00:00:00Z")),
    ];
    for (arch, created) in platforms {
        let first = format!("multi-base-{arch}");
        let own = format!("multi-app-{arch}");
        base_children.push(push_manifest(
            http,
            base,
            "",
            std::slice::from_ref(&first),
            arch,
            created,
        )?);
        derived_children.push(push_manifest(
            http,
            derived,
            "",
            &[first, own],
            arch,
            created,
        )?);
    }
    for (repo, children) in [(base, base_children), (derived, derived_children)] {
        let index = json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": children.iter().map(Descriptor::to_json).collect::<Vec<_>>(),
        });
        put_manifest(http, repo, "1.0", OCI_INDEX, &serde_json::to_vec(&index)?)?;
    }
    Ok(())
}

/// The multi-arch base and derived repositories (tag `1.0`).
pub const MULTI_ARCH: (&str, &str) = ("public/multi-base", "public/multi-app");

/// Pushes one image manifest of `layers` (seeds) for `arch`, tagged `tag`
/// (by digest when empty); returns its descriptor with the platform.
fn push_manifest(
    http: &Registry,
    repo: &str,
    tag: &str,
    layers: &[String],
    arch: &str,
    created: Option<&str>,
) -> Result<Descriptor> {
    let layers: Vec<Descriptor> = layers
        .iter()
        .map(|seed| {
            let bytes = seeded_bytes(seed, 512);
            upload_blob(http, repo, &bytes)?;
            Ok(Descriptor::of(OCI_LAYER_GZIP, &bytes))
        })
        .collect::<Result<_>>()?;
    let mut config = json!({
        "architecture": arch,
        "os": "linux",
        "rootfs": { "type": "layers", "diff_ids": layers.iter().map(|l| &l.digest).collect::<Vec<_>>() },
    });
    if let Some(created) = created {
        config["created"] = json!(created);
    }
    if tag.is_empty() {
        // A child of an index: labels that tell the children apart.
        config["config"] = json!({ "Labels": {
            "org.opencontainers.image.vendor": format!("{repo} {arch}"),
            "org.opencontainers.image.description": format!("{repo} for {arch}"),
        }});
    }
    let config_bytes = serde_json::to_vec(&config)?;
    upload_blob(http, repo, &config_bytes)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": Descriptor::of(OCI_CONFIG, &config_bytes).to_json(),
        "layers": layers.iter().map(Descriptor::to_json).collect::<Vec<_>>(),
    });
    let bytes = serde_json::to_vec(&manifest)?;
    let mut descriptor = Descriptor::of(OCI_MANIFEST, &bytes);
    let reference = if tag.is_empty() {
        descriptor.digest.clone()
    } else {
        tag.to_owned()
    };
    put_manifest(http, repo, &reference, OCI_MANIFEST, &bytes)?;
    descriptor.platform = Some(Platform {
        os: "linux".into(),
        architecture: arch.into(),
        variant: None,
    });
    Ok(descriptor)
}

fn put_manifest(
    http: &Registry,
    repo: &str,
    reference: &str,
    media_type: &str,
    bytes: &[u8],
) -> Result<()> {
    let response = http
        .put(&format!("/v2/{repo}/manifests/{reference}"))
        .header("Content-Type", media_type)
        .body(bytes.to_vec())
        .send()?;
    expect_status(response, 201, &format!("PUT {repo}:{reference}"))?;
    Ok(())
}

/// A list field and its selection, to be asked with any `sortBy` and page.
#[derive(Debug, Clone)]
pub struct ListQuery {
    /// The root field, e.g. `GlobalSearch`.
    pub field: &'static str,
    /// Its arguments other than `requestedPage`, e.g. `query:"alp"`.
    pub args: String,
    /// The field of the result that holds the list: `Results`, `Repos` or `Images`.
    pub list: &'static str,
    /// The selection set of the field, braces included.
    pub selection: String,
    /// Repositories (`RepoSummary`) rather than images.
    pub repos: bool,
    /// The search text repositories are ranked by for `RELEVANCE`.
    pub search: String,
    /// The field's `sortBy` when none is given.
    pub default_sort: &'static str,
}

/// Page edges: (limit, offset), `None` meaning absent.
pub const PAGES: [(Option<u32>, Option<u32>); 7] = [
    (None, None),
    (Some(0), Some(0)),
    (Some(4), Some(0)),
    (Some(3), Some(2)),
    (Some(5), Some(1000)),
    (Some(0), Some(3)),
    (Some(1), Some(0)),
];

impl ListQuery {
    /// The query text with this page (no `requestedPage` at all when everything is absent).
    pub fn query(&self, limit: Option<u32>, offset: Option<u32>, sort: Option<&str>) -> String {
        let mut page = Vec::new();
        if let Some(limit) = limit {
            page.push(format!("limit: {limit}"));
        }
        if let Some(offset) = offset {
            page.push(format!("offset: {offset}"));
        }
        if let Some(sort) = sort {
            page.push(format!("sortBy: {sort}"));
        }
        let mut args: Vec<String> = Vec::new();
        if !self.args.is_empty() {
            args.push(self.args.clone());
        }
        if !page.is_empty() {
            args.push(format!("requestedPage: {{{}}}", page.join(" ")));
        }
        let args = if args.is_empty() {
            String::new()
        } else {
            format!("({})", args.join(", "))
        };
        format!("{{{}{args} {}}}", self.field, self.selection)
    }

    /// One case: this page and sort as `user`, with the ties zot's comparator leaves.
    pub fn case(
        &self,
        user: Option<&'static str>,
        limit: Option<u32>,
        offset: Option<u32>,
        sort: Option<&str>,
    ) -> Case {
        let query = self.query(limit, offset, sort);
        let name = format!(
            "{}({}) limit {limit:?} offset {offset:?} sortBy {}",
            self.field,
            self.args,
            sort.unwrap_or("(default)")
        );
        let mut case = Case::get(name, user, &query).universe(&self.query(None, None, sort));
        if let Some(key) = self.key(sort.unwrap_or(self.default_sort)) {
            case = case.ties(&[self.field, self.list], key);
        }
        case
    }

    /// Every page edge × every `sort` × every user.
    pub fn cases(&self, sorts: &[Option<&str>], users: &[Option<&'static str>]) -> Vec<Case> {
        let mut cases = Vec::new();
        for &user in users {
            for &sort in sorts {
                for (limit, offset) in PAGES {
                    cases.push(self.case(user, limit, offset, sort));
                }
            }
        }
        cases
    }

    /// The sort key that can tie under `sort` (zot-reference §1.3.3); `None`
    /// when the order is total (names) or the sort is refused with an error.
    fn key(&self, sort: &str) -> Option<Key> {
        match (self.repos, sort) {
            (true, "RELEVANCE") => Some(Key::Rank(self.search.clone())),
            (_, "UPDATE_TIME") => Some(Key::Fields(&["LastUpdated"])),
            (_, "DOWNLOADS") => Some(Key::Fields(&["DownloadCount"])),
            _ => None,
        }
    }
}
