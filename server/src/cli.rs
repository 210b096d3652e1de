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
    /// Administration from the server's own machine.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// The custody log.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recomputes the custody log's hash chain, checks every signed
    /// checkpoint, and reports the first entry that was changed, removed or
    /// inserted. Exit status 0 when intact, 1 when not.
    Verify {
        /// A public key (hex or base64) to trust besides the configured
        /// signing key and `custody_public_keys`; repeat for several. An
        /// auditor passes the key the regulator published.
        #[arg(long = "public-key")]
        public_keys: Vec<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Creates the first administrator on a new installation and prints
    /// (and mails) their invitation link.
    Create {
        /// The administrator's address.
        #[arg(long)]
        email: String,
        /// The name colleagues see (default: the address).
        #[arg(long)]
        name: Option<String>,
    },
    /// Issues a device session for an active user and prints its tokens as
    /// JSON (for scripted clients such as a station's scanner, and for
    /// emergencies). Recorded in the audit log.
    Session {
        /// A staff member's address or any user's id.
        #[arg(long)]
        email: String,
        /// A name for the device.
        #[arg(long)]
        device: String,
    },
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
    // Operator commands answer with one line; the server also logs it.
    let serving = matches!(command, Command::Serve);
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
        Command::Admin(AdminCommand::Create { email, name }) => {
            admin_create(config, email, name).await
        }
        Command::Admin(AdminCommand::Session { email, device }) => {
            admin_session(config, email, device).await
        }
        Command::Audit(AuditCommand::Verify { public_keys, json }) => {
            audit_verify(config, public_keys, json).await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            if serving {
                tracing::error!(error = %message, "stopped");
            }
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> Result<(), String> {
    // The handlers come first: the job workers start inside `run` and may
    // already hold a job when a SIGTERM arrives; without a handler yet, the
    // signal would kill the process instead of stopping it gracefully.
    let signals = shutdown_signals();
    let listener = std::net::TcpListener::bind(config.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let server = crate::run(config, listener)
        .await
        .map_err(|e| e.to_string())?;
    wait_for_shutdown_signal(signals).await;
    tracing::info!("shutting down: finishing requests and jobs in flight");
    server.stop().await;
    tracing::info!("stopped");
    Ok(())
}

type Signals = (tokio::signal::unix::Signal, tokio::signal::unix::Signal);

/// SIGTERM and SIGINT, caught from now on (`None` if they cannot be).
fn shutdown_signals() -> Option<Signals> {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(term), Ok(int)) => Some((term, int)),
        _ => None,
    }
}

async fn wait_for_shutdown_signal(signals: Option<Signals>) {
    match signals {
        Some((mut term, mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        None => {
            // Without signal handlers, Ctrl-C is the best we can do.
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

async fn audit_verify(config: Config, extra: Vec<String>, json: bool) -> Result<(), String> {
    let signer = config
        .custody_signing_key
        .as_ref()
        .map(|k| custody_log::CheckpointSigner::from_config(k.expose()))
        .transpose()
        .map_err(|e| format!("custody_signing_key: {e}"))?;
    let mut keys = config.custody_public_keys.clone();
    keys.extend(extra);
    let trusted = crate::custody::trusted_keys(signer.as_ref(), &keys)?;
    let db = crate::open_database(&config)
        .await
        .map_err(|e| e.to_string())?;
    let report = db
        .snapshot(move |conn| crate::custody::verify(conn, &trusted))
        .await
        .map_err(|e| e.to_string())?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
        );
    } else {
        println!(
            "entries read: {}\ncheckpoints verified: {}\nproven by a signed checkpoint up to entry: {}",
            report.entries_read, report.checkpoints_checked, report.proven_up_to
        );
    }
    match &report.problem {
        None => {
            if !json {
                println!("the custody log is intact");
            }
            Ok(())
        }
        Some(problem) => Err(format!("the custody log is not intact: {problem}")),
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
    println!("migrations applied:");
    for name in &applied {
        println!("  {name}");
    }
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

async fn admin_create(config: Config, email: String, name: Option<String>) -> Result<(), String> {
    use crate::auth::{
        Role,
        invitations::{self, NewInvitation},
    };
    let services = Services::open(config).await.map_err(|e| e.to_string())?;
    let now = services.clock.now();
    let config = services.config.clone();
    let created = services
        .db
        .write(move |conn| {
            if crate::db::users::count_with_role(conn, Role::Administrator.as_str())? > 0 {
                return Err(crate::error::ApiError::Refused {
                    code: "administrator_exists",
                    status: actix_web::http::StatusCode::CONFLICT,
                    detail: "this installation has an administrator already; they can invite more \
                             administrators from the admin panel"
                        .into(),
                });
            }
            invitations::create(
                conn,
                &config,
                now,
                None,
                &NewInvitation {
                    role: Role::Administrator,
                    email,
                    display_name: name,
                },
            )
        })
        .await;
    match created {
        Ok((created, link)) => {
            println!(
                "administrator {} invited; the link was also mailed:",
                created.user_id
            );
            println!("{link}");
            Ok(())
        }
        Err(e) => Err(e.to_string()),
    }
}

async fn admin_session(config: Config, who: String, device: String) -> Result<(), String> {
    use crate::auth::{
        Role, audit,
        sessions::{self, Issued, SessionKind},
    };
    let device = sessions::clean_device_name(&device).map_err(|e| e.to_string())?;
    let services = Services::open(config).await.map_err(|e| e.to_string())?;
    let now = services.clock.now();
    let config = services.config.clone();
    let issued = services
        .db
        .write(move |conn| {
            let user = if uuid::Uuid::parse_str(&who).is_ok() {
                crate::db::users::find(conn, &who)?
            } else {
                crate::db::identity::staff_by_email(conn, &who.trim().to_lowercase())?
            }
            .filter(|u| u.status == "active")
            .ok_or_else(|| {
                crate::error::ApiError::Missing(format!(
                    "no active user {who:?} (staff address or user id)"
                ))
            })?;
            let role = Role::parse(&user.role)
                .ok_or_else(|| crate::error::ApiError::Internal("unknown role".into()))?;
            let issued = sessions::issue(
                conn,
                &config,
                now,
                &user.id,
                role,
                None,
                SessionKind::App,
                &device,
            )?;
            if let Issued::App(tokens) = &issued {
                audit(
                    conn,
                    crate::db::time::to_micros(now),
                    None,
                    "session.issue_by_operator",
                    ("session", &tokens.session_id),
                    serde_json::json!({ "user_id": user.id, "device": device }),
                )?;
            }
            Ok::<_, crate::error::ApiError>(issued)
        })
        .await
        .map_err(|e| e.to_string())?;
    match issued {
        Issued::App(tokens) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&tokens).map_err(|e| e.to_string())?
            );
            Ok(())
        }
        Issued::Browser(_) => Err("unexpected browser session".into()),
    }
}
