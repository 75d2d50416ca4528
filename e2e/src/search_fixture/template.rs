//! The fixture's template: one filled node's data directory, kept under `target/` and copied for each test.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{bail, ensure, Context, Result};
use sha2::{Digest as _, Sha256};

use crate::{env, Node};

use super::build::{self, Record};
use super::{access_control, catalog, empty_node};

/// Bumped when the build changes in a way the key would not see.
const TEMPLATE_VERSION: u32 = 1;

/// The template directory, built now if it does not exist yet. Two tests
/// may build it at once; the first rename wins and the other copy is dropped.
pub(super) fn ensure() -> Result<PathBuf> {
    ensure_kind("search-fixture", "", |node, work| {
        build::populate(node, work)
    })
}

/// The template of one kind, under `target/<profile>/<kind>/<key>`: `extra`
/// goes into the key (for what `fill` adds beyond the catalog), and `fill`
/// fills a fresh node started with the fixture's users and access control.
pub(super) fn ensure_kind(
    kind: &str,
    extra: &str,
    fill: impl FnOnce(&Node, &Path) -> Result<Record>,
) -> Result<PathBuf> {
    let parent = env::bin_dir()?.join(kind);
    let dir = parent.join(template_key(extra)?);
    if dir.join("fixture.json").is_file() {
        return Ok(dir);
    }
    let mut node = empty_node()?;
    let work = tempfile::Builder::new()
        .prefix(&format!("{kind}-"))
        .tempdir()?;
    let record = fill(&node, work.path())
        .with_context(|| format!("filling the {kind} node\n{}", node.log()))?;
    // Gracefully, so that the pull counts the node batches are written.
    stop_gracefully(&node)?;
    node.kill()?;
    let staging = parent.join(format!("staging-{}", std::process::id()));
    if staging.exists() {
        fs::remove_dir_all(&staging)?;
    }
    copy_dir(&node.root_dir(), &staging.join("data"))?;
    fs::write(
        staging.join("fixture.json"),
        serde_json::to_vec_pretty(&record.to_json())?,
    )?;
    if fs::rename(&staging, &dir).is_err() {
        fs::remove_dir_all(&staging)?;
        ensure!(
            dir.join("fixture.json").is_file(),
            "could not install the template at {}",
            dir.display()
        );
    }
    prune_old_templates(&parent, &dir);
    Ok(dir)
}

/// Templates of older catalogs or node binaries, and staging copies whose
/// builder died. (Two runs with different node binaries in one target
/// directory at once would disturb each other; one run never does.)
fn prune_old_templates(parent: &Path, current: &Path) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let stale = match name.strip_prefix("staging-") {
            Some(pid) => !Path::new("/proc").join(pid).exists(),
            None => path != current,
        };
        if stale {
            let _ = fs::remove_dir_all(path);
        }
    }
}

/// Stops `node` as a service manager would, with SIGTERM, and waits until
/// it has exited (it stays a zombie until `Node::kill` or `restart` reaps
/// it). The node's pid is found by its config path, which is its own.
pub fn stop_gracefully(node: &Node) -> Result<()> {
    let config = node
        .root_dir()
        .parent()
        .context("a node data dir without parent")?
        .join("config.json");
    let pid = node_pid(&config)?;
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()?;
    ensure!(status.success(), "kill -TERM {pid} failed");
    for _ in 0..200 {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit_once(") ").map(|(_, rest)| rest.chars().next());
        if stat.is_empty() || state == Some(Some('Z')) {
            return Ok(());
        }
        thread::sleep(Duration::from_millis(50));
    }
    bail!("flotilla-node (pid {pid}) did not exit within 10 s of SIGTERM")
}

/// The pid of the `flotilla-node serve <config>` process.
fn node_pid(config: &Path) -> Result<u32> {
    let wanted = config.as_os_str().as_encoded_bytes();
    for entry in fs::read_dir("/proc")?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if cmdline.split(|b| *b == 0).any(|arg| arg == wanted) {
            return Ok(pid);
        }
    }
    bail!("no process serves {}", config.display())
}

fn template_key(extra: &str) -> Result<String> {
    let node = env::binary("flotilla-node")?;
    let meta = fs::metadata(&node)?;
    let built = meta.modified()?.duration_since(UNIX_EPOCH)?.as_nanos();
    let spec = format!(
        "{TEMPLATE_VERSION}|{:?}|{:?}|{:?}|{:?}|{:?}|{}|{built}|{}{extra}",
        catalog::repositories(),
        catalog::last_pushed(),
        catalog::DOWNLOADS,
        catalog::STARS,
        catalog::BOOKMARKS,
        access_control(),
        meta.len(),
    );
    Ok(hex::encode(&Sha256::digest(spec.as_bytes())[..8]))
}

pub(super) fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}
