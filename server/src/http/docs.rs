//! The OpenAPI 3.1 document, generated from the handlers' annotations, and a
//! browsable page for it (Swagger UI, served from assets inside the binary).

use actix_web::HttpResponse;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use super::ops;
use crate::error::Problem;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "mystery-buyer",
        description = "Backend of a volunteer mystery-buyer program: campaigns, offline sync, \
            evidence uploads, anonymous forwarding and the custody log. Every error is an \
            RFC 9457 `application/problem+json` document with a stable `code`."
    ),
    paths(ops::healthz, ops::readyz, ops::metrics, openapi_json),
    components(schemas(Problem, ops::Health, ops::Readiness)),
    tags((name = "operations", description = "Health, readiness, metrics and this document"))
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
