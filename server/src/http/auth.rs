//! Sign-in over HTTP: invitation and recovery links, passkey ceremonies,
//! tokens, sign-out, and the caller's own profile and passkeys. JSON in and
//! out, for the phone app and the web pages alike.

use actix_web::{
    HttpRequest, HttpResponse,
    cookie::{Cookie, SameSite, time::Duration as CookieDuration},
    web,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

use super::{AppState, Deferred};
use crate::{
    auth::{
        Actor, Role, audit, invitations,
        passkeys::{self, Purpose, Started},
        rate_limit, recovery,
        sessions::{self, AppTokens, CSRF_COOKIE, Issued, SESSION_COOKIE, SessionKind},
    },
    db::{
        identity,
        time::{from_micros, to_micros},
        users,
    },
    error::{ApiError, Problem},
};

/// Finishing a passkey registration through an invitation or recovery link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FinishRegistration {
    pub ceremony_id: String,
    /// The `PublicKeyCredential` from `navigator.credentials.create`.
    #[schema(value_type = Object)]
    pub credential: RegisterPublicKeyCredential,
    /// A name for this device and its passkey, e.g. "Pixel 8".
    pub device_name: String,
    #[serde(default)]
    pub session: SessionKind,
    /// A volunteer's own details, kept in the personal-data table.
    #[serde(default)]
    pub personal: Option<PersonalDetails>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonalDetails {
    pub legal_name: Option<String>,
    pub phone: Option<String>,
    pub payout_details: Option<String>,
}

/// Starting a sign-in: staff by address, anyone by user id (the app keeps it).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartSignIn {
    pub email: Option<String>,
    pub user_id: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FinishSignIn {
    pub ceremony_id: String,
    /// The `PublicKeyCredential` from `navigator.credentials.get`.
    #[schema(value_type = Object)]
    pub credential: PublicKeyCredential,
    pub device_name: String,
    #[serde(default)]
    pub session: SessionKind,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoveryRequest {
    pub email: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    pub status: &'static str,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FinishAddPasskey {
    pub ceremony_id: String,
    #[schema(value_type = Object)]
    pub credential: RegisterPublicKeyCredential,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeyView {
    pub id: String,
    pub name: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A volunteer's view of themselves: a pseudonym, nothing personal.
#[derive(Debug, Serialize, ToSchema)]
pub struct VolunteerProfile {
    pub user_id: String,
    pub role: Role,
    pub pseudonym: String,
}

/// A staff member's view of themselves.
#[derive(Debug, Serialize, ToSchema)]
pub struct StaffProfile {
    pub user_id: String,
    pub role: Role,
    pub display_name: String,
    pub email: Option<String>,
    /// The relay stations (operators) or labs (inspectors) they work at,
    /// so their page can open the right one; empty for other roles.
    pub workplaces: Vec<crate::logistics::places::Workplace>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum Profile {
    Volunteer(VolunteerProfile),
    Staff(StaffProfile),
}

/// The answer to a successful sign-in: tokens for an app; for a browser, the
/// CSRF token in the body and the session in an HttpOnly cookie.
fn session_response(state: &AppState, issued: Issued) -> HttpResponse {
    match issued {
        Issued::App(tokens) => no_store().json(tokens),
        Issued::Browser(session) => {
            let max_age = (session.session_expires_at - state.clock.now()).num_seconds();
            let secure = state.config.secure_cookies();
            let session_cookie = Cookie::build(SESSION_COOKIE, session.cookie_token.clone())
                .path("/")
                .http_only(true)
                .secure(secure)
                .same_site(SameSite::Strict)
                .max_age(CookieDuration::seconds(max_age))
                .finish();
            let csrf_cookie = Cookie::build(CSRF_COOKIE, session.csrf_token.clone())
                .path("/")
                .secure(secure)
                .same_site(SameSite::Strict)
                .max_age(CookieDuration::seconds(max_age))
                .finish();
            no_store()
                .cookie(session_cookie)
                .cookie(csrf_cookie)
                .json(session)
        }
    }
}

fn no_store() -> actix_web::HttpResponseBuilder {
    let mut builder = HttpResponse::Ok();
    builder.insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"));
    builder
}

fn clean_optional(
    value: Option<&String>,
    name: &str,
    max: usize,
) -> Result<Option<String>, ApiError> {
    match value.map(|v| v.trim()) {
        None | Some("") => Ok(None),
        Some(v) if v.chars().count() > max || v.chars().any(char::is_control) => Err(
            ApiError::InvalidBody(format!("{name} must be at most {max} printable characters")),
        ),
        Some(v) => Ok(Some(v.to_string())),
    }
}

/// What an invitation link shows before anything is registered.
#[utoipa::path(get, path = "/api/auth/invitations/{token}", tag = "sign-in",
    params(("token" = String, Path, description = "The token from the invitation link")),
    responses(
        (status = 200, body = invitations::InvitationView),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "Used or expired", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn show_invitation(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    rate_limit::check(&state, &req, "invitation", None).await?;
    let now = state.clock.now();
    let token = token.into_inner();
    let view = state
        .db
        .read(move |conn| {
            let (invitation, user) = invitations::usable(conn, now, &token)?;
            invitations::view(&invitation, &user)
        })
        .await?;
    Ok(no_store().json(view))
}

/// Starts registering the invitee's first passkey.
#[utoipa::path(post, path = "/api/auth/invitations/{token}/passkey", tag = "sign-in",
    params(("token" = String, Path, description = "The token from the invitation link")),
    responses(
        (status = 200, body = Started),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 410, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn start_invitation_passkey(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    rate_limit::check(&state, &req, "invitation", None).await?;
    let now = state.clock.now();
    let token = token.into_inner();
    let (config, webauthn) = (state.config.clone(), state.webauthn.clone());
    let started = state
        .db
        .write(move |conn| {
            let (invitation, user) = invitations::usable(conn, now, &token)?;
            let name = user
                .email
                .clone()
                .unwrap_or_else(|| user.display_name.clone());
            passkeys::start_registration(
                conn,
                &webauthn,
                &config,
                now,
                Purpose::Invitation,
                &user.id,
                &name,
                Some(&invitation.id),
            )
        })
        .await?;
    Ok(no_store().json(started))
}

/// Asks for a recovery link. The answer is the same whether or not an
/// account has this address.
#[utoipa::path(post, path = "/api/auth/recovery", tag = "sign-in",
    request_body = RecoveryRequest,
    responses(
        (status = 202, body = Accepted),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn request_recovery(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<RecoveryRequest>,
) -> Result<HttpResponse, ApiError> {
    let email = invitations::normalise_email(&body.email)?;
    rate_limit::check(&state, &req, "recovery", Some(&email)).await?;
    let now = state.clock.now();
    let config = state.config.clone();
    state
        .db
        .write(move |conn| recovery::request(conn, &config, now, &email))
        .await?;
    Ok(HttpResponse::Accepted().json(Accepted {
        status: "if an account has this address, a recovery link is on its way",
    }))
}

/// What a recovery link shows; opening it uses nothing up.
#[utoipa::path(get, path = "/api/auth/recovery/{token}", tag = "sign-in",
    params(("token" = String, Path, description = "The token from the recovery link")),
    responses(
        (status = 200, body = recovery::RecoveryView),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 410, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn show_recovery(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    rate_limit::check(&state, &req, "recovery", None).await?;
    let now = state.clock.now();
    let token = token.into_inner();
    let view = state
        .db
        .read(move |conn| recovery::usable(conn, now, &token).map(|row| recovery::view(&row)))
        .await?;
    Ok(no_store().json(view))
}

/// Starts registering a new passkey through a recovery link.
#[utoipa::path(post, path = "/api/auth/recovery/{token}/passkey", tag = "sign-in",
    params(("token" = String, Path, description = "The token from the recovery link")),
    responses(
        (status = 200, body = Started),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 410, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn start_recovery_passkey(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    rate_limit::check(&state, &req, "recovery", None).await?;
    let now = state.clock.now();
    let token = token.into_inner();
    let (config, webauthn) = (state.config.clone(), state.webauthn.clone());
    let started = state
        .db
        .write(move |conn| {
            let link = recovery::usable(conn, now, &token)?;
            let user = users::find(conn, &link.user_id)?
                .filter(|u| u.status == "active")
                .ok_or_else(|| ApiError::Missing("no such recovery link".into()))?;
            let name = user
                .email
                .clone()
                .unwrap_or_else(|| user.display_name.clone());
            passkeys::start_registration(
                conn,
                &webauthn,
                &config,
                now,
                Purpose::Recovery,
                &user.id,
                &name,
                Some(&link.id),
            )
        })
        .await?;
    Ok(no_store().json(started))
}

/// Finishes a registration started from an invitation or a recovery link:
/// stores the passkey, uses the link up and opens a device session.
#[utoipa::path(post, path = "/api/auth/passkey/finish", tag = "sign-in",
    request_body = FinishRegistration,
    responses(
        (status = 200, description = "`AppTokens` for an app session, `BrowserSession` plus cookies for a browser", body = AppTokens),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 410, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn finish_registration(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<FinishRegistration>,
) -> Result<HttpResponse, ApiError> {
    rate_limit::check(&state, &req, "sign_in", None).await?;
    let body = body.into_inner();
    let device_name = sessions::clean_device_name(&body.device_name)?;
    let personal = match &body.personal {
        Some(p) => Some((
            clean_optional(p.legal_name.as_ref(), "legal_name", 200)?,
            clean_optional(p.phone.as_ref(), "phone", 50)?,
            clean_optional(p.payout_details.as_ref(), "payout_details", 500)?,
        )),
        None => None,
    };
    let now = state.clock.now();
    let (config, webauthn) = (state.config.clone(), state.webauthn.clone());
    let issued = state
        .db
        .write(move |conn| {
            let ceremony = passkeys::take(
                conn,
                now,
                &body.ceremony_id,
                &[Purpose::Invitation, Purpose::Recovery],
            )?;
            let passkey = passkeys::finish_registration(&webauthn, &ceremony, &body.credential)?;
            let grant = ceremony
                .grant_id
                .clone()
                .ok_or_else(|| ApiError::Internal("ceremony without its link".into()))?;
            let user = if ceremony.purpose == Purpose::Invitation.as_str() {
                invitations::redeem(conn, now, &grant)?
            } else {
                let user_id = recovery::redeem(conn, now, &grant)?;
                users::find(conn, &user_id)?
                    .filter(|u| u.status == "active")
                    .ok_or_else(|| ApiError::Missing("no such account".into()))?
            };
            let role =
                Role::parse(&user.role).ok_or_else(|| ApiError::Internal("unknown role".into()))?;
            if let (Some((legal_name, phone, payout)), Role::Volunteer) = (&personal, role) {
                users::update_personal_data(
                    conn,
                    &user.id,
                    legal_name.as_deref(),
                    phone.as_deref(),
                    payout.as_deref(),
                    to_micros(now),
                )?;
            }
            let passkey_id = passkeys::store(conn, now, &user.id, &device_name, &passkey)?;
            sessions::issue(
                conn,
                &config,
                now,
                &user.id,
                role,
                Some(&passkey_id),
                body.session,
                &device_name,
            )
        })
        .await?;
    Ok(session_response(&state, issued))
}

/// Starts a sign-in.
#[utoipa::path(post, path = "/api/auth/sign-in", tag = "sign-in",
    request_body = StartSignIn,
    responses(
        (status = 200, body = Started),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn start_sign_in(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<StartSignIn>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let email = body
        .email
        .as_deref()
        .map(invitations::normalise_email)
        .transpose()?;
    let account = match (&email, &body.user_id) {
        (Some(email), None) => email.clone(),
        (None, Some(id)) if uuid::Uuid::parse_str(id).is_ok() => id.clone(),
        (None, Some(_)) => return Err(ApiError::InvalidBody("user_id must be a UUID".into())),
        _ => {
            return Err(ApiError::InvalidBody(
                "give exactly one of email (staff) or user_id".into(),
            ));
        }
    };
    rate_limit::check(&state, &req, "sign_in", Some(&account)).await?;
    let now = state.clock.now();
    let (config, webauthn) = (state.config.clone(), state.webauthn.clone());
    let started = state
        .db
        .write(move |conn| {
            let user = match email {
                // Only staff sign in by address: volunteers' addresses are
                // personal data and must not be probed.
                Some(email) => identity::staff_by_email(conn, &email)?,
                None => users::find(conn, &account)?,
            }
            .filter(|u| u.status == "active")
            .ok_or_else(passkeys::no_account)?;
            passkeys::start_sign_in(conn, &webauthn, &config, now, &user.id)
        })
        .await?;
    Ok(no_store().json(started))
}

/// Finishes a sign-in and opens a device session.
#[utoipa::path(post, path = "/api/auth/sign-in/finish", tag = "sign-in",
    request_body = FinishSignIn,
    responses(
        (status = 200, description = "`AppTokens` for an app, `BrowserSession` plus cookies for a browser", body = AppTokens),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn finish_sign_in(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<FinishSignIn>,
) -> Result<HttpResponse, ApiError> {
    rate_limit::check(&state, &req, "sign_in", None).await?;
    let body = body.into_inner();
    let device_name = sessions::clean_device_name(&body.device_name)?;
    let now = state.clock.now();
    let (config, webauthn) = (state.config.clone(), state.webauthn.clone());
    let outcome = state
        .db
        .write(move |conn| -> Result<Result<Issued, ApiError>, ApiError> {
            let ceremony = passkeys::take(conn, now, &body.ceremony_id, &[Purpose::SignIn])?;
            let user = users::find(conn, &ceremony.user_id)?
                .filter(|u| u.status == "active")
                .ok_or_else(passkeys::no_account)?;
            let role =
                Role::parse(&user.role).ok_or_else(|| ApiError::Internal("unknown role".into()))?;
            // A refused assertion still uses the ceremony up: commit that.
            let passkey_id =
                match passkeys::finish_sign_in(conn, &webauthn, now, &ceremony, &body.credential) {
                    Ok(id) => id,
                    Err(refusal) => return Ok(Err(refusal)),
                };
            sessions::issue(
                conn,
                &config,
                now,
                &user.id,
                role,
                Some(&passkey_id),
                body.session,
                &device_name,
            )
            .map(Ok)
        })
        .await?;
    Ok(session_response(&state, outcome?))
}

/// Trades a refresh token for a new access token and refresh token.
#[utoipa::path(post, path = "/api/auth/token", tag = "sign-in",
    request_body = RefreshRequest,
    responses(
        (status = 200, body = AppTokens),
        (status = 401, description = "Unknown, ended, or reused (which revokes the session)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn refresh(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    rate_limit::check(&state, &req, "token", None).await?;
    let now = state.clock.now();
    let (config, key) = (state.config.clone(), state.refresh_key.clone());
    let token = body.into_inner().refresh_token;
    let outcome = state
        .db
        .write(move |conn| sessions::refresh(conn, &config, &key, now, &token))
        .await?;
    Ok(no_store().json(outcome?))
}

/// Ends the caller's own session.
#[utoipa::path(post, path = "/api/auth/sign-out", tag = "sign-in",
    responses((status = 204), (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn sign_out(state: web::Data<AppState>, actor: Actor) -> Result<HttpResponse, ApiError> {
    let now = to_micros(state.clock.now());
    state
        .db
        .write(move |conn| -> Result<(), ApiError> {
            identity::revoke_session(conn, &actor.session_id, "signed out", now)?;
            Ok(())
        })
        .await?;
    let mut gone = Cookie::build(SESSION_COOKIE, "").path("/").finish();
    gone.make_removal();
    Ok(HttpResponse::NoContent().cookie(gone).finish())
}

/// The caller, as their role sees themselves.
#[utoipa::path(get, path = "/api/me", tag = "account",
    responses((status = 200, body = Profile), (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn me(state: web::Data<AppState>, actor: Actor) -> Result<HttpResponse, ApiError> {
    let profile = match (actor.role, actor.pseudonym) {
        (Role::Volunteer, Some(pseudonym)) => Profile::Volunteer(VolunteerProfile {
            user_id: actor.user_id,
            role: actor.role,
            pseudonym,
        }),
        (role, _) => {
            let user = actor.user_id.clone();
            let workplaces = state
                .db
                .read(move |conn| crate::logistics::places::workplaces(conn, &user, role))
                .await?;
            Profile::Staff(StaffProfile {
                user_id: actor.user_id,
                role,
                display_name: actor.display_name,
                email: actor.email,
                workplaces,
            })
        }
    };
    Ok(no_store().json(profile))
}

/// The caller's passkeys.
#[utoipa::path(get, path = "/api/me/passkeys", tag = "account",
    responses((status = 200, body = [PasskeyView]), (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn my_passkeys(
    state: web::Data<AppState>,
    actor: Actor,
) -> Result<HttpResponse, ApiError> {
    let rows = state
        .db
        .read(move |conn| identity::passkeys_of(conn, &actor.user_id).map_err(ApiError::from))
        .await?;
    let views: Vec<PasskeyView> = rows
        .into_iter()
        .map(|row| PasskeyView {
            id: row.id,
            name: row.name,
            created_at: from_micros(row.created_at),
            last_used_at: row.last_used_at.map(from_micros),
        })
        .collect();
    Ok(no_store().json(views))
}

/// Starts adding another passkey to the caller's account.
#[utoipa::path(post, path = "/api/me/passkeys", tag = "account",
    responses((status = 200, body = Started), (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn start_add_passkey(
    state: web::Data<AppState>,
    actor: Actor,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let (config, webauthn) = (state.config.clone(), state.webauthn.clone());
    let started = state
        .db
        .write(move |conn| {
            let name = actor
                .email
                .clone()
                .unwrap_or_else(|| actor.display_name.clone());
            passkeys::start_registration(
                conn,
                &webauthn,
                &config,
                now,
                Purpose::AddPasskey,
                &actor.user_id,
                &name,
                None,
            )
        })
        .await?;
    Ok(no_store().json(started))
}

/// Finishes adding a passkey.
#[utoipa::path(post, path = "/api/me/passkeys/finish", tag = "account",
    request_body = FinishAddPasskey,
    responses((status = 200, body = PasskeyView), (status = 400, body = Problem, content_type = "application/problem+json")))]
pub async fn finish_add_passkey(
    state: web::Data<AppState>,
    actor: Actor,
    body: Deferred<web::Json<FinishAddPasskey>>,
) -> actix_web::Result<HttpResponse> {
    let body = body?.into_inner();
    let name = sessions::clean_device_name(&body.name)?;
    let now = state.clock.now();
    let webauthn = state.webauthn.clone();
    let view = state
        .db
        .write(move |conn| {
            let ceremony = passkeys::take(conn, now, &body.ceremony_id, &[Purpose::AddPasskey])?;
            if ceremony.user_id != actor.user_id {
                return Err(ApiError::Missing("no such ceremony".into()));
            }
            let passkey = passkeys::finish_registration(&webauthn, &ceremony, &body.credential)?;
            let id = passkeys::store(conn, now, &actor.user_id, &name, &passkey)?;
            audit(
                conn,
                to_micros(now),
                Some(&actor.user_id),
                "passkey.add",
                ("user", &actor.user_id),
                serde_json::json!({ "passkey_id": id }),
            )?;
            Ok(PasskeyView {
                id,
                name,
                created_at: now,
                last_used_at: None,
            })
        })
        .await?;
    Ok(no_store().json(view))
}

/// Removes one of the caller's passkeys and ends the sessions opened with it.
#[utoipa::path(delete, path = "/api/me/passkeys/{id}", tag = "account",
    params(("id" = String, Path, description = "Passkey id")),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn remove_passkey(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let now = to_micros(state.clock.now());
    state
        .db
        .write(move |conn| -> Result<(), ApiError> {
            let mine = identity::passkeys_of(conn, &actor.user_id)?;
            if !mine.iter().any(|p| p.id == id) {
                return Err(ApiError::Missing("no such passkey".into()));
            }
            if mine.len() == 1 {
                return Err(crate::auth::refused(
                    "last_passkey",
                    409,
                    "this is your only passkey; add another before removing it",
                ));
            }
            identity::delete_passkey(conn, &actor.user_id, &id)?;
            identity::revoke_passkey_sessions(conn, &id, "passkey removed", now)?;
            audit(
                conn,
                now,
                Some(&actor.user_id),
                "passkey.remove",
                ("user", &actor.user_id),
                serde_json::json!({ "passkey_id": id }),
            )?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
