//! The relay station's scanner app syncs (design/sync.md): each station
//! has the scope `station:<id>`, holding its scans (a waiting one until it
//! is matched, a matched one while its parcel is at the station) and the
//! parcels on its shelf (from the arrival scan until they are forwarded,
//! when both leave the scope with a remove). The records are
//! `sync_protocol`'s `StationScan` and `StationParcel`, built from what
//! `views` lets a station see, and stored in `station_records`, apart from
//! the volunteers' records.
//!
//! `scan.record` pushed by a relay operator goes through the same
//! `scans::record` as the online API. Every change to a station's scan or
//! parcel (a scan online or synced, the match job, seal, forward, a new
//! tracking number, the destination lab's new name or address) calls in
//! here inside its own transaction, so the station learns it on its next
//! pull. The lock order: the parcel's task, then the station's scope, then
//! the volunteer's (a transaction that writes several takes them up front,
//! each kind in order: `scopes_of_batch`, `lock_bound_for`); the custody
//! entries are written last, at the commit.
//!
//! Must never: put in a station record anything the station may not see
//! (task, volunteer, shop, price, platform, category, campaign): a parcel
//! is keyed by its recipient code; write a station's record into any other
//! scope.

use std::collections::BTreeSet;

use sync_protocol::{
    Kind, Mutation, Record, Rejection, Stamp,
    mutations::RecordScan,
    records::{
        Condition, Destination, Instruction, ParcelStage, ScanStatus, StationParcel, StationScan,
    },
};

use super::{
    Stage,
    scans::{self, ScanInput},
    views,
};
use crate::{
    db::{
        self, Conn,
        logistics::{ParcelRow, ScanRow},
        station_sync::StationRecordRow,
        time::{Micros, from_micros, to_micros},
    },
    error::ApiError,
    sync::{Touched, station_scope, volunteer_scope},
};

/// Applies `scan.record` pushed by `user_id`'s device, stamped `stamp`: a
/// rejection (the station is not theirs, the code is no code, the id names
/// another station's scan) or the scan recorded, matched, logged and synced
/// exactly as the online API would. The caller has locked the task the
/// scan matches and the scopes it writes (`sync::push`).
pub fn push_scan(
    conn: &mut Conn,
    now: Micros,
    user_id: &str,
    scan: &RecordScan,
    stamp: &Stamp,
    touched: &mut Touched,
) -> Result<Result<(), Rejection>, ApiError> {
    if !db::logistics::is_operator(conn, &scan.station_id, user_id)? {
        return Ok(Err(Rejection::new(
            "station_not_yours",
            "you do not work at this relay station",
        )));
    }
    // The merge rule the device predicted with (insert-only by id), applied
    // to the scan as it stands: the same scan again changes nothing, an id
    // used at another station is refused with the device's own code.
    let existing = match db::logistics::find_scan(conn, &scan.id)? {
        Some(row) => Some(match scans::outcome_of(conn, row)? {
            scans::Scanned::Matched { scan, parcel } => scan_record(&scan, Some(&parcel)),
            scans::Scanned::Waiting(scan) => scan_record(&scan, None),
        }),
        None => None,
    };
    if let Err(rejection) = Mutation::RecordScan(scan.clone()).apply(existing.as_ref(), stamp) {
        return Ok(Err(rejection));
    }
    let input = ScanInput {
        id: scan.id.clone(),
        code: scan.code.clone(),
        condition: match scan.condition {
            Condition::Damaged => scans::Condition::Damaged,
            _ => scans::Condition::Intact,
        },
        note: scan.note.clone(),
        photos: scan.photos.clone(),
        scanned_at: Some(from_micros(scan.scanned_at_us)),
    };
    match scans::record(conn, now, &scan.station_id, user_id, &input, touched) {
        Ok(_) => Ok(Ok(())),
        Err(ApiError::InvalidBody(message)) => {
            Ok(Err(Rejection::new("invalid_arguments", message)))
        }
        Err(ApiError::Refused { code, detail, .. }) => Ok(Err(Rejection::new(code, detail))),
        Err(error) => Err(error),
    }
}

/// The task `user_id`'s scan of `code` at `station` would match now, if
/// any: a push locks it before any scope. None for a station that is
/// not theirs (the scan is refused).
pub fn task_to_lock(
    conn: &mut Conn,
    user_id: &str,
    scan: &RecordScan,
) -> Result<Option<String>, ApiError> {
    if !db::logistics::is_operator(conn, &scan.station_id, user_id)? {
        return Ok(None);
    }
    Ok(scans::matching_parcel(conn, &scan.station_id, &scan.code)?.map(|p| p.task_id))
}

/// The scopes a push batch of `user_id` will write because of stations, in
/// the order to lock them (after the batch's tasks): the stations' scopes
/// (of the operator's scans; of the shelves holding the parcels whose
/// tracking numbers the batch's shipments set), then the volunteers'
/// (whose tasks the scans match now; the pushing volunteer's own). Empty
/// for a batch that reaches no station.
pub fn scopes_of_batch(
    conn: &mut Conn,
    user_id: &str,
    scans: &[RecordScan],
    shipments: &[String],
) -> Result<Vec<String>, ApiError> {
    let (mut stations, mut volunteers) = (BTreeSet::new(), BTreeSet::new());
    for scan in scans {
        if !db::logistics::is_operator(conn, &scan.station_id, user_id)? {
            continue;
        }
        stations.insert(station_scope(&scan.station_id));
        let Some(parcel) = scans::matching_parcel(conn, &scan.station_id, &scan.code)? else {
            continue;
        };
        if let Some(assignee) =
            db::sync::find_task(conn, &parcel.task_id)?.and_then(|t| t.assignee_id)
        {
            volunteers.insert(volunteer_scope(&assignee));
        }
    }
    for task in shipments {
        if let Some(parcel) = db::logistics::find_parcel(conn, task)?.filter(on_shelf) {
            stations.insert(station_scope(&parcel.station_id));
            volunteers.insert(volunteer_scope(user_id));
        }
    }
    Ok(stations.into_iter().chain(volunteers).collect())
}

/// A scan nothing matched yet: in its station's scope as waiting.
pub fn scan_waiting(
    conn: &mut Conn,
    now: Micros,
    scan: &ScanRow,
    touched: &mut Touched,
) -> Result<(), ApiError> {
    write_scan(conn, now, scan, None, touched)
}

/// A scan matched to `parcel` (already at the station, or arriving now).
pub fn scan_matched(
    conn: &mut Conn,
    now: Micros,
    scan: &ScanRow,
    parcel: &ParcelRow,
    touched: &mut Touched,
) -> Result<(), ApiError> {
    write_scan(conn, now, scan, Some(parcel), touched)
}

/// A parcel changed: its record follows (on the shelf from its arrival
/// until forwarded), and so do its scans, which show its instruction.
pub fn parcel_changed(
    conn: &mut Conn,
    now: Micros,
    parcel: &ParcelRow,
    touched: &mut Touched,
) -> Result<(), ApiError> {
    let on_shelf = on_shelf(parcel);
    let existing = db::station_sync::of_task(conn, &parcel.task_id)?;
    if !on_shelf && existing.iter().all(|r| r.scope.is_none()) {
        // Never on a shelf, or gone from it: nothing a station holds.
        return Ok(());
    }
    for row in &existing {
        // Under another code or at another station (routed anew): gone.
        let stale = row.kind == Kind::StationParcel.as_str()
            && (row.id != parcel.recipient_code || row.station_id != parcel.station_id);
        if stale {
            leave(conn, now, row, touched)?;
        }
    }
    let record = Record::StationParcel(parcel_record(parcel, views::station_parcel(conn, parcel)?));
    put(
        conn,
        now,
        &record,
        &parcel.station_id,
        Some(&parcel.task_id),
        on_shelf,
        touched,
    )?;
    for scan in db::logistics::scans_of_task(conn, &parcel.task_id)? {
        write_scan(conn, now, &scan, Some(parcel), touched)?;
    }
    Ok(())
}

/// Locks the tasks of the parcels on shelves bound for `lab`, before the
/// lab's name or address changes (the lock order: tasks first); returns
/// them for [`destination_changed`].
pub fn lock_bound_for(conn: &mut Conn, lab: &str) -> Result<Vec<String>, ApiError> {
    let parcels = db::logistics::shelved_for_lab(conn, lab)?;
    let tasks: BTreeSet<String> = parcels.iter().map(|p| p.task_id.clone()).collect();
    db::sync::lock_tasks(conn, &tasks)?;
    // Then the stations' scopes, in order (their parcels come in task
    // order).
    let stations: BTreeSet<String> = parcels
        .iter()
        .map(|p| station_scope(&p.station_id))
        .collect();
    db::sync::lock_scopes(conn, &stations.into_iter().collect::<Vec<_>>())?;
    Ok(tasks.into_iter().collect())
}

/// The lab's new name or address reaches the records of those parcels
/// (read again under their locks: one forwarded meanwhile stays gone).
pub fn destination_changed(
    conn: &mut Conn,
    now: Micros,
    tasks: &[String],
    touched: &mut Touched,
) -> Result<(), ApiError> {
    for task in tasks {
        if let Some(parcel) = db::logistics::find_parcel(conn, task)? {
            parcel_changed(conn, now, &parcel, touched)?;
        }
    }
    Ok(())
}

/// A parcel is on its station's shelf between its arrival scan and its
/// forwarding.
fn on_shelf(parcel: &ParcelRow) -> bool {
    Stage::parse(&parcel.stage) == Stage::AtStation
}

fn write_scan(
    conn: &mut Conn,
    now: Micros,
    scan: &ScanRow,
    parcel: Option<&ParcelRow>,
    touched: &mut Touched,
) -> Result<(), ApiError> {
    let in_scope = parcel.is_none_or(|p| on_shelf(p) && p.station_id == scan.station_id);
    let record = scan_record(scan, parcel);
    let task = parcel.map(|p| p.task_id.as_str());
    put(
        conn,
        now,
        &record,
        &scan.station_id,
        task,
        in_scope,
        touched,
    )
}

/// A scan as its station's scanner holds it.
fn scan_record(scan: &ScanRow, parcel: Option<&ParcelRow>) -> Record {
    Record::StationScan(StationScan {
        id: scan.id.clone(),
        station_id: scan.station_id.clone(),
        code: scan.code.clone(),
        condition: Condition::parse(&scan.condition),
        note: scan.note.clone(),
        photos: serde_json::from_str(&scan.photos).unwrap_or_default(),
        scanned_at_us: scan.scanned_at,
        status: if parcel.is_some() {
            ScanStatus::Matched
        } else {
            ScanStatus::Waiting
        },
        parcel: parcel.map(|p| p.recipient_code.clone()),
        instruction: parcel.map_or(Instruction::Hold, |p| instruction(views::instruction(p))),
        received_at_us: Some(scan.received_at),
    })
}

/// The station's view of a parcel as a synced record.
fn parcel_record(parcel: &ParcelRow, view: views::StationParcel) -> StationParcel {
    let micros = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(to_micros);
    StationParcel {
        recipient_code: view.recipient_code,
        station_id: parcel.station_id.clone(),
        tracking_number: view.tracking_number,
        stage: stage(view.stage),
        condition: view.condition.as_deref().map(Condition::parse),
        sample_code: view.sample_code,
        instruction: instruction(view.instruction),
        destination: view.destination.map(|d| Destination {
            name: d.name,
            address: d.address,
        }),
        witness_required: view.witness_required,
        sealed_at_us: micros(view.sealed_at),
        received_at_us: micros(view.received_at),
        outgoing_carrier: view.outgoing_carrier,
        outgoing_tracking_number: view.outgoing_tracking_number,
        forwarded_at_us: micros(view.forwarded_at),
    }
}

fn instruction(i: views::Instruction) -> Instruction {
    match i {
        views::Instruction::Hold => Instruction::Hold,
        views::Instruction::WitnessFirst => Instruction::WitnessFirst,
        views::Instruction::RelabelAndForward => Instruction::RelabelAndForward,
        views::Instruction::Done => Instruction::Done,
    }
}

fn stage(s: Stage) -> ParcelStage {
    match s {
        Stage::Awaiting => ParcelStage::Awaiting,
        Stage::AtStation => ParcelStage::AtStation,
        Stage::Forwarded => ParcelStage::Forwarded,
        Stage::AtLab => ParcelStage::AtLab,
        Stage::Tested => ParcelStage::Tested,
        Stage::Published => ParcelStage::Published,
    }
}

/// Writes `record` of `station`, in the station's scope or out of it. An
/// unchanged record bumps nothing; one leaving the scope leaves a
/// tombstone there; one out of scope that was never in it is not stored.
fn put(
    conn: &mut Conn,
    now: Micros,
    record: &Record,
    station: &str,
    task: Option<&str>,
    in_scope: bool,
    touched: &mut Touched,
) -> Result<(), ApiError> {
    let kind = record
        .kind()
        .filter(|k| k.is_station())
        .ok_or_else(|| ApiError::Internal("not a station record".into()))?;
    let id = record.id();
    let before = db::station_sync::find(conn, kind.as_str(), id)?;
    let scope = in_scope.then(|| station_scope(station));
    let doc = serde_json::to_string(record)
        .map_err(|e| ApiError::Internal(format!("cannot encode a record: {e}")))?;
    match &before {
        None if scope.is_none() => return Ok(()),
        Some(b) if b.scope == scope && (b.doc == doc || scope.is_none()) => return Ok(()),
        Some(b) if b.scope.is_some() && b.scope != scope => leave(conn, now, b, touched)?,
        _ => {}
    }
    let version = match &scope {
        Some(s) => {
            touched.insert(s.clone());
            db::sync::bump_scope(conn, s)?
        }
        None => before.as_ref().map_or(0, |b| b.version),
    };
    db::station_sync::save(
        conn,
        &StationRecordRow {
            kind: kind.as_str().to_owned(),
            id: id.to_owned(),
            station_id: station.to_owned(),
            task_id: task.map(str::to_owned),
            scope,
            version,
            doc,
            created_at: before.as_ref().map_or(now, |b| b.created_at),
            updated_at: now,
        },
    )?;
    Ok(())
}

/// Takes a record out of the scope it is in: a tombstone there, at a new
/// version.
fn leave(
    conn: &mut Conn,
    now: Micros,
    row: &StationRecordRow,
    touched: &mut Touched,
) -> Result<(), ApiError> {
    let Some(scope) = &row.scope else {
        return Ok(());
    };
    let version = db::sync::bump_scope(conn, scope)?;
    db::sync::insert_tombstone(conn, scope, version, &row.kind, &row.id, now)?;
    touched.insert(scope.clone());
    db::station_sync::save(
        conn,
        &StationRecordRow {
            scope: None,
            updated_at: now,
            ..row.clone()
        },
    )?;
    Ok(())
}
