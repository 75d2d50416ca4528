//! What the fixture registry holds: 30 repositories, their tags, signatures, downloads, stars and bookmarks.
//!
//! Three kinds of repositories, by who may read them: `public/**`
//! (anonymous read), `team-a/**` (the `dev` user reads) and everything
//! else (only `admin`). Several names contain `alpine` so that each
//! `RankRepoName` rule has a repository to rank. Image times are distinct
//! so that `UPDATE_TIME` has one right order; a few images break the
//! usual rules on purpose (noted where they are).

use std::collections::BTreeMap;

use super::images::{image, ImageSpec, CREATED, DESCRIPTION, LABELS, LICENSES, VENDOR};

/// What one tag points at.
#[derive(Debug, Clone)]
pub enum Content {
    /// A single-platform image, pushed with `skopeo copy`.
    Image(ImageSpec),
    /// An OCI index over these images, with these index annotations, pushed with `skopeo copy --all`.
    Index(Vec<ImageSpec>, Vec<(&'static str, &'static str)>),
    /// The same manifest as an earlier tag of the repository.
    SameAs(&'static str),
    /// An artifact pushed with oras: one file, the config's media type is its type.
    Oras {
        file: &'static str,
        artifact_type: &'static str,
    },
}

/// One repository: its tags in push order, and which tags get a cosign signature.
#[derive(Debug, Clone)]
pub struct RepoSpec {
    pub name: &'static str,
    pub tags: Vec<(&'static str, Content)>,
    pub signed: Vec<&'static str>,
}

fn repo(name: &'static str) -> RepoSpec {
    RepoSpec {
        name,
        tags: Vec::new(),
        signed: Vec::new(),
    }
}

impl RepoSpec {
    fn tag(mut self, tag: &'static str, spec: ImageSpec) -> Self {
        self.tags.push((tag, Content::Image(spec)));
        self
    }

    fn index(
        mut self,
        tag: &'static str,
        images: Vec<ImageSpec>,
        annotations: &[(&'static str, &'static str)],
    ) -> Self {
        self.tags
            .push((tag, Content::Index(images, annotations.to_vec())));
        self
    }

    fn same_as(mut self, tag: &'static str, other: &'static str) -> Self {
        self.tags.push((tag, Content::SameAs(other)));
        self
    }

    fn oras(mut self, tag: &'static str, file: &'static str, artifact_type: &'static str) -> Self {
        self.tags.push((
            tag,
            Content::Oras {
                file,
                artifact_type,
            },
        ));
        self
    }

    fn signed(mut self, tag: &'static str) -> Self {
        self.signed.push(tag);
        self
    }
}

/// Artifact types of the oras artifacts.
pub const DOCS_TYPE: &str = "application/vnd.flotilla.docs.config.v1+json";
pub const MODEL_TYPE: &str = "application/vnd.flotilla.model.config.v1+json";
pub const SBOM_TYPE: &str = "application/vnd.flotilla.sbom.v1+json";
/// The `artifactType` of the attestation PUT by digest onto `team-a/tools/cli:1.0`.
pub const ATTESTATION_TYPE: &str = "application/vnd.flotilla.attestation.v1";

/// Repositories pushed image by image, several at once. The oras artifacts
/// ([`last_pushed`]) follow one by one, so their tags are the newest.
pub fn repositories() -> Vec<RepoSpec> {
    let mut repos = public();
    repos.extend(team_a());
    repos.extend(private());
    repos
}

fn public() -> Vec<RepoSpec> {
    vec![
        repo("public/alpine")
            .tag(
                "3.18",
                image("alpine-3.18", "amd64", "2023-06-01T10:00:00Z")
                    .described("Alpine Linux 3.18", "Alpine Linux"),
            )
            .index(
                "3.19",
                vec![
                    image("alpine-3.19-amd64", "amd64", "2023-12-01T10:00:00Z")
                        .annotate(VENDOR, "Alpine Linux"),
                    image("alpine-3.19-arm64", "arm64", "2023-12-01T10:05:00Z")
                        .annotate(VENDOR, "Alpine Linux"),
                    image("alpine-3.19-armv7", "arm/v7", "2023-12-01T10:10:00Z")
                        .annotate(VENDOR, "Alpine Linux"),
                ],
                &[
                    (CREATED, "2023-12-07T00:00:00Z"),
                    (DESCRIPTION, "Alpine Linux 3.19, multi-arch"),
                ],
            )
            .tag(
                "3.20",
                image("alpine-3.20", "amd64", "2024-05-22T00:00:00Z")
                    .layers(&["alpine-3.20-rootfs", "alpine-3.20-apk"])
                    .history(&[
                        ("ADD alpine-minirootfs.tar.gz /", false),
                        ("CMD [\"/bin/sh\"]", true),
                        ("RUN apk add --no-cache ca-certificates", false),
                    ])
                    .described("Alpine Linux 3.20", "Alpine Linux")
                    .annotate(LABELS, "os,minimal"),
            )
            .same_as("latest", "3.20")
            .signed("3.20"),
        // No manifest annotations on 1.36: its fields come from config labels.
        repo("public/busybox")
            .tag(
                "1.36",
                image("busybox-1.36", "amd64", "2023-09-01T00:00:00Z")
                    .bare()
                    .label(DESCRIPTION, "BusyBox 1.36 (from a label)")
                    .label(LICENSES, "GPL-2.0"),
            )
            .index(
                "1.37",
                vec![
                    image("busybox-1.37-amd64", "amd64", "2024-09-26T00:00:00Z")
                        .annotate(DESCRIPTION, "BusyBox 1.37"),
                    image("busybox-1.37-arm64", "arm64", "2024-09-26T00:01:00Z")
                        .annotate(DESCRIPTION, "BusyBox 1.37 for arm64"),
                ],
                &[],
            ),
        // mainline's created annotation (2025) is newer than its config's
        // `created`: the annotation sets its LastUpdated, the config picks
        // the repository's NewestImage (1.26).
        repo("public/nginx")
            .tag(
                "1.25",
                image("nginx-1.25", "amd64", "2023-10-24T00:00:00Z")
                    .described("NGINX 1.25", "NGINX"),
            )
            .tag(
                "1.26",
                image("nginx-1.26", "arm64", "2024-04-23T00:00:00Z")
                    .described("NGINX 1.26", "NGINX"),
            )
            .tag(
                "mainline",
                image("nginx-mainline", "amd64", "2024-02-14T00:00:00Z")
                    .annotate(CREATED, "2025-02-05T00:00:00Z")
                    .annotate(VENDOR, "NGINX"),
            ),
        repo("public/base").tag(
            "1.0",
            image("base", "amd64", "2023-01-10T00:00:00Z").layers(&["base-1", "base-2"]),
        ),
        repo("public/app")
            .tag(
                "1.0",
                image("app-1.0", "amd64", "2024-04-01T00:00:00Z")
                    .layers(&["base-1", "base-2", "app-1"]),
            )
            .tag(
                "2.0",
                image("app-2.0", "amd64", "2024-08-01T00:00:00Z")
                    .layers(&["base-1", "base-2", "app-2", "app-3"]),
            ),
        repo("public/tools/alpine-utils").tag(
            "0.1",
            image("alpine-utils", "amd64", "2023-03-03T00:00:00Z"),
        ),
        repo("public/windows/nanoserver").tag(
            "ltsc2022",
            image("nanoserver", "amd64", "2023-08-08T00:00:00Z").os("windows"),
        ),
        repo("public/python")
            .tag(
                "3.11",
                image("python-3.11", "amd64", "2023-10-02T00:00:00Z"),
            )
            .tag(
                "3.12",
                image("python-3.12", "amd64", "2024-02-07T00:00:00Z"),
            ),
    ]
}

fn team_a() -> Vec<RepoSpec> {
    vec![
        repo("team-a/api")
            .tag("v1.0", image("api-1.0", "amd64", "2023-05-05T00:00:00Z"))
            .tag("v1.1", image("api-1.1", "amd64", "2023-11-11T00:00:00Z"))
            .tag(
                "v2.0",
                image("api-2.0", "amd64", "2024-07-01T00:00:00Z")
                    .layers(&["base-1", "base-2", "api-2"])
                    .described("Team A API", "Team A"),
            ),
        repo("team-a/web").index(
            "v1",
            vec![
                image("web-amd64", "amd64", "2024-02-02T00:00:00Z"),
                image("web-arm64", "arm64", "2024-02-02T00:02:00Z"),
            ],
            &[],
        ),
        repo("team-a/worker")
            .tag("v1", image("worker", "amd64", "2023-07-07T00:00:00Z"))
            .signed("v1"),
        repo("team-a/db/postgres")
            .tag("15", image("postgres-15", "amd64", "2023-02-02T00:00:00Z"))
            .tag("16", image("postgres-16", "arm64", "2024-03-03T00:00:00Z")),
        repo("team-a/db/redis").tag("7", image("redis-7", "arm/v7", "2023-04-04T00:00:00Z")),
        repo("team-a/tools/cli").tag("1.0", image("cli", "amd64", "2024-01-15T00:00:00Z")),
        repo("team-a/alpine").tag(
            "3.19-custom",
            image("team-alpine", "amd64", "2024-01-20T00:00:00Z"),
        ),
        repo("team-a/frontend/app").tag("v1", image("frontend", "amd64", "2024-06-06T00:00:00Z")),
        repo("team-a/batch/jobs").tag("v3", image("jobs", "amd64", "2023-08-30T00:00:00Z")),
    ]
}

fn private() -> Vec<RepoSpec> {
    vec![
        repo("library/alpine")
            .tag(
                "3.19",
                image("library-alpine", "amd64", "2023-12-08T00:00:00Z")
                    .described("Alpine Linux 3.19 library build", "Alpine Linux"),
            )
            .signed("3.19"),
        repo("infra/monitoring/prometheus")
            .tag(
                "v2.50",
                image("prometheus-2.50", "amd64", "2024-02-20T00:00:00Z"),
            )
            .tag(
                "v2.51",
                image("prometheus-2.51", "amd64", "2024-03-20T00:00:00Z"),
            ),
        repo("infra/monitoring/grafana")
            .tag("10.4", image("grafana", "arm64", "2024-03-05T00:00:00Z")),
        repo("infra/ci/runner").tag("latest", image("runner", "amd64", "2024-06-20T00:00:00Z")),
        repo("infra/alpine-mirror").tag("3.19", image("mirror", "amd64", "2023-12-09T00:00:00Z")),
        // A build date in the future: newest image and repository for UPDATE_TIME.
        repo("infra/future").tag("next", image("future", "amd64", "2099-01-01T00:00:00Z")),
        repo("infra/logging/loki").tag("3.0", image("loki", "arm64", "2024-04-08T00:00:00Z")),
        repo("alpinelinux/tools").tag(
            "1.0",
            image("alpinelinux-tools", "amd64", "2023-05-20T00:00:00Z"),
        ),
        repo("myalpine").tag("1", image("myalpine", "amd64", "2023-01-01T00:00:00Z")),
        repo("mirror/alpine-edge/base").tag("edge", image("edge", "amd64", "2024-10-10T00:00:00Z")),
        // `undated` has no time anywhere: LastUpdated is null.
        repo("archive/old")
            .tag("2019", image("old-2019", "amd64", "2019-06-01T00:00:00Z"))
            .tag(
                "undated",
                image("old-undated", "amd64", "2019-01-01T00:00:00Z").undated(),
            ),
    ]
}

/// Artifacts pushed with oras after every image, one at a time in this
/// order, so that their repositories are the most recently tagged ones
/// (`team-a/tools/cli` last of all). The SBOM refers to `team-a/tools/cli:1.0`.
pub fn last_pushed() -> Vec<RepoSpec> {
    vec![
        repo("public/docs/site").oras("v1", "index.html", DOCS_TYPE),
        repo("ml/models/bert").oras("v1", "bert.onnx", MODEL_TYPE),
        repo("team-a/tools/cli").oras("sbom", "sbom.spdx.json", SBOM_TYPE),
    ]
}

/// Manifest GETs by tag, each counted as one download of that tag's digest.
/// Repositories count the downloads of every tag: `public/alpine` has 6,
/// as `latest` is the same digest as `3.20`.
pub const DOWNLOADS: &[(&str, &str, u64)] = &[
    ("library/alpine", "3.19", 7),
    ("public/nginx", "1.26", 5),
    ("team-a/api", "v2.0", 4),
    ("public/alpine", "latest", 3),
    ("public/busybox", "1.37", 2),
    ("team-a/web", "v1", 1),
];

/// `toggleStar` calls: (user, repository).
pub const STARS: &[(&str, &str)] = &[
    ("admin", "public/alpine"),
    ("admin", "team-a/api"),
    ("admin", "library/alpine"),
    ("dev", "team-a/api"),
    ("dev", "team-a/web"),
];

/// `toggleBookmark` calls: (user, repository); `team-a/ghost` does not exist.
pub const BOOKMARKS: &[(&str, &str)] = &[
    ("admin", "public/nginx"),
    ("admin", "infra/ci/runner"),
    ("dev", "team-a/db/postgres"),
    ("dev", "team-a/ghost"),
];

/// Who may read a repository, per the fixture's `accessControl`.
pub fn readable_by(user: Option<&str>, repo: &str) -> bool {
    match user {
        Some("admin") => true,
        Some("dev") => repo.starts_with("team-a/"),
        Some(_) => false,
        None => repo.starts_with("public/"),
    }
}

/// Index annotations as a map.
pub(super) fn annotation_map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
