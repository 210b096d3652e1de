//! Campaign endpoints: categories, campaigns and their quotas, candidate
//! listings (one by one or imported from CSV / JSON), and volunteers'
//! buying profiles. Coordinators plan; a volunteer edits only their own
//! profile; everyone sees volunteers by pseudonym.

use actix_web::{HttpRequest, HttpResponse, http::header, web};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{AppState, Deferred};
use crate::{
    auth::{Actor, Role},
    campaigns::{
        self, CampaignEdit, CampaignStatus, NewCampaign, NewCategory, QuotaSpec, assignment,
        candidates::{self, NewCandidate},
        profiles::{self, ProfileInput, ProfileStatus},
    },
    db::{campaigns::CandidateFilter, time::to_micros},
    error::{ApiError, Problem},
    sync::Touched,
};

fn require_coordinator(actor: &Actor) -> Result<(), ApiError> {
    actor.require(&[Role::Coordinator])
}

/// Every product category.
#[utoipa::path(get, path = "/api/categories", tag = "campaigns",
    responses((status = 200, body = [campaigns::CategoryView]), (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn list_categories(
    state: web::Data<AppState>,
    _actor: Actor,
) -> actix_web::Result<HttpResponse> {
    let list = state.db.read(campaigns::categories).await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Adds a product category.
#[utoipa::path(post, path = "/api/categories", tag = "campaigns",
    request_body = NewCategory,
    responses((status = 201, body = campaigns::CategoryView), (status = 409, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn create_category(
    state: web::Data<AppState>,
    actor: Actor,
    body: Deferred<web::Json<NewCategory>>,
) -> actix_web::Result<HttpResponse> {
    require_coordinator(&actor)?;
    let body = body?.into_inner();
    let now = to_micros(state.clock.now());
    let view = state
        .db
        .write(move |conn| campaigns::create_category(conn, now, &body))
        .await?;
    Ok(HttpResponse::Created().json(view))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CampaignListQuery {
    /// Only campaigns in this status.
    #[param(value_type = Option<String>)]
    pub status: Option<CampaignStatus>,
}

/// Campaigns, latest start first.
#[utoipa::path(get, path = "/api/campaigns", tag = "campaigns",
    params(CampaignListQuery),
    responses((status = 200, body = [campaigns::CampaignView]), (status = 403, body = Problem, content_type = "application/problem+json")))]
pub async fn list_campaigns(
    state: web::Data<AppState>,
    actor: Actor,
    query: Deferred<web::Query<CampaignListQuery>>,
) -> actix_web::Result<HttpResponse> {
    require_coordinator(&actor)?;
    let status = query?.status;
    let list = state
        .db
        .read(move |conn| campaigns::campaigns(conn, status))
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Creates a campaign as a draft.
#[utoipa::path(post, path = "/api/campaigns", tag = "campaigns",
    request_body = NewCampaign,
    responses((status = 201, body = campaigns::CampaignView), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn create_campaign(
    state: web::Data<AppState>,
    actor: Actor,
    body: Deferred<web::Json<NewCampaign>>,
) -> actix_web::Result<HttpResponse> {
    require_coordinator(&actor)?;
    let body = body?.into_inner();
    let now = to_micros(state.clock.now());
    let view = state
        .db
        .write(move |conn| {
            let id = campaigns::create_campaign(conn, now, &body)?;
            let row = campaigns::campaign(conn, &id)?;
            campaigns::view(conn, row)
        })
        .await?;
    Ok(HttpResponse::Created().json(view))
}

/// One campaign with its quotas.
#[utoipa::path(get, path = "/api/campaigns/{id}", tag = "campaigns",
    params(("id" = String, Path, description = "Campaign id")),
    responses((status = 200, body = campaigns::CampaignView), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get_campaign(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
) -> actix_web::Result<HttpResponse> {
    require_coordinator(&actor)?;
    let id = id.into_inner();
    let view = state
        .db
        .read(move |conn| {
            let row = campaigns::campaign(conn, &id)?;
            campaigns::view(conn, row)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Changes a campaign; `status` moves draft -> active -> closed.
#[utoipa::path(patch, path = "/api/campaigns/{id}", tag = "campaigns",
    params(("id" = String, Path, description = "Campaign id")),
    request_body = CampaignEdit,
    responses((status = 200, body = campaigns::CampaignView), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn edit_campaign(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
    body: Deferred<web::Json<CampaignEdit>>,
) -> actix_web::Result<HttpResponse> {
    require_coordinator(&actor)?;
    let (id, body) = (id.into_inner(), body?.into_inner());
    let now = to_micros(state.clock.now());
    let view = state
        .db
        .write(move |conn| {
            campaigns::edit_campaign(conn, now, &id, &body)?;
            let row = campaigns::campaign(conn, &id)?;
            campaigns::view(conn, row)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Replaces the campaign's quotas.
#[utoipa::path(put, path = "/api/campaigns/{id}/quotas", tag = "campaigns",
    params(("id" = String, Path, description = "Campaign id")),
    request_body = [QuotaSpec],
    responses((status = 200, body = [campaigns::QuotaView]), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn set_quotas(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
    body: Deferred<web::Json<Vec<QuotaSpec>>>,
) -> actix_web::Result<HttpResponse> {
    require_coordinator(&actor)?;
    let (id, body) = (id.into_inner(), body?.into_inner());
    let quotas = state
        .db
        .write(move |conn| campaigns::set_quotas(conn, &id, &body))
        .await?;
    Ok(HttpResponse::Ok().json(quotas))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CandidateListQuery {
    pub category: Option<String>,
    pub platform: Option<String>,
    /// The `next` of the previous page.
    pub after: Option<String>,
    /// 1 to 500, default 100.
    pub limit: Option<i64>,
}

/// The campaign's candidates, riskiest first, a page at a time: pass the
/// answer's `next` back as `after` for the following page.
#[utoipa::path(get, path = "/api/campaigns/{id}/candidates", tag = "campaigns",
    params(("id" = String, Path, description = "Campaign id"), CandidateListQuery),
    responses((status = 200, body = candidates::CandidatePage), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn list_candidates(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
    query: Deferred<web::Query<CandidateListQuery>>,
) -> actix_web::Result<HttpResponse> {
    require_coordinator(&actor)?;
    let (id, query) = (id.into_inner(), query?.into_inner());
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::InvalidRequest("limit must be 1 to 500".into()).into());
    }
    let after = match query.after.as_deref() {
        None => None,
        Some(token) => Some(
            token
                .split_once(':')
                .and_then(|(risk, id)| Some((risk.parse::<i64>().ok()?, id.to_string())))
                .ok_or_else(|| ApiError::InvalidRequest("after is not a page token".into()))?,
        ),
    };
    let filter = CandidateFilter {
        category_id: query.category,
        platform: query.platform,
        after,
        limit,
    };
    let page = state
        .db
        .read(move |conn| candidates::page(conn, &id, &filter))
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Adds one candidate listing.
#[utoipa::path(post, path = "/api/campaigns/{id}/candidates", tag = "campaigns",
    params(("id" = String, Path, description = "Campaign id")),
    request_body = NewCandidate,
    responses((status = 201, body = candidates::CandidateView), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn add_candidate(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
    body: Deferred<web::Json<NewCandidate>>,
) -> actix_web::Result<HttpResponse> {
    require_coordinator(&actor)?;
    let (id, body) = (id.into_inner(), body?.into_inner());
    let now = to_micros(state.clock.now());
    let weights = state.config.risk_weights.clone();
    let view = state
        .db
        .write(move |conn| candidates::add_one(conn, now, &weights, &id, &body))
        .await?;
    Ok(HttpResponse::Created().json(view))
}

/// Imports candidate listings in bulk: `text/csv` (a header row naming the
/// columns of `NewCandidate`, `claims` separated by `;`) or
/// `application/json` (an array of `NewCandidate`). All rows or none: a
/// 422 `invalid_rows` lists every wrong row with its line and field.
#[utoipa::path(post, path = "/api/campaigns/{id}/candidates/import", tag = "campaigns",
    params(("id" = String, Path, description = "Campaign id")),
    request_body(content = String, description = "CSV (`text/csv`) or a JSON array (`application/json`)"),
    responses((status = 201, body = candidates::ImportReport), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 413, body = Problem, content_type = "application/problem+json"), (status = 415, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn import_candidates(
    state: web::Data<AppState>,
    actor: Actor,
    request: HttpRequest,
    id: web::Path<String>,
    body: Deferred<web::Bytes>,
) -> actix_web::Result<HttpResponse> {
    require_coordinator(&actor)?;
    let body = body?;
    let media = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let rows = match media.as_str() {
        "text/csv" => candidates::parse_csv(&body)?,
        "application/json" => candidates::parse_json(&body)?,
        _ => {
            return Err(
                ApiError::UnsupportedMediaType("send text/csv or application/json".into()).into(),
            );
        }
    };
    let id = id.into_inner();
    let now = to_micros(state.clock.now());
    let weights = state.config.risk_weights.clone();
    let imported = state
        .db
        .write(move |conn| candidates::add(conn, now, &weights, &id, &rows).map(|r| r.len()))
        .await?;
    Ok(HttpResponse::Created().json(candidates::ImportReport { imported }))
}

/// The signed-in volunteer's buying profile.
#[utoipa::path(get, path = "/api/me/profile", tag = "people",
    responses((status = 200, body = profiles::ProfileView), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn my_profile(
    state: web::Data<AppState>,
    actor: Actor,
) -> actix_web::Result<HttpResponse> {
    actor.require(&[Role::Volunteer])?;
    let now = to_micros(state.clock.now());
    let view = state
        .db
        .read(move |conn| profiles::one(conn, &actor.user_id, now))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Writes the signed-in volunteer's whole buying profile.
#[utoipa::path(put, path = "/api/me/profile", tag = "people",
    request_body = ProfileInput,
    responses((status = 200, body = profiles::ProfileView), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn save_my_profile(
    state: web::Data<AppState>,
    actor: Actor,
    body: Deferred<web::Json<ProfileInput>>,
) -> actix_web::Result<HttpResponse> {
    actor.require(&[Role::Volunteer])?;
    let body = body?.into_inner();
    let now = to_micros(state.clock.now());
    let view = state
        .db
        .write(move |conn| {
            profiles::save(conn, now, &actor.user_id, &body)?;
            profiles::one(conn, &actor.user_id, now)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ProfileListQuery {
    #[param(value_type = Option<String>)]
    pub status: Option<ProfileStatus>,
}

/// Volunteers' buying profiles, by pseudonym, with their track records.
#[utoipa::path(get, path = "/api/volunteers/profiles", tag = "people",
    params(ProfileListQuery),
    responses((status = 200, body = [profiles::ProfileView]), (status = 403, body = Problem, content_type = "application/problem+json")))]
pub async fn list_profiles(
    state: web::Data<AppState>,
    actor: Actor,
    query: Deferred<web::Query<ProfileListQuery>>,
) -> actix_web::Result<HttpResponse> {
    require_coordinator(&actor)?;
    let status = query?.status;
    let now = to_micros(state.clock.now());
    let list = state
        .db
        .read(move |conn| profiles::all(conn, status, now))
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// One volunteer's buying profile.
#[utoipa::path(get, path = "/api/volunteers/{id}/profile", tag = "people",
    params(("id" = String, Path, description = "The volunteer's user id")),
    responses((status = 200, body = profiles::ProfileView), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get_profile(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
) -> actix_web::Result<HttpResponse> {
    require_coordinator(&actor)?;
    let id = id.into_inner();
    let now = to_micros(state.clock.now());
    let view = state
        .db
        .read(move |conn| profiles::one(conn, &id, now))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// The optimal assignment for the campaign as it stands: who would get
/// what, the objective, every quota left with open slots and why, and the
/// budget. Changes nothing.
#[utoipa::path(post, path = "/api/campaigns/{id}/assignment/preview", tag = "campaigns",
    params(("id" = String, Path, description = "Campaign id")),
    request_body = assignment::Adjustments,
    responses((status = 200, body = assignment::Preview), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn preview_assignment(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
    body: Deferred<web::Json<assignment::Adjustments>>,
) -> actix_web::Result<HttpResponse> {
    require_coordinator(&actor)?;
    let (id, body) = (id.into_inner(), body?.into_inner());
    let preview = state
        .db
        .read(move |conn| assignment::preview(conn, &id, &body))
        .await?;
    Ok(HttpResponse::Ok().json(preview))
}

/// Creates the offers of a plan (the preview's, or a hand-edited one),
/// after checking it against the campaign as it stands; they reach the
/// volunteers' devices by sync and a mail tells each volunteer. Repeating
/// a `commit_id` answers the first result and creates nothing.
#[utoipa::path(post, path = "/api/campaigns/{id}/assignment/commit", tag = "campaigns",
    params(("id" = String, Path, description = "Campaign id")),
    request_body = assignment::CommitRequest,
    responses((status = 200, body = assignment::CommitResult), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn commit_assignment(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
    body: Deferred<web::Json<assignment::CommitRequest>>,
) -> actix_web::Result<HttpResponse> {
    require_coordinator(&actor)?;
    let (id, body) = (id.into_inner(), body?.into_inner());
    let now = to_micros(state.clock.now());
    let (result, touched) = state
        .db
        .write(move |conn| {
            let mut touched = Touched::new();
            let result = assignment::commit(conn, now, &actor.user_id, &id, &body, &mut touched)?;
            Ok::<_, ApiError>((result, touched))
        })
        .await?;
    state.hub.poke(touched.iter());
    Ok(HttpResponse::Ok().json(result))
}

/// The open slots of a campaign's board that the signed-in volunteer may
/// claim, riskiest first (at most 100).
#[utoipa::path(get, path = "/api/campaigns/{id}/board", tag = "campaigns",
    params(("id" = String, Path, description = "Campaign id")),
    responses((status = 200, body = [assignment::BoardSlot]), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn board(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
) -> actix_web::Result<HttpResponse> {
    actor.require(&[Role::Volunteer])?;
    let id = id.into_inner();
    let slots = state
        .db
        .read(move |conn| assignment::board(conn, &id, &actor.user_id))
        .await?;
    Ok(HttpResponse::Ok().json(slots))
}

/// What a volunteer claims from the board.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimRequest {
    pub candidate_id: String,
}

/// Claims an open slot: the task is created for the caller, already
/// accepted. Of many claims for the last slots, exactly as many succeed as
/// there are slots; the others get 409 `claim_refused`.
#[utoipa::path(post, path = "/api/campaigns/{id}/board/claim", tag = "campaigns",
    params(("id" = String, Path, description = "Campaign id")),
    request_body = ClaimRequest,
    responses((status = 201, body = assignment::Claimed), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn claim(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
    body: Deferred<web::Json<ClaimRequest>>,
) -> actix_web::Result<HttpResponse> {
    actor.require(&[Role::Volunteer])?;
    let (id, body) = (id.into_inner(), body?.into_inner());
    let now = to_micros(state.clock.now());
    let (claimed, touched) = state
        .db
        .write(move |conn| {
            let mut touched = Touched::new();
            let claimed = assignment::claim(
                conn,
                now,
                &id,
                &actor.user_id,
                &body.candidate_id,
                &mut touched,
            )?;
            Ok::<_, ApiError>((claimed, touched))
        })
        .await?;
    state.hub.poke(touched.iter());
    Ok(HttpResponse::Created().json(claimed))
}

/// A campaign's progress: quota fill by category and platform, tasks by
/// status, overdue tasks, missing evidence, reimbursements outstanding.
#[utoipa::path(get, path = "/api/campaigns/{id}/progress", tag = "campaigns",
    params(("id" = String, Path, description = "Campaign id")),
    responses((status = 200, body = campaigns::progress::Progress), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn progress(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
) -> actix_web::Result<HttpResponse> {
    require_coordinator(&actor)?;
    let id = id.into_inner();
    let now = to_micros(state.clock.now());
    let view = state
        .db
        .read(move |conn| campaigns::progress::progress(conn, &id, now))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Approves, rejects (with a reason the volunteer reads) or marks paid a
/// reimbursement request; the app learns it by sync.
#[utoipa::path(post, path = "/api/reimbursements/{id}/decision", tag = "campaigns",
    params(("id" = String, Path, description = "Reimbursement request id")),
    request_body = campaigns::money::DecisionRequest,
    responses((status = 200, body = campaigns::money::ReimbursementView), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn decide_reimbursement(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
    body: Deferred<web::Json<campaigns::money::DecisionRequest>>,
) -> actix_web::Result<HttpResponse> {
    require_coordinator(&actor)?;
    let (id, body) = (id.into_inner(), body?.into_inner());
    let now = to_micros(state.clock.now());
    let (view, touched) = state
        .db
        .write(move |conn| {
            let mut touched = Touched::new();
            let view = campaigns::money::decide(conn, now, &id, &body, &mut touched)?;
            Ok::<_, ApiError>((view, touched))
        })
        .await?;
    state.hub.poke(touched.iter());
    Ok(HttpResponse::Ok().json(view))
}

/// The finance export of a campaign: one CSV line per reimbursement
/// request, volunteers by pseudonym.
#[utoipa::path(get, path = "/api/campaigns/{id}/finance.csv", tag = "campaigns",
    params(("id" = String, Path, description = "Campaign id")),
    responses((status = 200, content_type = "text/csv", body = String), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn finance_csv(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
) -> actix_web::Result<HttpResponse> {
    require_coordinator(&actor)?;
    let id = id.into_inner();
    let file = format!(
        "attachment; filename=\"finance-{}.csv\"",
        id.replace('"', "")
    );
    let body = state
        .db
        .read(move |conn| campaigns::money::finance_csv(conn, &id))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/csv; charset=utf-8"))
        .insert_header((header::CONTENT_DISPOSITION, file))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body))
}
