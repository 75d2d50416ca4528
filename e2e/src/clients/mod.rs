//! Runners for the real registry clients the e2e tests drive, each always in plain-HTTP mode.
//!
//! - [`skopeo`]: copy between `oci:` layouts and `docker://` registries, list tags, inspect, delete.
//! - [`umoci`]: build an OCI layout from a directory tree, rootless.
//! - [`oras`]: the Python oras client, run in the venv `scripts/install-deps` makes.

pub mod oras;
pub mod skopeo;
pub mod umoci;
