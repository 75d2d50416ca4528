//! umoci: builds an OCI image layout from a directory tree, rootless, as an image author would.

use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::Result;

use crate::process::{self, CLIENT_TIMEOUT};
use crate::Layout;

/// The umoci command line tool.
#[derive(Debug)]
pub struct Umoci;

impl Umoci {
    /// Fails if umoci is not installed.
    pub fn new() -> Result<Self> {
        process::require_tool("umoci")?;
        Ok(Self)
    }

    /// Builds `<work>/layout` holding image `tag` whose root filesystem has
    /// `files` (path, content): `umoci init`, `new`, `unpack --rootless`,
    /// write the files, `repack`.
    pub fn build(&self, work: &Path, tag: &str, files: &[(&str, &[u8])]) -> Result<Layout> {
        let layout = work.join("layout");
        let image = format!("{}:{tag}", layout.display());
        let bundle = work.join("bundle");
        self.run(&["init", "--layout", &layout.to_string_lossy()])?;
        self.run(&["new", "--image", &image])?;
        self.run(&[
            "unpack",
            "--rootless",
            "--image",
            &image,
            &bundle.to_string_lossy(),
        ])?;
        for (path, content) in files {
            let target = bundle.join("rootfs").join(path);
            if let Some(parent) = target.parent() {
                fs::create_dir_all(parent)?;
            }
            fs::write(target, content)?;
        }
        self.run(&["repack", "--image", &image, &bundle.to_string_lossy()])?;
        Layout::open(&layout)
    }

    fn run(&self, args: &[&str]) -> Result<()> {
        process::run(Command::new("umoci").args(args), CLIENT_TIMEOUT)?
            .check()
            .map(drop)
    }
}
