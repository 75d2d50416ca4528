//! `flotilla-gateway`: parse the command line and config, bind, build the gateway, announce, and hand over to [`flotilla_gateway::Server::serve`].

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};
use flotilla_gateway::config::Config;
use flotilla_gateway::placement::Ring;
use flotilla_serve::process;

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
        Command::Serve { config, listen } => {
            let mut cfg = load(&config)?;
            listen.apply(&mut cfg.http.address, &mut cfg.http.port);
            process::init_logging(cfg.log.level.as_deref().unwrap_or("info"));
            cfg.limits.connections = process::fit_descriptor_limit(cfg.limits.connections);
            let listener = process::bind(&cfg.http.address, cfg.http.port).await?;
            let tls = cfg.http.tls.is_some();
            let server = flotilla_gateway::build(cfg)?;
            process::announce(&listener, tls)?;
            server.serve(listener, process::shutdown_signal()).await
        }
    }
}

fn load(path: &Path) -> anyhow::Result<Config> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config {}", path.display()))?;
    Ok(Config::parse(&text)?.validate()?)
}
