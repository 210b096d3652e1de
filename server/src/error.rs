//! The one error type the HTTP layer answers with: RFC 9457
//! `application/problem+json` carrying a stable machine-readable `code`.
//! Client mistakes are 4xx with a message a person can act on; 5xx is kept for
//! our own failures and never reveals internals (they go to the log instead).

use actix_web::{
    HttpResponse, ResponseError,
    http::{StatusCode, header},
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{db::DbError, storage::StorageError};

/// The media type of every error answer.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct Problem {
    /// `urn:mystery-buyer:problem:<code>`.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// Short summary of the kind of problem; the same for every instance of a code.
    pub title: String,
    /// The HTTP status code, repeated for convenience.
    pub status: u16,
    /// What is wrong with this request, in words a person can act on.
    pub detail: String,
    /// Stable machine-readable code; clients switch on this, never on text.
    pub code: String,
    /// For `invalid_rows`: every row that is wrong and why (an import is
    /// taken whole or not at all, so all of them are reported at once).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<RowError>,
}

/// One wrong row of a bulk request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
pub struct RowError {
    /// 1-based: the line of a CSV file (the header is line 1) or the
    /// position in a JSON array.
    pub row: usize,
    /// The column or field, when one is to blame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
}

/// Every error a handler can return.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    MalformedJson(String),
    #[error("{0}")]
    InvalidRequest(String),
    /// Well-formed JSON that does not fit the endpoint's schema.
    #[error("{0}")]
    InvalidBody(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("no route for {0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    NotReady(String),
    /// Every database connection stayed busy for the pool's whole wait:
    /// overload, not a fault; the client should try again shortly.
    #[error("{0}")]
    Busy(String),
    /// No valid session or token came with a request that needs one.
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller's role may not use this route.
    #[error("{0}")]
    Forbidden(String),
    /// No such object, or none the caller may see (the two look alike on
    /// purpose, so ids cannot be probed).
    #[error("{0}")]
    Missing(String),
    /// Too many attempts; `retry_after` seconds until the window resets.
    #[error("{detail}")]
    RateLimited { detail: String, retry_after: u64 },
    /// A domain rule refused the request: its own code and status.
    #[error("{detail}")]
    Refused {
        code: &'static str,
        status: StatusCode,
        detail: String,
    },
    /// Rows of a bulk request are wrong; nothing was stored.
    #[error("{detail}")]
    InvalidRows {
        detail: String,
        errors: Vec<RowError>,
    },
    /// Something of ours failed; the detail is logged, not sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The stable code clients see.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::MalformedJson(_) => "malformed_json",
            ApiError::InvalidRequest(_) => "invalid_request",
            ApiError::InvalidBody(_) => "invalid_body",
            ApiError::InvalidRows { .. } => "invalid_rows",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::NotReady(_) => "not_ready",
            ApiError::Busy(_) => "busy",
            ApiError::Unauthenticated(_) => "unauthenticated",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::Missing(_) => "not_found",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Refused { code, .. } => code,
            ApiError::Internal(_) => "internal",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            ApiError::MalformedJson(_) => "The request body is not valid JSON for this endpoint",
            ApiError::InvalidRequest(_) => "The request is invalid",
            ApiError::InvalidBody(_) => "The request body does not fit this endpoint",
            ApiError::InvalidRows { .. } => "Some rows are invalid; nothing was stored",
            ApiError::UnsupportedMediaType(_) => "Unsupported content type",
            ApiError::PayloadTooLarge(_) => "The request body is too large",
            ApiError::NotFound(_) => "Not found",
            ApiError::MethodNotAllowed(_) => "Method not allowed",
            ApiError::NotReady(_) => "Service not ready",
            ApiError::Busy(_) => "The server is busy; try again shortly",
            ApiError::Unauthenticated(_) => "Sign-in required",
            ApiError::Forbidden(_) => "Not allowed for your role",
            ApiError::Missing(_) => "Not found",
            ApiError::RateLimited { .. } => "Too many attempts",
            ApiError::Refused { .. } => "The request was refused",
            ApiError::Internal(_) => "Internal server error",
        }
    }

    pub fn problem(&self) -> Problem {
        let detail = match self {
            // Never send our internals to a client.
            ApiError::Internal(_) => {
                "The server failed to handle this request; it has been logged.".into()
            }
            other => other.to_string(),
        };
        let mut problem = problem(self.status_code(), self.code(), self.title(), detail);
        if let ApiError::InvalidRows { errors, .. } = self {
            problem.errors.clone_from(errors);
        }
        problem
    }
}

/// Builds a problem document.
pub fn problem(status: StatusCode, code: &str, title: &str, detail: String) -> Problem {
    Problem {
        type_uri: format!("urn:mystery-buyer:problem:{code}"),
        title: title.into(),
        status: status.as_u16(),
        detail,
        code: code.into(),
        errors: Vec::new(),
    }
}

/// The HTTP answer for a problem.
pub fn problem_response(problem: &Problem) -> HttpResponse {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, PROBLEM_JSON))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(problem)
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::MalformedJson(_) | ApiError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::InvalidBody(_) | ApiError::InvalidRows { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::NotReady(_) | ApiError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Missing(_) => StatusCode::NOT_FOUND,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Refused { status, .. } => *status,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(detail) = self {
            tracing::error!(error = %detail, "request failed");
        }
        let mut response = problem_response(&self.problem());
        let headers = response.headers_mut();
        match self {
            ApiError::RateLimited { retry_after, .. } => {
                if let Ok(value) = header::HeaderValue::from_str(&retry_after.to_string()) {
                    headers.insert(header::RETRY_AFTER, value);
                }
            }
            ApiError::Busy(detail) => {
                tracing::warn!(error = %detail, "no database connection in time");
                headers.insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            }
            ApiError::Unauthenticated(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer"),
                );
            }
            _ => {}
        }
        response
    }
}

impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        match error {
            // The pool's wait ran out: 503 with Retry-After, not a 500.
            DbError::Pool(e) => {
                ApiError::Busy(format!("no database connection was free in time: {e}"))
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(error: diesel::result::Error) -> Self {
        ApiError::Internal(DbError::from(error).to_string())
    }
}

impl From<StorageError> for ApiError {
    fn from(error: StorageError) -> Self {
        ApiError::Internal(error.to_string())
    }
}
