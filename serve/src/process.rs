//! What both binaries do around serving: JSON logs on stderr, binding, the one stdout line scripts read, one-line errors, and the shutdown signals.

use anyhow::Context;
use tokio::net::TcpListener;

/// `--address` and `--port`, which override the config's `http` listener in both binaries.
#[derive(Debug, Clone, clap::Args)]
pub struct ListenArgs {
    /// Overrides `http.address`.
    #[arg(long)]
    pub address: Option<String>,
    /// Overrides `http.port` (0 picks a free port).
    #[arg(long)]
    pub port: Option<u16>,
}

impl ListenArgs {
    /// Writes the overrides given into a config's `http.address` and `http.port`.
    pub fn apply(self, address: &mut String, port: &mut u16) {
        if let Some(a) = self.address {
            *address = a;
        }
        if let Some(p) = self.port {
            *port = p;
        }
    }
}

/// JSON logs on stderr at `level`, unless `RUST_LOG` says otherwise.
pub fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Binds `address:port`. Nothing is printed yet: [`announce`] does that once
/// everything else has been checked.
pub async fn bind(address: &str, port: u16) -> anyhow::Result<TcpListener> {
    let addr = format!("{address}:{port}");
    TcpListener::bind(&addr)
        .await
        .with_context(|| format!("http.address/http.port: cannot bind {addr}"))
}

/// Prints `listening on <scheme>://<addr>`: the one line on stdout, which
/// tests and scripts read to learn the port (0 picks one) and take as the
/// sign that the process is ready, so it comes after every check.
pub fn announce(listener: &TcpListener, tls: bool) -> anyhow::Result<()> {
    let scheme = if tls { "https" } else { "http" };
    println!("listening on {scheme}://{}", listener.local_addr()?);
    Ok(())
}

/// Ends the process: 0, or 1 with the error and its causes on one stderr
/// line. anyhow's own report would add a backtrace whenever
/// `RUST_BACKTRACE` is set; an operator needs only the message.
pub fn exit(result: anyhow::Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("Error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Raises the soft descriptor limit as far as `connections` clients need
/// (each may cost a second descriptor: a file, or a connection to a member),
/// up to the hard limit, and returns how many connections fit in what it
/// got. When the hard limit is short the cap is lowered to fit, with a
/// warning: a client past the cap is answered `503`, while one past the
/// descriptor limit would find the kernel refusing it unanswered.
pub fn fit_descriptor_limit(connections: usize) -> usize {
    let need = (connections as u64)
        .saturating_mul(2)
        .saturating_add(RESERVE);
    let got = match rlimit::increase_nofile_limit(need) {
        Ok(got) => got,
        Err(e) => {
            tracing::warn!(error = %e, "cannot raise the descriptor limit");
            return connections;
        }
    };
    if got >= need {
        return connections;
    }
    // Sockets being refused with a 503 hold a descriptor each for a moment.
    let reserve = RESERVE.min(got / 4) + crate::listener::SHEDDING as u64;
    let fit = usize::try_from(got.saturating_sub(reserve) / 2)
        .unwrap_or(connections)
        .max(1);
    tracing::warn!(
        limit = got,
        need,
        connections = fit,
        "the descriptor limit is below what limits.connections needs, so the cap is lowered to fit; raise the hard limit (ulimit -Hn) to serve more"
    );
    fit.min(connections)
}

/// Descriptors kept for what is not a client: listeners, logs, storage.
const RESERVE: u64 = 1024;

/// SIGTERM (what orchestrators send) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
