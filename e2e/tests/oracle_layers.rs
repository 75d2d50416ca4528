//! The oracle for `DerivedImageList` and `BaseImageList`, which the gateway computes across members:
//! the fixture's base, app and api images and the generated corpus's layer chains answer alike from
//! one node and from 2, 3 and 5 members, with every sort and page edge.
//!
//! Ties: `UPDATE_TIME` (the default) on `LastUpdated` (the generated
//! images share build times), `DOWNLOADS` on the count. Names never tie.
//! Every sort × page edge as admin for the fixture's two relations; the
//! default sort's page edges as dev and anonymous and for the generated chains.

use anyhow::{ensure, Result};
use flotilla_e2e::oracle::{generated_repos, ListQuery, Oracle, MULTI_ARCH, SIZES, USERS};
use flotilla_e2e::search_fixture::{ADMIN, DEV};

const IMAGES: &str = "{Page {TotalCount ItemCount} Results {RepoName Tag Digest Description Manifests {Digest Platform {Os Arch} Size Layers {Digest}} Vendor DownloadCount LastUpdated IsSigned SignatureInfo { Tool IsTrusted Author }}}";
const SORTS: [Option<&str>; 4] = [
    None,
    Some("ALPHABETIC_ASC"),
    Some("ALPHABETIC_DSC"),
    Some("DOWNLOADS"),
];

fn relation(field: &'static str, image: &str) -> ListQuery {
    ListQuery {
        field,
        args: format!("image: \"{image}\""),
        list: "Results",
        selection: IMAGES.to_owned(),
        repos: false,
        search: String::new(),
        default_sort: "UPDATE_TIME",
    }
}

#[test]
fn base_and_derived_images_on_other_members_answer_alike() -> Result<()> {
    let oracle = Oracle::start(&SIZES)?;
    let apart = oracle
        .fleets
        .iter()
        .filter(|f| {
            f.owner("public/base") != f.owner("public/app")
                || f.owner("public/base") != f.owner("team-a/api")
        })
        .count();
    ensure!(
        apart > 0,
        "no fleet puts public/base apart from the images built on it"
    );
    let mut cases = Vec::new();
    for (field, image) in [
        ("DerivedImageList", "public/base:1.0"),
        ("BaseImageList", "public/app:2.0"),
    ] {
        cases.extend(relation(field, image).cases(&SORTS, &[Some(ADMIN.0)]));
        cases.extend(relation(field, image).cases(&[None], &[Some(DEV.0), None]));
    }
    for field in ["DerivedImageList", "BaseImageList"] {
        for image in [
            "public/base:1.0",
            "public/app:2.0",
            "public/app:1.0",
            "team-a/api:v2.0",
            "public/alpine:3.19",
        ] {
            for user in USERS {
                cases.push(relation(field, image).case(user, Some(15), Some(0), None));
            }
        }
    }

    oracle.ensure_alike(&cases)
}

#[test]
fn generated_layer_chains_answer_alike() -> Result<()> {
    let oracle = Oracle::start(&SIZES)?;
    let mut cases = Vec::new();
    for (repo, tags) in generated_repos().iter().step_by(3) {
        let image = format!("{repo}:{}", tags[0].tag);
        for field in ["DerivedImageList", "BaseImageList"] {
            cases.extend(relation(field, &image).cases(&[None], &[Some(ADMIN.0)]));
            cases.push(relation(field, &image).case(None, Some(2), Some(1), None));
        }
    }

    oracle.ensure_alike(&cases)
}

/// Closes the hole where the gateway answered a multi-arch derived (or base)
/// image on another member with only the platforms one first layer of the
/// argument matched: the same image's answers from every round are combined,
/// and `Manifests`, `Size`, `LastUpdated`, `Vendor` and `Description` come
/// from exactly the related manifests, as one node's (each index opens with an
/// unrelated, newest child with labels of its own).
#[test]
fn multi_arch_images_on_other_members_answer_with_every_related_platform() -> Result<()> {
    let oracle = Oracle::start(&SIZES)?;
    let (base, derived) = MULTI_ARCH;
    ensure!(
        oracle
            .fleets
            .iter()
            .any(|f| f.owner(base) != f.owner(derived)),
        "no fleet puts {base} apart from {derived}"
    );
    let selection = "{Page {TotalCount ItemCount} Results {RepoName Tag Digest Size LastUpdated Manifests {Digest Size Platform {Os Arch}} Description Vendor}}";
    let mut cases = Vec::new();
    for (field, image) in [
        ("DerivedImageList", format!("{base}:1.0")),
        ("BaseImageList", format!("{derived}:1.0")),
    ] {
        let mut query = relation(field, &image);
        query.selection = selection.to_owned();
        cases.extend(query.cases(&[None], &[Some(ADMIN.0)]));
    }
    let found = oracle.single.http().as_user(ADMIN.0, ADMIN.1);
    let answer = flotilla_e2e::search_fixture::Gql::new(found).data(&format!(
        "{{DerivedImageList(image: \"{base}:1.0\") {{Results {{RepoName Manifests {{Platform {{Arch}}}}}}}}}}"
    ))?;
    let platforms = answer["DerivedImageList"]["Results"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["RepoName"] == derived)
        .map(|r| r["Manifests"].as_array().map_or(0, Vec::len));
    ensure!(
        platforms == Some(2),
        "the single node should find {derived} with its two related platforms: {answer}"
    );
    oracle.ensure_alike(&cases)
}
