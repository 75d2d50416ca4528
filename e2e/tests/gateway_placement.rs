//! A user pushes many repositories through one gateway in front of three flotilla-nodes; each lands on its owner alone.
//!
//! The user only ever talks to the gateway. The test then asks every node
//! directly: the owner of a repository has it (`tags/list` is 200), every
//! other node has never heard of it (404), and what comes back through the
//! gateway is byte for byte what was pushed.

use std::collections::BTreeMap;
use std::fs;
use std::process::Command;

use anyhow::{Context, Result};
use flotilla_e2e::layout::seeded_bytes;
use flotilla_e2e::process::{self, CLIENT_TIMEOUT};
use flotilla_e2e::{env, push_small_image, Cluster, Layout, Oras, Push, Skopeo};
use tempfile::TempDir;

/// Repository names with slashes, dashes, dots and underscores.
fn name(i: usize) -> String {
    format!("team-{}/svc_{i}.web/img--x", i % 4)
}

#[test]
fn skopeo_pushes_through_the_gateway_land_each_repository_on_its_owner_only() -> Result<()> {
    let cluster = Cluster::start(3)?;
    let gateway = cluster.gateway();
    let skopeo = Skopeo::new()?;
    let work = TempDir::new()?;
    let names = cluster.names_on_every_member(3, name)?;

    let mut pushed = Vec::new();
    for (i, repo) in names.iter().enumerate() {
        let (layout, _) = Layout::with_image(&work.path().join(format!("src-{i}")), "v1", repo)?;
        skopeo.copy(
            &layout.reference("v1"),
            &gateway.image(&format!("{repo}:v1")),
        )?;
        pushed.push(layout);
    }

    for repo in &names {
        cluster.ensure_only_on_owner(repo)?;
    }
    for (i, (repo, layout)) in names.iter().zip(&pushed).enumerate() {
        let pulled = work.path().join(format!("pulled-{i}"));
        skopeo
            .pull_same_image(&gateway.image(&format!("{repo}:v1")), &pulled, "v1", layout)
            .with_context(|| format!("pulling {repo} through the gateway"))?;
    }
    Ok(())
}

#[test]
fn oras_pushes_through_the_gateway_land_on_the_owner_and_pull_back_the_same_files() -> Result<()> {
    let cluster = Cluster::start(3)?;
    let oras = Oras::new(&cluster.gateway().host_port())?;
    let work = TempDir::new()?;
    let names = cluster.names_on_every_member(1, |i| format!("oras-{i}/artifacts/file-set"))?;

    for repo in &names {
        let dir = work.path().join(repo.replace('/', "_"));
        fs::create_dir_all(&dir)?;
        fs::write(dir.join("payload.bin"), seeded_bytes(repo, 70_000))?;
        let pushed = oras.push(&format!("{repo}:v1"), &Push::files(&dir, &["payload.bin"]))?;
        assert_eq!(pushed.status, 201, "oras push of {repo}");
    }

    for repo in &names {
        cluster.ensure_only_on_owner(repo)?;
        let out = work.path().join("out").join(repo.replace('/', "_"));
        let files = oras.pull(&format!("{repo}:v1"), &out)?;
        assert_eq!(files, [out.join("payload.bin")], "{repo}");
        assert_eq!(fs::read(&files[0])?, seeded_bytes(repo, 70_000), "{repo}");
    }
    Ok(())
}

#[test]
fn verify_config_names_the_member_each_pushed_repository_landed_on() -> Result<()> {
    let cluster = Cluster::start(3)?;
    let names = cluster.names_on_every_member(2, name)?;
    for repo in &names {
        push_small_image(&cluster.gateway().http(), repo, "v1")?;
    }

    let mut cmd = Command::new(env::binary("flotilla-gateway")?);
    cmd.arg("verify-config")
        .arg(cluster.gateway().config_path())
        .args(&names);
    let out = process::run(&mut cmd, CLIENT_TIMEOUT)?.check()?;

    let printed: BTreeMap<String, String> = out
        .stdout_text()
        .lines()
        .filter_map(|line| line.split_once(" -> "))
        .map(|(repo, member)| (repo.trim().to_owned(), member.trim().to_owned()))
        .collect();
    for repo in &names {
        let holders = cluster.holders(repo)?;
        let held_by: Vec<String> = holders
            .iter()
            .map(|&i| cluster.member(i).host_port())
            .collect();
        assert_eq!(
            held_by,
            [printed.get(repo).cloned().unwrap_or_default()],
            "verify-config printed:\n{}",
            out.stdout_text()
        );
    }
    Ok(())
}
