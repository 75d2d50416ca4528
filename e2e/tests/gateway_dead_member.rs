//! One member dies: its repositories fail fast and say which member is down; everything else keeps working.
//!
//! Each test kills a node with SIGKILL, as a crash would. The gateway's
//! connect timeout is 1 s and it probes members every 500 ms, so "fast"
//! means an answer within 2 s, and "back" means within a few probe intervals.

use std::thread;
use std::time::Duration;

use anyhow::{bail, Result};
use flotilla_e2e::cluster::assert_member_unavailable;
use flotilla_e2e::{push_small_image, Cluster, SmallImage};
use serde_json::Value;
use tokio::time::Instant;

/// A cluster of three nodes, one small image on each: `repos[i]` is owned by member `i`.
fn cluster_with_a_repo_per_member(
    cluster: Cluster,
) -> Result<(Cluster, Vec<String>, Vec<SmallImage>)> {
    let mut by_member = cluster.names_on_every_member(1, |i| format!("fleet/repo-{i}"))?;
    by_member.sort_by_key(|r| cluster.owner(r));
    let images = by_member
        .iter()
        .map(|repo| push_small_image(&cluster.gateway().http(), repo, "v1"))
        .collect::<Result<Vec<_>>>()?;
    Ok((cluster, by_member, images))
}

#[test]
fn a_dead_members_repository_gets_a_fast_503_unavailable_naming_the_member() -> Result<()> {
    let (mut cluster, repos, _) = cluster_with_a_repo_per_member(Cluster::start(3)?)?;
    let dead = cluster.member(0).host_port();
    cluster.member_mut(0).kill()?;

    for attempt in 0..3 {
        let started = Instant::now();
        let response = cluster
            .gateway()
            .http()
            .get(&format!("/v2/{}/manifests/v1", repos[0]))
            .timeout(Duration::from_secs(10))
            .send()?;
        let took = started.elapsed();
        assert_member_unavailable(response, &dead);
        assert!(
            took < Duration::from_secs(2),
            "attempt {attempt} took {took:?}"
        );
    }
    Ok(())
}

#[test]
fn repositories_on_live_members_still_work_while_one_member_is_dead() -> Result<()> {
    let (mut cluster, repos, images) = cluster_with_a_repo_per_member(Cluster::start(3)?)?;
    cluster.member_mut(0).kill()?;
    let http = cluster.gateway().http();

    for (repo, image) in repos.iter().zip(&images).skip(1) {
        let manifest = http.manifest(repo, "v1")?;
        assert_eq!(
            flotilla_e2e::layout::sha256_digest(&manifest),
            image.manifest.digest
        );
        assert_eq!(
            http.blob(repo, &image.layer.digest)?.len() as u64,
            image.layer.size
        );
    }
    let fresh = cluster.names_on_every_member(2, |i| format!("fleet/fresh-{i}"))?;
    for repo in fresh.iter().filter(|r| cluster.owner(r) != 0) {
        push_small_image(&http, repo, "v1")?;
        for live in 1..3 {
            let expected = if cluster.owner(repo) == live {
                200
            } else {
                404
            };
            let path = format!("/v2/{repo}/tags/list");
            assert_eq!(
                cluster.member(live).status(&path)?,
                expected,
                "{repo} on member {live}"
            );
        }
    }
    Ok(())
}

#[test]
fn the_catalog_answers_503_naming_a_dead_member() -> Result<()> {
    let (mut cluster, _, _) = cluster_with_a_repo_per_member(Cluster::start(3)?)?;
    let dead = cluster.member(1).host_port();
    cluster.member_mut(1).kill()?;

    let response = cluster.gateway().http().get("/v2/_catalog").send()?;
    assert_member_unavailable(response, &dead);
    Ok(())
}

#[test]
fn a_partial_catalog_lists_the_live_members_repositories_with_a_warning() -> Result<()> {
    let cluster = Cluster::builder().nodes(3).partial().start()?;
    let (mut cluster, repos, _) = cluster_with_a_repo_per_member(cluster)?;
    let dead = cluster.member(2).host_port();
    cluster.member_mut(2).kill()?;

    let response = cluster.gateway().http().get("/v2/_catalog").send()?;

    assert_eq!(response.status(), 200);
    let warnings: Vec<String> = response
        .headers()
        .get_all("warning")
        .iter()
        .filter_map(|w| w.to_str().ok().map(str::to_owned))
        .collect();
    assert!(
        warnings.iter().any(|w| w.contains(&dead)),
        "no Warning names {dead}: {warnings:?}"
    );
    let body: Value = response.json()?;
    let mut live = repos[..2].to_vec();
    live.sort_by(|a, b| a.split('/').cmp(b.split('/')));
    assert_eq!(body["repositories"], serde_json::json!(live));
    Ok(())
}

#[test]
fn a_restarted_member_serves_its_repositories_again_after_a_probe() -> Result<()> {
    let (mut cluster, repos, images) = cluster_with_a_repo_per_member(Cluster::start(3)?)?;
    let path = format!("/v2/{}/manifests/{}", repos[0], images[0].manifest.digest);
    cluster.member_mut(0).kill()?;
    let down = cluster.gateway().http().get(&path).send()?;
    assert_eq!(down.status(), 503);

    cluster.member_mut(0).restart()?;

    let http = cluster.gateway().http();
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let status = http.get(&path).send()?.status();
        if status == 200 {
            break;
        }
        if Instant::now() >= deadline {
            bail!("3 s after the restart, {path} still answers {status}");
        }
        thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        flotilla_e2e::layout::sha256_digest(&http.manifest(&repos[0], "v1")?),
        images[0].manifest.digest
    );
    Ok(())
}
