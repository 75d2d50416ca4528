//! The oracle for zui: every query of zot-reference §5.2, in zui's own shape, answers alike from one
//! node and from 2, 3 and 5 members behind a gateway, for admin, dev and anonymous.
//!
//! Where zot's sort leaves ties open the case says so: `RELEVANCE` over
//! repositories ties on rank, `DOWNLOADS` on the count, `UPDATE_TIME` on
//! `LastUpdated` (ExpandedRepoInfo's `latest` and `3.20` are one image).
//! CVE queries must fail alike with `cve search is disabled`.

use anyhow::Result;
use flotilla_e2e::oracle::{Case, Key, Oracle, SIZES, USERS};

const REPO_FIELDS: &str = "{Page {TotalCount ItemCount} Repos {Name LastUpdated Size Platforms { Os Arch } IsStarred IsBookmarked NewestImage { Tag Vulnerabilities {MaxSeverity Count} Description IsSigned SignatureInfo { Tool IsTrusted Author } Licenses Vendor Labels } StarCount DownloadCount}}";

const DERIVED_FIELDS: &str = "{Page {TotalCount ItemCount} Results { RepoName Tag Description Manifests {Digest Platform {Os Arch} Size} Vendor DownloadCount LastUpdated IsSigned SignatureInfo { Tool IsTrusted Author } Vulnerabilities {MaxSeverity Count}}}";

fn global(search: &str, page: &str, filter: &str) -> String {
    format!(
        "{{GlobalSearch(query:\"{search}\", requestedPage: {{{page}}} {filter}) {REPO_FIELDS}}}"
    )
}

fn home_and_explore(user: Option<&'static str>) -> Vec<Case> {
    let unpaged =
        |search: &str, sort: &str, filter: &str| global(search, &format!("sortBy: {sort}"), filter);
    vec![
        Case::get("home: popular", user, &global("", "limit:3 offset:0 sortBy: DOWNLOADS", ""))
            .ties(&["GlobalSearch", "Repos"], Key::Fields(&["DownloadCount"]))
            .universe(&unpaged("", "DOWNLOADS", "")),
        Case::get("home: recent", user, &global("", "limit:2 offset:0 sortBy: UPDATE_TIME", ""))
            .ties(&["GlobalSearch", "Repos"], Key::Fields(&["LastUpdated"]))
            .universe(&unpaged("", "UPDATE_TIME", "")),
        Case::get("home: bookmarks", user, &global("", "limit:2 offset:0 sortBy: RELEVANCE", ",filter: { IsBookmarked: true}"))
            .ties(&["GlobalSearch", "Repos"], Key::Rank(String::new()))
            .universe(&unpaged("", "RELEVANCE", ",filter: { IsBookmarked: true}")),
        Case::get("home: stars", user, &global("", "limit:2 offset:0 sortBy: RELEVANCE", ",filter: { IsStarred: true}"))
            .ties(&["GlobalSearch", "Repos"], Key::Rank(String::new()))
            .universe(&unpaged("", "RELEVANCE", ",filter: { IsStarred: true}")),
        Case::get("explore page 1", user, &global("alpine", "limit:10 offset:0 sortBy: ALPHABETIC_ASC", ",filter: { Os:[\"linux\"] Arch:[\"amd64\",\"arm64\"] HasToBeSigned: true}")),
        Case::get("explore page 2", user, &global("alpine", "limit:10 offset:10 sortBy: ALPHABETIC_ASC", ",filter: { Os:[\"linux\"] Arch:[\"amd64\",\"arm64\"] HasToBeSigned: true}")),
        Case::get("explore, unfiltered", user, &global("alpine", "limit:10 offset:0 sortBy: ALPHABETIC_ASC", "")),
        Case::get("header suggestion (repos)", user, &global("alp", "limit:9 offset:0 sortBy: RELEVANCE", ""))
            .ties(&["GlobalSearch", "Repos"], Key::Rank("alp".into()))
            .universe(&unpaged("alp", "RELEVANCE", "")),
        Case::get("header suggestion (images)", user, "{GlobalSearch(query:\"public/alpine:3\", requestedPage: {limit:9 offset:0 sortBy:RELEVANCE}) {Images {RepoName Tag}}}"),
        Case::get("header suggestion (images, admin's repo)", user, "{GlobalSearch(query:\"library/alpine:3\", requestedPage: {limit:9 offset:0 sortBy:RELEVANCE}) {Images {RepoName Tag}}}"),
        Case::get("repoList page 1", user, "{RepoListWithNewestImage(requestedPage: {limit:15 offset:0}){Results {Name LastUpdated Size Platforms {Os Arch}  NewestImage { Tag Vulnerabilities {MaxSeverity Count} Description  Licenses Title Source IsSigned SignatureInfo { Tool IsTrusted Author } Documentation Vendor Labels} IsStarred IsBookmarked StarCount DownloadCount}}}")
            .ties(&["RepoListWithNewestImage", "Results"], Key::Fields(&["LastUpdated"]))
            .universe("{RepoListWithNewestImage{Results {Name LastUpdated Size Platforms {Os Arch}  NewestImage { Tag Vulnerabilities {MaxSeverity Count} Description  Licenses Title Source IsSigned SignatureInfo { Tool IsTrusted Author } Documentation Vendor Labels} IsStarred IsBookmarked StarCount DownloadCount}}}"),
        Case::get("repoList page 2", user, "{RepoListWithNewestImage(requestedPage: {limit:15 offset:15}){Results {Name LastUpdated Size Platforms {Os Arch}  NewestImage { Tag Vulnerabilities {MaxSeverity Count} Description  Licenses Title Source IsSigned SignatureInfo { Tool IsTrusted Author } Documentation Vendor Labels} IsStarred IsBookmarked StarCount DownloadCount}}}")
            .ties(&["RepoListWithNewestImage", "Results"], Key::Fields(&["LastUpdated"]))
            .universe("{RepoListWithNewestImage{Results {Name LastUpdated Size Platforms {Os Arch}  NewestImage { Tag Vulnerabilities {MaxSeverity Count} Description  Licenses Title Source IsSigned SignatureInfo { Tool IsTrusted Author } Documentation Vendor Labels} IsStarred IsBookmarked StarCount DownloadCount}}}"),
    ]
}

fn detail(oracle: &Oracle, user: Option<&'static str>) -> Vec<Case> {
    let mut cases = Vec::new();
    for repo in [
        "public/alpine",
        "team-a/tools/cli",
        "library/alpine",
        "public/nginx",
        "archive/old",
    ] {
        cases.push(
            Case::get(format!("detailedRepoInfo {repo}"), user, &format!("{{ExpandedRepoInfo(repo:\"{repo}\"){{Images {{Manifests {{Digest Platform {{Os Arch}} Size}} Vulnerabilities {{MaxSeverity Count}} Tag LastUpdated Vendor IsDeletable }} Summary {{Name LastUpdated Size Platforms {{Os Arch}} Vendors IsStarred IsBookmarked NewestImage {{RepoName IsSigned SignatureInfo {{ Tool IsTrusted Author }} Vulnerabilities {{MaxSeverity Count}} Manifests {{Digest}} Tag Vendor Title Documentation DownloadCount Source Description Licenses}}}}}}}}"))
                .ties(&["ExpandedRepoInfo", "Images"], Key::Fields(&["LastUpdated"])),
        );
    }
    for image in [
        "team-a/tools/cli:1.0",
        "public/alpine:3.20",
        "public/alpine:3.19",
        "library/alpine:3.19",
        "public/busybox:1.36",
    ] {
        cases.push(Case::get(format!("detailedImageInfo {image}"), user, &format!("{{Image(image: \"{image}\"){{RepoName IsSigned SignatureInfo {{ Tool IsTrusted Author }} Vulnerabilities {{MaxSeverity Count}}  Referrers {{MediaType ArtifactType Size Digest Annotations{{Key Value}}}} Tag TaggedTimestamp ArtifactType Manifests {{ArtifactType Layers {{Size Digest}} History {{Layer {{Size Digest}} HistoryDescription {{CreatedBy EmptyLayer}}}} Digest ConfigDigest LastUpdated Size Platform {{Os Arch}} Referrers {{MediaType ArtifactType Size Digest Annotations{{Key Value}}}}}} Vendor Licenses }}}}")));
    }
    let subject = oracle.subject();
    for (repo, digest) in [
        ("team-a/tools/cli", subject.as_str()),
        (
            "public/alpine",
            "sha256:0000000000000000000000000000000000000000000000000000000000000000",
        ),
    ] {
        cases.push(
            Case::get(format!("referrers {repo}@{digest}"), user, &format!("{{Referrers(repo: \"{repo}\" digest: \"{digest}\" type: \"\"){{MediaType ArtifactType Size Digest Annotations{{Key Value}}}}}}"))
                .ties(&["Referrers"], Key::Fields(&["Digest"])),
        );
    }
    cases
}

fn layers(user: Option<&'static str>) -> Vec<Case> {
    let mut cases = Vec::new();
    for image in [
        "public/app:2.0",
        "public/app:1.0",
        "team-a/api:v2.0",
        "public/base:1.0",
        "public/alpine:3.19",
        "library/alpine:3.19",
    ] {
        for field in ["BaseImageList", "DerivedImageList"] {
            cases.push(
                Case::get(format!("{field} {image}"), user, &format!("{{{field}(image: \"{image}\", requestedPage: {{limit:15 offset:0}}){DERIVED_FIELDS}}}"))
                    .ties(&[field, "Results"], Key::Fields(&["LastUpdated"]))
                    .universe(&format!("{{{field}(image: \"{image}\"){DERIVED_FIELDS}}}")),
            );
        }
    }
    cases
}

fn vulnerabilities(user: Option<&'static str>) -> Vec<Case> {
    vec![
        Case::get("vulnerabilitiesForRepo", user, "{CVEListForImage(image: \"public/alpine:3.19\", requestedPage: {limit:15 offset:0}, searchedCVE: \"openssl\", severity: \"HIGH\"){Tag Page {TotalCount ItemCount} CVEList {Id Title Description Severity Reference PackageList {Name PackagePath InstalledVersion FixedVersion}} Summary {Count UnknownCount LowCount MediumCount HighCount CriticalCount}}}"),
        Case::get("allVulnerabilitiesForRepo", user, "{CVEListForImage(image: \"library/alpine:3.19\"){Tag Page {TotalCount ItemCount} CVEList {Id Title Description Severity Reference PackageList {Name PackagePath InstalledVersion FixedVersion}}}}"),
        Case::get("imageListWithCVEFixed", user, "{ImageListWithCVEFixed(id:\"CVE-2023-5363\", image:\"public/alpine\", requestedPage: {limit:5 offset:0},filter:{ Os:[\"linux\"]}) {Page {TotalCount ItemCount} Results {Tag}}}"),
    ]
}

#[test]
fn every_zui_query_answers_alike_from_one_node_and_from_fleets() -> Result<()> {
    let oracle = Oracle::start(&SIZES)?;
    let mut cases = Vec::new();
    for user in USERS {
        cases.extend(home_and_explore(user));
        cases.extend(detail(&oracle, user));
        cases.extend(layers(user));
        cases.extend(vulnerabilities(user));
    }

    oracle.ensure_alike(&cases)
}
