//! `flotilla-node`: parse the command line and config, bind, and hand over to [`flotilla_node::serve`].

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use flotilla_node::{process, Config};

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
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Verify { config } => {
            load(&config)?;
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
            let listener =
                process::bind(&cfg.http.address, cfg.http.port, cfg.http.tls.is_some()).await?;
            flotilla_node::serve(listener, cfg, process::shutdown_signal()).await
        }
    }
}

fn load(path: &PathBuf) -> anyhow::Result<Config> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config {}", path.display()))?;
    Ok(Config::parse(&text)?.validate()?)
}
