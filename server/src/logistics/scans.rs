//! A relay station's scans: an arriving parcel scanned (carrier barcode) or
//! typed (recipient code), matched to its task, given a blind sample code;
//! then relabelled and forwarded to the lab. A scan nobody's parcel
//! matches waits, and is matched when the volunteer's tracking number
//! arrives (the `logistics.match` job), in either order.
//!
//! Scans are insert-only and keyed by the id the scanning device made: the
//! same scan twice (a retry, two devices) is one event. Must never: show a
//! station anything about the volunteer, the shop, the price or the
//! campaign's purpose (see `views`).

use serde::Deserialize;
use sync_protocol::records::Status;
use utoipa::ToSchema;

use super::{Stage, codes, exceptions, station_sync, views};
use crate::{
    custody::{self, Event, kinds},
    db::{
        self, Conn,
        logistics::{ParcelRow, ScanRow, StationPhotoRow},
        time::{Micros, to_micros},
    },
    error::ApiError,
    sync::Touched,
};

const MAX_NOTE: usize = 2_000;
const MAX_PHOTOS: usize = 20;

/// A parcel's state on arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    Intact,
    Damaged,
}

impl Condition {
    fn as_str(self) -> &'static str {
        match self {
            Condition::Intact => "intact",
            Condition::Damaged => "damaged",
        }
    }
}

/// One scan, as the station's app sends it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanInput {
    /// Made by the scanning device (a UUID); the same id twice is one scan.
    pub id: String,
    /// The carrier's barcode or the recipient code, as scanned or typed.
    pub code: String,
    pub condition: Condition,
    #[serde(default)]
    pub note: String,
    /// Ids (UUIDs the device made) of photos of the parcel, each uploaded
    /// through tus with `photo_id` in its metadata, before or after the scan.
    #[serde(default)]
    pub photos: Vec<String>,
    /// When the device scanned (offline scans are ordered by it); default
    /// when the server receives it.
    #[serde(default)]
    pub scanned_at: Option<chrono::DateTime<chrono::Utc>>,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::InvalidBody(message.into())
}

fn check_input(input: &ScanInput, now: Micros) -> Result<(codes::Scanned, Micros), ApiError> {
    let id = uuid::Uuid::parse_str(&input.id)
        .map_err(|_| invalid("id must be a UUID made by the scanning device"))?;
    if id.is_nil() {
        return Err(invalid("id must not be the nil UUID"));
    }
    let scanned = codes::read_scanned(&input.code).ok_or_else(|| {
        invalid("code is neither a recipient code (MB-XXXX-XXXX) nor a tracking number")
    })?;
    if input.note.chars().count() > MAX_NOTE || input.note.chars().any(|c| c == '\0') {
        return Err(invalid(format!(
            "note must be at most {MAX_NOTE} characters"
        )));
    }
    if input.photos.len() > MAX_PHOTOS {
        return Err(invalid(format!("at most {MAX_PHOTOS} photos")));
    }
    for photo in &input.photos {
        uuid::Uuid::parse_str(photo)
            .map_err(|_| invalid("each photo must be the UUID its upload names as photo_id"))?;
    }
    // A device clock far in the future is clamped to the server's: offline
    // scans are ordered by their own time, never after the present.
    let at = input.scanned_at.map_or(now, |t| to_micros(t).min(now));
    Ok((scanned, at))
}

/// What a scan came to, for the station.
pub enum Scanned {
    /// Matched: the parcel and what to do with it.
    Matched {
        scan: ScanRow,
        // Boxed: a parcel row is much larger than a waiting scan.
        parcel: Box<ParcelRow>,
    },
    /// No parcel matches yet: hold it.
    Waiting(ScanRow),
}

/// Records a scan at `station` by `operator`; returns what it came to and
/// whether it was new (`false`: the same scan id again).
pub fn record(
    conn: &mut Conn,
    now: Micros,
    station: &str,
    operator: &str,
    input: &ScanInput,
    touched: &mut Touched,
) -> Result<(Scanned, bool), ApiError> {
    let (scanned, at) = check_input(input, now)?;
    let id = input.id.to_lowercase();
    if let Some(existing) = db::logistics::find_scan(conn, &id)? {
        // A retry: answered from what the first one did.
        if existing.station_id != station {
            return Err(ApiError::Refused {
                code: "scan_id_reused",
                status: actix_web::http::StatusCode::CONFLICT,
                detail: "this scan id was used for another scan".into(),
            });
        }
        return Ok((outcome_of(conn, existing)?, false));
    }
    let mut photos: Vec<String> = input.photos.iter().map(|p| p.to_lowercase()).collect();
    photos.dedup();
    let row = ScanRow {
        id,
        station_id: station.to_string(),
        operator_id: operator.to_string(),
        code: scanned.code().to_string(),
        code_kind: scanned.kind().to_string(),
        condition: input.condition.as_str().to_string(),
        note: input.note.trim().to_string(),
        photos: serde_json::to_string(&photos).map_err(|e| ApiError::Internal(e.to_string()))?,
        scanned_at: at,
        received_at: now,
        task_id: None,
        matched_at: None,
    };
    if !db::logistics::insert_scan(conn, &row)? {
        // The same id from another device, committed since we looked.
        let existing = db::logistics::find_scan(conn, &row.id)?
            .ok_or_else(|| ApiError::Internal("a scan vanished".into()))?;
        return Ok((outcome_of(conn, existing)?, false));
    }
    db::logistics::link_scan_photos(conn, &row.id, &photos)?;
    let outcome = match find_parcel(conn, station, &scanned)? {
        Some(parcel) => {
            let parcel = arrive(conn, now, parcel, &row, touched)?;
            Scanned::Matched {
                scan: row,
                parcel: Box::new(parcel),
            }
        }
        None => {
            station_sync::scan_waiting(conn, now, &row, touched)?;
            Scanned::Waiting(row)
        }
    };
    Ok((outcome, true))
}

/// The station's view of what a scan came to.
pub fn view(conn: &mut Conn, outcome: Scanned) -> Result<views::StationScan, ApiError> {
    match outcome {
        Scanned::Matched { scan, parcel } => views::station_scan(conn, &scan, Some(&parcel)),
        Scanned::Waiting(scan) => views::station_scan(conn, &scan, None),
    }
}

/// What an earlier scan came to, as things stand now.
pub fn outcome_of(conn: &mut Conn, scan: ScanRow) -> Result<Scanned, ApiError> {
    match &scan.task_id {
        Some(task) => {
            let parcel = db::logistics::find_parcel(conn, task)?
                .ok_or_else(|| ApiError::Internal(format!("scan {} lost its parcel", scan.id)))?;
            Ok(Scanned::Matched {
                scan,
                parcel: Box::new(parcel),
            })
        }
        None => Ok(Scanned::Waiting(scan)),
    }
}

/// The parcel a scan of `code` at `station` would be for now, if any.
pub fn matching_parcel(
    conn: &mut Conn,
    station: &str,
    code: &str,
) -> Result<Option<ParcelRow>, ApiError> {
    match codes::read_scanned(code) {
        Some(scanned) => find_parcel(conn, station, &scanned),
        None => Ok(None),
    }
}

/// The parcel a scan at `station` is for: by recipient code, or by the
/// tracking number when exactly one of the station's parcels has it.
fn find_parcel(
    conn: &mut Conn,
    station: &str,
    scanned: &codes::Scanned,
) -> Result<Option<ParcelRow>, ApiError> {
    Ok(match scanned {
        codes::Scanned::Recipient(code) => {
            db::logistics::parcel_by_recipient_code(conn, code)?.filter(|p| p.station_id == station)
        }
        codes::Scanned::Tracking(tracking) => {
            let mut found: Vec<ParcelRow> = db::logistics::parcels_by_tracking(conn, tracking)?
                .into_iter()
                .filter(|p| p.station_id == station)
                .collect();
            if found.len() == 1 { found.pop() } else { None }
        }
    })
}

/// A parcel arrives: the scan is linked, the parcel gets its sample code,
/// the task moves to "at relay", and the custody log records it. A second
/// scan of a parcel already in only links the scan.
fn arrive(
    conn: &mut Conn,
    now: Micros,
    parcel: ParcelRow,
    scan: &ScanRow,
    touched: &mut Touched,
) -> Result<ParcelRow, ApiError> {
    let mut parcel = super::lock(conn, parcel)?;
    db::logistics::match_scan(conn, &scan.id, &parcel.task_id, now)?;
    if parcel.stage != Stage::Awaiting.as_str() {
        // Scanned again (a second look, more photos): its photos join the
        // sample's chain.
        log_photos(conn, now, &parcel, scan)?;
        station_sync::scan_matched(conn, now, scan, &parcel, touched)?;
        return Ok(parcel);
    }
    let sample = codes::fresh_sample_code(conn)?;
    parcel.stage = Stage::AtStation.as_str().to_string();
    parcel.condition = Some(scan.condition.clone());
    parcel.received_at = Some(scan.scanned_at);
    parcel.sample_code = Some(sample.clone());
    parcel.updated_at = now;
    db::logistics::update_parcel(conn, &parcel)?;
    custody::append(
        conn,
        now,
        Event::new(kinds::RECEIVED_AT_STATION, &parcel.task_id)
            .sample(&sample)
            .with("station", &scan.station_id)
            .with("scan", &scan.id)
            .with("condition", &scan.condition)
            .with("scanned_at", &scan.scanned_at.to_string()),
    )?;
    if scan.condition == Condition::Damaged.as_str() {
        exceptions::report_from(
            conn,
            now,
            &parcel,
            exceptions::Kind::Damaged,
            exceptions::Side::Station,
            Some(&scan.operator_id),
            &scan.note,
        )?;
    }
    log_photos(conn, now, &parcel, scan)?;
    station_sync::parcel_changed(conn, now, &parcel, touched)?;
    crate::sync::tasks::advance(conn, now, &parcel.task_id, Status::AtRelay, touched)?;
    Ok(parcel)
}

/// Logs the photos of `scan` whose files already arrived in the chain of
/// the parcel it matched (the others are logged when they arrive).
fn log_photos(
    conn: &mut Conn,
    now: Micros,
    parcel: &ParcelRow,
    scan: &ScanRow,
) -> Result<(), ApiError> {
    for (_, photo) in db::logistics::photos_of_scans(conn, std::slice::from_ref(&scan.id))? {
        custody::append(conn, now, photo_event(parcel, scan, &photo))?;
    }
    Ok(())
}

fn photo_event(parcel: &ParcelRow, scan: &ScanRow, photo: &StationPhotoRow) -> Event {
    Event::new(kinds::STATION_PHOTO, &parcel.task_id)
        .sample(parcel.sample_code.as_deref().unwrap_or_default())
        .with("station", &scan.station_id)
        .with("scan", &scan.id)
        .with("photo", &photo.id)
        .with("sha256", &photo.original_sha256)
        .with("served_sha256", &photo.served_sha256)
}

/// A station photo's file just passed the pipeline (`uploads::finish`):
/// each matched scan naming it logs it in its sample's chain. The scans are
/// locked first, so a scan matched at the same moment either waits for this
/// transaction (and then finds the photo) or is seen matched here.
pub fn log_photo_of_matched_scans(
    conn: &mut Conn,
    now: Micros,
    photo: &StationPhotoRow,
) -> Result<(), ApiError> {
    for scan in db::logistics::scans_naming_photo(conn, &photo.id)? {
        let Some(task) = &scan.task_id else { continue };
        let Some(parcel) = db::logistics::find_parcel(conn, task)? else {
            continue;
        };
        custody::append(conn, now, photo_event(&parcel, &scan, photo))?;
    }
    Ok(())
}

/// Matches the scans that waited for `task`'s tracking number (the
/// `logistics.match` job).
pub fn match_waiting(
    conn: &mut Conn,
    now: Micros,
    task: &str,
    touched: &mut Touched,
) -> Result<usize, ApiError> {
    let Some(parcel) = db::logistics::find_parcel(conn, task)? else {
        return Ok(0);
    };
    let Some(tracking) = parcel.tracking.clone() else {
        return Ok(0);
    };
    let mut parcel = parcel;
    let mut matched = 0;
    for scan in db::logistics::unmatched_scans_of(conn, &tracking)? {
        if scan.station_id != parcel.station_id {
            continue;
        }
        parcel = arrive(conn, now, parcel, &scan, touched)?;
        matched += 1;
    }
    Ok(matched)
}

/// The operator relabelled the parcel and sent it to the lab.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForwardInput {
    pub carrier: String,
    pub tracking_number: String,
}

/// The operator's record of opening and sealing the parcel in front of a
/// witness (when the campaign asks for it).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SealInput {
    /// The witness's name, as on the paper record.
    pub witness: String,
}

/// A station's parcel by sample code; 404 for one at another station.
pub fn station_parcel(conn: &mut Conn, station: &str, sample: &str) -> Result<ParcelRow, ApiError> {
    codes::read_sample_code(sample)
        .map(|code| db::logistics::parcel_by_sample_code(conn, &code))
        .transpose()?
        .flatten()
        .filter(|p| p.station_id == station)
        .ok_or_else(|| ApiError::Missing(format!("no parcel {sample} at this station")))
}

/// Records the witnessed opening and sealing.
pub fn seal(
    conn: &mut Conn,
    now: Micros,
    station: &str,
    sample: &str,
    input: &SealInput,
    touched: &mut Touched,
) -> Result<ParcelRow, ApiError> {
    let witness = input.witness.trim();
    if witness.is_empty() || witness.chars().count() > 200 || witness.chars().any(char::is_control)
    {
        return Err(invalid("witness must be 1 to 200 characters"));
    }
    let found = station_parcel(conn, station, sample)?;
    let mut parcel = super::lock(conn, found)?;
    if parcel.stage != Stage::AtStation.as_str() {
        return Err(views::wrong_stage(&parcel, "sealed"));
    }
    if parcel.sealed_at.is_some() {
        return Ok(parcel);
    }
    parcel.witness = Some(witness.to_string());
    parcel.sealed_at = Some(now);
    parcel.updated_at = now;
    db::logistics::update_parcel(conn, &parcel)?;
    custody::append(
        conn,
        now,
        Event::new("opened_and_sealed", &parcel.task_id)
            .sample(sample_of(&parcel))
            .with("station", station)
            .with("witness", witness),
    )?;
    station_sync::parcel_changed(conn, now, &parcel, touched)?;
    Ok(parcel)
}

fn sample_of(parcel: &ParcelRow) -> &str {
    parcel.sample_code.as_deref().unwrap_or_default()
}

/// Records the relabelled parcel's hand-over to the carrier for the lab.
pub fn forward(
    conn: &mut Conn,
    now: Micros,
    station: &str,
    sample: &str,
    input: &ForwardInput,
    touched: &mut Touched,
) -> Result<ParcelRow, ApiError> {
    let carrier = input.carrier.trim();
    if carrier.is_empty() || carrier.chars().count() > 100 || carrier.chars().any(char::is_control)
    {
        return Err(invalid("carrier must be 1 to 100 characters"));
    }
    let tracking = codes::normalise_tracking(&input.tracking_number)
        .ok_or_else(|| invalid("tracking_number is not a tracking number"))?;
    let found = station_parcel(conn, station, sample)?;
    let mut parcel = super::lock(conn, found)?;
    if parcel.stage == Stage::Forwarded.as_str()
        && parcel.out_tracking.as_deref() == Some(tracking.as_str())
    {
        return Ok(parcel);
    }
    if parcel.stage != Stage::AtStation.as_str() {
        return Err(views::wrong_stage(&parcel, "forwarded"));
    }
    if parcel.witness_required && parcel.sealed_at.is_none() {
        return Err(ApiError::Refused {
            code: "witness_required",
            status: actix_web::http::StatusCode::CONFLICT,
            detail: "this campaign asks for the parcel to be opened and sealed in front of a witness first".into(),
        });
    }
    if parcel.lab_id.is_none() {
        return Err(ApiError::Refused {
            code: "no_lab",
            status: actix_web::http::StatusCode::CONFLICT,
            detail: "the campaign names no lab to forward to; ask the coordinator".into(),
        });
    }
    parcel.stage = Stage::Forwarded.as_str().to_string();
    parcel.out_carrier = Some(carrier.to_string());
    parcel.out_tracking = Some(tracking.clone());
    parcel.forwarded_at = Some(now);
    parcel.updated_at = now;
    db::logistics::update_parcel(conn, &parcel)?;
    let lab = parcel.lab_id.clone().unwrap_or_default();
    custody::append(
        conn,
        now,
        Event::new(kinds::RELABELLED, &parcel.task_id)
            .sample(sample_of(&parcel))
            .with("station", station)
            .with("lab", &lab),
    )?;
    custody::append(
        conn,
        now,
        Event::new(kinds::FORWARDED, &parcel.task_id)
            .sample(sample_of(&parcel))
            .with("station", station)
            .with("carrier", carrier)
            .with("tracking", &tracking)
            .with("lab", parcel.lab_id.as_deref().unwrap_or_default()),
    )?;
    station_sync::parcel_changed(conn, now, &parcel, touched)?;
    crate::sync::tasks::advance(conn, now, &parcel.task_id, Status::Forwarded, touched)?;
    Ok(parcel)
}
