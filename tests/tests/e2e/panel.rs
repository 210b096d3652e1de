//! The web pages in a real browser: Debian's Chromium, headless, driven by
//! playwright-core from `tests/browser/panel.mjs`, with Chromium's virtual
//! authenticator (DevTools `WebAuthn.addVirtualAuthenticator`) holding
//! each person's passkey. This side starts the real server on a port the
//! browser's origin names, seeds over the API what the pages need (people
//! invited, a station and a lab, volunteers with profiles, a parcel on its
//! way), runs the script, and then checks over the API that what the
//! pages did really happened.
//!
//! `cargo xtask test` installs Chromium and playwright-core (see
//! `xtask/src/services/browser.rs`) and names them in `MB_TEST_CHROMIUM`
//! and `MB_TEST_NODE_MODULES`. Screenshots land in
//! `<target>/panel-screenshots/<backend>/`.

use std::{net::TcpListener, path::PathBuf, process::Stdio, time::Duration};

use mystery_buyer_server::auth::{
    Role,
    invitations::{self, NewInvitation},
};
use mystery_buyer_tests::{
    Backend, TestEnv, TestServer, on_each_backend,
    people::{get, person},
    service_var, unique,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::process::Command;

/// How long the whole browser run may take.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(300);

/// Someone invited the way the CLI does it: their user id and the token of
/// the link they open in the browser.
struct Invited {
    user_id: String,
    email: String,
    token: String,
}

async fn invite(env: &TestEnv, role: Role, name: &str) -> Invited {
    let services = env.services().await;
    let now = services.clock.now();
    let config = services.config.clone();
    let email = format!("{}@example.org", unique("staff-"));
    let new = NewInvitation {
        role,
        email: email.clone(),
        display_name: Some(name.to_string()),
    };
    let (created, link) = services
        .db
        .write(move |conn| invitations::create(conn, &config, now, None, &new))
        .await
        .expect("invitation created");
    Invited {
        user_id: created.user_id,
        email,
        token: mystery_buyer_tests::people::link_token(&link),
    }
}

/// Where this run's screenshots go: beside the build, never in the tree.
fn screenshots(backend: Backend) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let exe = std::env::current_exe().expect("current exe");
            exe.ancestors()
                .nth(3)
                .map(std::path::Path::to_path_buf)
                .expect("target dir")
        });
    let dir = target.join("panel-screenshots").join(match backend {
        Backend::SqliteFs => "sqlite",
        Backend::PostgresGarage => "postgres",
    });
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

/// Runs the browser script on `seed`; answers its last JSON line. Fails
/// with everything it printed if it fails or takes too long.
async fn run_browser(base: &str, seed: &Value, out: &std::path::Path) -> Value {
    let seed_file = out.join("seed.json");
    std::fs::write(&seed_file, seed.to_string()).expect("seed written");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("browser/panel.mjs");
    let mut cmd = Command::new("node");
    cmd.arg(&script)
        .arg("--base")
        .arg(base)
        .arg("--seed")
        .arg(&seed_file)
        .arg("--out")
        .arg(out)
        .env("MB_TEST_NODE_MODULES", service_var("MB_TEST_NODE_MODULES"))
        .env("MB_TEST_CHROMIUM", service_var("MB_TEST_CHROMIUM"))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(BROWSER_TIMEOUT, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("the browser run did not finish within {BROWSER_TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("cannot run node {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the browser run failed ({}); screenshots in {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status,
        out.display()
    );
    eprintln!("{stdout}");
    let line = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_else(|| panic!("the browser run printed nothing; stderr:\n{stderr}"));
    serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("the browser run's last line is not JSON ({e}): {line}"))
}

on_each_backend! {
/// A coordinator accepts an invitation in the browser, registers a
/// passkey, signs out and back in.
async fn the_panel_works_in_a_real_browser(backend: Backend) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    let port = listener.local_addr().expect("address").port();
    // Passkeys are bound to the origin the browser sees: `localhost` (a
    // secure context over plain HTTP) on this port.
    let origin = format!("http://localhost:{port}");
    let env = TestEnv::with(
        backend,
        &[
            ("MB_PUBLIC_ORIGIN", origin.as_str()),
            ("MB_RATE_LIMIT_IP_PER_MINUTE", "100000"),
            ("MB_RATE_LIMIT_ACCOUNT_PER_MINUTE", "100000"),
            ("MB_ACCESS_TOKEN_SECS", "86400"),
        ],
    );
    let server: TestServer = env.start_on(listener).await;

    let coordinator = invite(&env, Role::Coordinator, "Chen Jing").await;
    let seed = json!({
        "coordinator": { "token": coordinator.token, "email": coordinator.email, "name": "Chen Jing" },
    });
    let out = screenshots(backend);
    let report = run_browser(&origin, &seed, &out).await;
    assert_eq!(report["ok"], true, "{report}");

    // The passkey the browser registered is the coordinator's, and the
    // browser sessions it opened are listed as the coordinator's devices.
    let admin = person(&server, &env, Role::Administrator).await;
    let (status, devices) = get(
        &server,
        &format!("/api/users/{}/devices", coordinator.user_id),
        Some(&admin.access_token),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{devices}");
    let browser_sessions: Vec<&Value> = devices
        .as_array()
        .expect("list")
        .iter()
        .filter(|d| d["kind"] == "browser")
        .collect();
    // The invitation's session (ended by signing out) and the sign-in's.
    assert_eq!(browser_sessions.len(), 2, "{devices}");
    assert_eq!(
        browser_sessions.iter().filter(|d| d["revoked_at"].is_null()).count(),
        1,
        "{devices}"
    );
    for shot in ["invitation", "campaigns"] {
        assert!(
            out.join(format!("{shot}.png")).is_file(),
            "no screenshot {shot}.png in {}",
            out.display()
        );
    }
    server.stop().await;
}
}
