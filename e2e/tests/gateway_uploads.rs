//! Uploads through the gateway: chunked sessions go to the repository's owner, and mounts work across members.
//!
//! A chunked upload is several requests (POST, PATCH…, PUT) that must all
//! reach the same node. A mount names two repositories, which may live on
//! different nodes: the gateway then copies the blob itself, and the client
//! gets the `201 Created` one registry would give.

use std::fs;

use anyhow::{ensure, Context, Result};
use flotilla_e2e::cluster::expect_status;
use flotilla_e2e::layout::{seeded_bytes, sha256_digest};
use flotilla_e2e::{oci_ref, push_small_image, Cluster, Layout, Oras, Push, Registry, Skopeo};
use reqwest::blocking::Response;
use tempfile::TempDir;

const CHUNK: usize = 64 * 1024;

#[test]
fn a_chunked_upload_through_the_gateway_lands_on_the_owner_only() -> Result<()> {
    let cluster = Cluster::start(3)?;
    let http = cluster.gateway().http();
    let repo = "uploads/chunked-raw";
    let blob = seeded_bytes("chunked through the gateway", 4 * CHUNK + 77);
    let digest = sha256_digest(&blob);

    let start = http.post(&format!("/v2/{repo}/blobs/uploads/")).send()?;
    let mut session = location(&cluster, expect_status(start, 202, "POST to start")?)?;
    for from in (0..blob.len()).step_by(CHUNK) {
        let to = (from + CHUNK).min(blob.len());
        let patch = http
            .patch(&session)
            .header("Content-Type", "application/octet-stream")
            .header("Content-Range", format!("{from}-{}", to - 1))
            .body(blob[from..to].to_vec())
            .send()?;
        let patch = expect_status(patch, 202, &format!("PATCH {from}-{}", to - 1))?;
        assert_eq!(patch.headers()["range"], format!("0-{}", to - 1).as_str());
        session = location(&cluster, patch)?;
    }
    let separator = if session.contains('?') { '&' } else { '?' };
    let put = http
        .put(&format!("{session}{separator}digest={digest}"))
        .send()?;
    let put = expect_status(put, 201, "PUT closing the upload")?;
    assert_eq!(put.headers()["docker-content-digest"], digest.as_str());

    assert_eq!(http.blob(repo, &digest)?, blob, "through the gateway");
    let owner = cluster.owner(repo);
    assert_eq!(cluster.member(owner).http().blob(repo, &digest)?, blob);
    for (i, member) in cluster.members().iter().enumerate() {
        if i != owner {
            let head = member
                .http()
                .head(&format!("/v2/{repo}/blobs/{digest}"))
                .send()?;
            assert_eq!(head.status(), 404, "member {i} is not the owner");
        }
    }
    Ok(())
}

#[test]
fn an_oras_chunked_push_through_the_gateway_is_pulled_back_intact() -> Result<()> {
    let cluster = Cluster::start(3)?;
    let oras = Oras::new(&cluster.gateway().host_port())?;
    let work = TempDir::new()?;
    let artifact = seeded_bytes("oras chunked via gateway", 5 * CHUNK + 3);
    fs::write(work.path().join("big.bin"), &artifact)?;

    oras.push(
        "uploads/oras-chunked:v1",
        &Push::files(work.path(), &["big.bin"]).chunked(CHUNK),
    )?;

    cluster.ensure_only_on_owner("uploads/oras-chunked")?;
    let files = oras.pull("uploads/oras-chunked:v1", &work.path().join("out"))?;
    assert_eq!(fs::read(&files[0])?, artifact);
    Ok(())
}

#[test]
fn skopeo_copy_between_repositories_on_different_members_puts_the_blobs_on_the_targets_owner(
) -> Result<()> {
    let cluster = Cluster::start(3)?;
    let gateway = cluster.gateway();
    let skopeo = Skopeo::new()?;
    let work = TempDir::new()?;
    let (src, dst) = two_repos_on_different_members(&cluster)?;
    let (pushed, image) =
        cluster.copy_across_members(&skopeo, work.path(), (&src, &dst, "v2"), "mounted")?;
    let owner = cluster.member(cluster.owner(&dst)).http();
    let manifest = pushed.closure(&image)?.remove(&image.digest);
    ensure!(
        manifest.is_some_and(|bytes| owner.manifest(&dst, &image.digest).ok() == Some(bytes)),
        "{} differs on the owner of {dst}",
        image.digest
    );
    let pulled = work.path().join("pulled");
    skopeo.copy(
        &gateway.image(&format!("{dst}:v2")),
        &oci_ref(&pulled, "v2"),
    )?;
    Layout::open(&pulled)?.ensure_same_image("v2", &pushed, "v1")
}

#[test]
fn a_mount_across_members_answers_201_with_the_blob_at_the_target() -> Result<()> {
    let cluster = Cluster::start(3)?;
    let http = cluster.gateway().http();
    let (src, dst) = two_repos_on_different_members(&cluster)?;
    let image = push_small_image(&http, &src, "v1")?;
    let digest = &image.layer.digest;

    let mount = http
        .post(&format!(
            "/v2/{dst}/blobs/uploads/?mount={digest}&from={src}"
        ))
        .send()?;

    let mount = expect_status(mount, 201, "cross-member mount")?;
    assert_eq!(mount.headers()["docker-content-digest"], digest.as_str());
    let target = location(&cluster, mount)?;
    ensure!(
        target.ends_with(&format!("/v2/{dst}/blobs/{digest}")),
        "Location {target} does not name the mounted blob"
    );
    let owner = cluster.member(cluster.owner(&dst)).http();
    assert_eq!(owner.blob(&dst, digest)?, http.blob(&src, digest)?);
    assert_eq!(http.get(&target).send()?.status(), 200, "GET {target}");
    Ok(())
}

#[test]
fn a_mount_from_a_repository_without_the_blob_opens_an_upload_session_on_the_target() -> Result<()>
{
    let cluster = Cluster::start(3)?;
    let http = cluster.gateway().http();
    let (src, dst) = two_repos_on_different_members(&cluster)?;
    push_small_image(&http, &src, "v1")?;
    let blob = seeded_bytes("never pushed to the source", 3000);
    let digest = sha256_digest(&blob);

    let mount = http
        .post(&format!(
            "/v2/{dst}/blobs/uploads/?mount={digest}&from={src}"
        ))
        .send()?;

    let mount = expect_status(mount, 202, "mount of a blob the source lacks")?;
    let session = location(&cluster, mount)?;
    let separator = if session.contains('?') { '&' } else { '?' };
    let put = http
        .put(&format!("{session}{separator}digest={digest}"))
        .header("Content-Type", "application/octet-stream")
        .body(blob.clone())
        .send()?;
    expect_status(put, 201, "PUT into the session the mount opened")?;
    let owner = cluster.member(cluster.owner(&dst)).http();
    assert_eq!(owner.blob(&dst, &digest)?, blob);
    // The source's owner was only asked; it holds nothing new.
    let source_owner = cluster.member(cluster.owner(&src)).http();
    let head = source_owner
        .head(&format!("/v2/{src}/blobs/{digest}"))
        .send()?;
    assert_eq!(head.status(), 404);
    Ok(())
}

/// Two repository names whose owners differ.
fn two_repos_on_different_members(cluster: &Cluster) -> Result<(String, String)> {
    let names = cluster.names_on_every_member(1, |i| format!("mount/repo-{i}"))?;
    Ok((names[0].clone(), names[1].clone()))
}

/// The response's `Location`, checked to name no member: relative, or the gateway's own origin.
fn location(cluster: &Cluster, response: Response) -> Result<String> {
    let location = response
        .headers()
        .get("location")
        .context("no Location header")?
        .to_str()?
        .to_owned();
    for member in cluster.members() {
        ensure!(
            !location.contains(&member.host_port()),
            "Location {location} names member {}",
            member.host_port()
        );
    }
    let gateway = Registry::new(&cluster.gateway().url());
    ensure!(
        location.starts_with('/') || location.starts_with(&gateway.url("/")),
        "Location {location} is neither relative nor on the gateway"
    );
    Ok(location)
}
