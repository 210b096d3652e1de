//! SQL of logistics: relay stations and labs with their staff, parcels,
//! scans, lab results and parcel exceptions. Who may see which field is
//! decided in `crate::logistics`; this module only reads and writes rows.

use diesel::prelude::*;

use super::{
    Conn,
    schema::{
        lab_inspectors, lab_results, labs, parcel_exceptions, parcels, scan_photos, scans,
        station_operators, station_photos, stations,
    },
    time::Micros,
};
use crate::with_conn;

/// A relay station or a lab: the two are the same shape.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = stations)]
pub struct StationRow {
    pub id: String,
    pub name: String,
    pub region: String,
    pub address: String,
    pub active: bool,
    pub created_at: Micros,
    pub updated_at: Micros,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = labs)]
pub struct LabRow {
    pub id: String,
    pub name: String,
    pub region: String,
    pub address: String,
    pub active: bool,
    pub created_at: Micros,
    pub updated_at: Micros,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = parcels, treat_none_as_null = true)]
pub struct ParcelRow {
    pub task_id: String,
    pub campaign_id: String,
    pub generation: i32,
    pub recipient_code: String,
    pub station_id: String,
    pub lab_id: Option<String>,
    pub category_id: String,
    pub carrier: Option<String>,
    pub tracking: Option<String>,
    pub stage: String,
    pub condition: Option<String>,
    pub witness_required: bool,
    pub witness: Option<String>,
    pub sealed_at: Option<Micros>,
    pub sample_code: Option<String>,
    pub out_carrier: Option<String>,
    pub out_tracking: Option<String>,
    pub shipped_at: Option<Micros>,
    pub received_at: Option<Micros>,
    pub forwarded_at: Option<Micros>,
    pub lab_received_at: Option<Micros>,
    pub created_at: Micros,
    pub updated_at: Micros,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = scans)]
pub struct ScanRow {
    pub id: String,
    pub station_id: String,
    pub operator_id: String,
    pub code: String,
    pub code_kind: String,
    pub condition: String,
    pub note: String,
    pub photos: String,
    pub scanned_at: Micros,
    pub received_at: Micros,
    pub task_id: Option<String>,
    pub matched_at: Option<Micros>,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = lab_results, treat_none_as_null = true)]
pub struct LabResultRow {
    pub sample_code: String,
    pub task_id: String,
    pub lab_id: String,
    pub verdict: String,
    pub failed_items: String,
    pub standard: String,
    pub notes: String,
    pub report_sha256: Option<String>,
    pub report_media_type: Option<String>,
    pub recorded_by: String,
    pub recorded_at: Micros,
    pub published_by: Option<String>,
    pub published_at: Option<Micros>,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = parcel_exceptions)]
pub struct ExceptionRow {
    pub id: String,
    pub task_id: String,
    pub kind: String,
    pub note: String,
    pub reported_by_role: String,
    pub reported_by: Option<String>,
    pub reported_at: Micros,
    pub resolved_at: Option<Micros>,
    pub resolution: Option<String>,
}

// ---- stations and labs -----------------------------------------------------

pub fn insert_station(conn: &mut Conn, row: &StationRow) -> QueryResult<()> {
    with_conn!(conn, c => diesel::insert_into(stations::table).values(row).execute(c))?;
    Ok(())
}

pub fn update_station(conn: &mut Conn, row: &StationRow) -> QueryResult<()> {
    with_conn!(conn, c => diesel::update(stations::table.find(&row.id)).set(row).execute(c))?;
    Ok(())
}

pub fn find_station(conn: &mut Conn, id: &str) -> QueryResult<Option<StationRow>> {
    with_conn!(conn, c => stations::table.find(id).select(StationRow::as_select()).first(c).optional())
}

pub fn station_by_name(conn: &mut Conn, name: &str) -> QueryResult<Option<StationRow>> {
    with_conn!(conn, c => stations::table
        .filter(stations::name.eq(name))
        .select(StationRow::as_select())
        .first(c)
        .optional())
}

pub fn all_stations(conn: &mut Conn) -> QueryResult<Vec<StationRow>> {
    with_conn!(conn, c => stations::table
        .order(stations::name.asc())
        .select(StationRow::as_select())
        .load(c))
}

pub fn stations_by_ids(conn: &mut Conn, ids: &[String]) -> QueryResult<Vec<StationRow>> {
    with_conn!(conn, c => stations::table
        .filter(stations::id.eq_any(ids))
        .order(stations::name.asc())
        .select(StationRow::as_select())
        .load(c))
}

pub fn insert_lab(conn: &mut Conn, row: &LabRow) -> QueryResult<()> {
    with_conn!(conn, c => diesel::insert_into(labs::table).values(row).execute(c))?;
    Ok(())
}

pub fn update_lab(conn: &mut Conn, row: &LabRow) -> QueryResult<()> {
    with_conn!(conn, c => diesel::update(labs::table.find(&row.id)).set(row).execute(c))?;
    Ok(())
}

pub fn find_lab(conn: &mut Conn, id: &str) -> QueryResult<Option<LabRow>> {
    with_conn!(conn, c => labs::table.find(id).select(LabRow::as_select()).first(c).optional())
}

pub fn lab_by_name(conn: &mut Conn, name: &str) -> QueryResult<Option<LabRow>> {
    with_conn!(conn, c => labs::table
        .filter(labs::name.eq(name))
        .select(LabRow::as_select())
        .first(c)
        .optional())
}

pub fn all_labs(conn: &mut Conn) -> QueryResult<Vec<LabRow>> {
    with_conn!(conn, c => labs::table.order(labs::name.asc()).select(LabRow::as_select()).load(c))
}

/// Replaces a station's operators.
pub fn set_operators(conn: &mut Conn, station: &str, users: &[String]) -> QueryResult<()> {
    with_conn!(conn, c => {
        diesel::delete(station_operators::table.filter(station_operators::station_id.eq(station)))
            .execute(c)?;
        for user in users {
            diesel::insert_into(station_operators::table)
                .values((
                    station_operators::station_id.eq(station),
                    station_operators::user_id.eq(user),
                ))
                .execute(c)?;
        }
        Ok(())
    })
}

pub fn operators(conn: &mut Conn, station: &str) -> QueryResult<Vec<String>> {
    with_conn!(conn, c => station_operators::table
        .filter(station_operators::station_id.eq(station))
        .order(station_operators::user_id.asc())
        .select(station_operators::user_id)
        .load(c))
}

pub fn is_operator(conn: &mut Conn, station: &str, user: &str) -> QueryResult<bool> {
    with_conn!(conn, c => diesel::select(diesel::dsl::exists(
        station_operators::table
            .filter(station_operators::station_id.eq(station))
            .filter(station_operators::user_id.eq(user)),
    ))
    .get_result(c))
}

/// The stations a user operates.
pub fn stations_of(conn: &mut Conn, user: &str) -> QueryResult<Vec<String>> {
    with_conn!(conn, c => station_operators::table
        .filter(station_operators::user_id.eq(user))
        .order(station_operators::station_id.asc())
        .select(station_operators::station_id)
        .load(c))
}

/// Replaces a lab's inspectors.
pub fn set_inspectors(conn: &mut Conn, lab: &str, users: &[String]) -> QueryResult<()> {
    with_conn!(conn, c => {
        diesel::delete(lab_inspectors::table.filter(lab_inspectors::lab_id.eq(lab))).execute(c)?;
        for user in users {
            diesel::insert_into(lab_inspectors::table)
                .values((lab_inspectors::lab_id.eq(lab), lab_inspectors::user_id.eq(user)))
                .execute(c)?;
        }
        Ok(())
    })
}

pub fn inspectors(conn: &mut Conn, lab: &str) -> QueryResult<Vec<String>> {
    with_conn!(conn, c => lab_inspectors::table
        .filter(lab_inspectors::lab_id.eq(lab))
        .order(lab_inspectors::user_id.asc())
        .select(lab_inspectors::user_id)
        .load(c))
}

/// The labs a user inspects for.
pub fn labs_of(conn: &mut Conn, user: &str) -> QueryResult<Vec<String>> {
    with_conn!(conn, c => lab_inspectors::table
        .filter(lab_inspectors::user_id.eq(user))
        .order(lab_inspectors::lab_id.asc())
        .select(lab_inspectors::lab_id)
        .load(c))
}

pub fn is_inspector(conn: &mut Conn, lab: &str, user: &str) -> QueryResult<bool> {
    with_conn!(conn, c => diesel::select(diesel::dsl::exists(
        lab_inspectors::table
            .filter(lab_inspectors::lab_id.eq(lab))
            .filter(lab_inspectors::user_id.eq(user)),
    ))
    .get_result(c))
}

// ---- parcels ---------------------------------------------------------------

pub fn insert_parcel(conn: &mut Conn, row: &ParcelRow) -> QueryResult<()> {
    with_conn!(conn, c => diesel::insert_into(parcels::table).values(row).execute(c))?;
    Ok(())
}

pub fn update_parcel(conn: &mut Conn, row: &ParcelRow) -> QueryResult<()> {
    with_conn!(conn, c => diesel::update(parcels::table.find(&row.task_id)).set(row).execute(c))?;
    Ok(())
}

pub fn find_parcel(conn: &mut Conn, task_id: &str) -> QueryResult<Option<ParcelRow>> {
    with_conn!(conn, c => parcels::table.find(task_id).select(ParcelRow::as_select()).first(c).optional())
}

pub fn parcel_by_recipient_code(conn: &mut Conn, code: &str) -> QueryResult<Option<ParcelRow>> {
    with_conn!(conn, c => parcels::table
        .filter(parcels::recipient_code.eq(code))
        .select(ParcelRow::as_select())
        .first(c)
        .optional())
}

pub fn parcel_by_sample_code(conn: &mut Conn, code: &str) -> QueryResult<Option<ParcelRow>> {
    with_conn!(conn, c => parcels::table
        .filter(parcels::sample_code.eq(code))
        .select(ParcelRow::as_select())
        .first(c)
        .optional())
}

/// Parcels whose incoming tracking number is `tracking` (normalised).
pub fn parcels_by_tracking(conn: &mut Conn, tracking: &str) -> QueryResult<Vec<ParcelRow>> {
    with_conn!(conn, c => parcels::table
        .filter(parcels::tracking.eq(tracking))
        .select(ParcelRow::as_select())
        .load(c))
}

pub fn recipient_code_taken(conn: &mut Conn, code: &str) -> QueryResult<bool> {
    with_conn!(conn, c => diesel::select(diesel::dsl::exists(
        parcels::table.filter(parcels::recipient_code.eq(code)),
    ))
    .get_result(c))
}

pub fn sample_code_taken(conn: &mut Conn, code: &str) -> QueryResult<bool> {
    with_conn!(conn, c => diesel::select(diesel::dsl::exists(
        parcels::table.filter(parcels::sample_code.eq(code)),
    ))
    .get_result(c))
}

/// A station's parcels, optionally at one stage, newest first.
pub fn station_parcels(
    conn: &mut Conn,
    station: &str,
    stage: Option<&str>,
) -> QueryResult<Vec<ParcelRow>> {
    with_conn!(conn, c => {
        let mut q = parcels::table
            .filter(parcels::station_id.eq(station))
            .select(ParcelRow::as_select())
            .order(parcels::updated_at.desc())
            .into_boxed();
        if let Some(stage) = stage {
            q = q.filter(parcels::stage.eq(stage.to_string()));
        }
        q.load(c)
    })
}

/// The parcels sent to a lab (a sample code and past the station).
pub fn lab_parcels(conn: &mut Conn, lab: &str) -> QueryResult<Vec<ParcelRow>> {
    with_conn!(conn, c => parcels::table
        .filter(parcels::lab_id.eq(lab))
        .filter(parcels::sample_code.is_not_null())
        .filter(parcels::stage.ne("awaiting"))
        .filter(parcels::stage.ne("at_station"))
        .order(parcels::updated_at.desc())
        .select(ParcelRow::as_select())
        .load(c))
}

/// The parcels on stations' shelves bound for a lab (arrived, not yet
/// forwarded).
pub fn shelved_for_lab(conn: &mut Conn, lab: &str) -> QueryResult<Vec<ParcelRow>> {
    with_conn!(conn, c => parcels::table
        .filter(parcels::lab_id.eq(lab))
        .filter(parcels::stage.eq("at_station"))
        .select(ParcelRow::as_select())
        .load(c))
}

pub fn campaign_parcels(conn: &mut Conn, campaign: &str) -> QueryResult<Vec<ParcelRow>> {
    with_conn!(conn, c => parcels::table
        .filter(parcels::campaign_id.eq(campaign))
        .order(parcels::task_id.asc())
        .select(ParcelRow::as_select())
        .load(c))
}

/// Shipped parcels no station has scanned since before `cutoff`.
pub fn overdue_parcels(conn: &mut Conn, cutoff: Micros) -> QueryResult<Vec<ParcelRow>> {
    with_conn!(conn, c => parcels::table
        .filter(parcels::stage.eq("awaiting"))
        .filter(parcels::shipped_at.lt(cutoff))
        .select(ParcelRow::as_select())
        .load(c))
}

// ---- scans -----------------------------------------------------------------

/// Inserts a scan unless one with its id exists; whether it was new.
pub fn insert_scan(conn: &mut Conn, row: &ScanRow) -> QueryResult<bool> {
    let n = with_conn!(conn, c => diesel::insert_into(scans::table)
        .values(row)
        .on_conflict(scans::id)
        .do_nothing()
        .execute(c))?;
    Ok(n == 1)
}

pub fn find_scan(conn: &mut Conn, id: &str) -> QueryResult<Option<ScanRow>> {
    with_conn!(conn, c => scans::table.find(id).select(ScanRow::as_select()).first(c).optional())
}

/// Unmatched scans of `code`, in the order they were made.
pub fn unmatched_scans_of(conn: &mut Conn, code: &str) -> QueryResult<Vec<ScanRow>> {
    with_conn!(conn, c => scans::table
        .filter(scans::code.eq(code))
        .filter(scans::task_id.is_null())
        .order((scans::scanned_at.asc(), scans::id.asc()))
        .select(ScanRow::as_select())
        .load(c))
}

pub fn unmatched_scans_at(conn: &mut Conn, station: &str) -> QueryResult<Vec<ScanRow>> {
    with_conn!(conn, c => scans::table
        .filter(scans::station_id.eq(station))
        .filter(scans::task_id.is_null())
        .order((scans::scanned_at.asc(), scans::id.asc()))
        .select(ScanRow::as_select())
        .load(c))
}

pub fn match_scan(conn: &mut Conn, id: &str, task: &str, now: Micros) -> QueryResult<()> {
    with_conn!(conn, c => diesel::update(scans::table.find(id))
        .set((scans::task_id.eq(task), scans::matched_at.eq(now)))
        .execute(c))?;
    Ok(())
}

pub fn scans_of_task(conn: &mut Conn, task: &str) -> QueryResult<Vec<ScanRow>> {
    with_conn!(conn, c => scans::table
        .filter(scans::task_id.eq(task))
        .order((scans::scanned_at.asc(), scans::id.asc()))
        .select(ScanRow::as_select())
        .load(c))
}

// ---- station photos --------------------------------------------------------

/// A relay station's photo whose file passed the media pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = station_photos)]
pub struct StationPhotoRow {
    pub id: String,
    pub owner_id: String,
    pub upload_id: String,
    pub original_sha256: String,
    pub original_key: Option<String>,
    pub served_sha256: String,
    pub served_media_type: String,
    pub served_size: i64,
    pub thumbnail_sha256: Option<String>,
    pub created_at: Micros,
}

/// Inserts a photo unless one with its id exists; whether it was new.
pub fn insert_station_photo(conn: &mut Conn, row: &StationPhotoRow) -> QueryResult<bool> {
    let n = with_conn!(conn, c => diesel::insert_into(station_photos::table)
        .values(row)
        .on_conflict(station_photos::id)
        .do_nothing()
        .execute(c))?;
    Ok(n == 1)
}

pub fn find_station_photo(conn: &mut Conn, id: &str) -> QueryResult<Option<StationPhotoRow>> {
    with_conn!(conn, c => station_photos::table
        .find(id)
        .select(StationPhotoRow::as_select())
        .first(c)
        .optional())
}

/// Records that `scan` names `photos`.
pub fn link_scan_photos(conn: &mut Conn, scan: &str, photos: &[String]) -> QueryResult<()> {
    let rows: Vec<_> = photos
        .iter()
        .map(|p| (scan_photos::scan_id.eq(scan), scan_photos::photo_id.eq(p)))
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    with_conn!(conn, c => diesel::insert_into(scan_photos::table)
        .values(&rows)
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(())
}

/// The scans that name `photo`, locked until the commit on PostgreSQL
/// (SQLite's writer excludes the others): a scan matched meanwhile waits
/// for this transaction, or this one sees it matched.
pub fn scans_naming_photo(conn: &mut Conn, photo: &str) -> QueryResult<Vec<ScanRow>> {
    let named = scan_photos::table
        .filter(scan_photos::photo_id.eq(photo))
        .select(scan_photos::scan_id);
    match conn {
        Conn::Pg(c) => scans::table
            .filter(scans::id.eq_any(named))
            .order(scans::id.asc())
            .select(ScanRow::as_select())
            .for_update()
            .load(&mut **c),
        Conn::Sqlite(c) => scans::table
            .filter(scans::id.eq_any(named))
            .order(scans::id.asc())
            .select(ScanRow::as_select())
            .load(&mut **c),
    }
}

/// The photos named by `scans` whose files arrived, with the scan naming
/// each: (scan id, photo).
pub fn photos_of_scans(
    conn: &mut Conn,
    scan_ids: &[String],
) -> QueryResult<Vec<(String, StationPhotoRow)>> {
    with_conn!(conn, c => scan_photos::table
        .inner_join(station_photos::table.on(station_photos::id.eq(scan_photos::photo_id)))
        .filter(scan_photos::scan_id.eq_any(scan_ids))
        .order((scan_photos::scan_id.asc(), station_photos::id.asc()))
        .select((scan_photos::scan_id, StationPhotoRow::as_select()))
        .load(c))
}

/// Whether a scan at one of `user`'s stations names `photo`.
pub fn photo_seen_at_stations_of(conn: &mut Conn, photo: &str, user: &str) -> QueryResult<bool> {
    let stations = station_operators::table
        .filter(station_operators::user_id.eq(user))
        .select(station_operators::station_id);
    let named = scan_photos::table
        .filter(scan_photos::photo_id.eq(photo))
        .select(scan_photos::scan_id);
    let n: i64 = with_conn!(conn, c => scans::table
        .filter(scans::id.eq_any(named))
        .filter(scans::station_id.eq_any(stations))
        .count()
        .get_result(c))?;
    Ok(n > 0)
}

// ---- lab results -----------------------------------------------------------

pub fn find_result(conn: &mut Conn, sample: &str) -> QueryResult<Option<LabResultRow>> {
    with_conn!(conn, c => lab_results::table
        .find(sample)
        .select(LabResultRow::as_select())
        .first(c)
        .optional())
}

pub fn upsert_result(conn: &mut Conn, row: &LabResultRow) -> QueryResult<()> {
    with_conn!(conn, c => diesel::insert_into(lab_results::table)
        .values(row)
        .on_conflict(lab_results::sample_code)
        .do_update()
        .set(row)
        .execute(c))?;
    Ok(())
}

/// Results of a campaign's samples, with the parcel each belongs to.
pub fn campaign_results(
    conn: &mut Conn,
    campaign: &str,
) -> QueryResult<Vec<(LabResultRow, ParcelRow)>> {
    with_conn!(conn, c => lab_results::table
        .inner_join(parcels::table)
        .filter(parcels::campaign_id.eq(campaign))
        .order(lab_results::sample_code.asc())
        .select((LabResultRow::as_select(), ParcelRow::as_select()))
        .load(c))
}

// ---- exceptions ------------------------------------------------------------

/// Records an exception unless the same kind is already open for the
/// parcel from the same side; whether it was new.
pub fn insert_exception(conn: &mut Conn, row: &ExceptionRow) -> QueryResult<bool> {
    let open: bool = with_conn!(conn, c => diesel::select(diesel::dsl::exists(
        parcel_exceptions::table
            .filter(parcel_exceptions::task_id.eq(&row.task_id))
            .filter(parcel_exceptions::kind.eq(&row.kind))
            .filter(parcel_exceptions::reported_by_role.eq(&row.reported_by_role))
            .filter(parcel_exceptions::resolved_at.is_null()),
    ))
    .get_result(c))?;
    if open {
        return Ok(false);
    }
    with_conn!(conn, c => diesel::insert_into(parcel_exceptions::table).values(row).execute(c))?;
    Ok(true)
}

pub fn exceptions_of_task(conn: &mut Conn, task: &str) -> QueryResult<Vec<ExceptionRow>> {
    with_conn!(conn, c => parcel_exceptions::table
        .filter(parcel_exceptions::task_id.eq(task))
        .order(parcel_exceptions::reported_at.asc())
        .select(ExceptionRow::as_select())
        .load(c))
}

/// A campaign's exceptions, open ones first.
pub fn campaign_exceptions(
    conn: &mut Conn,
    campaign: &str,
) -> QueryResult<Vec<(ExceptionRow, ParcelRow)>> {
    with_conn!(conn, c => parcel_exceptions::table
        .inner_join(parcels::table)
        .filter(parcels::campaign_id.eq(campaign))
        .order((parcel_exceptions::resolved_at.is_not_null(), parcel_exceptions::reported_at.asc()))
        .select((ExceptionRow::as_select(), ParcelRow::as_select()))
        .load(c))
}

pub fn resolve_exception(
    conn: &mut Conn,
    id: &str,
    resolution: &str,
    now: Micros,
) -> QueryResult<bool> {
    let n = with_conn!(conn, c => diesel::update(
        parcel_exceptions::table
            .find(id)
            .filter(parcel_exceptions::resolved_at.is_null()),
    )
    .set((
        parcel_exceptions::resolved_at.eq(now),
        parcel_exceptions::resolution.eq(resolution),
    ))
    .execute(c))?;
    Ok(n == 1)
}

pub fn find_exception(conn: &mut Conn, id: &str) -> QueryResult<Option<ExceptionRow>> {
    with_conn!(conn, c => parcel_exceptions::table
        .find(id)
        .select(ExceptionRow::as_select())
        .first(c)
        .optional())
}
