//! The records a device holds, exactly as a pull delivers them (`put`
//! carries the whole current record). Fields a device may edit are merge
//! types with their stamps, so the device can predict the outcome of its own
//! pending edits; fields only coordinators or the server write are plain
//! values.
//!
//! A volunteer's device holds tasks and what belongs to them; a relay
//! station's scanner holds the station's [`StationScan`]s and the [`StationParcel`]s on its
//! shelf. A station record names no task, volunteer, shop, price, platform,
//! category or campaign (design/logistics.md, "What each party sees"): a
//! parcel is keyed by its recipient code.
//!
//! Compatibility: a field added later gets `#[serde(default)]`, and a record
//! kind an older app does not know decodes as [`Record::Unknown`], so a newer
//! server never breaks an older app.

use serde::{Deserialize, Serialize};

use crate::merge::{Lww, StatusReg, Withdrawal};

/// The kinds of synced record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Task,
    Purchase,
    Evidence,
    Shipment,
    Note,
    Reimbursement,
    /// A relay station's scan (station scopes only).
    StationScan,
    /// A parcel as its relay station sees it (station scopes only).
    StationParcel,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::Task,
        Kind::Purchase,
        Kind::Evidence,
        Kind::Shipment,
        Kind::Note,
        Kind::Reimbursement,
        Kind::StationScan,
        Kind::StationParcel,
    ];

    /// The kinds a volunteer's device holds.
    pub const VOLUNTEER: [Kind; 6] = [
        Kind::Task,
        Kind::Purchase,
        Kind::Evidence,
        Kind::Shipment,
        Kind::Note,
        Kind::Reimbursement,
    ];

    /// The kinds a relay station's scanner holds. An app that predates them
    /// never receives one: they live only in station scopes.
    pub const STATION: [Kind; 2] = [Kind::StationScan, Kind::StationParcel];

    /// Whether records of this kind belong to a relay station rather than
    /// to a task.
    pub fn is_station(self) -> bool {
        Self::STATION.contains(&self)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Task => "task",
            Kind::Purchase => "purchase",
            Kind::Evidence => "evidence",
            Kind::Shipment => "shipment",
            Kind::Note => "note",
            Kind::Reimbursement => "reimbursement",
            Kind::StationScan => "station_scan",
            Kind::StationParcel => "station_parcel",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A task's status. The workflow runs `offered → accepted → purchased →
/// shipped → at_relay → forwarded → at_lab → tested → closed`; `declined`,
/// `expired` and `cancelled` end a generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Offered,
    Accepted,
    Declined,
    Expired,
    Cancelled,
    Purchased,
    Shipped,
    AtRelay,
    Forwarded,
    AtLab,
    Tested,
    Closed,
}

impl Status {
    pub const ALL: [Status; 12] = [
        Status::Offered,
        Status::Accepted,
        Status::Declined,
        Status::Expired,
        Status::Cancelled,
        Status::Purchased,
        Status::Shipped,
        Status::AtRelay,
        Status::Forwarded,
        Status::AtLab,
        Status::Tested,
        Status::Closed,
    ];

    /// The join order within one generation (see [`StatusReg`]): the
    /// declaration order above.
    pub fn rank(self) -> u8 {
        self as u8
    }

    /// Whether this status ends the generation (only a coordinator goes on
    /// from it, by starting a new generation).
    pub fn ends_generation(self) -> bool {
        matches!(self, Status::Declined | Status::Expired | Status::Cancelled)
    }

    /// The statuses a volunteer may set from the app. The rest belong to
    /// coordinators, relay stations, the lab and the server.
    pub fn volunteer_may_set(self) -> bool {
        matches!(
            self,
            Status::Accepted | Status::Declined | Status::Purchased | Status::Shipped
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Offered => "offered",
            Status::Accepted => "accepted",
            Status::Declined => "declined",
            Status::Expired => "expired",
            Status::Cancelled => "cancelled",
            Status::Purchased => "purchased",
            Status::Shipped => "shipped",
            Status::AtRelay => "at_relay",
            Status::Forwarded => "forwarded",
            Status::AtLab => "at_lab",
            Status::Tested => "tested",
            Status::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// An amount of money in minor units (cents, fen) of an ISO 4217 currency.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Money {
    pub minor: i64,
    pub currency: String,
}

impl Money {
    pub fn new(minor: i64, currency: impl Into<String>) -> Self {
        Self {
            minor,
            currency: currency.into(),
        }
    }
}

/// One entry of a task's status history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChange {
    pub generation: u32,
    pub status: Status,
    pub at_us: i64,
}

/// A buying task as its volunteer sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub id: String,
    pub status: StatusReg,
    /// Every status the task has reached, once each per generation, at the
    /// time it was first reached: ordered by generation, then workflow
    /// order (not by time), so it is the same whatever order changes
    /// arrived in.
    #[serde(default)]
    pub history: Vec<StatusChange>,
    pub title: String,
    /// The buying instructions written by the coordinator.
    #[serde(default)]
    pub instructions: String,
    #[serde(default)]
    pub listing_url: String,
    #[serde(default)]
    pub shop_name: String,
    #[serde(default)]
    pub platform: String,
    #[serde(default)]
    pub category: String,
    /// The most the volunteer may spend.
    #[serde(default)]
    pub price_cap: Option<Money>,
    /// Buy before this instant.
    #[serde(default)]
    pub deadline_us: Option<i64>,
    /// Where to have the parcel sent: set by the server once the task is
    /// accepted (a new generation may get another code or station).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Delivery>,
}

/// The address a volunteer orders to instead of their own: the relay
/// station's, with the recipient code in place of a name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// Written where the recipient's name goes (`MB-7K4Q-2XH`).
    pub recipient_code: String,
    pub station_name: String,
    /// The station's postal address, one entry per line.
    pub address: Vec<String>,
}

/// A purchase the volunteer made for a task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purchase {
    pub id: String,
    pub task_id: String,
    pub order_number: Lww<String>,
    pub amount: Lww<Money>,
    pub purchased_at_us: Lww<i64>,
    /// The shop's name as the volunteer saw it on the platform.
    pub shop_name: Lww<String>,
    #[serde(default)]
    pub withdrawal: Withdrawal,
}

/// What a piece of evidence shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceKind {
    ListingPhoto,
    ProductPhoto,
    OrderScreenshot,
    PaymentScreenshot,
    ChatLog,
    ShippingInfo,
    ParcelPhoto,
    Receipt,
}

/// Where the evidence's file stands. Written only by the server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceStatus {
    /// The record is known; its file has not arrived (or not been checked).
    #[default]
    Pending,
    /// The file arrived and matched the declared hash.
    Verified,
    /// The file arrived and was refused.
    Refused,
}

/// The metadata of one evidence file. The file itself travels by upload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub id: String,
    pub task_id: String,
    /// On the wire `evidence_kind`: `kind` is [`Record`]'s tag, and a field
    /// of that name collided with it (serde wrote `kind` twice, and a pull
    /// holding any evidence failed to decode with "duplicate field").
    #[serde(rename = "evidence_kind")]
    pub kind: EvidenceKind,
    /// Lower-case hex SHA-256 of the file, computed on the phone.
    pub sha256: String,
    pub size: u64,
    pub media_type: String,
    pub captured_at_us: i64,
    pub note: Lww<String>,
    #[serde(default)]
    pub status: EvidenceStatus,
    /// Why the file was refused, in words the app can show (with
    /// [`EvidenceStatus::Refused`]); the volunteer may upload the right file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    #[serde(default)]
    pub withdrawal: Withdrawal,
}

/// How the parcel travels from the shop. One per task; its id is the
/// task's id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shipment {
    pub task_id: String,
    #[serde(default)]
    pub carrier: Option<Lww<String>>,
    #[serde(default)]
    pub tracking_number: Option<Lww<String>>,
}

/// A free-text note on a task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub id: String,
    pub task_id: String,
    pub body: Lww<String>,
    #[serde(default)]
    pub withdrawal: Withdrawal,
}

/// Where a reimbursement request stands. Written only by coordinators.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReimbursementStatus {
    #[default]
    Requested,
    Approved,
    Rejected,
    Paid,
}

/// A volunteer's request to be paid back for a purchase.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reimbursement {
    pub id: String,
    pub task_id: String,
    pub amount: Money,
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub status: ReimbursementStatus,
    /// Why a coordinator rejected it.
    #[serde(default)]
    pub decision_reason: Option<String>,
    #[serde(default)]
    pub withdrawal: Withdrawal,
}

/// A parcel's state on arrival at the relay station.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    Intact,
    Damaged,
    /// A condition added by a newer server; a device never sends it.
    #[serde(other)]
    Unknown,
}

impl Condition {
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::Intact => "intact",
            Condition::Damaged => "damaged",
            Condition::Unknown => "unknown",
        }
    }

    /// The condition of a stored value (`Unknown` for one this version does
    /// not know).
    pub fn parse(s: &str) -> Self {
        match s {
            "intact" => Condition::Intact,
            "damaged" => Condition::Damaged,
            _ => Condition::Unknown,
        }
    }
}

/// What the station is to do with a parcel. Written only by the server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Instruction {
    /// Not matched yet (or not for this station yet): keep it aside.
    #[default]
    Hold,
    /// Open it and seal the sample in front of a witness, then relabel and
    /// forward.
    WitnessFirst,
    /// Relabel with the sample code and send it to the lab.
    RelabelAndForward,
    /// Already sent on: nothing to do.
    Done,
    /// An instruction added by a newer server: the app shows "ask the
    /// coordinator" rather than failing the whole pull.
    #[serde(other)]
    Unknown,
}

/// Where a parcel is on its route. Written only by the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParcelStage {
    Awaiting,
    AtStation,
    Forwarded,
    AtLab,
    Tested,
    Published,
    #[serde(other)]
    Unknown,
}

/// Whether a scan found its parcel. Written only by the server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanStatus {
    /// No parcel has this code yet (the volunteer's tracking number may not
    /// have arrived): matched by the server when it does.
    #[default]
    Waiting,
    Matched,
}

/// One scan at a relay station: the carrier's barcode or a typed recipient
/// code. Insert-only, keyed by the id the scanning device made, so the same
/// scan twice (a retry, two devices) is one scan. The device writes the
/// first seven fields; the server the rest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StationScan {
    pub id: String,
    pub station_id: String,
    /// As the device sent it; the server's copy holds it normalised (upper
    /// case, no spaces or dashes in a tracking number).
    pub code: String,
    pub condition: Condition,
    #[serde(default)]
    pub note: String,
    /// Ids of photos of the parcel (each uploaded through tus with `photo_id`).
    #[serde(default)]
    pub photos: Vec<String>,
    /// The device's clock when it scanned.
    pub scanned_at_us: i64,
    #[serde(default)]
    pub status: ScanStatus,
    /// The recipient code of the matched parcel: its [`StationParcel`] record's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parcel: Option<String>,
    #[serde(default)]
    pub instruction: Instruction,
    /// When the server received the scan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_at_us: Option<i64>,
}

/// A destination as a station prints it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Destination {
    pub name: String,
    /// Postal address, one entry per line.
    pub address: Vec<String>,
}

/// A parcel as the relay station holding it sees it: in the station's
/// scope from its arrival scan until it is forwarded. Keyed by the recipient
/// code written on it; written only by the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StationParcel {
    pub recipient_code: String,
    pub station_id: String,
    /// The incoming tracking number (normalised), once the volunteer gave it.
    #[serde(default)]
    pub tracking_number: Option<String>,
    pub stage: ParcelStage,
    #[serde(default)]
    pub condition: Option<Condition>,
    /// The blind code to relabel it with.
    #[serde(default)]
    pub sample_code: Option<String>,
    #[serde(default)]
    pub instruction: Instruction,
    /// The lab to send it to.
    #[serde(default)]
    pub destination: Option<Destination>,
    #[serde(default)]
    pub witness_required: bool,
    #[serde(default)]
    pub sealed_at_us: Option<i64>,
    #[serde(default)]
    pub received_at_us: Option<i64>,
    #[serde(default)]
    pub outgoing_carrier: Option<String>,
    #[serde(default)]
    pub outgoing_tracking_number: Option<String>,
    #[serde(default)]
    pub forwarded_at_us: Option<i64>,
}

/// Any synced record, tagged by `kind`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    Task(Task),
    Purchase(Purchase),
    Evidence(Evidence),
    Shipment(Shipment),
    Note(Note),
    Reimbursement(Reimbursement),
    StationScan(StationScan),
    StationParcel(StationParcel),
    /// A kind this version of the crate does not know (added by a newer
    /// server). Apps keep it out of their views.
    #[serde(other)]
    Unknown,
}

impl Record {
    pub fn kind(&self) -> Option<Kind> {
        Some(match self {
            Record::Task(_) => Kind::Task,
            Record::Purchase(_) => Kind::Purchase,
            Record::Evidence(_) => Kind::Evidence,
            Record::Shipment(_) => Kind::Shipment,
            Record::Note(_) => Kind::Note,
            Record::Reimbursement(_) => Kind::Reimbursement,
            Record::StationScan(_) => Kind::StationScan,
            Record::StationParcel(_) => Kind::StationParcel,
            Record::Unknown => return None,
        })
    }

    pub fn id(&self) -> &str {
        match self {
            Record::Task(r) => &r.id,
            Record::Purchase(r) => &r.id,
            Record::Evidence(r) => &r.id,
            Record::Shipment(r) => &r.task_id,
            Record::Note(r) => &r.id,
            Record::Reimbursement(r) => &r.id,
            Record::StationScan(r) => &r.id,
            Record::StationParcel(r) => &r.recipient_code,
            Record::Unknown => "",
        }
    }

    /// The task the record belongs to (a task belongs to itself); empty for
    /// a station's records, which never name their task.
    pub fn task_id(&self) -> &str {
        match self {
            Record::Task(r) => &r.id,
            Record::Purchase(r) => &r.task_id,
            Record::Evidence(r) => &r.task_id,
            Record::Shipment(r) => &r.task_id,
            Record::Note(r) => &r.task_id,
            Record::Reimbursement(r) => &r.task_id,
            Record::StationScan(_) | Record::StationParcel(_) | Record::Unknown => "",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hlc::{NodeId, Stamp};

    /// Internally tagged: a field named like the tag would be written twice
    /// and never decode again.
    #[test]
    fn every_record_kind_round_trips_through_json() {
        let stamp = Stamp::new(1, 0, NodeId::new("n"));
        let evidence = Record::Evidence(Evidence {
            id: "e".into(),
            task_id: "t".into(),
            kind: EvidenceKind::ChatLog,
            sha256: "00".repeat(32),
            size: 1,
            media_type: "text/plain".into(),
            captured_at_us: 0,
            note: Lww::new(String::new(), stamp),
            status: EvidenceStatus::Pending,
            refusal: None,
            withdrawal: Withdrawal::default(),
        });
        let json = serde_json::to_string(&evidence).expect("encodes");
        assert_eq!(
            serde_json::from_str::<Record>(&json).expect("decodes"),
            evidence
        );
    }
}
