//! Device sessions. An app gets a short-lived access token and a refresh
//! token that rotates on every use; a browser gets a cookie and a CSRF token.
//! Only hashes are stored. A refresh token's successor is derived from it
//! with a key the instances share, so a client whose response was lost can
//! present the old token again within the grace window and receive the very
//! same successor, without the successor ever being stored in clear.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::{Role, audit, new_id, new_token, token_hash};
use crate::{
    config::Config,
    db::{
        Conn,
        identity::{self, RefreshRow, SessionRow},
        time::{from_micros, to_micros},
        users,
    },
    error::ApiError,
};

/// Which kind of session a sign-in asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    /// Access + refresh tokens in the JSON answer.
    #[default]
    App,
    /// An HttpOnly cookie plus a CSRF token for state-changing requests.
    Browser,
}

impl SessionKind {
    fn as_str(self) -> &'static str {
        match self {
            SessionKind::App => "app",
            SessionKind::Browser => "browser",
        }
    }
}

/// What an app keeps after signing in or refreshing.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AppTokens {
    pub user_id: String,
    pub role: Role,
    pub session_id: String,
    /// Send as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    pub access_expires_at: DateTime<Utc>,
    /// Trade at `POST /api/auth/token` for new tokens; single use.
    pub refresh_token: String,
    /// The device session ends then, refreshed or not.
    pub session_expires_at: DateTime<Utc>,
}

/// What a browser sign-in answers (the session token itself is a cookie).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BrowserSession {
    pub user_id: String,
    pub role: Role,
    pub session_id: String,
    /// Send as `X-CSRF-Token` with every state-changing request (also set
    /// as the readable cookie `mb_csrf`).
    pub csrf_token: String,
    pub session_expires_at: DateTime<Utc>,
    /// Not serialised: goes into the HttpOnly cookie.
    #[serde(skip)]
    pub cookie_token: String,
}

/// A new session of either kind.
#[derive(Debug, Clone)]
pub enum Issued {
    App(AppTokens),
    Browser(BrowserSession),
}

pub const SESSION_COOKIE: &str = "mb_session";
pub const CSRF_COOKIE: &str = "mb_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Limits the device name a client sends to something printable and short.
pub fn clean_device_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::InvalidBody(
            "device_name must be 1 to 100 printable characters".into(),
        ));
    }
    Ok(name.to_string())
}

/// Opens a device session for a user who just proved a passkey.
#[allow(clippy::too_many_arguments)]
pub fn issue(
    conn: &mut Conn,
    config: &Config,
    now: DateTime<Utc>,
    user_id: &str,
    role: Role,
    passkey_id: Option<&str>,
    kind: SessionKind,
    device_name: &str,
) -> Result<Issued, ApiError> {
    let id = new_id();
    let (expires_at, access_expires_at) = match kind {
        SessionKind::App => {
            let end = now + Duration::days(config.refresh_lifetime_days as i64);
            (end, access_expiry(config, now, end))
        }
        SessionKind::Browser => {
            let end = now + Duration::hours(config.browser_session_hours as i64);
            (end, end)
        }
    };
    let access = new_token();
    let csrf = (kind == SessionKind::Browser).then(new_token);
    identity::insert_session(
        conn,
        &SessionRow {
            id: id.clone(),
            user_id: user_id.into(),
            passkey_id: passkey_id.map(str::to_string),
            kind: kind.as_str().into(),
            device_name: device_name.into(),
            access_hash: Some(token_hash(&access)),
            access_expires_at: Some(to_micros(access_expires_at)),
            csrf_hash: csrf.as_deref().map(token_hash),
            created_at: to_micros(now),
            last_seen_at: to_micros(now),
            expires_at: to_micros(expires_at),
            revoked_at: None,
            revoked_reason: None,
        },
    )?;
    audit(
        conn,
        to_micros(now),
        Some(user_id),
        "session.open",
        ("session", &id),
        serde_json::json!({ "kind": kind.as_str(), "passkey_id": passkey_id }),
    )?;
    Ok(match (kind, csrf) {
        (SessionKind::Browser, Some(csrf)) => Issued::Browser(BrowserSession {
            user_id: user_id.into(),
            role,
            session_id: id,
            csrf_token: csrf,
            session_expires_at: expires_at,
            cookie_token: access,
        }),
        _ => {
            let refresh = new_token();
            identity::insert_refresh(
                conn,
                &RefreshRow {
                    token_hash: token_hash(&refresh),
                    session_id: id.clone(),
                    issued_at: to_micros(now),
                    used_at: None,
                    successor_hash: None,
                },
            )?;
            Issued::App(AppTokens {
                user_id: user_id.into(),
                role,
                session_id: id,
                access_token: access,
                access_expires_at,
                refresh_token: refresh,
                session_expires_at: expires_at,
            })
        }
    })
}

fn access_expiry(config: &Config, now: DateTime<Utc>, session_end: DateTime<Utc>) -> DateTime<Utc> {
    (now + Duration::seconds(config.access_token_secs as i64)).min(session_end)
}

/// The successor of a refresh token: only the server, holding `key`, can
/// compute it, and it always computes the same one.
fn successor(key: &str, token: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(b"mystery-buyer refresh successor\0");
    hash.update(key.as_bytes());
    hash.update(b"\0");
    hash.update(token.as_bytes());
    hex::encode(hash.finalize())
}

/// Trades a refresh token for a new access token and the next refresh token.
/// A token used before is answered with the same successor within the grace
/// window; after it, or if the successor was used too, it is theft: the
/// whole session is revoked. The outer error rolls the transaction back;
/// the inner one is an answer whose effects (a revocation) must commit.
pub fn refresh(
    conn: &mut Conn,
    config: &Config,
    key: &str,
    now: DateTime<Utc>,
    token: &str,
) -> Result<Result<AppTokens, ApiError>, ApiError> {
    let unknown =
        || ApiError::Unauthenticated("this refresh token is unknown or its session ended".into());
    let hash = token_hash(token);
    let Some((row, session)) = identity::refresh_by_hash(conn, &hash)? else {
        return Ok(Err(unknown()));
    };
    let now_us = to_micros(now);
    if session.revoked_at.is_some() || session.expires_at <= now_us {
        return Ok(Err(unknown()));
    }
    let Some(user) = users::find(conn, &session.user_id)?.filter(|u| u.status == "active") else {
        return Ok(Err(unknown()));
    };
    let role = Role::parse(&user.role).ok_or_else(|| ApiError::Internal("unknown role".into()))?;
    let next = successor(key, token);
    let next_hash = token_hash(&next);
    match row.used_at {
        None => {
            if identity::use_refresh(conn, &hash, &next_hash, now_us)? == 0 {
                // Another request used it a moment ago.
                return reuse(conn, &session, now_us);
            }
            identity::insert_refresh(
                conn,
                &RefreshRow {
                    token_hash: next_hash,
                    session_id: session.id.clone(),
                    issued_at: now_us,
                    used_at: None,
                    successor_hash: None,
                },
            )?;
        }
        Some(used_at) => {
            let within_grace = now_us - used_at <= (config.refresh_grace_secs as i64) * 1_000_000;
            let successor_unused = identity::refresh_by_hash(conn, &next_hash)?
                .is_some_and(|(successor, _)| successor.used_at.is_none());
            if !(within_grace
                && successor_unused
                && row.successor_hash.as_deref() == Some(&next_hash))
            {
                return reuse(conn, &session, now_us);
            }
        }
    }
    let access = new_token();
    let session_end = from_micros(session.expires_at);
    let access_expires_at = access_expiry(config, now, session_end);
    identity::set_access(
        conn,
        &session.id,
        &token_hash(&access),
        to_micros(access_expires_at),
        now_us,
    )?;
    Ok(Ok(AppTokens {
        user_id: user.id,
        role,
        session_id: session.id,
        access_token: access,
        access_expires_at,
        refresh_token: next,
        session_expires_at: session_end,
    }))
}

/// Revokes the session whose old refresh token came back, and says so.
fn reuse(
    conn: &mut Conn,
    session: &SessionRow,
    now: i64,
) -> Result<Result<AppTokens, ApiError>, ApiError> {
    if identity::revoke_session(conn, &session.id, "refresh token reuse", now)? > 0 {
        tracing::warn!(session = %session.id, "refresh token reuse: session revoked");
        audit(
            conn,
            now,
            None,
            "session.revoke",
            ("session", &session.id),
            serde_json::json!({ "reason": "refresh token reuse" }),
        )?;
    }
    Ok(Err(super::refused(
        "refresh_token_reused",
        401,
        "this refresh token was used before; the device's session is revoked and it must sign in again",
    )))
}
