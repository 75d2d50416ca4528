//! What both Flotilla binaries need to serve HTTP, and nothing about what they serve.
//!
//! `flotilla-node` and `flotilla-gateway` are both long-running servers facing
//! untrusted clients; they share one way of binding, bounding, encrypting,
//! logging and stopping, so an operator configures and reads both alike.
//!
//! # Layout
//! - [`listener`]: the accept loop (HTTP/1.1, HTTP/2, TLS, drain) with every client bounded in
//!   number and time.
//! - [`clients`]: Flotilla's `timeouts` and `limits` config keys for those bounds.
//! - [`tls`]: rustls configurations from zot's `TLSConfig`, for listeners and for clients.
//! - [`process`]: logging, binding with the one stdout line, one-line errors, shutdown signals.
//! - [`access_log`]: request ids and the one access line per request.
//! - [`ui`]: a directory of built web-UI files, served as zot serves its embedded UI.
//! - [`workers`]: thread-per-core runtimes the listener deals connections to.

#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

pub mod access_log;
pub mod clients;
pub mod listener;
pub mod process;
pub mod tls;
pub mod ui;
pub mod workers;
