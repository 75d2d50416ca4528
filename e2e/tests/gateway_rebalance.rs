//! Resizing a fleet under the one-registry oracle: a member joins (3 → 4) or leaves (4 → 3), the gateway opens the migration window, `rebalance --apply` moves the data (killed at several points and resumed), the window closes; at every step the fleet answers as one node holding everything.
//!
//! The oracle's search cases here are the ones whose answers the content
//! decides: names, tags, digests, sizes, platforms, referrers, the images'
//! own `created` times. Download counts, push and tag times, stars and
//! bookmarks are each node's own metadata, which the Distribution API can
//! neither read nor write: a moved repository starts them afresh on its
//! owner (deploy/README.md says so), so they are not compared here.
//!
//! Clients keep going meanwhile: skopeo pulls the image being moved through
//! every run, killed or not, and pushes and pulls new images during the last.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use flotilla_e2e::layout::seeded_bytes;
use flotilla_e2e::oracle::{Case, Key, Oracle};
use flotilla_e2e::rebalance::{self, Rebalance};
use flotilla_e2e::search_fixture::{empty_node, Gql, ADMIN, DEV};
use flotilla_e2e::{Gateway, Layout, Node, Skopeo};
use serde_json::{json, Value};

const IMAGES: &str = "Results {RepoName Tag Digest MediaType Size IsSigned LastUpdated Manifests {Digest ConfigDigest Size Platform {Os Arch} Layers {Digest Size}}}";
const REPOS: &str =
    "Results {Name Size Platforms {Os Arch} Vendors NewestImage {Tag Digest LastUpdated}}";

/// The content-decided search cases over the whole fixture: the fanned-out
/// lists, and the fields about one repository or image.
fn cases(oracle: &Oracle) -> Vec<Case> {
    let mut cases = list_cases();
    cases.extend(repository_cases(oracle));
    cases
}

fn list_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for user in [Some(ADMIN.0), Some(DEV.0), None] {
        for (page, sort) in [
            ("", "ALPHABETIC_ASC"),
            ("limit: 5 offset: 7 ", "ALPHABETIC_DSC"),
        ] {
            cases.push(Case::get(
                format!("ImageList {page}{sort}"),
                user,
                &format!("{{ImageList(repo: \"\", requestedPage: {{{page}sortBy: {sort}}}) {{Page {{TotalCount ItemCount}} {IMAGES}}}}}"),
            ));
            cases.push(Case::get(
                format!("RepoListWithNewestImage {page}{sort}"),
                user,
                &format!("{{RepoListWithNewestImage(requestedPage: {{{page}sortBy: {sort}}}) {{Page {{TotalCount ItemCount}} {REPOS}}}}}"),
            ));
        }
        cases.push(Case::get(
            "GlobalSearch team-a/",
            user,
            "{GlobalSearch(query: \"team-a/\", requestedPage: {sortBy: ALPHABETIC_ASC}) {Page {TotalCount ItemCount} Repos {Name Size NewestImage {Tag Digest}}}}",
        ));
    }
    cases
}

fn repository_cases(oracle: &Oracle) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut repos = BTreeSet::new();
    for (repo, tag, _) in oracle.tags() {
        repos.insert(repo.clone());
        cases.push(
            Case::get(
                format!("Image {repo}:{tag}"),
                Some(ADMIN.0),
                &format!("{{Image(image: \"{repo}:{tag}\") {{RepoName Tag Digest Size IsSigned Referrers {{Digest ArtifactType}} Manifests {{Digest Layers {{Digest}}}}}}}}"),
            )
            .ties(&["Image", "Referrers"], Key::Unordered),
        );
    }
    for repo in repos {
        cases.push(
            Case::get(
                format!("ExpandedRepoInfo {repo}"),
                Some(ADMIN.0),
                &format!("{{ExpandedRepoInfo(repo: \"{repo}\") {{Images {{Tag Digest Size LastUpdated}} Summary {{Name Size Platforms {{Os Arch}} NewestImage {{Tag Digest}}}}}}}}"),
            )
            .ties(&["ExpandedRepoInfo", "Images"], Key::Unordered),
        );
    }
    cases.push(
        Case::get(
            "Referrers of the subject",
            Some(ADMIN.0),
            &format!("{{Referrers(repo: \"team-a/tools/cli\", digest: \"{}\") {{Digest ArtifactType MediaType Size}}}}", oracle.subject()),
        )
        .ties(&["Referrers"], Key::Unordered),
    );
    cases
}

/// The fleet answers as the single node: catalog, every image's bytes, the content-decided search.
fn ensure_one_registry(oracle: &Oracle, cases: &[Case], when: &str) -> Result<()> {
    let single = oracle.single.http().as_user(ADMIN.0, ADMIN.1);
    let gateway = oracle.fleets[0].gateway.http().as_user(ADMIN.0, ADMIN.1);
    let want = rebalance::catalog(&single)?;
    let got = rebalance::catalog(&gateway)?;
    ensure!(
        want == got,
        "{when}: the catalogs differ:\n  single:  {want:?}\n  gateway: {got:?}"
    );
    for repo in &want {
        for tag in rebalance::tags(&single, repo)? {
            rebalance::ensure_pulls_alike(&single, &gateway, repo, &tag)
                .with_context(|| format!("{when}: pulling {repo}:{tag}"))?;
        }
    }
    oracle.ensure_alike(cases).with_context(|| when.to_owned())
}

/// At the end each repository lives only on its owner, and each node's blobs hash to their names.
fn ensure_settled(
    members: &[Node],
    builder: &flotilla_e2e::gateway::GatewayBuilder,
    oracle: &Oracle,
) -> Result<()> {
    let ring = builder.ring()?;
    let single = oracle.single.http().as_user(ADMIN.0, ADMIN.1);
    for (i, member) in members.iter().enumerate() {
        let http = member.http().as_user(ADMIN.0, ADMIN.1);
        for repo in rebalance::catalog(&http)? {
            let tags = rebalance::tags(&http, &repo)?;
            if ring.owner(&repo) == i {
                ensure!(
                    tags == rebalance::tags(&single, &repo)?,
                    "{repo} on its owner has tags {tags:?}"
                );
            } else {
                ensure!(
                    tags.is_empty(),
                    "{repo} is still on member {i}, not its owner: {tags:?}"
                );
            }
        }
        // Its search lists only the repositories it owns.
        let listed = Gql::new(http).data("{RepoListWithNewestImage {Results {Name}}}")?;
        for name in listed["RepoListWithNewestImage"]["Results"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["Name"].as_str())
        {
            ensure!(
                ring.owner(name) == i,
                "member {i}'s search lists {name}, which it does not own"
            );
        }
        rebalance::ensure_blobs_hash_to_names(&member.root_dir())?;
    }
    Ok(())
}

/// skopeo pushes a new image and pulls the one before through the gateway
/// (and pushes the same to the single node, so the oracle still holds),
/// until `stop`; returns how many rounds ran.
fn keep_pushing_and_pulling(oracle: &Oracle, stop: &AtomicBool) -> Result<usize> {
    let skopeo = Skopeo::as_user(ADMIN.0, ADMIN.1)?;
    let work = tempfile::tempdir()?;
    let (layout, _) = Layout::with_image(&work.path().join("src"), "v1", "during")?;
    let mut round = 0;
    while !stop.load(Ordering::Relaxed) || round < 2 {
        let repo = format!("during/load-{round}");
        for target in [
            oracle.fleets[0].gateway.image(&format!("{repo}:v1")),
            oracle.single.image(&format!("{repo}:v1")),
        ] {
            skopeo
                .copy(&layout.reference("v1"), &target)
                .with_context(|| format!("round {round}: pushing {target}"))?;
        }
        let pulled = work.path().join(format!("pulled-{round}"));
        skopeo
            .pull_same_image(
                &oracle.fleets[0].gateway.image(&format!("{repo}:v1")),
                &pulled,
                "v1",
                &layout,
            )
            .with_context(|| format!("round {round}: pulling {repo}"))?;
        round += 1;
    }
    Ok(round)
}

/// Kills `rebalance --apply`, slowed down, at several instants, checking the
/// oracle after each kill; then lets one run finish while skopeo keeps
/// pushing and pulling; the plan is then empty.
fn rebalance_through_kills(
    oracle: &Oracle,
    cases: &[Case],
    run: &Rebalance,
    big: &str,
) -> Result<Value> {
    let stop = AtomicBool::new(false);
    let (pulls, moved) = std::thread::scope(|scope| {
        let pulls = scope.spawn(|| keep_pulling(oracle, big, &stop));
        let moved = kill_then_finish(oracle, cases, run);
        stop.store(true, Ordering::Relaxed);
        (
            pulls
                .join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("the puller panicked"))),
            moved,
        )
    });
    let plan = moved?;
    let pulls = pulls?;
    ensure!(pulls >= 2, "only {pulls} pulls of the moving image ran");
    Ok(plan)
}

/// The killed runs, each followed by the oracle, then the run to the end
/// with skopeo pushing and pulling alongside; the plan after it.
fn kill_then_finish(oracle: &Oracle, cases: &[Case], run: &Rebalance) -> Result<Value> {
    let slow = ["--max-rate", "1MiB", "--concurrency", "2"];
    let mut kills = 0;
    for ms in [300, 700, 1200, 2000] {
        if !run.apply_killed_after(Duration::from_millis(ms), &slow)? {
            break;
        }
        kills += 1;
        let when = format!("after a rebalance killed at {ms} ms");
        ensure_one_registry(oracle, cases, &when)?;
    }
    // The 6 MiB layer alone takes 6 s at 1 MiB/s: every run above was killed.
    ensure!(kills == 4, "only {kills} runs were killed");
    let stop = AtomicBool::new(false);
    let (rounds, output) = std::thread::scope(|scope| {
        let load = scope.spawn(|| keep_pushing_and_pulling(oracle, &stop));
        let output = run.apply(&["--max-rate", "4MiB"]);
        stop.store(true, Ordering::Relaxed);
        (
            load.join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("the load panicked"))),
            output,
        )
    });
    let output = output?.check()?;
    let rounds = rounds?;
    ensure!(rounds >= 2, "{rounds}");
    let plan = run.plan()?;
    ensure!(
        plan["moving"] == 0 && plan["leftovers"] == 0,
        "after the rebalance the plan still moves: {plan}\n{output}"
    );
    Ok(plan)
}

/// skopeo pulls the moving image through the gateway again and again
/// until `stop`, through every killed run and the last one, each pull the
/// same image as the single node's.
fn keep_pulling(oracle: &Oracle, repo: &str, stop: &AtomicBool) -> Result<usize> {
    let skopeo = Skopeo::as_user(ADMIN.0, ADMIN.1)?;
    let work = tempfile::tempdir()?;
    let reference = work.path().join("single");
    skopeo.copy(
        &oracle.single.image(&format!("{repo}:v1")),
        &flotilla_e2e::oci_ref(&reference, "v1"),
    )?;
    let reference = Layout::open(&reference)?;
    let image = oracle.fleets[0].gateway.image(&format!("{repo}:v1"));
    let mut round = 0;
    while !stop.load(Ordering::Relaxed) || round < 2 {
        let pulled = work.path().join(format!("pull-{round}"));
        skopeo
            .pull_same_image(&image, &pulled, "v1", &reference)
            .with_context(|| format!("pull {round} of {image}"))?;
        std::fs::remove_dir_all(&pulled)?;
        round += 1;
    }
    Ok(round)
}

/// Pushes an image with one 6 MiB layer, to the single node and through the
/// fleet's gateway, into a repository the change moves (so a slowed
/// rebalance is killed mid-blob).
fn push_big_moving_image(
    oracle: &Oracle,
    before: &[String],
    after: &[String],
    work: &std::path::Path,
) -> Result<String> {
    let (old_ring, new_ring) = (config(before, None).ring()?, config(after, None).ring()?);
    let repo = (0..64)
        .map(|i| format!("aaa/big-{i}"))
        .find(|r| old_ring.members()[old_ring.owner(r)] != new_ring.members()[new_ring.owner(r)])
        .context("no repository moves")?;
    let layout = Layout::create(&work.join("big"))?;
    let bytes = seeded_bytes("a layer a rebalance is killed in", 6 << 20);
    let layer = layout.write_blob("application/vnd.oci.image.layer.v1.tar", &bytes)?;
    let config = json!({
        "created": "2024-02-01T00:00:00Z", "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer.digest]},
    });
    let config = layout.write_blob(
        "application/vnd.oci.image.config.v1+json",
        &serde_json::to_vec(&config)?,
    )?;
    let manifest = json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config.to_json(), "layers": [layer.to_json()],
    });
    let manifest = layout.write_blob(
        "application/vnd.oci.image.manifest.v1+json",
        &serde_json::to_vec(&manifest)?,
    )?;
    layout.tag("v1", &manifest)?;
    let skopeo = Skopeo::as_user(ADMIN.0, ADMIN.1)?;
    for target in [
        oracle.single.image(&format!("{repo}:v1")),
        oracle.fleets[0].gateway.image(&format!("{repo}:v1")),
    ] {
        skopeo.copy(&layout.reference("v1"), &target)?;
    }
    Ok(repo)
}

/// The fleet's gateway with `members`, and `previous` as `previousMembers` when given.
fn config(
    members: &[String],
    previous: Option<&[String]>,
) -> flotilla_e2e::gateway::GatewayBuilder {
    let builder = Gateway::builder().members(members);
    match previous {
        Some(previous) => builder.setting("cluster.previousMembers", json!(previous)),
        None => builder,
    }
}

/// The fleet's members as its gateway names them.
fn member_names(oracle: &Oracle) -> Vec<String> {
    oracle.fleets[0]
        .members
        .iter()
        .map(Node::host_port)
        .collect()
}

/// Pushes the big image that moves, opens the window from `before` to
/// `after` and checks the oracle; the window's config, and the rebalance for it.
fn open_window(
    oracle: &mut Oracle,
    cases: &[Case],
    (before, after): (&[String], &[String]),
    work: &std::path::Path,
) -> Result<(flotilla_e2e::gateway::GatewayBuilder, Rebalance, String)> {
    let big = push_big_moving_image(oracle, before, after, work)?;
    let window = config(after, Some(before));
    oracle.fleets[0]
        .gateway
        .reload_in_force(&window.config().to_string())?;
    ensure_one_registry(oracle, cases, "the window open, nothing moved")?;
    let run = Rebalance::new(&window.config())?.as_user(ADMIN.0, ADMIN.1);
    Ok((window, run, big))
}

/// Closes the window on `after` and checks the oracle.
fn close_window(oracle: &mut Oracle, cases: &[Case], after: &[String]) -> Result<()> {
    oracle.fleets[0]
        .gateway
        .reload_in_force(&config(after, None).config().to_string())?;
    ensure_one_registry(oracle, cases, "the window closed")
}

#[test]
fn three_members_grow_to_four_and_the_fleet_answers_as_one_registry_throughout() -> Result<()> {
    let mut oracle = Oracle::start(&[3])?;
    let cases = cases(&oracle);
    ensure_one_registry(&oracle, &cases, "before the change")?;

    let before = member_names(&oracle);
    oracle.fleets[0].members.push(empty_node()?);
    let after = member_names(&oracle);
    let work = tempfile::tempdir()?;
    let (window, run, big) = open_window(&mut oracle, &cases, (&before, &after), work.path())?;
    let plan = run.plan()?;
    // Rendezvous moves exactly the repositories the new member wins, about a quarter.
    let (old_ring, new_ring) = (config(&before, None).ring()?, window.ring()?);
    let repos = rebalance::catalog(&oracle.single.http().as_user(ADMIN.0, ADMIN.1))?;
    let expected: BTreeSet<&String> = repos
        .iter()
        .filter(|r| new_ring.owner(r) != old_ring.owner(r))
        .collect();
    let planned: BTreeSet<&str> = plan["moves"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["repository"].as_str())
        .collect();
    ensure!(
        expected.iter().all(|r| planned.contains(r.as_str())) && planned.len() == expected.len(),
        "planned {planned:?}, expected {expected:?}"
    );
    ensure!(
        plan["moves"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|m| m["to"] == json!(after[3])),
        "{plan}"
    );
    // The plan's fraction is the placement's over these repositories; over
    // many names, with these members, the placement moves 1/4 ± 0.02 (47
    // repositories alone are too few to bound: one σ is 0.06).
    let fraction = plan["movedFraction"].as_f64().context("movedFraction")?;
    let exact = expected.len() as f64 / repos.len() as f64;
    ensure!(
        (fraction - exact).abs() < 1e-9,
        "moved fraction {fraction}, the placement's {exact}"
    );
    let many: Vec<String> = (0..20_000)
        .map(|i| format!("org{}/img{i}", i % 53))
        .collect();
    let moved = many
        .iter()
        .filter(|r| new_ring.owner(r) != old_ring.owner(r))
        .count();
    let at_scale = moved as f64 / many.len() as f64;
    ensure!(
        (at_scale - 0.25).abs() < 0.02,
        "rendezvous moves {at_scale} of 20,000 names"
    );

    rebalance_through_kills(&oracle, &cases, &run, &big)?;
    ensure_one_registry(&oracle, &cases, "rebalanced, the window still open")?;
    let settled = config(&after, None);
    ensure_settled(&oracle.fleets[0].members, &settled, &oracle)?;
    close_window(&mut oracle, &cases, &after)?;
    Ok(())
}

#[test]
fn four_members_shrink_to_three_and_the_leaving_member_is_emptied() -> Result<()> {
    let mut oracle = Oracle::start(&[4])?;
    let cases = cases(&oracle);
    ensure_one_registry(&oracle, &cases, "before the change")?;

    let before = member_names(&oracle);
    let after = before[..3].to_vec();
    let work = tempfile::tempdir()?;
    let (_, run, big) = open_window(&mut oracle, &cases, (&before, &after), work.path())?;
    let plan = run.plan()?;
    let leaving = &before[3];
    ensure!(
        plan["moves"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|m| &m["from"] == leaving),
        "only the leaving member's repositories move: {plan}"
    );
    rebalance_through_kills(&oracle, &cases, &run, &big)?;
    let settled = config(&after, None);
    let kept = &oracle.fleets[0].members[..3];
    ensure_settled(kept, &settled, &oracle)?;
    close_window(&mut oracle, &cases, &after)?;
    let leaving = oracle.fleets[0].members.pop().context("four members")?;
    let left = leaving.http().as_user(ADMIN.0, ADMIN.1);
    for repo in rebalance::catalog(&left)? {
        ensure!(
            rebalance::tags(&left, &repo)?.is_empty(),
            "{repo} still has tags on the member that left"
        );
    }
    Ok(())
}

#[test]
fn the_plan_needs_credentials_and_never_prints_them() -> Result<()> {
    let oracle = Oracle::start(&[3])?;
    let members: Vec<String> = oracle.fleets[0]
        .members
        .iter()
        .map(Node::host_port)
        .collect();
    let newcomer = empty_node()?;
    let mut after = members.clone();
    after.push(newcomer.host_port());
    let window = config(&after, Some(&members));

    // Anonymous, a node lists only what anyone may read: the plan says so.
    let anonymous = Rebalance::new(&window.config())?.run(&[])?.check()?;
    ensure!(
        anonymous
            .stderr_text()
            .contains("only the repositories anonymous users may read"),
        "{anonymous}"
    );

    let wrong = Rebalance::new(&window.config())?
        .as_user(ADMIN.0, "not-the-password-xyz")
        .run(&["--apply"])?;
    ensure!(
        !wrong.success() && wrong.stderr_text().contains("401 Unauthorized"),
        "{wrong}"
    );

    let plan = Rebalance::new(&window.config())?
        .as_user(ADMIN.0, ADMIN.1)
        .run(&[])?
        .check()?;
    let text = plan.stdout_text();
    ensure!(
        text.contains("rendezvous placement")
            && text.contains("to move")
            && text.contains("stars:"),
        "{text}"
    );
    // The fixture's stars are on the nodes: the plan counts the starred repositories that move.
    let json = Rebalance::new(&window.config())?
        .as_user(ADMIN.0, ADMIN.1)
        .plan()?;
    ensure!(json["starsUnknown"] == 0, "{json}");
    Ok(())
}

#[test]
fn docker_registry_members_grow_three_to_four_through_the_distribution_api_alone() -> Result<()> {
    use flotilla_e2e::{push_small_image, Distribution};
    let registries = (0..4)
        .map(|_| Distribution::start())
        .collect::<Result<Vec<_>>>()?;
    let names: Vec<String> = registries.iter().map(Distribution::host_port).collect();
    let (before, after) = (names[..3].to_vec(), names.clone());
    let mut gateway = config(&before, None).start()?;
    let http = gateway.http();
    // 6 repositories the new member takes, 18 that stay: the ports, and so
    // the placement, change from run to run.
    let (old_ring, new_ring) = (config(&before, None).ring()?, config(&after, None).ring()?);
    let moves =
        |r: &String| new_ring.members()[new_ring.owner(r)] != old_ring.members()[old_ring.owner(r)];
    let candidates: Vec<String> = (0..1000).map(|i| format!("dist/app-{i}")).collect();
    let repos: Vec<String> = candidates
        .iter()
        .filter(|r| moves(r))
        .take(6)
        .chain(candidates.iter().filter(|r| !moves(r)).take(18))
        .cloned()
        .collect();
    ensure!(repos.len() == 24, "too few names");
    let mut pushed = Vec::new();
    for repo in &repos {
        pushed.push(push_small_image(&http, repo, "v1")?);
        push_small_image(&http, repo, "v2")?;
    }
    let everything: BTreeSet<String> = repos.iter().cloned().collect();
    let ensure_served = |gateway: &Gateway, when: &str| -> Result<()> {
        let http = gateway.http();
        let catalog = rebalance::catalog(&http)?;
        ensure!(catalog == everything, "{when}: catalog {catalog:?}");
        for (repo, image) in repos.iter().zip(&pushed) {
            let manifest = http
                .manifest(repo, "v1")
                .with_context(|| format!("{when}: {repo}:v1"))?;
            ensure!(
                flotilla_e2e::layout::sha256_digest(&manifest) == image.manifest.digest,
                "{when}: {repo}:v1 differs"
            );
            let layer = http.blob(repo, &image.layer.digest)?;
            ensure!(
                flotilla_e2e::layout::sha256_digest(&layer) == image.layer.digest,
                "{when}: {repo} layer differs"
            );
            ensure!(
                rebalance::tags(&http, repo)? == ["v1", "v2"],
                "{when}: {repo} tags"
            );
        }
        Ok(())
    };
    ensure_served(&gateway, "before the change")?;

    let window = config(&after, Some(&before));
    gateway.reload_in_force(&window.config().to_string())?;
    ensure_served(&gateway, "the window open")?;
    let run = Rebalance::new(&window.config())?;
    let plan = run.plan()?;
    ensure!(plan["moving"].as_u64().is_some_and(|n| n > 0), "{plan}");
    // Had the change also switched to zot's modulo placement, the plan would
    // say so: every repository whose modulo owner is not where it is now.
    let modulo = window.clone().placement("zot");
    let (held, wanted) = (config(&before, None).ring()?, modulo.ring()?);
    let moving = repos
        .iter()
        .filter(|r| held.members()[held.owner(r)] != wanted.members()[wanted.owner(r)])
        .count();
    let zot_plan = Rebalance::new(&modulo.config())?.plan()?;
    ensure!(
        zot_plan["moving"] == moving && zot_plan["placement"] == "zot",
        "{zot_plan}"
    );
    let fraction = zot_plan["movedFraction"].as_f64().unwrap_or_default();
    ensure!(
        (fraction - moving as f64 / repos.len() as f64).abs() < 1e-9
            && fraction > plan["movedFraction"].as_f64().unwrap_or(1.0),
        "{zot_plan}\n{plan}"
    );
    run.apply_killed_after(
        Duration::from_millis(150),
        &["--concurrency", "1", "--max-rate", "20K"],
    )?;
    ensure_served(&gateway, "after a killed rebalance")?;
    run.apply(&[])?.check()?;
    ensure_served(&gateway, "rebalanced")?;

    // A run killed between deleting a source's manifests and its blobs
    // leaves a blob no tag reaches: the plan finds it, --apply clears it.
    let first = &plan["moves"][0];
    let (repo, from) = (
        first["repository"].as_str().unwrap_or_default(),
        &first["from"],
    );
    let source = registries
        .iter()
        .find(|r| json!(r.host_port()) == *from)
        .context("the source")?;
    let image = &pushed[repos.iter().position(|r| r == repo).context("pushed")?];
    let layer = http.blob(repo, &image.layer.digest)?;
    flotilla_e2e::cluster::upload_blob(&source.http(), repo, &layer)?;
    let leftover = run.plan()?;
    ensure!(
        leftover["leftovers"] == 1 && leftover["moving"] == 0,
        "{leftover}"
    );
    run.apply(&[])?.check()?;
    let head = source
        .http()
        .head(&format!("/v2/{repo}/blobs/{}", image.layer.digest))
        .send()?;
    ensure!(
        head.status() == 404,
        "the leftover blob is still on its source: {}",
        head.status()
    );
    ensure!(run.plan()?["leftovers"] == 0, "leftovers after --apply");
    ensure_served(&gateway, "leftovers cleared")?;
    gateway.reload_in_force(&config(&after, None).config().to_string())?;
    ensure_served(&gateway, "the window closed")?;

    let ring = config(&after, None).ring()?;
    for (i, registry) in registries.iter().enumerate() {
        for repo in rebalance::catalog(&registry.http())? {
            let tags = rebalance::tags(&registry.http(), &repo)?;
            ensure!(
                ring.owner(&repo) == i || tags.is_empty(),
                "{repo} is still on member {i}: {tags:?}"
            );
        }
    }
    ensure!(run.plan()?["moving"] == 0, "the plan still moves");
    Ok(())
}
