//! `flotilla-node`: parse the command line and config, bind, build the node, announce, and hand over to [`flotilla_node::Server::serve`].

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use flotilla_node::Config;
use flotilla_serve::process;

#[derive(Parser)]
#[command(
    name = "flotilla-node",
    version,
    about = "A zot-compatible OCI registry node"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the registry described by a zot-style JSON config.
    Serve {
        config: PathBuf,
        #[command(flatten)]
        listen: process::ListenArgs,
        /// Overrides `storage.rootDirectory`.
        #[arg(long)]
        root: Option<PathBuf>,
        /// Overrides `log.level`.
        #[arg(long)]
        log_level: Option<String>,
    },
    /// Check a config and exit, as `zot verify` does.
    Verify { config: PathBuf },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    process::exit(run(Cli::parse().command).await)
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Verify { config } => {
            let cfg = load(&config)?;
            flotilla_node::server::check(&cfg)?;
            if let Some(inert) = inert(&cfg) {
                eprintln!("{inert}");
            }
            println!("{}: ok", config.display());
            Ok(())
        }
        Command::Serve {
            config,
            listen,
            root,
            log_level,
        } => {
            let mut cfg = load(&config)?;
            listen.apply(&mut cfg.http.address, &mut cfg.http.port);
            if let Some(root) = root {
                cfg.storage.root_directory = root;
            }
            if log_level.is_some() {
                cfg.log.level = log_level;
            }
            let mut cfg = cfg.validate()?;
            process::init_logging(cfg.log.level.as_deref().unwrap_or("info"));
            cfg.limits.connections = process::fit_descriptor_limit(cfg.limits.connections);
            if let Some(inert) = inert(&cfg) {
                tracing::warn!("{inert}");
            }
            let listener = process::bind(&cfg.http.address, cfg.http.port).await?;
            let server = flotilla_node::build(&cfg).await?;
            process::announce(&listener, cfg.http.tls.is_some())?;
            server.serve(listener, process::shutdown_signal()).await
        }
    }
}

/// The one line naming the zot keys accepted without effect, if any.
fn inert(cfg: &Config) -> Option<String> {
    let keys = cfg.inert_keys();
    (!keys.is_empty()).then(|| {
        format!(
            "zot keys accepted with no effect on this node: {}",
            keys.join(", ")
        )
    })
}

fn load(path: &PathBuf) -> anyhow::Result<Config> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config {}", path.display()))?;
    Ok(Config::parse(&text)?.validate()?)
}
