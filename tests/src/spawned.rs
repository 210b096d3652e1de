//! The real `mystery-buyer` binary as a child process, for stories that
//! kill it: started with a test environment's configuration on a free port,
//! killed with SIGKILL, started again on the same database and store.
//!
//! The child is killed when the handle drops, so a failing test leaves no
//! server behind.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use crate::{TestEnv, TestServer, binary};

/// A running `mystery-buyer serve` and an HTTP client for it.
pub struct SpawnedServer {
    child: Mutex<Child>,
    pub server: TestServer,
    logs: Arc<Mutex<Vec<String>>>,
}

impl SpawnedServer {
    /// Starts the binary with `env`'s configuration (its own `MB_*`
    /// variables only, none of this process's) and waits until it is ready.
    pub async fn start(env: &TestEnv) -> Self {
        let mut command = Command::new(binary());
        command.current_dir(env.dir.path());
        for (key, _) in std::env::vars() {
            if key.starts_with("MB_") {
                command.env_remove(key);
            }
        }
        // The address it bound (port 0) is only in its "serving" log line.
        command
            .envs(env.env_vars())
            .env("MB_LOG_LEVEL", "info")
            .env("MB_LOG_FORMAT", "json")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("the server binary starts");
        let logs = capture_stderr(&mut child);
        let deadline = Instant::now() + Duration::from_secs(60);
        let addr = loop {
            if let Some(addr) = serving_addr(&logs) {
                break addr;
            }
            if let Some(status) = child.try_wait().expect("wait") {
                panic!(
                    "the server exited ({status}) before serving:\n{}",
                    join(&logs)
                );
            }
            assert!(
                Instant::now() < deadline,
                "the server did not serve within 60 s:\n{}",
                join(&logs)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let spawned = Self {
            child: Mutex::new(child),
            server: TestServer::at(format!("http://{addr}")),
            logs,
        };
        spawned.wait_ready().await;
        spawned
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = self
                .server
                .http
                .get(self.server.url("/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the server was not ready within 30 s:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL, and wait for the process to be gone: no shutdown code runs.
    /// Takes `&self` so a test can kill the server while a request to it is
    /// in flight.
    pub fn kill(&self) {
        let mut child = self.child.lock().expect("child lock");
        child.kill().expect("SIGKILL the server");
        child.wait().expect("reap the server");
    }

    /// The server's process id (to read its memory from /proc).
    pub fn pid(&self) -> u32 {
        self.child.lock().expect("child lock").id()
    }

    /// Everything the server logged so far.
    pub fn logs(&self) -> String {
        join(&self.logs)
    }
}

impl Drop for SpawnedServer {
    fn drop(&mut self) {
        if let Ok(child) = self.child.get_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn capture_stderr(child: &mut Child) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let stderr = child.stderr.take().expect("piped stderr");
    let sink = Arc::clone(&lines);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().expect("log lock").push(line);
        }
    });
    lines
}

fn join(lines: &Mutex<Vec<String>>) -> String {
    lines.lock().expect("log lock").join("\n")
}

/// The `addr` of the JSON log line `serving`.
fn serving_addr(lines: &Mutex<Vec<String>>) -> Option<String> {
    lines.lock().expect("log lock").iter().find_map(|line| {
        let event: serde_json::Value = serde_json::from_str(line).ok()?;
        (event["message"] == "serving").then(|| event["addr"].as_str().map(str::to_owned))?
    })
}
