//! What a zot-compatible node and Flotilla's gateway must agree on because zot defines it.
//!
//! The gateway fronts any zot-compatible node as a peer, so nothing here
//! belongs to one side: each module is a piece of zot's public contract,
//! written once so that `flotilla-node` answers it and `flotilla-gateway`
//! routes, plans and merges by the very same rules. Nothing here stores,
//! authenticates or serves; it is data and pure functions.
//!
//! # Layout
//! - [`name`], [`digest`]: the two validated identifiers every repository route carries.
//! - [`route`]: the request-target forms and zot's route shapes, classified once from the path.
//! - [`oci_error`]: the OCI error JSON zot writes, code by code, byte for byte.
//! - [`paging`]: zot's `n`/`last` paging of the catalog and tag lists, and its `Link` header.
//! - [`graphql`]: zot's search schema as a model, and the GraphQL engine on it (cost bounds,
//!   normalisation, projection, introspection, the HTTP transport) that both sides run.
//! - [`search`]: zot's paging, sorting and ranking rules for search results.
//! - [`session_cookie`]: the cookies of zot's UI login sessions, read and written as zot's Go server does.
//! - [`config`]: the config keys zot defines for both binaries (`http.tls`, `log`), its ways of
//!   writing ports and durations, and errors that name the key at fault.

#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

pub mod config;
pub mod digest;
pub mod graphql;
pub mod name;
pub mod oci_error;
pub mod paging;
pub mod route;
pub mod search;
pub mod session_cookie;
