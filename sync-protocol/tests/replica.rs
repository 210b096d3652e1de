//! The client replica on its own: what the user sees while a change waits,
//! and what becomes of the change after each answer from the server. The
//! server's answers are written by hand here; `tests/convergence.rs` drives
//! replicas against a model server.

use sync_protocol::{
    Mutation, NodeId, Record, Rejection, Stamp, Status, StatusReg,
    mutations::{AddEvidence, AddNote, EditNote, SetTaskStatus},
    records::{EvidenceKind, Kind, Task},
    replica::Replica,
    wire::{Change, DeviceRegistered, MutationResult, Outcome, PullResponse, PushResponse, Stop},
};

const TASK: &str = "0192f0c4-8f5e-7a3b-9c1d-2e4f6a8b0c1d";
const NOTE: &str = "0192f0c5-1a2b-7c3d-8e4f-5a6b7c8d9e03";
const T0: i64 = 1_800_000_000_000_000;

fn device() -> DeviceRegistered {
    DeviceRegistered {
        v: 1,
        device_id: "0192f0c3-0000-7000-8000-00000000d001".into(),
        node: NodeId::new("n7f3a"),
        last_processed: 0,
        server_time_us: T0,
    }
}

fn offered_task() -> Record {
    Record::Task(Task {
        id: TASK.into(),
        status: StatusReg::new(
            1,
            Status::Offered,
            Stamp::new(T0 - 1_000, 0, NodeId::server()),
        ),
        history: Vec::new(),
        title: "Buy one bottle".into(),
        instructions: String::new(),
        listing_url: String::new(),
        shop_name: String::new(),
        platform: String::new(),
        category: String::new(),
        price_cap: None,
        deadline_us: None,
        delivery: None,
    })
}

fn page(records: Vec<Record>, last_processed: u64) -> PullResponse {
    PullResponse {
        v: 1,
        reset: false,
        changes: records
            .into_iter()
            .map(|record| Change::Put { record })
            .collect(),
        cursor: format!("c{last_processed}"),
        more: false,
        last_processed,
        server_time_us: T0,
    }
}

fn answer(results: Vec<(u64, Outcome)>, last_processed: u64) -> PushResponse {
    PushResponse {
        v: 1,
        results: results
            .into_iter()
            .map(|(seq, outcome)| MutationResult { seq, outcome })
            .collect(),
        last_processed,
        stopped: None,
        server_time_us: T0,
    }
}

/// A replica that has pulled the offered task.
fn replica_with_a_task() -> Replica {
    let mut replica = Replica::new(&device());
    replica.on_pull_response(&page(vec![offered_task()], 0));
    replica
}

fn add_note(body: &str) -> Mutation {
    Mutation::AddNote(AddNote {
        id: NOTE.into(),
        task_id: TASK.into(),
        body: body.into(),
    })
}

fn note_key() -> (Kind, String) {
    (Kind::Note, NOTE.to_owned())
}

fn accept() -> Mutation {
    Mutation::SetTaskStatus(SetTaskStatus {
        task_id: TASK.into(),
        generation: 1,
        status: Status::Accepted,
    })
}

fn task_status(replica: &Replica) -> Option<Status> {
    match replica.view().get(&(Kind::Task, TASK.to_owned())) {
        Some(Record::Task(task)) => Some(task.status.status),
        _ => None,
    }
}

#[test]
fn a_queued_change_shows_at_once_in_the_view() {
    let mut replica = replica_with_a_task();
    assert_eq!(replica.mutate(T0, accept()), Ok(1));
    assert_eq!(replica.mutate(T0 + 1, add_note("seller is slow")), Ok(2));

    assert_eq!(task_status(&replica), Some(Status::Accepted));
    assert!(replica.view().contains_key(&note_key()));
    assert!(!replica.confirmed().contains_key(&note_key()));
    assert_eq!(replica.pending().len(), 2);
    let request = replica
        .push_request(T0 + 2, 10)
        .expect("two changes to push");
    assert_eq!(
        request.mutations.iter().map(|m| m.seq).collect::<Vec<_>>(),
        [1, 2]
    );
}

#[test]
fn a_rejected_change_moves_to_the_refused_list_and_out_of_the_view() {
    let mut replica = replica_with_a_task();
    let seq = replica.mutate(T0, add_note("x")).expect("queued");
    let refusal = Rejection::new("task_not_yours", "this task was given to someone else");
    replica.on_push_response(&answer(
        vec![(seq, Outcome::Rejected(refusal.clone()))],
        seq,
    ));

    assert!(replica.pending().is_empty());
    assert!(!replica.view().contains_key(&note_key()));
    let [refused] = replica.refused() else {
        panic!("one refused change, got {:?}", replica.refused());
    };
    assert_eq!(
        (refused.seq, refused.held, &refused.reason),
        (seq, false, &refusal)
    );
    assert_eq!(refused.mutation, add_note("x"));
    assert_eq!(replica.push_request(T0, 10), None);
}

#[test]
fn a_held_change_moves_to_the_refused_list_marked_held() {
    let mut replica = replica_with_a_task();
    let seq = replica.mutate(T0, add_note("x")).expect("queued");
    let hold = Rejection::new("task_reassigned", "a coordinator will look at it");
    replica.on_push_response(&answer(vec![(seq, Outcome::Held(hold.clone()))], seq));

    assert!(replica.pending().is_empty());
    assert!(!replica.view().contains_key(&note_key()));
    let [held] = replica.refused() else {
        panic!("one held change, got {:?}", replica.refused());
    };
    assert_eq!((held.seq, held.held, &held.reason), (seq, true, &hold));
}

#[test]
fn an_applied_change_stays_visible_until_a_pull_confirms_it() {
    let mut replica = replica_with_a_task();
    let seq = replica.mutate(T0, add_note("x")).expect("queued");
    let request = replica.push_request(T0, 10).expect("one change");
    replica.on_push_response(&answer(vec![(seq, Outcome::Applied)], seq));

    assert_eq!(replica.pending().len(), 1, "applied, not yet pulled");
    assert!(replica.view().contains_key(&note_key()));
    assert_eq!(replica.push_request(T0, 10), None, "not sent again");

    // A pull whose data does not hold the change yet keeps it queued.
    replica.on_pull_response(&page(Vec::new(), seq - 1));
    assert_eq!(replica.pending().len(), 1);
    assert!(replica.view().contains_key(&note_key()));

    // The pull that brings its effect (as the server stamped it) confirms it.
    let on_server = add_note("x")
        .apply(None, &Stamp::new(T0 - 5, 0, NodeId::new("n7f3a")))
        .expect("applies")
        .record;
    replica.on_pull_response(&page(vec![on_server.clone()], seq));
    assert!(replica.pending().is_empty());
    assert_eq!(replica.view(), replica.confirmed());
    assert_eq!(replica.confirmed().get(&note_key()), Some(&on_server));
    assert_eq!(request.mutations.len(), 1);
}

#[test]
fn a_malformed_change_is_refused_without_being_queued() {
    let mut replica = replica_with_a_task();
    let bad_hash = Mutation::AddEvidence(AddEvidence {
        id: NOTE.into(),
        task_id: TASK.into(),
        kind: EvidenceKind::Receipt,
        sha256: "not a hash".into(),
        size: 10,
        media_type: "image/jpeg".into(),
        captured_at_us: T0,
        note: String::new(),
    });
    let err = replica.mutate(T0, bad_hash).expect_err("refused");
    assert_eq!(err.code, "invalid_arguments");

    let bad_id = Mutation::AddNote(AddNote {
        id: "note-1".into(),
        task_id: TASK.into(),
        body: "x".into(),
    });
    assert_eq!(
        replica.mutate(T0, bad_id).map_err(|e| e.code),
        Err("invalid_arguments".to_owned())
    );

    let edit_of_nothing = Mutation::EditNote(EditNote {
        id: NOTE.into(),
        body: "x".into(),
    });
    assert_eq!(
        replica.mutate(T0, edit_of_nothing).map_err(|e| e.code),
        Err("not_found".to_owned())
    );

    assert!(replica.pending().is_empty());
    assert_eq!(replica.push_request(T0, 10), None);
    assert_eq!(
        replica.mutate(T0, add_note("x")),
        Ok(1),
        "no number was used up"
    );
}

#[test]
fn a_rejection_whose_answer_was_lost_still_reaches_the_user() {
    let mut replica = replica_with_a_task();
    let seq = replica.mutate(T0, add_note("x")).expect("queued");
    let refusal = Rejection::new("task_not_yours", "this task was given to someone else");
    // The push reached the server, which refused the change; its answer was
    // lost. The next pull reports the change as processed.
    replica.on_pull_response(&page(Vec::new(), seq));

    assert_eq!(replica.pending().len(), 1, "its fate is still unknown");
    let again = replica.push_request(T0, 10).expect("sent again");
    assert_eq!(again.mutations[0].seq, seq);
    // The server answers a re-sent refused change with its refusal again.
    replica.on_push_response(&answer(
        vec![(seq, Outcome::Rejected(refusal.clone()))],
        seq,
    ));
    assert!(replica.pending().is_empty());
    assert_eq!(replica.refused().len(), 1);
    assert_eq!(replica.refused()[0].reason, refusal);
    assert!(!replica.view().contains_key(&note_key()));
}

#[test]
fn an_answer_covers_only_the_changes_it_names() {
    let mut replica = replica_with_a_task();
    for body in ["a", "b", "c"] {
        let m = Mutation::AddNote(AddNote {
            id: format!("0192f0c5-1a2b-7c3d-8e4f-5a6b7c8d9e{}", body.repeat(2)),
            task_id: TASK.into(),
            body: body.into(),
        });
        replica.mutate(T0, m).expect("queued");
    }
    // The server had processed 1..3 from a push whose answer was lost; this
    // answer is to a push of 1 alone.
    replica.on_push_response(&answer(vec![(1, Outcome::Duplicate)], 3));
    let next = replica
        .push_request(T0, 10)
        .expect("2 and 3 are unanswered");
    assert_eq!(
        next.mutations.iter().map(|m| m.seq).collect::<Vec<_>>(),
        [2, 3]
    );
}

#[test]
fn a_gap_makes_the_replica_send_again_from_where_the_server_stands() {
    let mut replica = replica_with_a_task();
    replica.mutate(T0, accept()).expect("queued");
    replica.mutate(T0 + 1, add_note("x")).expect("queued");
    replica.on_push_response(&answer(
        vec![(1, Outcome::Applied), (2, Outcome::Applied)],
        2,
    ));
    assert_eq!(replica.push_request(T0, 10), None);
    // The server lost 2 (restored from a backup) and says so.
    replica.on_push_response(&PushResponse {
        stopped: Some(Stop::Gap { resume_from: 2 }),
        ..answer(Vec::new(), 1)
    });
    let again = replica.push_request(T0, 10).expect("2 again");
    assert_eq!(
        again.mutations.iter().map(|m| m.seq).collect::<Vec<_>>(),
        [2]
    );
}

#[test]
fn a_reset_drops_the_pulled_records_but_keeps_the_queued_changes() {
    let mut replica = replica_with_a_task();
    replica.mutate(T0, add_note("x")).expect("queued");
    replica.on_pull_response(&PullResponse {
        reset: true,
        ..page(Vec::new(), 0)
    });
    assert!(replica.confirmed().is_empty());
    assert_eq!(replica.pending().len(), 1);
    // The note still shows (it does not need the task to apply).
    assert!(replica.view().contains_key(&note_key()));
    assert!(replica.push_request(T0, 10).is_some());
}

#[test]
fn a_saved_replica_loads_back_the_same() {
    let mut replica = replica_with_a_task();
    replica.mutate(T0, accept()).expect("queued");
    replica.mutate(T0, add_note("x")).expect("queued");
    replica.on_push_response(&answer(
        vec![(
            1,
            Outcome::Rejected(Rejection::new("task_not_yours", "not yours")),
        )],
        1,
    ));
    let saved = serde_json::to_string(&replica).expect("saves");
    let loaded: Replica = serde_json::from_str(&saved).expect("loads");
    assert_eq!(loaded, replica);
}

/// A relay station's scanner: a scan made offline shows at once as
/// waiting; the server's copy (matched, with the instruction) replaces it
/// on the next pull; the parcel arrives beside it, and both go when the
/// parcel is forwarded.
#[test]
fn a_station_scanner_holds_its_scans_and_parcels_like_any_record() {
    use sync_protocol::{
        mutations::RecordScan,
        records::{Condition, Instruction, ParcelStage, ScanStatus, StationParcel},
    };
    const SCAN: &str = "0192f0c6-1a2b-7c3d-8e4f-5a6b7c8d9e05";
    let mut scanner = Replica::new(&device());
    let scan = Mutation::RecordScan(RecordScan {
        id: SCAN.to_uppercase(),
        station_id: "station-1".into(),
        code: " SF-1234 5678 ".into(),
        condition: Condition::Intact,
        note: String::new(),
        photos: Vec::new(),
        scanned_at_us: T0,
    });
    assert_eq!(scanner.mutate(T0, scan.clone()), Ok(1));
    let key = (Kind::StationScan, SCAN.to_owned());
    let Some(Record::StationScan(shown)) = scanner.view().get(&key).cloned() else {
        panic!("the scan shows at once: {:?}", scanner.view())
    };
    assert_eq!(
        (shown.status, shown.instruction),
        (ScanStatus::Waiting, Instruction::Hold)
    );
    // The same scan again (the operator pressed twice) is the same record.
    assert_eq!(scanner.mutate(T0 + 1, scan), Ok(2));
    assert_eq!(scanner.view().len(), 1);

    scanner.on_push_response(&answer(
        vec![(1, Outcome::Applied), (2, Outcome::Applied)],
        2,
    ));
    let mut matched = shown;
    matched.code = "SF12345678".into();
    matched.status = ScanStatus::Matched;
    matched.parcel = Some("MB-7K4Q-2XHC".into());
    matched.instruction = Instruction::RelabelAndForward;
    let parcel = StationParcel {
        recipient_code: "MB-7K4Q-2XHC".into(),
        station_id: "station-1".into(),
        tracking_number: Some("SF12345678".into()),
        stage: ParcelStage::AtStation,
        condition: Some(Condition::Intact),
        sample_code: Some("S-4F7Q-9KXM-3".into()),
        instruction: Instruction::RelabelAndForward,
        destination: None,
        witness_required: false,
        sealed_at_us: None,
        received_at_us: Some(T0),
        outgoing_carrier: None,
        outgoing_tracking_number: None,
        forwarded_at_us: None,
    };
    scanner.on_pull_response(&page(
        vec![
            Record::StationScan(matched.clone()),
            Record::StationParcel(parcel),
        ],
        2,
    ));
    assert!(scanner.pending().is_empty(), "confirmed by the pull");
    assert_eq!(
        scanner.view().get(&key),
        Some(&Record::StationScan(matched))
    );
    let parcel_key = (Kind::StationParcel, "MB-7K4Q-2XHC".to_owned());
    assert!(scanner.view().contains_key(&parcel_key));

    let mut forwarded = page(Vec::new(), 2);
    forwarded.changes = vec![
        Change::Remove {
            kind: Kind::StationParcel,
            id: "MB-7K4Q-2XHC".into(),
        },
        Change::Remove {
            kind: Kind::StationScan,
            id: SCAN.into(),
        },
    ];
    scanner.on_pull_response(&forwarded);
    assert!(scanner.view().is_empty(), "{:?}", scanner.view());
    let saved = serde_json::to_string(&scanner).expect("saves");
    assert_eq!(
        serde_json::from_str::<Replica>(&saved).expect("loads"),
        scanner
    );
}
