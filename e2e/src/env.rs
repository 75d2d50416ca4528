//! Where things are: the repository root, the built binaries and the oras venv's python.
//!
//! Nothing here is machine-specific: the repository is found from this crate's
//! manifest directory, the binaries next to the running test executable, and
//! both can be overridden (`FLOTILLA_BIN_DIR`, `FLOTILLA_PYTHON`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The workspace root (the parent of `e2e/`).
pub fn repo_root() -> PathBuf {
    let e2e = Path::new(env!("CARGO_MANIFEST_DIR"));
    e2e.parent().unwrap_or(e2e).to_path_buf()
}

/// The directory that holds the built binaries: `FLOTILLA_BIN_DIR`, else
/// `target/<profile>/`, found from the test executable at
/// `target/<profile>/deps/<test>-<hash>`.
pub fn bin_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("FLOTILLA_BIN_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let exe = std::env::current_exe().context("locating the test executable")?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .with_context(|| format!("{} is not inside target/<profile>/deps", exe.display()))?;
    Ok(profile_dir.to_path_buf())
}

/// A built workspace binary such as `flotilla-node`.
pub fn binary(name: &str) -> Result<PathBuf> {
    let path = bin_dir()?.join(name);
    if !path.is_file() {
        bail!(
            "{name} is not built (looked for {}): run `cargo build --workspace --bins` first, \
             or point FLOTILLA_BIN_DIR at the directory that holds it",
            path.display()
        );
    }
    Ok(path)
}

/// The python of the venv that `scripts/install-deps` creates with oras in it.
pub fn python() -> Result<PathBuf> {
    let path = match std::env::var_os("FLOTILLA_PYTHON") {
        Some(path) => PathBuf::from(path),
        None => repo_root().join(".venv/bin/python"),
    };
    if !path.exists() {
        bail!(
            "the oras venv is missing (no {}): run scripts/install-deps, \
             or set FLOTILLA_PYTHON to a python that can `import oras`",
            path.display()
        );
    }
    Ok(path)
}
