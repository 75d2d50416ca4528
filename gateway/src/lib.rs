//! Flotilla's gateway: one registry endpoint in front of independent zot-compatible nodes, each with its own storage.
//!
//! The gateway is stateless. It routes each Distribution API request to the
//! member that owns the repository, fans the catalog out and merges it, and
//! streams every body. Nothing on a member knows about the gateway.
//!
//! What it shares with the nodes comes from `flotilla-protocol` (zot's
//! contract: names, routes, OCI errors, paging, the GraphQL search model) and
//! `flotilla-serve` (the bounded listener, TLS, process start and stop, the
//! access log); it depends on no node.
//!
//! # Layout
//! Modules are listed from the top of a request's path down; each imports
//! only modules below it.
//! - `server`: building the gateway, then the listener (HTTP/1.1, HTTP/2, TLS) and graceful drain.
//! - `reload`: a new config on `SIGHUP` for the requests that start after it; none in flight fails.
//! - `dispatch`: a request's path top to bottom: classify, execute the route's strategy, record.
//! - [`route`]: the route table: every request classified once, each route with one strategy. Start here.
//! - `catalog`: the fanned-out, merged `/v2/_catalog`.
//! - `mount`: cross-member blob mounts.
//! - `search`: the GraphQL engine: plan each root field, fan out, merge by schema path.
//! - `session`: zot's UI login terminated at the gateway: its own session cookies, turned into the user's credentials towards members.
//! - `window`: the migration window: repositories found on their previous owner while a change of members settles.
//! - `proxy`: proxy-once; header hygiene both ways, `Location` rewriting.
//! - `state`: what every request shares: config, ring, members, metrics, schema, merge budget.
//! - `schema`: the search schema in force: learned from a member, the built-in copy until then.
//! - `members`: the pooled client to members, their health, the hop header.
//! - `body`: bodies watched on their way: whose turn it is, stalls and breaks blamed on the right side.
//! - `budget`: the gateway-wide memory budget all merges draw from.
//! - `metrics`: Prometheus metrics.
//! - `client`, `response`: who is asking; the response body type and the gateway's own answers.
//! - [`placement`]: `owner(repo)`, rendezvous or zot's modulo.
//! - [`config`]: zot's JSON keys (`http`, `cluster`) plus Flotilla's own, validated once.
//! - [`error`]: the one error type, mapped once to OCI error JSON (in `response`).
//! - [`rebalance`]: the `rebalance` command: move each repository to its owner over the Distribution API.
//! - `fuzzing`: entry points for the fuzz targets (`fuzz/`); not an API.

#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

mod body;
mod budget;
mod catalog;
mod client;
pub mod config;
mod dispatch;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
mod members;
mod metrics;
mod mount;
pub mod placement;
mod proxy;
pub mod rebalance;
mod reload;
mod response;
pub mod route;
mod schema;
mod search;
mod server;
mod session;
mod state;
mod window;

pub use server::{build, Server};
