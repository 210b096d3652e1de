//! Recovery links: a user who lost their passkeys asks by address; if an
//! active account has it, a single-use link valid for a few minutes is
//! mailed. The answer is the same either way. Opening the link (GET) only
//! shows it; registering the new passkey (POST) uses it up.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{audit, invitations::normalise_email, new_id, new_token, refused, token_hash};
use crate::{
    config::Config,
    db::{
        Conn,
        identity::{self, RecoveryRow},
        time::{from_micros, to_micros},
    },
    error::ApiError,
    mail::{self, OutgoingMail},
};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RecoveryView {
    pub expires_at: DateTime<Utc>,
}

/// Queues a recovery mail if `email` belongs to an active user. Says
/// nothing about whether it did.
pub fn request(
    conn: &mut Conn,
    config: &Config,
    now: DateTime<Utc>,
    email: &str,
) -> Result<(), ApiError> {
    let email = normalise_email(email)?;
    let Some(user) = identity::user_by_any_email(conn, &email)?.filter(|u| u.status == "active")
    else {
        return Ok(());
    };
    let token = new_token();
    let expires_at = now + Duration::minutes(config.recovery_minutes as i64);
    let id = new_id();
    identity::insert_recovery(
        conn,
        &RecoveryRow {
            id: id.clone(),
            token_hash: token_hash(&token),
            user_id: user.id.clone(),
            expires_at: to_micros(expires_at),
            used_at: None,
            created_at: to_micros(now),
        },
    )?;
    audit(
        conn,
        to_micros(now),
        None,
        "recovery.request",
        ("user", &user.id),
        serde_json::json!({ "recovery_id": id }),
    )?;
    let link = format!("{}/recover/{token}", config.public_origin);
    mail::queue(
        conn,
        now,
        &OutgoingMail {
            to: email,
            subject: "Add a new passkey to your Mystery Buyer account".into(),
            body: format!(
                "Someone (hopefully you) asked to add a passkey to your Mystery Buyer account.\n\n\
                 Open this link on the new device:\n{link}\n\n\
                 It works once and expires in {} minutes. If you did not ask, ignore this mail.\n",
                config.recovery_minutes
            ),
        },
    )
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(())
}

/// The recovery link behind a token, if it can still be used.
pub fn usable(conn: &mut Conn, now: DateTime<Utc>, token: &str) -> Result<RecoveryRow, ApiError> {
    let row = identity::recovery_by_hash(conn, &token_hash(token))?
        .ok_or_else(|| ApiError::Missing("no such recovery link".into()))?;
    if row.used_at.is_some() {
        return Err(refused(
            "link_used",
            410,
            "this recovery link was used already",
        ));
    }
    if row.expires_at <= to_micros(now) {
        return Err(refused(
            "link_expired",
            410,
            "this recovery link has expired; ask for a new one",
        ));
    }
    Ok(row)
}

pub fn view(row: &RecoveryRow) -> RecoveryView {
    RecoveryView {
        expires_at: from_micros(row.expires_at),
    }
}

/// Uses the link up, or says why not.
pub fn redeem(conn: &mut Conn, now: DateTime<Utc>, id: &str) -> Result<String, ApiError> {
    let row = identity::recovery(conn, id)?
        .ok_or_else(|| ApiError::Missing("no such recovery link".into()))?;
    if identity::use_recovery(conn, id, to_micros(now))? == 0 {
        return Err(refused(
            "link_used",
            410,
            "this recovery link was used already or has expired",
        ));
    }
    audit(
        conn,
        to_micros(now),
        Some(&row.user_id),
        "recovery.use",
        ("user", &row.user_id),
        serde_json::json!({ "recovery_id": id }),
    )?;
    Ok(row.user_id)
}
