//! A zot-compatible OCI registry node: the OCI Distribution API over zot's on-disk layout.
//!
//! The node is what Flotilla's gateway puts behind one public endpoint; it is
//! also a registry on its own. It never learns about the gateway: anything the
//! gateway needs, it must get from the public API, as it would from zot.
//!
//! # Layout
//! - [`config`]: zot's JSON configuration, parsed from a string and validated once.
//! - `api`: the route table ([`route`]), one file per family of routes, and the hyper service.
//! - `auth`: htpasswd authentication and zot's `accessControl` authorization.
//! - `storage`: one OCI image layout per repository; atomic blobs, manifests and uploads.
//! - [`graphql`]: zot's search schema and a GraphQL engine over it (validation, projection, introspection).
//! - [`search`]: zot's search semantics: paging, sorting, ranking, and the resolvers of every query.
//! - `meta`: what zot's metadata database knows, rebuilt from storage and kept in redb.
//! - [`error`]: the one error type and its mapping to OCI error JSON.
//! - [`paging`]: zot's `n`/`last` paging of catalogs and tag lists, shared with the gateway's merged catalog.
//! - [`digest`], [`name`]: the two validated identifiers every route carries.
//! - [`server`]: binds nothing itself; builds the node, then serves a bound listener until shutdown.
//! - [`process`]: logging, binding with the stdout line, shutdown signals — for both binaries.
//! - [`listener`]: the accept loop (HTTP/1.1, HTTP/2, TLS, drain) with every client bounded in number and time, shared with the gateway.
//! - [`stall`]: a body that fails when its sender stalls (the node's request bodies).
//! - [`access_log`]: request ids and the one access line per request, for both binaries.
//! - [`tls`]: rustls configurations from zot's `TLSConfig`, shared with the gateway.
//! - `fuzzing`: entry points for the fuzz targets (`fuzz/`); not an API.

#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

pub mod access_log;
mod api;
mod auth;
pub mod config;
pub mod digest;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod graphql;
pub mod listener;
mod meta;
pub mod name;
pub mod paging;
pub mod process;
pub mod search;
pub mod server;
pub mod stall;
mod storage;
pub mod tls;

pub use api::route;
pub use config::Config;
pub use server::{build, Server};
