//! Flotilla's gateway: one registry endpoint in front of independent zot-compatible nodes, each with its own storage.
//!
//! The gateway is stateless. It routes each Distribution API request to the
//! member that owns the repository, fans the catalog out and merges it, and
//! streams every body. Nothing on a member knows about the gateway.
//!
//! # Layout
//! - [`route`]: the route table: every request classified once, each route with one strategy. Start here.
//! - [`gateway`]: a request's path top to bottom: classify, execute the route's strategy, record.
//! - [`proxy`]: proxy-once; header hygiene both ways, `Location` rewriting.
//! - [`body`]: bodies watched on their way: whose turn it is, stalls and breaks blamed on the right side.
//! - [`catalog`]: the fanned-out, merged `/v2/_catalog`.
//! - [`budget`]: the gateway-wide memory budget all merges draw from.
//! - [`mount`]: cross-member blob mounts.
//! - [`members`]: the pooled client to members, their health, the hop header.
//! - [`placement`]: `owner(repo)`, rendezvous or zot's modulo.
//! - [`config`]: zot's JSON keys (`http`, `cluster`) plus Flotilla's own, validated once.
//! - `search`: the GraphQL engine: plan each root field, fan out, merge by schema path.
//! - [`error`]: the one error type, mapped once to OCI error JSON.
//! - `server`: building the gateway, then the listener (HTTP/1.1, HTTP/2, TLS) and graceful drain.
//! - `metrics`: Prometheus metrics.
//! - `fuzzing`: entry points for the fuzz targets (`fuzz/`); not an API.

#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

mod body;
mod budget;
mod catalog;
pub mod config;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
mod gateway;
mod members;
mod metrics;
mod mount;
pub mod placement;
mod proxy;
pub mod route;
mod search;
mod server;

pub use server::{build, Server};
