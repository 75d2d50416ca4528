//! Search documents built to cost far more than their size, and the check that a server refuses them quickly while it keeps answering everyone else.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use anyhow::{anyhow, ensure, Context, Result};
use serde_json::{json, Value};
use tokio::time::Instant;

use super::graphql::SEARCH_PATH;
use crate::Registry;

/// The longest an ordinary request may take while hostile documents are
/// being refused.
const ORDINARY: Duration = Duration::from_secs(1);

/// `fragment F0 on RepoSummary { ...F1 ...F1 } … F{levels-1} { Name }`
/// under a repository list: about 40 bytes a level, 2^(levels-1) fields expanded.
pub fn fragment_bomb(levels: usize) -> String {
    let mut doc = String::from("{ RepoListWithNewestImage { Results { ...F0 } } }");
    for i in 0..levels - 1 {
        let next = i + 1;
        doc.push_str(&format!(
            " fragment F{i} on RepoSummary {{ ...F{next} ...F{next} }}"
        ));
    }
    doc.push_str(&format!(
        " fragment F{} on RepoSummary {{ Name }}",
        levels - 1
    ));
    doc
}

/// `{a{a{a…` about `bytes` long: one nesting level every two bytes, what a
/// recursive descent parser would take one stack frame each for.
pub fn nesting_bomb(bytes: usize) -> String {
    "{a".repeat(bytes / 2)
}

/// A legal document of about `bytes` that the server must read whole: one
/// `__typename` selected over and over (it merges into one field, but the
/// size counted before merging is over any budget).
pub fn flat_document(bytes: usize) -> String {
    format!("{{{}}}", "__typename ".repeat(bytes / 11))
}

/// The documents every server must refuse before they cost it anything,
/// `key` being the setting that names its size budget: a 24-level fragment
/// bomb and a MiB of nesting, each refused within a second, and a MiB of
/// legal document, read and refused off the threads that answer others.
pub fn bombs(key: &str) -> Vec<Hostile> {
    // The JSON around a document stays within a MiB body limit.
    let mib = (1 << 20) - 64;
    vec![
        Hostile {
            what: "fragment bomb",
            document: fragment_bomb(24),
            message: vec![
                format!("selects {} fields and argument values", 2 + (1 << 23)),
                format!("({key})"),
            ],
            within: Duration::from_secs(1),
            at_once: 4,
        },
        Hostile {
            what: "nesting bomb",
            document: nesting_bomb(mib),
            message: vec!["the document nests brackets deeper than 50 levels".into()],
            within: Duration::from_secs(1),
            at_once: 4,
        },
        Hostile {
            what: "MiB of __typename",
            document: flat_document(mib),
            message: vec![format!("({key})")],
            within: Duration::from_secs(30),
            // Each costs a core for a second or more in a debug build; more
            // at once would slow ordinary requests by contention alone.
            at_once: 2,
        },
    ]
}

/// A hostile document and how its refusal must look.
pub struct Hostile {
    pub what: &'static str,
    pub document: String,
    /// What the first error's message must hold (the limit, its key).
    pub message: Vec<String>,
    /// The longest the refusal may take.
    pub within: Duration,
    /// How many are sent at once: at least the worker threads of either
    /// binary on a two-core machine, so work done on them would hold every one.
    pub at_once: usize,
}

/// POSTs each of `hostile` several times at once while another thread
/// keeps sending `GET /v2/` and a small search, and fails unless every
/// hostile document got a 422 with `GRAPHQL_VALIDATION_FAILED` and its
/// message in time, every ordinary request answered within a second, and
/// the server still answers afterwards.
pub fn ensure_refused_while_serving(http: &Registry, hostile: &[Hostile]) -> Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    let (started, first_round) = mpsc::channel();
    let prober = {
        let (http, stop) = (http.clone(), stop.clone());
        thread::spawn(move || probe(&http, &stop, started))
    };
    first_round
        .recv_timeout(Duration::from_secs(10))
        .context("the first ordinary requests did not answer")?;
    let refused = hostile.iter().try_for_each(|h| refuse_at_once(http, h));
    stop.store(true, Ordering::SeqCst);
    let probed = prober.join().map_err(|_| anyhow!("the prober panicked"))?;
    refused?;
    let (rounds, worst) = probed?;
    ensure!(rounds >= 2, "only {rounds} rounds of ordinary requests ran");
    ensure!(
        worst < ORDINARY,
        "an ordinary request took {worst:?} while hostile documents were refused"
    );
    let alive = http.get("/v2/").send()?.status();
    ensure!(alive == 200, "GET /v2/ afterwards: {alive}");
    Ok(())
}

fn refuse_at_once(http: &Registry, hostile: &Hostile) -> Result<()> {
    let body = json!({ "query": hostile.document }).to_string();
    let sends: Vec<_> = (0..hostile.at_once)
        .map(|_| {
            let (http, body) = (http.clone(), body.clone());
            let limit = hostile.within + Duration::from_secs(10);
            thread::spawn(move || -> Result<(u16, Value, Duration)> {
                let sent = Instant::now();
                let resp = http
                    .post(SEARCH_PATH)
                    .header("Content-Type", "application/json")
                    .timeout(limit)
                    .body(body)
                    .send()?;
                let status = resp.status().as_u16();
                let answer: Value = resp.json()?;
                Ok((status, answer, sent.elapsed()))
            })
        })
        .collect();
    for send in sends {
        let (status, answer, took) = send
            .join()
            .map_err(|_| anyhow!("a sender panicked"))?
            .with_context(|| format!("sending the {}", hostile.what))?;
        let error = &answer["errors"][0];
        ensure!(
            status == 422 && error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED",
            "the {}: {status} {answer}",
            hostile.what
        );
        let message = error["message"].as_str().unwrap_or_default();
        ensure!(
            hostile.message.iter().all(|part| message.contains(part)),
            "the {}: expected {:?} in {message:?}",
            hostile.what,
            hostile.message
        );
        ensure!(
            took < hostile.within,
            "the {} was refused after {took:?}",
            hostile.what
        );
    }
    Ok(())
}

/// `GET /v2/` and a one-field search in a loop until `stop`: the rounds run
/// and the slowest answer. Says when the first round is done.
fn probe(
    http: &Registry,
    stop: &AtomicBool,
    started: mpsc::Sender<()>,
) -> Result<(usize, Duration)> {
    let search = [(
        "query",
        "{ RepoListWithNewestImage { Page { TotalCount } } }",
    )];
    let (mut rounds, mut worst) = (0, Duration::ZERO);
    while !stop.load(Ordering::SeqCst) {
        let sent = Instant::now();
        let base = http.get("/v2/").timeout(Duration::from_secs(20)).send()?;
        ensure!(base.status() == 200, "GET /v2/: {}", base.status());
        worst = worst.max(sent.elapsed());
        let sent = Instant::now();
        let found = http
            .get(SEARCH_PATH)
            .query(&search)
            .timeout(Duration::from_secs(20))
            .send()?;
        ensure!(found.status() == 200, "a small search: {}", found.status());
        worst = worst.max(sent.elapsed());
        rounds += 1;
        if rounds == 1 {
            let _ = started.send(());
        }
    }
    Ok((rounds, worst))
}
