//! The services the tests need: PostgreSQL, Garage, moto and an SMTP server,
//! the real tus clients (tus-js-client, tuspy) the upload stories run, and
//! the browsers (Chromium with playwright-core, Firefox with puppeteer-core) the
//! panel's stories drive.
//!
//! `install` makes sure each is on the machine (caching under
//! `$HOME/.cache/mystery-buyer`); `Services::start` runs all of them on free
//! loopback ports under one scratch dir, and dropping it stops them. A service
//! that cannot be started is an error naming it, never a skip.

mod browser;
mod garage;
mod moto;
mod npm;
mod postgres;
mod smtp;
mod tus_clients;

use std::path::{Path, PathBuf};
use std::thread::ScopedJoinHandle;

use anyhow::{Context, Result, anyhow, bail};

use crate::process::{free_ports, log_tail};
use crate::reaper::{Reaper, ReaperProcess, Ticket};

/// Installs whatever is missing, one at a time (pip and apt do not like
/// company). Cheap when everything is there.
pub fn install() -> Result<()> {
    postgres::install().context("could not install postgres")?;
    garage::install().context("could not install garage")?;
    moto::install().context("could not install moto")?;
    smtp::install().context("could not install aiosmtpd")?;
    tus_clients::install().context("could not install the tus clients")?;
    npm::install().context("could not install the npm packages the tests run")?;
    browser::install().context("could not install Chromium and Firefox")?;
    Ok(())
}

/// All services, running. Fields drop in order: services first, then the
/// scratch dir, then the reaper (which then has nothing left to do).
pub struct Services {
    postgres: postgres::Postgres,
    garage: garage::Garage,
    moto: moto::Moto,
    smtp: smtp::Smtp,
    tus_clients: tus_clients::TusClients,
    browser: browser::Browser,
    _scratch: Scratch,
    _reaper: ReaperProcess,
}

impl Services {
    /// Starts every service, in parallel. On any failure the ones that did
    /// start are stopped again and the error names each that failed.
    pub fn start() -> Result<Self> {
        let tus_clients = tus_clients::TusClients::locate()?;
        let browser = browser::Browser::locate()?;
        let reaper = ReaperProcess::start()?;
        let scratch = Scratch::create(reaper.handle())?;
        let ports = free_ports(8)?;
        let (dir, r) = (scratch.path.as_path(), reaper.handle());
        let (pg, garage, moto, smtp) = std::thread::scope(|s| {
            let pg = s.spawn(|| postgres::Postgres::start(dir, ports[0], r));
            let garage = s.spawn(|| garage::Garage::start(dir, [ports[1], ports[2], ports[3]], r));
            let moto = s.spawn(|| moto::Moto::start(dir, ports[4], r));
            let smtp = s.spawn(|| smtp::Smtp::start(dir, [ports[5], ports[6], ports[7]], r));
            (join(pg), join(garage), join(moto), join(smtp))
        });
        match (pg, garage, moto, smtp) {
            (Ok(postgres), Ok(garage), Ok(moto), Ok(smtp)) => Ok(Self {
                postgres,
                garage,
                moto,
                smtp,
                tus_clients,
                browser,
                _scratch: scratch,
                _reaper: reaper,
            }),
            (pg, garage, moto, smtp) => {
                let errors: Vec<String> = [pg.err(), garage.err(), moto.err(), smtp.err()]
                    .into_iter()
                    .flatten()
                    .map(|e| format!("{e:#}"))
                    .collect();
                // The services that did start are dropped (stopped) here.
                bail!("{}", errors.join("\nxtask: "))
            }
        }
    }

    /// The `MB_TEST_*` variables that tell the tests where the services are.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = self.postgres.env();
        env.extend(self.garage.env());
        env.extend(self.moto.env());
        env.extend(self.smtp.env());
        env.extend(self.tus_clients.env());
        env.extend(self.browser.env());
        env.extend(npm::env().unwrap_or_default());
        env
    }
}

/// PostgreSQL alone (for `cargo xtask bench`), with the same scratch dir
/// and reaper as [`Services`]; dropping it stops the cluster.
pub struct PostgresOnly {
    postgres: postgres::Postgres,
    _scratch: Scratch,
    _reaper: ReaperProcess,
}

impl PostgresOnly {
    pub fn install() -> Result<()> {
        postgres::install().context("could not install postgres")
    }

    pub fn start() -> Result<Self> {
        let reaper = ReaperProcess::start()?;
        let scratch = Scratch::create(reaper.handle())?;
        let port = free_ports(1)?[0];
        let postgres = postgres::Postgres::start(&scratch.path, port, reaper.handle())?;
        Ok(Self {
            postgres,
            _scratch: scratch,
            _reaper: reaper,
        })
    }

    /// `MB_TEST_PG_URL`.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        self.postgres.env()
    }
}

fn join<T>(handle: ScopedJoinHandle<'_, Result<T>>) -> Result<T> {
    handle
        .join()
        .unwrap_or_else(|_| Err(anyhow!("the thread starting it panicked")))
}

/// The error for a service that did not start: what failed, where its log
/// is, and the end of that log.
fn start_error(service: &str, error: anyhow::Error, log: &Path) -> anyhow::Error {
    anyhow!(
        "could not start {service}: {error:#}; log at {}\n{}",
        log.display(),
        log_tail(log)
    )
}

/// `/tmp/mb-services-<pid>`: every service's files, removed at the end.
struct Scratch {
    path: PathBuf,
    _ticket: Ticket,
}

impl Scratch {
    fn create(reaper: &Reaper) -> Result<Self> {
        use std::os::unix::fs::PermissionsExt;
        let path = std::env::temp_dir().join(format!("mb-services-{}", std::process::id()));
        // Left over from a killed run whose pid we now have.
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir(&path).with_context(|| format!("creating {}", path.display()))?;
        let ticket = reaper.remove_at_exit(&path)?;
        let scratch = Self {
            path,
            _ticket: ticket,
        };
        // PostgreSQL runs as another user and must reach its own dir inside.
        std::fs::set_permissions(&scratch.path, std::fs::Permissions::from_mode(0o755))?;
        Ok(scratch)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The Python that runs moto and aiosmtpd: the first `python3` on PATH.
fn python() -> std::process::Command {
    let mut cmd = std::process::Command::new("python3");
    cmd.env("PYTHONUNBUFFERED", "1");
    cmd
}

/// Makes `import {modules}` work, installing `requirement` with pip if not.
fn pip_install_unless_importable(modules: &str, requirement: &str) -> Result<()> {
    let importable =
        || crate::process::succeeds(python().args(["-c", &format!("import {modules}")]));
    if importable() {
        return Ok(());
    }
    eprintln!("xtask: installing {requirement} with pip");
    crate::process::run_visible(python().args(["-m", "pip", "install", requirement]))?;
    if !importable() {
        bail!("pip installed {requirement} but `import {modules}` still fails in python3");
    }
    Ok(())
}
