//! SQL of resumable uploads: the upload row (offset, running hash, lock),
//! its S3 parts and the pieces waiting to become a part. Every change of
//! progress is a compare-and-set on the lock token and the offset, so a
//! writer whose lease ran out can never move an upload it no longer holds.

use diesel::prelude::*;

use super::{
    Conn,
    schema::{upload_parts, upload_pieces, uploads},
    time::Micros,
};
use crate::with_conn;

pub const RECEIVING: &str = "receiving";
/// Every byte arrived; the file waits for (or is in) finishing.
pub const COMPLETE: &str = "complete";
pub const FINISHED: &str = "finished";
pub const REFUSED: &str = "refused";
pub const TERMINATED: &str = "terminated";
pub const EXPIRED: &str = "expired";

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = uploads)]
pub struct UploadRow {
    pub id: String,
    pub owner_id: String,
    pub evidence_id: String,
    pub metadata: String,
    pub upload_length: Option<i64>,
    pub upload_offset: i64,
    pub state: String,
    pub multipart_id: Option<String>,
    pub hash_state: String,
    pub sha256: Option<String>,
    pub lock_token: Option<String>,
    pub lock_until: Option<Micros>,
    pub expires_at: Micros,
    pub refusal: Option<String>,
    pub created_at: Micros,
    pub updated_at: Micros,
    /// `evidence` (`evidence_id` names a synced evidence record) or
    /// `station_photo` (it names a relay station's photo).
    pub purpose: String,
}

/// An upload that fills a volunteer's evidence record.
pub const FOR_EVIDENCE: &str = "evidence";
/// An upload of a relay station's photo of a parcel.
pub const FOR_STATION_PHOTO: &str = "station_photo";

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = upload_parts)]
pub struct PartRow {
    pub upload_id: String,
    pub number: i32,
    pub size: i64,
    pub etag: String,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = upload_pieces)]
pub struct PieceRow {
    pub upload_id: String,
    pub start_offset: i64,
    pub size: i64,
    pub storage_key: String,
}

pub fn insert(conn: &mut Conn, row: &UploadRow) -> QueryResult<()> {
    with_conn!(conn, c => diesel::insert_into(uploads::table).values(row).execute(c))?;
    Ok(())
}

pub fn find(conn: &mut Conn, id: &str) -> QueryResult<Option<UploadRow>> {
    with_conn!(conn, c => uploads::table
        .find(id)
        .select(UploadRow::as_select())
        .first(c)
        .optional())
}

/// Uploads of `owner` still receiving bytes (for the per-user limit).
pub fn count_receiving(conn: &mut Conn, owner: &str) -> QueryResult<i64> {
    with_conn!(conn, c => uploads::table
        .filter(uploads::owner_id.eq(owner))
        .filter(uploads::state.eq(RECEIVING))
        .count()
        .get_result(c))
}

/// Takes the lease unless another live writer holds it.
pub fn try_lock(
    conn: &mut Conn,
    id: &str,
    token: &str,
    now: Micros,
    until: Micros,
) -> QueryResult<bool> {
    let n = with_conn!(conn, c => diesel::update(
        uploads::table
            .find(id)
            .filter(uploads::lock_token.is_null().or(uploads::lock_until.lt(now))),
    )
    .set((
        uploads::lock_token.eq(token),
        uploads::lock_until.eq(until),
    ))
    .execute(c))?;
    Ok(n == 1)
}

/// Extends the lease; false when it was lost.
pub fn renew_lock(conn: &mut Conn, id: &str, token: &str, until: Micros) -> QueryResult<bool> {
    let n = with_conn!(conn, c => diesel::update(
        uploads::table.find(id).filter(uploads::lock_token.eq(token)),
    )
    .set(uploads::lock_until.eq(until))
    .execute(c))?;
    Ok(n == 1)
}

pub fn release_lock(conn: &mut Conn, id: &str, token: &str) -> QueryResult<()> {
    with_conn!(conn, c => diesel::update(
        uploads::table.find(id).filter(uploads::lock_token.eq(token)),
    )
    .set((
        uploads::lock_token.eq(None::<String>),
        uploads::lock_until.eq(None::<Micros>),
    ))
    .execute(c))?;
    Ok(())
}

/// What a PATCH changes when it commits.
#[derive(Debug, Clone)]
pub struct Progress<'a> {
    pub expected_offset: i64,
    pub new_offset: i64,
    pub length: Option<i64>,
    pub hash_state: &'a str,
    pub multipart_id: Option<&'a str>,
    pub state: &'a str,
    pub sha256: Option<&'a str>,
    pub expires_at: Micros,
    pub now: Micros,
}

/// Moves the upload forward if `token` still holds it at the expected
/// offset, and gives the lease back. False: nothing changed.
pub fn commit(conn: &mut Conn, id: &str, token: &str, p: &Progress) -> QueryResult<bool> {
    let n = with_conn!(conn, c => diesel::update(
        uploads::table
            .find(id)
            .filter(uploads::lock_token.eq(token))
            .filter(uploads::upload_offset.eq(p.expected_offset))
            .filter(uploads::state.eq(RECEIVING)),
    )
    .set((
        uploads::upload_offset.eq(p.new_offset),
        uploads::upload_length.eq(p.length),
        uploads::hash_state.eq(p.hash_state),
        uploads::multipart_id.eq(p.multipart_id),
        uploads::state.eq(p.state),
        uploads::sha256.eq(p.sha256),
        uploads::expires_at.eq(p.expires_at),
        uploads::updated_at.eq(p.now),
        uploads::lock_token.eq(None::<String>),
        uploads::lock_until.eq(None::<Micros>),
    ))
    .execute(c))?;
    Ok(n == 1)
}

/// Records the multipart upload as soon as it exists (under the lease), so
/// a crash before the PATCH commits cannot leave it unknown.
pub fn set_multipart(conn: &mut Conn, id: &str, token: &str, multipart: &str) -> QueryResult<bool> {
    let n = with_conn!(conn, c => diesel::update(
        uploads::table.find(id).filter(uploads::lock_token.eq(token)),
    )
    .set(uploads::multipart_id.eq(multipart))
    .execute(c))?;
    Ok(n == 1)
}

/// Sets a final state (terminated, expired, refused, finished).
pub fn set_state(
    conn: &mut Conn,
    id: &str,
    state: &str,
    refusal: Option<&str>,
    now: Micros,
) -> QueryResult<()> {
    with_conn!(conn, c => diesel::update(uploads::table.find(id))
        .set((
            uploads::state.eq(state),
            uploads::refusal.eq(refusal),
            uploads::updated_at.eq(now),
            uploads::lock_token.eq(None::<String>),
            uploads::lock_until.eq(None::<Micros>),
        ))
        .execute(c))?;
    Ok(())
}

/// Receiving uploads idle past their expiry and not being written.
pub fn expired(conn: &mut Conn, now: Micros, limit: i64) -> QueryResult<Vec<UploadRow>> {
    with_conn!(conn, c => uploads::table
        .filter(uploads::state.eq(RECEIVING))
        .filter(uploads::expires_at.lt(now))
        .filter(uploads::lock_token.is_null().or(uploads::lock_until.lt(now)))
        .order(uploads::expires_at)
        .limit(limit)
        .select(UploadRow::as_select())
        .load(c))
}

/// Complete uploads waiting for their evidence record.
pub fn complete_for_evidence(conn: &mut Conn, evidence_id: &str) -> QueryResult<Vec<String>> {
    with_conn!(conn, c => uploads::table
        .filter(uploads::evidence_id.eq(evidence_id))
        .filter(uploads::state.eq(COMPLETE))
        .select(uploads::id)
        .load(c))
}

pub fn parts(conn: &mut Conn, id: &str) -> QueryResult<Vec<PartRow>> {
    with_conn!(conn, c => upload_parts::table
        .filter(upload_parts::upload_id.eq(id))
        .order(upload_parts::number)
        .select(PartRow::as_select())
        .load(c))
}

/// Records a part; a part number sent again replaces the old record.
pub fn put_part(conn: &mut Conn, row: &PartRow) -> QueryResult<()> {
    with_conn!(conn, c => diesel::delete(
        upload_parts::table
            .filter(upload_parts::upload_id.eq(&row.upload_id))
            .filter(upload_parts::number.eq(row.number)),
    )
    .execute(c))?;
    with_conn!(conn, c => diesel::insert_into(upload_parts::table).values(row).execute(c))?;
    Ok(())
}

pub fn pieces(conn: &mut Conn, id: &str) -> QueryResult<Vec<PieceRow>> {
    with_conn!(conn, c => upload_pieces::table
        .filter(upload_pieces::upload_id.eq(id))
        .order(upload_pieces::start_offset)
        .select(PieceRow::as_select())
        .load(c))
}

pub fn insert_piece(conn: &mut Conn, row: &PieceRow) -> QueryResult<()> {
    with_conn!(conn, c => diesel::insert_into(upload_pieces::table).values(row).execute(c))?;
    Ok(())
}

/// Forgets the pieces of `id` (they became a part, or the upload ended).
pub fn delete_pieces(conn: &mut Conn, id: &str) -> QueryResult<()> {
    with_conn!(conn, c => diesel::delete(
        upload_pieces::table.filter(upload_pieces::upload_id.eq(id)),
    )
    .execute(c))?;
    Ok(())
}

/// Forgets parts and pieces once the upload is whole or gone.
pub fn forget_storage(conn: &mut Conn, id: &str) -> QueryResult<()> {
    delete_pieces(conn, id)?;
    with_conn!(conn, c => diesel::delete(
        upload_parts::table.filter(upload_parts::upload_id.eq(id)),
    )
    .execute(c))?;
    Ok(())
}

/// The states of the given uploads, for the orphan sweep.
pub fn states(
    conn: &mut Conn,
    ids: &[String],
) -> QueryResult<Vec<(String, String, Option<String>)>> {
    with_conn!(conn, c => uploads::table
        .filter(uploads::id.eq_any(ids))
        .select((uploads::id, uploads::state, uploads::multipart_id))
        .load(c))
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = crate::db::schema::evidence_files)]
pub struct EvidenceFileRow {
    pub evidence_id: String,
    pub task_id: String,
    pub upload_id: String,
    pub original_sha256: String,
    pub original_key: Option<String>,
    pub served_sha256: String,
    pub served_media_type: String,
    pub served_size: i64,
    pub thumbnail_sha256: Option<String>,
    pub perceptual_hash: Option<i64>,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub created_at: Micros,
}

pub fn insert_evidence_file(conn: &mut Conn, row: &EvidenceFileRow) -> QueryResult<()> {
    use crate::db::schema::evidence_files;
    with_conn!(conn, c => diesel::insert_into(evidence_files::table).values(row).execute(c))?;
    Ok(())
}

pub fn evidence_file(conn: &mut Conn, evidence_id: &str) -> QueryResult<Option<EvidenceFileRow>> {
    use crate::db::schema::evidence_files;
    with_conn!(conn, c => evidence_files::table
        .find(evidence_id)
        .select(EvidenceFileRow::as_select())
        .first(c)
        .optional())
}

/// Photos of other tasks with a perceptual hash (for near-duplicate checks).
pub fn photo_hashes_elsewhere(
    conn: &mut Conn,
    task_id: &str,
) -> QueryResult<Vec<(String, String, i64)>> {
    use crate::db::schema::evidence_files;
    with_conn!(conn, c => evidence_files::table
        .filter(evidence_files::task_id.ne(task_id))
        .filter(evidence_files::perceptual_hash.is_not_null())
        .select((
            evidence_files::evidence_id,
            evidence_files::task_id,
            evidence_files::perceptual_hash.assume_not_null(),
        ))
        .load(c))
}
