//! SQL of the blob catalogue (one row per distinct content) and of the record
//! of S3 multipart uploads, which is written before an upload is created so
//! that nothing a crash leaves behind is forgotten.

use diesel::prelude::*;

use super::{
    Conn,
    schema::{blobs, multipart_uploads},
    time::Micros,
};
use crate::with_conn;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = blobs)]
pub struct BlobRow {
    pub sha256: String,
    pub size: i64,
    pub media_type: Option<String>,
    pub storage_key: String,
    pub created_at: Micros,
}

/// Records a blob; a second record of the same content changes nothing.
pub fn insert(conn: &mut Conn, blob: &BlobRow) -> QueryResult<bool> {
    let n = with_conn!(conn, c => diesel::insert_into(blobs::table)
        .values(blob)
        .on_conflict(blobs::sha256)
        .do_nothing()
        .execute(c))?;
    Ok(n == 1)
}

pub fn find(conn: &mut Conn, sha256: &str) -> QueryResult<Option<BlobRow>> {
    with_conn!(conn, c => blobs::table
        .find(sha256)
        .select(BlobRow::as_select())
        .first(c)
        .optional())
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = multipart_uploads)]
pub struct MultipartRow {
    pub id: String,
    pub object_key: String,
    pub upload_id: Option<String>,
    pub purpose: String,
    pub created_at: Micros,
    pub updated_at: Micros,
}

pub fn insert_multipart(conn: &mut Conn, row: &MultipartRow) -> QueryResult<()> {
    with_conn!(conn, c => diesel::insert_into(multipart_uploads::table).values(row).execute(c))?;
    Ok(())
}

/// Stores the store's upload id once the multipart upload exists.
pub fn set_multipart_upload_id(
    conn: &mut Conn,
    id: &str,
    upload_id: &str,
    now: Micros,
) -> QueryResult<()> {
    with_conn!(conn, c => diesel::update(multipart_uploads::table.find(id))
        .set((
            multipart_uploads::upload_id.eq(upload_id),
            multipart_uploads::updated_at.eq(now),
        ))
        .execute(c))?;
    Ok(())
}

pub fn touch_multipart(conn: &mut Conn, id: &str, now: Micros) -> QueryResult<()> {
    with_conn!(conn, c => diesel::update(multipart_uploads::table.find(id))
        .set(multipart_uploads::updated_at.eq(now))
        .execute(c))?;
    Ok(())
}

pub fn delete_multipart(conn: &mut Conn, id: &str) -> QueryResult<()> {
    with_conn!(conn, c => diesel::delete(multipart_uploads::table.find(id)).execute(c))?;
    Ok(())
}

/// Multipart uploads not touched since `before`: left behind by a crash.
pub fn stale_multiparts(
    conn: &mut Conn,
    before: Micros,
    limit: i64,
) -> QueryResult<Vec<MultipartRow>> {
    with_conn!(conn, c => multipart_uploads::table
        .filter(multipart_uploads::updated_at.lt(before))
        .order(multipart_uploads::updated_at.asc())
        .limit(limit)
        .select(MultipartRow::as_select())
        .load(c))
}
