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

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use mystery_buyer_server::{
    auth::{
        Role,
        invitations::{self, NewInvitation},
        sessions::{self, SessionKind},
    },
    db::{DbError, identity},
};
use mystery_buyer_tests::{
    Backend, TestEnv, TestServer, eventually, link_token_in, on_each_backend,
    people::{Person, get, person, post, send},
    service_var,
    sync::{Device, new_id},
    unique,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sync_protocol::{
    Mutation,
    mutations::{AddEvidence, RecordPurchase, RequestReimbursement, SetShipment},
    records::{EvidenceKind, Money, Status},
};
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

/// Where this run's screenshots go: beside the build, never in the tree,
/// in a folder named `run`.
fn screenshots(run: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let exe = std::env::current_exe().expect("current exe");
            exe.ancestors()
                .nth(3)
                .map(std::path::Path::to_path_buf)
                .expect("target dir")
        });
    let dir = target.join("panel-screenshots").join(run);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

/// Runs the browser script `script` (in `tests/browser`) on `seed`;
/// answers its last JSON line. While it runs, the script may ask, one JSON
/// line on stdout, for what only the server's side can see or do; the
/// answer goes to its stdin as one JSON line:
/// - `{"need": "recovery_link", "email": ...}`: the token mailed to them;
/// - `{"need": "offline_purchase", "task": ...}`: the task's volunteer
///   accepts and buys it on a phone that has not synced yet;
/// - `{"need": "phone_syncs"}`: that phone syncs.
///
/// Fails with everything it printed if it fails or takes too long.
async fn run_browser(
    env: &TestEnv,
    w: &World,
    script: &str,
    base: &str,
    seed: &Value,
    out: &std::path::Path,
) -> Value {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let seed_file = out.join("seed.json");
    std::fs::write(&seed_file, seed.to_string()).expect("seed written");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("browser")
        .join(script);
    let mut child = Command::new("node")
        .arg(&script)
        .arg("--base")
        .arg(base)
        .arg("--seed")
        .arg(&seed_file)
        .arg("--out")
        .arg(out)
        .env("MB_TEST_NODE_MODULES", service_var("MB_TEST_NODE_MODULES"))
        .env("MB_TEST_CHROMIUM", service_var("MB_TEST_CHROMIUM"))
        .env("MB_TEST_FIREFOX", service_var("MB_TEST_FIREFOX"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run node {}: {e}", script.display()));
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut stderr = child.stderr.take().expect("stderr");
    let errors = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        text
    });
    let talk = async {
        let mut printed = Vec::new();
        let mut phone = None;
        while let Some(line) = stdout.next_line().await.expect("read stdout") {
            let ask = serde_json::from_str::<Value>(&line).unwrap_or_default();
            let answer = match ask["need"].as_str() {
                Some("recovery_link") => {
                    let email = ask["email"].as_str().expect("email").to_string();
                    let token = recovery_token_mailed_to(env, &email).await;
                    Some(json!({ "token": token }))
                }
                Some("offline_purchase") => {
                    let task = ask["task"].as_str().expect("task");
                    phone = Some((buys_offline(env, w, task).await, task.to_string()));
                    Some(json!({}))
                }
                Some("phone_syncs") => {
                    let (mut device, task): (Device, String) =
                        phone.take().expect("a phone bought offline first");
                    device
                        .sync(&w.server, chrono::Utc::now().timestamp_micros())
                        .await;
                    assert!(
                        device.replica.refused().is_empty(),
                        "{:?}",
                        device.replica.refused()
                    );
                    // The phone learns that its purchase stands.
                    let key = (sync_protocol::Kind::Task, task.clone());
                    match device.replica.confirmed().get(&key) {
                        Some(sync_protocol::Record::Task(t)) => {
                            assert_eq!(t.status.status, Status::Purchased, "{t:?}")
                        }
                        other => panic!("the phone lost task {task}: {other:?}"),
                    }
                    Some(json!({}))
                }
                _ => None,
            };
            if let Some(answer) = answer {
                stdin
                    .write_all(format!("{answer}\n").as_bytes())
                    .await
                    .expect("answer the script");
            }
            printed.push(line);
        }
        let status = child.wait().await.expect("wait for node");
        (status, printed)
    };
    let (status, printed) = tokio::time::timeout(BROWSER_TIMEOUT, talk)
        .await
        .unwrap_or_else(|_| panic!("the browser run did not finish within {BROWSER_TIMEOUT:?}"));
    let stdout = printed.join("\n");
    let stderr = errors.await.unwrap_or_default();
    assert!(
        status.success(),
        "the browser run failed ({status}); screenshots in {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.display()
    );
    eprintln!("{stdout}");
    let line = printed
        .iter()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_else(|| panic!("the browser run printed nothing; stderr:\n{stderr}"));
    serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("the browser run's last line is not JSON ({e}): {line}"))
}

/// The volunteer task `task` is offered to accepts it and records a
/// purchase on a phone that has not pushed yet (it was offline); answers
/// the phone, to sync later.
async fn buys_offline(env: &TestEnv, w: &World, task: &str) -> Device {
    let id = task.to_string();
    let row = env
        .database()
        .await
        .read(move |conn| {
            mystery_buyer_server::db::sync::find_task(conn, &id).map_err(DbError::from)
        })
        .await
        .expect("read the task")
        .expect("the task exists");
    let assignee = row.assignee_id.expect("the task is offered to someone");
    let volunteer = w
        .volunteers
        .iter()
        .find(|v| v.user_id == assignee)
        .expect("offered to one of the world's volunteers");
    let mut phone = Device::register(&w.server, volunteer, "phone").await;
    phone.pull(&w.server).await;
    let now = chrono::Utc::now().timestamp_micros();
    let generation = row.generation as u32;
    use crate::e2e::sync::{purchase, status};
    for mutation in [
        status(task, generation, Status::Accepted),
        purchase(&new_id(), task, "TB-20261124-7781", 18_800),
        status(task, generation, Status::Purchased),
    ] {
        phone.mutate(now, mutation);
    }
    phone
}

/// The token of the recovery link mailed to `email` (the test server
/// writes mail as `.eml` files to its outbox folder).
async fn recovery_token_mailed_to(env: &TestEnv, email: &str) -> String {
    let dir = env.config.outbox_dir();
    let email = email.to_string();
    eventually(Duration::from_secs(30), "the recovery mail", || {
        let (dir, email) = (dir.clone(), email.clone());
        async move {
            for entry in std::fs::read_dir(&dir).ok()?.flatten() {
                let Ok(raw) = std::fs::read_to_string(entry.path()) else {
                    continue;
                };
                if raw.contains(&email) && raw.contains("/recover/") {
                    return link_token_in(&raw, "recover");
                }
            }
            None
        }
    })
    .await
    .expect("the recovery link is mailed")
}

/// What the pages need before anyone opens them: the people (invited,
/// not yet registered: they register in the browser), a relay station and
/// a lab, and volunteers with buying profiles for the assignment.
struct World {
    server: TestServer,
    admin: Person,
    coordinator: Invited,
    operator: Invited,
    inspector: Invited,
    administrator: Invited,
    station: String,
    lab: String,
    /// The volunteers with buying profiles the assignment offers tasks to.
    volunteers: Vec<Person>,
}

async fn world(env: &TestEnv, server: TestServer) -> World {
    let admin = person(&server, env, Role::Administrator).await;
    let coordinator = invite(env, Role::Coordinator, "Chen Jing").await;
    let operator = invite(env, Role::RelayOperator, "Wang Lei").await;
    let inspector = invite(env, Role::LabInspector, "Liu Yang").await;
    let administrator = invite(env, Role::Administrator, "Zhao Min").await;
    let token = Some(admin.access_token.as_str());
    let (status, station) = post(
        &server,
        "/api/stations",
        token,
        json!({
            "name": "Wuhan relay 3", "region": "Hubei",
            "address": ["Room 301, 18 Jiefang Avenue", "Wuhan 430000"], "staff": [operator.user_id],
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{station}");
    let (status, lab) = post(
        &server,
        "/api/labs",
        token,
        json!({
            "name": "Shanghai Product Testing Lab", "region": "Shanghai",
            "address": ["88 Caobao Road", "Shanghai 200233"], "staff": [inspector.user_id],
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{lab}");
    let mut volunteers = Vec::new();
    for _ in 0..4 {
        let volunteer = person(&server, env, Role::Volunteer).await;
        let (status, body) = send(&server, Method::PUT, "/api/me/profile", Some(&volunteer.access_token), json!({
            "region": "Hubei", "categories": ["power-strips", "travel-bags"], "platforms": ["jd", "taobao"],
            "capacity": 2, "spending_cap": 50_000,
        })).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        volunteers.push(volunteer);
    }
    World {
        volunteers,
        station: station["id"].as_str().expect("id").to_string(),
        lab: lab["id"].as_str().expect("id").to_string(),
        server,
        admin,
        coordinator,
        operator,
        inspector,
        administrator,
    }
}

/// The campaign [`parcel_on_its_way`] seeds and the task its parcel
/// belongs to.
struct Seeded {
    campaign: String,
    task: String,
}

/// A parcel on its way to the station, from a campaign seeded over the
/// API (the stations open and seal its parcels in front of a witness): a
/// volunteer claimed a slot on its open board, bought, shipped with a
/// tracking number the operator then scans in the browser, and asked to be
/// reimbursed twice (the price, and a courier fee the coordinator rejects).
async fn parcel_on_its_way(env: &TestEnv, w: &World, tracking: &str) -> Seeded {
    let server = &w.server;
    let planner = person(server, env, Role::Coordinator).await;
    let token = Some(planner.access_token.as_str());
    let (status, campaign) = post(server, "/api/campaigns", token, json!({
        "name": "Power strips winter sweep", "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2030-12-31T00:00:00Z",
        "platforms": ["jd"], "currency": "CNY", "budget": 1_000_000, "open_board": true,
        "relay_stations": [w.station], "lab": w.lab, "witnessed_opening": true,
        "test_plan": "GB 2099.1 plugs and sockets: temperature rise, insulation",
    })).await;
    assert_eq!(status, StatusCode::CREATED, "{campaign}");
    let id = campaign["id"].as_str().expect("id").to_string();
    let path = format!("/api/campaigns/{id}");
    let (status, body) = send(
        server,
        Method::PUT,
        &format!("{path}/quotas"),
        token,
        json!([{ "category": "power-strips", "target": 1 }]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = post(server, &format!("{path}/candidates"), token, json!({
        "category": "power-strips", "platform": "jd", "listing_url": "https://jd.example.com/item/900",
        "shop_id": "shop-900", "shop_name": "Spark City", "listed_price": 4_200, "source": "complaint",
    })).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = send(
        server,
        Method::PATCH,
        &path,
        token,
        json!({ "status": "active" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let buyer = person(server, env, Role::Volunteer).await;
    let token = Some(buyer.access_token.as_str());
    let (status, body) = send(server, Method::PUT, "/api/me/profile", token, json!({
        "region": "Hubei", "categories": ["power-strips"], "platforms": ["jd"], "capacity": 1, "spending_cap": 9_000,
    })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, board) = get(server, &format!("{path}/board"), token).await;
    let (status, claimed) = post(
        server,
        &format!("{path}/board/claim"),
        token,
        json!({ "candidate_id": board[0]["candidate_id"] }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{claimed}");
    let task = claimed["task_id"].as_str().expect("task").to_string();
    let mut phone = Device::register(server, &buyer, "phone").await;
    phone.pull(server).await;
    let now = chrono::Utc::now().timestamp_micros();
    phone.mutate(
        now,
        Mutation::RecordPurchase(RecordPurchase {
            id: new_id(),
            task_id: task.clone(),
            order_number: "JD-20261201-0042".into(),
            amount: Money::new(4_200, "CNY"),
            purchased_at_us: now,
            shop_name: "Spark City".into(),
        }),
    );
    phone.mutate(
        now,
        Mutation::SetShipment(SetShipment {
            task_id: task.clone(),
            carrier: Some("SF Express".into()),
            tracking_number: Some(tracking.into()),
        }),
    );
    phone.mutate(
        now,
        Mutation::RequestReimbursement(RequestReimbursement {
            id: new_id(),
            task_id: task.clone(),
            amount: Money::new(4_200, "CNY"),
            note: "paid by card".into(),
        }),
    );
    phone.mutate(
        now,
        Mutation::RequestReimbursement(RequestReimbursement {
            id: new_id(),
            task_id: task.clone(),
            amount: Money::new(800, "CNY"),
            note: "courier fee".into(),
        }),
    );
    // A photo of the listing, recorded on the phone and uploaded over tus.
    let photo = listing_photo();
    let evidence = new_id();
    phone.mutate(
        now,
        Mutation::AddEvidence(AddEvidence {
            id: evidence.clone(),
            task_id: task.clone(),
            kind: EvidenceKind::ListingPhoto,
            sha256: hex::encode(Sha256::digest(&photo)),
            size: photo.len() as u64,
            media_type: "image/png".into(),
            captured_at_us: now,
            note: String::new(),
        }),
    );
    phone.sync(server, now).await;
    assert!(
        phone.replica.refused().is_empty(),
        "{:?}",
        phone.replica.refused()
    );
    let response = server
        .http
        .post(server.url("/api/uploads"))
        .bearer_auth(&buyer.access_token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", photo.len().to_string())
        .header(
            "Upload-Metadata",
            format!("evidence_id {}", BASE64.encode(&evidence)),
        )
        .header("Content-Type", "application/offset+octet-stream")
        .body(photo)
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status(), StatusCode::CREATED);
    let planner = Some(planner.access_token.as_str());
    eventually(Duration::from_secs(20), "the photo is verified", || async {
        let (_, package) = get(server, &format!("/api/tasks/{task}/evidence"), planner).await;
        (package["items"][0]["status"] == "verified").then_some(())
    })
    .await
    .expect("the photo is verified");
    Seeded { campaign: id, task }
}

/// A small PNG with something to see in its thumbnail.
fn listing_photo() -> Vec<u8> {
    let picture = image::RgbImage::from_fn(96, 64, |x, y| {
        image::Rgb([
            (x * 2) as u8,
            (y * 3) as u8,
            if (x / 16 + y / 16) % 2 == 0 { 200 } else { 40 },
        ])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    picture
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("png");
    out.into_inner()
}

/// The candidate files the coordinator imports: one with mistakes on
/// three rows (refused whole, each row named), then a good one.
const BAD_CSV: &str = "category,platform,listing_url,shop_id,shop_name,listed_price,source
power-strips,jd,https://jd.example.com/item/1,shop-1,Bright Sparks 1,4500,complaint
power-strips,amazon,https://jd.example.com/item/2,shop-2,Bright Sparks 2,4600,complaint
travel-bags,jd,https://jd.example.com/item/3,,Roam Bags,cheap,platform_feed
travel-bags,taobao,https://taobao.example.com/item/4,shop-4,Trip Gear,18000,rumour
";

const GOOD_CSV: &str = "category,platform,listing_url,shop_id,shop_name,listed_price,source,complaints,claims
power-strips,jd,https://jd.example.com/item/11,ps-1,Bright Sparks Store,4500,complaint,12,flash_sale;super_low_price
power-strips,jd,https://jd.example.com/item/12,ps-2,Volt King,5200,platform_feed,3,
power-strips,jd,https://jd.example.com/item/13,ps-3,Plug Palace,3900,earlier_failure,7,hot_seller
travel-bags,jd,https://jd.example.com/item/14,tb-1,Roam Bags,18800,public_opinion,5,
travel-bags,taobao,https://taobao.example.com/item/15,tb-2,Trip Gear,21000,complaint,9,flash_sale
travel-bags,taobao,https://taobao.example.com/item/16,tb-3,Weekend Packs,15900,platform_feed,0,
";

on_each_backend! {
/// A day of the programme's staff in the browser: a coordinator accepts
/// an invitation, registers a passkey, signs out and back in, creates a
/// campaign, imports candidates (a bad file's rows reported, then a good
/// one), commits an assignment and sees the progress charts; a relay
/// operator scans a parcel and opens its label; a lab inspector records a
/// result and uploads the report; the coordinator publishes it, pays the
/// reimbursement and recovers the account on a new device; an
/// administrator invites, disables and re-enables, adds a station and
/// reads personal data on purpose.
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
            ("MB_CUSTODY_SIGNING_KEY", crate::e2e::logistics::SIGNING_SEED),
        ],
    );
    let w = world(&env, env.start_on(listener).await).await;
    // Typed at the station as the label shows it, with spaces.
    let seeded = parcel_on_its_way(&env, &w, "SF1234567890").await.campaign;
    let seed = json!({
        "tracking_typed": "sf 1234 5678 90",
        "seeded_campaign": { "id": seeded, "name": "Power strips winter sweep" },
        "coordinator": { "token": w.coordinator.token, "email": w.coordinator.email, "name": "Chen Jing" },
        "operator": { "token": w.operator.token, "email": w.operator.email, "name": "Wang Lei" },
        "inspector": { "token": w.inspector.token, "email": w.inspector.email, "name": "Liu Yang" },
        "administrator": { "token": w.administrator.token, "email": w.administrator.email, "name": "Zhao Min" },
        "station": { "id": w.station, "name": "Wuhan relay 3" },
        "lab": { "id": w.lab, "name": "Shanghai Product Testing Lab" },
        "bad_csv": BAD_CSV,
        "good_csv": GOOD_CSV,
    });
    let out = screenshots(match backend {
        Backend::SqliteFs => "sqlite",
        Backend::PostgresGarage => "postgres",
    });
    let report = run_browser(&env, &w, "panel.mjs", &origin, &seed, &out).await;
    assert_eq!(report["ok"], true, "{report}");
    let server = &w.server;
    let admin = Some(w.admin.access_token.as_str());

    // The passkey the browser registered is the coordinator's, and the
    // browser sessions it opened are listed as the coordinator's devices.
    let (status, devices) = get(server, &format!("/api/users/{}/devices", w.coordinator.user_id), admin).await;
    assert_eq!(status, StatusCode::OK, "{devices}");
    let browser_sessions: Vec<&Value> = devices
        .as_array()
        .expect("list")
        .iter()
        .filter(|d| d["kind"] == "browser")
        .collect();
    // The invitation's session (ended by signing out), the sign-in's
    // (ended when its passkey was removed) and the recovery's.
    assert_eq!(browser_sessions.len(), 3, "{devices}");
    assert_eq!(
        browser_sessions.iter().filter(|d| d["revoked_at"].is_null()).count(),
        1,
        "{devices}"
    );

    // What the coordinator did in the browser is what the API holds.
    let coordinator = app_session(&env, &w.coordinator, Role::Coordinator).await;
    let (_, campaigns) = get(server, "/api/campaigns", Some(&coordinator)).await;
    let campaign = campaigns
        .as_array()
        .expect("list")
        .iter()
        .find(|c| c["name"] == "Double 11, 2026")
        .unwrap_or_else(|| panic!("the campaign made in the browser: {campaigns}"))
        .clone();
    assert_eq!(campaign["status"], "active", "{campaign}");
    assert_eq!(campaign["relay_stations"], json!([w.station]), "{campaign}");
    assert_eq!(campaign["lab"], w.lab, "{campaign}");
    assert_eq!(campaign["budget"], 500_000, "{campaign}");
    assert_eq!(campaign["candidates"], 6, "{campaign}");
    assert_eq!(campaign["quotas"].as_array().map(Vec::len), Some(2), "{campaign}");
    let id = campaign["id"].as_str().expect("id");
    let (_, tasks) = get(server, &format!("/api/tasks?campaign_id={id}"), Some(&coordinator)).await;
    assert_eq!(tasks.as_array().map(Vec::len), Some(4), "{tasks}");
    // One was reassigned (offered again, in a second generation, to someone
    // else); one was cancelled in the browser while its volunteer bought it
    // offline: the purchase stands, and the flag it raised was resolved.
    let tasks = tasks.as_array().expect("list");
    let count = |status: &str| tasks.iter().filter(|t| t["status"] == status).count();
    assert_eq!((count("offered"), count("purchased")), (3, 1), "{tasks:?}");
    let bought = tasks.iter().find(|t| t["status"] == "purchased").expect("bought");
    let (_, detail) = get(server, &format!("/api/tasks/{}", bought["id"].as_str().expect("id")), Some(&coordinator)).await;
    let history = detail["record"]["history"].as_array().expect("history");
    assert!(history.iter().any(|h| h["status"] == "cancelled"), "{detail}");
    let (_, reviews) = get(server, "/api/reviews?status=all", Some(&coordinator)).await;
    let flag = reviews
        .as_array()
        .expect("list")
        .iter()
        .find(|r| r["task_id"] == bought["id"])
        .unwrap_or_else(|| panic!("{reviews}"));
    assert_eq!(flag["reason"], "purchase_after_cancellation", "{flag}");
    assert_eq!(flag["resolution"], "Keep the purchase: the bag goes on to the lab.", "{flag}");
    let reassigned: Vec<&Value> = tasks.iter().filter(|t| t["generation"] == 2).collect();
    assert_eq!(reassigned.len(), 1, "{tasks:?}");
    let task = reassigned[0]["id"].as_str().expect("id");
    let (_, detail) = get(server, &format!("/api/tasks/{task}"), Some(&coordinator)).await;
    let history = detail["record"]["history"].as_array().expect("history");
    assert!(history.iter().any(|h| h["generation"] == 2 && h["status"] == "offered"), "{detail}");

    // The parcel went through the station and the lab in the browser.
    let (_, parcels) = get(server, &format!("/api/campaigns/{seeded}/parcels"), Some(&coordinator)).await;
    let parcel = &parcels[0];
    assert_eq!(parcel["stage"], "published", "{parcels}");
    assert_eq!(parcel["condition"], "intact", "{parcels}");
    assert_eq!(parcel["outgoing_carrier"], "EMS", "{parcels}");
    assert_eq!(parcel["result"]["verdict"], "unqualified", "{parcels}");
    assert_eq!(parcel["result"]["failed_items"], json!(["temperature rise", "insulation resistance"]), "{parcels}");
    assert_eq!(parcel["result"]["standard"], "GB 2099.1-2021", "{parcels}");
    assert!(parcel["result"]["report_sha256"].is_string(), "{parcels}");
    assert_eq!(parcel["result"]["published"], true, "{parcels}");
    assert_eq!(parcel["photos"].as_array().map(Vec::len), Some(1), "the station's photo: {parcels}");

    // The administrator's pages: the coordinator invited, the station
    // added and out of use, the personal data read recorded as theirs.
    let (_, invited) = get(server, "/api/users?role=coordinator", admin).await;
    assert!(invited.as_array().expect("list").iter().any(|u| u["display_name"] == "Sun Hui" && u["status"] == "invited"), "{invited}");
    let (_, stations) = get(server, "/api/stations", admin).await;
    let hangzhou = stations.as_array().expect("list").iter().find(|s| s["name"] == "Hangzhou relay 1").cloned().unwrap_or_else(|| panic!("{stations}"));
    assert_eq!(hangzhou["active"], false, "{hangzhou}");
    assert_eq!(hangzhou["staff"], json!([w.operator.user_id]), "{hangzhou}");
    let (_, operator) = get(server, &format!("/api/users/{}", w.operator.user_id), admin).await;
    assert_eq!(operator["status"], "active", "{operator}");
    let (_, volunteers) = get(server, "/api/volunteers", admin).await;
    let db = env.database().await;
    let mut reads = 0;
    for v in volunteers.as_array().expect("list") {
        let id = v["id"].as_str().expect("id").to_string();
        let audit = db
            .read(move |conn| identity::audit_of(conn, "user", &id).map_err(DbError::from))
            .await
            .expect("audit");
        for row in audit.iter().filter(|a| a.action == "personal_data.read") {
            assert_eq!(row.actor_user_id.as_deref(), Some(w.administrator.user_id.as_str()));
            reads += 1;
        }
    }
    assert_eq!(reads, 1, "one personal-data read, audited");
    // The reimbursement was approved and then paid.
    let (_, progress) = get(server, &format!("/api/campaigns/{seeded}/progress"), Some(&coordinator)).await;
    assert_eq!(progress["reimbursements"]["paid"], 1, "{progress}");
    assert_eq!(progress["reimbursements"]["rejected"], 1, "{progress}");
    // The witnessed sealing, and the lab's exception the coordinator resolved.
    assert_eq!(parcel["witness"], "Li Na, duty manager", "{parcels}");
    let (_, exceptions) = get(server, &format!("/api/campaigns/{seeded}/exceptions"), Some(&coordinator)).await;
    let exception = &exceptions[0];
    assert_eq!((exception["kind"].as_str(), exception["reported_by_role"].as_str()), (Some("damaged"), Some("lab")), "{exceptions}");
    assert_eq!(exception["resolution"], "Strip tested as received; box damage noted in the report.", "{exceptions}");

    for shot in [
        "invitation", "campaigns", "campaign-new", "quotas", "import-errors", "candidates", "assignment", "tasks",
        "progress", "station", "station-witness", "station-scanned", "label", "task-reassigned", "reviews", "station-forwarded", "lab", "lab-result",
        "progress-tested", "parcels", "task", "money", "volunteers", "account", "users", "user", "stations", "personal-data",
    ] {
        assert!(
            out.join(format!("{shot}.png")).is_file(),
            "no screenshot {shot}.png in {}",
            out.display()
        );
    }
    w.server.stop().await;
}
}

/// A session of `kind` for `user_id`, opened directly in the database (as
/// `admin session` does, and as a passkey sign-in ends).
async fn open_session(
    env: &TestEnv,
    user_id: &str,
    role: Role,
    kind: SessionKind,
) -> sessions::Issued {
    let services = env.services().await;
    let now = services.clock.now();
    let config = services.config.clone();
    let user = user_id.to_string();
    services
        .db
        .write(move |conn| sessions::issue(conn, &config, now, &user, role, None, kind, "test"))
        .await
        .expect("session")
}

/// An app session for someone whose only passkey is in the browser's
/// authenticator, for the checks made over the API.
async fn app_session(env: &TestEnv, who: &Invited, role: Role) -> String {
    match open_session(env, &who.user_id, role, SessionKind::App).await {
        sessions::Issued::App(tokens) => tokens.access_token,
        sessions::Issued::Browser(_) => panic!("asked for an app session"),
    }
}

/// A browser session: the session cookie's value and the CSRF token, for
/// a browser that cannot hold a virtual passkey.
async fn browser_session(env: &TestEnv, user_id: &str, role: Role) -> Value {
    match open_session(env, user_id, role, SessionKind::Browser).await {
        sessions::Issued::Browser(s) => json!({ "cookie": s.cookie_token, "csrf": s.csrf_token }),
        sessions::Issued::App(_) => panic!("asked for a browser session"),
    }
}

/// Every page of every role in Firefox (Debian's ESR, through
/// puppeteer-core over WebDriver BiDi), with no error in the console: the
/// signed-out pages, the coordinator's campaign tabs, task page and lists,
/// the station page on a 360 px screen (scan, witnessed sealing, label,
/// hand-over), the lab's result form and the administrator's pages. The
/// panel is the same on either backend, so one is enough.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_pages_work_in_firefox_without_console_errors() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    let port = listener.local_addr().expect("address").port();
    let origin = format!("http://localhost:{port}");
    let env = TestEnv::with(
        Backend::SqliteFs,
        &[
            ("MB_PUBLIC_ORIGIN", origin.as_str()),
            ("MB_RATE_LIMIT_IP_PER_MINUTE", "100000"),
            ("MB_RATE_LIMIT_ACCOUNT_PER_MINUTE", "100000"),
            (
                "MB_CUSTODY_SIGNING_KEY",
                crate::e2e::logistics::SIGNING_SEED,
            ),
        ],
    );
    let w = world(&env, env.start_on(listener).await).await;
    let seeded = parcel_on_its_way(&env, &w, "SF5550001111").await;
    let mut sessions = serde_json::Map::new();
    for (key, who, role) in [
        ("coordinator", &w.coordinator, Role::Coordinator),
        ("operator", &w.operator, Role::RelayOperator),
        ("inspector", &w.inspector, Role::LabInspector),
        ("administrator", &w.administrator, Role::Administrator),
    ] {
        // Their invitation is accepted over the API, with a software passkey.
        let mut passkey = webauthn_authenticator_rs::softpasskey::SoftPasskey::new(true);
        let (status, body) = mystery_buyer_tests::people::accept_invitation(
            &w.server,
            &env,
            &who.token,
            &mut passkey,
            json!({}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let mut session = browser_session(&env, &who.user_id, role).await;
        session["user_id"] = json!(who.user_id);
        sessions.insert(key.into(), session);
    }
    let unused = invite(&env, Role::Coordinator, "Qian Yu").await;
    let mut seed = json!({
        "invitation": unused.token,
        "tracking": "SF 5550 0011 11",
        "campaign": { "id": seeded.campaign, "name": "Power strips winter sweep" },
        "task": seeded.task,
        "station": { "id": w.station, "name": "Wuhan relay 3" },
        "lab": { "id": w.lab, "name": "Shanghai Product Testing Lab" },
    });
    for (key, session) in sessions {
        seed[key] = session;
    }
    seed["operator"]["name"] = json!("Wang Lei");
    let out = screenshots("firefox");
    let report = run_browser(&env, &w, "firefox.mjs", &origin, &seed, &out).await;
    assert_eq!(report["ok"], true, "{report}");
    assert!(
        report["browser"]
            .as_str()
            .is_some_and(|b| b.starts_with("firefox/")),
        "{report}"
    );

    // What the forms did in Firefox is what the API holds.
    let coordinator = app_session(&env, &w.coordinator, Role::Coordinator).await;
    let (_, parcels) = get(
        &w.server,
        &format!("/api/campaigns/{}/parcels", seeded.campaign),
        Some(&coordinator),
    )
    .await;
    let parcel = &parcels[0];
    assert_eq!(parcel["sample_code"], report["sample"], "{parcels}");
    assert_eq!(parcel["witness"], "Zhou Ping", "{parcels}");
    assert_eq!(parcel["outgoing_carrier"], "EMS", "{parcels}");
    assert_eq!(
        parcel["outgoing_tracking_number"], "EMS1122334455",
        "{parcels}"
    );
    assert_eq!(parcel["result"]["verdict"], "qualified", "{parcels}");
    assert_eq!(parcel["result"]["standard"], "GB 2099.1-2021", "{parcels}");
    for shot in [
        "sign-in",
        "invitation",
        "campaigns",
        "campaign-progress",
        "task",
        "station",
        "station-hold",
        "station-scanned",
        "lab",
        "admin-users",
    ] {
        assert!(
            out.join(format!("{shot}.png")).is_file(),
            "no screenshot {shot}.png in {}",
            out.display()
        );
    }
    w.server.stop().await;
}
