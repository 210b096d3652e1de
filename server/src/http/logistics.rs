//! Endpoints of the anonymous route: stations and labs as data
//! (administrators write, coordinators read), the relay station's scans,
//! labels and forwarding, the lab's receipt, results and reports, and the
//! coordinators' view of parcels, exceptions, results and custody chains.
//!
//! A relay operator reaches only the stations they work at and a lab
//! inspector only their labs; any other station or lab is 404, as is a
//! parcel of another station. Every answer is a per-role view from
//! `logistics::views`.

use actix_web::{HttpRequest, HttpResponse, http::header, web};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{AppState, Deferred};
use crate::{
    auth::{Actor, Role},
    db::{self, Conn, time::to_micros},
    error::{ApiError, Problem},
    logistics::{
        self, Stage, codes,
        exceptions::{self, ReportInput, ResolveInput, Side},
        lab::{self, ResultInput},
        places::{self, NewPlace, PlaceEdit, PlaceKind},
        scans::{self, ForwardInput, ScanInput, SealInput},
        views,
    },
    sync::Touched,
};

fn poke(state: &AppState, touched: &Touched) {
    state.hub.poke(touched.iter());
}

fn now(state: &AppState) -> i64 {
    to_micros(state.clock.now())
}

/// The caller works at `station`; anyone else is told it does not exist.
fn at_station(conn: &mut Conn, actor: &Actor, station: &str) -> Result<(), ApiError> {
    actor.require(&[Role::RelayOperator])?;
    if db::logistics::is_operator(conn, station, &actor.user_id)? {
        Ok(())
    } else {
        Err(ApiError::Missing("no such relay station".into()))
    }
}

/// The caller inspects for `lab`; anyone else is told it does not exist.
fn at_lab(conn: &mut Conn, actor: &Actor, lab: &str) -> Result<(), ApiError> {
    actor.require(&[Role::LabInspector])?;
    if db::logistics::is_inspector(conn, lab, &actor.user_id)? {
        Ok(())
    } else {
        Err(ApiError::Missing("no such lab".into()))
    }
}

// ---- stations and labs as data ---------------------------------------------

async fn list_places(
    state: web::Data<AppState>,
    actor: Actor,
    kind: PlaceKind,
) -> actix_web::Result<HttpResponse> {
    actor.require(&[Role::Administrator, Role::Coordinator])?;
    let list = state.db.read(move |conn| places::list(conn, kind)).await?;
    Ok(HttpResponse::Ok().json(list))
}

async fn create_place(
    state: web::Data<AppState>,
    actor: Actor,
    kind: PlaceKind,
    body: Deferred<web::Json<NewPlace>>,
) -> actix_web::Result<HttpResponse> {
    actor.require(&[Role::Administrator])?;
    let body = body?.into_inner();
    let now = now(&state);
    let view = state
        .db
        .write(move |conn| places::create(conn, now, kind, &body))
        .await?;
    Ok(HttpResponse::Created().json(view))
}

async fn show_place(
    state: web::Data<AppState>,
    actor: Actor,
    kind: PlaceKind,
    id: String,
) -> actix_web::Result<HttpResponse> {
    actor.require(&[Role::Administrator, Role::Coordinator])?;
    let view = state
        .db
        .read(move |conn| places::show(conn, kind, &id))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

async fn edit_place(
    state: web::Data<AppState>,
    actor: Actor,
    kind: PlaceKind,
    id: String,
    body: Deferred<web::Json<PlaceEdit>>,
) -> actix_web::Result<HttpResponse> {
    actor.require(&[Role::Administrator])?;
    let body = body?.into_inner();
    let now = now(&state);
    let view = state
        .db
        .write(move |conn| places::edit(conn, now, kind, &id, &body))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Relay stations (administrators and coordinators).
#[utoipa::path(get, path = "/api/stations", tag = "logistics",
    responses((status = 200, body = [places::PlaceView]), (status = 403, body = Problem, content_type = "application/problem+json")))]
pub async fn list_stations(
    state: web::Data<AppState>,
    actor: Actor,
) -> actix_web::Result<HttpResponse> {
    list_places(state, actor, PlaceKind::Station).await
}

/// Adds a relay station (administrators).
#[utoipa::path(post, path = "/api/stations", tag = "logistics", request_body = NewPlace,
    responses((status = 201, body = places::PlaceView), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn create_station(
    state: web::Data<AppState>,
    actor: Actor,
    body: Deferred<web::Json<NewPlace>>,
) -> actix_web::Result<HttpResponse> {
    create_place(state, actor, PlaceKind::Station, body).await
}

/// One relay station.
#[utoipa::path(get, path = "/api/stations/{id}", tag = "logistics",
    params(("id" = String, Path, description = "Station id")),
    responses((status = 200, body = places::PlaceView), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn show_station(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
) -> actix_web::Result<HttpResponse> {
    show_place(state, actor, PlaceKind::Station, id.into_inner()).await
}

/// Changes a relay station (administrators).
#[utoipa::path(patch, path = "/api/stations/{id}", tag = "logistics", request_body = PlaceEdit,
    params(("id" = String, Path, description = "Station id")),
    responses((status = 200, body = places::PlaceView), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn edit_station(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
    body: Deferred<web::Json<PlaceEdit>>,
) -> actix_web::Result<HttpResponse> {
    edit_place(state, actor, PlaceKind::Station, id.into_inner(), body).await
}

/// Labs (administrators and coordinators).
#[utoipa::path(get, path = "/api/labs", tag = "logistics",
    responses((status = 200, body = [places::PlaceView]), (status = 403, body = Problem, content_type = "application/problem+json")))]
pub async fn list_labs(
    state: web::Data<AppState>,
    actor: Actor,
) -> actix_web::Result<HttpResponse> {
    list_places(state, actor, PlaceKind::Lab).await
}

/// Adds a lab (administrators).
#[utoipa::path(post, path = "/api/labs", tag = "logistics", request_body = NewPlace,
    responses((status = 201, body = places::PlaceView), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn create_lab(
    state: web::Data<AppState>,
    actor: Actor,
    body: Deferred<web::Json<NewPlace>>,
) -> actix_web::Result<HttpResponse> {
    create_place(state, actor, PlaceKind::Lab, body).await
}

/// One lab.
#[utoipa::path(get, path = "/api/labs/{id}", tag = "logistics",
    params(("id" = String, Path, description = "Lab id")),
    responses((status = 200, body = places::PlaceView), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn show_lab(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
) -> actix_web::Result<HttpResponse> {
    show_place(state, actor, PlaceKind::Lab, id.into_inner()).await
}

/// Changes a lab (administrators).
#[utoipa::path(patch, path = "/api/labs/{id}", tag = "logistics", request_body = PlaceEdit,
    params(("id" = String, Path, description = "Lab id")),
    responses((status = 200, body = places::PlaceView), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn edit_lab(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
    body: Deferred<web::Json<PlaceEdit>>,
) -> actix_web::Result<HttpResponse> {
    edit_place(state, actor, PlaceKind::Lab, id.into_inner(), body).await
}

// ---- the relay station -----------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct StageQuery {
    /// Only parcels at this stage (`awaiting`, `at_station`, `forwarded`...).
    #[param(value_type = Option<String>)]
    pub stage: Option<String>,
}

/// The station's parcels, as the station sees them.
#[utoipa::path(get, path = "/api/stations/{id}/parcels", tag = "station",
    params(("id" = String, Path, description = "Station id"), StageQuery),
    responses((status = 200, body = [views::StationParcel]), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn station_parcels(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
    query: Deferred<web::Query<StageQuery>>,
) -> actix_web::Result<HttpResponse> {
    let stage = query?.into_inner().stage;
    if let Some(s) = &stage
        && !Stage::ALL.iter().any(|k| k.as_str() == s)
    {
        return Err(ApiError::InvalidRequest(format!("no stage {s:?}")).into());
    }
    let id = id.into_inner();
    let list = state
        .db
        .read(move |conn| {
            at_station(conn, &actor, &id)?;
            db::logistics::station_parcels(conn, &id, stage.as_deref())?
                .iter()
                .map(|p| views::station_parcel(conn, p))
                .collect::<Result<Vec<_>, ApiError>>()
        })
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Records a scan (the carrier's barcode or a typed recipient code).
/// 201 for a new scan, 200 for the same scan id again (a retry), with
/// what it came to: matched (and the instruction) or waiting.
#[utoipa::path(post, path = "/api/stations/{id}/scans", tag = "station",
    params(("id" = String, Path, description = "Station id")), request_body = ScanInput,
    responses((status = 201, body = views::StationScan), (status = 200, body = views::StationScan), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn scan(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
    body: Deferred<web::Json<ScanInput>>,
) -> actix_web::Result<HttpResponse> {
    actor.require(&[Role::RelayOperator])?; // the role before the body: others get 403, not 400
    let body = body?.into_inner();
    let id = id.into_inner();
    let now = now(&state);
    let (view, new, touched) = state
        .db
        .write(move |conn| {
            at_station(conn, &actor, &id)?;
            let mut touched = Touched::new();
            let (outcome, new) =
                scans::record(conn, now, &id, &actor.user_id, &body, &mut touched)?;
            Ok::<_, ApiError>((scans::view(conn, outcome)?, new, touched))
        })
        .await?;
    poke(&state, &touched);
    Ok(if new {
        HttpResponse::Created().json(view)
    } else {
        HttpResponse::Ok().json(view)
    })
}

/// One scan and what it came to (a waiting scan shows its instruction once
/// the volunteer's tracking number has matched it).
#[utoipa::path(get, path = "/api/stations/{id}/scans/{scan}", tag = "station",
    params(("id" = String, Path, description = "Station id"), ("scan" = String, Path, description = "Scan id")),
    responses((status = 200, body = views::StationScan), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn show_scan(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<(String, String)>,
) -> actix_web::Result<HttpResponse> {
    let (id, scan) = path.into_inner();
    let view = state
        .db
        .read(move |conn| {
            at_station(conn, &actor, &id)?;
            let row = db::logistics::find_scan(conn, &scan.to_lowercase())?
                .filter(|s| s.station_id == id)
                .ok_or_else(|| ApiError::Missing("no such scan at this station".into()))?;
            let outcome = scans::outcome_of(conn, row)?;
            scans::view(conn, outcome)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Scans no parcel matches yet, oldest first.
#[utoipa::path(get, path = "/api/stations/{id}/scans", tag = "station",
    params(("id" = String, Path, description = "Station id")),
    responses((status = 200, body = [views::StationScan]), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn waiting_scans(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
) -> actix_web::Result<HttpResponse> {
    let id = id.into_inner();
    let list = state
        .db
        .read(move |conn| {
            at_station(conn, &actor, &id)?;
            db::logistics::unmatched_scans_at(conn, &id)?
                .iter()
                .map(|s| views::station_scan(conn, s, None))
                .collect::<Result<Vec<_>, ApiError>>()
        })
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// One of the station's parcels by sample code.
#[utoipa::path(get, path = "/api/stations/{id}/parcels/{sample}", tag = "station",
    params(("id" = String, Path, description = "Station id"), ("sample" = String, Path, description = "Sample code")),
    responses((status = 200, body = views::StationParcel), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn station_parcel(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<(String, String)>,
) -> actix_web::Result<HttpResponse> {
    let (id, sample) = path.into_inner();
    let view = state
        .db
        .read(move |conn| {
            at_station(conn, &actor, &id)?;
            let parcel = scans::station_parcel(conn, &id, &sample)?;
            views::station_parcel(conn, &parcel)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Records that the parcel was opened and the sample sealed in front of a
/// witness (campaigns that ask for it).
#[utoipa::path(post, path = "/api/stations/{id}/parcels/{sample}/seal", tag = "station",
    params(("id" = String, Path, description = "Station id"), ("sample" = String, Path, description = "Sample code")),
    request_body = SealInput,
    responses((status = 200, body = views::StationParcel), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn seal(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<(String, String)>,
    body: Deferred<web::Json<SealInput>>,
) -> actix_web::Result<HttpResponse> {
    actor.require(&[Role::RelayOperator])?; // the role before the body: others get 403, not 400
    let body = body?.into_inner();
    let (id, sample) = path.into_inner();
    let now = now(&state);
    let (view, touched) = state
        .db
        .write(move |conn| {
            at_station(conn, &actor, &id)?;
            let mut touched = Touched::new();
            let parcel = scans::seal(conn, now, &id, &sample, &body, &mut touched)?;
            Ok::<_, ApiError>((views::station_parcel(conn, &parcel)?, touched))
        })
        .await?;
    poke(&state, &touched);
    Ok(HttpResponse::Ok().json(view))
}

/// Records the relabelled parcel's hand-over to a carrier for the lab.
#[utoipa::path(post, path = "/api/stations/{id}/parcels/{sample}/forward", tag = "station",
    params(("id" = String, Path, description = "Station id"), ("sample" = String, Path, description = "Sample code")),
    request_body = ForwardInput,
    responses((status = 200, body = views::StationParcel), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn forward(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<(String, String)>,
    body: Deferred<web::Json<ForwardInput>>,
) -> actix_web::Result<HttpResponse> {
    actor.require(&[Role::RelayOperator])?; // the role before the body: others get 403, not 400
    let body = body?.into_inner();
    let (id, sample) = path.into_inner();
    let now = now(&state);
    let (view, touched) = state
        .db
        .write(move |conn| {
            at_station(conn, &actor, &id)?;
            let mut touched = Touched::new();
            let parcel = scans::forward(conn, now, &id, &sample, &body, &mut touched)?;
            Ok::<_, ApiError>((views::station_parcel(conn, &parcel)?, touched))
        })
        .await?;
    poke(&state, &touched);
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LabelQuery {
    /// `png` (default), `pdf` or `svg`.
    #[param(value_type = Option<String>)]
    pub format: Option<codes::LabelFormat>,
    /// PNG resolution, 150 to 600. Default 300.
    pub dpi: Option<u32>,
}

/// The relabelling label: the sample code as Code 128 and QR code, and the
/// lab's address.
#[utoipa::path(get, path = "/api/stations/{id}/parcels/{sample}/label", tag = "station",
    params(("id" = String, Path, description = "Station id"), ("sample" = String, Path, description = "Sample code"), LabelQuery),
    responses((status = 200, description = "The label (PNG, PDF or SVG)"), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn label(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<(String, String)>,
    query: Deferred<web::Query<LabelQuery>>,
) -> actix_web::Result<HttpResponse> {
    let query = query?.into_inner();
    let format = query.format.unwrap_or(codes::LabelFormat::Png);
    let dpi = query.dpi.unwrap_or(300);
    let (id, sample) = path.into_inner();
    let (code, lab, station) = state
        .db
        .read(move |conn| {
            at_station(conn, &actor, &id)?;
            let parcel = scans::station_parcel(conn, &id, &sample)?;
            let lab_id = parcel.lab_id.clone().ok_or_else(|| ApiError::Refused {
                code: "no_lab",
                status: actix_web::http::StatusCode::CONFLICT,
                detail: "the campaign names no lab to send this sample to".into(),
            })?;
            let lab = places::get(conn, PlaceKind::Lab, &lab_id)?;
            let station = places::get(conn, PlaceKind::Station, &id)?;
            Ok::<_, ApiError>((parcel.sample_code.unwrap_or_default(), lab, station))
        })
        .await?;
    // Rendering takes milliseconds of CPU: off the async workers.
    let file_code = code.clone();
    let bytes = web::block(move || codes::label(&code, &lab, Some(station.name), format, dpi))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    let extension = match format {
        codes::LabelFormat::Png => "png",
        codes::LabelFormat::Pdf => "pdf",
        codes::LabelFormat::Svg => "svg",
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, format.media_type()))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("inline; filename=\"label-{file_code}.{extension}\""),
        ))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'",
        ))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .body(bytes))
}

/// Reports an exception of a parcel at the station: damaged, wrong item,
/// returned to sender.
#[utoipa::path(post, path = "/api/stations/{id}/parcels/{sample}/exceptions", tag = "station",
    params(("id" = String, Path, description = "Station id"), ("sample" = String, Path, description = "Sample code")),
    request_body = ReportInput,
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn station_exception(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<(String, String)>,
    body: Deferred<web::Json<ReportInput>>,
) -> actix_web::Result<HttpResponse> {
    actor.require(&[Role::RelayOperator])?; // the role before the body: others get 403, not 400
    let body = body?.into_inner();
    let (id, sample) = path.into_inner();
    let now = now(&state);
    state
        .db
        .write(move |conn| {
            at_station(conn, &actor, &id)?;
            let found = scans::station_parcel(conn, &id, &sample)?;
            let parcel = logistics::lock(conn, found)?;
            exceptions::report_from(
                conn,
                now,
                &parcel,
                body.kind,
                Side::Station,
                Some(&actor.user_id),
                &body.note,
            )
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

// ---- the lab ---------------------------------------------------------------

/// The lab's samples: forwarded to it, received, tested.
#[utoipa::path(get, path = "/api/labs/{id}/samples", tag = "lab",
    params(("id" = String, Path, description = "Lab id")),
    responses((status = 200, body = [views::LabSample]), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn lab_samples(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
) -> actix_web::Result<HttpResponse> {
    let id = id.into_inner();
    let list = state
        .db
        .read(move |conn| {
            at_lab(conn, &actor, &id)?;
            lab::samples(conn, &id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// One sample of the lab.
#[utoipa::path(get, path = "/api/labs/{id}/samples/{sample}", tag = "lab",
    params(("id" = String, Path, description = "Lab id"), ("sample" = String, Path, description = "Sample code")),
    responses((status = 200, body = views::LabSample), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn lab_sample(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<(String, String)>,
) -> actix_web::Result<HttpResponse> {
    let (id, sample) = path.into_inner();
    let view = state
        .db
        .read(move |conn| {
            at_lab(conn, &actor, &id)?;
            let parcel = lab::lab_parcel(conn, &id, &sample)?;
            views::lab_sample(conn, &parcel)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// The lab scanned the sample code on arrival.
#[utoipa::path(post, path = "/api/labs/{id}/samples/{sample}/receive", tag = "lab",
    params(("id" = String, Path, description = "Lab id"), ("sample" = String, Path, description = "Sample code")),
    responses((status = 200, body = views::LabSample), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn receive(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<(String, String)>,
) -> actix_web::Result<HttpResponse> {
    let (id, sample) = path.into_inner();
    let now = now(&state);
    let (view, touched) = state
        .db
        .write(move |conn| {
            at_lab(conn, &actor, &id)?;
            let mut touched = Touched::new();
            let found = lab::lab_parcel(conn, &id, &sample)?;
            logistics::lock(conn, found)?;
            let parcel = lab::receive(conn, now, &id, &actor.user_id, &sample, &mut touched)?;
            Ok::<_, ApiError>((views::lab_sample(conn, &parcel)?, touched))
        })
        .await?;
    poke(&state, &touched);
    Ok(HttpResponse::Ok().json(view))
}

/// Records (or corrects, until published) the sample's result.
#[utoipa::path(put, path = "/api/labs/{id}/samples/{sample}/result", tag = "lab",
    params(("id" = String, Path, description = "Lab id"), ("sample" = String, Path, description = "Sample code")),
    request_body = ResultInput,
    responses((status = 200, body = views::LabResult), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn record_result(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<(String, String)>,
    body: Deferred<web::Json<ResultInput>>,
) -> actix_web::Result<HttpResponse> {
    actor.require(&[Role::LabInspector])?; // the role before the body: others get 403, not 400
    let body = body?.into_inner();
    let (id, sample) = path.into_inner();
    let now = now(&state);
    let (view, touched) = state
        .db
        .write(move |conn| {
            at_lab(conn, &actor, &id)?;
            let mut touched = Touched::new();
            let found = lab::lab_parcel(conn, &id, &sample)?;
            logistics::lock(conn, found)?;
            let view =
                lab::record_result(conn, now, &id, &actor.user_id, &sample, &body, &mut touched)?;
            Ok::<_, ApiError>((view, touched))
        })
        .await?;
    poke(&state, &touched);
    Ok(HttpResponse::Ok().json(view))
}

/// Uploads the test report (`application/pdf`), stored by its SHA-256.
#[utoipa::path(put, path = "/api/labs/{id}/samples/{sample}/report", tag = "lab",
    params(("id" = String, Path, description = "Lab id"), ("sample" = String, Path, description = "Sample code")),
    request_body(content = Vec<u8>, content_type = "application/pdf"),
    responses((status = 200, body = views::LabResult), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json"), (status = 413, body = Problem, content_type = "application/problem+json"), (status = 415, body = Problem, content_type = "application/problem+json")))]
pub async fn upload_report(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Payload,
) -> actix_web::Result<HttpResponse> {
    actor.require(&[Role::LabInspector])?; // the role before the body: others get 403, not 415
    let (id, sample) = path.into_inner();
    let media = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if !lab::REPORT_TYPES.contains(&media.as_str()) {
        return Err(
            ApiError::UnsupportedMediaType("send the report as application/pdf".into()).into(),
        );
    }
    // Who may attach is checked before a byte is stored.
    let (check_id, check_sample, check_actor) = (id.clone(), sample.clone(), actor.clone());
    state
        .db
        .read(move |conn| {
            at_lab(conn, &check_actor, &check_id)?;
            lab::lab_parcel(conn, &check_id, &check_sample).map(|_| ())
        })
        .await?;
    let max = state.config.upload_max_bytes;
    // The request body is not `Send`; it is fed through a small channel to
    // the ingest, which streams it into the store part by part.
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let feed = async move {
        use futures_util::StreamExt;
        let mut body = std::pin::pin!(sniffed_pdf(body));
        while let Some(chunk) = body.next().await {
            let failed = chunk.is_err();
            if tx.send(chunk).await.is_err() || failed {
                break;
            }
        }
    };
    let received = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    let ingest = crate::storage::ingest::ingest(
        state.blobs.as_ref(),
        &state.db,
        &state.clock,
        Box::pin(received),
        Some(media.clone()),
        max,
    );
    let ((), stored) = tokio::join!(feed, ingest);
    let stored = stored.map_err(|e| match e {
        crate::storage::StorageError::LongBody { .. } => {
            ApiError::PayloadTooLarge(format!("a report is at most {max} bytes"))
        }
        crate::storage::StorageError::Body(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            ApiError::UnsupportedMediaType(e.to_string())
        }
        other => ApiError::from(other),
    })?;
    let now = now(&state);
    let view = state
        .db
        .write(move |conn| {
            at_lab(conn, &actor, &id)?;
            let found = lab::lab_parcel(conn, &id, &sample)?;
            logistics::lock(conn, found)?;
            lab::attach_report(
                conn,
                now,
                &id,
                &actor.user_id,
                &sample,
                &lab::StoredReport {
                    sha256: &stored.sha256,
                    size: stored.size,
                    media_type: &media,
                },
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// The body, refused (as invalid data) unless it starts like a PDF.
fn sniffed_pdf(
    body: web::Payload,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> {
    use futures_util::StreamExt;
    let mut seen = 0usize;
    body.map(move |chunk| {
        let chunk = chunk.map_err(|e| std::io::Error::other(e.to_string()))?;
        if seen < 5 {
            let want = &b"%PDF-"[seen..];
            let have = &chunk[..chunk.len().min(want.len())];
            if !want.starts_with(have) {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "the report is not a PDF file",
                ));
            }
            seen += have.len();
        }
        Ok(chunk)
    })
}

/// The report, for the lab that attached it.
#[utoipa::path(get, path = "/api/labs/{id}/samples/{sample}/report", tag = "lab",
    params(("id" = String, Path, description = "Lab id"), ("sample" = String, Path, description = "Sample code")),
    responses((status = 200, description = "The PDF"), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn lab_report(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> actix_web::Result<HttpResponse> {
    let (id, sample) = path.into_inner();
    let served = state
        .db
        .read(move |conn| {
            at_lab(conn, &actor, &id)?;
            let parcel = lab::lab_parcel(conn, &id, &sample)?;
            report(conn, &parcel)
        })
        .await?;
    super::evidence::send_blob(&state, served, &req).await
}

fn report(
    conn: &mut Conn,
    parcel: &db::logistics::ParcelRow,
) -> Result<crate::evidence::Served, ApiError> {
    let code = parcel.sample_code.clone().unwrap_or_default();
    let (key, media_type, sha256) = lab::report_of(conn, &code)?;
    Ok(crate::evidence::Served {
        key,
        media_type,
        sha256,
    })
}

/// Reports an exception of a sample at the lab: damaged, wrong item, lost.
#[utoipa::path(post, path = "/api/labs/{id}/samples/{sample}/exceptions", tag = "lab",
    params(("id" = String, Path, description = "Lab id"), ("sample" = String, Path, description = "Sample code")),
    request_body = ReportInput,
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn lab_exception(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<(String, String)>,
    body: Deferred<web::Json<ReportInput>>,
) -> actix_web::Result<HttpResponse> {
    actor.require(&[Role::LabInspector])?; // the role before the body: others get 403, not 400
    let body = body?.into_inner();
    let (id, sample) = path.into_inner();
    let now = now(&state);
    state
        .db
        .write(move |conn| {
            at_lab(conn, &actor, &id)?;
            let found = lab::lab_parcel(conn, &id, &sample)?;
            let parcel = logistics::lock(conn, found)?;
            exceptions::report_from(
                conn,
                now,
                &parcel,
                body.kind,
                Side::Lab,
                Some(&actor.user_id),
                &body.note,
            )
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

// ---- coordinators ----------------------------------------------------------

fn require_coordinator(actor: &Actor) -> Result<(), ApiError> {
    actor.require(&[Role::Coordinator])
}

fn parcel_of(conn: &mut Conn, task: &str) -> Result<db::logistics::ParcelRow, ApiError> {
    db::logistics::find_parcel(conn, task)?
        .ok_or_else(|| ApiError::Missing("this task has no parcel".into()))
}

/// A task's parcel: its whole route, result and exceptions.
#[utoipa::path(get, path = "/api/tasks/{id}/parcel", tag = "custody",
    params(("id" = String, Path, description = "Task id")),
    responses((status = 200, body = views::CoordinatorParcel), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn task_parcel(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
) -> actix_web::Result<HttpResponse> {
    require_coordinator(&actor)?;
    let id = id.into_inner();
    let view = state
        .db
        .read(move |conn| {
            let parcel = parcel_of(conn, &id)?;
            views::coordinator_parcel(conn, &parcel)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// A campaign's parcels.
#[utoipa::path(get, path = "/api/campaigns/{id}/parcels", tag = "custody",
    params(("id" = String, Path, description = "Campaign id")),
    responses((status = 200, body = [views::CoordinatorParcel]), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn campaign_parcels(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
) -> actix_web::Result<HttpResponse> {
    require_coordinator(&actor)?;
    let id = id.into_inner();
    let list = state
        .db
        .read(move |conn| {
            crate::campaigns::campaign(conn, &id)?;
            db::logistics::campaign_parcels(conn, &id)?
                .iter()
                .map(|p| views::coordinator_parcel(conn, p))
                .collect::<Result<Vec<_>, ApiError>>()
        })
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// A campaign's exceptions, open ones first.
#[utoipa::path(get, path = "/api/campaigns/{id}/exceptions", tag = "custody",
    params(("id" = String, Path, description = "Campaign id")),
    responses((status = 200, body = [views::ExceptionView]), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn campaign_exceptions(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
) -> actix_web::Result<HttpResponse> {
    require_coordinator(&actor)?;
    let id = id.into_inner();
    let list = state
        .db
        .read(move |conn| {
            crate::campaigns::campaign(conn, &id)?;
            exceptions::of_campaign(conn, &id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// A coordinator reports an exception (any kind: a return the volunteer
/// told them about, a loss the lab phoned in).
#[utoipa::path(post, path = "/api/tasks/{id}/exceptions", tag = "custody",
    params(("id" = String, Path, description = "Task id")), request_body = ReportInput,
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn task_exception(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
    body: Deferred<web::Json<ReportInput>>,
) -> actix_web::Result<HttpResponse> {
    require_coordinator(&actor)?;
    let body = body?.into_inner();
    let id = id.into_inner();
    let now = now(&state);
    state
        .db
        .write(move |conn| {
            let found = parcel_of(conn, &id)?;
            let parcel = logistics::lock(conn, found)?;
            exceptions::report_from(
                conn,
                now,
                &parcel,
                body.kind,
                Side::Coordinator,
                Some(&actor.user_id),
                &body.note,
            )
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Resolves an open exception, saying what was done.
#[utoipa::path(post, path = "/api/exceptions/{id}/resolve", tag = "custody",
    params(("id" = String, Path, description = "Exception id")), request_body = ResolveInput,
    responses((status = 200, body = views::ExceptionView), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn resolve_exception(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
    body: Deferred<web::Json<ResolveInput>>,
) -> actix_web::Result<HttpResponse> {
    require_coordinator(&actor)?;
    let body = body?.into_inner();
    let id = id.into_inner();
    let now = now(&state);
    let view = state
        .db
        .write(move |conn| exceptions::resolve(conn, now, &id, &body))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Publishes the task's recorded result.
#[utoipa::path(post, path = "/api/tasks/{id}/result/publish", tag = "custody",
    params(("id" = String, Path, description = "Task id")),
    responses((status = 200, body = views::LabResult), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn publish(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
) -> actix_web::Result<HttpResponse> {
    require_coordinator(&actor)?;
    let id = id.into_inner();
    let now = now(&state);
    let view = state
        .db
        .write(move |conn| {
            db::sync::lock_task(conn, &id)?;
            lab::publish(conn, now, &actor.user_id, &id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// The task's test report.
#[utoipa::path(get, path = "/api/tasks/{id}/report", tag = "custody",
    params(("id" = String, Path, description = "Task id")),
    responses((status = 200, description = "The PDF"), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn task_report(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    id: web::Path<String>,
) -> actix_web::Result<HttpResponse> {
    require_coordinator(&actor)?;
    let id = id.into_inner();
    let served = state
        .db
        .read(move |conn| {
            let parcel = parcel_of(conn, &id)?;
            report(conn, &parcel)
        })
        .await?;
    super::evidence::send_blob(&state, served, &req).await
}

/// The published results of a campaign as CSV, for platforms (takedowns)
/// and regulators.
#[utoipa::path(get, path = "/api/campaigns/{id}/results.csv", tag = "custody",
    params(("id" = String, Path, description = "Campaign id")),
    responses((status = 200, content_type = "text/csv", body = String), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn results_csv(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
) -> actix_web::Result<HttpResponse> {
    require_coordinator(&actor)?;
    let id = id.into_inner();
    let file = format!(
        "attachment; filename=\"results-{}.csv\"",
        id.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "")
    );
    let body = state
        .db
        .read(move |conn| {
            crate::campaigns::campaign(conn, &id)?;
            lab::results_csv(conn, &id)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/csv; charset=utf-8"))
        .insert_header((header::CONTENT_DISPOSITION, file))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body))
}

fn signer(state: &AppState) -> Result<std::sync::Arc<custody_log::CheckpointSigner>, ApiError> {
    state.custody_signer.clone().ok_or_else(|| {
        ApiError::NotReady(
            "custody checkpoints are not signed on this server (no custody_signing_key)".into(),
        )
    })
}

/// The task's custody chain with its proof: each entry's audit path to a
/// signed checkpoint, the checkpoint and the public key. Check it with the
/// regulator's copy of the public key (see the `custody-log` crate docs).
#[utoipa::path(get, path = "/api/tasks/{id}/custody", tag = "custody",
    params(("id" = String, Path, description = "Task id")),
    responses((status = 200, description = "A `mystery-buyer custody chain proof v1`"), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 503, body = Problem, content_type = "application/problem+json")))]
pub async fn custody_chain(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
) -> actix_web::Result<HttpResponse> {
    actor.require(&[Role::Coordinator, Role::Administrator])?;
    let signer = signer(&state)?;
    let id = id.into_inner();
    let now = now(&state);
    let proof = state
        .db
        .write(move |conn| {
            db::sync::find_task(conn, &id)?
                .ok_or_else(|| ApiError::Missing("no such task".into()))?;
            crate::custody::chain_of_task(conn, now, &id, &signer)
        })
        .await?;
    Ok(HttpResponse::Ok().json(proof))
}

/// The same chain found by sample code.
#[utoipa::path(get, path = "/api/samples/{code}/custody", tag = "custody",
    params(("code" = String, Path, description = "Sample code")),
    responses((status = 200, description = "A `mystery-buyer custody chain proof v1`"), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 503, body = Problem, content_type = "application/problem+json")))]
pub async fn sample_custody(
    state: web::Data<AppState>,
    actor: Actor,
    code: web::Path<String>,
) -> actix_web::Result<HttpResponse> {
    actor.require(&[Role::Coordinator, Role::Administrator])?;
    let signer = signer(&state)?;
    let code = code.into_inner();
    let now = now(&state);
    let proof = state
        .db
        .write(move |conn| {
            let parcel = codes::read_sample_code(&code)
                .map(|c| db::logistics::parcel_by_sample_code(conn, &c))
                .transpose()?
                .flatten()
                .ok_or_else(|| ApiError::Missing("no such sample".into()))?;
            crate::custody::chain_of_task(conn, now, &parcel.task_id, &signer)
        })
        .await?;
    Ok(HttpResponse::Ok().json(proof))
}

/// The public key that signs custody checkpoints and the newest checkpoint.
#[utoipa::path(get, path = "/api/custody/checkpoint", tag = "custody",
    responses((status = 200, description = "`{ public_key, key_id, checkpoint }`"), (status = 503, body = Problem, content_type = "application/problem+json")))]
pub async fn latest_checkpoint(
    state: web::Data<AppState>,
    actor: Actor,
) -> actix_web::Result<HttpResponse> {
    actor.require(&[Role::Coordinator, Role::Administrator])?;
    let signer = signer(&state)?;
    let now = now(&state);
    let key = signer.clone();
    let checkpoint = state
        .db
        .write(move |conn| crate::custody::checkpoint(conn, now, &key))
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "public_key": hex::encode(signer.public_key().to_bytes()),
        "key_id": signer.key_id().0,
        "checkpoint": checkpoint,
    })))
}
