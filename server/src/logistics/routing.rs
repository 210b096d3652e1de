//! Where a parcel goes: when a campaign's task is accepted it gets a
//! recipient code and the relay station for the volunteer's region, and
//! the volunteer's app gets both with the task through sync. When the
//! volunteer's tracking number arrives, scans that were waiting for it are
//! matched.
//!
//! This runs inside the sync write path (`sync::store::write_record`), in
//! the same transaction as the record that triggered it. Must never: put
//! anything about the volunteer on the parcel row, or route a task whose
//! campaign names no station.

use sync_protocol::records::{Delivery, Record, Shipment, Status, Task};

use super::{Stage, codes};
use crate::{
    custody,
    db::{
        self, Conn,
        logistics::{ParcelRow, StationRow},
        sync::TaskRow,
        time::Micros,
    },
    error::ApiError,
    sync::Touched,
};

/// The job that matches waiting scans once a tracking number is known.
pub const MATCH_JOB: &str = "logistics.match";

/// Called for every synced record written (`first`: it is new), before
/// its scope is bumped;
/// returns the record to store instead when the server adds to it (a
/// task's delivery address).
pub fn on_record_write(
    conn: &mut Conn,
    now: Micros,
    record: &Record,
    task: &TaskRow,
    first: bool,
    touched: &mut Touched,
) -> Result<Option<Record>, ApiError> {
    match record {
        Record::Task(t) => route(conn, now, t, task),
        Record::Shipment(s) => {
            shipped(conn, now, s, touched)?;
            Ok(None)
        }
        Record::Purchase(p)
            if first && db::campaigns::find_campaign_task(conn, &p.task_id)?.is_some() =>
        {
            let event = custody::Event::new(custody::kinds::PURCHASE_RECORDED, &p.task_id)
                .with("purchase", &p.id)
                .with("order_number", &p.order_number.value)
                .with_int("amount", p.amount.value.minor)
                .with("currency", &p.amount.value.currency);
            custody::append(conn, now, event)?;
            Ok(None)
        }
        _ => Ok(None),
    }
}

/// Whether a task at this status needs somewhere to send its parcel.
fn needs_route(status: Status) -> bool {
    !status.ends_generation() && status != Status::Offered
}

fn route(
    conn: &mut Conn,
    now: Micros,
    t: &Task,
    task: &TaskRow,
) -> Result<Option<Record>, ApiError> {
    if !needs_route(t.status.status) {
        return Ok(None);
    }
    let generation = i32::try_from(t.status.generation).unwrap_or(i32::MAX);
    let existing = db::logistics::find_parcel(conn, &t.id)?;
    let parcel = match existing {
        Some(p) if p.generation == generation || p.stage != Stage::Awaiting.as_str() => p,
        // A new generation (reopened, reassigned) before anything arrived:
        // a new code, perhaps another station.
        stale => match new_route(conn, now, t, task, generation, stale)? {
            Some(p) => p,
            None => return Ok(None),
        },
    };
    let station = db::logistics::find_station(conn, &parcel.station_id)?
        .ok_or_else(|| ApiError::Internal(format!("parcel {} has no station", t.id)))?;
    let delivery = Delivery {
        recipient_code: parcel.recipient_code.clone(),
        station_name: station.name.clone(),
        address: station.address.lines().map(str::to_string).collect(),
    };
    if t.delivery.as_ref() == Some(&delivery) {
        return Ok(None);
    }
    let mut t = t.clone();
    t.delivery = Some(delivery);
    Ok(Some(Record::Task(t)))
}

/// Picks the station and a fresh recipient code; `None` for a task outside
/// a campaign or in a campaign without stations.
fn new_route(
    conn: &mut Conn,
    now: Micros,
    t: &Task,
    task: &TaskRow,
    generation: i32,
    stale: Option<ParcelRow>,
) -> Result<Option<ParcelRow>, ApiError> {
    let Some(link) = db::campaigns::find_campaign_task(conn, &t.id)? else {
        return Ok(None);
    };
    let Some(campaign) = db::campaigns::find_campaign(conn, &link.campaign_id)? else {
        return Ok(None);
    };
    let ids: Vec<String> = crate::campaigns::parse_list(&campaign.relay_stations, "stations")?;
    let stations: Vec<StationRow> = db::logistics::stations_by_ids(conn, &ids)?
        .into_iter()
        .filter(|s| s.active)
        .collect();
    let profile = match &task.assignee_id {
        Some(v) => db::campaigns::find_profile(conn, v)?,
        None => None,
    };
    let Some(station) = choose_station(&stations, &ids, profile.as_ref()) else {
        return Ok(None);
    };
    let candidate = db::campaigns::find_candidate(conn, &link.candidate_id)?;
    let code = codes::fresh_recipient_code(conn)?;
    let row = ParcelRow {
        task_id: t.id.clone(),
        campaign_id: campaign.id.clone(),
        generation,
        recipient_code: code,
        station_id: station.id.clone(),
        lab_id: campaign.lab.clone(),
        category_id: candidate.map(|c| c.category_id).unwrap_or_default(),
        carrier: None,
        tracking: None,
        stage: Stage::Awaiting.as_str().to_string(),
        condition: None,
        witness_required: campaign.witnessed_opening,
        witness: None,
        sealed_at: None,
        sample_code: None,
        out_carrier: None,
        out_tracking: None,
        shipped_at: None,
        received_at: None,
        forwarded_at: None,
        lab_received_at: None,
        created_at: stale.as_ref().map_or(now, |s| s.created_at),
        updated_at: now,
    };
    if stale.is_some() {
        db::logistics::update_parcel(conn, &row)?;
    } else {
        db::logistics::insert_parcel(conn, &row)?;
    }
    custody::append(
        conn,
        now,
        custody::Event::new(custody::kinds::TASK_ACCEPTED, &t.id)
            .with("station", &station.id)
            .with_int("generation", i64::from(generation)),
    )?;
    Ok(Some(row))
}

/// The station for a volunteer: the campaign's station in their region,
/// else their home station if the campaign uses it, else the campaign's
/// first station (in the order the campaign lists them).
fn choose_station<'a>(
    stations: &'a [StationRow],
    order: &[String],
    profile: Option<&db::campaigns::ProfileRow>,
) -> Option<&'a StationRow> {
    if let Some(p) = profile {
        let region = p.region.trim().to_lowercase();
        if let Some(s) = stations
            .iter()
            .find(|s| s.region.trim().to_lowercase() == region)
        {
            return Some(s);
        }
        if let Some(home) = p.home_station.as_deref().map(str::trim)
            && let Some(s) = stations.iter().find(|s| s.id == home || s.name == home)
        {
            return Some(s);
        }
    }
    order
        .iter()
        .find_map(|id| stations.iter().find(|s| &s.id == id))
}

/// The volunteer recorded (or changed) the carrier and tracking number.
fn shipped(
    conn: &mut Conn,
    now: Micros,
    s: &Shipment,
    touched: &mut Touched,
) -> Result<(), ApiError> {
    let Some(mut parcel) = db::logistics::find_parcel(conn, &s.task_id)? else {
        return Ok(());
    };
    let tracking = s
        .tracking_number
        .as_ref()
        .and_then(|t| codes::normalise_tracking(&t.value));
    let carrier = s
        .carrier
        .as_ref()
        .map(|c| c.value.trim().to_string())
        .filter(|c| !c.is_empty());
    if tracking == parcel.tracking && carrier == parcel.carrier {
        return Ok(());
    }
    let first = parcel.shipped_at.is_none() && tracking.is_some();
    parcel.tracking = tracking.clone();
    parcel.carrier = carrier;
    if first {
        parcel.shipped_at = Some(now);
    }
    parcel.updated_at = now;
    db::logistics::update_parcel(conn, &parcel)?;
    if first {
        custody::append(
            conn,
            now,
            custody::Event::new(custody::kinds::SHIPPED, &parcel.task_id)
                .with("carrier", parcel.carrier.as_deref().unwrap_or_default())
                .with("tracking", parcel.tracking.as_deref().unwrap_or_default()),
        )?;
    }
    // A parcel already on the station's shelf shows the new number there
    // (the station's scope before the volunteer's, which the caller bumps
    // next: the lock order).
    super::station_sync::parcel_changed(conn, now, &parcel, touched)?;
    if let Some(tracking) = tracking
        && !db::logistics::unmatched_scans_of(conn, &tracking)?.is_empty()
    {
        // Scans made before the number arrived: matched by a job, in its own
        // transaction, so this sync push stays small.
        let key = format!("{MATCH_JOB}:{}:{tracking}", parcel.task_id);
        crate::jobs::enqueue(
            conn,
            db::time::from_micros(now),
            MATCH_JOB,
            &serde_json::json!({ "task_id": parcel.task_id }),
            crate::jobs::Enqueue {
                run_at: None,
                dedupe_key: Some(&key),
                max_attempts: None,
            },
        )?;
    }
    Ok(())
}
