//! SQL of the relay stations' synced records (`station_records`): each
//! station's scans and the parcels on its shelf, as the station's scanner
//! receives them. What goes in them and into which scope is decided in
//! `crate::logistics::station_sync`; this module only reads and writes rows.

use diesel::prelude::*;

use super::{
    Conn,
    schema::station_records,
    sync::{self, ScopeChange},
    time::Micros,
};
use crate::with_conn;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = station_records)]
pub struct StationRecordRow {
    /// `station_scan` or `station_parcel`.
    pub kind: String,
    /// A scan's device-made id; a parcel's recipient code.
    pub id: String,
    pub station_id: String,
    /// The parcel's task: the server's link, never sent to the station.
    pub task_id: Option<String>,
    /// `None` once the record left the station's scope.
    pub scope: Option<String>,
    pub version: i64,
    pub doc: String,
    pub created_at: Micros,
    pub updated_at: Micros,
}

pub fn find(conn: &mut Conn, kind: &str, id: &str) -> QueryResult<Option<StationRecordRow>> {
    with_conn!(conn, c => station_records::table
        .find((kind, id))
        .select(StationRecordRow::as_select())
        .first(c)
        .optional())
}

/// The records of a task's parcel and its matched scans, in a stable order.
pub fn of_task(conn: &mut Conn, task_id: &str) -> QueryResult<Vec<StationRecordRow>> {
    with_conn!(conn, c => station_records::table
        .filter(station_records::task_id.eq(task_id))
        .order((station_records::kind.asc(), station_records::id.asc()))
        .select(StationRecordRow::as_select())
        .load(c))
}

/// Writes a record: inserted, or everything but its key and creation time
/// replaced.
pub fn save(conn: &mut Conn, row: &StationRecordRow) -> QueryResult<()> {
    with_conn!(conn, c => diesel::insert_into(station_records::table)
        .values(row)
        .on_conflict((station_records::kind, station_records::id))
        .do_update()
        .set((
            station_records::station_id.eq(&row.station_id),
            station_records::task_id.eq(&row.task_id),
            station_records::scope.eq(&row.scope),
            station_records::version.eq(row.version),
            station_records::doc.eq(&row.doc),
            station_records::updated_at.eq(row.updated_at),
        ))
        .execute(c))?;
    Ok(())
}

/// Up to `limit` changes of a station's `scope` after `after`, in version
/// order (its removes are ordinary sync tombstones).
pub fn changes_since(
    conn: &mut Conn,
    scope: &str,
    after: i64,
    limit: i64,
) -> QueryResult<Vec<ScopeChange>> {
    let puts: Vec<(i64, String, String, String)> = with_conn!(conn, c => station_records::table
        .filter(station_records::scope.eq(scope))
        .filter(station_records::version.gt(after))
        .order(station_records::version.asc())
        .limit(limit)
        .select((
            station_records::version,
            station_records::kind,
            station_records::id,
            station_records::doc,
        ))
        .load(c))?;
    sync::with_removes(conn, scope, after, limit, puts)
}
