//! Flotilla's own keys for what one client may hold of a listener (zot has none): `timeouts` and `limits`, shared by the node and the gateway.
//!
//! ```json
//! { "timeouts": {"requestHeader": "30s", "idle": "90s", "bodyStall": "60s"},
//!   "limits": {"connections": 10000} }
//! ```

use std::time::Duration;

use flotilla_protocol::config::{duration, ConfigError};
use serde::Deserialize;

use crate::listener;

/// The client-side timeouts of a listener; Go-style durations (`"30s"`, `"250ms"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct ClientTimeouts {
    /// A TLS handshake, and an HTTP/1 request head, must arrive within this
    /// (slow-header clients are cut off); on HTTP/1 it also bounds a
    /// keep-alive connection's wait for its next request. Default 30s.
    #[serde(deserialize_with = "duration")]
    pub request_header: Duration,
    /// A connection with no request in flight for this long is closed, on
    /// HTTP/1.1 and HTTP/2 alike. Default 90s.
    #[serde(deserialize_with = "duration")]
    pub idle: Duration,
    /// A request body may go this long without a byte before the request
    /// fails as the client's; a slow but steady upload is never cut. Default 60s.
    #[serde(deserialize_with = "duration")]
    pub body_stall: Duration,
}

impl Default for ClientTimeouts {
    fn default() -> Self {
        let listener = listener::Limits::default();
        Self {
            request_header: listener.header,
            idle: listener.idle,
            body_stall: Duration::from_secs(60),
        }
    }
}

/// The client-side limits of a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct ClientLimits {
    /// Client connections open at once; past it a new connection is answered
    /// `503` and closed. The descriptor limit is raised at start to fit it.
    /// Default 10000.
    pub connections: usize,
}

impl Default for ClientLimits {
    fn default() -> Self {
        Self {
            connections: listener::Limits::default().connections,
        }
    }
}

impl ClientTimeouts {
    /// The listener's bounds from these keys and `limits.connections`.
    pub fn listener(&self, limits: &ClientLimits) -> listener::Limits {
        listener::Limits {
            connections: limits.connections,
            header: self.request_header,
            idle: self.idle,
            // A node serves on its own runtime: its searches run on the
            // blocking pool, driven through the runtime's handle.
            workers: 0,
        }
    }

    pub fn validate(&self, limits: &ClientLimits) -> Result<(), ConfigError> {
        let zero = [
            ("timeouts.requestHeader", self.request_header.is_zero()),
            ("timeouts.idle", self.idle.is_zero()),
            ("timeouts.bodyStall", self.body_stall.is_zero()),
            ("limits.connections", limits.connections == 0),
        ];
        match zero.into_iter().find(|(_, zero)| *zero) {
            Some((key, _)) => Err(ConfigError::Invalid {
                key,
                message: "must be greater than 0".into(),
            }),
            None => Ok(()),
        }
    }
}
