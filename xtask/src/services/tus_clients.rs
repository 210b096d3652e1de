//! Real tus clients for the upload stories: tus-js-client (Node) and tuspy
//! (Python). Nothing runs; the tests start the clients' scripts in
//! `tests/clients/` themselves. tus-js-client comes with the other npm
//! packages (see `npm.rs`), tuspy with pip.

use anyhow::{Context, Result};

use crate::process::output;

pub fn install() -> Result<()> {
    super::pip_install_unless_importable("tusclient.client", "tuspy")
}

/// Where the installed clients are; fails if [`install`] has not run.
pub struct TusClients {
    python: String,
}

impl TusClients {
    pub fn locate() -> Result<Self> {
        super::npm::locate("tus-js-client")?;
        let python = output(
            super::python().args(["-c", "import sys, tusclient.client; print(sys.executable)"]),
        )
        .context("tuspy is not importable in python3 (the install step should have done it)")?;
        let root = super::npm::root()?;
        eprintln!(
            "xtask: tus clients: tus-js-client {} in {}, tuspy in {}",
            super::npm::version(&root, "tus-js-client")
                .unwrap_or_else(|| "(unknown version)".into()),
            root.display(),
            python.trim()
        );
        Ok(Self {
            python: python.trim().to_string(),
        })
    }

    /// `MB_TEST_PYTHON` (a python3 that imports tuspy); tus-js-client is in
    /// `MB_TEST_NODE_MODULES` (see `npm.rs`).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![("MB_TEST_PYTHON", self.python.clone())]
    }
}
