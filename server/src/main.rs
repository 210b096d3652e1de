//! `mystery-buyer`: parse the command line, load the configuration, run.

use std::process::ExitCode;

use clap::Parser;
use mystery_buyer_server::{
    cli::{Cli, Command},
    config::Config,
    telemetry,
};

/// jemalloc, not glibc's allocator: see the workspace `Cargo.toml`.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init_logging(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(mystery_buyer_server::cli::dispatch(
        cli.command.unwrap_or(Command::Serve),
        config,
    ));
    // A blocking call still in flight (an SMTP exchange whose job was
    // already given back to the queue) must not hold the exit: its work is
    // redone by the next owner of the job.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    code
}
