//! SQL of offline sync: devices, scope version counters, tasks, synced
//! records, tombstones and the review list. The rules (who may write what,
//! how values merge) live in `crate::sync`; this module only reads and
//! writes rows.

use std::collections::BTreeSet;

use diesel::prelude::*;

use super::{
    Conn,
    schema::{
        campaign_tasks, sync_devices, sync_records, sync_refusals, sync_reviews, sync_scopes,
        sync_tombstones, tasks,
    },
    time::Micros,
};
use crate::with_conn;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sync_devices)]
pub struct DeviceRow {
    pub id: String,
    pub user_id: String,
    pub node: String,
    pub name: String,
    pub last_processed: i64,
    pub last_stamp: Option<String>,
    pub created_at: Micros,
    pub last_push_at: Option<Micros>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = tasks)]
pub struct TaskRow {
    pub id: String,
    pub assignee_id: Option<String>,
    pub generation: i32,
    pub status: String,
    pub created_by: Option<String>,
    pub deadline_at: Option<Micros>,
    pub created_at: Micros,
    pub updated_at: Micros,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sync_records)]
pub struct RecordRow {
    pub kind: String,
    pub id: String,
    pub task_id: String,
    pub author_id: Option<String>,
    pub scope: Option<String>,
    pub version: i64,
    pub doc: String,
    pub dedupe_key: Option<String>,
    pub withdrawn: bool,
    pub created_at: Micros,
    pub updated_at: Micros,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sync_reviews)]
pub struct ReviewRow {
    pub id: String,
    pub reason: String,
    pub task_id: String,
    pub record_kind: Option<String>,
    pub record_id: Option<String>,
    pub details: String,
    pub dedupe_key: String,
    pub created_at: Micros,
    pub resolved_at: Option<Micros>,
    pub resolved_by: Option<String>,
    pub resolution: Option<String>,
}

/// One change of a scope, in version order: a record's current document or
/// a tombstone (`doc == None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeChange {
    pub version: i64,
    pub kind: String,
    pub id: String,
    pub doc: Option<String>,
}

// --- devices --------------------------------------------------------------------

pub fn insert_device(conn: &mut Conn, device: &DeviceRow) -> QueryResult<()> {
    with_conn!(conn, c => diesel::insert_into(sync_devices::table).values(device).execute(c))?;
    Ok(())
}

pub fn find_device(conn: &mut Conn, id: &str) -> QueryResult<Option<DeviceRow>> {
    with_conn!(conn, c => sync_devices::table
        .find(id)
        .select(DeviceRow::as_select())
        .first(c)
        .optional())
}

/// The device, locked until the transaction ends (on SQLite the write
/// transaction already excludes every other writer), so two pushes of one
/// device run one after the other.
pub fn lock_device(conn: &mut Conn, id: &str) -> QueryResult<Option<DeviceRow>> {
    match conn {
        Conn::Pg(c) => sync_devices::table
            .find(id)
            .select(DeviceRow::as_select())
            .for_update()
            .first(&mut **c)
            .optional(),
        Conn::Sqlite(_) => find_device(conn, id),
    }
}

/// The user a stamp's node belongs to (`None` for the server's own node).
pub fn user_of_node(conn: &mut Conn, node: &str) -> QueryResult<Option<String>> {
    with_conn!(conn, c => sync_devices::table
        .filter(sync_devices::node.eq(node))
        .select(sync_devices::user_id)
        .first(c)
        .optional())
}

pub fn record_push(
    conn: &mut Conn,
    id: &str,
    last_processed: i64,
    last_stamp: Option<&str>,
    now: Micros,
) -> QueryResult<()> {
    with_conn!(conn, c => diesel::update(sync_devices::table.find(id))
        .set((
            sync_devices::last_processed.eq(last_processed),
            sync_devices::last_stamp.eq(last_stamp),
            sync_devices::last_push_at.eq(now),
        ))
        .execute(c))?;
    Ok(())
}

/// Remembers that mutation `seq` of a device was refused (or held).
pub fn insert_refusal(
    conn: &mut Conn,
    device_id: &str,
    seq: i64,
    held: bool,
    code: &str,
    message: &str,
    now: Micros,
) -> QueryResult<()> {
    with_conn!(conn, c => diesel::insert_into(sync_refusals::table)
        .values((
            sync_refusals::device_id.eq(device_id),
            sync_refusals::seq.eq(seq),
            sync_refusals::held.eq(held),
            sync_refusals::code.eq(code),
            sync_refusals::message.eq(message),
            sync_refusals::created_at.eq(now),
        ))
        .on_conflict((sync_refusals::device_id, sync_refusals::seq))
        .do_nothing()
        .execute(c))?;
    Ok(())
}

/// The refusals among a device's mutations `from..=to`: (seq, held, code, message).
pub fn refusals(
    conn: &mut Conn,
    device_id: &str,
    from: i64,
    to: i64,
) -> QueryResult<Vec<(i64, bool, String, String)>> {
    with_conn!(conn, c => sync_refusals::table
        .filter(sync_refusals::device_id.eq(device_id))
        .filter(sync_refusals::seq.between(from, to))
        .select((sync_refusals::seq, sync_refusals::held, sync_refusals::code, sync_refusals::message))
        .load(c))
}

// --- scopes ---------------------------------------------------------------------

/// Bumps `scope`'s version and returns the new one. The row stays locked
/// until the transaction ends: writers of one scope commit in version order.
pub fn bump_scope(conn: &mut Conn, scope: &str) -> QueryResult<i64> {
    with_conn!(conn, c => diesel::insert_into(sync_scopes::table)
        .values((sync_scopes::scope.eq(scope), sync_scopes::version.eq(1_i64)))
        .on_conflict(sync_scopes::scope)
        .do_update()
        .set(sync_scopes::version.eq(sync_scopes::version + 1))
        .returning(sync_scopes::version)
        .get_result(c))
}

/// Takes the row locks of `scopes`, in the order given, without changing
/// their versions (a scope never written gets its row at version 0): for a
/// transaction that will write several scopes in an order it cannot choose.
/// On SQLite the write transaction already excludes every other writer.
pub fn lock_scopes(conn: &mut Conn, scopes: &[String]) -> QueryResult<()> {
    let Conn::Pg(c) = conn else {
        return Ok(());
    };
    for scope in scopes {
        diesel::insert_into(sync_scopes::table)
            .values((sync_scopes::scope.eq(scope), sync_scopes::version.eq(0_i64)))
            .on_conflict(sync_scopes::scope)
            .do_update()
            .set(sync_scopes::version.eq(sync_scopes::version))
            .execute(&mut **c)?;
    }
    Ok(())
}

/// The current versions of `scopes` (absent scopes have had no change).
pub fn scope_versions(conn: &mut Conn, scopes: &[String]) -> QueryResult<Vec<(String, i64)>> {
    with_conn!(conn, c => sync_scopes::table
        .filter(sync_scopes::scope.eq_any(scopes))
        .select((sync_scopes::scope, sync_scopes::version))
        .load(c))
}

/// Per scope: (scope, version, pruned_below).
pub fn scope_states(conn: &mut Conn, scopes: &[String]) -> QueryResult<Vec<(String, i64, i64)>> {
    with_conn!(conn, c => sync_scopes::table
        .filter(sync_scopes::scope.eq_any(scopes))
        .select((sync_scopes::scope, sync_scopes::version, sync_scopes::pruned_below))
        .load(c))
}

/// Deletes tombstones made before `horizon` and raises each scope's
/// `pruned_below` past them. Returns how many were deleted.
pub fn prune_tombstones(conn: &mut Conn, horizon: Micros) -> QueryResult<usize> {
    use diesel::dsl::max;
    let old: Vec<(String, Option<i64>)> = with_conn!(conn, c => sync_tombstones::table
        .filter(sync_tombstones::created_at.lt(horizon))
        .group_by(sync_tombstones::scope)
        .select((sync_tombstones::scope, max(sync_tombstones::version)))
        .load(c))?;
    let mut deleted = 0;
    for (scope, version) in old {
        let Some(version) = version else { continue };
        with_conn!(conn, c => diesel::update(
                sync_scopes::table
                    .find(&scope)
                    .filter(sync_scopes::pruned_below.lt(version)),
            )
            .set(sync_scopes::pruned_below.eq(version))
            .execute(c))?;
        deleted += with_conn!(conn, c => diesel::delete(
                sync_tombstones::table
                    .filter(sync_tombstones::scope.eq(&scope))
                    .filter(sync_tombstones::version.le(version)),
            )
            .execute(c))?;
    }
    Ok(deleted)
}

/// Up to `limit` changes of `scope` after `after`, in version order.
pub fn changes_since(
    conn: &mut Conn,
    scope: &str,
    after: i64,
    limit: i64,
) -> QueryResult<Vec<ScopeChange>> {
    let puts: Vec<(i64, String, String, String)> = with_conn!(conn, c => sync_records::table
        .filter(sync_records::scope.eq(scope))
        .filter(sync_records::version.gt(after))
        .order(sync_records::version.asc())
        .limit(limit)
        .select((sync_records::version, sync_records::kind, sync_records::id, sync_records::doc))
        .load(c))?;
    with_removes(conn, scope, after, limit, puts)
}

/// The first `limit` changes of `scope` after `after`: `puts` (version,
/// kind, id, document; at most `limit`, from whichever table holds the
/// scope's records) merged with the scope's tombstones, in version order.
pub fn with_removes(
    conn: &mut Conn,
    scope: &str,
    after: i64,
    limit: i64,
    puts: Vec<(i64, String, String, String)>,
) -> QueryResult<Vec<ScopeChange>> {
    let removes: Vec<(i64, String, String)> = with_conn!(conn, c => sync_tombstones::table
        .filter(sync_tombstones::scope.eq(scope))
        .filter(sync_tombstones::version.gt(after))
        .order(sync_tombstones::version.asc())
        .limit(limit)
        .select((sync_tombstones::version, sync_tombstones::kind, sync_tombstones::record_id))
        .load(c))?;
    let mut changes: Vec<ScopeChange> = puts
        .into_iter()
        .map(|(version, kind, id, doc)| ScopeChange {
            version,
            kind,
            id,
            doc: Some(doc),
        })
        .chain(removes.into_iter().map(|(version, kind, id)| ScopeChange {
            version,
            kind,
            id,
            doc: None,
        }))
        .collect();
    changes.sort_by_key(|c| c.version);
    changes.truncate(usize::try_from(limit).unwrap_or(0));
    Ok(changes)
}

pub fn insert_tombstone(
    conn: &mut Conn,
    scope: &str,
    version: i64,
    kind: &str,
    record_id: &str,
    now: Micros,
) -> QueryResult<()> {
    with_conn!(conn, c => diesel::insert_into(sync_tombstones::table)
        .values((
            sync_tombstones::scope.eq(scope),
            sync_tombstones::version.eq(version),
            sync_tombstones::kind.eq(kind),
            sync_tombstones::record_id.eq(record_id),
            sync_tombstones::created_at.eq(now),
        ))
        .execute(c))?;
    Ok(())
}

// --- tasks ----------------------------------------------------------------------

pub fn insert_task(conn: &mut Conn, task: &TaskRow) -> QueryResult<()> {
    with_conn!(conn, c => diesel::insert_into(tasks::table).values(task).execute(c))?;
    Ok(())
}

pub fn find_task(conn: &mut Conn, id: &str) -> QueryResult<Option<TaskRow>> {
    with_conn!(conn, c => tasks::table
        .find(id)
        .select(TaskRow::as_select())
        .first(c)
        .optional())
}

/// The task, locked until the transaction ends, so a push deciding whose
/// task it is and a coordinator reassigning it cannot interleave.
pub fn lock_task(conn: &mut Conn, id: &str) -> QueryResult<Option<TaskRow>> {
    match conn {
        Conn::Pg(c) => tasks::table
            .find(id)
            .select(TaskRow::as_select())
            .for_update()
            .first(&mut **c)
            .optional(),
        Conn::Sqlite(_) => find_task(conn, id),
    }
}

/// The tasks `ids`, their rows locked until the transaction ends, in id
/// order, so two transactions locking several tasks this way never wait
/// for each other in a circle. On SQLite the write transaction already
/// excludes every other writer: the rows are only read.
pub fn lock_tasks(conn: &mut Conn, ids: &BTreeSet<String>) -> QueryResult<Vec<TaskRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&String> = ids.iter().collect();
    match conn {
        Conn::Pg(c) => tasks::table
            .filter(tasks::id.eq_any(ids))
            .order(tasks::id.asc())
            .select(TaskRow::as_select())
            .for_update()
            .load(&mut **c),
        Conn::Sqlite(c) => tasks::table
            .filter(tasks::id.eq_any(ids))
            .select(TaskRow::as_select())
            .load(&mut **c),
    }
}

pub fn update_task(conn: &mut Conn, task: &TaskRow) -> QueryResult<()> {
    with_conn!(conn, c => diesel::update(tasks::table.find(&task.id))
        .set((
            tasks::assignee_id.eq(&task.assignee_id),
            tasks::generation.eq(task.generation),
            tasks::status.eq(&task.status),
            tasks::deadline_at.eq(task.deadline_at),
            tasks::updated_at.eq(task.updated_at),
        ))
        .execute(c))?;
    Ok(())
}

/// Tasks, newest first, optionally only one volunteer's.
/// Which tasks a coordinator's list shows; `None` is "any".
#[derive(Debug, Default, Clone)]
pub struct TaskFilter {
    pub assignee: Option<String>,
    pub campaign: Option<String>,
    pub status: Option<String>,
}

pub fn list_tasks(
    conn: &mut Conn,
    filter: &TaskFilter,
    limit: i64,
    offset: i64,
) -> QueryResult<Vec<TaskRow>> {
    with_conn!(conn, c => {
        let mut query = tasks::table.select(TaskRow::as_select()).into_boxed();
        if let Some(assignee) = &filter.assignee {
            query = query.filter(tasks::assignee_id.eq(assignee));
        }
        if let Some(status) = &filter.status {
            query = query.filter(tasks::status.eq(status));
        }
        if let Some(campaign) = &filter.campaign {
            query = query.filter(
                tasks::id.eq_any(
                    campaign_tasks::table
                        .filter(campaign_tasks::campaign_id.eq(campaign))
                        .select(campaign_tasks::task_id),
                ),
            );
        }
        query
            .order((tasks::created_at.desc(), tasks::id.asc()))
            .limit(limit)
            .offset(offset)
            .load(c)
    })
}

// --- records --------------------------------------------------------------------

pub fn find_record(conn: &mut Conn, kind: &str, id: &str) -> QueryResult<Option<RecordRow>> {
    with_conn!(conn, c => sync_records::table
        .find((kind, id))
        .select(RecordRow::as_select())
        .first(c)
        .optional())
}

pub fn find_by_dedupe_key(
    conn: &mut Conn,
    kind: &str,
    key: &str,
) -> QueryResult<Option<RecordRow>> {
    with_conn!(conn, c => sync_records::table
        .filter(sync_records::kind.eq(kind))
        .filter(sync_records::dedupe_key.eq(key))
        .select(RecordRow::as_select())
        .first(c)
        .optional())
}

/// Writes a record: inserted, or its document, scope and version replaced.
pub fn save_record(conn: &mut Conn, row: &RecordRow) -> QueryResult<()> {
    with_conn!(conn, c => diesel::insert_into(sync_records::table)
        .values(row)
        .on_conflict((sync_records::kind, sync_records::id))
        .do_update()
        .set((
            sync_records::scope.eq(&row.scope),
            sync_records::version.eq(row.version),
            sync_records::doc.eq(&row.doc),
            sync_records::withdrawn.eq(row.withdrawn),
            sync_records::updated_at.eq(row.updated_at),
        ))
        .execute(c))?;
    Ok(())
}

/// The tasks of the records of `kind` with these ids (the missing ones
/// have none).
pub fn tasks_of_records(conn: &mut Conn, kind: &str, ids: &[String]) -> QueryResult<Vec<String>> {
    with_conn!(conn, c => sync_records::table
        .filter(sync_records::kind.eq(kind))
        .filter(sync_records::id.eq_any(ids))
        .select(sync_records::task_id)
        .distinct()
        .load(c))
}

/// Every record of a task (the task's own included), in a stable order.
pub fn records_of_task(conn: &mut Conn, task_id: &str) -> QueryResult<Vec<RecordRow>> {
    with_conn!(conn, c => sync_records::table
        .filter(sync_records::task_id.eq(task_id))
        .order((sync_records::kind.asc(), sync_records::id.asc()))
        .select(RecordRow::as_select())
        .load(c))
}

// --- reviews --------------------------------------------------------------------

/// Adds a review item unless one with the same cause exists. Returns
/// whether it was added.
pub fn insert_review(conn: &mut Conn, review: &ReviewRow) -> QueryResult<bool> {
    let added = with_conn!(conn, c => diesel::insert_into(sync_reviews::table)
        .values(review)
        .on_conflict(sync_reviews::dedupe_key)
        .do_nothing()
        .execute(c))?;
    Ok(added > 0)
}

pub fn list_reviews(
    conn: &mut Conn,
    open_only: bool,
    task_id: Option<&str>,
    limit: i64,
    offset: i64,
) -> QueryResult<Vec<ReviewRow>> {
    with_conn!(conn, c => {
        let mut query = sync_reviews::table.select(ReviewRow::as_select()).into_boxed();
        if open_only {
            query = query.filter(sync_reviews::resolved_at.is_null());
        }
        if let Some(task_id) = task_id {
            query = query.filter(sync_reviews::task_id.eq(task_id));
        }
        query
            .order((sync_reviews::created_at.asc(), sync_reviews::id.asc()))
            .limit(limit)
            .offset(offset)
            .load(c)
    })
}

pub fn find_review(conn: &mut Conn, id: &str) -> QueryResult<Option<ReviewRow>> {
    with_conn!(conn, c => sync_reviews::table
        .find(id)
        .select(ReviewRow::as_select())
        .first(c)
        .optional())
}

/// Marks an open review resolved; `false` when it was not open.
pub fn resolve_review(
    conn: &mut Conn,
    id: &str,
    by: &str,
    resolution: &str,
    now: Micros,
) -> QueryResult<bool> {
    let n = with_conn!(conn, c => diesel::update(
            sync_reviews::table
                .find(id)
                .filter(sync_reviews::resolved_at.is_null()),
        )
        .set((
            sync_reviews::resolved_at.eq(now),
            sync_reviews::resolved_by.eq(by),
            sync_reviews::resolution.eq(resolution),
        ))
        .execute(c))?;
    Ok(n > 0)
}

/// Whether `record` of `kind` once was in `scope` and left it (a task
/// reassigned away from a volunteer leaves a tombstone in their scope).
pub fn left_scope(conn: &mut Conn, scope: &str, kind: &str, record_id: &str) -> QueryResult<bool> {
    let n: i64 = with_conn!(conn, c => sync_tombstones::table
        .filter(sync_tombstones::scope.eq(scope))
        .filter(sync_tombstones::kind.eq(kind))
        .filter(sync_tombstones::record_id.eq(record_id))
        .count()
        .get_result(c))?;
    Ok(n > 0)
}
