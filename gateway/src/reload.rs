//! Config reloads while serving: a valid new config replaces the shared state for every request that starts after it; an unusable one is refused with its reason and the old one stays.
//!
//! The binary re-reads its file on `SIGHUP` and hands each parsed, validated
//! config to [`run`]. Every request takes the state in force when it starts
//! (a `watch` channel's current value) and keeps it to its end, so a reload
//! drops no connection and fails no request in flight: a pull that began
//! before it streams on from the member it began on. The background work
//! tied to a state (member probes, schema learning) moves to the new one.
//!
//! The listener is bound and bounded once, at start: a change to its keys
//! ([`RESTART_ONLY`]) is named in a warning and takes effect on the next
//! restart; the rest of the new config is in force at once.

use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::state::Gateway;

/// How to read one key's value from a config, to compare two.
type Read = fn(&Config) -> String;

/// The keys a reload cannot change, with how to read each from a config.
const RESTART_ONLY: [(&str, Read); 9] = [
    ("http.address", |c| c.http.address.clone()),
    ("http.port", |c| c.http.port.to_string()),
    ("http.tls", |c| format!("{:?}", c.http.tls)),
    ("http.workers", |c| c.workers().to_string()),
    ("log.level", |c| format!("{:?}", c.log.level)),
    ("timeouts.requestHeader", |c| {
        format!("{:?}", c.timeouts.request_header)
    }),
    ("timeouts.idle", |c| format!("{:?}", c.timeouts.idle)),
    ("timeouts.drain", |c| {
        format!("{:?}", (c.timeouts.drain, c.timeouts.drain_delay))
    }),
    ("limits.connections", |c| c.limits.connections.to_string()),
];

/// Keeps `current` on the state of the latest usable config from `reloads`,
/// with its probes and schema learning running, until aborted.
pub(crate) async fn run(current: watch::Sender<Arc<Gateway>>, mut reloads: mpsc::Receiver<Config>) {
    let mut background = Background::start(&current.borrow());
    while let Some(config) = reloads.recv().await {
        let old = current.borrow().clone();
        let fixed = restart_only(&old.config, &config);
        match old.reloaded(config) {
            Ok(new) => {
                let new = Arc::new(new);
                background = Background::start(&new);
                if !fixed.is_empty() {
                    tracing::warn!(
                        keys = %fixed.join(", "),
                        "config reloaded; these keys keep their old values until a restart"
                    );
                }
                tracing::info!(
                    members = %new.config.cluster.members.join(","),
                    placement = %new.config.placement,
                    "config reloaded"
                );
                current.send_replace(new);
            }
            Err(err) => tracing::error!(
                error = %format!("{err:#}"),
                "config reload refused; the config in force stays"
            ),
        }
    }
    // No more reloads: the background work still runs until the server stops.
    std::future::pending::<()>().await;
    drop(background);
}

/// The [`RESTART_ONLY`] keys whose values differ between `old` and `new`.
fn restart_only(old: &Config, new: &Config) -> Vec<&'static str> {
    RESTART_ONLY
        .iter()
        .filter(|(_, read)| read(old) != read(new))
        .map(|(key, _)| *key)
        .collect()
}

/// The tasks that serve one state: member health probes and schema learning.
/// Dropping it stops them.
struct Background {
    tasks: [JoinHandle<()>; 2],
}

impl Background {
    fn start(gw: &Arc<Gateway>) -> Self {
        let timeouts = &gw.config.timeouts;
        let probes = tokio::spawn(
            gw.members
                .clone()
                .probe_forever(timeouts.probe_interval, timeouts.probe),
        );
        // Until a member's schema is learned, zot's built-in copy validates.
        let learning = {
            let gw = gw.clone();
            tokio::spawn(async move {
                let interval = gw.config.timeouts.probe_interval;
                let limit = gw.config.limits.merged_body_bytes;
                crate::schema::learn(&gw.schema, &gw.members, interval, limit).await;
            })
        };
        Self {
            tasks: [probes, learning],
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        Config::parse(text).unwrap().validate().unwrap()
    }

    #[test]
    fn listener_keys_are_named_and_the_rest_are_not() {
        let old = config(
            r#"{"http":{"port":"5000"},"cluster":{"members":["127.0.0.1:5001"],"hashKey":"loremipsumdolors"}}"#,
        );
        let same_listener = config(
            r#"{"http":{"port":"5000"},"cluster":{"members":["127.0.0.1:5001","127.0.0.1:5002"],"hashKey":"loremipsumdolors"},"timeouts":{"response":"5s"}}"#,
        );
        assert!(restart_only(&old, &same_listener).is_empty());
        let moved = config(
            r#"{"http":{"port":"5005"},"cluster":{"members":["127.0.0.1:5001"],"hashKey":"loremipsumdolors"},"timeouts":{"idle":"5s"},"limits":{"connections":7}}"#,
        );
        assert_eq!(
            restart_only(&old, &moved),
            ["http.port", "timeouts.idle", "limits.connections"]
        );
    }
}
