//! aiosmtpd, an SMTP server that files every message it receives into a
//! Maildir, where the tests look for the mails the server sent. Three run:
//! plain, STARTTLS (required) and implicit TLS (SMTPS), the TLS ones with a
//! certificate for `localhost` signed by a throw-away CA the tests trust.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::process::{Daemon, accepts, output, smtp_greets};
use crate::reaper::Reaper;

pub fn install() -> Result<()> {
    super::pip_install_unless_importable("aiosmtpd", "aiosmtpd")?;
    if !crate::process::succeeds(Command::new("openssl").arg("version")) {
        bail!(
            "the `openssl` command is missing (Debian package `openssl`); it makes the test certificates"
        );
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Security {
    Plain,
    StartTls,
    Implicit,
}

/// The running servers; dropping them stops them.
pub struct Smtp {
    ports: [u16; 3],
    dir: PathBuf,
    _daemons: Vec<Daemon>,
}

impl Smtp {
    /// `ports`: plain, STARTTLS, SMTPS.
    pub fn start(scratch: &Path, ports: [u16; 3], reaper: &Reaper) -> Result<Self> {
        let dir = scratch.join("smtp");
        let log = dir.join("aiosmtpd.log");
        let started = Self::start_in(&dir, ports, reaper)
            .map_err(|e| super::start_error("aiosmtpd", e, &log))?;
        eprintln!(
            "xtask: aiosmtpd ready on 127.0.0.1:{} (plain), :{} (STARTTLS), :{} (SMTPS)",
            ports[0], ports[1], ports[2]
        );
        Ok(started)
    }

    fn start_in(dir: &Path, ports: [u16; 3], reaper: &Reaper) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        make_certificates(dir)?;
        let mut daemons = Vec::new();
        for (tls, port) in [Security::Plain, Security::StartTls, Security::Implicit]
            .into_iter()
            .zip(ports)
        {
            daemons.push(start_one(dir, tls, port, reaper)?);
        }
        Ok(Self {
            ports,
            dir: dir.to_path_buf(),
            _daemons: daemons,
        })
    }

    pub fn env(&self) -> Vec<(&'static str, String)> {
        let maildir = |tls: Security| maildir(&self.dir, tls).display().to_string();
        let [plain, starttls, smtps] = self.ports;
        vec![
            ("MB_TEST_SMTP_URL", format!("smtp://127.0.0.1:{plain}")),
            ("MB_TEST_SMTP_MAILDIR", maildir(Security::Plain)),
            (
                "MB_TEST_SMTP_STARTTLS_URL",
                format!("smtp://localhost:{starttls}?tls=required"),
            ),
            ("MB_TEST_SMTP_STARTTLS_MAILDIR", maildir(Security::StartTls)),
            ("MB_TEST_SMTPS_URL", format!("smtps://localhost:{smtps}")),
            ("MB_TEST_SMTPS_MAILDIR", maildir(Security::Implicit)),
            (
                "MB_TEST_SMTP_CA_FILE",
                self.dir.join("ca.pem").display().to_string(),
            ),
        ]
    }
}

fn maildir(dir: &Path, tls: Security) -> PathBuf {
    dir.join(match tls {
        Security::Plain => "maildir",
        Security::StartTls => "maildir-starttls",
        Security::Implicit => "maildir-smtps",
    })
}

fn start_one(dir: &Path, tls: Security, port: u16, reaper: &Reaper) -> Result<Daemon> {
    let maildir = maildir(dir, tls);
    for sub in ["new", "cur", "tmp"] {
        let path = maildir.join(sub);
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
    }
    let (name, log) = match tls {
        Security::Plain => ("aiosmtpd", "aiosmtpd.log"),
        Security::StartTls => ("aiosmtpd (STARTTLS)", "aiosmtpd-starttls.log"),
        Security::Implicit => ("aiosmtpd (SMTPS)", "aiosmtpd-smtps.log"),
    };
    let mut server = super::python();
    // -n: as root it would otherwise switch to `nobody`, who cannot write
    // the Maildir.
    server.args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")]);
    match tls {
        Security::Plain => {}
        // STARTTLS is then required before MAIL (aiosmtpd's default).
        Security::StartTls => {
            server.args(["--tlscert", "smtp.pem", "--tlskey", "smtp.key"]);
        }
        Security::Implicit => {
            server.args(["--smtpscert", "smtp.pem", "--smtpskey", "smtp.key"]);
        }
    }
    server
        .args(["-c", "aiosmtpd.handlers.Mailbox"])
        .arg(&maildir)
        .current_dir(dir);
    let mut daemon = Daemon::spawn(name, &mut server, &dir.join(log), reaper)?;
    match tls {
        Security::Implicit => daemon.wait_ready(Duration::from_secs(30), || accepts(port))?,
        _ => daemon.wait_ready(Duration::from_secs(30), || smtp_greets(port))?,
    }
    Ok(daemon)
}

/// `ca.pem` (trusted by the tests) and `smtp.pem`/`smtp.key`, a server
/// certificate for `localhost` and 127.0.0.1 signed by it. A CA and a
/// separate leaf, because rustls refuses a CA certificate as a server's.
fn make_certificates(dir: &Path) -> Result<()> {
    let openssl = |args: &[&str]| -> Result<()> {
        output(Command::new("openssl").args(args).current_dir(dir)).map(drop)
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=mystery-buyer test CA",
    ])?;
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "smtp.key",
        "-out",
        "smtp.csr",
        "-subj",
        "/CN=localhost",
    ])?;
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )?;
    openssl(&[
        "x509",
        "-req",
        "-in",
        "smtp.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "smtp.pem",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
    ])?;
    Ok(())
}
