//! The named mutations a device pushes, their argument types, and the pure
//! function that applies one to the record it targets.
//!
//! The server and the client replica both call [`Mutation::apply`]: the
//! server after its own checks (who may do what, which task is whose), the
//! replica to show the user the predicted result while the mutation waits
//! to be pushed. A mutation is named on the wire (`"name": "purchase.record"`)
//! so an older server can refuse a newer app's mutation by name
//! (`unknown_mutation`) without refusing the rest of the batch.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    hlc::Stamp,
    merge::{Lww, Merge, StatusConflict, StatusReg, Withdrawal},
    records::{
        Condition, Evidence, EvidenceKind, EvidenceStatus, Instruction, Kind, Money, Note,
        Purchase, Record, Reimbursement, ReimbursementStatus, ScanStatus, Shipment, StationScan,
        Status, StatusChange, Task,
    },
};

/// Longest order number, shop name, carrier, tracking number, media type.
pub const MAX_SHORT_TEXT: usize = 200;
/// Longest note, reason or free text.
pub const MAX_LONG_TEXT: usize = 10_000;
/// Largest amount in minor units (ten billion in major units).
pub const MAX_AMOUNT_MINOR: i64 = 1_000_000_000_000;
/// Longest note on a scan.
pub const MAX_SCAN_NOTE: usize = 2_000;
/// Most photos on one scan.
pub const MAX_SCAN_PHOTOS: usize = 20;

/// A mutation the domain refused: a stable `code` an app can switch on and
/// a message it can show. A rejected mutation still counts as processed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    pub code: String,
    pub message: String,
}

impl Rejection {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

/// Sets a task's status (`accepted`, `declined`, `purchased`, `shipped`
/// for a volunteer) in the generation the device knows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetTaskStatus {
    pub task_id: String,
    pub generation: u32,
    pub status: Status,
}

/// Records a purchase (insert-only; the id is a UUIDv7 made on the device).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordPurchase {
    pub id: String,
    pub task_id: String,
    pub order_number: String,
    pub amount: Money,
    pub purchased_at_us: i64,
    pub shop_name: String,
}

/// Corrects fields of a purchase (last writer wins per field).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditPurchase {
    pub id: String,
    #[serde(default)]
    pub order_number: Option<String>,
    #[serde(default)]
    pub amount: Option<Money>,
    /// The stamp of the amount the device showed when the user changed it;
    /// an overwrite of a value the author had not seen is flagged.
    #[serde(default)]
    pub seen_amount: Option<Stamp>,
    #[serde(default)]
    pub purchased_at_us: Option<i64>,
    #[serde(default)]
    pub shop_name: Option<String>,
}

/// Declares an evidence file (insert-only, keyed by id and by SHA-256
/// within the task). The file follows through the upload endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddEvidence {
    pub id: String,
    pub task_id: String,
    pub kind: EvidenceKind,
    pub sha256: String,
    pub size: u64,
    pub media_type: String,
    pub captured_at_us: i64,
    #[serde(default)]
    pub note: String,
}

/// Changes the note on an evidence record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetEvidenceNote {
    pub id: String,
    pub note: String,
}

/// Sets how the parcel travels; absent fields are left alone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetShipment {
    pub task_id: String,
    #[serde(default)]
    pub carrier: Option<String>,
    #[serde(default)]
    pub tracking_number: Option<String>,
}

/// Adds a note to a task (insert-only; the body can be edited).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddNote {
    pub id: String,
    pub task_id: String,
    pub body: String,
}

/// Changes a note's body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditNote {
    pub id: String,
    pub body: String,
}

/// Asks to be paid back (insert-only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestReimbursement {
    pub id: String,
    pub task_id: String,
    pub amount: Money,
    #[serde(default)]
    pub note: String,
}

/// Withdraws a purchase, evidence, note or reimbursement request. The
/// record stays, marked; withdrawal cannot be undone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withdraw {
    pub kind: Kind,
    pub id: String,
    #[serde(default)]
    pub reason: String,
}

/// A relay station's scan of an arriving parcel (insert-only; the id is a
/// UUID made on the scanning device, so the same scan twice is one scan).
/// Pushed by the station's scanner app; the server matches it to a parcel
/// by tracking number or recipient code, now or when the number arrives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordScan {
    pub id: String,
    pub station_id: String,
    /// The carrier's barcode or the recipient code, as scanned or typed.
    pub code: String,
    pub condition: Condition,
    #[serde(default)]
    pub note: String,
    /// Ids (UUIDs the device made) of photos of the parcel, each uploaded
    /// through tus with `photo_id` in its metadata, before or after the scan.
    #[serde(default)]
    pub photos: Vec<String>,
    /// The device's clock when it scanned.
    pub scanned_at_us: i64,
}

/// Every mutation a device may push, by wire name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "name", content = "args")]
pub enum Mutation {
    #[serde(rename = "task.set_status")]
    SetTaskStatus(SetTaskStatus),
    #[serde(rename = "purchase.record")]
    RecordPurchase(RecordPurchase),
    #[serde(rename = "purchase.edit")]
    EditPurchase(EditPurchase),
    #[serde(rename = "evidence.add")]
    AddEvidence(AddEvidence),
    #[serde(rename = "evidence.set_note")]
    SetEvidenceNote(SetEvidenceNote),
    #[serde(rename = "shipment.set")]
    SetShipment(SetShipment),
    #[serde(rename = "note.add")]
    AddNote(AddNote),
    #[serde(rename = "note.edit")]
    EditNote(EditNote),
    #[serde(rename = "reimbursement.request")]
    RequestReimbursement(RequestReimbursement),
    #[serde(rename = "record.withdraw")]
    Withdraw(Withdraw),
    #[serde(rename = "scan.record")]
    RecordScan(RecordScan),
}

/// Something the application of a mutation found that a person may need to
/// look at, or that the server must act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// A money field was overwritten by a write whose author had not seen
    /// the value it replaced (`seen` is what the author had seen).
    MoneyOverwritten {
        previous: Lww<Money>,
        seen: Option<Stamp>,
    },
    /// A cancellation met a purchase (in either order).
    PurchaseAfterCancellation,
}

/// The result of applying a mutation to its record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The record after the mutation.
    pub record: Record,
    /// Whether the record differs from before.
    pub changed: bool,
    pub effects: Vec<Effect>,
}

/// Argument keys a device may never send, per mutation: fields only the
/// server or a coordinator writes.
fn server_owned_keys(name: &str) -> &'static [&'static str] {
    match name {
        "evidence.add" | "evidence.set_note" => &["status", "verified_at_us", "blob_status"],
        "reimbursement.request" => &["status", "decision_reason", "paid_at_us"],
        "purchase.record" | "purchase.edit" => &["review", "approved"],
        "task.set_status" => &["risk_score", "sample_code", "assignee"],
        "shipment.set" => &["sample_code", "recipient_code"],
        "scan.record" => &[
            "status",
            "parcel",
            "instruction",
            "received_at_us",
            "sample_code",
            "task_id",
        ],
        _ => &[],
    }
}

impl Mutation {
    /// Decodes a mutation from its wire name and arguments, refusing unknown
    /// names, malformed arguments and server-owned fields.
    pub fn decode(name: &str, args: &Value) -> Result<Self, Rejection> {
        if let Some(key) = args.as_object().and_then(|object| {
            server_owned_keys(name)
                .iter()
                .find(|k| object.contains_key(**k))
        }) {
            return Err(Rejection::new(
                "server_owned_field",
                format!("`{key}` is written by the server, not by a device"),
            ));
        }
        let tagged = serde_json::json!({ "name": name, "args": args });
        let mut mutation: Mutation = serde_json::from_value(tagged).map_err(|e| {
            if KNOWN_NAMES.contains(&name) {
                Rejection::new("invalid_arguments", format!("{name}: {e}"))
            } else {
                Rejection::new(
                    "unknown_mutation",
                    format!("this server does not know the mutation `{name}`"),
                )
            }
        })?;
        mutation.normalise();
        mutation.validate()?;
        Ok(mutation)
    }

    /// The wire name and arguments.
    pub fn encode(&self) -> (String, Value) {
        let value = serde_json::to_value(self).unwrap_or(Value::Null);
        let name = value
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let args = value.get("args").cloned().unwrap_or(Value::Null);
        (name, args)
    }

    pub fn name(&self) -> &'static str {
        match self {
            Mutation::SetTaskStatus(_) => "task.set_status",
            Mutation::RecordPurchase(_) => "purchase.record",
            Mutation::EditPurchase(_) => "purchase.edit",
            Mutation::AddEvidence(_) => "evidence.add",
            Mutation::SetEvidenceNote(_) => "evidence.set_note",
            Mutation::SetShipment(_) => "shipment.set",
            Mutation::AddNote(_) => "note.add",
            Mutation::EditNote(_) => "note.edit",
            Mutation::RequestReimbursement(_) => "reimbursement.request",
            Mutation::Withdraw(_) => "record.withdraw",
            Mutation::RecordScan(_) => "scan.record",
        }
    }

    /// The record this mutation creates or changes.
    pub fn target(&self) -> (Kind, &str) {
        match self {
            Mutation::SetTaskStatus(m) => (Kind::Task, &m.task_id),
            Mutation::RecordPurchase(m) => (Kind::Purchase, &m.id),
            Mutation::EditPurchase(m) => (Kind::Purchase, &m.id),
            Mutation::AddEvidence(m) => (Kind::Evidence, &m.id),
            Mutation::SetEvidenceNote(m) => (Kind::Evidence, &m.id),
            Mutation::SetShipment(m) => (Kind::Shipment, &m.task_id),
            Mutation::AddNote(m) => (Kind::Note, &m.id),
            Mutation::EditNote(m) => (Kind::Note, &m.id),
            Mutation::RequestReimbursement(m) => (Kind::Reimbursement, &m.id),
            Mutation::Withdraw(m) => (m.kind, &m.id),
            Mutation::RecordScan(m) => (Kind::StationScan, &m.id),
        }
    }

    /// The task of a mutation that creates a record (for the others the task
    /// is the target record's).
    pub fn creates_in_task(&self) -> Option<&str> {
        match self {
            Mutation::RecordPurchase(m) => Some(&m.task_id),
            Mutation::AddEvidence(m) => Some(&m.task_id),
            Mutation::SetShipment(m) => Some(&m.task_id),
            Mutation::AddNote(m) => Some(&m.task_id),
            Mutation::RequestReimbursement(m) => Some(&m.task_id),
            _ => None,
        }
    }

    fn normalise(&mut self) {
        let lower = |s: &mut String| *s = s.to_ascii_lowercase();
        match self {
            Mutation::SetTaskStatus(m) => lower(&mut m.task_id),
            Mutation::RecordPurchase(m) => {
                lower(&mut m.id);
                lower(&mut m.task_id);
            }
            Mutation::EditPurchase(m) => lower(&mut m.id),
            Mutation::AddEvidence(m) => {
                lower(&mut m.id);
                lower(&mut m.task_id);
                lower(&mut m.sha256);
            }
            Mutation::SetEvidenceNote(m) => lower(&mut m.id),
            Mutation::SetShipment(m) => lower(&mut m.task_id),
            Mutation::AddNote(m) => {
                lower(&mut m.id);
                lower(&mut m.task_id);
            }
            Mutation::EditNote(m) => lower(&mut m.id),
            Mutation::RequestReimbursement(m) => {
                lower(&mut m.id);
                lower(&mut m.task_id);
            }
            Mutation::Withdraw(m) => lower(&mut m.id),
            Mutation::RecordScan(m) => {
                lower(&mut m.id);
                m.photos.iter_mut().for_each(lower);
                m.code = m.code.trim().to_owned();
            }
        }
    }

    /// Checks the arguments on their own (no state needed).
    pub fn validate(&self) -> Result<(), Rejection> {
        match self {
            Mutation::SetTaskStatus(m) => uuid("task_id", &m.task_id),
            Mutation::RecordPurchase(m) => {
                uuid("id", &m.id)?;
                uuid("task_id", &m.task_id)?;
                text("order_number", &m.order_number, MAX_SHORT_TEXT)?;
                money("amount", &m.amount)?;
                text("shop_name", &m.shop_name, MAX_SHORT_TEXT)
            }
            Mutation::EditPurchase(m) => {
                uuid("id", &m.id)?;
                if let Some(v) = &m.order_number {
                    text("order_number", v, MAX_SHORT_TEXT)?;
                }
                if let Some(v) = &m.amount {
                    money("amount", v)?;
                }
                if let Some(v) = &m.shop_name {
                    text("shop_name", v, MAX_SHORT_TEXT)?;
                }
                Ok(())
            }
            Mutation::AddEvidence(m) => {
                uuid("id", &m.id)?;
                uuid("task_id", &m.task_id)?;
                if m.sha256.len() != 64 || !m.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(invalid("sha256", "must be 64 hexadecimal characters"));
                }
                if m.size == 0 {
                    return Err(invalid("size", "must be at least one byte"));
                }
                text("media_type", &m.media_type, MAX_SHORT_TEXT)?;
                if !m.media_type.contains('/') {
                    return Err(invalid("media_type", "must look like type/subtype"));
                }
                text("note", &m.note, MAX_LONG_TEXT)
            }
            Mutation::SetEvidenceNote(m) => {
                uuid("id", &m.id)?;
                text("note", &m.note, MAX_LONG_TEXT)
            }
            Mutation::SetShipment(m) => {
                uuid("task_id", &m.task_id)?;
                if let Some(v) = &m.carrier {
                    text("carrier", v, MAX_SHORT_TEXT)?;
                }
                if let Some(v) = &m.tracking_number {
                    text("tracking_number", v, MAX_SHORT_TEXT)?;
                }
                Ok(())
            }
            Mutation::AddNote(m) => {
                uuid("id", &m.id)?;
                uuid("task_id", &m.task_id)?;
                text("body", &m.body, MAX_LONG_TEXT)
            }
            Mutation::EditNote(m) => {
                uuid("id", &m.id)?;
                text("body", &m.body, MAX_LONG_TEXT)
            }
            Mutation::RequestReimbursement(m) => {
                uuid("id", &m.id)?;
                uuid("task_id", &m.task_id)?;
                money("amount", &m.amount)?;
                text("note", &m.note, MAX_LONG_TEXT)
            }
            Mutation::Withdraw(m) => {
                uuid("id", &m.id)?;
                text("reason", &m.reason, MAX_LONG_TEXT)?;
                if matches!(m.kind, Kind::Task | Kind::Shipment) || m.kind.is_station() {
                    return Err(Rejection::new(
                        "not_withdrawable",
                        format!("a {} cannot be withdrawn", m.kind.as_str()),
                    ));
                }
                Ok(())
            }
            Mutation::RecordScan(m) => {
                uuid("id", &m.id)?;
                if m.station_id.is_empty() {
                    return Err(invalid("station_id", "must name the station"));
                }
                text("station_id", &m.station_id, MAX_SHORT_TEXT)?;
                if m.code.is_empty() {
                    return Err(invalid("code", "must hold the scanned or typed code"));
                }
                text("code", &m.code, MAX_SHORT_TEXT)?;
                if m.scanned_at_us <= 0 {
                    return Err(invalid("scanned_at_us", "must be a time after 1970"));
                }
                if m.condition == Condition::Unknown {
                    return Err(invalid("condition", "must be intact or damaged"));
                }
                text("note", &m.note, MAX_SCAN_NOTE)?;
                if m.photos.len() > MAX_SCAN_PHOTOS {
                    return Err(invalid(
                        "photos",
                        &format!("may name at most {MAX_SCAN_PHOTOS} photos"),
                    ));
                }
                m.photos.iter().try_for_each(|p| uuid("photos", p))
            }
        }
    }

    /// Applies the mutation, stamped `stamp`, to its target record
    /// (`existing`, as found by [`Mutation::target`]; for evidence, the
    /// record with the same SHA-256 in the task if there is one). Pure and
    /// deterministic: the same inputs give the same record.
    pub fn apply(&self, existing: Option<&Record>, stamp: &Stamp) -> Result<Applied, Rejection> {
        let unchanged = |record: &Record| Applied {
            record: record.clone(),
            changed: false,
            effects: Vec::new(),
        };
        let created = |record: Record| Applied {
            record,
            changed: true,
            effects: Vec::new(),
        };
        match (self, existing) {
            (Mutation::SetTaskStatus(m), Some(Record::Task(task))) => {
                let mut task = task.clone();
                let effects = advance_task(&mut task, m, stamp)?;
                let changed = Some(&Record::Task(task.clone())) != existing;
                Ok(Applied {
                    record: Record::Task(task),
                    changed,
                    effects,
                })
            }
            (Mutation::RecordPurchase(m), None) => Ok(created(Record::Purchase(Purchase {
                id: m.id.clone(),
                task_id: m.task_id.clone(),
                order_number: Lww::new(m.order_number.clone(), stamp.clone()),
                amount: Lww::new(m.amount.clone(), stamp.clone()),
                purchased_at_us: Lww::new(m.purchased_at_us, stamp.clone()),
                shop_name: Lww::new(m.shop_name.clone(), stamp.clone()),
                withdrawal: Withdrawal::default(),
            }))),
            (Mutation::EditPurchase(m), Some(Record::Purchase(p))) => {
                let mut p = p.clone();
                let mut effects = Vec::new();
                set(&mut p.order_number, &m.order_number, stamp);
                if let Some(amount) = &m.amount {
                    let previous = p.amount.clone();
                    if p.amount.merge(&Lww::new(amount.clone(), stamp.clone()))
                        && m.seen_amount.as_ref() != Some(&previous.stamp)
                        && previous.value != *amount
                    {
                        effects.push(Effect::MoneyOverwritten {
                            previous,
                            seen: m.seen_amount.clone(),
                        });
                    }
                }
                set(&mut p.purchased_at_us, &m.purchased_at_us, stamp);
                set(&mut p.shop_name, &m.shop_name, stamp);
                let record = Record::Purchase(p);
                Ok(Applied {
                    changed: Some(&record) != existing,
                    record,
                    effects,
                })
            }
            (Mutation::AddEvidence(m), None) => Ok(created(Record::Evidence(Evidence {
                id: m.id.clone(),
                task_id: m.task_id.clone(),
                kind: m.kind,
                sha256: m.sha256.clone(),
                size: m.size,
                media_type: m.media_type.clone(),
                captured_at_us: m.captured_at_us,
                note: Lww::new(m.note.clone(), stamp.clone()),
                status: EvidenceStatus::Pending,
                refusal: None,
                withdrawal: Withdrawal::default(),
            }))),
            (Mutation::SetEvidenceNote(m), Some(Record::Evidence(e))) => {
                let mut e = e.clone();
                set(&mut e.note, &Some(m.note.clone()), stamp);
                let record = Record::Evidence(e);
                Ok(Applied {
                    changed: Some(&record) != existing,
                    record,
                    effects: Vec::new(),
                })
            }
            (Mutation::SetShipment(m), existing_shipment) => {
                let mut s = match existing_shipment {
                    Some(Record::Shipment(s)) => s.clone(),
                    None => Shipment {
                        task_id: m.task_id.clone(),
                        carrier: None,
                        tracking_number: None,
                    },
                    Some(_) => return Err(wrong_kind()),
                };
                let lww = |v: &Option<String>| v.clone().map(|v| Lww::new(v, stamp.clone()));
                s.carrier.merge(&lww(&m.carrier));
                s.tracking_number.merge(&lww(&m.tracking_number));
                let record = Record::Shipment(s);
                Ok(Applied {
                    changed: Some(&record) != existing,
                    record,
                    effects: Vec::new(),
                })
            }
            (Mutation::AddNote(m), None) => Ok(created(Record::Note(Note {
                id: m.id.clone(),
                task_id: m.task_id.clone(),
                body: Lww::new(m.body.clone(), stamp.clone()),
                withdrawal: Withdrawal::default(),
            }))),
            (Mutation::EditNote(m), Some(Record::Note(n))) => {
                let mut n = n.clone();
                set(&mut n.body, &Some(m.body.clone()), stamp);
                let record = Record::Note(n);
                Ok(Applied {
                    changed: Some(&record) != existing,
                    record,
                    effects: Vec::new(),
                })
            }
            (Mutation::RequestReimbursement(m), None) => {
                Ok(created(Record::Reimbursement(Reimbursement {
                    id: m.id.clone(),
                    task_id: m.task_id.clone(),
                    amount: m.amount.clone(),
                    note: m.note.clone(),
                    status: ReimbursementStatus::Requested,
                    decision_reason: None,
                    withdrawal: Withdrawal::default(),
                })))
            }
            // Insert-only records: the same record again is the same record;
            // another record under a used id is refused.
            (
                Mutation::RecordPurchase(_)
                | Mutation::AddEvidence(_)
                | Mutation::AddNote(_)
                | Mutation::RequestReimbursement(_),
                Some(record),
            ) => {
                let task = self.creates_in_task().unwrap_or_default();
                let (kind, _) = self.target();
                if record.kind() == Some(kind) && record.task_id() == task {
                    Ok(unchanged(record))
                } else {
                    Err(Rejection::new(
                        "id_reused",
                        "this id already names another record",
                    ))
                }
            }
            // The server fills in what the scan came to; the device shows it
            // waiting until a pull says otherwise.
            (Mutation::RecordScan(m), None) => Ok(created(Record::StationScan(StationScan {
                id: m.id.clone(),
                station_id: m.station_id.clone(),
                code: m.code.clone(),
                condition: m.condition,
                note: m.note.clone(),
                photos: m.photos.clone(),
                scanned_at_us: m.scanned_at_us,
                status: ScanStatus::Waiting,
                parcel: None,
                instruction: Instruction::Hold,
                received_at_us: None,
            }))),
            // Insert-only: the same scan again (a retry, another device) is
            // the same scan, whatever the server has added to it since.
            (Mutation::RecordScan(m), Some(record @ Record::StationScan(s))) => {
                if s.station_id == m.station_id {
                    Ok(unchanged(record))
                } else {
                    Err(Rejection::new(
                        "scan_id_reused",
                        "this scan id was used for a scan at another station",
                    ))
                }
            }
            (Mutation::Withdraw(m), Some(record)) => {
                let mut record = record.clone();
                let flag = Withdrawal::withdrawn(stamp.clone(), m.reason.clone());
                let changed = match &mut record {
                    Record::Purchase(r) => r.withdrawal.merge(&flag),
                    Record::Evidence(r) => r.withdrawal.merge(&flag),
                    Record::Note(r) => r.withdrawal.merge(&flag),
                    Record::Reimbursement(r) => r.withdrawal.merge(&flag),
                    _ => return Err(wrong_kind()),
                };
                Ok(Applied {
                    record,
                    changed,
                    effects: Vec::new(),
                })
            }
            (_, None) => Err(Rejection::new(
                "not_found",
                "the record this mutation changes does not exist (or is not yours)",
            )),
            (_, Some(_)) => Err(wrong_kind()),
        }
    }
}

const KNOWN_NAMES: [&str; 11] = [
    "task.set_status",
    "purchase.record",
    "purchase.edit",
    "evidence.add",
    "evidence.set_note",
    "shipment.set",
    "note.add",
    "note.edit",
    "reimbursement.request",
    "record.withdraw",
    "scan.record",
];

/// Moves a task's status in the generation the mutation names.
fn advance_task(
    task: &mut Task,
    m: &SetTaskStatus,
    stamp: &Stamp,
) -> Result<Vec<Effect>, Rejection> {
    let current = task.status.generation;
    if m.generation < current {
        return Err(Rejection::new(
            "task_generation_ended",
            "the task was reopened or reassigned since this change was made",
        ));
    }
    if m.generation > current {
        return Err(Rejection::new(
            "unknown_generation",
            "this generation of the task does not exist",
        ));
    }
    let incoming = StatusReg::new(m.generation, m.status, stamp.clone());
    let mut effects = Vec::new();
    if task.status.conflict(&incoming) == Some(StatusConflict::PurchaseAfterCancellation) {
        effects.push(Effect::PurchaseAfterCancellation);
    }
    task.status.merge(&incoming);
    record_history(task, m.generation, m.status, stamp.wall_us);
    Ok(effects)
}

/// Adds a status to the history: one entry per (generation, status), at the
/// earliest time it was reached, in workflow order. Order-independent, so
/// the history is the same whatever order the changes arrived in.
pub fn record_history(task: &mut Task, generation: u32, status: Status, at_us: i64) {
    let key = |c: &StatusChange| (c.generation, c.status.rank());
    match task
        .history
        .iter_mut()
        .find(|c| key(c) == (generation, status.rank()))
    {
        Some(entry) => entry.at_us = entry.at_us.min(at_us),
        None => task.history.push(StatusChange {
            generation,
            status,
            at_us,
        }),
    }
    task.history.sort_by_key(|c| (key(c), c.at_us));
}

fn set<T: Ord + Clone>(field: &mut Lww<T>, value: &Option<T>, stamp: &Stamp) {
    if let Some(v) = value {
        field.merge(&Lww::new(v.clone(), stamp.clone()));
    }
}

fn wrong_kind() -> Rejection {
    Rejection::new(
        "wrong_kind",
        "the id names a record of another kind than this mutation changes",
    )
}

fn invalid(field: &str, what: &str) -> Rejection {
    Rejection::new("invalid_arguments", format!("`{field}` {what}"))
}

fn text(field: &str, value: &str, max: usize) -> Result<(), Rejection> {
    if value.chars().count() > max {
        return Err(invalid(field, &format!("is longer than {max} characters")));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(invalid(field, "contains control characters"));
    }
    Ok(())
}

fn money(field: &str, m: &Money) -> Result<(), Rejection> {
    if m.currency.len() != 3 || !m.currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(invalid(
            field,
            "needs a currency as three capital letters (ISO 4217)",
        ));
    }
    if !(0..=MAX_AMOUNT_MINOR).contains(&m.minor) {
        return Err(invalid(field, "must be between zero and 10^12 minor units"));
    }
    Ok(())
}

/// A UUID in its hyphenated form (lower case after normalisation).
fn uuid(field: &str, value: &str) -> Result<(), Rejection> {
    let ok = value.len() == 36
        && value.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    if ok {
        Ok(())
    } else {
        Err(invalid(
            field,
            "must be a UUID like 0192f0c4-8f5e-7a3b-9c1d-2e4f6a8b0c1d",
        ))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::hlc::NodeId;

    const TASK: &str = "0192f0c4-8f5e-7a3b-9c1d-2e4f6a8b0c1d";
    const ID: &str = "0192f0c4-8f5e-7a3b-9c1d-2e4f6a8b0c1e";

    fn st(wall: i64, node: &str) -> Stamp {
        Stamp::new(wall, 0, NodeId::new(node))
    }

    #[test]
    fn an_unknown_name_is_refused_by_name() {
        let err = Mutation::decode("purchase.teleport", &json!({})).expect_err("refused");
        assert_eq!(err.code, "unknown_mutation");
    }

    #[test]
    fn malformed_arguments_are_refused() {
        let err = Mutation::decode("purchase.record", &json!({"id": 3})).expect_err("refused");
        assert_eq!(err.code, "invalid_arguments");
    }

    #[test]
    fn a_server_owned_field_is_refused() {
        let args = json!({"id": ID, "task_id": TASK, "kind": "receipt", "sha256": "ab".repeat(32),
            "size": 1, "media_type": "image/jpeg", "captured_at_us": 0, "status": "verified"});
        let err = Mutation::decode("evidence.add", &args).expect_err("refused");
        assert_eq!(err.code, "server_owned_field");
    }

    #[test]
    fn ids_are_normalised_to_lower_case() {
        let args = json!({"task_id": TASK.to_uppercase(), "generation": 1, "status": "accepted"});
        let m = Mutation::decode("task.set_status", &args).expect("decodes");
        assert_eq!(m.target(), (Kind::Task, TASK));
    }

    #[test]
    fn encode_and_decode_round_trip() {
        let m = Mutation::AddNote(AddNote {
            id: ID.into(),
            task_id: TASK.into(),
            body: "seller asked for my phone".into(),
        });
        let (name, args) = m.encode();
        assert_eq!(Mutation::decode(&name, &args), Ok(m));
    }

    #[test]
    fn a_blind_overwrite_of_money_is_reported() {
        let record = RecordPurchase {
            id: ID.into(),
            task_id: TASK.into(),
            order_number: "A1".into(),
            amount: Money::new(1999, "EUR"),
            purchased_at_us: 5,
            shop_name: "Shop".into(),
        };
        let first = Mutation::RecordPurchase(record)
            .apply(None, &st(10, "phone"))
            .expect("applies");
        let blind = Mutation::EditPurchase(EditPurchase {
            id: ID.into(),
            amount: Some(Money::new(2999, "EUR")),
            ..EditPurchase::default()
        });
        let out = blind
            .apply(Some(&first.record), &st(20, "tablet"))
            .expect("applies");
        assert!(matches!(
            out.effects.as_slice(),
            [Effect::MoneyOverwritten { .. }]
        ));
        let seen = Mutation::EditPurchase(EditPurchase {
            id: ID.into(),
            amount: Some(Money::new(2999, "EUR")),
            seen_amount: Some(st(10, "phone")),
            ..EditPurchase::default()
        });
        let out = seen
            .apply(Some(&first.record), &st(20, "tablet"))
            .expect("applies");
        assert!(out.effects.is_empty());
    }

    fn scan(station: &str) -> Value {
        json!({"id": ID.to_uppercase(), "station_id": station, "code": " sf 1234-5678 ",
            "condition": "damaged", "scanned_at_us": 7})
    }

    #[test]
    fn a_scan_is_insert_only_by_its_device_made_id() {
        let first = Mutation::decode("scan.record", &scan("st-1")).expect("decodes");
        assert_eq!(first.target(), (Kind::StationScan, ID));
        let created = first.apply(None, &st(1, "scanner")).expect("applies");
        let Record::StationScan(s) = &created.record else {
            panic!("a scan: {:?}", created.record)
        };
        assert_eq!(
            (s.code.as_str(), s.status, s.instruction),
            ("sf 1234-5678", ScanStatus::Waiting, Instruction::Hold)
        );
        let again = Mutation::decode("scan.record", &scan("st-1"))
            .expect("decodes")
            .apply(Some(&created.record), &st(2, "other-scanner"))
            .expect("the same scan");
        assert!(!again.changed);
        let elsewhere = Mutation::decode("scan.record", &scan("st-2"))
            .expect("decodes")
            .apply(Some(&created.record), &st(3, "scanner"))
            .expect_err("refused");
        assert_eq!(elsewhere.code, "scan_id_reused");
    }

    #[test]
    fn what_a_scan_came_to_is_the_servers_to_write() {
        let mut args = scan("st-1");
        args["instruction"] = json!("relabel_and_forward");
        let err = Mutation::decode("scan.record", &args).expect_err("refused");
        assert_eq!(err.code, "server_owned_field");
        let mut args = scan("st-1");
        args["condition"] = json!("soggy");
        let err = Mutation::decode("scan.record", &args).expect_err("refused");
        assert_eq!(err.code, "invalid_arguments");
        let withdraw = json!({"kind": "station_scan", "id": ID});
        let err = Mutation::decode("record.withdraw", &withdraw).expect_err("refused");
        assert_eq!(err.code, "not_withdrawable");
    }

    #[test]
    fn the_same_insert_twice_is_one_record_and_a_reused_id_is_refused() {
        let add = Mutation::AddNote(AddNote {
            id: ID.into(),
            task_id: TASK.into(),
            body: "x".into(),
        });
        let first = add.apply(None, &st(1, "a")).expect("applies");
        let again = add
            .apply(Some(&first.record), &st(2, "a"))
            .expect("applies");
        assert!(!again.changed);
        let other_task = Mutation::AddNote(AddNote {
            id: ID.into(),
            task_id: ID.into(),
            body: "x".into(),
        });
        let err = other_task
            .apply(Some(&first.record), &st(3, "a"))
            .expect_err("refused");
        assert_eq!(err.code, "id_reused");
    }
}
