//! `cargo xtask bench [sync|uploads|custody]`: a benchmark on a fresh
//! machine in one command. `sync` (the default) and `custody` install and
//! start PostgreSQL only and run `cargo bench -p mystery-buyer-tests
//! --bench sync` (or `custody`); `uploads` starts
//! every test service (it needs Garage), builds the release server binary
//! the benchmark spawns, and runs `--bench uploads`. The services stop
//! however it ends. `MB_BENCH_*` and `MB_*` variables reach the benchmark.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use crate::process::{cache_dir, cargo, display};
use crate::services::PostgresOnly;
use crate::test::{exit_code, workspace_root};

pub fn run(args: &[String]) -> Result<ExitCode> {
    let which = match args {
        [] => "sync",
        [one] if ["sync", "uploads", "custody"].contains(&one.as_str()) => one.as_str(),
        _ => bail!(
            "`bench` takes `sync`, `uploads` or `custody`; set MB_BENCH_* variables to change \
             a benchmark's size (see BENCHMARKS.md)"
        ),
    };
    let target_dir = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => cache_dir()?.join("target"),
    };
    let mut env: Vec<(&str, OsString)> = vec![("CARGO_TARGET_DIR", target_dir.into())];
    let services: Box<dyn std::any::Any> = if which != "uploads" {
        PostgresOnly::install()?;
        let postgres = PostgresOnly::start()
            .context("PostgreSQL did not start, so the benchmark cannot run")?;
        env.extend(postgres.env().into_iter().map(|(k, v)| (k, v.into())));
        Box::new(postgres)
    } else {
        crate::services::install()?;
        let all = crate::services::Services::start()
            .context("the services did not start, so the benchmark cannot run")?;
        env.extend(all.env().into_iter().map(|(k, v)| (k, v.into())));
        let mut build = cargo();
        build
            .args(["build", "--release", "--bin", "mystery-buyer"])
            .current_dir(workspace_root())
            .envs(env.iter().map(|(k, v)| (k, v)));
        eprintln!("xtask: running `{}`", display(&build));
        if !build.status().context("cargo build")?.success() {
            bail!("the release build failed");
        }
        Box::new(all)
    };
    let mut cmd = cargo();
    cmd.args(["bench", "-p", "mystery-buyer-tests", "--bench", which])
        .current_dir(workspace_root())
        .envs(env.iter().map(|(k, v)| (k, v)));
    eprintln!("xtask: running `{}`", display(&cmd));
    let status = cmd
        .status()
        .with_context(|| format!("cannot run `{}`", display(&cmd)))?;
    drop(services);
    if status.success() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("xtask: the benchmark failed ({status})");
        Ok(exit_code(status))
    }
}
