//! Offline sync over HTTP: devices of volunteers as `sync-protocol` client
//! replicas against the real server, on both backends.

use chrono::Duration;
use mystery_buyer_server::{auth::Role, clock::ManualClock};
use mystery_buyer_tests::{
    Backend, TestEnv, TestServer, on_each_backend,
    people::{Person, get, person, post},
    sync::{Device, create_task, new_id},
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sync_protocol::{
    Kind, Money, Mutation, Record, Status,
    mutations::{
        AddEvidence, AddNote, EditPurchase, RecordPurchase, RequestReimbursement, SetShipment,
        SetTaskStatus, Withdraw,
    },
    records::EvidenceKind,
    wire::{Outcome, PushRequest},
};

fn clock() -> ManualClock {
    mystery_buyer_tests::manual_clock()
}

fn now(clock: &ManualClock) -> i64 {
    use mystery_buyer_server::clock::Clock;
    clock.now().timestamp_micros()
}

struct World {
    env: TestEnv,
    server: TestServer,
    clock: ManualClock,
    coordinator: Person,
}

async fn world(backend: Backend) -> World {
    // The stories move the clock by hours: tokens must outlive them.
    let env = TestEnv::with(
        backend,
        &[
            ("MB_RATE_LIMIT_IP_PER_MINUTE", "100000"),
            ("MB_ACCESS_TOKEN_SECS", "86400"),
        ],
    );
    let clock = clock();
    let server = env.start_with_clock(clock.clone()).await;
    let coordinator = person(&server, &env, Role::Coordinator).await;
    World {
        env,
        server,
        clock,
        coordinator,
    }
}

pub(crate) fn status(task_id: &str, generation: u32, status: Status) -> Mutation {
    Mutation::SetTaskStatus(SetTaskStatus {
        task_id: task_id.into(),
        generation,
        status,
    })
}

pub(crate) fn purchase(id: &str, task_id: &str, order: &str, minor: i64) -> Mutation {
    Mutation::RecordPurchase(RecordPurchase {
        id: id.into(),
        task_id: task_id.into(),
        order_number: order.into(),
        amount: Money::new(minor, "CNY"),
        purchased_at_us: 1_795_000_000_000_000,
        shop_name: "Example Flagship Store".into(),
    })
}

fn task_of(device: &Device, id: &str) -> Option<sync_protocol::records::Task> {
    match device.replica.confirmed().get(&(Kind::Task, id.to_owned())) {
        Some(Record::Task(t)) => Some(t.clone()),
        _ => None,
    }
}

async fn task_detail(w: &World, id: &str) -> Value {
    let (code, body) = get(
        &w.server,
        &format!("/api/tasks/{id}"),
        Some(&w.coordinator.access_token),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    body
}

async fn open_reviews(w: &World) -> Vec<Value> {
    let (code, body) = get(&w.server, "/api/reviews", Some(&w.coordinator.access_token)).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    body.as_array().expect("list").clone()
}

on_each_backend! {
/// The whole round trip: a coordinator's task reaches the phone; the
/// volunteer accepts, buys, records evidence and the tracking number
/// offline; one push later the coordinator sees all of it.
async fn a_task_reaches_the_volunteers_phone_and_their_offline_work_reaches_the_coordinator(backend: Backend) {
    let w = world(backend).await;
    let volunteer = person(&w.server, &w.env, Role::Volunteer).await;
    let mut phone = Device::register(&w.server, &volunteer, "phone").await;
    let task = create_task(&w.server, &w.coordinator, &volunteer.user_id, "Power strip").await;

    phone.pull(&w.server).await;
    let on_phone = task_of(&phone, &task).expect("the task is on the phone");
    assert_eq!(on_phone.status.status, Status::Offered);
    assert_eq!(on_phone.instructions, "Buy the cheapest variant; pay by card.");

    // Offline: accept, buy, photograph, ship.
    let t = now(&w.clock);
    let purchase_id = new_id();
    phone.mutate(t, status(&task, 1, Status::Accepted));
    phone.mutate(t + 1, purchase(&purchase_id, &task, "ORDER-1", 3999));
    phone.mutate(t + 2, status(&task, 1, Status::Purchased));
    phone.mutate(t + 3, Mutation::AddEvidence(AddEvidence {
        id: new_id(),
        task_id: task.clone(),
        kind: EvidenceKind::OrderScreenshot,
        sha256: "ab".repeat(32),
        size: 123_456,
        media_type: "image/png".into(),
        captured_at_us: t,
        note: "order page".into(),
    }));
    phone.mutate(t + 4, Mutation::SetShipment(SetShipment {
        task_id: task.clone(),
        carrier: Some("SF Express".into()),
        tracking_number: Some("SF1234567890".into()),
    }));
    let note_id = new_id();
    phone.mutate(t + 5, Mutation::AddNote(AddNote { id: note_id.clone(), task_id: task.clone(), body: "seller was slow".into() }));
    phone.mutate(t + 6, Mutation::RequestReimbursement(RequestReimbursement {
        id: new_id(),
        task_id: task.clone(),
        amount: Money::new(3999, "CNY"),
        note: "card payment".into(),
    }));
    phone.mutate(t + 7, Mutation::Withdraw(Withdraw { kind: Kind::Note, id: note_id.clone(), reason: "wrong task".into() }));
    // The app shows it all before any push.
    let shown = phone.replica.view();
    assert!(matches!(shown.get(&(Kind::Task, task.clone())), Some(Record::Task(t)) if t.status.status == Status::Purchased));
    assert_eq!(shown.len(), 6);

    w.clock.advance(Duration::minutes(30));
    let answers = phone.push(&w.server, now(&w.clock)).await;
    let outcomes: Vec<_> = answers.iter().flat_map(|a| a.results.iter().map(|r| r.outcome.clone())).collect();
    assert_eq!(outcomes, vec![Outcome::Applied; 8]);
    phone.pull(&w.server).await;
    assert!(phone.replica.pending().is_empty());
    assert_eq!(phone.replica.view(), phone.replica.confirmed());
    assert_eq!(phone.replica.confirmed().len(), 6);
    let Some(Record::Note(note)) = phone.replica.confirmed().get(&(Kind::Note, note_id.clone())) else { panic!("note") };
    assert!(note.withdrawal.is_withdrawn(), "withdrawn, and still there");

    let detail = task_detail(&w, &task).await;
    assert_eq!(detail["status"], "purchased");
    let kinds: Vec<&str> = detail["records"].as_array().expect("records").iter().map(|r| r["kind"].as_str().expect("kind")).collect();
    assert_eq!(kinds.len(), 5, "{detail}");
    for kind in ["purchase", "evidence", "shipment", "note", "reimbursement"] {
        assert!(kinds.contains(&kind), "{kind} missing in {detail}");
    }
    let bought = detail["records"].as_array().expect("records").iter().find(|r| r["kind"] == "purchase").expect("purchase");
    assert_eq!(bought["amount"]["value"], json!({ "minor": 3999, "currency": "CNY" }));
    assert_eq!(bought["order_number"]["value"], "ORDER-1");
    w.server.stop().await;
}
}

on_each_backend! {
/// Two phones of one volunteer change the same task offline in conflicting
/// ways; whichever pushes first, both end with the same state.
async fn two_devices_of_one_volunteer_converge_in_either_push_order(backend: Backend) {
    let w = world(backend).await;
    let mut finals = Vec::new();
    for phone_first in [true, false] {
        let volunteer = person(&w.server, &w.env, Role::Volunteer).await;
        let mut phone = Device::register(&w.server, &volunteer, "phone").await;
        let mut tablet = Device::register(&w.server, &volunteer, "tablet").await;
        let task = create_task(&w.server, &w.coordinator, &volunteer.user_id, "Bag").await;
        let purchase_id = new_id();
        phone.sync(&w.server, now(&w.clock)).await;
        phone.mutate(now(&w.clock), status(&task, 1, Status::Accepted));
        phone.mutate(now(&w.clock), purchase(&purchase_id, &task, "A-1", 1000));
        phone.sync(&w.server, now(&w.clock)).await;
        tablet.pull(&w.server).await;

        // Offline on both: different order numbers, amounts, tracking numbers, statuses.
        w.clock.advance(Duration::minutes(1));
        let t = now(&w.clock);
        phone.mutate(t, Mutation::EditPurchase(EditPurchase { id: purchase_id.clone(), order_number: Some("PHONE".into()), ..EditPurchase::default() }));
        phone.mutate(t, status(&task, 1, Status::Shipped));
        phone.mutate(t, Mutation::SetShipment(SetShipment { task_id: task.clone(), carrier: Some("SF".into()), tracking_number: Some("SF-PHONE".into()) }));
        w.clock.advance(Duration::seconds(5));
        let t2 = now(&w.clock);
        tablet.mutate(t2, Mutation::EditPurchase(EditPurchase { id: purchase_id.clone(), order_number: Some("TABLET".into()), ..EditPurchase::default() }));
        tablet.mutate(t2, status(&task, 1, Status::Purchased));
        tablet.mutate(t2, Mutation::SetShipment(SetShipment { task_id: task.clone(), carrier: None, tracking_number: Some("YT-TABLET".into()) }));

        w.clock.advance(Duration::minutes(10));
        let t3 = now(&w.clock);
        if phone_first {
            phone.push(&w.server, t3).await;
            tablet.push(&w.server, t3).await;
        } else {
            tablet.push(&w.server, t3).await;
            phone.push(&w.server, t3).await;
        }
        phone.pull(&w.server).await;
        tablet.pull(&w.server).await;
        assert_eq!(phone.replica.confirmed(), tablet.replica.confirmed());
        assert!(phone.replica.pending().is_empty() && tablet.replica.pending().is_empty());
        let t = task_of(&phone, &task).expect("task");
        // Forward only: shipped beats the tablet's later "purchased".
        assert_eq!(t.status.status, Status::Shipped);
        let Some(Record::Purchase(p)) = phone.replica.confirmed().get(&(Kind::Purchase, purchase_id.clone())) else { panic!("purchase") };
        // The later edit (the tablet's) wins the field.
        assert_eq!(p.order_number.value, "TABLET");
        let Some(Record::Shipment(s)) = phone.replica.confirmed().get(&(Kind::Shipment, task.clone())) else { panic!("shipment") };
        assert_eq!(s.tracking_number.as_ref().map(|l| l.value.as_str()), Some("YT-TABLET"));
        assert_eq!(s.carrier.as_ref().map(|l| l.value.as_str()), Some("SF"));
        // Keep only what is independent of ids and stamps' node ids to compare the two runs.
        finals.push((t.status.status, p.order_number.value.clone(), s.tracking_number.as_ref().map(|l| l.value.clone()), s.carrier.as_ref().map(|l| l.value.clone())));
    }
    assert_eq!(finals[0], finals[1], "push order changed the outcome");
    w.server.stop().await;
}
}

on_each_backend! {
/// A task reassigned from A to B leaves A's devices and arrives on B's with
/// its history; A's offline purchase, pushed later, is kept and flagged.
async fn a_reassigned_task_leaves_the_old_volunteers_device_and_their_late_purchase_is_kept_for_review(backend: Backend) {
    let w = world(backend).await;
    let anna = person(&w.server, &w.env, Role::Volunteer).await;
    let ben = person(&w.server, &w.env, Role::Volunteer).await;
    let mut annas_phone = Device::register(&w.server, &anna, "anna").await;
    let mut bens_phone = Device::register(&w.server, &ben, "ben").await;
    let task = create_task(&w.server, &w.coordinator, &anna.user_id, "Quilt").await;
    annas_phone.pull(&w.server).await;
    annas_phone.mutate(now(&w.clock), status(&task, 1, Status::Accepted));
    annas_phone.sync(&w.server, now(&w.clock)).await;
    bens_phone.pull(&w.server).await;
    assert!(task_of(&annas_phone, &task).is_some());
    assert!(bens_phone.replica.confirmed().is_empty());

    // Anna buys offline; meanwhile the coordinator gives the task to Ben.
    let late_purchase = new_id();
    annas_phone.mutate(now(&w.clock), purchase(&late_purchase, &task, "ANNA-1", 2500));
    w.clock.advance(Duration::hours(1));
    let (code, body) = post(&w.server, &format!("/api/tasks/{task}/reassign"), Some(&w.coordinator.access_token), json!({ "volunteer_id": ben.user_id })).await;
    assert_eq!(code, StatusCode::OK, "{body}");

    bens_phone.pull(&w.server).await;
    let on_ben = task_of(&bens_phone, &task).expect("the task arrives on Ben's phone");
    assert_eq!((on_ben.status.generation, on_ben.status.status), (2, Status::Offered));
    let history: Vec<(u32, Status)> = on_ben.history.iter().map(|h| (h.generation, h.status)).collect();
    assert_eq!(history, vec![(1, Status::Offered), (1, Status::Accepted), (2, Status::Offered)]);

    w.clock.advance(Duration::hours(1));
    let answers = annas_phone.push(&w.server, now(&w.clock)).await;
    assert!(matches!(&answers[0].results[0].outcome, Outcome::Held(r) if r.code == "task_reassigned"), "{answers:?}");
    annas_phone.pull(&w.server).await;
    assert!(task_of(&annas_phone, &task).is_none(), "the task left Anna's phone");
    assert!(annas_phone.replica.view().is_empty());
    assert_eq!(annas_phone.replica.refused().len(), 1);
    assert!(annas_phone.replica.refused()[0].held);
    // Anna can no longer move the task.
    annas_phone.replica.mutate(now(&w.clock), status(&task, 2, Status::Accepted)).expect_err("not on her phone any more");

    // Kept: the coordinator sees the purchase, not on any device, and a review item.
    let detail = task_detail(&w, &task).await;
    let kept = detail["records"].as_array().expect("records").iter().find(|r| r["id"] == late_purchase).expect("the late purchase is kept");
    assert_eq!(kept["on_devices"], false);
    assert_eq!(kept["author_id"], anna.user_id);
    let reviews = open_reviews(&w).await;
    assert!(reviews.iter().any(|r| r["reason"] == "record_for_reassigned_task" && r["record_id"] == late_purchase), "{reviews:?}");

    // Ben buys too: two purchases for one task are flagged.
    bens_phone.mutate(now(&w.clock), status(&task, 2, Status::Accepted));
    bens_phone.mutate(now(&w.clock), purchase(&new_id(), &task, "BEN-1", 2400));
    bens_phone.sync(&w.server, now(&w.clock)).await;
    assert_eq!(bens_phone.replica.refused().len(), 0);
    assert_eq!(bens_phone.replica.confirmed().len(), 2, "Ben sees his purchase, not Anna's");
    let reviews = open_reviews(&w).await;
    assert!(reviews.iter().any(|r| r["reason"] == "two_purchases_for_one_task"), "{reviews:?}");

    // Resolving closes an item; resolving again is a conflict.
    let id = reviews[0]["id"].as_str().expect("id");
    let (code, resolved) = post(&w.server, &format!("/api/reviews/{id}/resolve"), Some(&w.coordinator.access_token), json!({ "resolution": "refund Anna" })).await;
    assert_eq!(code, StatusCode::OK, "{resolved}");
    assert_eq!(resolved["resolution"], "refund Anna");
    let (code, _) = post(&w.server, &format!("/api/reviews/{id}/resolve"), Some(&w.coordinator.access_token), json!({ "resolution": "again" })).await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert_eq!(open_reviews(&w).await.len(), reviews.len() - 1);
    w.server.stop().await;
}
}

on_each_backend! {
/// A phone whose clock runs a week ahead edits first; an honest phone edits
/// after it pushed: the honest, later edit wins.
async fn a_device_whose_clock_is_a_week_ahead_cannot_win_later_edits(backend: Backend) {
    let w = world(backend).await;
    let volunteer = person(&w.server, &w.env, Role::Volunteer).await;
    let mut fast = Device::register(&w.server, &volunteer, "fast").await;
    fast.skew_us = Duration::days(7).num_microseconds().expect("fits");
    let mut honest = Device::register(&w.server, &volunteer, "honest").await;
    let task = create_task(&w.server, &w.coordinator, &volunteer.user_id, "Shoes").await;
    let purchase_id = new_id();
    fast.pull(&w.server).await;
    fast.mutate(now(&w.clock), purchase(&purchase_id, &task, "FAST", 100));
    fast.sync(&w.server, now(&w.clock)).await;
    let Some(Record::Purchase(p)) = fast.replica.confirmed().get(&(Kind::Purchase, purchase_id.clone())).cloned() else { panic!("purchase") };
    assert!(p.order_number.stamp.wall_us <= now(&w.clock), "a stamp never exceeds server time");

    w.clock.advance(Duration::minutes(5));
    honest.pull(&w.server).await;
    honest.mutate(now(&w.clock), Mutation::EditPurchase(EditPurchase { id: purchase_id.clone(), order_number: Some("HONEST".into()), ..EditPurchase::default() }));
    honest.sync(&w.server, now(&w.clock)).await;
    // The fast phone edits again offline a minute "later" by its clock, but
    // pushes later still: it wins only because it is really later.
    fast.pull(&w.server).await;
    let Some(Record::Purchase(p)) = fast.replica.confirmed().get(&(Kind::Purchase, purchase_id.clone())).cloned() else { panic!("purchase") };
    assert_eq!(p.order_number.value, "HONEST", "the week-ahead stamp did not beat a later edit");

    // An edit the fast phone made before the honest one (by true time) but
    // pushes after it still loses.
    let before_honest = now(&w.clock) - Duration::minutes(3).num_microseconds().expect("fits");
    fast.mutate(before_honest, Mutation::EditPurchase(EditPurchase { id: purchase_id.clone(), order_number: Some("FAST-OLD".into()), ..EditPurchase::default() }));
    w.clock.advance(Duration::minutes(1));
    fast.sync(&w.server, now(&w.clock)).await;
    let Some(Record::Purchase(p)) = fast.replica.confirmed().get(&(Kind::Purchase, purchase_id.clone())).cloned() else { panic!("purchase") };
    assert_eq!(p.order_number.value, "HONEST");
    w.server.stop().await;
}
}

on_each_backend! {
/// A fresh device of a volunteer with 5,000 records syncs them in pages.
async fn a_fresh_device_with_5000_records_syncs_in_pages(backend: Backend) {
    let w = world(backend).await;
    let volunteer = person(&w.server, &w.env, Role::Volunteer).await;
    let mut old = Device::register(&w.server, &volunteer, "old phone").await;
    let task = create_task(&w.server, &w.coordinator, &volunteer.user_id, "Many notes").await;
    old.pull(&w.server).await;
    for i in 0..4_999 {
        old.mutate(now(&w.clock), Mutation::AddNote(AddNote { id: new_id(), task_id: task.clone(), body: format!("note {i}") }));
    }
    let answers = old.push(&w.server, now(&w.clock)).await;
    assert_eq!(answers.iter().map(|a| a.results.len()).sum::<usize>(), 4_999);
    old.pull(&w.server).await;

    let mut fresh = Device::register(&w.server, &volunteer, "new phone").await;
    let mut pages = 0;
    loop {
        let page = fresh.pull_page(&w.server, Some(400)).await;
        pages += 1;
        assert!(page.changes.len() <= 400);
        if !page.more {
            break;
        }
    }
    assert_eq!(pages, 13, "5,000 records in pages of 400");
    assert_eq!(fresh.replica.confirmed().len(), 5_000);
    assert_eq!(fresh.replica.confirmed(), old.replica.confirmed());
    w.server.stop().await;
}
}

on_each_backend! {
/// Every mutation gets its own answer: duplicates are named as such, a gap
/// stops the batch, refusals carry a stable code and still count.
async fn duplicates_gaps_and_refusals_are_answered_per_mutation(backend: Backend) {
    let w = world(backend).await;
    let volunteer = person(&w.server, &w.env, Role::Volunteer).await;
    let mut phone = Device::register(&w.server, &volunteer, "phone").await;
    let task = create_task(&w.server, &w.coordinator, &volunteer.user_id, "Toilet seat").await;
    phone.pull(&w.server).await;
    let t = now(&w.clock);
    phone.mutate(t, status(&task, 1, Status::Accepted));
    let first = phone.replica.push_request(t, 10).expect("one mutation");
    let push = |request: &PushRequest| {
        let request = request.clone();
        let token = phone.token.clone();
        let server = &w.server;
        async move {
            let response = server.http.post(server.url("/api/sync/push")).bearer_auth(token).json(&request).send().await.expect("send");
            let status = response.status();
            (status, response.json::<Value>().await.expect("json"))
        }
    };
    let (code, body) = push(&first).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["results"][0]["outcome"], "applied");
    // The same batch again (a retry after a lost answer): a duplicate.
    let (_, body) = push(&first).await;
    assert_eq!(body["results"][0]["outcome"], "duplicate");
    assert_eq!(body["last_processed"], 1);

    let envelope = |seq: u64, name: &str, args: Value| json!({ "seq": seq, "stamp": first.mutations[0].stamp, "name": name, "args": args });
    let batch = |mutations: Vec<Value>| -> PushRequest {
        serde_json::from_value(json!({ "v": 1, "device_id": first.device_id, "sent_at_us": t, "mutations": mutations })).expect("request")
    };
    // Refusals count as processed; the gap stops the batch before seq 7.
    let refusals = batch(vec![
        envelope(2, "task.teleport", json!({})),
        envelope(3, "task.set_status", json!({ "task_id": task, "generation": 1, "status": "tested" })),
        envelope(4, "evidence.add", json!({ "id": new_id(), "task_id": task, "kind": "receipt", "sha256": "cd".repeat(32), "size": 1, "media_type": "image/jpeg", "captured_at_us": t, "status": "verified" })),
        envelope(5, "task.set_status", json!({ "task_id": new_id(), "generation": 1, "status": "accepted" })),
        envelope(7, "task.set_status", json!({ "task_id": task, "generation": 1, "status": "purchased" })),
    ]);
    let (_, body) = push(&refusals).await;
    let codes: Vec<&str> = body["results"].as_array().expect("results").iter().map(|r| r["code"].as_str().unwrap_or("-")).collect();
    assert_eq!(codes, vec!["unknown_mutation", "status_not_yours", "server_owned_field", "not_found"], "{body}");
    assert_eq!(body["stopped"], json!({ "reason": "gap", "resume_from": 6 }));
    assert_eq!(body["last_processed"], 5);
    // Sent again (the answer was lost): the same refusals, not "duplicate".
    let (_, again) = push(&refusals).await;
    assert_eq!(again["results"], body["results"]);
    // A foreign node id in a stamp is refused.
    let mut forged = envelope(6, "task.set_status", json!({ "task_id": task, "generation": 1, "status": "purchased" }));
    forged["stamp"]["node"] = json!("someone-else");
    let (_, body) = push(&batch(vec![forged])).await;
    assert_eq!(body["results"][0]["code"], "foreign_stamp");

    // Malformed batches are 4xx problems and change nothing.
    for bad in [
        json!({ "v": 2, "device_id": first.device_id, "sent_at_us": t, "mutations": [] }),
        json!({ "v": 1, "device_id": first.device_id, "sent_at_us": t, "mutations": [envelope(9, "note.add", json!({})), envelope(8, "note.add", json!({}))] }),
        json!({ "v": 1, "device_id": first.device_id, "mutations": [] }),
    ] {
        let response = w.server.http.post(w.server.url("/api/sync/push")).bearer_auth(&phone.token).json(&bad).send().await.expect("send");
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(response.headers()["content-type"], "application/problem+json");
    }
    // Another volunteer's device is not found, for push and pull alike.
    let other = person(&w.server, &w.env, Role::Volunteer).await;
    let (code, _) = post(&w.server, "/api/sync/push", Some(&other.access_token), json!({ "v": 1, "device_id": first.device_id, "sent_at_us": t, "mutations": [] })).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (code, _) = get(&w.server, &format!("/api/sync/pull?device_id={}", first.device_id), Some(&other.access_token)).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (_, body) = get(&w.server, &format!("/api/tasks/{task}"), Some(&w.coordinator.access_token)).await;
    assert_eq!(body["status"], "accepted", "nothing refused changed the task");
    w.server.stop().await;
}
}

on_each_backend! {
/// A cursor the server does not know gets an explicit reset; the device
/// re-syncs from nothing and keeps its unpushed mutations.
async fn an_unknown_cursor_resets_the_device_without_losing_unpushed_mutations(backend: Backend) {
    let w = world(backend).await;
    let volunteer = person(&w.server, &w.env, Role::Volunteer).await;
    let mut phone = Device::register(&w.server, &volunteer, "phone").await;
    let task = create_task(&w.server, &w.coordinator, &volunteer.user_id, "Backpack").await;
    phone.pull(&w.server).await;
    let note = new_id();
    phone.mutate(now(&w.clock), Mutation::AddNote(AddNote { id: note.clone(), task_id: task.clone(), body: "unpushed".into() }));

    for bad_cursor in ["zz-not-hex", "7b7d", &hex_of(&json!({ "e": "another-epoch", "s": { format!("volunteer:{}", volunteer.user_id): 1 }, "p": 0 }))] {
        let (code, page) = get(&w.server, &format!("/api/sync/pull?device_id={}&cursor={bad_cursor}", phone.replica.device_id()), Some(&phone.token)).await;
        assert_eq!(code, StatusCode::OK, "{page}");
        assert_eq!(page["reset"], true, "{bad_cursor}");
        let page: sync_protocol::wire::PullResponse = serde_json::from_value(page).expect("page");
        phone.replica.on_pull_response(&page);
        assert!(task_of(&phone, &task).is_some(), "the reset page starts from nothing");
        assert_eq!(phone.replica.pending().len(), 1, "the unpushed note survives the reset");
        assert!(phone.replica.view().contains_key(&(Kind::Note, note.clone())));
    }
    // A cursor ahead of the server (a restored database) is reset too.
    let ahead = hex_of(&json!({ "e": epoch_of(&w, &phone).await, "s": { format!("volunteer:{}", volunteer.user_id): 999_999 }, "p": 0 }));
    let (_, page) = get(&w.server, &format!("/api/sync/pull?device_id={}&cursor={ahead}", phone.replica.device_id()), Some(&phone.token)).await;
    assert_eq!(page["reset"], true);
    phone.sync(&w.server, now(&w.clock)).await;
    assert!(phone.replica.pending().is_empty());
    assert!(phone.replica.confirmed().contains_key(&(Kind::Note, note)));
    w.server.stop().await;
}
}

on_each_backend! {
/// A device that has not pulled for longer than removals are remembered is
/// told to start over, and then holds exactly what it may see.
async fn a_device_that_did_not_pull_for_longer_than_removals_are_kept_gets_a_reset(backend: Backend) {
    let env = TestEnv::with(
        backend,
        &[
            ("MB_RATE_LIMIT_IP_PER_MINUTE", "100000"),
            ("MB_ACCESS_TOKEN_SECS", "2592000"),
            ("MB_SYNC_TOMBSTONE_DAYS", "1"),
        ],
    );
    let clock = clock();
    let server = env.start_with_clock(clock.clone()).await;
    let coordinator = person(&server, &env, Role::Coordinator).await;
    let anna = person(&server, &env, Role::Volunteer).await;
    let ben = person(&server, &env, Role::Volunteer).await;
    let mut phone = Device::register(&server, &anna, "drawer phone").await;
    let kept = create_task(&server, &coordinator, &anna.user_id, "Kept").await;
    let moved = create_task(&server, &coordinator, &anna.user_id, "Moved").await;
    phone.pull(&server).await;
    let (code, _) = post(&server, &format!("/api/tasks/{moved}/reassign"), Some(&coordinator.access_token), json!({ "volunteer_id": ben.user_id })).await;
    assert_eq!(code, StatusCode::OK);
    // Two days in a drawer: the removal of `moved` is forgotten by then.
    clock.advance(Duration::days(2));
    let device_id = phone.replica.device_id().to_owned();
    let cursor = phone.replica.cursor().expect("cursor").to_owned();
    let page = mystery_buyer_tests::eventually(std::time::Duration::from_secs(20), "tombstones pruned", || {
        let (server, token, device_id, cursor) = (&server, phone.token.clone(), device_id.clone(), cursor.clone());
        async move {
            let (_, page) = get(server, &format!("/api/sync/pull?device_id={device_id}&cursor={cursor}"), Some(&token)).await;
            (page["reset"] == true).then_some(page)
        }
    })
    .await
    .expect("an outdated cursor is reset");
    let page: sync_protocol::wire::PullResponse = serde_json::from_value(page).expect("page");
    phone.replica.on_pull_response(&page);
    assert!(task_of(&phone, &kept).is_some());
    assert!(task_of(&phone, &moved).is_none(), "what left the scope is gone after the reset");
    server.stop().await;
}
}

fn hex_of(value: &Value) -> String {
    value
        .to_string()
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The epoch inside a real cursor (the tests know the cursor's layout; apps
/// must not).
async fn epoch_of(w: &World, device: &Device) -> String {
    let (_, page) = get(
        &w.server,
        &format!("/api/sync/pull?device_id={}", device.replica.device_id()),
        Some(&device.token),
    )
    .await;
    let cursor = page["cursor"].as_str().expect("cursor");
    let bytes: Vec<u8> = (0..cursor.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&cursor[i..i + 2], 16).expect("hex"))
        .collect();
    let inner: Value = serde_json::from_slice(&bytes).expect("json");
    inner["e"].as_str().expect("epoch").to_owned()
}

on_each_backend! {
/// A cancellation that reaches a task the volunteer already bought keeps the
/// purchase and is flagged; a money field overwritten blind is flagged.
async fn a_cancellation_after_a_purchase_and_a_blind_money_overwrite_go_on_the_review_list(backend: Backend) {
    let w = world(backend).await;
    let volunteer = person(&w.server, &w.env, Role::Volunteer).await;
    let mut phone = Device::register(&w.server, &volunteer, "phone").await;
    let mut tablet = Device::register(&w.server, &volunteer, "tablet").await;
    let task = create_task(&w.server, &w.coordinator, &volunteer.user_id, "Induction cooker").await;
    phone.pull(&w.server).await;
    let purchase_id = new_id();
    phone.mutate(now(&w.clock), status(&task, 1, Status::Accepted));
    phone.mutate(now(&w.clock), purchase(&purchase_id, &task, "X", 19_900));
    phone.mutate(now(&w.clock), status(&task, 1, Status::Purchased));
    // The coordinator cancels before the phone pushes.
    let (code, body) = post(&w.server, &format!("/api/tasks/{task}/cancel"), Some(&w.coordinator.access_token), json!({})).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "cancelled");
    w.clock.advance(Duration::minutes(1));
    phone.sync(&w.server, now(&w.clock)).await;
    assert_eq!(task_of(&phone, &task).expect("task").status.status, Status::Purchased, "the purchase stands");
    let reviews = open_reviews(&w).await;
    assert!(reviews.iter().any(|r| r["reason"] == "purchase_after_cancellation" && r["task_id"] == task), "{reviews:?}");

    // The same amount edited on the tablet, which had not seen the phone's
    // correction, by another volunteer... is the same author: not flagged.
    tablet.pull(&w.server).await;
    phone.mutate(now(&w.clock), Mutation::EditPurchase(EditPurchase { id: purchase_id.clone(), amount: Some(Money::new(18_000, "CNY")), ..EditPurchase::default() }));
    phone.sync(&w.server, now(&w.clock)).await;
    w.clock.advance(Duration::seconds(1));
    tablet.mutate(now(&w.clock), Mutation::EditPurchase(EditPurchase { id: purchase_id.clone(), amount: Some(Money::new(17_000, "CNY")), ..EditPurchase::default() }));
    tablet.sync(&w.server, now(&w.clock)).await;
    assert!(!open_reviews(&w).await.iter().any(|r| r["reason"] == "money_overwritten_blind"));
    w.server.stop().await;
}
}

on_each_backend! {
/// An online device learns of a change at once through the event stream.
async fn the_event_stream_pokes_a_device_when_its_scope_changes(backend: Backend) {
    use futures_util::StreamExt;
    let w = world(backend).await;
    let volunteer = person(&w.server, &w.env, Role::Volunteer).await;
    let phone = Device::register(&w.server, &volunteer, "phone").await;
    let response = w.server.http.get(w.server.url(&format!("/api/sync/events?device_id={}", phone.replica.device_id())))
        .bearer_auth(&phone.token).send().await.expect("stream");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut stream = response.bytes_stream();
    let mut seen = String::new();
    let mut next = async || {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next()).await.expect("an event within 10 s").expect("open").expect("bytes");
        String::from_utf8_lossy(&chunk).into_owned()
    };
    seen.push_str(&next().await);
    assert!(seen.contains("event: poke"), "the first event says the stream is live");
    create_task(&w.server, &w.coordinator, &volunteer.user_id, "Sports shoes").await;
    let poke = next().await;
    assert!(poke.contains("event: poke"), "{poke}");
    w.server.stop().await;
}
}

/// A failure of the database in the middle of a batch (here PostgreSQL
/// giving up on a row lock: a real failure, not a fake) stops the batch at
/// that mutation and says where to resume; what came before is kept, and
/// the resumed push applies the rest once.
#[cfg(feature = "services")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_failure_mid_batch_stops_it_with_the_point_to_resume_from() {
    use diesel::{Connection, PgConnection, RunQueryDsl, connection::SimpleConnection};
    use mystery_buyer_server::config::DatabaseTarget;
    use sync_protocol::wire::Stop;

    let env = TestEnv::with(
        Backend::PostgresGarage,
        &[("MB_RATE_LIMIT_IP_PER_MINUTE", "100000")],
    );
    let DatabaseTarget::Postgres(url) = env.database_target() else {
        panic!("a PostgreSQL test");
    };
    let url = url.expose().to_string();
    let mut admin = PgConnection::establish(&url).expect("connect");
    // Every later connection (the server's) waits at most 300 ms for a row lock.
    diesel::sql_query(
        "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET lock_timeout = %L', \
         current_database(), '300ms'); END $$",
    )
    .execute(&mut admin)
    .expect("set lock_timeout");
    let clock = clock();
    let server = env.start_with_clock(clock.clone()).await;
    let coordinator = person(&server, &env, Role::Coordinator).await;
    let volunteer = person(&server, &env, Role::Volunteer).await;
    let mut phone = Device::register(&server, &volunteer, "phone").await;
    let free = create_task(&server, &coordinator, &volunteer.user_id, "Free").await;
    let locked = create_task(&server, &coordinator, &volunteer.user_id, "Locked").await;
    phone.pull(&server).await;
    let t = now(&clock);
    for task in [&free, &locked, &free] {
        phone.mutate(
            t,
            Mutation::AddNote(AddNote {
                id: new_id(),
                task_id: task.clone(),
                body: "n".into(),
            }),
        );
    }

    let mut holder = PgConnection::establish(&url).expect("connect");
    holder
        .batch_execute(&format!(
            "BEGIN; SELECT 1 FROM tasks WHERE id = '{locked}' FOR UPDATE;"
        ))
        .expect("hold the row lock");
    let answer = phone.push_once(&server, t, 50).await.expect("an answer");
    assert_eq!(answer.results.len(), 1, "{answer:?}");
    assert_eq!(answer.results[0].outcome, Outcome::Applied);
    assert!(
        matches!(answer.stopped, Some(Stop::Transient { resume_from: 2, .. })),
        "{answer:?}"
    );
    assert_eq!(answer.last_processed, 1);

    holder.batch_execute("COMMIT").expect("release");
    let answers = phone.push(&server, t).await;
    let outcomes: Vec<_> = answers
        .iter()
        .flat_map(|a| a.results.iter().map(|r| (r.seq, r.outcome.clone())))
        .collect();
    assert_eq!(outcomes, vec![(2, Outcome::Applied), (3, Outcome::Applied)]);
    phone.pull(&server).await;
    let notes = phone
        .replica
        .confirmed()
        .keys()
        .filter(|(k, _)| *k == Kind::Note)
        .count();
    assert_eq!(notes, 3, "each note once");
    assert!(phone.replica.pending().is_empty());
    server.stop().await;
}
