//! A zot-compatible OCI registry node: the OCI Distribution API over zot's on-disk layout.
//!
//! The node is what Flotilla's gateway puts behind one public endpoint; it is
//! also a registry on its own. It never learns about the gateway: anything the
//! gateway needs, it must get from the public API, as it would from zot.
//!
//! What it shares with the gateway lives in two crates beside it:
//! `flotilla-protocol` (zot's contract: names, routes, OCI errors, paging,
//! the GraphQL search model) and `flotilla-serve` (the bounded listener, TLS,
//! process start and stop, the access log).
//!
//! # Layout
//! - [`config`]: zot's JSON configuration, parsed from a string and validated once.
//! - `api`: the dispatch on zot's routes, one file per family of routes, and the hyper service.
//! - `auth`: htpasswd authentication and zot's `accessControl` authorization.
//! - `storage`: one OCI image layout per repository; atomic blobs, manifests and uploads.
//! - [`search`]: the resolvers of every search query, on zot's rules.
//! - `meta`: what zot's metadata database knows, rebuilt from storage and kept in redb.
//! - [`error`]: the one error type and its mapping to OCI error JSON.
//! - [`server`]: binds nothing itself; builds the node, then serves a bound listener until shutdown.
//! - [`stall`]: a body that fails when its sender stalls (the node's request bodies).
//! - `fuzzing`: entry points for the fuzz targets (`fuzz/`); not an API.

#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

mod api;
mod auth;
pub mod config;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
mod meta;
pub mod search;
pub mod server;
pub mod stall;
mod storage;

pub use config::Config;
pub use server::{build, Server};
