//! The anonymous route over HTTP on both backends: a task accepted through
//! sync gets its recipient code and station, the relay station scans
//! (matched in either order), seals in front of a witness, prints the label
//! and forwards; the lab receives, records and uploads its report; the
//! coordinator publishes and exports. Every answer a relay operator or lab
//! inspector can get is searched for the fields they must never see, and
//! the task's custody chain is verified against the signed checkpoint with
//! the public key alone.

use chrono::Duration;
use mystery_buyer_server::{auth::Role, clock::ManualClock};
use mystery_buyer_tests::{
    Backend, TestEnv, TestServer, eventually, on_each_backend,
    people::{Person, get, person, post, send},
    sync::{Device, new_id},
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sync_protocol::{
    Kind, Mutation, Record,
    mutations::{RecordPurchase, SetShipment},
    records::Money,
};

/// The seed of the test signing key (never a real one).
pub const SIGNING_SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";

fn now(clock: &ManualClock) -> i64 {
    use mystery_buyer_server::clock::Clock;
    clock.now().timestamp_micros()
}

/// Everyone on the route, and the campaign they work on.
pub struct Route {
    pub env: TestEnv,
    pub server: TestServer,
    pub clock: ManualClock,
    pub coordinator: Person,
    pub operator: Person,
    pub inspector: Person,
    pub station: String,
    pub lab: String,
    pub campaign: String,
}

pub async fn route(backend: Backend, witnessed: bool) -> Route {
    let env = TestEnv::with(
        backend,
        &[
            ("MB_RATE_LIMIT_IP_PER_MINUTE", "100000"),
            ("MB_ACCESS_TOKEN_SECS", "864000"),
            ("MB_CUSTODY_SIGNING_KEY", SIGNING_SEED),
            ("MB_JOBS_POLL_MS", "50"),
            ("MB_PARCEL_ARRIVAL_DAYS", "2"),
        ],
    );
    let clock = mystery_buyer_tests::manual_clock();
    let server = env.start_with_clock(clock.clone()).await;
    let admin = person(&server, &env, Role::Administrator).await;
    let coordinator = person(&server, &env, Role::Coordinator).await;
    let operator = person(&server, &env, Role::RelayOperator).await;
    let inspector = person(&server, &env, Role::LabInspector).await;
    let admin_token = Some(admin.access_token.as_str());
    let (status, station) = post(
        &server,
        "/api/stations",
        admin_token,
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
        admin_token,
        json!({
            "name": "Shanghai Product Testing Lab", "region": "Shanghai",
            "address": ["88 Caobao Road", "Shanghai 200233"], "staff": [inspector.user_id],
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{lab}");
    let station = station["id"].as_str().expect("id").to_string();
    let lab = lab["id"].as_str().expect("id").to_string();

    let token = Some(coordinator.access_token.as_str());
    let (status, body) = post(&server, "/api/campaigns", token, json!({
        "name": "Power strips winter sweep", "starts_at": "2026-12-01T00:00:00Z", "ends_at": "2027-02-28T00:00:00Z",
        "platforms": ["jd"], "currency": "CNY", "budget": 1_000_000, "open_board": true,
        "relay_stations": ["no-such-station"], "lab": lab,
    })).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_body")),
        "{body}"
    );
    let (status, campaign) = post(&server, "/api/campaigns", token, json!({
        "name": "Power strips winter sweep", "starts_at": "2026-12-01T00:00:00Z", "ends_at": "2027-02-28T00:00:00Z",
        "platforms": ["jd"], "currency": "CNY", "budget": 1_000_000, "open_board": true,
        "relay_stations": [station], "lab": lab, "witnessed_opening": witnessed,
        "test_plan": "GB 2099.1 plugs and sockets: temperature rise, insulation",
    })).await;
    assert_eq!(status, StatusCode::CREATED, "{campaign}");
    assert_eq!(campaign["witnessed_opening"], witnessed);
    let campaign = campaign["id"].as_str().expect("id").to_string();
    let path = format!("/api/campaigns/{campaign}");
    let (status, body) = send(
        &server,
        Method::PUT,
        &format!("{path}/quotas"),
        token,
        json!([{ "category": "power-strips", "target": 5 }]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for i in 0..5 {
        let (status, body) = post(&server, &format!("{path}/candidates"), token, json!({
            "category": "power-strips", "platform": "jd", "listing_url": format!("https://jd.example.com/item/{i}"),
            "shop_id": format!("shop-{i}"), "shop_name": format!("Bright Sparks Store {i}"), "listed_price": 4_000 + i,
            "source": "platform_feed",
        })).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, body) = send(
        &server,
        Method::PATCH,
        &path,
        token,
        json!({ "status": "active" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    Route {
        env,
        server,
        clock,
        coordinator,
        operator,
        inspector,
        station,
        lab,
        campaign,
    }
}

/// A volunteer in Hubei with one claimed task.
pub struct Buyer {
    pub person: Person,
    pub phone: Device,
    pub task: String,
}

pub async fn buyer(r: &Route) -> Buyer {
    let person = person(&r.server, &r.env, Role::Volunteer).await;
    let token = Some(person.access_token.as_str());
    let (status, body) = send(&r.server, Method::PUT, "/api/me/profile", token, json!({
        "region": "Hubei", "categories": ["power-strips"], "platforms": ["jd"], "capacity": 1, "spending_cap": 9_000,
    })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let path = format!("/api/campaigns/{}", r.campaign);
    let (_, board) = get(&r.server, &format!("{path}/board"), token).await;
    let (status, task) = post(
        &r.server,
        &format!("{path}/board/claim"),
        token,
        json!({ "candidate_id": board[0]["candidate_id"] }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{task}");
    let mut phone = Device::register(&r.server, &person, "phone").await;
    phone.pull(&r.server).await;
    Buyer {
        person,
        phone,
        task: task["task_id"].as_str().expect("task").to_string(),
    }
}

impl Buyer {
    /// The task as the volunteer's phone holds it.
    fn task_record(&self) -> Value {
        let record = self
            .phone
            .replica
            .view()
            .get(&(Kind::Task, self.task.clone()))
            .expect("the task is on the phone");
        let Record::Task(task) = record else {
            panic!("not a task")
        };
        serde_json::to_value(task).expect("json")
    }

    async fn buy_and_ship(&mut self, r: &Route, tracking: &str) {
        self.phone.mutate(
            now(&r.clock),
            Mutation::RecordPurchase(RecordPurchase {
                id: new_id(),
                task_id: self.task.clone(),
                order_number: "JD-20261201-0042".into(),
                amount: Money::new(4_000, "CNY"),
                purchased_at_us: now(&r.clock),
                shop_name: "Bright Sparks Store".into(),
            }),
        );
        self.phone.mutate(
            now(&r.clock),
            Mutation::SetShipment(SetShipment {
                task_id: self.task.clone(),
                carrier: Some("SF Express".into()),
                tracking_number: Some(tracking.into()),
            }),
        );
        self.phone.sync(&r.server, now(&r.clock)).await;
        assert!(
            self.phone.replica.refused().is_empty(),
            "{:?}",
            self.phone.replica.refused()
        );
    }
}

/// Fails when `answer` (any JSON a relay operator or lab inspector got)
/// mentions anything on `forbidden`.
fn assert_clean(who: &str, answer: &Value, forbidden: &[String]) {
    let text = answer.to_string();
    for word in forbidden {
        assert!(
            !text.contains(word.as_str()),
            "{who} was shown {word:?} in {text}"
        );
    }
}

/// What neither a relay operator nor a lab may see of `buyer`'s task.
fn secrets(r: &Route, buyer: &Buyer) -> Vec<String> {
    vec![
        buyer.task.clone(),
        buyer.person.user_id.clone(),
        "Bright Sparks".into(),
        "shop-".into(),
        "jd.example.com".into(),
        "JD-20261201".into(),
        "Power strips winter sweep".into(),
        r.campaign.clone(),
        "task_id".into(),
        "volunteer".into(),
        "price".into(),
        "amount".into(),
        "pseudonym".into(),
    ]
}

async fn raw(server: &TestServer, path: &str, token: &str) -> reqwest::Response {
    server
        .http
        .get(server.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("send")
}

on_each_backend! {
/// The whole route of one sample, each step checked where it lands, with
/// what the station and the lab see searched for forbidden fields, and the
/// custody chain proven with the public key alone.
async fn a_sample_travels_from_purchase_to_published_result_with_its_custody_chain(backend: Backend) {
    let r = route(backend, true).await;
    let mut b = buyer(&r).await;
    let forbidden = secrets(&r, &b);
    let op = r.operator.access_token.as_str();
    let lab_token = r.inspector.access_token.as_str();

    // Accepted through the board: the phone has the code and the address.
    let task = b.task_record();
    let delivery = &task["delivery"];
    let code = delivery["recipient_code"].as_str().expect("recipient code").to_string();
    assert!(code.starts_with("MB-") && code.len() == 12, "{code}");
    assert_eq!(delivery["station_name"], "Wuhan relay 3");
    assert_eq!(delivery["address"], json!(["Room 301, 18 Jiefang Avenue", "Wuhan 430000"]));

    b.buy_and_ship(&r, "sf 1234-5678 901").await;

    // The station scans the carrier barcode; the number matches however typed.
    let scan_id = new_id();
    let (status, scan) = post(&r.server, &format!("/api/stations/{}/scans", r.station), Some(op), json!({
        "id": scan_id, "code": "SF12345678901", "condition": "intact",
    })).await;
    assert_eq!(status, StatusCode::CREATED, "{scan}");
    assert_eq!(scan["status"], "matched");
    assert_eq!(scan["instruction"], "witness_first");
    let parcel = &scan["parcel"];
    assert_eq!(parcel["recipient_code"], code.as_str());
    assert_eq!(parcel["destination"]["name"], "Shanghai Product Testing Lab");
    let sample = parcel["sample_code"].as_str().expect("sample code").to_string();
    assert!(sample.starts_with("S-"), "{sample}");
    assert_clean("the station", &scan, &forbidden);
    // The same scan again (a retry) is the same scan: 200, same answer.
    let (status, again) = post(&r.server, &format!("/api/stations/{}/scans", r.station), Some(op), json!({
        "id": scan_id, "code": "SF12345678901", "condition": "intact",
    })).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["parcel"]["sample_code"], sample.as_str());

    let parcel_path = format!("/api/stations/{}/parcels/{sample}", r.station);
    let (status, body) = post(&r.server, &format!("{parcel_path}/forward"), Some(op),
        json!({ "carrier": "EMS", "tracking_number": "EA123456789CN" })).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("witness_required")), "{body}");
    let (status, body) = post(&r.server, &format!("{parcel_path}/seal"), Some(op), json!({ "witness": "Li Na" })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["instruction"], "relabel_and_forward");

    // The label in every format, with the sample code in it.
    let png = raw(&r.server, &format!("{parcel_path}/label?format=png&dpi=203"), op).await;
    assert_eq!(png.status(), StatusCode::OK);
    assert_eq!(png.headers()["content-type"], "image/png");
    assert!(png.bytes().await.expect("png").starts_with(b"\x89PNG\r\n\x1a\n"));
    let pdf = raw(&r.server, &format!("{parcel_path}/label?format=pdf"), op).await;
    assert_eq!(pdf.headers()["content-type"], "application/pdf");
    assert!(pdf.bytes().await.expect("pdf").starts_with(b"%PDF-"));
    let svg = raw(&r.server, &format!("{parcel_path}/label?format=svg"), op).await;
    let svg = svg.text().await.expect("svg");
    assert!(svg.contains(&sample) && svg.contains("88 Caobao Road"), "{svg}");
    for word in &forbidden {
        assert!(!svg.contains(word.as_str()), "the label shows {word}");
    }
    let bad = raw(&r.server, &format!("{parcel_path}/label?format=png&dpi=20"), op).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

    let (status, forwarded) = post(&r.server, &format!("{parcel_path}/forward"), Some(op),
        json!({ "carrier": "EMS", "tracking_number": "ea 1234 5678 9cn" })).await;
    assert_eq!(status, StatusCode::OK, "{forwarded}");
    assert_eq!(forwarded["stage"], "forwarded");
    assert_eq!(forwarded["outgoing_tracking_number"], "EA123456789CN");
    let (status, list) = get(&r.server, &format!("/api/stations/{}/parcels", r.station), Some(op)).await;
    assert_eq!(status, StatusCode::OK);
    assert_clean("the station", &list, &forbidden);

    // The lab: by sample code only.
    let lab_path = format!("/api/labs/{}/samples", r.lab);
    let (status, samples) = get(&r.server, &lab_path, Some(lab_token)).await;
    assert_eq!(status, StatusCode::OK, "{samples}");
    assert_eq!(samples[0]["sample_code"], sample.as_str());
    assert_eq!(samples[0]["category"], "power strips");
    assert!(samples[0]["test_plan"].as_str().expect("plan").contains("GB 2099.1"));
    let mut lab_forbidden = forbidden.clone();
    lab_forbidden.extend(["\"jd\"".to_string(), "Wuhan".to_string(), code.clone(), "SF12345678901".into()]);
    assert_clean("the lab", &samples, &lab_forbidden);
    let sample_path = format!("{lab_path}/{sample}");
    let (status, body) = send(&r.server, Method::PUT, &format!("{sample_path}/result"), Some(lab_token), json!({
        "verdict": "unqualified", "failed_items": ["temperature rise"], "standard": "GB 2099.1-2008",
    })).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("wrong_stage")), "not received yet: {body}");
    let (status, received) = post(&r.server, &format!("{sample_path}/receive"), Some(lab_token), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{received}");
    assert_eq!(received["stage"], "at_lab");
    assert_clean("the lab", &received, &lab_forbidden);
    let (status, body) = send(&r.server, Method::PUT, &format!("{sample_path}/result"), Some(lab_token), json!({
        "verdict": "unqualified", "failed_items": [], "standard": "GB 2099.1-2008",
    })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "unqualified needs failed items: {body}");
    let (status, result) = send(&r.server, Method::PUT, &format!("{sample_path}/result"), Some(lab_token), json!({
        "verdict": "unqualified", "failed_items": ["=HYPERLINK(\"x\")", "temperature rise"], "standard": "GB 2099.1-2008",
    })).await;
    assert_eq!(status, StatusCode::OK, "{result}");
    assert_clean("the lab", &result, &lab_forbidden);
    let report = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n".to_vec();
    let not_pdf = r.server.http.put(r.server.url(&format!("{sample_path}/report")))
        .bearer_auth(lab_token).header("content-type", "application/pdf")
        .body(b"<html>not a report</html>".to_vec()).send().await.expect("send");
    assert_eq!(not_pdf.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let uploaded = r.server.http.put(r.server.url(&format!("{sample_path}/report")))
        .bearer_auth(lab_token).header("content-type", "application/pdf")
        .body(report.clone()).send().await.expect("send");
    assert_eq!(uploaded.status(), StatusCode::OK);
    let uploaded: Value = uploaded.json().await.expect("json");
    assert_eq!(uploaded["report_sha256"].as_str().map(str::len), Some(64));

    // The coordinator sees the route, publishes, exports.
    let token = Some(r.coordinator.access_token.as_str());
    let (status, parcel) = get(&r.server, &format!("/api/tasks/{}/parcel", b.task), token).await;
    assert_eq!(status, StatusCode::OK, "{parcel}");
    assert_eq!(parcel["stage"], "tested");
    assert_eq!(parcel["witness"], "Li Na");
    assert_eq!(parcel["result"]["published"], false);
    let fetched = raw(&r.server, &format!("/api/tasks/{}/report", b.task), &r.coordinator.access_token).await;
    assert_eq!(fetched.status(), StatusCode::OK);
    assert!(fetched.bytes().await.expect("report") == report);
    let (_, csv_before) = get_text(&r.server, &format!("/api/campaigns/{}/results.csv", r.campaign), &r.coordinator.access_token).await;
    assert!(!csv_before.contains(&sample), "unpublished results stay out of the export");
    let (status, published) = post(&r.server, &format!("/api/tasks/{}/result/publish", b.task), token, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{published}");
    assert_eq!(published["published"], true);
    let (status, csv) = get_text(&r.server, &format!("/api/campaigns/{}/results.csv", r.campaign), &r.coordinator.access_token).await;
    assert_eq!(status, StatusCode::OK);
    let line = csv.lines().find(|l| l.starts_with(&sample)).unwrap_or_else(|| panic!("{csv}"));
    assert!(line.contains("power strips") && line.contains(",jd,") && line.contains("unqualified"), "{line}");
    assert!(line.contains("jd.example.com/item/") && line.contains("GB 2099.1-2008"), "{line}");
    assert!(line.contains("'=HYPERLINK"), "a formula is defused: {line}");
    assert!(!line.contains(&b.person.user_id));
    let (status, body) = send(&r.server, Method::PUT, &format!("{sample_path}/result"), Some(lab_token), json!({
        "verdict": "qualified", "standard": "GB 2099.1-2008",
    })).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("result_published")), "{body}");
    let (_, progress) = get(&r.server, &format!("/api/campaigns/{}/progress", r.campaign), token).await;
    assert_eq!(progress["samples_by_stage"]["published"], 1, "{progress}");
    assert_eq!(progress["results"], json!([{ "category": "power-strips", "platform": "jd", "tested": 1,
        "qualified": 0, "unqualified": 1, "published": 1 }]));

    // The volunteer's phone learns how far the sample got.
    b.phone.pull(&r.server).await;
    assert_eq!(b.task_record()["status"]["status"], "tested");

    // The custody chain, checked with nothing but the public key.
    let (status, proof) = get(&r.server, &format!("/api/tasks/{}/custody", b.task), token).await;
    assert_eq!(status, StatusCode::OK, "{proof}");
    let proof: custody_log::ChainProof = serde_json::from_value(proof).expect("a chain proof");
    let key = custody_log::CheckpointSigner::from_config(SIGNING_SEED).expect("key").public_key().clone();
    custody_log::verify_chain(&proof, std::slice::from_ref(&key)).expect("the chain verifies");
    let kinds: Vec<&str> = proof.entries.iter().map(|e| e.entry.kind.as_str()).collect();
    assert_eq!(kinds, ["task_accepted", "purchase_recorded", "shipped", "received_at_station", "opened_and_sealed",
        "relabelled", "forwarded", "received_at_lab", "result_recorded", "report_attached", "result_published"]);
    let by_sample = get(&r.server, &format!("/api/samples/{}/custody", sample.to_lowercase()), token).await;
    assert_eq!(by_sample.0, StatusCode::OK);
    // A changed entry in the proof no longer verifies.
    let mut forged = proof.clone();
    forged.entries[8].entry.data = json!({ "verdict": "qualified" });
    assert!(custody_log::verify_chain(&forged, &[key]).is_err());
    // Nobody else gets the chain.
    for who in [&r.operator, &r.inspector, &b.person] {
        let (status, _) = get(&r.server, &format!("/api/tasks/{}/custody", b.task), Some(&who.access_token)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
}
}

async fn get_text(server: &TestServer, path: &str, token: &str) -> (StatusCode, String) {
    let answer = raw(server, path, token).await;
    (answer.status(), answer.text().await.expect("text"))
}

on_each_backend! {
/// A parcel scanned before the volunteer's tracking number synced waits,
/// and is matched by the job when the number arrives; a damaged parcel and
/// one that never arrives become exceptions the coordinator sees.
async fn a_scan_waits_for_its_tracking_number_and_exceptions_reach_the_coordinator(backend: Backend) {
    let r = route(backend, false).await;
    let mut early = buyer(&r).await;
    let mut lost = buyer(&r).await;
    let mut typed = buyer(&r).await;
    let op = Some(r.operator.access_token.as_str());
    let scans = format!("/api/stations/{}/scans", r.station);

    let waiting_id = new_id();
    let (status, scan) = post(&r.server, &scans, op, json!({
        "id": waiting_id, "code": "YT-9988-7766-55", "condition": "damaged", "note": "box crushed",
    })).await;
    assert_eq!(status, StatusCode::CREATED, "{scan}");
    assert_eq!((scan["status"].as_str(), scan["instruction"].as_str()), (Some("waiting"), Some("hold")));
    let (_, waiting) = get(&r.server, &scans, op).await;
    assert_eq!(waiting.as_array().map(Vec::len), Some(1), "{waiting}");

    early.buy_and_ship(&r, "yt9988776655").await;
    let path = format!("{scans}/{waiting_id}");
    let matched = eventually(std::time::Duration::from_secs(20), "the waiting scan is matched", || async {
        let (_, scan) = get(&r.server, &path, op).await;
        (scan["status"] == "matched").then_some(scan)
    }).await.expect("matched");
    assert_eq!(matched["instruction"], "relabel_and_forward");
    assert!(matched["parcel"]["sample_code"].as_str().is_some());
    let (_, waiting) = get(&r.server, &scans, op).await;
    assert_eq!(waiting, json!([]));

    // A recipient code typed in lower case with spaces.
    typed.buy_and_ship(&r, "ZTO 5550001112").await;
    let code = typed.task_record()["delivery"]["recipient_code"].as_str().expect("code").to_lowercase().replace('-', " ");
    let (status, scan) = post(&r.server, &scans, op, json!({ "id": new_id(), "code": code, "condition": "intact" })).await;
    assert_eq!((status, scan["status"].as_str()), (StatusCode::CREATED, Some("matched")), "{scan}");
    // A code with a wrong check character is no code at all.
    let (status, body) = post(&r.server, &scans, op, json!({ "id": new_id(), "code": "?", "condition": "intact" })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // Another station's operator, and a scan id reused for another code.
    let stranger = person(&r.server, &r.env, Role::RelayOperator).await;
    let (status, _) = post(&r.server, &scans, Some(&stranger.access_token), json!({ "id": new_id(), "code": "SF1", "condition": "intact" })).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    lost.buy_and_ship(&r, "JT0001112223334").await;
    let token = Some(r.coordinator.access_token.as_str());
    let (_, exceptions) = get(&r.server, &format!("/api/campaigns/{}/exceptions", r.campaign), token).await;
    let kinds: Vec<&str> = exceptions.as_array().expect("list").iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(kinds, ["damaged"], "{exceptions}");
    assert_eq!(exceptions[0]["task_id"], early.task.as_str());
    assert_eq!(exceptions[0]["note"], "box crushed");

    // Three days on (the deadline is two), the parcel no station scanned
    // is reported.
    r.clock.advance(Duration::days(3));
    let exceptions = eventually(std::time::Duration::from_secs(20), "never_arrived is reported", || async {
        let (_, list) = get(&r.server, &format!("/api/campaigns/{}/exceptions", r.campaign), token).await;
        list.as_array().expect("list").iter().any(|e| e["kind"] == "never_arrived").then_some(list)
    }).await.expect("reported");
    let never: Vec<&Value> = exceptions.as_array().expect("list").iter().filter(|e| e["kind"] == "never_arrived").collect();
    assert_eq!(never.len(), 1, "{exceptions}");
    assert_eq!(never[0]["task_id"], lost.task.as_str());
    assert_eq!(never[0]["reported_by_role"], "server");
    let id = never[0]["id"].as_str().expect("id");
    let (status, resolved) = post(&r.server, &format!("/api/exceptions/{id}/resolve"), token,
        json!({ "resolution": "the carrier confirmed the loss; task reopened" })).await;
    assert_eq!(status, StatusCode::OK, "{resolved}");
    assert!(resolved["resolved_at"].is_string());
    let (_, parcel) = get(&r.server, &format!("/api/tasks/{}/parcel", lost.task), token).await;
    assert_eq!(parcel["exceptions"][0]["kind"], "never_arrived");
}
}

/// A station photo through the upload path: `photo_id` in its metadata,
/// relay operators only; 204 at its last PATCH once it passed the media
/// pipeline.
async fn upload_station_photo(
    r: &Route,
    person: &Person,
    photo: &str,
    bytes: &[u8],
) -> crate::e2e::uploads::Answer {
    let tus = crate::e2e::uploads::Tus::new(&r.server, person);
    let created = tus
        .create(
            Some(bytes.len()),
            &crate::e2e::uploads::meta(&[("photo_id", photo.as_bytes())]),
        )
        .await;
    if created.status != StatusCode::CREATED {
        return created;
    }
    let path = created.header("location").expect("Location");
    tus.patch(&path, 0, bytes).await
}

on_each_backend! {
/// A station's photos of a parcel go through the upload path and the media
/// pipeline (their location removed), before or after the scan that names
/// them; the coordinator sees them with the parcel, the station that took
/// them may fetch them, no one else; each photo's hashes join the sample's
/// custody chain once both the scan is matched and the file is in.
async fn a_stations_photos_lose_their_location_reach_the_coordinator_and_join_the_chain(backend: Backend) {
    use crate::e2e::uploads::pictures::*;
    let r = route(backend, false).await;
    let mut b = buyer(&r).await;
    b.buy_and_ship(&r, "YT-5550001").await;
    let with_gps = |seed| with_segments(&jpeg(&photo_like(320, 240, seed), 90), &[exif_app1(1)]);
    let (first, second) = (with_gps(7), with_gps(8));
    assert!(exif_fields(&first).is_some_and(|f| f.iter().any(|x| x.contains("GPS"))), "the input has GPS");
    let (before, after) = (new_id(), new_id());

    // Only a relay operator uploads station photos.
    let refused = upload_station_photo(&r, &b.person, &new_id(), &first).await;
    assert_eq!((refused.status, refused.body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_metadata")), "{}", refused.body);
    let not_a_uuid = upload_station_photo(&r, &r.operator, "photo-1", &first).await;
    assert_eq!(not_a_uuid.status, StatusCode::BAD_REQUEST, "{}", not_a_uuid.body);
    // One file before the scan, one after; an HTML page posing as a photo is refused.
    let answer = upload_station_photo(&r, &r.operator, &before, &first).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.body);
    let html = upload_station_photo(&r, &r.operator, &new_id(), b"<!DOCTYPE html><html><script>alert(1)</script></html>").await;
    assert_eq!((html.status, html.body["code"].as_str()), (StatusCode::UNSUPPORTED_MEDIA_TYPE, Some("type_not_allowed")), "{}", html.body);

    let op = r.operator.access_token.as_str();
    let (status, scan) = post(&r.server, &format!("/api/stations/{}/scans", r.station), Some(op), json!({
        "id": new_id(), "code": "yt5550001", "condition": "intact", "photos": [before.to_uppercase(), after],
    })).await;
    assert_eq!(status, StatusCode::CREATED, "{scan}");
    assert_eq!(scan["status"], "matched", "{scan}");
    let sample = scan["parcel"]["sample_code"].as_str().expect("sample").to_string();
    let answer = upload_station_photo(&r, &r.operator, &after, &second).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.body);
    // The same id again is refused: a photo has one file.
    let again = upload_station_photo(&r, &r.operator, &after, &first).await;
    assert_eq!((again.status, again.body["code"].as_str()), (StatusCode::CONFLICT, Some("photo_has_file")), "{}", again.body);

    // The coordinator sees both with the parcel; the served copies carry no EXIF.
    let coordinator = r.coordinator.access_token.as_str();
    let (status, parcel) = get(&r.server, &format!("/api/tasks/{}/parcel", b.task), Some(coordinator)).await;
    assert_eq!(status, StatusCode::OK, "{parcel}");
    let photos = parcel["photos"].as_array().expect("photos");
    let ids: Vec<&str> = photos.iter().filter_map(|p| p["id"].as_str()).collect();
    let mut expected = vec![before.as_str(), after.as_str()];
    expected.sort();
    assert_eq!(ids, expected, "{parcel}");
    for photo in photos {
        let original = if photo["id"] == before.as_str() { &first } else { &second };
        assert_eq!(photo["sha256"], crate::e2e::uploads::sha256_hex(original));
        for url in [&photo["file_url"], &photo["thumbnail_url"]] {
            let url = url.as_str().expect("url");
            let served = raw(&r.server, url, coordinator).await;
            assert_eq!(served.status(), StatusCode::OK, "{url}");
            let bytes = served.bytes().await.expect("bytes").to_vec();
            assert!(bytes.starts_with(&[0xFF, 0xD8]), "{url} is a JPEG");
            assert!(!bytes.windows(4).any(|w| w == b"Exif"), "{url} has an Exif segment");
            assert!(exif_fields(&bytes).is_none_or(|f| f.is_empty()), "{url} has EXIF");
        }
        // The station that took it may look again; the lab and the buyer may not.
        let url = photo["file_url"].as_str().expect("url");
        assert_eq!(raw(&r.server, url, op).await.status(), StatusCode::OK);
        for who in [&r.inspector, &b.person] {
            assert_eq!(raw(&r.server, url, &who.access_token).await.status(), StatusCode::NOT_FOUND, "{url}");
        }
    }
    // Nothing is left of the refused page.
    let services = r.env.services().await;
    let page = crate::e2e::uploads::sha256_hex(b"<!DOCTYPE html><html><script>alert(1)</script></html>");
    assert!(services.blobs.head(&format!("blobs/sha256/{page}")).await.expect("head").is_none());

    // Both photos are in the sample's chain, with the hashes of their files.
    let (status, proof) = get(&r.server, &format!("/api/samples/{sample}/custody"), Some(coordinator)).await;
    assert_eq!(status, StatusCode::OK, "{proof}");
    let proof: custody_log::ChainProof = serde_json::from_value(proof).expect("a chain proof");
    let key = custody_log::CheckpointSigner::from_config(SIGNING_SEED).expect("key").public_key().clone();
    custody_log::verify_chain(&proof, std::slice::from_ref(&key)).expect("the chain verifies");
    let mut logged: Vec<(String, String)> = proof.entries.iter()
        .filter(|e| e.entry.kind == "station_photo")
        .map(|e| (e.entry.data["photo"].as_str().unwrap_or_default().to_string(), e.entry.data["sha256"].as_str().unwrap_or_default().to_string()))
        .collect();
    logged.sort();
    let mut wanted = vec![
        (before.clone(), crate::e2e::uploads::sha256_hex(&first)),
        (after.clone(), crate::e2e::uploads::sha256_hex(&second)),
    ];
    wanted.sort();
    assert_eq!(logged, wanted, "each photo logged once");
    r.server.stop().await;
}
}
