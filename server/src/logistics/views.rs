//! What each role is shown of a parcel (design/logistics.md, "What each
//! party sees"). Each view is built field by field from the rows; there is
//! no big record filtered per role, so a field added to a row never leaks
//! by default.
//!
//! - A relay operator sees the tracking number, recipient code, condition,
//!   sample code and destination lab, and what to do next.
//! - A lab inspector sees the sample code, the category and what to test.
//! - A coordinator sees the whole route, with tasks and no volunteer names
//!   (the task page links to the volunteer's pseudonym).

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{Stage, places};
use crate::{
    db::{
        self, Conn,
        logistics::{ExceptionRow, LabResultRow, ParcelRow, ScanRow},
        time::from_micros,
    },
    error::ApiError,
};

/// 409 for an action a parcel at this stage cannot take.
pub fn wrong_stage(parcel: &ParcelRow, action: &str) -> ApiError {
    ApiError::Refused {
        code: "wrong_stage",
        status: actix_web::http::StatusCode::CONFLICT,
        detail: format!(
            "a parcel at stage {} cannot be {action}",
            Stage::parse(&parcel.stage).as_str()
        ),
    }
}

fn time(m: Option<i64>) -> Option<DateTime<Utc>> {
    m.map(from_micros)
}

/// What the station is to do with a parcel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Instruction {
    /// Not for this station yet, or not matched: keep it aside.
    Hold,
    /// Open and seal it in front of a witness, then relabel and forward.
    WitnessFirst,
    /// Relabel with the sample code and send it to the lab.
    RelabelAndForward,
    /// Already sent on; nothing to do.
    Done,
}

/// A destination as a station prints it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Destination {
    pub name: String,
    pub address: Vec<String>,
}

/// A parcel as its relay station sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StationParcel {
    pub recipient_code: String,
    /// The incoming tracking number, once the volunteer gave it.
    pub tracking_number: Option<String>,
    pub stage: Stage,
    pub condition: Option<String>,
    pub sample_code: Option<String>,
    pub instruction: Instruction,
    /// The lab to send it to (once it has a sample code).
    pub destination: Option<Destination>,
    pub witness_required: bool,
    pub sealed_at: Option<DateTime<Utc>>,
    pub received_at: Option<DateTime<Utc>>,
    pub outgoing_carrier: Option<String>,
    pub outgoing_tracking_number: Option<String>,
    pub forwarded_at: Option<DateTime<Utc>>,
}

pub fn instruction(parcel: &ParcelRow) -> Instruction {
    match Stage::parse(&parcel.stage) {
        Stage::Awaiting => Instruction::Hold,
        Stage::AtStation if parcel.witness_required && parcel.sealed_at.is_none() => {
            Instruction::WitnessFirst
        }
        Stage::AtStation => Instruction::RelabelAndForward,
        _ => Instruction::Done,
    }
}

pub fn station_parcel(conn: &mut Conn, parcel: &ParcelRow) -> Result<StationParcel, ApiError> {
    let destination = match (&parcel.sample_code, &parcel.lab_id) {
        (Some(_), Some(lab)) => {
            let lab = places::get(conn, places::PlaceKind::Lab, lab)?;
            Some(Destination {
                name: lab.name,
                address: lab.address,
            })
        }
        _ => None,
    };
    Ok(StationParcel {
        recipient_code: parcel.recipient_code.clone(),
        tracking_number: parcel.tracking.clone(),
        stage: Stage::parse(&parcel.stage),
        condition: parcel.condition.clone(),
        sample_code: parcel.sample_code.clone(),
        instruction: instruction(parcel),
        destination,
        witness_required: parcel.witness_required,
        sealed_at: time(parcel.sealed_at),
        received_at: time(parcel.received_at),
        outgoing_carrier: parcel.out_carrier.clone(),
        outgoing_tracking_number: parcel.out_tracking.clone(),
        forwarded_at: time(parcel.forwarded_at),
    })
}

/// A scan as its station sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StationScan {
    pub id: String,
    pub code: String,
    pub condition: String,
    pub note: String,
    pub photos: Vec<String>,
    pub scanned_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    /// `matched` or `waiting` (no parcel with this code yet).
    pub status: &'static str,
    pub instruction: Instruction,
    pub parcel: Option<StationParcel>,
}

pub fn station_scan(
    conn: &mut Conn,
    scan: &ScanRow,
    parcel: Option<&ParcelRow>,
) -> Result<StationScan, ApiError> {
    let parcel = parcel.map(|p| station_parcel(conn, p)).transpose()?;
    Ok(StationScan {
        id: scan.id.clone(),
        code: scan.code.clone(),
        condition: scan.condition.clone(),
        note: scan.note.clone(),
        photos: serde_json::from_str(&scan.photos).unwrap_or_default(),
        scanned_at: from_micros(scan.scanned_at),
        received_at: from_micros(scan.received_at),
        status: if parcel.is_some() {
            "matched"
        } else {
            "waiting"
        },
        instruction: parcel.as_ref().map_or(Instruction::Hold, |p| p.instruction),
        parcel,
    })
}

/// A sample as its lab sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LabSample {
    pub sample_code: String,
    pub category: String,
    /// What to test, from the campaign's test plan.
    pub test_plan: String,
    pub stage: Stage,
    pub received_at: Option<DateTime<Utc>>,
    pub result: Option<LabResult>,
}

/// A recorded result.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LabResult {
    /// `qualified` or `unqualified`.
    pub verdict: String,
    pub failed_items: Vec<String>,
    pub standard: String,
    pub notes: String,
    /// SHA-256 of the uploaded report, when there is one.
    pub report_sha256: Option<String>,
    pub recorded_at: DateTime<Utc>,
    pub published: bool,
}

pub fn lab_result(row: &LabResultRow) -> LabResult {
    LabResult {
        verdict: row.verdict.clone(),
        failed_items: serde_json::from_str(&row.failed_items).unwrap_or_default(),
        standard: row.standard.clone(),
        notes: row.notes.clone(),
        report_sha256: row.report_sha256.clone(),
        recorded_at: from_micros(row.recorded_at),
        published: row.published_at.is_some(),
    }
}

pub fn lab_sample(conn: &mut Conn, parcel: &ParcelRow) -> Result<LabSample, ApiError> {
    let sample = parcel.sample_code.clone().unwrap_or_default();
    let category = db::campaigns::find_category(conn, &parcel.category_id)?
        .map_or_else(|| parcel.category_id.clone(), |c| c.name);
    let test_plan = db::campaigns::find_campaign(conn, &parcel.campaign_id)?
        .map(|c| c.test_plan)
        .unwrap_or_default();
    let result = db::logistics::find_result(conn, &sample)?.map(|r| lab_result(&r));
    Ok(LabSample {
        sample_code: sample,
        category,
        test_plan,
        stage: Stage::parse(&parcel.stage),
        received_at: time(parcel.lab_received_at),
        result,
    })
}

/// An exception as coordinators see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExceptionView {
    pub id: String,
    pub task_id: String,
    /// `damaged`, `wrong_item`, `never_arrived`, `returned` or `lost`.
    pub kind: String,
    pub note: String,
    /// `station`, `lab`, `coordinator` or `server` (a deadline passed).
    pub reported_by_role: String,
    pub reported_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolution: Option<String>,
}

pub fn exception(row: &ExceptionRow) -> ExceptionView {
    ExceptionView {
        id: row.id.clone(),
        task_id: row.task_id.clone(),
        kind: row.kind.clone(),
        note: row.note.clone(),
        reported_by_role: row.reported_by_role.clone(),
        reported_at: from_micros(row.reported_at),
        resolved_at: time(row.resolved_at),
        resolution: row.resolution.clone(),
    }
}

/// A parcel's whole route, for coordinators.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CoordinatorParcel {
    pub task_id: String,
    pub campaign_id: String,
    pub stage: Stage,
    pub recipient_code: String,
    pub station_id: String,
    pub lab_id: Option<String>,
    pub category_id: String,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub shipped_at: Option<DateTime<Utc>>,
    pub condition: Option<String>,
    pub received_at: Option<DateTime<Utc>>,
    pub witness_required: bool,
    pub witness: Option<String>,
    pub sealed_at: Option<DateTime<Utc>>,
    pub sample_code: Option<String>,
    pub outgoing_carrier: Option<String>,
    pub outgoing_tracking_number: Option<String>,
    pub forwarded_at: Option<DateTime<Utc>>,
    pub lab_received_at: Option<DateTime<Utc>>,
    pub result: Option<LabResult>,
    pub exceptions: Vec<ExceptionView>,
    /// The stations' photos of the parcel whose files arrived (metadata
    /// removed), scan by scan.
    pub photos: Vec<StationPhoto>,
}

/// A relay station's photo of a parcel: the served copy and thumbnail.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StationPhoto {
    pub id: String,
    pub scan_id: String,
    pub media_type: String,
    pub size: i64,
    /// SHA-256 of the file as uploaded (logged in the custody chain).
    pub sha256: String,
    pub served_sha256: String,
    pub file_url: String,
    pub thumbnail_url: Option<String>,
}

pub fn station_photo(scan_id: &str, photo: &db::logistics::StationPhotoRow) -> StationPhoto {
    StationPhoto {
        id: photo.id.clone(),
        scan_id: scan_id.to_string(),
        media_type: photo.served_media_type.clone(),
        size: photo.served_size,
        sha256: photo.original_sha256.clone(),
        served_sha256: photo.served_sha256.clone(),
        file_url: format!("/api/station-photos/{}/file", photo.id),
        thumbnail_url: photo
            .thumbnail_sha256
            .as_ref()
            .map(|_| format!("/api/station-photos/{}/thumbnail", photo.id)),
    }
}

pub fn coordinator_parcel(
    conn: &mut Conn,
    parcel: &ParcelRow,
) -> Result<CoordinatorParcel, ApiError> {
    let result = match &parcel.sample_code {
        Some(code) => db::logistics::find_result(conn, code)?.map(|r| lab_result(&r)),
        None => None,
    };
    let exceptions = db::logistics::exceptions_of_task(conn, &parcel.task_id)?
        .iter()
        .map(exception)
        .collect();
    let scans: Vec<String> = db::logistics::scans_of_task(conn, &parcel.task_id)?
        .into_iter()
        .map(|s| s.id)
        .collect();
    let photos = db::logistics::photos_of_scans(conn, &scans)?
        .iter()
        .map(|(scan, photo)| station_photo(scan, photo))
        .collect();
    Ok(CoordinatorParcel {
        task_id: parcel.task_id.clone(),
        campaign_id: parcel.campaign_id.clone(),
        stage: Stage::parse(&parcel.stage),
        recipient_code: parcel.recipient_code.clone(),
        station_id: parcel.station_id.clone(),
        lab_id: parcel.lab_id.clone(),
        category_id: parcel.category_id.clone(),
        carrier: parcel.carrier.clone(),
        tracking_number: parcel.tracking.clone(),
        shipped_at: time(parcel.shipped_at),
        condition: parcel.condition.clone(),
        received_at: time(parcel.received_at),
        witness_required: parcel.witness_required,
        witness: parcel.witness.clone(),
        sealed_at: time(parcel.sealed_at),
        sample_code: parcel.sample_code.clone(),
        outgoing_carrier: parcel.out_carrier.clone(),
        outgoing_tracking_number: parcel.out_tracking.clone(),
        forwarded_at: time(parcel.forwarded_at),
        lab_received_at: time(parcel.lab_received_at),
        result,
        exceptions,
        photos,
    })
}
