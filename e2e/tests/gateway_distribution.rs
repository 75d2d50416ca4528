//! The gateway in front of three unmodified `docker-registry` (distribution 2.8) nodes: a registry Flotilla did not write.
//!
//! distribution differs from zot where a gateway notices: absolute
//! `Location` headers with `_state` in the query, catalog pages of at most
//! 100 with a URL-encoded `last`, plain byte order in its catalog. The user
//! must see none of it.

use anyhow::{Context, Result};
use flotilla_e2e::cluster::expect_status;
use flotilla_e2e::layout::{seeded_bytes, sha256_digest};
use flotilla_e2e::{push_small_image, Cluster, Layout, Skopeo};
use serde_json::Value;
use tempfile::TempDir;

fn distribution_cluster() -> Result<Cluster> {
    Cluster::builder().distribution(3).start()
}

#[test]
fn skopeo_pushes_through_the_gateway_land_on_the_owning_docker_registry_and_pull_back_identical(
) -> Result<()> {
    let cluster = distribution_cluster()?;
    let gateway = cluster.gateway();
    let skopeo = Skopeo::new()?;
    let work = TempDir::new()?;
    let names = cluster.names_on_every_member(2, |i| format!("dist-{}/app_{i}/web-ui", i % 3))?;

    let mut pushed = Vec::new();
    for (i, repo) in names.iter().enumerate() {
        let (layout, _) = Layout::with_image(&work.path().join(format!("src-{i}")), "v1", repo)?;
        skopeo.copy(
            &layout.reference("v1"),
            &gateway.image(&format!("{repo}:v1")),
        )?;
        pushed.push(layout);
    }

    for (i, (repo, layout)) in names.iter().zip(&pushed).enumerate() {
        cluster.ensure_only_on_owner(repo)?;
        let pulled = work.path().join(format!("pulled-{i}"));
        skopeo
            .pull_same_image(&gateway.image(&format!("{repo}:v1")), &pulled, "v1", layout)
            .with_context(|| format!("pulling {repo}"))?;
    }
    Ok(())
}

#[test]
fn a_chunked_upload_through_the_gateway_lands_on_the_owning_docker_registry() -> Result<()> {
    let cluster = distribution_cluster()?;
    let http = cluster.gateway().http();
    let repo = "dist/chunked";
    let blob = seeded_bytes("chunked to distribution", 200_000);
    let digest = sha256_digest(&blob);

    let start = http.post(&format!("/v2/{repo}/blobs/uploads/")).send()?;
    let start = expect_status(start, 202, "POST to start")?;
    let mut session = header(&start, "location")?;
    for (from, to) in [(0, 65_536), (65_536, 131_072), (131_072, blob.len())] {
        let patch = http
            .patch(&session)
            .header("Content-Type", "application/octet-stream")
            .header("Content-Range", format!("{from}-{}", to - 1))
            .body(blob[from..to].to_vec())
            .send()?;
        let patch = expect_status(patch, 202, &format!("PATCH {from}-{}", to - 1))?;
        session = header(&patch, "location")?;
        assert!(
            !session.contains(&cluster.member(cluster.owner(repo)).host_port()),
            "Location {session} names the member"
        );
    }
    let put = http.put(&format!("{session}&digest={digest}")).send()?;
    expect_status(put, 201, "PUT closing the upload")?;

    let owner = cluster.member(cluster.owner(repo)).http();
    assert_eq!(owner.blob(repo, &digest)?, blob);
    assert_eq!(http.blob(repo, &digest)?, blob);
    Ok(())
}

#[test]
fn skopeo_copy_across_docker_registry_members_puts_the_blobs_on_the_targets_owner() -> Result<()> {
    let cluster = distribution_cluster()?;
    let skopeo = Skopeo::new()?;
    let work = TempDir::new()?;
    let names = cluster.names_on_every_member(1, |i| format!("dist/mount-{i}"))?;
    let (src, dst) = (&names[0], &names[1]);
    cluster.copy_across_members(&skopeo, work.path(), (src, dst, "v1"), "dist mount")?;
    Ok(())
}

#[test]
fn the_catalog_over_docker_registries_is_the_sorted_union_of_theirs_in_zot_order() -> Result<()> {
    let cluster = distribution_cluster()?;
    let http = cluster.gateway().http();
    let names = [
        "a", "a/b", "a-c", "a.b/c", "b", "b/a", "lib/x-y", "lib-x/y", "z/z",
    ];
    for repo in names {
        push_small_image(&http, repo, "v1")?;
    }

    let mut union = Vec::new();
    for member in cluster.members() {
        union.extend(repositories(
            &member.http().get("/v2/_catalog").send()?.json()?,
        ));
    }
    union.sort_by(|a, b| a.split('/').cmp(b.split('/')));
    let whole: Value = http.get("/v2/_catalog").send()?.json()?;
    assert_eq!(repositories(&whole), union);
    assert_eq!(
        union,
        ["a", "a/b", "a-c", "a.b/c", "b", "b/a", "lib/x-y", "lib-x/y", "z/z"]
    );

    // Pages of 4 following Link reproduce it.
    let mut walked = Vec::new();
    let mut next = Some("/v2/_catalog?n=4".to_owned());
    while let Some(path) = next.take() {
        let page = http.get(&path).send()?;
        next = page
            .headers()
            .get("link")
            .and_then(|l| l.to_str().ok())
            .and_then(|l| Some(l.split_once('<')?.1.split_once('>')?.0.to_owned()));
        walked.extend(repositories(&page.json()?));
    }
    assert_eq!(walked, union);
    // distribution refuses `n` over 1000 (400): the gateway's push-down of a
    // page of 1000 asks it for 1001, and must walk it whole instead.
    for n in [1000, 5000] {
        let page = http.get(&format!("/v2/_catalog?n={n}")).send()?;
        assert_eq!(page.status(), 200, "n={n}");
        assert_eq!(repositories(&page.json()?), union, "n={n}");
    }
    Ok(())
}

fn repositories(catalog: &Value) -> Vec<String> {
    catalog["repositories"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_str().map(str::to_owned))
        .collect()
}

fn header(response: &reqwest::blocking::Response, name: &str) -> Result<String> {
    Ok(response
        .headers()
        .get(name)
        .with_context(|| format!("no {name} header"))?
        .to_str()?
        .to_owned())
}
