//! The browser the panel's stories drive: Debian's Chromium, headless,
//! through playwright-core (installed with the other npm packages, see
//! `npm.rs`). Nothing runs here; each story starts its own browser with a
//! fresh profile.

use std::path::Path;
use std::process::Command;

use anyhow::{Result, bail};

use crate::process::{is_root, output, run_visible, succeeds};

pub const CHROMIUM: &str = "/usr/bin/chromium";

/// Installs Debian's `chromium` package unless it is there.
pub fn install() -> Result<()> {
    if Path::new(CHROMIUM).is_file() {
        return Ok(());
    }
    if !is_root() || !succeeds(Command::new("apt-get").arg("--version")) {
        bail!(
            "Chromium is not installed ({CHROMIUM} is missing) and apt-get cannot be run as root \
             here: install the Debian package `chromium`"
        );
    }
    eprintln!("xtask: installing chromium with apt-get");
    run_visible(Command::new("apt-get").arg("update"))?;
    run_visible(
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", "chromium"])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    if !Path::new(CHROMIUM).is_file() {
        bail!("apt-get installed chromium but {CHROMIUM} is still missing");
    }
    Ok(())
}

/// Chromium and playwright-core, found.
pub struct Browser;

impl Browser {
    pub fn locate() -> Result<Self> {
        super::npm::locate("playwright-core")?;
        let version = output(Command::new(CHROMIUM).arg("--version"))
            .map_err(|e| anyhow::anyhow!("{CHROMIUM} does not run: {e:#}"))?;
        let root = super::npm::root()?;
        eprintln!(
            "xtask: browser: {} with playwright-core {}",
            version.trim(),
            super::npm::version(&root, "playwright-core")
                .unwrap_or_else(|| "(unknown version)".into()),
        );
        Ok(Self)
    }

    /// `MB_TEST_CHROMIUM`; playwright-core is in `MB_TEST_NODE_MODULES`
    /// (see `npm.rs`).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![("MB_TEST_CHROMIUM", CHROMIUM.to_string())]
    }
}
