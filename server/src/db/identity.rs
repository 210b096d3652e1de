//! SQL of sign-in: passkeys, ceremonies, invitations, recovery links, device
//! sessions and their refresh tokens, the audit log, rate-limit counters and
//! shared server secrets. Tokens arrive here already hashed.

use diesel::prelude::*;

use super::{
    Conn,
    schema::{
        audit_log, device_sessions, invitations, passkeys, rate_limits, recovery_links,
        refresh_tokens, server_secrets, users, volunteer_personal_data, webauthn_ceremonies,
    },
    time::Micros,
    users::UserRow,
};
use crate::with_conn;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = passkeys)]
pub struct PasskeyRow {
    pub id: String,
    pub user_id: String,
    pub credential_id: String,
    pub name: String,
    pub passkey: String,
    pub counter: i64,
    pub backup_state: bool,
    pub created_at: Micros,
    pub last_used_at: Option<Micros>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webauthn_ceremonies)]
pub struct CeremonyRow {
    pub id: String,
    pub purpose: String,
    pub user_id: String,
    pub grant_id: Option<String>,
    pub state: String,
    pub expires_at: Micros,
    pub created_at: Micros,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = invitations)]
pub struct InvitationRow {
    pub id: String,
    pub token_hash: String,
    pub user_id: String,
    pub invited_by: Option<String>,
    pub expires_at: Micros,
    pub accepted_at: Option<Micros>,
    pub created_at: Micros,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = recovery_links)]
pub struct RecoveryRow {
    pub id: String,
    pub token_hash: String,
    pub user_id: String,
    pub expires_at: Micros,
    pub used_at: Option<Micros>,
    pub created_at: Micros,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = device_sessions)]
pub struct SessionRow {
    pub id: String,
    pub user_id: String,
    pub passkey_id: Option<String>,
    pub kind: String,
    pub device_name: String,
    pub access_hash: Option<String>,
    pub access_expires_at: Option<Micros>,
    pub csrf_hash: Option<String>,
    pub created_at: Micros,
    pub last_seen_at: Micros,
    pub expires_at: Micros,
    pub revoked_at: Option<Micros>,
    pub revoked_reason: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshRow {
    pub token_hash: String,
    pub session_id: String,
    pub issued_at: Micros,
    pub used_at: Option<Micros>,
    pub successor_hash: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_log)]
pub struct AuditRow {
    pub id: String,
    pub at: Micros,
    pub actor_user_id: Option<String>,
    pub action: String,
    pub subject_type: String,
    pub subject_id: String,
    pub detail: String,
}

// --- passkeys ---------------------------------------------------------------

pub fn insert_passkey(conn: &mut Conn, row: &PasskeyRow) -> QueryResult<()> {
    with_conn!(conn, c => diesel::insert_into(passkeys::table).values(row).execute(c))?;
    Ok(())
}

pub fn passkeys_of(conn: &mut Conn, user_id: &str) -> QueryResult<Vec<PasskeyRow>> {
    with_conn!(conn, c => passkeys::table
        .filter(passkeys::user_id.eq(user_id))
        .order(passkeys::created_at.asc())
        .select(PasskeyRow::as_select())
        .load(c))
}

pub fn passkey_by_credential(
    conn: &mut Conn,
    credential_id: &str,
) -> QueryResult<Option<PasskeyRow>> {
    with_conn!(conn, c => passkeys::table
        .filter(passkeys::credential_id.eq(credential_id))
        .select(PasskeyRow::as_select())
        .first(c)
        .optional())
}

/// Stores a sign-in's new counter and backup state, only if the counter
/// moved forward (or the authenticator keeps no counter: 0 then 0). Returns
/// the rows changed: 0 means a clone or a concurrent replay.
pub fn advance_passkey(
    conn: &mut Conn,
    id: &str,
    counter: i64,
    backup_state: bool,
    passkey_json: &str,
    now: Micros,
) -> QueryResult<usize> {
    let filter = passkeys::id.eq(id);
    if counter == 0 {
        with_conn!(conn, c => diesel::update(passkeys::table.filter(filter).filter(passkeys::counter.eq(0)))
            .set((
                passkeys::backup_state.eq(backup_state),
                passkeys::passkey.eq(passkey_json),
                passkeys::last_used_at.eq(now),
            ))
            .execute(c))
    } else {
        with_conn!(conn, c => diesel::update(passkeys::table.filter(filter).filter(passkeys::counter.lt(counter)))
            .set((
                passkeys::counter.eq(counter),
                passkeys::backup_state.eq(backup_state),
                passkeys::passkey.eq(passkey_json),
                passkeys::last_used_at.eq(now),
            ))
            .execute(c))
    }
}

pub fn delete_passkey(conn: &mut Conn, user_id: &str, id: &str) -> QueryResult<usize> {
    with_conn!(conn, c => diesel::delete(
        passkeys::table
            .filter(passkeys::id.eq(id))
            .filter(passkeys::user_id.eq(user_id)),
    )
    .execute(c))
}

// --- ceremonies -------------------------------------------------------------

pub fn insert_ceremony(conn: &mut Conn, row: &CeremonyRow) -> QueryResult<()> {
    with_conn!(conn, c => diesel::insert_into(webauthn_ceremonies::table).values(row).execute(c))?;
    Ok(())
}

/// Removes and returns the ceremony if it has not expired: whoever deletes
/// it first owns the finish, so a second finish finds nothing.
pub fn take_ceremony(conn: &mut Conn, id: &str, now: Micros) -> QueryResult<Option<CeremonyRow>> {
    with_conn!(conn, c => diesel::delete(
        webauthn_ceremonies::table
            .filter(webauthn_ceremonies::id.eq(id))
            .filter(webauthn_ceremonies::expires_at.gt(now)),
    )
    .returning(CeremonyRow::as_returning())
    .get_result(c)
    .optional())
}

/// Drops ceremonies that expired before `now`.
pub fn delete_expired_ceremonies(conn: &mut Conn, now: Micros) -> QueryResult<usize> {
    with_conn!(conn, c => diesel::delete(
        webauthn_ceremonies::table.filter(webauthn_ceremonies::expires_at.le(now)),
    )
    .execute(c))
}

// --- invitations and recovery links -----------------------------------------

pub fn insert_invitation(conn: &mut Conn, row: &InvitationRow) -> QueryResult<()> {
    with_conn!(conn, c => diesel::insert_into(invitations::table).values(row).execute(c))?;
    Ok(())
}

pub fn invitation_by_hash(conn: &mut Conn, token_hash: &str) -> QueryResult<Option<InvitationRow>> {
    with_conn!(conn, c => invitations::table
        .filter(invitations::token_hash.eq(token_hash))
        .select(InvitationRow::as_select())
        .first(c)
        .optional())
}

pub fn invitation(conn: &mut Conn, id: &str) -> QueryResult<Option<InvitationRow>> {
    with_conn!(conn, c => invitations::table
        .find(id)
        .select(InvitationRow::as_select())
        .first(c)
        .optional())
}

/// Marks the invitation used, if it still is usable. 0 rows: used or expired.
pub fn accept_invitation(conn: &mut Conn, id: &str, now: Micros) -> QueryResult<usize> {
    with_conn!(conn, c => diesel::update(
        invitations::table
            .filter(invitations::id.eq(id))
            .filter(invitations::accepted_at.is_null())
            .filter(invitations::expires_at.gt(now)),
    )
    .set(invitations::accepted_at.eq(now))
    .execute(c))
}

pub fn insert_recovery(conn: &mut Conn, row: &RecoveryRow) -> QueryResult<()> {
    with_conn!(conn, c => diesel::insert_into(recovery_links::table).values(row).execute(c))?;
    Ok(())
}

pub fn recovery_by_hash(conn: &mut Conn, token_hash: &str) -> QueryResult<Option<RecoveryRow>> {
    with_conn!(conn, c => recovery_links::table
        .filter(recovery_links::token_hash.eq(token_hash))
        .select(RecoveryRow::as_select())
        .first(c)
        .optional())
}

pub fn recovery(conn: &mut Conn, id: &str) -> QueryResult<Option<RecoveryRow>> {
    with_conn!(conn, c => recovery_links::table
        .find(id)
        .select(RecoveryRow::as_select())
        .first(c)
        .optional())
}

/// Marks the link used, if it still is usable. 0 rows: used or expired.
pub fn use_recovery(conn: &mut Conn, id: &str, now: Micros) -> QueryResult<usize> {
    with_conn!(conn, c => diesel::update(
        recovery_links::table
            .filter(recovery_links::id.eq(id))
            .filter(recovery_links::used_at.is_null())
            .filter(recovery_links::expires_at.gt(now)),
    )
    .set(recovery_links::used_at.eq(now))
    .execute(c))
}

// --- users by address -------------------------------------------------------

/// A staff member by the address on their account.
pub fn staff_by_email(conn: &mut Conn, email: &str) -> QueryResult<Option<UserRow>> {
    with_conn!(conn, c => users::table
        .filter(users::email.eq(email))
        .select(UserRow::as_select())
        .first(c)
        .optional())
}

/// Anyone by address: staff by their account, volunteers by their personal
/// data (for recovery mail only; the answer never leaves the server).
pub fn user_by_any_email(conn: &mut Conn, email: &str) -> QueryResult<Option<UserRow>> {
    if let Some(user) = staff_by_email(conn, email)? {
        return Ok(Some(user));
    }
    with_conn!(conn, c => users::table
        .inner_join(volunteer_personal_data::table)
        .filter(volunteer_personal_data::email.eq(email))
        .select(UserRow::as_select())
        .first(c)
        .optional())
}

pub fn list_users(
    conn: &mut Conn,
    role: Option<&str>,
    limit: i64,
    offset: i64,
) -> QueryResult<Vec<UserRow>> {
    with_conn!(conn, c => {
        let mut query = users::table.select(UserRow::as_select()).into_boxed();
        if let Some(role) = role {
            query = query.filter(users::role.eq(role.to_string()));
        }
        query
            .order((users::created_at.asc(), users::id.asc()))
            .limit(limit)
            .offset(offset)
            .load(c)
    })
}

/// Moves a user from `from` to `to`; 0 rows if they were not in `from`.
pub fn change_user_status(
    conn: &mut Conn,
    id: &str,
    from: &[&str],
    to: &str,
    now: Micros,
) -> QueryResult<usize> {
    let from: Vec<String> = from.iter().map(|s| s.to_string()).collect();
    with_conn!(conn, c => diesel::update(users::table.find(id).filter(users::status.eq_any(&from)))
        .set((users::status.eq(to), users::updated_at.eq(now)))
        .execute(c))
}

pub fn set_user_status(conn: &mut Conn, id: &str, status: &str, now: Micros) -> QueryResult<usize> {
    with_conn!(conn, c => diesel::update(users::table.find(id))
        .set((users::status.eq(status), users::updated_at.eq(now)))
        .execute(c))
}

// --- sessions ---------------------------------------------------------------

pub fn insert_session(conn: &mut Conn, row: &SessionRow) -> QueryResult<()> {
    with_conn!(conn, c => diesel::insert_into(device_sessions::table).values(row).execute(c))?;
    Ok(())
}

pub fn session(conn: &mut Conn, id: &str) -> QueryResult<Option<SessionRow>> {
    with_conn!(conn, c => device_sessions::table
        .find(id)
        .select(SessionRow::as_select())
        .first(c)
        .optional())
}

/// The live session holding this access token, with its user, if the token
/// has not expired, the session is not revoked and the user is active.
pub fn session_by_access(
    conn: &mut Conn,
    access_hash: &str,
    now: Micros,
) -> QueryResult<Option<(SessionRow, UserRow)>> {
    with_conn!(conn, c => device_sessions::table
        .inner_join(users::table)
        .filter(device_sessions::access_hash.eq(access_hash))
        .filter(device_sessions::access_expires_at.gt(now))
        .filter(device_sessions::expires_at.gt(now))
        .filter(device_sessions::revoked_at.is_null())
        .filter(users::status.eq("active"))
        .select((SessionRow::as_select(), UserRow::as_select()))
        .first(c)
        .optional())
}

pub fn set_access(
    conn: &mut Conn,
    session_id: &str,
    access_hash: &str,
    access_expires_at: Micros,
    now: Micros,
) -> QueryResult<usize> {
    with_conn!(conn, c => diesel::update(device_sessions::table.find(session_id))
        .set((
            device_sessions::access_hash.eq(access_hash),
            device_sessions::access_expires_at.eq(access_expires_at),
            device_sessions::last_seen_at.eq(now),
        ))
        .execute(c))
}

pub fn revoke_session(conn: &mut Conn, id: &str, reason: &str, now: Micros) -> QueryResult<usize> {
    with_conn!(conn, c => diesel::update(
        device_sessions::table
            .filter(device_sessions::id.eq(id))
            .filter(device_sessions::revoked_at.is_null()),
    )
    .set((
        device_sessions::revoked_at.eq(now),
        device_sessions::revoked_reason.eq(reason),
        device_sessions::access_hash.eq(None::<String>),
    ))
    .execute(c))
}

pub fn revoke_user_sessions(
    conn: &mut Conn,
    user_id: &str,
    reason: &str,
    now: Micros,
) -> QueryResult<usize> {
    with_conn!(conn, c => diesel::update(
        device_sessions::table
            .filter(device_sessions::user_id.eq(user_id))
            .filter(device_sessions::revoked_at.is_null()),
    )
    .set((
        device_sessions::revoked_at.eq(now),
        device_sessions::revoked_reason.eq(reason),
        device_sessions::access_hash.eq(None::<String>),
    ))
    .execute(c))
}

pub fn revoke_passkey_sessions(
    conn: &mut Conn,
    passkey_id: &str,
    reason: &str,
    now: Micros,
) -> QueryResult<usize> {
    with_conn!(conn, c => diesel::update(
        device_sessions::table
            .filter(device_sessions::passkey_id.eq(passkey_id))
            .filter(device_sessions::revoked_at.is_null()),
    )
    .set((
        device_sessions::revoked_at.eq(now),
        device_sessions::revoked_reason.eq(reason),
        device_sessions::access_hash.eq(None::<String>),
    ))
    .execute(c))
}

pub fn sessions_of(conn: &mut Conn, user_id: &str) -> QueryResult<Vec<SessionRow>> {
    with_conn!(conn, c => device_sessions::table
        .filter(device_sessions::user_id.eq(user_id))
        .order(device_sessions::created_at.asc())
        .select(SessionRow::as_select())
        .load(c))
}

// --- refresh tokens -----------------------------------------------------------

pub fn insert_refresh(conn: &mut Conn, row: &RefreshRow) -> QueryResult<()> {
    with_conn!(conn, c => diesel::insert_into(refresh_tokens::table).values(row).execute(c))?;
    Ok(())
}

pub fn refresh_by_hash(
    conn: &mut Conn,
    token_hash: &str,
) -> QueryResult<Option<(RefreshRow, SessionRow)>> {
    with_conn!(conn, c => refresh_tokens::table
        .inner_join(device_sessions::table)
        .filter(refresh_tokens::token_hash.eq(token_hash))
        .select((RefreshRow::as_select(), SessionRow::as_select()))
        .first(c)
        .optional())
}

/// Marks a refresh token used and names its successor, if nobody did first.
pub fn use_refresh(
    conn: &mut Conn,
    token_hash: &str,
    successor_hash: &str,
    now: Micros,
) -> QueryResult<usize> {
    with_conn!(conn, c => diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::token_hash.eq(token_hash))
            .filter(refresh_tokens::used_at.is_null()),
    )
    .set((
        refresh_tokens::used_at.eq(now),
        refresh_tokens::successor_hash.eq(successor_hash),
    ))
    .execute(c))
}

// --- audit log ----------------------------------------------------------------

pub fn insert_audit(conn: &mut Conn, row: &AuditRow) -> QueryResult<()> {
    with_conn!(conn, c => diesel::insert_into(audit_log::table).values(row).execute(c))?;
    Ok(())
}

pub fn audit_of(
    conn: &mut Conn,
    subject_type: &str,
    subject_id: &str,
) -> QueryResult<Vec<AuditRow>> {
    with_conn!(conn, c => audit_log::table
        .filter(audit_log::subject_type.eq(subject_type))
        .filter(audit_log::subject_id.eq(subject_id))
        .order(audit_log::at.asc())
        .select(AuditRow::as_select())
        .load(c))
}

// --- rate limits --------------------------------------------------------------

/// Counts one hit in `bucket`'s window starting at `window_start`; returns
/// the hits so far in that window. Older windows of the bucket are dropped.
pub fn hit(conn: &mut Conn, bucket: &str, window_start: Micros) -> QueryResult<i32> {
    with_conn!(conn, c => diesel::delete(
        rate_limits::table
            .filter(rate_limits::bucket.eq(bucket))
            .filter(rate_limits::window_start.lt(window_start)),
    )
    .execute(c))?;
    with_conn!(conn, c => diesel::insert_into(rate_limits::table)
        .values((
            rate_limits::bucket.eq(bucket),
            rate_limits::window_start.eq(window_start),
            rate_limits::hits.eq(1),
        ))
        .on_conflict((rate_limits::bucket, rate_limits::window_start))
        .do_update()
        .set(rate_limits::hits.eq(rate_limits::hits + 1))
        .returning(rate_limits::hits)
        .get_result(c))
}

// --- shared secrets -------------------------------------------------------------

/// The secret `name`, created from `candidate` by whichever instance asks
/// first; every instance then reads the same value.
pub fn secret(conn: &mut Conn, name: &str, candidate: &str, now: Micros) -> QueryResult<String> {
    with_conn!(conn, c => diesel::insert_into(server_secrets::table)
        .values((
            server_secrets::name.eq(name),
            server_secrets::value.eq(candidate),
            server_secrets::created_at.eq(now),
        ))
        .on_conflict(server_secrets::name)
        .do_nothing()
        .execute(c))?;
    with_conn!(conn, c => server_secrets::table
        .find(name)
        .select(server_secrets::value)
        .first(c))
}
