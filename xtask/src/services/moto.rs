//! moto's server: a mock of AWS S3, the second S3 dialect the blob store is
//! tested against. Buckets are created by the tests themselves.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::process::{Daemon, http_answers};
use crate::reaper::Reaper;

pub fn install() -> Result<()> {
    super::pip_install_unless_importable("moto.server, flask, flask_cors", "moto[server]")
}

/// A running server; dropping it stops the server.
pub struct Moto {
    port: u16,
    _daemon: Daemon,
}

impl Moto {
    pub fn start(scratch: &Path, port: u16, reaper: &Reaper) -> Result<Self> {
        let dir = scratch.join("moto");
        let log = dir.join("moto.log");
        let started = Self::start_in(&dir, &log, port, reaper)
            .map_err(|e| super::start_error("moto", e, &log))?;
        eprintln!("xtask: moto ready on 127.0.0.1:{port}");
        Ok(started)
    }

    fn start_in(dir: &Path, log: &Path, port: u16, reaper: &Reaper) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut server = super::python();
        server
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .current_dir(dir);
        let mut daemon = Daemon::spawn("moto", &mut server, log, reaper)?;
        daemon.wait_ready(Duration::from_secs(30), || http_answers(port))?;
        Ok(Self {
            port,
            _daemon: daemon,
        })
    }

    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![(
            "MB_TEST_MOTO_ENDPOINT",
            format!("http://127.0.0.1:{}", self.port),
        )]
    }
}
