//! tus 1.0 endpoints for evidence files: `/api/uploads` (OPTIONS, POST)
//! and `/api/uploads/{id}` (HEAD, PATCH, DELETE, and POST with
//! `X-HTTP-Method-Override`). Handlers read the tus headers and hand the
//! body stream to [`crate::uploads`]; every answer carries `Tus-Resumable`.

use actix_web::{
    HttpRequest, HttpResponse,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::{Method, StatusCode, header},
    middleware::Next,
    web,
};

use super::AppState;
use crate::{
    auth::Actor,
    error::{ApiError, problem, problem_response},
    uploads::{
        self, Chunk, Creation, UploadStatus,
        tus::{self, HeaderError},
    },
};

/// Adds `Tus-Resumable` to every answer of the upload routes, errors too.
pub async fn tus_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut res = next.call(req).await?;
    res.headers_mut().insert(
        header::HeaderName::from_static("tus-resumable"),
        header::HeaderValue::from_static(tus::VERSION),
    );
    Ok(res)
}

fn text<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// 412 unless the client speaks tus 1.0.0.
fn check_version(req: &HttpRequest) -> Result<(), Box<HttpResponse>> {
    if text(req, "tus-resumable") == Some(tus::VERSION) {
        return Ok(());
    }
    let mut res = problem_response(&problem(
        StatusCode::PRECONDITION_FAILED,
        "unsupported_tus_version",
        "Unsupported tus version",
        format!(
            "send Tus-Resumable: {}; it is the only version served",
            tus::VERSION
        ),
    ));
    res.headers_mut().insert(
        header::HeaderName::from_static("tus-version"),
        header::HeaderValue::from_static(tus::VERSION),
    );
    Err(Box::new(res))
}

fn http_date(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// The headers every successful answer about an upload carries.
fn with_status(mut res: actix_web::HttpResponseBuilder, s: &UploadStatus) -> HttpResponse {
    res.insert_header(("Upload-Offset", s.offset.to_string()))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    if let Some(expires) = s.expires_at {
        res.insert_header(("Upload-Expires", http_date(expires)));
    }
    res.finish()
}

fn chunk_headers(req: &HttpRequest, offset_required: bool) -> Result<Chunk, ApiError> {
    let parse = |name: &'static str| -> Result<Option<u64>, ApiError> {
        text(req, name)
            .map(|v| tus::parse_length(name, v))
            .transpose()
            .map_err(|e| uploads::UploadError::from(e).into())
    };
    let offset = match parse("Upload-Offset")? {
        Some(o) => o,
        None if offset_required => {
            return Err(uploads::UploadError::Header(HeaderError::NotANumber {
                header: "Upload-Offset",
            })
            .into());
        }
        None => 0,
    };
    let checksum = text(req, "upload-checksum")
        .map(tus::parse_checksum)
        .transpose()
        .map_err(|e| ApiError::from(uploads::UploadError::from(e)))?;
    Ok(Chunk {
        offset,
        length: parse("Upload-Length")?,
        checksum,
        content_length: parse("Content-Length")?,
    })
}

fn is_offset_stream(req: &HttpRequest) -> bool {
    text(req, "content-type").is_some_and(|v| {
        v.split(';').next().is_some_and(|essence| {
            essence
                .trim()
                .eq_ignore_ascii_case(tus::OFFSET_OCTET_STREAM)
        })
    })
}

/// OPTIONS: what this server supports.
pub async fn options(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header(("Tus-Version", tus::VERSION))
        .insert_header(("Tus-Extension", tus::EXTENSIONS))
        .insert_header(("Tus-Max-Size", state.uploads.limits.max_size.to_string()))
        .insert_header(("Tus-Checksum-Algorithm", tus::CHECKSUM_ALGORITHMS))
        .finish()
}

/// POST: creates an upload (and takes its first chunk when the body has
/// one: `creation-with-upload`).
#[utoipa::path(post, path = "/api/uploads", tag = "uploads",
    params(
        ("Tus-Resumable" = String, Header, description = "1.0.0"),
        ("Upload-Length" = Option<u64>, Header, description = "the file's size; or Upload-Defer-Length: 1"),
        ("Upload-Metadata" = String, Header, description = "`evidence_id <base64>` (required), `filename <base64>`, ..."),
    ),
    responses(
        (status = 201, description = "Created; `Location` is the upload's URL"),
        (status = 400, description = "A malformed header or metadata"),
        (status = 412, description = "Not tus 1.0.0"),
        (status = 413, description = "Larger than Tus-Max-Size"),
        (status = 429, description = "Too many uploads in progress"),
    ))]
pub async fn create(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    body: web::Payload,
) -> actix_web::Result<HttpResponse> {
    if let Err(res) = check_version(&req) {
        return Ok(*res);
    }
    let defer = text(&req, "upload-defer-length");
    let length = text(&req, "upload-length");
    let length = match (length, defer) {
        (Some(l), None) => Some(
            tus::parse_length("Upload-Length", l)
                .map_err(|e| ApiError::from(uploads::UploadError::from(e)))?,
        ),
        (None, Some("1")) => None,
        _ => {
            return Err(ApiError::Refused {
                code: "invalid_header",
                status: StatusCode::BAD_REQUEST,
                detail: "send Upload-Length, or Upload-Defer-Length: 1, but not both".into(),
            }
            .into());
        }
    };
    let has_body = text(&req, "content-length").is_some_and(|l| l != "0")
        || req.headers().contains_key(header::TRANSFER_ENCODING);
    if has_body && !is_offset_stream(&req) {
        return Err(ApiError::UnsupportedMediaType(format!(
            "a creation request's body must be {}",
            tus::OFFSET_OCTET_STREAM
        ))
        .into());
    }
    let first = if has_body {
        Some(chunk_headers(&req, false)?)
    } else {
        None
    };
    let metadata = text(&req, "upload-metadata")
        .unwrap_or_default()
        .to_string();
    let mut status = uploads::create(
        &state.uploads,
        &actor.user_id,
        Creation {
            length,
            metadata,
            role: actor.role,
        },
    )
    .await
    .map_err(ApiError::from)?;
    if let Some(mut chunk) = first {
        chunk.offset = 0;
        chunk.length = None;
        let patched = uploads::patch(&state.uploads, &actor.user_id, &status.id, chunk, body)
            .await
            .map_err(ApiError::from)?;
        state.hub.poke(patched.touched.iter());
        status = patched.status;
    }
    let mut res = HttpResponse::Created();
    res.insert_header((header::LOCATION, format!("/api/uploads/{}", status.id)));
    Ok(with_status(res, &status))
}

/// HEAD, PATCH and DELETE on one upload (POST with X-HTTP-Method-Override
/// stands for any of them).
pub async fn dispatch(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Payload,
) -> actix_web::Result<HttpResponse> {
    let method = match (req.method(), text(&req, "x-http-method-override")) {
        (&Method::POST, Some(m)) => Method::from_bytes(m.trim().to_ascii_uppercase().as_bytes())
            .map_err(|_| ApiError::InvalidRequest(format!("unknown method override {m:?}")))?,
        (m, _) => m.clone(),
    };
    if let Err(res) = check_version(&req) {
        return Ok(*res);
    }
    let id = id.into_inner();
    match method {
        Method::HEAD => {
            let status = uploads::status(&state.uploads, &actor.user_id, &id)
                .await
                .map_err(ApiError::from)?;
            let mut res = HttpResponse::Ok();
            match status.length {
                Some(l) => res.insert_header(("Upload-Length", l.to_string())),
                None => res.insert_header(("Upload-Defer-Length", "1")),
            };
            if !status.metadata.is_empty() {
                res.insert_header(("Upload-Metadata", status.metadata.clone()));
            }
            Ok(with_status(res, &status))
        }
        Method::PATCH => {
            if !is_offset_stream(&req) {
                return Err(ApiError::UnsupportedMediaType(format!(
                    "a PATCH body must be {}",
                    tus::OFFSET_OCTET_STREAM
                ))
                .into());
            }
            let chunk = chunk_headers(&req, true)?;
            let patched = uploads::patch(&state.uploads, &actor.user_id, &id, chunk, body)
                .await
                .map_err(ApiError::from)?;
            state.hub.poke(patched.touched.iter());
            Ok(with_status(HttpResponse::NoContent(), &patched.status))
        }
        Method::DELETE => {
            uploads::terminate(&state.uploads, &actor.user_id, &id)
                .await
                .map_err(ApiError::from)?;
            Ok(HttpResponse::NoContent().finish())
        }
        other => Err(ApiError::MethodNotAllowed(format!(
            "{other} is not allowed on an upload; use HEAD, PATCH or DELETE"
        ))
        .into()),
    }
}
