//! Golden files freeze the wire encoding (see `tests/golden/README.md`).
//!
//! Each `golden/*.json` is compared with the encoding of a fixed value (as
//! JSON values, so formatting does not matter) and decoded back to that
//! value. The `v1_minimal_*` files are what an old peer sends: every field
//! marked `#[serde(default)]` left out. They were written by hand and must
//! keep decoding, with the defaults.

use std::{fmt::Debug, fs, io::ErrorKind, path::PathBuf};

use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use sync_protocol::{
    Lww, Money, Mutation, NodeId, Record, Rejection, Stamp, Status, StatusReg, Withdrawal,
    mutations::{
        AddEvidence, AddNote, EditNote, EditPurchase, RecordPurchase, RecordScan,
        RequestReimbursement, SetEvidenceNote, SetShipment, SetTaskStatus, Withdraw,
    },
    records::{
        Condition, Destination, Evidence, EvidenceKind, EvidenceStatus, Instruction, Kind, Note,
        ParcelStage, Purchase, Reimbursement, ReimbursementStatus, ScanStatus, Shipment,
        StationParcel, StationScan, StatusChange, Task,
    },
    wire::{
        Change, DeviceRegistered, MutationEnvelope, MutationResult, Outcome, PullResponse,
        PushRequest, PushResponse, Stop,
    },
};

const TASK: &str = "0192f0c4-8f5e-7a3b-9c1d-2e4f6a8b0c1d";
const PURCHASE: &str = "0192f0c5-1a2b-7c3d-8e4f-5a6b7c8d9e01";
const EVIDENCE: &str = "0192f0c5-1a2b-7c3d-8e4f-5a6b7c8d9e02";
const NOTE: &str = "0192f0c5-1a2b-7c3d-8e4f-5a6b7c8d9e03";
const REIMBURSEMENT: &str = "0192f0c5-1a2b-7c3d-8e4f-5a6b7c8d9e04";
const DEVICE: &str = "0192f0c3-0000-7000-8000-00000000d001";
const SCANNER: &str = "0192f0c3-0000-7000-8000-00000000d002";
const STATION: &str = "0192f0c2-0000-7000-8000-0000000057a1";
const SCAN: &str = "0192f0c6-1a2b-7c3d-8e4f-5a6b7c8d9e05";
const WAITING_SCAN: &str = "0192f0c6-1a2b-7c3d-8e4f-5a6b7c8d9e06";
const SHA256: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const T0: i64 = 1_800_000_000_000_000;

fn golden_path(name: &str) -> PathBuf {
    // The folder of the checkout being tested, read when the test runs
    // (cargo and nextest set it): with a build cache shared between
    // checkouts, a test binary built in another checkout may be reused.
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
        .join("tests")
        .join("golden")
        .join(format!("{name}.json"))
}

/// Reads a golden file. A missing one is written from `fresh` only when
/// `UPDATE_GOLDEN=1` (and never overwritten): otherwise the test fails.
fn read_golden(name: &str, fresh: Option<&Value>) -> Value {
    let path = golden_path(name);
    match fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display())),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            let update = std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1");
            match fresh {
                Some(value) if update => {
                    let text = serde_json::to_string_pretty(value).expect("a value encodes") + "\n";
                    fs::write(&path, text)
                        .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
                    value.clone()
                }
                Some(_) => panic!(
                    "{} is missing: run with UPDATE_GOLDEN=1 to write it (new files only)",
                    path.display()
                ),
                None => panic!(
                    "{} is missing; v1_minimal files are written by hand",
                    path.display()
                ),
            }
        }
        Err(e) => panic!("reading {}: {e}", path.display()),
    }
}

/// The fixed value encodes exactly as the golden file, and the file decodes
/// back to the fixed value.
fn frozen<T: Serialize + DeserializeOwned + PartialEq + Debug>(name: &str, value: &T) {
    let encoded = serde_json::to_value(value).expect("the value encodes");
    let golden = read_golden(name, Some(&encoded));
    assert_eq!(
        encoded, golden,
        "the encoding of {name} changed: old peers would no longer understand it"
    );
    let decoded: T = serde_json::from_value(golden).expect("the golden file decodes");
    assert_eq!(&decoded, value);
    // Through text too, as on the wire: a JSON value hides a key written
    // twice (the second silently replaces the first), text does not.
    let text = serde_json::to_string(value).expect("the value encodes");
    let decoded: T = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{name} does not decode from its own text: {e}"));
    assert_eq!(&decoded, value);
}

/// A hand-written old message decodes to `expected`.
fn decodes_as<T: DeserializeOwned + PartialEq + Debug>(name: &str, expected: &T) {
    let golden = read_golden(name, None);
    let decoded: T =
        serde_json::from_value(golden).unwrap_or_else(|e| panic!("{name} no longer decodes: {e}"));
    assert_eq!(&decoded, expected);
}

fn stamp(wall_offset_us: i64, counter: u32, node: &str) -> Stamp {
    Stamp::new(T0 + wall_offset_us, counter, NodeId::new(node))
}

fn phone(wall_offset_us: i64) -> Stamp {
    stamp(wall_offset_us, 0, "n7f3a")
}

fn cny(minor: i64) -> Money {
    Money::new(minor, "CNY")
}

/// One mutation of every name a volunteer's app pushes, in the order of
/// `Mutation`'s variants (a station's scanner pushes the others, frozen in
/// `push_request_station`).
fn one_of_every_mutation() -> Vec<Mutation> {
    vec![
        Mutation::SetTaskStatus(SetTaskStatus {
            task_id: TASK.into(),
            generation: 1,
            status: Status::Purchased,
        }),
        Mutation::RecordPurchase(RecordPurchase {
            id: PURCHASE.into(),
            task_id: TASK.into(),
            order_number: "SO-2291-7731".into(),
            amount: cny(12_900),
            purchased_at_us: T0 - 3_600_000_000,
            shop_name: "Little Sheep Health Store".into(),
        }),
        Mutation::EditPurchase(EditPurchase {
            id: PURCHASE.into(),
            order_number: None,
            amount: Some(cny(13_900)),
            seen_amount: Some(phone(1_000)),
            purchased_at_us: None,
            shop_name: Some("Little Sheep Health Shop".into()),
        }),
        Mutation::AddEvidence(AddEvidence {
            id: EVIDENCE.into(),
            task_id: TASK.into(),
            kind: EvidenceKind::OrderScreenshot,
            sha256: SHA256.into(),
            size: 48_213,
            media_type: "image/jpeg".into(),
            captured_at_us: T0 - 3_500_000_000,
            note: "the order page".into(),
        }),
        Mutation::SetEvidenceNote(SetEvidenceNote {
            id: EVIDENCE.into(),
            note: "the order page, with the price".into(),
        }),
        Mutation::SetShipment(SetShipment {
            task_id: TASK.into(),
            carrier: Some("SF Express".into()),
            tracking_number: Some("SF1234567890123".into()),
        }),
        Mutation::AddNote(AddNote {
            id: NOTE.into(),
            task_id: TASK.into(),
            body: "The seller asked for my phone number.".into(),
        }),
        Mutation::EditNote(EditNote {
            id: NOTE.into(),
            body: "The seller asked for my phone number; I gave the project's.".into(),
        }),
        Mutation::RequestReimbursement(RequestReimbursement {
            id: REIMBURSEMENT.into(),
            task_id: TASK.into(),
            amount: cny(13_900),
            note: "paid by card".into(),
        }),
        Mutation::Withdraw(Withdraw {
            kind: Kind::Evidence,
            id: EVIDENCE.into(),
            reason: "wrong photo".into(),
        }),
    ]
}

fn full_task() -> Task {
    Task {
        id: TASK.into(),
        status: StatusReg::new(2, Status::Purchased, phone(9_000)),
        history: vec![
            StatusChange {
                generation: 1,
                status: Status::Offered,
                at_us: T0 - 900_000_000_000,
            },
            StatusChange {
                generation: 1,
                status: Status::Expired,
                at_us: T0 - 800_000_000_000,
            },
            StatusChange {
                generation: 2,
                status: Status::Offered,
                at_us: T0 - 700_000_000_000,
            },
            StatusChange {
                generation: 2,
                status: Status::Purchased,
                at_us: T0 + 9_000,
            },
        ],
        title: "Buy one bottle of \"Liver Guard\" capsules".into(),
        instructions: "Pay by card; keep the chat log.".into(),
        listing_url: "https://shop.example/item/4471".into(),
        shop_name: "Little Sheep Health Store".into(),
        platform: "example-market".into(),
        category: "supplements".into(),
        price_cap: Some(cny(20_000)),
        deadline_us: Some(T0 + 604_800_000_000),
        delivery: None,
    }
}

fn full_purchase() -> Purchase {
    Purchase {
        id: PURCHASE.into(),
        task_id: TASK.into(),
        order_number: Lww::new("SO-2291-7731".into(), phone(1_000)),
        amount: Lww::new(cny(13_900), stamp(2_000, 1, "n0c11")),
        purchased_at_us: Lww::new(T0 - 3_600_000_000, phone(1_000)),
        shop_name: Lww::new("Little Sheep Health Store".into(), phone(1_000)),
        withdrawal: Withdrawal::withdrawn(stamp(5_000, 0, "server"), "bought twice"),
    }
}

fn full_evidence() -> Evidence {
    Evidence {
        id: EVIDENCE.into(),
        task_id: TASK.into(),
        kind: EvidenceKind::ParcelPhoto,
        sha256: SHA256.into(),
        size: 48_213,
        media_type: "image/jpeg".into(),
        captured_at_us: T0 - 3_500_000_000,
        note: Lww::new("the parcel, unopened".into(), phone(3_000)),
        status: EvidenceStatus::Verified,
        refusal: None,
        withdrawal: Withdrawal::default(),
    }
}

#[test]
fn a_device_registration_keeps_its_encoding() {
    frozen(
        "device_registered",
        &DeviceRegistered {
            v: 1,
            device_id: DEVICE.into(),
            node: NodeId::new("n7f3a"),
            last_processed: 0,
            server_time_us: T0,
        },
    );
}

#[test]
fn a_push_with_every_mutation_name_keeps_its_encoding() {
    let mutations = one_of_every_mutation();
    let request = PushRequest {
        v: 1,
        device_id: DEVICE.into(),
        sent_at_us: T0 + 60_000_000,
        mutations: mutations
            .iter()
            .zip(1_u64..)
            .map(|(m, seq)| {
                let (name, args) = m.encode();
                MutationEnvelope {
                    seq,
                    stamp: stamp(1_000 * seq as i64, seq as u32 % 2, "n7f3a"),
                    name,
                    args,
                }
            })
            .collect(),
    };
    frozen("push_request", &request);

    let mut names: Vec<&str> = request.mutations.iter().map(|e| e.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(
        names.len(),
        10,
        "one envelope of every volunteer mutation name"
    );
    for (envelope, mutation) in request.mutations.iter().zip(&mutations) {
        assert_eq!(
            Mutation::decode(&envelope.name, &envelope.args).as_ref(),
            Ok(mutation),
            "{} decodes back",
            envelope.name
        );
    }
}

#[test]
fn a_push_response_with_every_outcome_and_a_gap_keeps_its_encoding() {
    frozen(
        "push_response",
        &PushResponse {
            v: 1,
            results: vec![
                MutationResult {
                    seq: 4,
                    outcome: Outcome::Duplicate,
                },
                MutationResult {
                    seq: 5,
                    outcome: Outcome::Applied,
                },
                MutationResult {
                    seq: 6,
                    outcome: Outcome::Held(Rejection::new(
                        "task_reassigned",
                        "the task was given to someone else; a coordinator will look at this purchase",
                    )),
                },
                MutationResult {
                    seq: 7,
                    outcome: Outcome::Rejected(Rejection::new(
                        "server_owned_field",
                        "`status` is written by the server, not by a device",
                    )),
                },
            ],
            last_processed: 7,
            stopped: Some(Stop::Gap { resume_from: 8 }),
            server_time_us: T0 + 61_000_000,
        },
    );
}

#[test]
fn a_push_response_stopped_by_a_transient_failure_keeps_its_encoding() {
    frozen(
        "push_response_transient",
        &PushResponse {
            v: 1,
            results: vec![MutationResult {
                seq: 1,
                outcome: Outcome::Applied,
            }],
            last_processed: 1,
            stopped: Some(Stop::Transient {
                resume_from: 2,
                message: "the database is not answering; try again later".into(),
            }),
            server_time_us: T0,
        },
    );
}

#[test]
fn a_pull_with_every_record_kind_and_a_remove_keeps_its_encoding() {
    let response = PullResponse {
        v: 1,
        reset: true,
        changes: vec![
            Change::Put {
                record: Record::Task(full_task()),
            },
            Change::Put {
                record: Record::Purchase(full_purchase()),
            },
            Change::Put {
                record: Record::Evidence(full_evidence()),
            },
            Change::Put {
                record: Record::Shipment(Shipment {
                    task_id: TASK.into(),
                    carrier: Some(Lww::new("SF Express".into(), phone(4_000))),
                    tracking_number: None,
                }),
            },
            Change::Put {
                record: Record::Note(Note {
                    id: NOTE.into(),
                    task_id: TASK.into(),
                    body: Lww::new("The seller asked for my phone number.".into(), phone(500)),
                    withdrawal: Withdrawal::default(),
                }),
            },
            Change::Put {
                record: Record::Reimbursement(Reimbursement {
                    id: REIMBURSEMENT.into(),
                    task_id: TASK.into(),
                    amount: cny(13_900),
                    note: "paid by card".into(),
                    status: ReimbursementStatus::Rejected,
                    decision_reason: Some("the receipt is missing".into()),
                    withdrawal: Withdrawal::default(),
                }),
            },
            Change::Remove {
                kind: Kind::Note,
                id: "0192f0c5-1a2b-7c3d-8e4f-5a6b7c8d9e99".into(),
            },
        ],
        cursor: "AAEAAAAAAAAAKg".into(),
        more: true,
        last_processed: 7,
        server_time_us: T0 + 62_000_000,
    };
    frozen("pull_response", &response);
    let kinds: Vec<Kind> = response
        .changes
        .iter()
        .filter_map(|c| match c {
            Change::Put { record } => record.kind(),
            Change::Remove { .. } => None,
        })
        .collect();
    assert_eq!(
        kinds,
        Kind::VOLUNTEER,
        "a put of every volunteer record kind"
    );
}

#[test]
fn volunteer_and_station_kinds_are_every_kind_once() {
    let both: Vec<Kind> = Kind::VOLUNTEER.into_iter().chain(Kind::STATION).collect();
    assert_eq!(both, Kind::ALL);
    assert!(Kind::STATION.iter().all(|k| k.is_station()));
    assert!(!Kind::VOLUNTEER.iter().any(|k| k.is_station()));
}

fn scan_mutation() -> RecordScan {
    RecordScan {
        id: SCAN.into(),
        station_id: STATION.into(),
        code: "sf 1234 5678 9012".into(),
        condition: Condition::Damaged,
        note: "corner crushed".into(),
        photos: vec![EVIDENCE.into()],
        scanned_at_us: T0 - 7_200_000_000,
    }
}

#[test]
fn a_stations_push_of_a_scan_keeps_its_encoding() {
    let mutation = Mutation::RecordScan(scan_mutation());
    let (name, args) = mutation.encode();
    let request = PushRequest {
        v: 1,
        device_id: SCANNER.into(),
        sent_at_us: T0 + 60_000_000,
        mutations: vec![MutationEnvelope {
            seq: 1,
            stamp: stamp(1_000, 0, "s41c0"),
            name,
            args,
        }],
    };
    frozen("push_request_station", &request);
    let envelope = &request.mutations[0];
    assert_eq!(envelope.name, "scan.record");
    assert_eq!(
        Mutation::decode(&envelope.name, &envelope.args),
        Ok(mutation)
    );
    let volunteer = read_golden("push_request", None);
    let mut names: std::collections::BTreeSet<&str> = volunteer["mutations"]
        .as_array()
        .expect("mutations")
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    names.insert(&envelope.name);
    assert_eq!(names.len(), 11, "the two pushes name every mutation");
}

#[test]
fn a_stations_pull_with_a_parcel_a_scan_and_a_remove_keeps_its_encoding() {
    let parcel = StationParcel {
        recipient_code: "MB-7K4Q-2XHC".into(),
        station_id: STATION.into(),
        tracking_number: Some("SF123456789012".into()),
        stage: ParcelStage::AtStation,
        condition: Some(Condition::Damaged),
        sample_code: Some("S-4F7Q-9KXM-3".into()),
        instruction: Instruction::WitnessFirst,
        destination: Some(Destination {
            name: "Provincial Product Quality Lab".into(),
            address: vec!["12 Testing Road".into(), "Shanghai 200000".into()],
        }),
        witness_required: true,
        sealed_at_us: None,
        received_at_us: Some(T0 - 7_200_000_000),
        outgoing_carrier: None,
        outgoing_tracking_number: None,
        forwarded_at_us: None,
    };
    let matched = StationScan {
        id: SCAN.into(),
        station_id: STATION.into(),
        code: "SF123456789012".into(),
        condition: Condition::Damaged,
        note: "corner crushed".into(),
        photos: vec![EVIDENCE.into()],
        scanned_at_us: T0 - 7_200_000_000,
        status: ScanStatus::Matched,
        parcel: Some("MB-7K4Q-2XHC".into()),
        instruction: Instruction::WitnessFirst,
        received_at_us: Some(T0 + 61_000_000),
    };
    let waiting = StationScan {
        id: WAITING_SCAN.into(),
        station_id: STATION.into(),
        code: "YT9988776655".into(),
        condition: Condition::Intact,
        note: String::new(),
        photos: Vec::new(),
        scanned_at_us: T0 - 3_600_000_000,
        status: ScanStatus::Waiting,
        parcel: None,
        instruction: Instruction::Hold,
        received_at_us: Some(T0 + 61_000_000),
    };
    let response = PullResponse {
        v: 1,
        reset: false,
        changes: vec![
            Change::Put {
                record: Record::StationParcel(parcel),
            },
            Change::Put {
                record: Record::StationScan(matched),
            },
            Change::Put {
                record: Record::StationScan(waiting),
            },
            Change::Remove {
                kind: Kind::StationParcel,
                id: "MB-2QWE-RTY9".into(),
            },
            Change::Remove {
                kind: Kind::StationScan,
                id: "0192f0c6-1a2b-7c3d-8e4f-5a6b7c8d9e07".into(),
            },
        ],
        cursor: "AAEAAAAAAAAAKw".into(),
        more: false,
        last_processed: 1,
        server_time_us: T0 + 62_000_000,
    };
    frozen("pull_response_station", &response);
}

#[test]
fn station_values_a_newer_server_adds_decode_as_unknown() {
    let parcel = serde_json::json!({
        "kind": "station_parcel", "recipient_code": "MB-7K4Q-2XHC", "station_id": STATION,
        "stage": "returned_to_sender", "instruction": "return_to_sender",
        "condition": "soaked",
    });
    let Record::StationParcel(p) = serde_json::from_value(parcel).expect("decodes") else {
        panic!("a parcel")
    };
    assert_eq!(
        (p.stage, p.instruction, p.condition),
        (
            ParcelStage::Unknown,
            Instruction::Unknown,
            Some(Condition::Unknown)
        )
    );
}

#[test]
fn an_old_device_registration_without_a_version_still_decodes() {
    decodes_as(
        "v1_minimal_device_registered",
        &DeviceRegistered {
            v: 1,
            device_id: DEVICE.into(),
            node: NodeId::new("n7f3a"),
            last_processed: 12,
            server_time_us: T0,
        },
    );
}

#[test]
fn an_old_push_without_optional_arguments_still_decodes_with_the_defaults() {
    let expected = [
        Mutation::EditPurchase(EditPurchase {
            id: PURCHASE.into(),
            ..EditPurchase::default()
        }),
        Mutation::AddEvidence(AddEvidence {
            id: EVIDENCE.into(),
            task_id: TASK.into(),
            kind: EvidenceKind::Receipt,
            sha256: SHA256.into(),
            size: 1,
            media_type: "application/pdf".into(),
            captured_at_us: T0,
            note: String::new(),
        }),
        Mutation::SetShipment(SetShipment {
            task_id: TASK.into(),
            carrier: None,
            tracking_number: None,
        }),
        Mutation::RequestReimbursement(RequestReimbursement {
            id: REIMBURSEMENT.into(),
            task_id: TASK.into(),
            amount: cny(100),
            note: String::new(),
        }),
        Mutation::Withdraw(Withdraw {
            kind: Kind::Note,
            id: NOTE.into(),
            reason: String::new(),
        }),
    ];
    let golden = read_golden("v1_minimal_push_request", None);
    let request: PushRequest = serde_json::from_value(golden).expect("an old push decodes");
    assert_eq!(request.v, 1);
    assert_eq!(request.mutations.len(), expected.len());
    for (envelope, mutation) in request.mutations.iter().zip(&expected) {
        assert_eq!(
            Mutation::decode(&envelope.name, &envelope.args).as_ref(),
            Ok(mutation),
            "{} without its optional arguments",
            envelope.name
        );
    }
}

#[test]
fn an_old_push_response_without_a_version_or_a_stop_still_decodes() {
    decodes_as(
        "v1_minimal_push_response",
        &PushResponse {
            v: 1,
            results: vec![MutationResult {
                seq: 1,
                outcome: Outcome::Applied,
            }],
            last_processed: 1,
            stopped: None,
            server_time_us: T0,
        },
    );
}

#[test]
fn an_old_pull_without_optional_fields_and_with_an_unknown_kind_still_decodes() {
    let server = || stamp(0, 0, "server");
    let expected = PullResponse {
        v: 1,
        reset: false,
        changes: vec![
            Change::Put {
                record: Record::Task(Task {
                    id: TASK.into(),
                    status: StatusReg::new(1, Status::Offered, server()),
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
                }),
            },
            Change::Put {
                record: Record::Purchase(Purchase {
                    id: PURCHASE.into(),
                    task_id: TASK.into(),
                    order_number: Lww::new("SO-1".into(), phone(0)),
                    amount: Lww::new(cny(12_900), phone(0)),
                    purchased_at_us: Lww::new(T0, phone(0)),
                    shop_name: Lww::new("Shop".into(), phone(0)),
                    withdrawal: Withdrawal::default(),
                }),
            },
            Change::Put {
                record: Record::Evidence(Evidence {
                    id: EVIDENCE.into(),
                    task_id: TASK.into(),
                    kind: EvidenceKind::ChatLog,
                    sha256: SHA256.into(),
                    size: 10,
                    media_type: "text/plain".into(),
                    captured_at_us: T0,
                    note: Lww::new(String::new(), phone(0)),
                    status: EvidenceStatus::Pending,
                    refusal: None,
                    withdrawal: Withdrawal::default(),
                }),
            },
            Change::Put {
                record: Record::Shipment(Shipment {
                    task_id: TASK.into(),
                    carrier: None,
                    tracking_number: None,
                }),
            },
            Change::Put {
                record: Record::Note(Note {
                    id: NOTE.into(),
                    task_id: TASK.into(),
                    body: Lww::new("hello".into(), phone(0)),
                    // A withdrawal without a reason: the reason defaults to "".
                    withdrawal: Withdrawal::withdrawn(phone(5), ""),
                }),
            },
            Change::Put {
                record: Record::Reimbursement(Reimbursement {
                    id: REIMBURSEMENT.into(),
                    task_id: TASK.into(),
                    amount: cny(100),
                    note: String::new(),
                    status: ReimbursementStatus::Requested,
                    decision_reason: None,
                    withdrawal: Withdrawal::default(),
                }),
            },
            Change::Put {
                record: Record::Unknown,
            },
            Change::Remove {
                kind: Kind::Task,
                id: TASK.into(),
            },
        ],
        cursor: "c1".into(),
        more: false,
        last_processed: 0,
        server_time_us: T0,
    };
    decodes_as("v1_minimal_pull_response", &expected);
}
