//! `cargo xtask bench`: the sync benchmark on a fresh machine in one
//! command. It installs and starts PostgreSQL (only: the benchmark needs no
//! object store or mail), runs `cargo bench -p mystery-buyer-tests --bench
//! sync` with `MB_TEST_PG_URL` set, and stops PostgreSQL however it ends.
//! `MB_BENCH_*` and `MB_*` variables in the environment reach the benchmark.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use crate::process::{cache_dir, cargo, display};
use crate::services::PostgresOnly;
use crate::test::{exit_code, workspace_root};

pub fn run(args: &[String]) -> Result<ExitCode> {
    if !args.is_empty() {
        bail!(
            "`bench` takes no arguments; set MB_BENCH_DEVICES, MB_BENCH_CONCURRENCY or \
             MB_BENCH_BACKENDS instead (see BENCHMARKS.md)"
        );
    }
    let target_dir = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => cache_dir()?.join("target"),
    };
    PostgresOnly::install()?;
    let postgres =
        PostgresOnly::start().context("PostgreSQL did not start, so the benchmark cannot run")?;

    let mut env: Vec<(&str, OsString)> = vec![("CARGO_TARGET_DIR", target_dir.into())];
    env.extend(postgres.env().into_iter().map(|(k, v)| (k, v.into())));
    let mut cmd = cargo();
    cmd.args(["bench", "-p", "mystery-buyer-tests", "--bench", "sync"])
        .current_dir(workspace_root())
        .envs(env.iter().map(|(k, v)| (k, v)));
    eprintln!("xtask: running `{}`", display(&cmd));
    let status = cmd
        .status()
        .with_context(|| format!("cannot run `{}`", display(&cmd)))?;
    drop(postgres);
    if status.success() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("xtask: the benchmark failed ({status})");
        Ok(exit_code(status))
    }
}
