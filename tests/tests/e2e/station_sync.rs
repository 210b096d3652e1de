//! The relay station's scanner syncs: scans made offline and pushed later,
//! matched by tracking number or recipient code in either order; the
//! station's shelf in its scope until a parcel is forwarded; and nothing on
//! the scanner about who bought a parcel, where or for how much.

use std::time::Duration;

use futures_util::StreamExt;

use mystery_buyer_server::{
    auth::Role,
    clock::{Clock, ManualClock},
    db::{self, DbError},
};
use mystery_buyer_tests::{
    Backend, TestEnv, TestServer, on_each_backend,
    people::{Person, get, person, post, post_bytes, send},
    sync::{Device, new_id},
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sync_protocol::{
    Kind, Mutation, Record, Status,
    mutations::{AddNote, RecordScan, SetShipment, SetTaskStatus},
    records::{Condition, Instruction, ParcelStage, ScanStatus, StationParcel, StationScan},
    wire::{Outcome, PushResponse},
};

struct World {
    env: TestEnv,
    server: TestServer,
    clock: ManualClock,
    admin: Person,
    coordinator: Person,
    /// Station A (Zhejiang) and its operator; station B (Hubei) and its.
    station_a: String,
    operator_a: Person,
    station_b: String,
    operator_b: Person,
    lab: String,
    lab_name: String,
    campaign: String,
}

/// A volunteer with an accepted task whose parcel goes to a station.
struct Buyer {
    volunteer: Person,
    phone: Device,
    task: String,
    recipient_code: String,
    shop_name: String,
}

fn now(w: &World) -> i64 {
    w.clock.now().timestamp_micros()
}

async fn place(
    server: &TestServer,
    admin: &Person,
    path: &str,
    name: &str,
    region: &str,
    staff: &[&str],
) -> String {
    let (status, body) = post(
        server,
        path,
        Some(&admin.access_token),
        json!({
            "name": name, "region": region,
            "address": [format!("{name}, 1 Depot Road"), format!("{region} 310000")],
            "staff": staff,
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().expect("id").to_string()
}

async fn world(backend: Backend, witnessed_opening: bool) -> World {
    let env = TestEnv::with(
        backend,
        &[
            ("MB_RATE_LIMIT_IP_PER_MINUTE", "100000"),
            ("MB_ACCESS_TOKEN_SECS", "86400"),
            ("MB_JOBS_POLL_MS", "100"),
        ],
    );
    let clock = mystery_buyer_tests::manual_clock();
    let server = env.start_with_clock(clock.clone()).await;
    let admin = person(&server, &env, Role::Administrator).await;
    let coordinator = person(&server, &env, Role::Coordinator).await;
    let operator_a = person(&server, &env, Role::RelayOperator).await;
    let operator_b = person(&server, &env, Role::RelayOperator).await;
    let station_a = place(
        &server,
        &admin,
        "/api/stations",
        "Hangzhou relay",
        "Zhejiang",
        &[&operator_a.user_id],
    )
    .await;
    let station_b = place(
        &server,
        &admin,
        "/api/stations",
        "Wuhan relay",
        "Hubei",
        &[&operator_b.user_id],
    )
    .await;
    let lab_name = "Provincial Product Quality Lab".to_string();
    let lab = place(&server, &admin, "/api/labs", &lab_name, "Shanghai", &[]).await;

    let token = Some(coordinator.access_token.as_str());
    let today = clock.now();
    let (status, body) = post(
        &server,
        "/api/campaigns",
        token,
        json!({
            "name": "Power strips, winter",
            "starts_at": (today - chrono::Duration::days(1)).to_rfc3339(),
            "ends_at": (today + chrono::Duration::days(60)).to_rfc3339(),
            "platforms": ["jd"], "currency": "CNY", "budget": 1_000_000,
            "relay_stations": [station_a, station_b], "lab": lab,
            "witnessed_opening": witnessed_opening,
            "test_plan": "GB 2099.1 marking and temperature rise",
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let campaign = body["id"].as_str().expect("campaign").to_string();
    let path = format!("/api/campaigns/{campaign}");
    let (status, body) = send(
        &server,
        Method::PUT,
        &format!("{path}/quotas"),
        token,
        json!([{ "category": "power-strips", "platform": "jd", "target": 10 }]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = send(
        &server,
        Method::PATCH,
        &path,
        token,
        json!({ "status": "active" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    World {
        env,
        server,
        clock,
        admin,
        coordinator,
        station_a,
        operator_a,
        station_b,
        operator_b,
        lab,
        lab_name,
        campaign,
    }
}

/// A volunteer in `region` gets a task of the campaign (committed by the
/// coordinator), accepts it on their phone and learns where to send it.
async fn buyer(w: &World, region: &str) -> Buyer {
    let (volunteer, phone, mut tasks) = busy_buyer(w, region, 1).await;
    let (task, recipient_code, shop_name) = tasks.pop().expect("one task");
    Buyer {
        volunteer,
        phone,
        task,
        recipient_code,
        shop_name,
    }
}

/// A volunteer in `region` gets `n` tasks of the campaign, accepts them on
/// their phone and learns where to send each: (task, recipient code, shop
/// name) by task.
async fn busy_buyer(
    w: &World,
    region: &str,
    n: usize,
) -> (Person, Device, Vec<(String, String, String)>) {
    let volunteer = person(&w.server, &w.env, Role::Volunteer).await;
    let (status, body) = send(
        &w.server,
        Method::PUT,
        "/api/me/profile",
        Some(&volunteer.access_token),
        json!({
            "region": region, "categories": ["power-strips"], "platforms": ["jd"],
            "capacity": n, "spending_cap": 50_000 * n,
        }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = Some(w.coordinator.access_token.as_str());
    let path = format!("/api/campaigns/{}", w.campaign);
    let shops: Vec<String> = (0..n).map(|_| new_id()).collect();
    let listings: Vec<Value> = shops
        .iter()
        .map(|shop| {
            json!({
                "category": "power-strips", "platform": "jd",
                "listing_url": format!("https://jd.example.com/item/{shop}"),
                "shop_id": shop, "shop_name": format!("Shop {shop}"), "listed_price": 4_500,
                "complaints": 3, "source": "complaint",
            })
        })
        .collect();
    let (status, imported) = post_bytes(
        &w.server,
        &format!("{path}/candidates/import"),
        token,
        "application/json",
        serde_json::to_vec(&listings).expect("json"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{imported}");
    let (status, page) = get(&w.server, &format!("{path}/candidates?limit=500"), token).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let candidates = page["candidates"].as_array().expect("candidates");
    let assignments: Vec<Value> = shops
        .iter()
        .map(|shop| {
            let candidate = candidates
                .iter()
                .find(|c| c["shop_id"] == shop.as_str())
                .expect("the new listing");
            json!({ "candidate_id": candidate["id"], "volunteer_id": volunteer.user_id })
        })
        .collect();
    let (status, committed) = post(
        &w.server,
        &format!("{path}/assignment/commit"),
        token,
        json!({ "commit_id": new_id(), "tasks": assignments }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{committed}");
    let committed = committed["tasks"].as_array().expect("tasks");
    assert_eq!(committed.len(), n, "{committed:?}");

    let mut phone = Device::register(&w.server, &volunteer, "phone").await;
    phone.pull(&w.server).await;
    for t in committed {
        phone.mutate(
            now(w),
            Mutation::SetTaskStatus(SetTaskStatus {
                task_id: t["task_id"].as_str().expect("task").to_string(),
                generation: 1,
                status: Status::Accepted,
            }),
        );
    }
    phone.sync(&w.server, now(w)).await;
    let tasks = committed
        .iter()
        .map(|t| {
            let task = t["task_id"].as_str().expect("task").to_string();
            let shop = candidates
                .iter()
                .find(|c| c["id"] == t["candidate_id"])
                .and_then(|c| c["shop_name"].as_str())
                .expect("the task's listing")
                .to_string();
            let code = match phone.replica.confirmed().get(&(Kind::Task, task.clone())) {
                Some(Record::Task(t)) => t
                    .delivery
                    .as_ref()
                    .expect("an accepted task has a delivery address")
                    .recipient_code
                    .clone(),
                other => panic!("the task is on the phone: {other:?}"),
            };
            (task, code, shop)
        })
        .collect();
    (volunteer, phone, tasks)
}

/// The volunteer records the tracking number on their phone and syncs.
async fn ship(w: &World, buyer: &mut Buyer, tracking: &str) {
    buyer.phone.mutate(
        now(w),
        Mutation::SetShipment(SetShipment {
            task_id: buyer.task.clone(),
            carrier: Some("SF Express".into()),
            tracking_number: Some(tracking.into()),
        }),
    );
    let answers = buyer.phone.push(&w.server, now(w)).await;
    assert!(
        answers
            .iter()
            .flat_map(|a| &a.results)
            .all(|r| r.outcome == Outcome::Applied),
        "{answers:?}"
    );
}

fn scan(station: &str, code: &str, condition: Condition) -> (String, Mutation) {
    let id = new_id();
    let mutation = Mutation::RecordScan(RecordScan {
        id: id.clone(),
        station_id: station.to_string(),
        code: code.to_string(),
        condition,
        note: String::new(),
        photos: Vec::new(),
        scanned_at_us: chrono::Utc::now().timestamp_micros(),
    });
    (id, mutation)
}

fn outcomes(answers: &[PushResponse]) -> Vec<Outcome> {
    answers
        .iter()
        .flat_map(|a| &a.results)
        .map(|r| r.outcome.clone())
        .collect()
}

fn assert_refused(answers: &[PushResponse], code: &str) {
    match outcomes(answers).as_slice() {
        [Outcome::Rejected(r)] => assert_eq!(r.code, code, "{r:?}"),
        other => panic!("refused with {code}: {other:?}"),
    }
}

fn parcels(device: &Device) -> Vec<StationParcel> {
    device
        .replica
        .confirmed()
        .values()
        .filter_map(|r| match r {
            Record::StationParcel(p) => Some(p.clone()),
            _ => None,
        })
        .collect()
}

fn record_of(device: &Device, kind: Kind, id: &str) -> Option<Record> {
    device
        .replica
        .confirmed()
        .get(&(kind, id.to_string()))
        .cloned()
}

fn scan_of(device: &Device, id: &str) -> Option<StationScan> {
    match record_of(device, Kind::StationScan, id)? {
        Record::StationScan(s) => Some(s),
        _ => None,
    }
}

fn parcel_of(device: &Device, code: &str) -> Option<StationParcel> {
    match record_of(device, Kind::StationParcel, code)? {
        Record::StationParcel(p) => Some(p),
        _ => None,
    }
}

/// Every key of a JSON value, however deep.
fn keys(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                out.push(k.clone());
                keys(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| keys(v, out)),
        _ => {}
    }
}

/// What the station may not learn (design/logistics.md, "What each party
/// sees"): no field of the kind, and no value that names it.
fn assert_nothing_about_the_buyers(changes: &[Value], buyers: &[&Buyer], w: &World) {
    const FORBIDDEN: [&str; 10] = [
        "task",
        "volunteer",
        "pseudonym",
        "shop",
        "price",
        "amount",
        "platform",
        "category",
        "campaign",
        "assignee",
    ];
    for change in changes {
        let mut names = Vec::new();
        keys(change, &mut names);
        for name in &names {
            assert!(
                !FORBIDDEN.iter().any(|f| name.contains(f)),
                "the field {name:?} reached a station: {change}"
            );
        }
        let text = change.to_string();
        let mut secrets = vec![w.campaign.clone(), "power-strips".to_string()];
        for b in buyers {
            secrets.extend([
                b.task.clone(),
                b.volunteer.user_id.clone(),
                b.shop_name.clone(),
            ]);
        }
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "{secret:?} reached a station: {change}"
            );
        }
    }
}

async fn received_at_station(w: &World, task: &str) -> usize {
    let task = task.to_string();
    let database = w.env.database().await;
    database
        .read(move |conn| db::custody::entries_of_task(conn, &task).map_err(DbError::from))
        .await
        .expect("custody entries")
        .iter()
        .filter(|e| e.kind == "received_at_station")
        .count()
}

on_each_backend! {
/// Scans made offline at station A reach the server in one push: one by a
/// tracking number typed with another case, spaces and dashes, one by a
/// typed recipient code, one of a parcel addressed to station B (it waits).
/// The scanner then holds exactly its shelf, with the instruction and the
/// lab; station B's scanner holds nothing of it; the volunteers' phones
/// hold no station record; and a scan for a station the operator does not
/// work at is refused.
async fn a_station_scanner_matches_an_offline_batch_and_learns_nothing_about_the_buyers(backend: Backend) {
    let w = world(backend, false).await;
    let mut anna = buyer(&w, "Zhejiang").await;
    let ben = buyer(&w, "Zhejiang").await;
    let dan = buyer(&w, "Zhejiang").await;
    let mut cleo = buyer(&w, "Hubei").await;
    ship(&w, &mut anna, "SF1234567890123").await;
    ship(&w, &mut cleo, "YT5555666677").await;

    let mut scanner = Device::register(&w.server, &w.operator_a, "scanner at A").await;
    let (by_tracking, m) = scan(&w.station_a, "sf 1234-5678 90123", Condition::Intact);
    scanner.mutate(now(&w), m);
    let spaced_code = ben.recipient_code.to_lowercase().replace('-', " ");
    let (by_code, m) = scan(&w.station_a, &spaced_code, Condition::Damaged);
    scanner.mutate(now(&w), m);
    let (not_ours, m) = scan(&w.station_a, "YT5555666677", Condition::Intact);
    scanner.mutate(now(&w), m);
    assert_eq!(scan_of(&scanner, &by_tracking), None, "nothing confirmed offline");
    assert_eq!(scanner.replica.view().len(), 3, "but the app shows its three scans");
    let answers = scanner.push(&w.server, now(&w)).await;
    assert_eq!(outcomes(&answers), vec![Outcome::Applied; 3]);

    // A scan through the online API reaches the scanner too.
    let (status, body) = post(&w.server, &format!("/api/stations/{}/scans", w.station_a), Some(&w.operator_a.access_token),
        json!({ "id": new_id(), "code": dan.recipient_code, "condition": "intact" })).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let changes = scanner.pull_json(&w.server).await;
    assert!(scanner.replica.pending().is_empty());
    assert_nothing_about_the_buyers(&changes, &[&anna, &ben, &dan, &cleo], &w);
    let mut shelf: Vec<String> = parcels(&scanner).into_iter().map(|p| p.recipient_code).collect();
    shelf.sort();
    let mut expected = vec![anna.recipient_code.clone(), ben.recipient_code.clone(), dan.recipient_code.clone()];
    expected.sort();
    assert_eq!(shelf, expected, "exactly the three parcels at station A");
    for p in parcels(&scanner) {
        assert_eq!(p.station_id, w.station_a);
        assert_eq!(p.stage, ParcelStage::AtStation);
        assert_eq!(p.instruction, Instruction::RelabelAndForward);
        assert!(p.sample_code.is_some(), "{p:?}");
        assert_eq!(p.destination.as_ref().map(|d| d.name.as_str()), Some(w.lab_name.as_str()));
    }
    let annas = parcel_of(&scanner, &anna.recipient_code).expect("Anna's parcel");
    assert_eq!(annas.tracking_number.as_deref(), Some("SF1234567890123"));
    assert_eq!(parcel_of(&scanner, &ben.recipient_code).and_then(|p| p.condition), Some(Condition::Damaged));
    let matched = scan_of(&scanner, &by_tracking).expect("the tracking scan");
    assert_eq!((matched.status, matched.parcel.as_deref(), matched.instruction),
        (ScanStatus::Matched, Some(anna.recipient_code.as_str()), Instruction::RelabelAndForward));
    assert_eq!(matched.code, "SF1234567890123", "kept normalised");
    assert_eq!(scan_of(&scanner, &by_code).and_then(|s| s.parcel), Some(ben.recipient_code.clone()));
    let waiting = scan_of(&scanner, &not_ours).expect("the scan of B's parcel");
    assert_eq!((waiting.status, waiting.parcel, waiting.instruction), (ScanStatus::Waiting, None, Instruction::Hold));
    assert_eq!(received_at_station(&w, &anna.task).await, 1);
    assert_eq!(received_at_station(&w, &cleo.task).await, 0, "scanned at the wrong station: not received");

    // Station B's scanner sees none of A's work, and cannot scan for A; it
    // scans Cleo's parcel in at B.
    let mut other = Device::register(&w.server, &w.operator_b, "scanner at B").await;
    assert!(other.pull_json(&w.server).await.is_empty());
    let (_, m) = scan(&w.station_a, &anna.recipient_code, Condition::Intact);
    other.mutate(now(&w), m);
    assert_refused(&other.push(&w.server, now(&w)).await, "station_not_yours");
    let (_, m) = scan(&w.station_b, "yt 5555 6666 77", Condition::Intact);
    other.mutate(now(&w), m);
    assert_eq!(outcomes(&other.push(&w.server, now(&w)).await), vec![Outcome::Applied]);
    let changes = other.pull_json(&w.server).await;
    assert_nothing_about_the_buyers(&changes, &[&anna, &ben, &dan, &cleo], &w);
    let codes: Vec<String> = parcels(&other).into_iter().map(|p| p.recipient_code).collect();
    assert_eq!(codes, vec![cleo.recipient_code.clone()]);
    assert_eq!(scan_of(&scanner, &not_ours).map(|s| s.status), Some(ScanStatus::Waiting), "A's scan of it still waits at A");

    // A's operator also works at B for a while: B's shelf arrives on the
    // same scanner without a reset, and leaves it with one when they stop.
    let station_b = w.station_b.clone();
    let staff = |ids: &[&str]| json!({ "staff": ids });
    let (status, body) = send(&w.server, Method::PATCH, &format!("/api/stations/{station_b}"), Some(&w.admin.access_token),
        staff(&[&w.operator_b.user_id, &w.operator_a.user_id])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (page, _) = scanner.pull_page_json(&w.server, None).await;
    assert!(!page.reset);
    assert!(parcel_of(&scanner, &cleo.recipient_code).is_some(), "B's shelf arrived");
    assert_eq!(parcels(&scanner).len(), 4);
    let (status, body) = send(&w.server, Method::PATCH, &format!("/api/stations/{station_b}"), Some(&w.admin.access_token),
        staff(&[&w.operator_b.user_id])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (page, _) = scanner.pull_page_json(&w.server, None).await;
    assert!(page.reset, "a scope lost resets the scanner");
    assert_eq!(parcel_of(&scanner, &cleo.recipient_code), None);
    assert_eq!(parcels(&scanner).len(), 3);

    // A volunteer's phone holds its task, never a station record, and
    // cannot scan either.
    let phone_changes = anna.phone.pull_json(&w.server).await;
    assert!(phone_changes.iter().all(|c| c["kind"] != "station_scan" && c["kind"] != "station_parcel"
        && c["record"]["kind"] != "station_scan" && c["record"]["kind"] != "station_parcel"), "{phone_changes:?}");
    assert!(anna.phone.replica.confirmed().keys().all(|(kind, _)| !kind.is_station()));
    match anna.phone.replica.confirmed().get(&(Kind::Task, anna.task.clone())) {
        Some(Record::Task(t)) => assert_eq!(t.status.status, Status::AtRelay),
        other => panic!("{other:?}"),
    }
    let (_, m) = scan(&w.station_a, &anna.recipient_code, Condition::Intact);
    anna.phone.mutate(now(&w), m);
    assert_refused(&anna.phone.push(&w.server, now(&w)).await, "station_not_yours");
    w.server.stop().await;
}
}

on_each_backend! {
/// The same scan twice, as a retried push whose answer was lost, from a
/// second scanner and through the online API, is one scan, one custody
/// entry and one record on the scanners.
async fn the_same_scan_pushed_twice_and_from_two_devices_is_one_scan(backend: Backend) {
    let w = world(backend, false).await;
    let mut anna = buyer(&w, "Zhejiang").await;
    ship(&w, &mut anna, "JD0012345678").await;
    let mut first = Device::register(&w.server, &w.operator_a, "scanner 1").await;
    let mut second = Device::register(&w.server, &w.operator_a, "scanner 2").await;
    let (id, m) = scan(&w.station_a, "jd-0012-3456-78", Condition::Intact);
    first.mutate(now(&w), m.clone());

    // The first answer is lost: the app pushes the same batch again.
    let request = first.replica.push_request(now(&w), 50).expect("a batch");
    for expected in [Outcome::Applied, Outcome::Duplicate] {
        let (status, body) = post(&w.server, "/api/sync/push", Some(&first.token), serde_json::to_value(&request).expect("json")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let answer: PushResponse = serde_json::from_value(body).expect("answer");
        assert_eq!(outcomes(std::slice::from_ref(&answer)), vec![expected]);
        first.replica.on_push_response(&answer);
    }
    // Another scanner (it picked the scan up from a shared queue).
    second.mutate(now(&w), m);
    assert_eq!(outcomes(&second.push(&w.server, now(&w)).await), vec![Outcome::Applied]);
    // And the online API with the same id answers the scan that exists.
    let (status, body) = post(&w.server, &format!("/api/stations/{}/scans", w.station_a), Some(&w.operator_a.access_token),
        json!({ "id": id, "code": "JD0012345678", "condition": "intact" })).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("matched")), "{body}");

    for scanner in [&mut first, &mut second] {
        scanner.pull(&w.server).await;
        let scans: Vec<&Record> = scanner.replica.confirmed().values().filter(|r| matches!(r, Record::StationScan(_))).collect();
        assert_eq!(scans.len(), 1, "{scans:?}");
        assert_eq!(scan_of(scanner, &id).map(|s| s.status), Some(ScanStatus::Matched));
        assert_eq!(parcels(scanner).len(), 1);
        assert!(scanner.replica.pending().is_empty());
    }
    assert_eq!(received_at_station(&w, &anna.task).await, 1, "one arrival in the custody log");

    // The same id at another station is another scan's id: refused with the
    // code the scanner's own replica predicts.
    let mut elsewhere = Device::register(&w.server, &w.operator_b, "scanner at B").await;
    elsewhere.mutate(now(&w), Mutation::RecordScan(RecordScan {
        id: id.clone(), station_id: w.station_b.clone(), code: "JD0012345678".into(),
        condition: Condition::Intact, note: String::new(), photos: Vec::new(),
        scanned_at_us: now(&w),
    }));
    assert_refused(&elsewhere.push(&w.server, now(&w)).await, "scan_id_reused");
    assert!(elsewhere.pull_json(&w.server).await.is_empty());
    w.server.stop().await;
}
}

on_each_backend! {
/// A parcel scanned before the volunteer's tracking number has synced
/// waits; when the phone pushes the number, the match job matches it and
/// the scanner's next pull has the instruction (here: open it in front of
/// a witness). Sealed, then forwarded, the parcel and its scan leave the
/// scanner.
async fn a_scan_that_came_first_learns_its_instruction_and_a_forwarded_parcel_leaves(backend: Backend) {
    let w = world(backend, true).await;
    let mut anna = buyer(&w, "Zhejiang").await;
    let mut scanner = Device::register(&w.server, &w.operator_a, "scanner at A").await;
    let (id, m) = scan(&w.station_a, "SF 9876-5432-10", Condition::Intact);
    scanner.mutate(now(&w), m);
    assert_eq!(outcomes(&scanner.push(&w.server, now(&w)).await), vec![Outcome::Applied]);
    scanner.pull(&w.server).await;
    let waiting = scan_of(&scanner, &id).expect("the scan");
    assert_eq!((waiting.status, waiting.instruction), (ScanStatus::Waiting, Instruction::Hold));
    assert!(parcels(&scanner).is_empty());

    // The scanner listens for pokes, as the app does while it is open.
    let events = w.server.url(&format!("/api/sync/events?device_id={}", scanner.replica.device_id()));
    let response = w.server.http.get(events).bearer_auth(&scanner.token).send().await.expect("stream");
    assert_eq!(response.status(), StatusCode::OK);
    let mut stream = response.bytes_stream();
    let mut next_event = async || {
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.next()).await
            .expect("an event within 10 s").expect("open").expect("bytes");
        String::from_utf8_lossy(&chunk).into_owned()
    };
    assert!(next_event().await.contains("event: poke"), "the first event says the stream is live");

    ship(&w, &mut anna, "sf9876543210").await;
    // The match job runs in the server's worker; its change to the
    // station's scope pokes the scanner, which pulls.
    assert!(next_event().await.contains("event: poke"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        scanner.pull(&w.server).await;
        if scan_of(&scanner, &id).is_some_and(|s| s.status == ScanStatus::Matched) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the waiting scan was never matched");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let parcel = parcel_of(&scanner, &anna.recipient_code).expect("the parcel is on the shelf");
    assert_eq!(parcel.instruction, Instruction::WitnessFirst);
    assert!(parcel.witness_required);
    assert_eq!(scan_of(&scanner, &id).map(|s| s.instruction), Some(Instruction::WitnessFirst));
    let sample = parcel.sample_code.clone().expect("a sample code");

    // The lab moves: the label the station prints has the new address.
    let moved = vec!["Provincial Product Quality Lab".to_string(), "8 New Campus Road".to_string(), "Shanghai 200000".to_string()];
    let (status, body) = send(&w.server, Method::PATCH, &format!("/api/labs/{}", w.lab), Some(&w.admin.access_token),
        json!({ "address": moved })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    scanner.pull(&w.server).await;
    let parcel = parcel_of(&scanner, &anna.recipient_code).expect("still on the shelf");
    assert_eq!(parcel.destination.map(|d| d.address), Some(moved));

    let station = format!("/api/stations/{}/parcels/{sample}", w.station_a);
    let token = Some(w.operator_a.access_token.as_str());
    let (status, body) = post(&w.server, &format!("{station}/seal"), token, json!({ "witness": "Wang Fang" })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    scanner.pull(&w.server).await;
    let sealed = parcel_of(&scanner, &anna.recipient_code).expect("still on the shelf");
    assert_eq!(sealed.instruction, Instruction::RelabelAndForward);
    assert!(sealed.sealed_at_us.is_some());
    assert_eq!(scan_of(&scanner, &id).map(|s| s.instruction), Some(Instruction::RelabelAndForward));

    let (status, body) = post(&w.server, &format!("{station}/forward"), token, json!({ "carrier": "EMS", "tracking_number": "EE123456789CN" })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let changes = scanner.pull_json(&w.server).await;
    let mut removed: Vec<(String, String)> = changes.iter().filter(|c| c["op"] == "remove")
        .map(|c| (c["kind"].as_str().unwrap_or_default().to_string(), c["id"].as_str().unwrap_or_default().to_string()))
        .collect();
    removed.sort();
    assert_eq!(removed, vec![("station_parcel".to_string(), anna.recipient_code.clone()), ("station_scan".to_string(), id.clone())], "{changes:?}");
    assert!(scanner.replica.view().is_empty(), "{:?}", scanner.replica.view());
    assert_eq!(received_at_station(&w, &anna.task).await, 1);

    anna.phone.pull(&w.server).await;
    match anna.phone.replica.confirmed().get(&(Kind::Task, anna.task.clone())) {
        Some(Record::Task(t)) => assert_eq!(t.status.status, Status::Forwarded),
        other => panic!("{other:?}"),
    }
    w.server.stop().await;
}
}

on_each_backend! {
/// A relay operator who works at no station (yet) may register a scanner:
/// it pulls nothing, its scans are refused, and its event stream stays
/// open with keep-alives until a station takes them on.
async fn a_scanner_of_an_operator_at_no_station_holds_nothing_and_stays_connected(backend: Backend) {
    let env = TestEnv::with(backend, &[("MB_SYNC_KEEPALIVE_SECS", "1")]);
    let server = env.start().await;
    let admin = person(&server, &env, Role::Administrator).await;
    let operator = person(&server, &env, Role::RelayOperator).await;
    let mut scanner = Device::register(&server, &operator, "spare scanner").await;
    assert!(scanner.pull_json(&server).await.is_empty());

    let events = server.url(&format!("/api/sync/events?device_id={}", scanner.replica.device_id()));
    let response = server.http.get(events).bearer_auth(&scanner.token).send().await.expect("stream");
    assert_eq!(response.status(), StatusCode::OK);
    let mut stream = response.bytes_stream();
    let mut seen = String::new();
    while !seen.contains("keep-alive") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.next()).await
            .expect("an event within 10 s").expect("still open").expect("bytes");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.starts_with("event: poke"), "{seen}");

    let station = place(&server, &admin, "/api/stations", "Spare relay", "Anhui", &[]).await;
    let (_, m) = scan(&station, "SF1234567890123", Condition::Intact);
    scanner.mutate(chrono::Utc::now().timestamp_micros(), m);
    assert_refused(&scanner.push(&server, chrono::Utc::now().timestamp_micros()).await, "station_not_yours");
    server.stop().await;
}
}

on_each_backend! {
/// Two scanners, the volunteer's phone and the operator's online forwards,
/// all at once and round after round, on one volunteer's parcels at one
/// station: the phone adds notes and gives new tracking numbers to parcels
/// on the shelf while others of theirs are forwarded and the scanners scan
/// the rest again. Every push is applied (no batch stopped by a deadlock),
/// every forward answers, each parcel is received once, and the scanners
/// end each round holding exactly the shelf with its latest numbers.
async fn scanners_a_phone_and_forwards_at_once_never_block_each_other(backend: Backend) {
    const N: usize = 9;
    const PER_ROUND: usize = 3;
    let w = world(backend, false).await;
    let (_volunteer, mut phone, tasks) = busy_buyer(&w, "Zhejiang", N).await;
    let tracking = |i: usize, round: usize| format!("SF{round:04}{i:08}");
    let applied = |answers: &[PushResponse]| {
        assert!(answers.iter().all(|a| a.stopped.is_none()), "{answers:?}");
        assert!(outcomes(answers).iter().all(|o| *o == Outcome::Applied), "{answers:?}");
    };
    let note = |task: &str| Mutation::AddNote(AddNote {
        id: new_id(), task_id: task.to_string(), body: "left with the concierge".into(),
    });
    let shipment = |task: &str, number: String| Mutation::SetShipment(SetShipment {
        task_id: task.to_string(), carrier: Some("SF Express".into()), tracking_number: Some(number),
    });
    for (i, (task, ..)) in tasks.iter().enumerate() {
        phone.mutate(now(&w), shipment(task, tracking(i, 0)));
    }
    applied(&phone.push(&w.server, now(&w)).await);

    // Every parcel arrives, scanned on both scanners (by recipient code on
    // one, by tracking number on the other) while the phone adds notes.
    let mut first = Device::register(&w.server, &w.operator_a, "scanner 1").await;
    let mut second = Device::register(&w.server, &w.operator_a, "scanner 2").await;
    for (i, (task, code, _)) in tasks.iter().enumerate() {
        first.mutate(now(&w), scan(&w.station_a, code, Condition::Intact).1);
        second.mutate(now(&w), scan(&w.station_a, &tracking(i, 0), Condition::Intact).1);
        phone.mutate(now(&w), note(task));
    }
    let at = now(&w);
    let (a, b, c) = tokio::join!(first.push(&w.server, at), second.push(&w.server, at), phone.push(&w.server, at));
    for answers in [a, b, c] {
        applied(&answers);
    }

    for round in 1..=N / PER_ROUND {
        let leaving = (round - 1) * PER_ROUND..round * PER_ROUND;
        let staying = round * PER_ROUND..N;
        first.pull(&w.server).await;
        let samples: Vec<String> = leaving.clone()
            .map(|i| parcel_of(&first, &tasks[i].1).and_then(|p| p.sample_code).expect("on the shelf with a sample code"))
            .collect();
        for i in staying.clone() {
            phone.mutate(now(&w), note(&tasks[i].0));
            phone.mutate(now(&w), shipment(&tasks[i].0, tracking(i, round)));
            second.mutate(now(&w), scan(&w.station_a, &tasks[i].1, Condition::Intact).1);
        }
        let token = Some(w.operator_a.access_token.as_str());
        let paths: Vec<(String, Value)> = leaving
            .clone()
            .zip(&samples)
            .map(|(i, sample)| {
                (format!("/api/stations/{}/parcels/{sample}/forward", w.station_a),
                    json!({ "carrier": "EMS", "tracking_number": format!("EE{i:09}CN") }))
            })
            .collect();
        let forwards = futures_util::future::join_all(
            paths.iter().map(|(path, body)| post(&w.server, path, token, body.clone())),
        );
        let at = now(&w);
        let (forwarded, pushed, scanned) = tokio::join!(forwards, phone.push(&w.server, at), second.push(&w.server, at));
        for (status, body) in forwarded {
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        applied(&pushed);
        applied(&scanned);

        for scanner in [&mut first, &mut second] {
            scanner.pull(&w.server).await;
            let mut shelf: Vec<(String, Option<String>)> = parcels(scanner).into_iter().map(|p| (p.recipient_code, p.tracking_number)).collect();
            shelf.sort();
            let mut expected: Vec<(String, Option<String>)> = staying.clone().map(|i| (tasks[i].1.clone(), Some(tracking(i, round)))).collect();
            expected.sort();
            assert_eq!(shelf, expected, "round {round}");
        }
    }
    for (task, ..) in &tasks {
        assert_eq!(received_at_station(&w, task).await, 1);
    }
    assert!(first.replica.view().is_empty() && second.replica.view().is_empty(), "everything was forwarded");
    w.server.stop().await;
}
}
