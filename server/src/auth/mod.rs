//! Who is asking: passkeys, invitations, recovery links, device sessions,
//! roles, rate limits and the audit log. Handlers get an [`Actor`] from the
//! extractor in `extract.rs` and ask it for a role; everything that writes
//! goes through the functions here, which take a connection so the caller
//! owns the transaction.

use std::fmt;

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::{
    db::{self, Conn, identity::AuditRow, time::Micros},
    error::ApiError,
};

pub mod extract;
pub mod invitations;
pub mod passkeys;
pub mod rate_limit;
pub mod recovery;
pub mod sessions;

pub use extract::Actor;

/// What a user is to the programme. Stored as its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Volunteer,
    Coordinator,
    RelayOperator,
    LabInspector,
    Administrator,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Volunteer,
        Role::Coordinator,
        Role::RelayOperator,
        Role::LabInspector,
        Role::Administrator,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Volunteer => "volunteer",
            Role::Coordinator => "coordinator",
            Role::RelayOperator => "relay_operator",
            Role::LabInspector => "lab_inspector",
            Role::Administrator => "administrator",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// Whether someone with this role may invite someone with `invitee`'s.
    pub fn may_invite(self, invitee: Role) -> bool {
        match self {
            Role::Administrator => true,
            Role::Coordinator => invitee == Role::Volunteer,
            _ => false,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A fresh random token (256 bits, hex) for links and sessions.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// How a token is stored: its SHA-256. Tokens carry 256 random bits, so a
/// fast hash is enough; a stolen table yields nothing usable.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A random pseudonym for a volunteer: unlinkable to anything else.
pub fn new_pseudonym() -> String {
    let mut bytes = [0u8; 6];
    rand::rng().fill_bytes(&mut bytes);
    format!("vol-{}", hex::encode(bytes))
}

pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Appends to the audit log inside the caller's transaction.
pub fn audit(
    conn: &mut Conn,
    now: Micros,
    actor: Option<&str>,
    action: &str,
    subject: (&str, &str),
    detail: serde_json::Value,
) -> Result<(), db::DbError> {
    db::identity::insert_audit(
        conn,
        &AuditRow {
            id: new_id(),
            at: now,
            actor_user_id: actor.map(str::to_string),
            action: action.into(),
            subject_type: subject.0.into(),
            subject_id: subject.1.into(),
            detail: detail.to_string(),
        },
    )?;
    Ok(())
}

/// A domain refusal with its own code.
pub fn refused(code: &'static str, status: u16, detail: impl Into<String>) -> ApiError {
    ApiError::Refused {
        code,
        status: actix_web::http::StatusCode::from_u16(status)
            .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST),
        detail: detail.into(),
    }
}
