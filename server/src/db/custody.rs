//! SQL of the custody log (crate `custody-log` holds the format). Entries are
//! appended under the lock of the one `custody_head` row, taken by the
//! `UPDATE` that numbers them as a transaction's last statements before its
//! commit (`custody::flush`), so entries are numbered densely in commit
//! order and the head is the last lock any writer takes.

use diesel::prelude::*;

use super::{
    Conn,
    schema::{custody_checkpoints, custody_entries, custody_head},
    time::Micros,
};
use crate::with_conn;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = custody_entries)]
pub struct EntryRow {
    pub seq: i64,
    pub at: Micros,
    pub kind: String,
    pub task_id: String,
    pub sample_code: Option<String>,
    /// The canonical JSON text that was hashed.
    pub data: String,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = custody_checkpoints)]
pub struct CheckpointRow {
    pub tree_size: i64,
    pub root: String,
    pub head: String,
    pub at: Micros,
    pub key_id: String,
    pub signature: String,
}

/// Takes the head's lock (until the commit) and the next `count` numbers:
/// returns (the last of them, the hash of the entry before the first; empty
/// for an empty log).
pub fn claim_seqs(conn: &mut Conn, count: i64) -> QueryResult<(i64, String)> {
    with_conn!(conn, c => diesel::update(custody_head::table.find(1))
        .set(custody_head::seq.eq(custody_head::seq + count))
        .returning((custody_head::seq, custody_head::hash))
        .get_result(c))
}

/// Records the hash of the last entry numbered by [`claim_seqs`].
pub fn set_head_hash(conn: &mut Conn, hash: &str) -> QueryResult<()> {
    with_conn!(conn, c => diesel::update(custody_head::table.find(1))
        .set(custody_head::hash.eq(hash))
        .execute(c))?;
    Ok(())
}

/// The head as committed: (seq, hash).
pub fn head(conn: &mut Conn) -> QueryResult<(i64, String)> {
    with_conn!(conn, c => custody_head::table
        .find(1)
        .select((custody_head::seq, custody_head::hash))
        .first(c))
}

pub fn insert_entries(conn: &mut Conn, rows: &[EntryRow]) -> QueryResult<()> {
    with_conn!(conn, c => diesel::insert_into(custody_entries::table).values(rows).execute(c))?;
    Ok(())
}

/// Entries after `after` in seq order, at most `limit`.
pub fn entries_after(conn: &mut Conn, after: i64, limit: i64) -> QueryResult<Vec<EntryRow>> {
    with_conn!(conn, c => custody_entries::table
        .filter(custody_entries::seq.gt(after))
        .order(custody_entries::seq.asc())
        .limit(limit)
        .select(EntryRow::as_select())
        .load(c))
}

/// A task's entries in seq order (its sample's entries carry its task id).
pub fn entries_of_task(conn: &mut Conn, task: &str) -> QueryResult<Vec<EntryRow>> {
    with_conn!(conn, c => custody_entries::table
        .filter(custody_entries::task_id.eq(task))
        .order(custody_entries::seq.asc())
        .select(EntryRow::as_select())
        .load(c))
}

/// The entry hashes 1..=upto in seq order: the Merkle tree's leaves.
pub fn hashes_upto(conn: &mut Conn, upto: i64) -> QueryResult<Vec<(i64, String)>> {
    with_conn!(conn, c => custody_entries::table
        .filter(custody_entries::seq.le(upto))
        .order(custody_entries::seq.asc())
        .select((custody_entries::seq, custody_entries::hash))
        .load(c))
}

pub fn latest_checkpoint(conn: &mut Conn) -> QueryResult<Option<CheckpointRow>> {
    with_conn!(conn, c => custody_checkpoints::table
        .order(custody_checkpoints::tree_size.desc())
        .select(CheckpointRow::as_select())
        .first(c)
        .optional())
}

pub fn all_checkpoints(conn: &mut Conn) -> QueryResult<Vec<CheckpointRow>> {
    with_conn!(conn, c => custody_checkpoints::table
        .order(custody_checkpoints::tree_size.asc())
        .select(CheckpointRow::as_select())
        .load(c))
}

/// Stores a checkpoint; `false` when one of that size exists (two
/// instances signed the same size: either is as good).
pub fn insert_checkpoint(conn: &mut Conn, row: &CheckpointRow) -> QueryResult<bool> {
    let n = with_conn!(conn, c => diesel::insert_into(custody_checkpoints::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(n > 0)
}
