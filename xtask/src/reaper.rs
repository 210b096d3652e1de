//! The reaper: a copy of xtask in a process group of its own that stops the
//! services if xtask dies without running its Drop guards (Ctrl-C, kill).
//!
//! xtask tells it on a pipe what to undo ("add") and what was already undone
//! ("del"); when the pipe closes, however xtask ended, it undoes the rest,
//! newest first. It must never act before the pipe closes.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::process::{alive, signal_group, succeeds};

/// The hidden xtask command that runs the reaper.
pub const COMMAND: &str = "__reaper";

/// Owns the reaper process; dropping it closes the pipe and waits for the
/// reaper to finish. Drop it after everything holding a [`Ticket`].
pub struct ReaperProcess {
    child: Child,
    handle: Reaper,
}

/// A cheap handle for registering things the reaper must undo.
#[derive(Clone)]
pub struct Reaper {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    stdin: Option<ChildStdin>,
    next_key: u64,
}

/// One registered action; dropping it tells the reaper it is done.
pub struct Ticket {
    reaper: Reaper,
    key: u64,
}

impl ReaperProcess {
    pub fn start() -> Result<Self> {
        let exe = std::env::current_exe().context("locating the xtask binary")?;
        let mut child = Command::new(exe)
            .arg(COMMAND)
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(std::io::stderr())
            .stderr(std::io::stderr())
            // Out of the terminal's foreground group: Ctrl-C must not reach it.
            .process_group(0)
            .spawn()
            .context("cannot start the reaper (xtask __reaper)")?;
        let stdin = child.stdin.take();
        let handle = Reaper {
            inner: Arc::new(Mutex::new(Inner { stdin, next_key: 0 })),
        };
        Ok(Self { child, handle })
    }

    pub fn handle(&self) -> &Reaper {
        &self.handle
    }
}

impl Drop for ReaperProcess {
    fn drop(&mut self) {
        self.handle.lock().stdin = None;
        let _ = self.child.wait();
    }
}

impl Reaper {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn add(&self, action: &[&str]) -> Result<Ticket> {
        if action.iter().any(|f| f.contains(['\t', '\n'])) {
            bail!("cannot hand {action:?} to the reaper: tab or newline in it");
        }
        let mut inner = self.lock();
        let key = inner.next_key;
        inner.next_key += 1;
        let stdin = inner.stdin.as_mut().context("the reaper is gone")?;
        writeln!(stdin, "add\t{key}\t{}", action.join("\t")).context("the reaper is gone")?;
        Ok(Ticket {
            reaper: self.clone(),
            key,
        })
    }

    /// Stop the process group of `pid` if xtask dies first.
    pub fn kill_at_exit(&self, pid: u32) -> Result<Ticket> {
        self.add(&["kill", &pid.to_string()])
    }

    /// Run `cmd` (program and arguments only; in `/`) if xtask dies first.
    pub fn run_at_exit(&self, cmd: &Command) -> Result<Ticket> {
        let words: Vec<String> = std::iter::once(cmd.get_program())
            .chain(cmd.get_args())
            .map(|w| w.to_str().map(str::to_owned).context("non-UTF-8 argument"))
            .collect::<Result<_>>()?;
        let mut action = vec!["run"];
        action.extend(words.iter().map(String::as_str));
        self.add(&action)
    }

    /// Remove the directory tree `path` if xtask dies first.
    pub fn remove_at_exit(&self, path: &Path) -> Result<Ticket> {
        self.add(&["rm", path.to_str().context("non-UTF-8 path")?])
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(stdin) = self.reaper.lock().stdin.as_mut() {
            let _ = writeln!(stdin, "del\t{}", self.key);
        }
    }
}

/// The reaper's main loop: collect actions until stdin closes, then undo
/// whatever was not undone, newest first.
pub fn main() -> Result<()> {
    let mut pending: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let mut fields = line.split('\t');
        match (
            fields.next(),
            fields.next().and_then(|k| k.parse::<u64>().ok()),
        ) {
            (Some("add"), Some(key)) => {
                pending.insert(key, fields.map(str::to_owned).collect());
            }
            (Some("del"), Some(key)) => {
                pending.remove(&key);
            }
            _ => {}
        }
    }
    if pending.is_empty() {
        return Ok(());
    }
    // Writes to a closed terminal must not panic: ignore their errors.
    let _ = writeln!(
        std::io::stderr(),
        "xtask: stopping the services of an interrupted run"
    );
    for action in pending.into_values().rev() {
        undo(&action);
    }
    let _ = writeln!(std::io::stderr(), "xtask: services stopped");
    Ok(())
}

fn undo(action: &[String]) {
    match action {
        [kind, pid] if kind == "kill" => {
            let Ok(pid) = pid.parse::<u32>() else { return };
            signal_group(pid, "TERM");
            let deadline = Instant::now() + Duration::from_secs(10);
            while alive(pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            if alive(pid) {
                signal_group(pid, "KILL");
            }
        }
        [kind, program, args @ ..] if kind == "run" => {
            let _ = succeeds(Command::new(program).args(args));
        }
        [kind, path] if kind == "rm" => {
            let _ = std::fs::remove_dir_all(path);
        }
        _ => {}
    }
}
