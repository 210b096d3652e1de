//! WebAuthn ceremonies with webauthn-rs. The state between start and finish
//! is a row in `webauthn_ceremonies`, deleted by the finish (so it is used
//! once, and the finish may land on any instance). After a sign-in the
//! passkey's counter is advanced with a conditional write: a counter that
//! does not move forward is a cloned authenticator or a replay, and refused.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sha2::Digest;
use utoipa::ToSchema;
use webauthn_rs::prelude::{
    Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder, WebauthnError,
};

use super::{new_id, refused};
use crate::{
    config::Config,
    db::{
        Conn,
        identity::{self, CeremonyRow, PasskeyRow},
        time::to_micros,
    },
    error::ApiError,
};

/// What a ceremony is for; only the matching finish accepts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Invitation,
    Recovery,
    AddPasskey,
    SignIn,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Invitation => "invitation",
            Purpose::Recovery => "recovery",
            Purpose::AddPasskey => "add_passkey",
            Purpose::SignIn => "sign_in",
        }
    }
}

/// The relying party from the configuration. Errors name the setting.
pub fn relying_party(config: &Config) -> Result<Webauthn, (&'static str, String)> {
    let origin = Url::parse(&config.public_origin).map_err(|e| ("public_origin", e.to_string()))?;
    let rp_id = config.rp_id();
    let mut builder = WebauthnBuilder::new(&rp_id, &origin)
        .map_err(|e| {
            (
                "webauthn_rp_id",
                format!("{rp_id:?} does not fit public_origin: {e}"),
            )
        })?
        .rp_name(&config.webauthn_rp_name);
    for extra in &config.webauthn_extra_origins {
        let url =
            Url::parse(extra).map_err(|e| ("webauthn_extra_origins", format!("{extra:?}: {e}")))?;
        builder = builder.append_allowed_origin(&url);
    }
    builder
        .build()
        .map_err(|e| ("webauthn_rp_id", e.to_string()))
}

/// A started ceremony: the id to send back with the finish, and the options
/// to hand to `navigator.credentials.create/get` (or an app's passkey API).
#[derive(Debug, Serialize, ToSchema)]
pub struct Started {
    pub ceremony_id: String,
    /// WebAuthn `CreationChallengeResponse` or `RequestChallengeResponse`.
    #[schema(value_type = Object)]
    pub public_key: serde_json::Value,
    pub expires_at: DateTime<Utc>,
}

fn user_uuid(user_id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(user_id).map_err(|e| ApiError::Internal(format!("user id is not a UUID: {e}")))
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(e.to_string())
}

fn parse_passkey(row: &PasskeyRow) -> Result<Passkey, ApiError> {
    serde_json::from_str(&row.passkey).map_err(internal)
}

/// How a credential id is stored and looked up: the SHA-256 of its
/// serialised form (the same for a registered passkey and an assertion).
fn credential_key<T: Serialize>(credential_id: &T) -> Result<String, ApiError> {
    let bytes = serde_json::to_vec(credential_id).map_err(internal)?;
    Ok(hex::encode(sha2::Sha256::digest(bytes)))
}

#[allow(clippy::too_many_arguments)]
fn store_ceremony(
    conn: &mut Conn,
    config: &Config,
    now: DateTime<Utc>,
    purpose: Purpose,
    user_id: &str,
    grant_id: Option<&str>,
    state: String,
    public_key: serde_json::Value,
) -> Result<Started, ApiError> {
    let expires_at = now + Duration::minutes(config.ceremony_minutes as i64);
    let id = new_id();
    identity::delete_expired_ceremonies(conn, to_micros(now))?;
    identity::insert_ceremony(
        conn,
        &CeremonyRow {
            id: id.clone(),
            purpose: purpose.as_str().into(),
            user_id: user_id.into(),
            grant_id: grant_id.map(str::to_string),
            state,
            expires_at: to_micros(expires_at),
            created_at: to_micros(now),
        },
    )?;
    Ok(Started {
        ceremony_id: id,
        public_key,
        expires_at,
    })
}

/// Starts registering a new passkey for `user_id` (who may not exist yet
/// as an active user: invitations register the first one).
#[allow(clippy::too_many_arguments)]
pub fn start_registration(
    conn: &mut Conn,
    webauthn: &Webauthn,
    config: &Config,
    now: DateTime<Utc>,
    purpose: Purpose,
    user_id: &str,
    user_name: &str,
    grant_id: Option<&str>,
) -> Result<Started, ApiError> {
    let existing = identity::passkeys_of(conn, user_id)?
        .iter()
        .map(|row| parse_passkey(row).map(|p| p.cred_id().clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let (options, state) = webauthn
        .start_passkey_registration(user_uuid(user_id)?, user_name, user_name, Some(existing))
        .map_err(internal)?;
    store_ceremony(
        conn,
        config,
        now,
        purpose,
        user_id,
        grant_id,
        serde_json::to_string(&state).map_err(internal)?,
        serde_json::to_value(options).map_err(internal)?,
    )
}

/// Starts a sign-in for `user_id` with any of their passkeys.
pub fn start_sign_in(
    conn: &mut Conn,
    webauthn: &Webauthn,
    config: &Config,
    now: DateTime<Utc>,
    user_id: &str,
) -> Result<Started, ApiError> {
    let keys = identity::passkeys_of(conn, user_id)?
        .iter()
        .map(parse_passkey)
        .collect::<Result<Vec<_>, _>>()?;
    if keys.is_empty() {
        return Err(no_account());
    }
    let (options, state) = webauthn
        .start_passkey_authentication(&keys)
        .map_err(internal)?;
    store_ceremony(
        conn,
        config,
        now,
        Purpose::SignIn,
        user_id,
        None,
        serde_json::to_string(&state).map_err(internal)?,
        serde_json::to_value(options).map_err(internal)?,
    )
}

/// The same answer for an unknown account and one without passkeys.
pub fn no_account() -> ApiError {
    refused(
        "sign_in_unavailable",
        400,
        "no active account with a passkey matches; ask for an invitation or a recovery link",
    )
}

/// Takes the ceremony (once) if it exists, has not expired and is for
/// one of `purposes`. Taking it inside the caller's transaction means a failed
/// finish gives it back; a successful one consumes it for good.
pub fn take(
    conn: &mut Conn,
    now: DateTime<Utc>,
    ceremony_id: &str,
    purposes: &[Purpose],
) -> Result<CeremonyRow, ApiError> {
    let gone = || {
        refused(
            "ceremony_unknown",
            400,
            "this ceremony does not exist, has expired, or was finished already; start again",
        )
    };
    let row = identity::take_ceremony(conn, ceremony_id, to_micros(now))?.ok_or_else(gone)?;
    if !purposes.iter().any(|p| p.as_str() == row.purpose) {
        return Err(gone());
    }
    Ok(row)
}

/// Verifies the new credential against the ceremony; returns the passkey.
pub fn finish_registration(
    webauthn: &Webauthn,
    ceremony: &CeremonyRow,
    credential: &RegisterPublicKeyCredential,
) -> Result<Passkey, ApiError> {
    let state: PasskeyRegistration = serde_json::from_str(&ceremony.state).map_err(internal)?;
    webauthn
        .finish_passkey_registration(credential, &state)
        .map_err(|e| {
            refused(
                "passkey_rejected",
                400,
                format!("the new passkey could not be verified: {e}"),
            )
        })
}

/// Stores a verified passkey under `name`; returns its id.
pub fn store(
    conn: &mut Conn,
    now: DateTime<Utc>,
    user_id: &str,
    name: &str,
    passkey: &Passkey,
) -> Result<String, ApiError> {
    let credential_id = credential_key(passkey.cred_id())?;
    if identity::passkey_by_credential(conn, &credential_id)?.is_some() {
        return Err(refused(
            "passkey_exists",
            409,
            "this passkey is registered already",
        ));
    }
    let id = new_id();
    identity::insert_passkey(
        conn,
        &PasskeyRow {
            id: id.clone(),
            user_id: user_id.into(),
            credential_id,
            name: name.into(),
            passkey: serde_json::to_string(passkey).map_err(internal)?,
            counter: 0,
            backup_state: false,
            created_at: to_micros(now),
            last_used_at: None,
        },
    )?;
    Ok(id)
}

/// Verifies a sign-in assertion and advances the passkey's counter.
/// Returns the passkey id used.
pub fn finish_sign_in(
    conn: &mut Conn,
    webauthn: &Webauthn,
    now: DateTime<Utc>,
    ceremony: &CeremonyRow,
    credential: &PublicKeyCredential,
) -> Result<String, ApiError> {
    let state: PasskeyAuthentication = serde_json::from_str(&ceremony.state).map_err(internal)?;
    let result = webauthn
        .finish_passkey_authentication(credential, &state)
        .map_err(|e| match e {
            WebauthnError::CredentialPossibleCompromise => cloned(),
            other => ApiError::Unauthenticated(format!("the passkey did not sign in: {other}")),
        })?;
    let credential_id = credential_key(result.cred_id())?;
    let row = identity::passkey_by_credential(conn, &credential_id)?
        .filter(|row| row.user_id == ceremony.user_id)
        .ok_or_else(|| ApiError::Unauthenticated("this passkey is not registered".into()))?;
    let mut passkey = parse_passkey(&row)?;
    passkey.update_credential(&result);
    let changed = identity::advance_passkey(
        conn,
        &row.id,
        i64::from(result.counter()),
        result.backup_state(),
        &serde_json::to_string(&passkey).map_err(internal)?,
        to_micros(now),
    )?;
    if changed == 0 {
        tracing::warn!(
            passkey = %row.id,
            "passkey counter did not advance: possible cloned authenticator; sign-in refused"
        );
        return Err(cloned());
    }
    Ok(row.id)
}

fn cloned() -> ApiError {
    refused(
        "passkey_counter_regressed",
        401,
        "this passkey's signature counter went backwards, which a cloned authenticator does; \
         sign-in refused",
    )
}
