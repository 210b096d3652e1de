//! PostgreSQL 15 from Debian's package, in a throwaway cluster with trust
//! authentication. It refuses to run as root, so as root it runs as the
//! `postgres` system user. fsync stays on: the tests must see real durability.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::process::{accepts, is_root, output, run_visible, succeeds, wait_for};
use crate::reaper::{Reaper, Ticket};

const BIN: &str = "/usr/lib/postgresql/15/bin";
const USER: &str = "postgres";

fn installed() -> bool {
    ["initdb", "pg_ctl", "postgres"]
        .iter()
        .all(|tool| Path::new(BIN).join(tool).exists())
}

pub fn install() -> Result<()> {
    if !installed() {
        if !is_root() || !succeeds(Command::new("apt-get").arg("--version")) {
            bail!(
                "PostgreSQL 15 is not installed (no {BIN}/initdb): install the Debian package postgresql-15"
            );
        }
        eprintln!("xtask: installing postgresql-15 with apt-get");
        run_visible(Command::new("apt-get").arg("update"))?;
        run_visible(
            Command::new("apt-get")
                .args(["install", "-y", "--no-install-recommends", "postgresql-15"])
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )?;
        if !installed() {
            bail!("apt-get installed postgresql-15 but {BIN}/initdb is still missing");
        }
    }
    if is_root() && !succeeds(Command::new("id").arg(USER)) {
        eprintln!("xtask: creating the system user {USER} to run PostgreSQL");
        run_visible(Command::new("useradd").args(["--system", "--no-create-home", USER]))?;
    }
    Ok(())
}

/// A running cluster; dropping it stops the server.
pub struct Postgres {
    port: u16,
    _stop: Stop,
}

/// Runs `pg_ctl stop` on drop (the server is pg_ctl's child, not ours).
struct Stop {
    data: PathBuf,
    _ticket: Ticket,
}

impl Drop for Stop {
    fn drop(&mut self) {
        let _ = succeeds(&mut stop_command(&self.data));
    }
}

/// A PostgreSQL tool, run as the `postgres` user when we are root.
fn tool(name: &str) -> Command {
    let path = Path::new(BIN).join(name);
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", USER, "--"]).arg(path);
        cmd
    } else {
        Command::new(path)
    }
}

fn stop_command(data: &Path) -> Command {
    let mut cmd = tool("pg_ctl");
    cmd.arg("-D").arg(data).args(["-m", "fast", "-w", "stop"]);
    cmd
}

impl Postgres {
    pub fn start(scratch: &Path, port: u16, reaper: &Reaper) -> Result<Self> {
        let root = scratch.join("postgres");
        let log = root.join("postgres.log");
        let started = Self::start_in(&root, &log, port, reaper)
            .map_err(|e| super::start_error("postgres", e, &log))?;
        eprintln!("xtask: postgres 15 ready on 127.0.0.1:{port}");
        Ok(started)
    }

    fn start_in(root: &Path, log: &Path, port: u16, reaper: &Reaper) -> Result<Self> {
        let (data, socket) = (root.join("data"), root.join("socket"));
        std::fs::create_dir_all(&socket)
            .with_context(|| format!("creating {}", socket.display()))?;
        if is_root() {
            output(
                Command::new("chown")
                    .args(["-R", &format!("{USER}:")])
                    .arg(root),
            )?;
        }
        // The C locale exists everywhere; --no-sync only skips initdb's own
        // flush of files we throw away anyway.
        output(
            tool("initdb")
                .arg("-D")
                .arg(&data)
                .args([
                    "-A",
                    "trust",
                    "-U",
                    USER,
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ])
                .current_dir(root),
        )?;
        let stop = Stop {
            _ticket: reaper.run_at_exit(&stop_command(&data))?,
            data: data.clone(),
        };
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c max_connections=300",
            socket.display()
        );
        output(
            tool("pg_ctl")
                .arg("-D")
                .arg(&data)
                .arg("-o")
                .arg(options)
                .arg("-l")
                .arg(log)
                .args(["-w", "-t", "60", "start"])
                .current_dir(root),
        )?;
        wait_for(Duration::from_secs(10), || accepts(port))?;
        Ok(Self { port, _stop: stop })
    }

    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![(
            "MB_TEST_PG_URL",
            format!("postgres://{USER}@127.0.0.1:{}/postgres", self.port),
        )]
    }
}
