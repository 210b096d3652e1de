//! The command line: `serve` (the default), `migrate`, and operator tools.
//! Each command returns an exit code; errors print as one line.

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

use crate::{Services, config::Config};

#[derive(Debug, Parser)]
#[command(
    name = "mystery-buyer",
    version,
    about = "The mystery-buyer server and its operator tools"
)]
pub struct Cli {
    /// A TOML configuration file; `MB_*` environment variables override it.
    #[arg(long, short, env = "MB_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve HTTP and run background jobs (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Check the configuration, print where everything is, and exit.
    Config,
    /// Mail tools.
    #[command(subcommand)]
    Mail(MailCommand),
}

#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// Queue a test message; a running server's job worker sends it.
    SendTest {
        /// The recipient.
        #[arg(long)]
        to: String,
    },
}

/// Runs one command to completion.
pub async fn dispatch(command: Command, config: Config) -> ExitCode {
    let result = match command {
        Command::Serve => serve(config).await,
        Command::Migrate => migrate(config).await,
        Command::Config => {
            for (what, location) in config.summary() {
                println!("{what}: {location}");
            }
            Ok(())
        }
        Command::Mail(MailCommand::SendTest { to }) => send_test_mail(config, to).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!(error = %message, "stopped");
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> Result<(), String> {
    let listener = std::net::TcpListener::bind(config.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let server = crate::run(config, listener)
        .await
        .map_err(|e| e.to_string())?;
    wait_for_shutdown_signal().await;
    tracing::info!("shutting down: finishing requests and jobs in flight");
    server.stop().await;
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            // Without signal handlers, Ctrl-C is the best we can do.
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

async fn migrate(config: Config) -> Result<(), String> {
    let db = crate::open_database(&config)
        .await
        .map_err(|e| e.to_string())?;
    let applied = db
        .read(crate::db::migrations::applied)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "database is at migration {}",
        applied.last().map_or("(none)", String::as_str)
    );
    Ok(())
}

async fn send_test_mail(config: Config, to: String) -> Result<(), String> {
    let services = Services::open(config).await.map_err(|e| e.to_string())?;
    let now = services.clock.now();
    let mail = crate::mail::OutgoingMail {
        to,
        subject: "mystery-buyer test message".into(),
        body: "This message checks that the mystery-buyer server can send mail.\n".into(),
    };
    let id = services
        .db
        .write(move |conn| crate::mail::queue(conn, now, &mail))
        .await
        .map_err(|e| e.to_string())?;
    println!("queued message {id}; a running server sends it");
    Ok(())
}
