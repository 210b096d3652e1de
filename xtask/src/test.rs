//! `cargo xtask test`: the one command that runs every test on a fresh
//! machine. It starts the services, builds the server binary, runs nextest
//! with the `services` feature and then the doc tests; the services are
//! stopped however it ends, and it exits with the first failing step's status.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, ExitStatus};

use anyhow::{Context, Result};

use crate::process::{cache_dir, cargo, display, run_visible, succeeds};
use crate::services::{self, Services};

pub fn run(nextest_args: &[String]) -> Result<ExitCode> {
    let target_dir = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => cache_dir()?.join("target"),
    };
    ensure_nextest()?;
    services::install()?;
    let services = Services::start()?;

    let root = workspace_root();
    let bin = target_dir.join("debug/mystery-buyer");
    let mut env: Vec<(&str, OsString)> = vec![
        ("CARGO_TARGET_DIR", target_dir.clone().into()),
        ("MB_TEST_SERVICES", "1".into()),
        ("MB_TEST_BIN", bin.into()),
    ];
    env.extend(services.env().into_iter().map(|(k, v)| (k, v.into())));
    let step = |args: &[&str], extra: &[String]| -> Result<ExitStatus> {
        let mut cmd = cargo();
        cmd.args(args)
            .args(extra)
            .current_dir(&root)
            .envs(env.iter().map(|(k, v)| (k, v)));
        eprintln!("xtask: running `{}`", display(&cmd));
        cmd.status()
            .with_context(|| format!("cannot run `{}`", display(&cmd)))
    };

    let build = step(&["build", "--bin", "mystery-buyer"], &[])?;
    if !build.success() {
        eprintln!("xtask: the build failed");
        return Ok(exit_code(build));
    }
    let nextest = step(
        &[
            "nextest",
            "run",
            "--workspace",
            "--exclude",
            "xtask",
            "--features",
            "mystery-buyer-tests/services",
            "--no-fail-fast",
        ],
        nextest_args,
    )?;
    // Doc tests run even after failures, so one run shows everything broken.
    let doc = step(&["test", "--workspace", "--exclude", "xtask", "--doc"], &[])?;
    drop(services);

    match [("tests", nextest), ("doc tests", doc)]
        .into_iter()
        .find(|(_, s)| !s.success())
    {
        Some((what, status)) => {
            eprintln!("xtask: the {what} failed ({status})");
            Ok(exit_code(status))
        }
        None => {
            eprintln!("xtask: all tests passed");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn ensure_nextest() -> Result<()> {
    if succeeds(cargo().args(["nextest", "--version"])) {
        return Ok(());
    }
    eprintln!("xtask: installing cargo-nextest");
    run_visible(cargo().args(["install", "cargo-nextest", "--locked"]))
        .context("could not install cargo-nextest")
}

/// The failing status as our exit code (1 if it was a signal or out of range).
pub fn exit_code(status: ExitStatus) -> ExitCode {
    let code = status
        .code()
        .and_then(|c| u8::try_from(c).ok())
        .filter(|&c| c != 0)
        .unwrap_or(1);
    ExitCode::from(code)
}

/// The checkout this xtask was started from. Read at run time (`cargo run`
/// sets `CARGO_MANIFEST_DIR` for the program it runs), never compiled in:
/// with a build cache shared between checkouts, cargo may reuse an xtask
/// binary built in another checkout, which would then test that one.
pub fn workspace_root() -> PathBuf {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::current_dir().ok().map(|d| d.join("xtask")))
        .unwrap_or_else(|| PathBuf::from("xtask"));
    manifest
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}
