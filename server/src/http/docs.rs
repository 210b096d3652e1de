//! The OpenAPI 3.1 document, generated from the handlers' annotations, and a
//! browsable page for it (Swagger UI, served from assets inside the binary).

use actix_web::HttpResponse;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use super::{auth, campaigns, evidence, logistics, ops, sync, uploads, users};
use crate::error::Problem;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "mystery-buyer",
        description = "Backend of a volunteer mystery-buyer program: campaigns, offline sync, \
            evidence uploads, anonymous forwarding and the custody log. Every error is an \
            RFC 9457 `application/problem+json` document with a stable `code`."
    ),
    paths(
        ops::healthz, ops::readyz, ops::metrics, openapi_json,
        auth::show_invitation, auth::start_invitation_passkey, auth::request_recovery,
        auth::show_recovery, auth::start_recovery_passkey, auth::finish_registration,
        auth::start_sign_in, auth::finish_sign_in, auth::refresh, auth::sign_out,
        auth::me, auth::my_passkeys, auth::start_add_passkey, auth::finish_add_passkey,
        auth::remove_passkey,
        users::invite, users::list_users, users::list_volunteers, users::personal_data,
        users::disable_user, users::enable_user, users::user_devices, users::revoke_device,
        users::show_user, users::user_passkeys, users::remove_user_passkey,
        sync::register_device, sync::push, sync::pull, sync::events,
        sync::create_task, sync::list_tasks, sync::get_task, sync::edit_task, sync::cancel_task,
        sync::reopen_task, sync::reassign_task, sync::list_reviews, sync::resolve_review,
        campaigns::list_categories, campaigns::create_category, campaigns::list_campaigns,
        campaigns::create_campaign, campaigns::get_campaign, campaigns::edit_campaign,
        campaigns::set_quotas, campaigns::list_candidates, campaigns::add_candidate,
        campaigns::import_candidates, campaigns::my_profile, campaigns::save_my_profile,
        campaigns::list_profiles, campaigns::get_profile, campaigns::preview_assignment,
        campaigns::commit_assignment, campaigns::board, campaigns::claim,
        campaigns::progress, campaigns::finance_csv, campaigns::decide_reimbursement,
        uploads::create, evidence::package, evidence::file, evidence::thumbnail,
        evidence::station_photo, evidence::station_photo_thumbnail,
        logistics::list_stations, logistics::create_station, logistics::show_station,
        logistics::edit_station, logistics::list_labs, logistics::create_lab, logistics::show_lab,
        logistics::edit_lab, logistics::station_parcels, logistics::scan, logistics::show_scan,
        logistics::waiting_scans, logistics::station_parcel, logistics::seal, logistics::forward,
        logistics::label, logistics::station_exception, logistics::lab_samples,
        logistics::lab_sample, logistics::receive, logistics::record_result,
        logistics::upload_report, logistics::lab_report, logistics::lab_exception,
        logistics::task_parcel, logistics::campaign_parcels, logistics::campaign_exceptions,
        logistics::task_exception, logistics::resolve_exception, logistics::publish,
        logistics::task_report, logistics::results_csv, logistics::custody_chain,
        logistics::sample_custody, logistics::latest_checkpoint,
    ),
    components(schemas(Problem, crate::error::RowError, ops::Health, ops::Readiness)),
    tags(
        (name = "operations", description = "Health, readiness, metrics and this document"),
        (name = "sign-in", description = "Invitations, recovery, passkey ceremonies and tokens"),
        (name = "account", description = "The caller's own profile and passkeys"),
        (name = "people", description = "Invitations, users, devices and personal data"),
        (name = "sync", description = "Offline sync for the apps: devices, push, pull and the poke stream. \
            Message shapes are the `sync-protocol` crate's `wire` module; see its docs and golden files."),
        (name = "tasks", description = "Coordinators: buying tasks and the review list of conflicts"),
        (name = "campaigns", description = "Coordinators: categories, campaigns, quotas and candidate listings"),
        (name = "uploads", description = "Evidence files over tus 1.0 at /api/uploads: POST creates, \
            HEAD /api/uploads/{id} reports the offset, PATCH appends a chunk \
            (application/offset+octet-stream at Upload-Offset), DELETE ends it; OPTIONS lists the \
            extensions and limits. Upload-Metadata must carry `evidence_id`."),
        (name = "evidence", description = "Coordinators: a task's evidence package and the served files"),
        (name = "logistics", description = "Relay stations and labs as data: administrators write, coordinators read"),
        (name = "station", description = "Relay operators: scans, labels, sealing and forwarding. \
            A station sees tracking numbers, recipient codes, condition, sample codes and the destination lab only"),
        (name = "lab", description = "Lab inspectors: samples by code, results and reports. \
            A lab sees the sample code, category and what to test only"),
        (name = "custody", description = "Coordinators: parcels, exceptions, publishing, results export \
            and custody chains with their proof against a signed checkpoint"),
    )
)]
pub struct ApiDoc;

/// The document as served.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// This OpenAPI document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "operations",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(document())
}

/// The documentation page at `/api/docs/`.
pub fn swagger_ui() -> SwaggerUi {
    // Point the page at our own route rather than letting it serve a copy.
    SwaggerUi::new("/api/docs/{_:.*}").config(utoipa_swagger_ui::Config::from("/api/openapi.json"))
}
