//! Project automation, run as `cargo xtask <command>`.
//!
//! `test` installs and starts every service the tests need, runs all tests and
//! stops the services again; `services` starts them for running tests by hand;
//! `bench` starts what a benchmark needs and runs it.
//! A service that cannot be started is an error, never a silently skipped test.

mod bench;
mod process;
mod reaper;
mod services;
mod test;

use std::process::ExitCode;

use anyhow::{Result, bail};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  test [NEXTEST ARGS...]  install and start the test services, build, run every
                          test (extra arguments go to `cargo nextest run`), stop
                          the services, exit with the tests' status
  services                start the test services, print `export` lines for
                          their variables and wait until Ctrl-C
  bench [sync]            start PostgreSQL and run the sync benchmark
                          (`cargo bench -p mystery-buyer-tests --bench sync`,
                          release build) on PostgreSQL and SQLite; settings in
                          MB_BENCH_* variables, see BENCHMARKS.md
  bench uploads           start the services (Garage), build the release
                          server and run the upload benchmark
  bench custody           start PostgreSQL and run the relay-scan benchmark,
                          custody log on against left out
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<ExitCode> {
    let Some((command, rest)) = args.split_first() else {
        eprint!("{USAGE}");
        return Ok(ExitCode::FAILURE);
    };
    match command.as_str() {
        "test" => test::run(rest),
        "bench" => bench::run(rest),
        "services" => services_command(rest),
        reaper::COMMAND => reaper::main().map(|()| ExitCode::SUCCESS),
        "help" | "-h" | "--help" => {
            print!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        other => bail!("unknown command {other:?}\n{USAGE}"),
    }
}

/// Starts the services, prints their variables and waits to be interrupted.
/// Ctrl-C ends this process at once; the reaper then stops the services.
fn services_command(args: &[String]) -> Result<ExitCode> {
    if !args.is_empty() {
        bail!("`services` takes no arguments\n{USAGE}");
    }
    services::install()?;
    let services = services::Services::start()?;
    println!("export MB_TEST_SERVICES=1");
    for (name, value) in services.env() {
        println!("export {name}={}", shell_quote(&value));
    }
    eprintln!(
        "xtask: services running; run single tests with e.g.\n  \
         cargo nextest run -p mystery-buyer-tests --features mystery-buyer-tests/services <FILTER>\n\
         xtask: press Ctrl-C to stop them"
    );
    loop {
        std::thread::park();
    }
}

fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}
