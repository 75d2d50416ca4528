//! Runners for the real clients the e2e tests drive (registry clients and a browser), each always in plain-HTTP mode.
//!
//! - [`skopeo`]: copy between `oci:` layouts and `docker://` registries, list tags, inspect, delete.
//! - [`umoci`]: build an OCI layout from a directory tree, rootless.
//! - [`oras`]: the Python oras client, run in the venv `scripts/install-deps` makes.
//! - [`chromium`]: Debian's Chromium, headless, for what only a browser does (its cookie jar).

pub mod chromium;
pub mod oras;
pub mod skopeo;
pub mod umoci;
