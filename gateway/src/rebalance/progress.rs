//! What an operator sees while a rebalance runs: a progress bar on a terminal, plain lines otherwise, JSON lines with `--json`.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{HumanBytes, HumanDuration, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{json, Value};
use tokio::time::Instant;

/// How often plain output reports the totals between repositories.
const LINE_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Terminal,
    Lines,
    Json,
}

impl Progress {
    /// JSON lines when asked; a bar on a terminal; plain lines otherwise.
    pub(super) fn mode(json: bool) -> Mode {
        if json {
            Mode::Json
        } else if std::io::stdout().is_terminal() {
            Mode::Terminal
        } else {
            Mode::Lines
        }
    }
}

pub(super) struct Progress {
    mode: Mode,
    repositories: usize,
    bytes: u64,
    /// Bytes sent, and bytes found on the target or mounted there.
    copied: AtomicU64,
    skipped: AtomicU64,
    done: AtomicUsize,
    failed: AtomicUsize,
    started: Instant,
    last_line: Mutex<Instant>,
    bar: Option<ProgressBar>,
}

impl Progress {
    pub(super) fn new(mode: Mode, repositories: usize, bytes: u64) -> Self {
        let bar = (mode == Mode::Terminal).then(|| {
            let bar = ProgressBar::with_draw_target(Some(bytes), ProgressDrawTarget::stdout());
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_message(format!("0/{repositories} repositories"));
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Self {
            mode,
            repositories,
            bytes,
            copied: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            done: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            started: Instant::now(),
            last_line: Mutex::new(Instant::now()),
            bar,
        }
    }

    /// A line of the report: printed above the bar, as is, or as JSON.
    pub(super) fn say(&self, text: &str, event: Value) {
        match (&self.bar, self.mode) {
            (Some(bar), _) => bar.println(text),
            (None, Mode::Json) => emit(&event),
            (None, _) => println!("{text}"),
        }
    }

    /// Blob bytes sent to a target.
    pub(super) fn copied(&self, n: u64) {
        self.copied.fetch_add(n, Ordering::Relaxed);
        self.advance(n);
    }

    /// Blob bytes a target already had, or mounted.
    pub(super) fn skipped(&self, n: u64) {
        self.skipped.fetch_add(n, Ordering::Relaxed);
        self.advance(n);
    }

    fn advance(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        } else if self.mode == Mode::Lines {
            let due = {
                let mut last = self.last_line.lock().unwrap_or_else(|p| p.into_inner());
                let due = last.elapsed() >= LINE_EVERY;
                if due {
                    *last = Instant::now();
                }
                due
            };
            if due {
                println!("{}", self.totals());
            }
        }
    }

    /// One repository finished, moved or not.
    pub(super) fn finished(&self, ok: bool, text: &str, event: Value) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if !ok {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{done}/{} repositories", self.repositories));
        }
        self.say(text, event);
    }

    fn totals(&self) -> String {
        let elapsed = self.started.elapsed().as_secs_f64().max(1e-3);
        let moved = self.copied.load(Ordering::Relaxed) + self.skipped.load(Ordering::Relaxed);
        let rate = self.copied.load(Ordering::Relaxed) as f64 / elapsed;
        let eta = if rate > 0.0 && self.bytes > moved {
            HumanDuration(Duration::from_secs_f64((self.bytes - moved) as f64 / rate)).to_string()
        } else {
            "-".into()
        };
        format!(
            "progress: {}/{} repositories, {} of {}, {}/s, ETA {eta}",
            self.done.load(Ordering::Relaxed),
            self.repositories,
            HumanBytes(moved),
            HumanBytes(self.bytes),
            HumanBytes(rate as u64),
        )
    }

    /// The closing summary; the number of repositories that failed.
    pub(super) fn finish(&self) -> usize {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        let elapsed = self.started.elapsed().as_secs_f64();
        let (copied, skipped) = (
            self.copied.load(Ordering::Relaxed),
            self.skipped.load(Ordering::Relaxed),
        );
        let (done, failed) = (
            self.done.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        );
        let text = format!(
            "done: {} of {} repositories in {:.1} s, {} sent ({}/s), {} already there or mounted, {failed} failed",
            done - failed,
            self.repositories,
            elapsed,
            HumanBytes(copied),
            HumanBytes((copied as f64 / elapsed.max(1e-3)) as u64),
            HumanBytes(skipped),
        );
        self.say(
            &text,
            json!({"event": "done", "moved": done - failed, "failed": failed,
                   "repositories": self.repositories, "seconds": elapsed,
                   "bytesSent": copied, "bytesSkipped": skipped}),
        );
        failed
    }
}

/// One JSON line on stdout.
pub(super) fn emit(event: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{event}");
}
