//! `flotilla-gateway`: parse the command line and config, bind, build the gateway, announce, and hand over to [`flotilla_gateway::Server::serve`], with the config re-read on `SIGHUP`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};
use flotilla_gateway::config::Config;
use flotilla_gateway::placement::Ring;
use flotilla_gateway::rebalance::{self, rate};
use flotilla_serve::process;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

#[derive(Parser)]
#[command(
    name = "flotilla-gateway",
    version,
    about = "One registry endpoint in front of independent zot-compatible nodes"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the gateway described by a zot-style JSON config.
    Serve {
        config: PathBuf,
        #[command(flatten)]
        listen: process::ListenArgs,
    },
    /// Move every repository to its owner under CONFIG (members and
    /// previousMembers): print the plan, and with --apply carry it out.
    Rebalance {
        config: PathBuf,
        /// Copy, verify, then delete each source; without it, only print the plan.
        #[arg(long)]
        apply: bool,
        /// Repositories moved at once.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        /// Bandwidth cap for all copies together, bytes per second (50MiB, 200M).
        #[arg(long, value_parser = rate::parse)]
        max_rate: Option<u64>,
        /// One JSON object per line: the plan, each repository, the summary.
        #[arg(long)]
        json: bool,
        /// The operator's user, with read, create, update and delete on every repository.
        #[arg(long, env = "FLOTILLA_REBALANCE_USER")]
        user: Option<String>,
        /// A file holding the user's password (or FLOTILLA_REBALANCE_PASSWORD).
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// Check a config; print the owner of each repository named.
    VerifyConfig {
        config: PathBuf,
        repositories: Vec<String>,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    process::exit(run(Cli::parse().command).await)
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::VerifyConfig {
            config,
            repositories,
        } => {
            let cfg = load(&config)?;
            cfg.check_files()?;
            println!(
                "{}: ok ({} members, {} placement)",
                config.display(),
                cfg.cluster.members.len(),
                cfg.placement
            );
            let ring = Ring::new(cfg.placement, cfg.hash_key(), cfg.cluster.members.clone());
            for repo in repositories {
                println!("{repo} -> {}", ring.members()[ring.owner(&repo)]);
            }
            Ok(())
        }
        Command::Rebalance {
            config,
            apply,
            concurrency,
            max_rate,
            json,
            user,
            password_file,
        } => {
            let cfg = load(&config)?;
            cfg.check_files()?;
            let credentials = credentials(user, password_file)?;
            rebalance::run(
                cfg,
                rebalance::Options {
                    apply,
                    concurrency,
                    max_rate,
                    json,
                    credentials,
                },
            )
            .await
        }
        Command::Serve { config, listen } => {
            let mut cfg = load(&config)?;
            listen
                .clone()
                .apply(&mut cfg.http.address, &mut cfg.http.port);
            process::init_logging(cfg.log.level.as_deref().unwrap_or("info"));
            cfg.limits.connections = process::fit_descriptor_limit(cfg.limits.connections);
            let listener = process::bind(&cfg.http.address, cfg.http.port).await?;
            let tls = cfg.http.tls.is_some();
            let server = flotilla_gateway::build(cfg)?;
            // Before the announcement: SIGHUP's default action ends the process.
            let reloads = reload_on_hangup(config, listen)?;
            process::announce(&listener, tls)?;
            server
                .serve(listener, process::shutdown_signal(), reloads)
                .await
        }
    }
}

/// The config re-read from `path` on each `SIGHUP`, with the command line's
/// overrides; one that cannot be read or is invalid is logged and skipped.
fn reload_on_hangup(
    path: PathBuf,
    listen: process::ListenArgs,
) -> anyhow::Result<mpsc::Receiver<Config>> {
    let mut hangups = signal(SignalKind::hangup()).context("listening for SIGHUP")?;
    let (reloads, received) = mpsc::channel(1);
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            match load(&path) {
                Ok(mut cfg) => {
                    listen
                        .clone()
                        .apply(&mut cfg.http.address, &mut cfg.http.port);
                    cfg.limits.connections = process::fit_descriptor_limit(cfg.limits.connections);
                    if reloads.send(cfg).await.is_err() {
                        break;
                    }
                }
                Err(err) => tracing::error!(
                    error = %format!("{err:#}"),
                    config = %path.display(),
                    "config reload refused; the config in force stays"
                ),
            }
        }
    });
    Ok(received)
}

/// The operator's credentials: the password from a file or the environment,
/// never from the command line, where any user could read it.
fn credentials(
    user: Option<String>,
    password_file: Option<PathBuf>,
) -> anyhow::Result<Option<rebalance::Credentials>> {
    let password = match &password_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("reading the password file {}", path.display()))?
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
        ),
        None => std::env::var("FLOTILLA_REBALANCE_PASSWORD").ok(),
    };
    match (user, password) {
        (Some(user), Some(password)) => Ok(Some(rebalance::Credentials { user, password })),
        (None, None) => Ok(None),
        (Some(_), None) => {
            anyhow::bail!("--user needs a password: --password-file or FLOTILLA_REBALANCE_PASSWORD")
        }
        (None, Some(_)) => anyhow::bail!("a password needs --user (or FLOTILLA_REBALANCE_USER)"),
    }
}

fn load(path: &Path) -> anyhow::Result<Config> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config {}", path.display()))?;
    Ok(Config::parse(&text)?.validate()?)
}
