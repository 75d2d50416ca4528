//! Debian's Chromium, headless: loads a page, lets its scripts and their requests finish, and returns the page as it ends up.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::process::{require_tool, run};

/// How long the page's scripts may run, in the browser's virtual time
/// (which waits for network requests to finish).
const SCRIPT_BUDGET_MS: u32 = 30_000;

/// The DOM of `url` once its scripts are done, loaded in a fresh profile
/// under `profile` (its own cookie jar), with no outside network.
pub fn dump_dom(url: &str, profile: &Path) -> Result<String> {
    let chromium = require_tool("chromium")?;
    let mut cmd = Command::new(chromium);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        // Without these the browser tries the internet at start.
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .arg(format!("--virtual-time-budget={SCRIPT_BUDGET_MS}"))
    .arg("--dump-dom")
    .arg(url);
    let output = run(&mut cmd, Duration::from_secs(120))?.check()?;
    Ok(output.stdout_text())
}

/// The text of the element `id` in a dumped DOM, unescaped.
pub fn element_text(dom: &str, id: &str) -> Result<String> {
    let open = format!("id=\"{id}\">");
    let start = dom
        .find(&open)
        .with_context(|| format!("no #{id} in {dom}"))?
        + open.len();
    let end = dom[start..].find("</").context("unclosed element")? + start;
    Ok(dom[start..end]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&"))
}
