//! SQL of the job queue. A job is `queued` until a worker claims it, `running`
//! while leased, then `done`, back to `queued` for a retry, or `dead` once its
//! attempts are used up. Every state change after the claim is guarded by the
//! lease owner, so a worker that lost its lease cannot overwrite the new owner.

use diesel::{dsl::count_star, prelude::*};

use super::{Conn, schema::jobs, time::Micros};
use crate::with_conn;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = jobs)]
pub struct JobRow {
    pub id: String,
    pub kind: String,
    pub payload: String,
    pub state: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_at: Micros,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<Micros>,
    pub last_error: Option<String>,
    pub dedupe_key: Option<String>,
    pub created_at: Micros,
    pub updated_at: Micros,
    pub finished_at: Option<Micros>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = jobs)]
pub struct NewJob<'a> {
    pub id: &'a str,
    pub kind: &'a str,
    pub payload: &'a str,
    pub state: &'a str,
    pub max_attempts: i32,
    pub run_at: Micros,
    pub dedupe_key: Option<&'a str>,
    pub created_at: Micros,
    pub updated_at: Micros,
}

pub const QUEUED: &str = "queued";
pub const RUNNING: &str = "running";
pub const DONE: &str = "done";
pub const DEAD: &str = "dead";

/// Inserts a job; with a dedupe key already present, inserts nothing and
/// returns false.
pub fn insert(conn: &mut Conn, job: &NewJob) -> QueryResult<bool> {
    let n = with_conn!(conn, c => diesel::insert_into(jobs::table)
        .values(job)
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(n == 1)
}

pub fn find(conn: &mut Conn, id: &str) -> QueryResult<Option<JobRow>> {
    with_conn!(conn, c => jobs::table
        .find(id)
        .select(JobRow::as_select())
        .first(c)
        .optional())
}

/// Every job of one kind, oldest first (tests and operators look at one
/// kind at a time; housekeeping jobs share the queue).
pub fn of_kind(conn: &mut Conn, kind: &str) -> QueryResult<Vec<JobRow>> {
    with_conn!(conn, c => jobs::table
        .filter(jobs::kind.eq(kind))
        .order((jobs::created_at, jobs::id))
        .select(JobRow::as_select())
        .load(c))
}

/// Leases up to `limit` due jobs to `owner` until `lease_until`: queued jobs
/// whose time has come, and running jobs whose lease ran out (their worker
/// died). On PostgreSQL rows another transaction is claiming are skipped
/// (`FOR UPDATE SKIP LOCKED`); SQLite's single writer needs no row locks.
pub fn claim(
    conn: &mut Conn,
    owner: &str,
    now: Micros,
    lease_until: Micros,
    limit: i64,
) -> QueryResult<Vec<JobRow>> {
    let due = jobs::state
        .eq(QUEUED)
        .and(jobs::run_at.le(now))
        .or(jobs::state.eq(RUNNING).and(jobs::lease_expires_at.le(now)));
    let candidates = jobs::table
        .filter(due)
        .order(jobs::run_at.asc())
        .limit(limit)
        .select(jobs::id);
    // The only place the two backends differ: the row-locking clause.
    let ids: Vec<String> = match conn {
        Conn::Pg(c) => candidates.for_update().skip_locked().load(*c)?,
        Conn::Sqlite(c) => candidates.load(*c)?,
    };
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    with_conn!(conn, c => diesel::update(jobs::table.filter(jobs::id.eq_any(&ids)).filter(due))
        .set((
            jobs::state.eq(RUNNING),
            jobs::lease_owner.eq(owner),
            jobs::lease_expires_at.eq(lease_until),
            jobs::attempts.eq(jobs::attempts + 1),
            jobs::updated_at.eq(now),
        ))
        .returning(JobRow::as_returning())
        .get_results(c))
}

/// Extends the lease of a running job; false when `owner` no longer holds it.
pub fn renew(conn: &mut Conn, id: &str, owner: &str, lease_until: Micros) -> QueryResult<bool> {
    let n = with_conn!(conn, c => diesel::update(owned(id, owner))
        .set(jobs::lease_expires_at.eq(lease_until))
        .execute(c))?;
    Ok(n == 1)
}

/// Marks a job done; false when `owner` no longer held it.
pub fn complete(conn: &mut Conn, id: &str, owner: &str, now: Micros) -> QueryResult<bool> {
    let n = with_conn!(conn, c => diesel::update(owned(id, owner))
        .set((
            jobs::state.eq(DONE),
            jobs::lease_owner.eq(None::<String>),
            jobs::lease_expires_at.eq(None::<Micros>),
            jobs::last_error.eq(None::<String>),
            jobs::updated_at.eq(now),
            jobs::finished_at.eq(now),
        ))
        .execute(c))?;
    Ok(n == 1)
}

/// Records a failed attempt: queued again for `retry_at`, or dead when `None`.
pub fn fail(
    conn: &mut Conn,
    id: &str,
    owner: &str,
    error: &str,
    retry_at: Option<Micros>,
    now: Micros,
) -> QueryResult<bool> {
    let (state, run_at, finished_at) = match retry_at {
        Some(at) => (QUEUED, at, None),
        None => (DEAD, now, Some(now)),
    };
    let n = with_conn!(conn, c => diesel::update(owned(id, owner))
        .set((
            jobs::state.eq(state),
            jobs::run_at.eq(run_at),
            jobs::lease_owner.eq(None::<String>),
            jobs::lease_expires_at.eq(None::<Micros>),
            jobs::last_error.eq(error),
            jobs::updated_at.eq(now),
            jobs::finished_at.eq(finished_at),
        ))
        .execute(c))?;
    Ok(n == 1)
}

/// Gives back every job `owner` holds (at shutdown), due at once, without
/// counting the interrupted attempt.
pub fn release_all(conn: &mut Conn, owner: &str, now: Micros) -> QueryResult<usize> {
    with_conn!(conn, c => diesel::update(
            jobs::table
                .filter(jobs::state.eq(RUNNING))
                .filter(jobs::lease_owner.eq(owner)),
        )
        .set((
            jobs::state.eq(QUEUED),
            jobs::run_at.eq(now),
            jobs::lease_owner.eq(None::<String>),
            jobs::lease_expires_at.eq(None::<Micros>),
            jobs::attempts.eq(jobs::attempts - 1),
            jobs::updated_at.eq(now),
        ))
        .execute(c))
}

/// Number of jobs in each state, for `/metrics`.
pub fn count_by_state(conn: &mut Conn) -> QueryResult<Vec<(String, i64)>> {
    with_conn!(conn, c => jobs::table
        .group_by(jobs::state)
        .select((jobs::state, count_star()))
        .load(c))
}

/// The running job `id` while `owner` still holds its lease.
type Owned<'a> = diesel::dsl::Filter<
    diesel::dsl::Filter<
        diesel::dsl::Filter<jobs::table, diesel::dsl::Eq<jobs::id, &'a str>>,
        diesel::dsl::Eq<jobs::state, &'static str>,
    >,
    diesel::dsl::Eq<jobs::lease_owner, &'a str>,
>;

fn owned<'a>(id: &'a str, owner: &'a str) -> Owned<'a> {
    jobs::table
        .filter(jobs::id.eq(id))
        .filter(jobs::state.eq(RUNNING))
        .filter(jobs::lease_owner.eq(owner))
}
