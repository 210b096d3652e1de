//! Real tus clients for the upload stories: tus-js-client (Node) and tuspy
//! (Python). Nothing runs; the tests start the clients' scripts in
//! `tests/clients/` themselves. tus-js-client is installed with npm into
//! `~/.cache/mystery-buyer/node` (shared by every clone), tuspy with pip.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::process::{cache_dir, output, run_visible};

/// The tus-js-client release line the scripts are written for.
const TUS_JS_CLIENT: &str = "tus-js-client@4";
/// tus-js-client 4 needs Node 18 or later.
const NODE_MAJOR: u32 = 18;

/// `~/.cache/mystery-buyer/node`: a package root whose `node_modules` holds
/// tus-js-client and its dependencies.
fn node_root() -> Result<PathBuf> {
    Ok(cache_dir()?.join("node"))
}

fn marker(root: &Path) -> PathBuf {
    root.join("node_modules/tus-js-client/package.json")
}

pub fn install() -> Result<()> {
    check_node()?;
    install_tus_js_client()?;
    super::pip_install_unless_importable("tusclient.client", "tuspy")
}

/// Fails unless a `node` of a version tus-js-client supports is on PATH.
fn check_node() -> Result<()> {
    let version = output(Command::new("node").arg("--version")).map_err(|e| {
        anyhow::anyhow!(
            "`node` is missing or broken ({e:#}); the tus client tests need Node.js {NODE_MAJOR} \
             or later on PATH (Debian package `nodejs`, with `npm`)"
        )
    })?;
    let major = version
        .trim()
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok())
        .with_context(|| format!("cannot read the Node.js version {version:?}"))?;
    if major < NODE_MAJOR {
        bail!(
            "Node.js {} is too old: tus-js-client 4 needs {NODE_MAJOR} or later",
            version.trim()
        );
    }
    Ok(())
}

/// Installs tus-js-client 4 into the cache unless it is there. npm works in
/// a scratch folder that is renamed into place when it is done, so a killed
/// install never leaves a half-filled `node_modules` behind.
fn install_tus_js_client() -> Result<()> {
    let root = node_root()?;
    if marker(&root).is_file() {
        return Ok(());
    }
    let parent = root.parent().context("the cache dir has a parent")?;
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let scratch = parent.join(format!("node.partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
    std::fs::write(
        scratch.join("package.json"),
        "{\n  \"name\": \"mystery-buyer-test-clients\",\n  \"private\": true\n}\n",
    )?;
    eprintln!(
        "xtask: installing {TUS_JS_CLIENT} with npm into {}",
        root.display()
    );
    let installed = run_visible(
        Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--save-exact"])
            .arg(TUS_JS_CLIENT)
            .current_dir(&scratch),
    )
    .context("`npm install` failed (is npm on PATH? Debian package `npm`)");
    if let Err(e) = installed {
        let _ = std::fs::remove_dir_all(&scratch);
        return Err(e);
    }
    if !marker(&scratch).is_file() {
        let _ = std::fs::remove_dir_all(&scratch);
        bail!("npm finished but {} is missing", marker(&scratch).display());
    }
    if let Err(e) = std::fs::rename(&scratch, &root) {
        let _ = std::fs::remove_dir_all(&scratch);
        // Another run may have finished first; its copy is as good.
        if !marker(&root).is_file() {
            return Err(e).with_context(|| format!("moving npm's work to {}", root.display()));
        }
    }
    // The exact version is also in package.json (`--save-exact`) and
    // package-lock.json there.
    eprintln!(
        "xtask: tus-js-client {} installed in {}",
        installed_version(&root).unwrap_or_else(|| "(unknown version)".into()),
        root.display()
    );
    Ok(())
}

/// The `version` field of the installed tus-js-client's package.json.
fn installed_version(root: &Path) -> Option<String> {
    let text = std::fs::read_to_string(marker(root)).ok()?;
    let after = text.split_once("\"version\"")?.1;
    let value = after.split_once('"')?.1.split_once('"')?.0;
    Some(value.to_string())
}

/// Where the installed clients are; fails if [`install`] has not run.
pub struct TusClients {
    node_modules: PathBuf,
    python: String,
}

impl TusClients {
    pub fn locate() -> Result<Self> {
        let root = node_root()?;
        if !marker(&root).is_file() {
            bail!(
                "tus-js-client is not installed in {} (the install step should have done it)",
                root.display()
            );
        }
        let python = output(
            super::python().args(["-c", "import sys, tusclient.client; print(sys.executable)"]),
        )
        .context("tuspy is not importable in python3 (the install step should have done it)")?;
        eprintln!(
            "xtask: tus clients: tus-js-client {} in {}, tuspy in {}",
            installed_version(&root).unwrap_or_else(|| "(unknown version)".into()),
            root.display(),
            python.trim()
        );
        Ok(Self {
            node_modules: root.join("node_modules"),
            python: python.trim().to_string(),
        })
    }

    /// `MB_TEST_NODE_MODULES` (tus-js-client's `node_modules`) and
    /// `MB_TEST_PYTHON` (a python3 that imports tuspy).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "MB_TEST_NODE_MODULES",
                self.node_modules.to_string_lossy().into_owned(),
            ),
            ("MB_TEST_PYTHON", self.python.clone()),
        ]
    }
}
