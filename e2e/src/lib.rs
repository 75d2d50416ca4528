//! End-to-end harness: real Flotilla processes on loopback, driven by real registry clients.
//!
//! A test reads as a user story: start a node, push with skopeo or oras, pull
//! back, compare bytes. This crate hides the process plumbing behind a small
//! DSL so that the story is all a test file holds. Every action returns
//! `anyhow::Result` with enough context (the command, its output, the node's
//! log) to explain a failure without rerunning it.
//!
//! # Layout
//! - [`env`]: where the built binaries, the repository and the oras venv are.
//! - [`process`]: runs an external tool with a bounded wait; a missing tool fails with the fix.
//! - [`node`]: one `flotilla-node` process with its own config and data dir ([`Node`]).
//! - [`auth`]: htpasswd users with bcrypt hashes ([`Users`]).
//! - [`http`]: raw HTTP against a registry, for what clients hide ([`Registry`]).
//! - [`layout`]: OCI image layouts on disk: built by hand, read back, compared byte for byte.
//! - [`clients`]: the skopeo, umoci and oras (Python) runners.
//! - [`daemon`]: server processes started by hand: the `listening on` line, free ports, SIGTERM.
//! - [`conns`]: raw connections for a listener's bounds (slow heads, idle, floods), and open descriptors.
//! - `settings`: dotted-key overrides of a config, behind the builders' `setting`.
//! - [`fake_member`]: a scriptable fake member for the faults real registries do not make on cue ([`FakeMember`]).
//! - [`gateway`]: one `flotilla-gateway` process in front of members ([`Gateway`]).
//! - [`cluster`]: N members behind a gateway, and where each repository must land ([`Cluster`]).
//! - [`fake_member`]: a member that misbehaves on purpose, for faults a real node cannot make ([`FakeMember`]).
//! - [`distribution`]: one `docker-registry` process, a node Flotilla did not write ([`Distribution`]).
//! - [`pki`]: a test CA with server and client certificates ([`TestPki`]).
//! - [`tls_node`]: a `flotilla-node` serving HTTPS and requiring client certificates ([`TlsNode`]).
//! - [`balancer`]: haproxy or nginx from `deploy/`, rendered for loopback, in front of gateways.
//! - [`search_fixture`]: a realistic registry for the search extension, and what zot would answer about it.
//! - [`quickstart`]: `scripts/quickstart` as a newcomer runs it ([`quickstart::Quickstart`]).
//! - [`rebalance`]: `flotilla-gateway rebalance` run, killed and resumed; the checks that nothing was lost.
//! - [`redis`]: a real `redis-server` on loopback, the gateways' shared session store.
//! - [`ui_session`]: zot's web UI as a client: login, cookie-carried requests, logout.
//! - [`oracle`]: the same registry in one node and spread over fleets behind a gateway, asked alike ([`oracle::Oracle`]).

#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

pub mod auth;
pub mod balancer;
pub mod clients;
pub mod cluster;
pub mod conns;
pub mod daemon;
pub mod distribution;
pub mod env;
pub mod fake_member;
pub mod gateway;
pub mod http;
pub mod layout;
pub mod node;
pub mod oracle;
pub mod pki;
pub mod process;
pub mod quickstart;
pub mod rebalance;
pub mod redis;
pub mod search_fixture;
mod settings;
pub mod tls_node;
pub mod ui_session;

pub use auth::Users;
pub use clients::oras::{Oras, Push};
pub use clients::{skopeo::Skopeo, umoci::Umoci};
pub use cluster::{push_small_image, Cluster, Member, SmallImage};
pub use distribution::Distribution;
pub use fake_member::{Exchange, FakeMember, Reply};
pub use gateway::Gateway;
pub use http::Registry;
pub use layout::{oci_ref, Descriptor, Layout, Platform};
pub use node::Node;
pub use pki::TestPki;
pub use tls_node::TlsNode;
