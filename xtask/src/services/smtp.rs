//! aiosmtpd, an SMTP server that files every message it receives into a
//! Maildir, where the tests look for the mails the server sent.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::process::{Daemon, smtp_greets};
use crate::reaper::Reaper;

pub fn install() -> Result<()> {
    super::pip_install_unless_importable("aiosmtpd", "aiosmtpd")
}

/// A running server; dropping it stops the server.
pub struct Smtp {
    port: u16,
    maildir: PathBuf,
    _daemon: Daemon,
}

impl Smtp {
    pub fn start(scratch: &Path, port: u16, reaper: &Reaper) -> Result<Self> {
        let dir = scratch.join("smtp");
        let log = dir.join("aiosmtpd.log");
        let started = Self::start_in(&dir, &log, port, reaper)
            .map_err(|e| super::start_error("aiosmtpd", e, &log))?;
        eprintln!("xtask: aiosmtpd ready on 127.0.0.1:{port}");
        Ok(started)
    }

    fn start_in(dir: &Path, log: &Path, port: u16, reaper: &Reaper) -> Result<Self> {
        let maildir = dir.join("maildir");
        for sub in ["new", "cur", "tmp"] {
            let path = maildir.join(sub);
            std::fs::create_dir_all(&path)
                .with_context(|| format!("creating {}", path.display()))?;
        }
        let mut server = super::python();
        // -n: as root it would otherwise switch to `nobody`, who cannot write
        // the Maildir.
        server
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(&maildir)
            .current_dir(dir);
        let mut daemon = Daemon::spawn("aiosmtpd", &mut server, log, reaper)?;
        daemon.wait_ready(Duration::from_secs(30), || smtp_greets(port))?;
        Ok(Self {
            port,
            maildir,
            _daemon: daemon,
        })
    }

    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "MB_TEST_SMTP_URL",
                format!("smtp://127.0.0.1:{}", self.port),
            ),
            ("MB_TEST_SMTP_MAILDIR", self.maildir.display().to_string()),
        ]
    }
}
