//! The browsers the panel's stories drive, both headless: Debian's
//! Chromium through playwright-core, and Debian's Firefox ESR through
//! puppeteer-core over WebDriver BiDi (both installed with the other npm
//! packages, see `npm.rs`). Nothing runs here; each story starts its own
//! browser with a fresh profile.

use std::path::Path;
use std::process::Command;

use anyhow::{Result, bail};

use crate::process::{is_root, output, run_visible, succeeds};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const FIREFOX: &str = "/usr/bin/firefox-esr";

/// The Debian packages, by the program each one installs.
const PACKAGES: &[(&str, &str)] = &[("chromium", CHROMIUM), ("firefox-esr", FIREFOX)];

/// Installs Debian's `chromium` and `firefox-esr` packages unless they are
/// there.
pub fn install() -> Result<()> {
    let missing: Vec<&str> = PACKAGES
        .iter()
        .filter(|(_, program)| !Path::new(program).is_file())
        .map(|(package, _)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !is_root() || !succeeds(Command::new("apt-get").arg("--version")) {
        bail!(
            "the browsers are not installed (missing: {}) and apt-get cannot be run as root \
             here: install the Debian packages {}",
            missing.join(", "),
            missing.join(" and ")
        );
    }
    eprintln!("xtask: installing {} with apt-get", missing.join(" "));
    run_visible(Command::new("apt-get").arg("update"))?;
    run_visible(
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    for (package, program) in PACKAGES {
        if !Path::new(program).is_file() {
            bail!("apt-get installed {package} but {program} is still missing");
        }
    }
    Ok(())
}

/// The browsers and their drivers, found.
pub struct Browser;

impl Browser {
    pub fn locate() -> Result<Self> {
        let root = super::npm::root()?;
        for (program, driver) in [(CHROMIUM, "playwright-core"), (FIREFOX, "puppeteer-core")] {
            super::npm::locate(driver)?;
            let version = output(Command::new(program).arg("--version"))
                .map_err(|e| anyhow::anyhow!("{program} does not run: {e:#}"))?;
            eprintln!(
                "xtask: browser: {} with {driver} {}",
                version.trim(),
                super::npm::version(&root, driver).unwrap_or_else(|| "(unknown version)".into()),
            );
        }
        Ok(Self)
    }

    /// `MB_TEST_CHROMIUM` and `MB_TEST_FIREFOX`; the drivers are in
    /// `MB_TEST_NODE_MODULES` (see `npm.rs`).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("MB_TEST_CHROMIUM", CHROMIUM.to_string()),
            ("MB_TEST_FIREFOX", FIREFOX.to_string()),
        ]
    }
}
