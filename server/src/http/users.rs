//! People: invitations, the administrator's user and device lists, the
//! audited read of a volunteer's personal data, and the coordinators' list of
//! volunteers by pseudonym. Each role gets its own response type.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{AppState, Deferred};
use crate::{
    auth::{
        Actor, Role, audit,
        invitations::{self, InvitationCreated, NewInvitation},
        rate_limit,
    },
    db::{
        identity,
        time::{from_micros, to_micros},
        users::{self, UserRow},
    },
    error::{ApiError, Problem},
};

/// A user as an administrator sees them (no personal data of volunteers).
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminUserView {
    pub id: String,
    pub role: Role,
    pub status: String,
    pub display_name: String,
    /// Staff only.
    pub email: Option<String>,
    /// Volunteers only.
    pub pseudonym: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A volunteer as a coordinator sees them.
#[derive(Debug, Serialize, ToSchema)]
pub struct VolunteerView {
    pub id: String,
    pub pseudonym: String,
    pub status: String,
}

/// A volunteer's personal data, for administrators only; every read is audited.
#[derive(Debug, Serialize, ToSchema)]
pub struct PersonalDataView {
    pub user_id: String,
    pub legal_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub payout_details: Option<String>,
}

/// One signed-in device.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceView {
    pub id: String,
    pub kind: String,
    pub device_name: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub last_seen_at: chrono::DateTime<chrono::Utc>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only this role.
    pub role: Option<Role>,
    /// At most this many (1 to 500, default 100).
    pub limit: Option<i64>,
    /// Skip this many.
    pub offset: Option<i64>,
}

fn page(query: &ListQuery) -> Result<(i64, i64), ApiError> {
    let limit = query.limit.unwrap_or(100);
    let offset = query.offset.unwrap_or(0);
    if !(1..=500).contains(&limit) || offset < 0 {
        return Err(ApiError::InvalidRequest(
            "limit must be 1 to 500 and offset at least 0".into(),
        ));
    }
    Ok((limit, offset))
}

fn admin_view(user: UserRow) -> Result<AdminUserView, ApiError> {
    Ok(AdminUserView {
        role: Role::parse(&user.role).ok_or_else(|| ApiError::Internal("unknown role".into()))?,
        id: user.id,
        status: user.status,
        display_name: user.display_name,
        email: user.email,
        pseudonym: user.pseudonym,
        created_at: from_micros(user.created_at),
    })
}

/// Invites someone: administrators invite anyone, coordinators volunteers.
#[utoipa::path(post, path = "/api/invitations", tag = "people",
    request_body = NewInvitation,
    responses(
        (status = 201, body = InvitationCreated),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn invite(
    state: web::Data<AppState>,
    req: HttpRequest,
    actor: Actor,
    body: Deferred<web::Json<NewInvitation>>,
) -> actix_web::Result<HttpResponse> {
    actor.require(&[Role::Administrator, Role::Coordinator])?;
    let body = body?;
    rate_limit::check(&state, &req, "invitation", Some(&actor.user_id)).await?;
    let now = state.clock.now();
    let config = state.config.clone();
    let body = body.into_inner();
    let (created, _link) = state
        .db
        .write(move |conn| {
            invitations::create(
                conn,
                &config,
                now,
                Some((&actor.user_id, actor.role)),
                &body,
            )
        })
        .await?;
    Ok(HttpResponse::Created().json(created))
}

/// Every user (administrators).
#[utoipa::path(get, path = "/api/users", tag = "people",
    params(ListQuery),
    responses((status = 200, body = [AdminUserView]), (status = 403, body = Problem, content_type = "application/problem+json")))]
pub async fn list_users(
    state: web::Data<AppState>,
    actor: Actor,
    query: Deferred<web::Query<ListQuery>>,
) -> actix_web::Result<HttpResponse> {
    actor.require(&[Role::Administrator])?;
    let query = query?;
    let (limit, offset) = page(&query)?;
    let role = query.role.map(Role::as_str);
    let rows = state
        .db
        .read(move |conn| identity::list_users(conn, role, limit, offset).map_err(ApiError::from))
        .await?;
    let views = rows
        .into_iter()
        .map(admin_view)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(views))
}

/// Volunteers by pseudonym (coordinators and administrators).
#[utoipa::path(get, path = "/api/volunteers", tag = "people",
    params(ListQuery),
    responses((status = 200, body = [VolunteerView]), (status = 403, body = Problem, content_type = "application/problem+json")))]
pub async fn list_volunteers(
    state: web::Data<AppState>,
    actor: Actor,
    query: Deferred<web::Query<ListQuery>>,
) -> actix_web::Result<HttpResponse> {
    actor.require(&[Role::Administrator, Role::Coordinator])?;
    let query = query?;
    let (limit, offset) = page(&query)?;
    let rows = state
        .db
        .read(move |conn| {
            identity::list_users(conn, Some(Role::Volunteer.as_str()), limit, offset)
                .map_err(ApiError::from)
        })
        .await?;
    let views: Vec<VolunteerView> = rows
        .into_iter()
        .filter_map(|u| {
            Some(VolunteerView {
                pseudonym: u.pseudonym?,
                id: u.id,
                status: u.status,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(views))
}

/// A volunteer's personal data (administrators; the read is audited).
#[utoipa::path(get, path = "/api/users/{id}/personal-data", tag = "people",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = PersonalDataView), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn personal_data(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    actor.require(&[Role::Administrator])?;
    let id = id.into_inner();
    let now = to_micros(state.clock.now());
    let view = state
        .db
        .write(move |conn| {
            let data = users::find_personal_data(conn, &id)?
                .ok_or_else(|| ApiError::Missing("no personal data for this user".into()))?;
            audit(
                conn,
                now,
                Some(&actor.user_id),
                "personal_data.read",
                ("user", &id),
                serde_json::json!({}),
            )?;
            Ok::<_, ApiError>(PersonalDataView {
                user_id: data.user_id,
                legal_name: data.legal_name,
                email: data.email,
                phone: data.phone,
                payout_details: data.payout_details,
            })
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(view))
}

async fn set_enabled(
    state: &AppState,
    actor: &Actor,
    id: String,
    enable: bool,
) -> Result<HttpResponse, ApiError> {
    actor.require(&[Role::Administrator])?;
    if !enable && id == actor.user_id {
        return Err(crate::auth::refused(
            "cannot_disable_self",
            409,
            "you cannot disable your own account",
        ));
    }
    let now = to_micros(state.clock.now());
    let admin = actor.user_id.clone();
    let view = state
        .db
        .write(move |conn| {
            let user =
                users::find(conn, &id)?.ok_or_else(|| ApiError::Missing("no such user".into()))?;
            if enable {
                // Back to where they were: active once they had a passkey.
                let to = if identity::passkeys_of(conn, &id)?.is_empty() {
                    "invited"
                } else {
                    "active"
                };
                identity::change_user_status(conn, &id, &["disabled"], to, now)?;
            } else {
                identity::change_user_status(conn, &id, &["active", "invited"], "disabled", now)?;
                identity::revoke_user_sessions(conn, &id, "user disabled", now)?;
            }
            let action = if enable {
                "user.enable"
            } else {
                "user.disable"
            };
            audit(
                conn,
                now,
                Some(&admin),
                action,
                ("user", &id),
                serde_json::json!({ "from": user.status }),
            )?;
            let user =
                users::find(conn, &id)?.ok_or_else(|| ApiError::Missing("no such user".into()))?;
            admin_view(user)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Disables a user and ends all their sessions at once (administrators).
#[utoipa::path(post, path = "/api/users/{id}/disable", tag = "people",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = AdminUserView), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn disable_user(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    set_enabled(&state, &actor, id.into_inner(), false).await
}

/// Re-enables a disabled user (administrators).
#[utoipa::path(post, path = "/api/users/{id}/enable", tag = "people",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = AdminUserView), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn enable_user(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    set_enabled(&state, &actor, id.into_inner(), true).await
}

/// A user's signed-in devices (administrators).
#[utoipa::path(get, path = "/api/users/{id}/devices", tag = "people",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = [DeviceView]), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn user_devices(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    actor.require(&[Role::Administrator])?;
    let id = id.into_inner();
    let rows = state
        .db
        .read(move |conn| {
            users::find(conn, &id)?.ok_or_else(|| ApiError::Missing("no such user".into()))?;
            identity::sessions_of(conn, &id).map_err(ApiError::from)
        })
        .await?;
    let views: Vec<DeviceView> = rows
        .into_iter()
        .map(|s| DeviceView {
            id: s.id,
            kind: s.kind,
            device_name: s.device_name,
            created_at: from_micros(s.created_at),
            last_seen_at: from_micros(s.last_seen_at),
            expires_at: from_micros(s.expires_at),
            revoked_at: s.revoked_at.map(from_micros),
        })
        .collect();
    Ok(HttpResponse::Ok().json(views))
}

/// Signs a device out (administrators).
#[utoipa::path(delete, path = "/api/devices/{id}", tag = "people",
    params(("id" = String, Path, description = "Device session id")),
    responses((status = 204), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn revoke_device(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    actor.require(&[Role::Administrator])?;
    let id = id.into_inner();
    let now = to_micros(state.clock.now());
    state
        .db
        .write(move |conn| {
            identity::session(conn, &id)?
                .ok_or_else(|| ApiError::Missing("no such device".into()))?;
            identity::revoke_session(conn, &id, "revoked by an administrator", now)?;
            audit(
                conn,
                now,
                Some(&actor.user_id),
                "session.revoke",
                ("session", &id),
                serde_json::json!({}),
            )?;
            Ok::<_, ApiError>(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// One user (administrators).
#[utoipa::path(get, path = "/api/users/{id}", tag = "people",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = AdminUserView), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn show_user(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    actor.require(&[Role::Administrator])?;
    let id = id.into_inner();
    let view = state
        .db
        .read(move |conn| {
            let user =
                users::find(conn, &id)?.ok_or_else(|| ApiError::Missing("no such user".into()))?;
            admin_view(user)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// A user's passkeys (administrators).
#[utoipa::path(get, path = "/api/users/{id}/passkeys", tag = "people",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = [super::auth::PasskeyView]), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn user_passkeys(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    actor.require(&[Role::Administrator])?;
    let id = id.into_inner();
    let rows = state
        .db
        .read(move |conn| {
            users::find(conn, &id)?.ok_or_else(|| ApiError::Missing("no such user".into()))?;
            identity::passkeys_of(conn, &id).map_err(ApiError::from)
        })
        .await?;
    let views: Vec<super::auth::PasskeyView> = rows
        .into_iter()
        .map(|row| super::auth::PasskeyView {
            id: row.id,
            name: row.name,
            created_at: from_micros(row.created_at),
            last_used_at: row.last_used_at.map(from_micros),
        })
        .collect();
    Ok(HttpResponse::Ok().json(views))
}

/// Removes one of a user's passkeys (a lost or stolen device) and ends the
/// sessions opened with it (administrators). Removing the last one leaves
/// the user to recover their account by mail.
#[utoipa::path(delete, path = "/api/users/{id}/passkeys/{passkey_id}", tag = "people",
    params(("id" = String, Path, description = "User id"), ("passkey_id" = String, Path, description = "Passkey id")),
    responses((status = 204), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn remove_user_passkey(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    actor.require(&[Role::Administrator])?;
    let (user, passkey) = path.into_inner();
    let now = to_micros(state.clock.now());
    state
        .db
        .write(move |conn| -> Result<(), ApiError> {
            if !identity::passkeys_of(conn, &user)?
                .iter()
                .any(|p| p.id == passkey)
            {
                return Err(ApiError::Missing("no such passkey".into()));
            }
            identity::delete_passkey(conn, &user, &passkey)?;
            identity::revoke_passkey_sessions(
                conn,
                &passkey,
                "passkey removed by an administrator",
                now,
            )?;
            audit(
                conn,
                now,
                Some(&actor.user_id),
                "passkey.remove",
                ("user", &user),
                serde_json::json!({ "passkey_id": passkey }),
            )?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
