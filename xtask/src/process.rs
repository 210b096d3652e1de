//! Helpers for running commands and daemons: free ports, readiness probes,
//! log tails, and a guard that stops a daemon on drop.
//! Every daemon started here is known to the reaper before it can outlive us.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

use crate::reaper::{Reaper, Ticket};

/// `n` distinct free loopback ports. All are held until all are found, so no
/// two services get the same one; a stranger may still take one before the
/// service binds it, which is rare enough on a test machine.
pub fn free_ports(n: usize) -> Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<std::io::Result<Vec<_>>>()
        .context("finding a free loopback port")?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

/// A short, readable rendering of a command line for error messages.
pub fn display(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(OsStr::to_string_lossy)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `cmd` to completion with its output captured; returns stdout, or an
/// error quoting the command and the end of its stderr.
pub fn output(cmd: &mut Command) -> Result<String> {
    let out: Output = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run `{}`", display(cmd)))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        bail!(
            "`{}` failed ({}):\n{}",
            display(cmd),
            out.status,
            tail(&format!("{stdout}{stderr}"), 20)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `cmd` with its output shown on our stderr (stdout stays clean for
/// `cargo xtask services`), for long installs whose progress matters.
pub fn run_visible(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .stdin(Stdio::null())
        .stdout(std::io::stderr())
        .stderr(std::io::stderr())
        .status()
        .with_context(|| format!("cannot run `{}`", display(cmd)))?;
    if !status.success() {
        bail!("`{}` failed ({status})", display(cmd));
    }
    Ok(())
}

/// Whether `cmd` runs and exits successfully; its output is discarded.
pub fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The last `lines` lines of `text`.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The last lines of a log file, indented, for an error message.
pub fn log_tail(path: &Path) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = tail(&String::from_utf8_lossy(&bytes), 30);
            if text.is_empty() {
                "  (log is empty)".into()
            } else {
                text.lines()
                    .map(|l| format!("  | {l}\n"))
                    .collect::<String>()
            }
        }
        Err(e) => format!("  (cannot read log: {e})"),
    }
}

/// Calls `check` every 100 ms until it succeeds, for at most `limit`.
pub fn wait_for(limit: Duration, check: impl FnMut() -> Result<()>) -> Result<()> {
    poll(limit, || Ok(()), check)
}

/// Like [`wait_for`], but gives up at once when `abort` fails (say, because
/// the daemon we wait for has exited).
fn poll(
    limit: Duration,
    mut abort: impl FnMut() -> Result<()>,
    mut check: impl FnMut() -> Result<()>,
) -> Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        abort()?;
        match check() {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() > deadline => {
                return Err(e.context(format!("not ready after {limit:?}")));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

fn connect(port: u16) -> Result<TcpStream> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))
        .with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    Ok(stream)
}

/// The first line the server on `port` sends after connecting.
fn greeting(stream: TcpStream) -> Result<String> {
    let mut line = String::new();
    BufReader::new(stream.take(4096)).read_line(&mut line)?;
    Ok(line.trim_end().to_string())
}

/// Succeeds once `port` answers an HTTP request with any status line.
pub fn http_answers(port: u16) -> Result<()> {
    let mut stream = connect(port)?;
    stream.write_all(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let line = greeting(stream)?;
    if !line.starts_with("HTTP/") {
        bail!("unexpected HTTP answer {line:?}");
    }
    Ok(())
}

/// Succeeds once `port` greets with SMTP's `220`.
pub fn smtp_greets(port: u16) -> Result<()> {
    let line = greeting(connect(port)?)?;
    if !line.starts_with("220") {
        bail!("unexpected SMTP greeting {line:?}");
    }
    Ok(())
}

/// Succeeds once `port` accepts a TCP connection.
pub fn accepts(port: u16) -> Result<()> {
    connect(port).map(drop)
}

/// A daemon we spawned, stopped (SIGTERM to its process group, then SIGKILL)
/// when dropped. Output goes to a log file.
pub struct Daemon {
    name: &'static str,
    child: Child,
    _ticket: Ticket,
}

impl Daemon {
    /// Spawns `cmd` in a process group of its own, so that a Ctrl-C on the
    /// terminal reaches us and not it; we, or the reaper, stop it in order.
    pub fn spawn(
        name: &'static str,
        cmd: &mut Command,
        log: &Path,
        reaper: &Reaper,
    ) -> Result<Self> {
        let file =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .process_group(0)
            .spawn()
            .with_context(|| format!("cannot run `{}`", display(cmd)))?;
        let ticket = match reaper.kill_at_exit(child.id()) {
            Ok(ticket) => ticket,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        Ok(Self {
            name,
            child,
            _ticket: ticket,
        })
    }

    /// Fails if the daemon has already exited (so waiting for it is futile).
    pub fn check_running(&mut self) -> Result<()> {
        match self.child.try_wait()? {
            Some(status) => Err(anyhow!("{} exited early ({status})", self.name)),
            None => Ok(()),
        }
    }

    /// Waits until `probe` succeeds, failing at once if the daemon exits.
    pub fn wait_ready(&mut self, limit: Duration, probe: impl FnMut() -> Result<()>) -> Result<()> {
        poll(limit, || self.check_running(), probe)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        signal_group(self.child.id(), "TERM");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        signal_group(self.child.id(), "KILL");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `signal` to the process group led by `pid` (std can only SIGKILL a
/// single child, and unsafe code is forbidden, so this uses kill(1)).
pub fn signal_group(pid: u32, signal: &str) {
    let _ = succeeds(
        Command::new("kill")
            .arg(format!("-{signal}"))
            .arg("--")
            .arg(format!("-{pid}")),
    );
}

/// Whether a process with this pid still runs (a zombie counts as gone).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Whether we run as root (then PostgreSQL needs a user of its own).
pub fn is_root() -> bool {
    static ROOT: OnceLock<bool> = OnceLock::new();
    *ROOT.get_or_init(|| output(Command::new("id").arg("-u")).is_ok_and(|uid| uid.trim() == "0"))
}

/// The cargo that runs us (`$CARGO`), for building and testing.
pub fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    // `cargo run` describes xtask's own package in these; they must not
    // leak into the builds and tests of other packages.
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        if name.starts_with("CARGO_PKG_")
            || [
                "CARGO_MANIFEST_DIR",
                "CARGO_MANIFEST_PATH",
                "CARGO_CRATE_NAME",
                "CARGO_BIN_NAME",
                "CARGO_PRIMARY_PACKAGE",
            ]
            .contains(&name)
        {
            cmd.env_remove(name);
        }
    }
    cmd
}

/// The cache directory shared by all clones: `$HOME/.cache/mystery-buyer`.
pub fn cache_dir() -> Result<PathBuf> {
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    Ok(PathBuf::from(home).join(".cache/mystery-buyer"))
}
