//! The HTTP surface: the one route table, the request-body rules, and the
//! mapping of every failure to a problem document. Handlers live in one
//! module per area and stay thin: extract, validate, call one domain
//! function, map the result to a response type.

use std::sync::Arc;

use actix_web::{
    App, HttpRequest, HttpResponse,
    body::MessageBody,
    dev::{ServiceFactory, ServiceRequest, ServiceResponse},
    error::{JsonPayloadError, PathError, QueryPayloadError},
    http::{StatusCode, header},
    middleware::{ErrorHandlerResponse, ErrorHandlers},
    web,
};

use crate::{
    clock::SharedClock,
    config::Config,
    db::Database,
    error::{ApiError, PROBLEM_JSON, problem, problem_response},
    storage::BlobStore,
    telemetry::Metrics,
};

pub mod auth;
pub mod campaigns;
pub mod docs;
pub mod evidence;
pub mod logistics;
pub mod ops;
pub mod panel;
pub mod sync;
pub mod uploads;
pub mod users;

/// A body or query extracted without failing the request yet: handlers
/// that take an [`Actor`](crate::auth::Actor) check the caller first, so a
/// stranger learns nothing from how their body was judged.
pub type Deferred<T> = Result<T, actix_web::Error>;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Database,
    pub blobs: Arc<dyn BlobStore>,
    pub clock: SharedClock,
    pub metrics: Arc<Metrics>,
    pub webauthn: Arc<webauthn_rs::Webauthn>,
    /// Derives refresh-token successors; the same on every instance.
    pub refresh_key: Arc<str>,
    /// The database's sync epoch (in every pull cursor).
    pub sync_epoch: Arc<str>,
    /// This instance's event-stream listeners.
    pub hub: Arc<crate::sync::events::Hub>,
    pub uploads: crate::uploads::Uploads,
    /// Signs custody checkpoints; `None` without `custody_signing_key`.
    pub custody_signer: Option<Arc<custody_log::CheckpointSigner>>,
}

impl AppState {
    /// The state for `services`, with fresh metrics.
    pub fn new(services: &crate::Services) -> Result<Self, crate::StartError> {
        let webauthn = crate::auth::passkeys::relying_party(&services.config).map_err(
            |(setting, message)| crate::StartError::Config(format!("{setting}: {message}")),
        )?;
        Ok(Self {
            config: Arc::clone(&services.config),
            db: services.db.clone(),
            blobs: Arc::clone(&services.blobs),
            clock: Arc::clone(&services.clock),
            metrics: Arc::new(Metrics::new()),
            webauthn: Arc::new(webauthn),
            refresh_key: Arc::clone(&services.refresh_key),
            sync_epoch: Arc::clone(&services.sync_epoch),
            hub: Arc::new(crate::sync::events::Hub::default()),
            uploads: services.uploads(),
            custody_signer: services.custody_signer.clone(),
        })
    }
}

/// The application: middleware, body rules, routes. `extra` may add routes
/// (tests mount probes through it); the server passes a no-op.
pub fn app(
    state: AppState,
    extra: impl FnOnce(&mut web::ServiceConfig),
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let json_limit = state.config.max_json_body_bytes;
    let body_limit = state.config.max_body_bytes;
    let push_limit = state.config.sync_max_push_bytes;
    let import_limit = state.config.max_import_bytes;
    let metrics = Arc::clone(&state.metrics);
    App::new()
        .app_data(web::Data::new(state))
        .app_data(json_config(json_limit))
        .app_data(web::PayloadConfig::new(body_limit))
        .app_data(web::QueryConfig::default().error_handler(query_error))
        .app_data(web::PathConfig::default().error_handler(path_error))
        .configure(|cfg| routes(cfg, push_limit, import_limit))
        .configure(extra)
        .default_service(web::to(not_found))
        // Outermost last: metrics see the final status, after error mapping.
        .wrap(ErrorHandlers::new().default_handler(as_problem))
        .wrap(actix_web::middleware::from_fn(move |req, next| {
            crate::telemetry::observe(Arc::clone(&metrics), req, next)
        }))
}

/// The route table: every path the server answers.
fn routes(cfg: &mut web::ServiceConfig, push_limit: usize, import_limit: usize) {
    cfg.service(web::resource("/healthz").route(web::get().to(ops::healthz)))
        .service(web::resource("/readyz").route(web::get().to(ops::readyz)))
        .service(web::resource("/metrics").route(web::get().to(ops::metrics)))
        .service(web::resource("/api/openapi.json").route(web::get().to(docs::openapi_json)))
        .service(docs::swagger_ui())
        .service(
            web::scope("/api/auth")
                .route("/invitations/{token}", web::get().to(auth::show_invitation))
                .route(
                    "/invitations/{token}/passkey",
                    web::post().to(auth::start_invitation_passkey),
                )
                .route("/recovery", web::post().to(auth::request_recovery))
                .route("/recovery/{token}", web::get().to(auth::show_recovery))
                .route(
                    "/recovery/{token}/passkey",
                    web::post().to(auth::start_recovery_passkey),
                )
                .route("/passkey/finish", web::post().to(auth::finish_registration))
                .route("/sign-in", web::post().to(auth::start_sign_in))
                .route("/sign-in/finish", web::post().to(auth::finish_sign_in))
                .route("/token", web::post().to(auth::refresh))
                .route("/sign-out", web::post().to(auth::sign_out)),
        )
        .route("/api/me", web::get().to(auth::me))
        .service(
            web::resource("/api/me/passkeys")
                .route(web::get().to(auth::my_passkeys))
                .route(web::post().to(auth::start_add_passkey)),
        )
        .route(
            "/api/me/passkeys/finish",
            web::post().to(auth::finish_add_passkey),
        )
        .route(
            "/api/me/passkeys/{id}",
            web::delete().to(auth::remove_passkey),
        )
        .route("/api/invitations", web::post().to(users::invite))
        .route("/api/users", web::get().to(users::list_users))
        .route("/api/users/{id}", web::get().to(users::show_user))
        .route(
            "/api/users/{id}/passkeys",
            web::get().to(users::user_passkeys),
        )
        .route(
            "/api/users/{id}/passkeys/{passkey_id}",
            web::delete().to(users::remove_user_passkey),
        )
        .route("/api/volunteers", web::get().to(users::list_volunteers))
        .route(
            "/api/users/{id}/personal-data",
            web::get().to(users::personal_data),
        )
        .route(
            "/api/users/{id}/disable",
            web::post().to(users::disable_user),
        )
        .route("/api/users/{id}/enable", web::post().to(users::enable_user))
        .route(
            "/api/users/{id}/devices",
            web::get().to(users::user_devices),
        )
        .route("/api/devices/{id}", web::delete().to(users::revoke_device))
        .route("/api/sync/devices", web::post().to(sync::register_device))
        .service(
            web::resource("/api/sync/push")
                // A batch may be larger than ordinary JSON bodies.
                .app_data(json_config(push_limit))
                .route(web::post().to(sync::push)),
        )
        .service(
            web::scope("/api/uploads")
                .wrap(actix_web::middleware::from_fn(uploads::tus_headers))
                .service(
                    web::resource("")
                        .route(web::method(actix_web::http::Method::OPTIONS).to(uploads::options))
                        .route(web::post().to(uploads::create)),
                )
                .service(
                    web::resource("/{id}")
                        .route(web::method(actix_web::http::Method::OPTIONS).to(uploads::options))
                        .route(web::route().to(uploads::dispatch)),
                ),
        )
        .route("/api/sync/pull", web::get().to(sync::pull))
        .route("/api/sync/events", web::get().to(sync::events))
        .service(
            web::resource("/api/tasks")
                .route(web::get().to(sync::list_tasks))
                .route(web::post().to(sync::create_task)),
        )
        .service(
            web::resource("/api/tasks/{id}")
                .route(web::get().to(sync::get_task))
                .route(web::patch().to(sync::edit_task)),
        )
        .route("/api/tasks/{id}/cancel", web::post().to(sync::cancel_task))
        .route("/api/tasks/{id}/evidence", web::get().to(evidence::package))
        .route("/api/evidence/{id}/file", web::get().to(evidence::file))
        .route(
            "/api/station-photos/{id}/file",
            web::get().to(evidence::station_photo),
        )
        .route(
            "/api/station-photos/{id}/thumbnail",
            web::get().to(evidence::station_photo_thumbnail),
        )
        .route(
            "/api/evidence/{id}/thumbnail",
            web::get().to(evidence::thumbnail),
        )
        .route("/api/tasks/{id}/reopen", web::post().to(sync::reopen_task))
        .route(
            "/api/tasks/{id}/reassign",
            web::post().to(sync::reassign_task),
        )
        .route("/api/reviews", web::get().to(sync::list_reviews))
        .service(
            web::resource("/api/categories")
                .route(web::get().to(campaigns::list_categories))
                .route(web::post().to(campaigns::create_category)),
        )
        .service(
            web::resource("/api/campaigns")
                .route(web::get().to(campaigns::list_campaigns))
                .route(web::post().to(campaigns::create_campaign)),
        )
        .service(
            web::resource("/api/campaigns/{id}")
                .route(web::get().to(campaigns::get_campaign))
                .route(web::patch().to(campaigns::edit_campaign)),
        )
        .route(
            "/api/campaigns/{id}/quotas",
            web::put().to(campaigns::set_quotas),
        )
        .service(
            web::resource("/api/campaigns/{id}/candidates")
                .route(web::get().to(campaigns::list_candidates))
                .route(web::post().to(campaigns::add_candidate)),
        )
        .service(
            web::resource("/api/campaigns/{id}/candidates/import")
                // Thousands of rows: larger than ordinary bodies.
                .app_data(web::PayloadConfig::new(import_limit))
                .route(web::post().to(campaigns::import_candidates)),
        )
        .route(
            "/api/campaigns/{id}/assignment/preview",
            web::post().to(campaigns::preview_assignment),
        )
        .route(
            "/api/campaigns/{id}/assignment/commit",
            web::post().to(campaigns::commit_assignment),
        )
        .route("/api/campaigns/{id}/board", web::get().to(campaigns::board))
        .route(
            "/api/campaigns/{id}/progress",
            web::get().to(campaigns::progress),
        )
        .route(
            "/api/campaigns/{id}/finance.csv",
            web::get().to(campaigns::finance_csv),
        )
        .route(
            "/api/reimbursements/{id}/decision",
            web::post().to(campaigns::decide_reimbursement),
        )
        .route(
            "/api/campaigns/{id}/board/claim",
            web::post().to(campaigns::claim),
        )
        .service(
            web::resource("/api/me/profile")
                .route(web::get().to(campaigns::my_profile))
                .route(web::put().to(campaigns::save_my_profile)),
        )
        .route(
            "/api/volunteers/profiles",
            web::get().to(campaigns::list_profiles),
        )
        .route(
            "/api/volunteers/{id}/profile",
            web::get().to(campaigns::get_profile),
        )
        .route(
            "/api/reviews/{id}/resolve",
            web::post().to(sync::resolve_review),
        )
        .configure(logistics_routes)
        .configure(panel::routes);
}

/// The anonymous route: stations, labs, parcels, results, custody.
fn logistics_routes(cfg: &mut web::ServiceConfig) {
    use logistics as l;
    cfg.service(
        web::resource("/api/stations")
            .route(web::get().to(l::list_stations))
            .route(web::post().to(l::create_station)),
    )
    .service(
        web::resource("/api/stations/{id}")
            .route(web::get().to(l::show_station))
            .route(web::patch().to(l::edit_station)),
    )
    .route(
        "/api/stations/{id}/parcels",
        web::get().to(l::station_parcels),
    )
    .service(
        web::resource("/api/stations/{id}/scans")
            .route(web::get().to(l::waiting_scans))
            .route(web::post().to(l::scan)),
    )
    .route(
        "/api/stations/{id}/scans/{scan}",
        web::get().to(l::show_scan),
    )
    .route(
        "/api/stations/{id}/parcels/{sample}",
        web::get().to(l::station_parcel),
    )
    .route(
        "/api/stations/{id}/parcels/{sample}/seal",
        web::post().to(l::seal),
    )
    .route(
        "/api/stations/{id}/parcels/{sample}/forward",
        web::post().to(l::forward),
    )
    .route(
        "/api/stations/{id}/parcels/{sample}/label",
        web::get().to(l::label),
    )
    .route(
        "/api/stations/{id}/parcels/{sample}/exceptions",
        web::post().to(l::station_exception),
    )
    .service(
        web::resource("/api/labs")
            .route(web::get().to(l::list_labs))
            .route(web::post().to(l::create_lab)),
    )
    .service(
        web::resource("/api/labs/{id}")
            .route(web::get().to(l::show_lab))
            .route(web::patch().to(l::edit_lab)),
    )
    .route("/api/labs/{id}/samples", web::get().to(l::lab_samples))
    .route(
        "/api/labs/{id}/samples/{sample}",
        web::get().to(l::lab_sample),
    )
    .route(
        "/api/labs/{id}/samples/{sample}/receive",
        web::post().to(l::receive),
    )
    .route(
        "/api/labs/{id}/samples/{sample}/result",
        web::put().to(l::record_result),
    )
    .service(
        web::resource("/api/labs/{id}/samples/{sample}/report")
            .route(web::get().to(l::lab_report))
            .route(web::put().to(l::upload_report)),
    )
    .route(
        "/api/labs/{id}/samples/{sample}/exceptions",
        web::post().to(l::lab_exception),
    )
    .route("/api/tasks/{id}/parcel", web::get().to(l::task_parcel))
    .route("/api/tasks/{id}/custody", web::get().to(l::custody_chain))
    .route("/api/tasks/{id}/report", web::get().to(l::task_report))
    .route(
        "/api/tasks/{id}/exceptions",
        web::post().to(l::task_exception),
    )
    .route("/api/tasks/{id}/result/publish", web::post().to(l::publish))
    .route(
        "/api/samples/{code}/custody",
        web::get().to(l::sample_custody),
    )
    .route(
        "/api/custody/checkpoint",
        web::get().to(l::latest_checkpoint),
    )
    .route(
        "/api/campaigns/{id}/parcels",
        web::get().to(l::campaign_parcels),
    )
    .route(
        "/api/campaigns/{id}/exceptions",
        web::get().to(l::campaign_exceptions),
    )
    .route(
        "/api/campaigns/{id}/results.csv",
        web::get().to(l::results_csv),
    )
    .route(
        "/api/exceptions/{id}/resolve",
        web::post().to(l::resolve_exception),
    );
}

/// JSON bodies: size limit, content type, and errors as problems.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(move |error, _req| json_error(error, limit).into())
}

fn json_error(error: JsonPayloadError, limit: usize) -> ApiError {
    match error {
        JsonPayloadError::ContentType => ApiError::UnsupportedMediaType(
            "this endpoint takes Content-Type: application/json".into(),
        ),
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            ApiError::PayloadTooLarge(format!("JSON bodies are limited to {limit} bytes"))
        }
        JsonPayloadError::Deserialize(e) if e.is_data() => ApiError::InvalidBody(format!(
            "the JSON does not match what this endpoint takes: {e}"
        )),
        JsonPayloadError::Deserialize(e) => {
            ApiError::MalformedJson(format!("the body is not valid JSON: {e}"))
        }
        JsonPayloadError::Serialize(e) => ApiError::Internal(e.to_string()),
        other => ApiError::InvalidRequest(format!("the body could not be read: {other}")),
    }
}

fn query_error(error: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::InvalidRequest(format!("invalid query string: {error}")).into()
}

fn path_error(error: PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::InvalidRequest(format!("invalid path parameter: {error}")).into()
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(format!(
        "{} {}",
        req.method(),
        req.path()
    )))
}

/// Turns any error answer that is not already a problem document (actix's
/// own 405, 413, 408 ...) into one, so clients see one error format.
fn as_problem<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if is_problem {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let (code, title) = match status {
        StatusCode::NOT_FOUND => ("not_found", "Not found"),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "Method not allowed"),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "The request body is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ("unsupported_media_type", "Unsupported content type")
        }
        StatusCode::REQUEST_TIMEOUT => ("request_timeout", "The request took too long to arrive"),
        StatusCode::URI_TOO_LONG => ("uri_too_long", "The URI is too long"),
        s if s.is_client_error() => ("invalid_request", "The request is invalid"),
        _ => ("internal", "Internal server error"),
    };
    let detail = match (status.is_client_error(), res.response().error()) {
        (true, Some(error)) => error.to_string(),
        (true, None) => match status {
            StatusCode::METHOD_NOT_ALLOWED => format!(
                "{} is not allowed on {}",
                res.request().method(),
                res.request().path()
            ),
            _ => title.to_string(),
        },
        (false, _) => "The server failed to handle this request; it has been logged.".into(),
    };
    let mut response = problem_response(&problem(status, code, title, detail));
    // Keep headers that matter to the client (e.g. `Allow` on a 405).
    if let Some(allow) = res.headers().get(header::ALLOW) {
        response.headers_mut().insert(header::ALLOW, allow.clone());
    }
    let (req, _) = res.into_parts();
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, response).map_into_right_body(),
    ))
}

/// `200 OK` with a JSON body.
pub fn ok_json(body: &impl serde::Serialize) -> HttpResponse {
    HttpResponse::Ok().json(body)
}
