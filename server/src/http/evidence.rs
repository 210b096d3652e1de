//! Evidence for coordinators: a task's package, and the served files with
//! byte ranges. Files are answered so a browser never runs them: the
//! declared type with `nosniff`, a sandboxing CSP, and documents as
//! attachments.

use actix_web::{HttpRequest, HttpResponse, http::header, web};

use super::AppState;
use crate::{
    auth::{Actor, Role},
    db::Conn,
    error::{ApiError, Problem},
    evidence::{self, Which},
    storage::ByteRange,
};

/// A task's evidence package: what the campaign requires, what is
/// verified, and what is missing and why.
#[utoipa::path(get, path = "/api/tasks/{id}/evidence", tag = "evidence",
    responses(
        (status = 200, body = evidence::Package),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn package(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
) -> actix_web::Result<HttpResponse> {
    actor.require(&[Role::Coordinator, Role::Administrator])?;
    let id = id.into_inner();
    let package = state
        .db
        .read(move |conn| evidence::package(conn, &id))
        .await?;
    Ok(HttpResponse::Ok().json(package))
}

/// The served copy of an evidence file (metadata removed).
#[utoipa::path(get, path = "/api/evidence/{id}/file", tag = "evidence",
    responses(
        (status = 200, description = "The whole file"),
        (status = 206, description = "The requested range"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 416, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn file(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
    req: HttpRequest,
) -> actix_web::Result<HttpResponse> {
    serve(
        state,
        actor,
        id.into_inner(),
        req,
        Which::Served,
        evidence::served,
    )
    .await
}

/// The thumbnail of a photo or screenshot.
#[utoipa::path(get, path = "/api/evidence/{id}/thumbnail", tag = "evidence",
    responses(
        (status = 200, description = "A JPEG thumbnail"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn thumbnail(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
    req: HttpRequest,
) -> actix_web::Result<HttpResponse> {
    serve(
        state,
        actor,
        id.into_inner(),
        req,
        Which::Thumbnail,
        evidence::served,
    )
    .await
}

/// Who may fetch which stored file: `evidence::served` or
/// `evidence::served_station_photo`.
type Lookup = fn(&mut Conn, &Actor, &str, Which) -> Result<evidence::Served, ApiError>;

async fn serve(
    state: web::Data<AppState>,
    actor: Actor,
    id: String,
    req: HttpRequest,
    which: Which,
    lookup: Lookup,
) -> actix_web::Result<HttpResponse> {
    let served = state
        .db
        .read(move |conn| lookup(conn, &actor, &id, which))
        .await?;
    send_blob(&state, served, &req).await
}

/// The served copy of a relay station's photo of a parcel (metadata
/// removed): coordinators, administrators and the station's operators.
#[utoipa::path(get, path = "/api/station-photos/{id}/file", tag = "logistics",
    responses(
        (status = 200, description = "The whole file"),
        (status = 206, description = "The requested range"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 416, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn station_photo(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
    req: HttpRequest,
) -> actix_web::Result<HttpResponse> {
    let id = id.into_inner().to_lowercase();
    serve(
        state,
        actor,
        id,
        req,
        Which::Served,
        evidence::served_station_photo,
    )
    .await
}

/// The thumbnail of a relay station's photo.
#[utoipa::path(get, path = "/api/station-photos/{id}/thumbnail", tag = "logistics",
    responses(
        (status = 200, description = "A JPEG thumbnail"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn station_photo_thumbnail(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
    req: HttpRequest,
) -> actix_web::Result<HttpResponse> {
    let id = id.into_inner().to_lowercase();
    serve(
        state,
        actor,
        id,
        req,
        Which::Thumbnail,
        evidence::served_station_photo,
    )
    .await
}

/// Sends a stored file the caller may see, honouring one byte range.
pub(super) async fn send_blob(
    state: &AppState,
    served: evidence::Served,
    req: &HttpRequest,
) -> actix_web::Result<HttpResponse> {
    let size = state
        .blobs
        .head(&served.key)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::Internal(format!("blob {} is missing", served.key)))?
        .size;
    // One range is served as asked; several (rare, and costly to answer
    // as multipart) get the whole file, which RFC 9110 allows.
    let range = match req
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
    {
        None => None,
        Some(text) => {
            let unsatisfiable = || {
                let mut res = crate::error::problem_response(&crate::error::problem(
                    actix_web::http::StatusCode::RANGE_NOT_SATISFIABLE,
                    "range_not_satisfiable",
                    "Range not satisfiable",
                    format!("the file is {size} bytes; {text:?} is outside it"),
                ));
                res.headers_mut().insert(
                    header::CONTENT_RANGE,
                    header::HeaderValue::from_str(&format!("bytes */{size}"))
                        .unwrap_or(header::HeaderValue::from_static("bytes */0")),
                );
                res
            };
            match http_range_header::parse_range_header(text).and_then(|r| r.validate(size)) {
                Ok(ranges) if ranges.len() == 1 => {
                    let r = &ranges[0];
                    Some((*r.start(), *r.end()))
                }
                Ok(_) => None,
                Err(_) => return Ok(unsatisfiable()),
            }
        }
    };
    let object = state
        .blobs
        .get(
            &served.key,
            range.map(|(start, end)| ByteRange {
                start,
                end: Some(end),
            }),
        )
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::Internal(format!("blob {} is missing", served.key)))?;
    let mut res = match range {
        Some(_) => HttpResponse::PartialContent(),
        None => HttpResponse::Ok(),
    };
    let (start, end) = object.range;
    if range.is_some() {
        res.insert_header((header::CONTENT_RANGE, format!("bytes {start}-{end}/{size}")));
    }
    let image = served.media_type.starts_with("image/");
    res.insert_header((header::CONTENT_TYPE, served.media_type.clone()))
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header((header::ETAG, format!("\"{}\"", served.sha256)))
        .insert_header((header::CACHE_CONTROL, "private, max-age=3600"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; sandbox",
        ))
        .insert_header((
            header::CONTENT_DISPOSITION,
            if image { "inline" } else { "attachment" },
        ))
        .no_chunking(end - start + 1);
    Ok(res.streaming(object.body))
}
