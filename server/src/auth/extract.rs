//! The authenticated actor of a request, as an actix extractor. Every
//! handler that needs a user takes an [`Actor`] and asks it for a role.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::Method, web};

use super::{
    Role,
    sessions::{CSRF_HEADER, SESSION_COOKIE},
    token_hash,
};
use crate::{
    db::{identity, time::to_micros},
    error::ApiError,
    http::AppState,
};

/// Who is asking, proven by a live session.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: String,
    pub role: Role,
    pub session_id: String,
    /// A volunteer's pseudonym; `None` for staff.
    pub pseudonym: Option<String>,
    pub display_name: String,
    /// Staff only.
    pub email: Option<String>,
}

impl Actor {
    /// Refuses with 403 unless the actor has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this is not available to the {} role",
                self.role
            )))
        }
    }
}

enum Credential {
    Bearer(String),
    Cookie(String),
}

fn credential(req: &HttpRequest) -> Result<Credential, ApiError> {
    if let Some(value) = req.headers().get(actix_web::http::header::AUTHORIZATION) {
        let text = value.to_str().unwrap_or_default();
        return match text.strip_prefix("Bearer ") {
            Some(token) if !token.trim().is_empty() => Ok(Credential::Bearer(token.trim().into())),
            _ => Err(ApiError::Unauthenticated(
                "the Authorization header must be `Bearer <access token>`".into(),
            )),
        };
    }
    if let Some(cookie) = req.cookie(SESSION_COOKIE) {
        return Ok(Credential::Cookie(cookie.value().to_string()));
    }
    Err(ApiError::Unauthenticated(
        "sign in first: send `Authorization: Bearer <access token>` or the session cookie".into(),
    ))
}

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl FromRequest for Actor {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| ApiError::Internal("no application state".into()))?
                .clone();
            let credential = credential(&req)?;
            let (token, via_cookie) = match credential {
                Credential::Bearer(t) => (t, false),
                Credential::Cookie(t) => (t, true),
            };
            let hash = token_hash(&token);
            let now = to_micros(state.clock.now());
            let found = state
                .db
                .read(move |conn| {
                    identity::session_by_access(conn, &hash, now).map_err(ApiError::from)
                })
                .await?;
            let (session, user) = found.ok_or_else(|| {
                ApiError::Unauthenticated(
                    "the access token or session is unknown, expired or revoked".into(),
                )
            })?;
            if via_cookie && changes_state(req.method()) {
                let sent = req
                    .headers()
                    .get(CSRF_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .map(token_hash);
                if sent.is_none() || sent != session.csrf_hash {
                    return Err(super::refused(
                        "csrf_token_invalid",
                        403,
                        "a state-changing request with the session cookie needs the X-CSRF-Token header from sign-in",
                    ));
                }
            }
            let role = Role::parse(&user.role)
                .ok_or_else(|| ApiError::Internal(format!("unknown role {:?}", user.role)))?;
            Ok(Actor {
                user_id: user.id,
                role,
                session_id: session.id,
                pseudonym: user.pseudonym,
                display_name: user.display_name,
                email: user.email,
            })
        })
    }
}
