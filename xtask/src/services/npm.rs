//! The npm packages the tests run under Node: tus-js-client (the upload
//! stories), playwright-core (the browser stories in Chromium) and
//! puppeteer-core (the pages in Firefox). They share one
//! package root, `~/.cache/mystery-buyer/node` (shared by every clone), so
//! they are installed together: when any is missing, all are installed into
//! a scratch folder that then replaces the root in one rename.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::process::{cache_dir, output, run_visible};

/// What is installed, as `(package, npm spec)`. Exact versions land in
/// the root's package.json (`--save-exact`) and package-lock.json.
pub const PACKAGES: &[(&str, &str)] = &[
    ("tus-js-client", "tus-js-client@4"),
    // Drives Debian's Chromium over the DevTools protocol; no browser
    // download (that is the `playwright` package, not `-core`).
    ("playwright-core", "playwright-core@1.65"),
    // Drives Debian's stock Firefox over WebDriver BiDi, which
    // playwright-core cannot (it needs its own patched build). 24.12 is
    // the release made for Firefox 140, Debian's ESR; later ones send BiDi
    // commands 140 does not know (setViewport fails on
    // `emulation.setScreenOrientationOverride`).
    ("puppeteer-core", "puppeteer-core@24.12"),
];

/// tus-js-client 4 and playwright-core 1.65 need Node 18 or later,
/// puppeteer-core 24 too (25 wants Node 22).
const NODE_MAJOR: u32 = 18;

/// `~/.cache/mystery-buyer/node`: a package root whose `node_modules`
/// holds every package of [`PACKAGES`].
pub fn root() -> Result<PathBuf> {
    Ok(cache_dir()?.join("node"))
}

fn marker(root: &Path, package: &str) -> PathBuf {
    root.join("node_modules").join(package).join("package.json")
}

/// Whether every package is installed in the version its spec names
/// (`name@4` holds 4.x, `name@24.12` holds 24.12.x), so changing a spec
/// here reinstalls.
fn complete(root: &Path) -> bool {
    PACKAGES.iter().all(|(package, spec)| {
        let wanted = spec.rsplit_once('@').map_or("", |(_, v)| v);
        version(root, package).is_some_and(|v| v == wanted || v.starts_with(&format!("{wanted}.")))
    })
}

/// Installs the packages unless all are there. npm works in a scratch
/// folder that is renamed into place when it is done, so a killed install
/// never leaves a half-filled `node_modules` behind.
pub fn install() -> Result<()> {
    check_node()?;
    let root = root()?;
    if complete(&root) {
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
    let specs: Vec<&str> = PACKAGES.iter().map(|(_, spec)| *spec).collect();
    eprintln!(
        "xtask: installing {} with npm into {}",
        specs.join(", "),
        root.display()
    );
    let installed = run_visible(
        Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--save-exact"])
            .args(&specs)
            .current_dir(&scratch),
    )
    .context("`npm install` failed (is npm on PATH? Debian package `npm`)");
    if let Err(e) = installed {
        let _ = std::fs::remove_dir_all(&scratch);
        return Err(e);
    }
    if !complete(&scratch) {
        let _ = std::fs::remove_dir_all(&scratch);
        bail!(
            "npm finished but {} lacks one of {specs:?}",
            scratch.display()
        );
    }
    // An older root (fewer packages) steps aside first; a run using it
    // keeps its open files, and the next run finds the new one.
    let old = parent.join(format!("node.old-{}", std::process::id()));
    let moved_old = root.exists() && std::fs::rename(&root, &old).is_ok();
    if let Err(e) = std::fs::rename(&scratch, &root) {
        let _ = std::fs::remove_dir_all(&scratch);
        // Another run may have finished first; its copy is as good.
        if !complete(&root) {
            return Err(e).with_context(|| format!("moving npm's work to {}", root.display()));
        }
    }
    if moved_old {
        let _ = std::fs::remove_dir_all(&old);
    }
    for (package, _) in PACKAGES {
        eprintln!(
            "xtask: {package} {} installed in {}",
            version(&root, package).unwrap_or_else(|| "(unknown version)".into()),
            root.display()
        );
    }
    Ok(())
}

/// Fails unless a `node` of a version the packages support is on PATH.
fn check_node() -> Result<()> {
    let version = output(Command::new("node").arg("--version")).map_err(|e| {
        anyhow::anyhow!(
            "`node` is missing or broken ({e:#}); the tus client and browser tests need Node.js \
             {NODE_MAJOR} or later on PATH (Debian package `nodejs`, with `npm`)"
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
            "Node.js {} is too old: the test clients need {NODE_MAJOR} or later",
            version.trim()
        );
    }
    Ok(())
}

/// The `version` field of an installed package's package.json.
pub fn version(root: &Path, package: &str) -> Option<String> {
    let text = std::fs::read_to_string(marker(root, package)).ok()?;
    let after = text.split_once("\"version\"")?.1;
    let value = after.split_once('"')?.1.split_once('"')?.0;
    Some(value.to_string())
}

/// The `node_modules` holding `package`; fails if [`install`] has not run.
pub fn locate(package: &str) -> Result<PathBuf> {
    let root = root()?;
    if !marker(&root, package).is_file() {
        bail!(
            "{package} is not installed in {} (the install step should have done it)",
            root.display()
        );
    }
    Ok(root.join("node_modules"))
}

/// `MB_TEST_NODE_MODULES`: the shared `node_modules` the Node scripts of
/// the tests resolve their packages from.
pub fn env() -> Result<Vec<(&'static str, String)>> {
    let modules = root()?.join("node_modules");
    Ok(vec![(
        "MB_TEST_NODE_MODULES",
        modules.to_string_lossy().into_owned(),
    )])
}
