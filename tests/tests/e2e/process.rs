//! The real binary: defaults, bad configuration, `migrate`, and SIGTERM.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::Duration,
};

use mystery_buyer_server::db::{self, Database, DbError};
use mystery_buyer_tests::{Backend, TestEnv, binary, eventually};

/// The binary with no `MB_*` variable from this process's environment.
fn command(cwd: &std::path::Path) -> Command {
    let mut cmd = Command::new(binary());
    cmd.current_dir(cwd);
    for (key, _) in std::env::vars() {
        if key.starts_with("MB_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Collects stderr lines in the background.
fn capture_stderr(child: &mut Child) -> std::sync::Arc<std::sync::Mutex<Vec<String>>> {
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let stderr = child.stderr.take().expect("piped stderr");
    let sink = std::sync::Arc::clone(&lines);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().expect("lock").push(line);
        }
    });
    lines
}

#[test]
fn invalid_configuration_stops_the_server_with_one_line_naming_the_setting() {
    let dir = tempfile::tempdir().expect("dir");
    for (key, value, setting) in [
        ("MB_LISTEN", "not-an-address", "listen"),
        ("MB_BLOB_STORE", "s3", "s3_endpoint"),
        ("MB_DATABASE_URL", "mysql://db", "database_url"),
    ] {
        let output = command(dir.path()).env(key, value).output().expect("run");
        assert_eq!(output.status.code(), Some(2), "{key}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(setting), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let toml = dir.path().join("bad.toml");
    std::fs::write(&toml, "listen = 8080\n").expect("write");
    let output = command(dir.path())
        .args(["--config", toml.to_str().expect("utf8")])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("listen"));
}

#[tokio::test]
async fn with_no_configuration_it_serves_on_8080_with_sqlite_and_blobs_under_data() {
    let dir = tempfile::tempdir().expect("dir");
    let mut child = command(dir.path())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let logs = capture_stderr(&mut child);
    let client = mystery_buyer_tests::http_client().build().expect("client");
    let ready = eventually(
        Duration::from_secs(30),
        "the default server on 127.0.0.1:8080",
        || {
            let client = client.clone();
            async move {
                let response = client
                    .get("http://127.0.0.1:8080/readyz")
                    .send()
                    .await
                    .ok()?;
                response.json::<serde_json::Value>().await.ok()
            }
        },
    )
    .await;
    terminate(&child);
    let status = wait_exit(&mut child, Duration::from_secs(30));
    let ready = ready.expect("serves on 8080");
    assert_eq!(ready["database"], "sqlite");
    assert!(status.success(), "{status:?}");
    let data = dir.path().join("data");
    assert!(data.join("mystery-buyer.sqlite3").is_file());
    assert!(data.join("blobs").is_dir());
    let logs = logs.lock().expect("lock").join("\n");
    assert!(
        logs.contains("mystery-buyer.sqlite3"),
        "logs say where the database is: {logs}"
    );
    assert!(
        logs.contains("data/blobs"),
        "logs say where blobs are: {logs}"
    );
    assert!(
        logs.contains("data/outbox"),
        "logs say where mail goes: {logs}"
    );
}

#[tokio::test]
async fn migrate_applies_every_migration_and_exits() {
    let env = TestEnv::new(Backend::SqliteFs);
    let output = command(env.dir.path())
        .envs(env.env_vars())
        .arg("migrate")
        .output()
        .expect("run");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("mail_outbox"), "{stdout}");
}

/// SIGTERM while a job is in flight: the server stops accepting, waits the
/// grace period, gives the job back to the queue and exits 0.
#[tokio::test]
async fn sigterm_releases_claimed_jobs_and_exits_zero() {
    // An SMTP server that accepts connections and never answers: the mail job hangs.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let smtp = format!("smtp://{}", silent.local_addr().expect("addr"));
    let _keep = std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in silent.incoming().flatten() {
            held.push(stream);
        }
    });
    let env = TestEnv::with(
        Backend::SqliteFs,
        &[("MB_SMTP_URL", &smtp), ("MB_SHUTDOWN_GRACE_SECS", "1")],
    );
    let queued = command(env.dir.path())
        .envs(env.env_vars())
        .args(["mail", "send-test", "--to", "someone@example.org"])
        .output()
        .expect("queue");
    assert!(
        queued.status.success(),
        "{}",
        String::from_utf8_lossy(&queued.stderr)
    );

    let mut child = command(env.dir.path())
        .envs(env.env_vars())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let _logs = capture_stderr(&mut child);
    let db: Database = env.database().await;
    let job_state = |db: Database| async move {
        // Only the mail job: housekeeping jobs (the daily sync pruning)
        // share the queue.
        db.read(|conn| {
            db::jobs::of_kind(conn, mystery_buyer_server::mail::SEND_JOB).map_err(DbError::from)
        })
        .await
        .expect("read jobs")
    };
    eventually(Duration::from_secs(30), "the mail job is running", || {
        let db = db.clone();
        async move {
            job_state(db)
                .await
                .iter()
                .any(|j| j.state == "running")
                .then_some(())
        }
    })
    .await
    .expect("job claimed");

    terminate(&child);
    let status = wait_exit(&mut child, Duration::from_secs(20));
    assert!(status.success(), "exit status {status:?}");
    let jobs = job_state(db).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].state, "queued", "released, not left leased");
    assert_eq!(jobs[0].lease_owner, None);
    assert_eq!(jobs[0].attempts, 0);
}
