//! Sync endpoints for the apps (devices, push, pull, the poke stream) and
//! the coordinators' online task and review endpoints. Message shapes are
//! the `sync-protocol` crate's wire types.

use std::{sync::Arc, time::Duration};

use actix_web::{HttpResponse, http::header, web};
use futures_util::{StreamExt, stream};
use serde::Deserialize;
use sync_protocol::wire::{Outcome, PushRequest, RegisterDevice};
use utoipa::{IntoParams, ToSchema};

use super::{AppState, Deferred};
use crate::{
    auth::{Actor, Role},
    db::time::to_micros,
    error::{ApiError, Problem},
    sync::{Touched, devices, events, pull, push, reviews, tasks},
};

fn require_sync(actor: &Actor) -> Result<(), ApiError> {
    if devices::may_sync(actor.role) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "the {} role uses the online API; only volunteers' and relay stations' apps sync",
            actor.role
        )))
    }
}

fn poke(state: &AppState, touched: &Touched) {
    state.hub.poke(touched.iter());
}

/// Registers this app install as a sync device of the signed-in volunteer
/// or relay operator.
#[utoipa::path(post, path = "/api/sync/devices", tag = "sync",
    request_body(content = Object, description = "`RegisterDevice` of sync-protocol: `{\"name\": \"Anna's phone\"}`"),
    responses(
        (status = 201, description = "`DeviceRegistered`: device id, node id for stamps, last processed number, server time", body = Object),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn register_device(
    state: web::Data<AppState>,
    actor: Actor,
    body: Deferred<web::Json<RegisterDevice>>,
) -> actix_web::Result<HttpResponse> {
    require_sync(&actor)?;
    let body = body?.into_inner();
    let now = to_micros(state.clock.now());
    let registered = state
        .db
        .write(move |conn| devices::register(conn, now, &actor.user_id, &body.name))
        .await?;
    Ok(HttpResponse::Created().json(registered))
}

/// Pushes a batch of mutations.
#[utoipa::path(post, path = "/api/sync/push", tag = "sync",
    request_body(content = Object, description = "`PushRequest` of sync-protocol: device id, the device clock, mutations with `seq`, `stamp`, `name`, `args`"),
    responses(
        (status = 200, description = "`PushResponse`: an outcome per mutation (applied, held, duplicate, rejected with a code), the last processed number, and where the batch stopped if it did", body = Object),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn push(
    state: web::Data<AppState>,
    actor: Actor,
    body: Deferred<web::Json<PushRequest>>,
) -> actix_web::Result<HttpResponse> {
    require_sync(&actor)?;
    let request = body?.into_inner();
    push::check_batch(&request, state.config.sync_max_batch)?;
    let now = to_micros(state.clock.now());
    let (response, touched) = state
        .db
        .write(move |conn| push::process(conn, now, &actor.user_id, &request))
        .await?;
    poke(&state, &touched);
    for result in &response.results {
        state.metrics.count_mutation(match result.outcome {
            Outcome::Applied => "applied",
            Outcome::Held(_) => "held",
            Outcome::Duplicate => "duplicate",
            Outcome::Rejected(_) => "rejected",
        });
    }
    Ok(HttpResponse::Ok().json(response))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PullQuery {
    pub device_id: String,
    /// The cursor of the previous pull; none for the first.
    pub cursor: Option<String>,
    /// At most this many changes (default and maximum: the server's page size).
    pub limit: Option<usize>,
}

/// Pulls the next page of changes.
#[utoipa::path(get, path = "/api/sync/pull", tag = "sync",
    params(PullQuery),
    responses(
        (status = 200, description = "`PullResponse`: `put` and `remove` changes, the next cursor, `more`, `reset`, the last processed number and the server time", body = Object),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn pull(
    state: web::Data<AppState>,
    actor: Actor,
    query: Deferred<web::Query<PullQuery>>,
) -> actix_web::Result<HttpResponse> {
    require_sync(&actor)?;
    let query = query?.into_inner();
    let max = state.config.sync_page_size;
    let limit = query.limit.unwrap_or(max);
    if !(1..=max).contains(&limit) {
        return Err(ApiError::InvalidRequest(format!("`limit` must be 1 to {max}")).into());
    }
    let now = to_micros(state.clock.now());
    let epoch = Arc::clone(&state.sync_epoch);
    let page = state
        .db
        .snapshot(move |conn| {
            pull::page(
                conn,
                now,
                &epoch,
                &actor,
                &query.device_id,
                query.cursor.as_deref(),
                limit,
            )
        })
        .await?;
    state.metrics.count_pulled(page.changes.len());
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(page))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    pub device_id: String,
}

/// Server-sent events: `event: poke` means "pull now". A comment line
/// keeps an idle stream open.
#[utoipa::path(get, path = "/api/sync/events", tag = "sync",
    params(EventsQuery),
    responses(
        (status = 200, description = "`text/event-stream`", content_type = "text/event-stream"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn events(
    state: web::Data<AppState>,
    actor: Actor,
    query: Deferred<web::Query<EventsQuery>>,
) -> actix_web::Result<HttpResponse> {
    require_sync(&actor)?;
    let query = query?.into_inner();
    let (user, role) = (actor.user_id.clone(), actor.role);
    let scopes = state
        .db
        .read(move |conn| {
            devices::own_device(conn, &user, &query.device_id)?;
            let scopes = pull::scopes_of(conn, &user, role)?;
            Ok::<_, ApiError>(events::versions_of(conn, &scopes)?)
        })
        .await?;
    let receivers: Vec<_> = scopes
        .iter()
        .map(|(scope, version)| state.hub.subscribe(scope, *version))
        .collect();
    let stopping = state.hub.stopping();
    let keepalive = Duration::from_secs(state.config.sync_keepalive_secs);
    const POKE: &[u8] = b"event: poke\ndata: {}\n\n";
    const KEEP_ALIVE: &[u8] = b": keep-alive\n\n";
    // The first event tells the app the stream is live (and to pull once).
    let first = stream::once(async { Ok::<_, actix_web::Error>(web::Bytes::from_static(POKE)) });
    let rest = stream::unfold(
        (receivers, stopping),
        move |(mut receivers, mut stopping)| async move {
            let event = {
                // A relay operator at no station has no scope to watch
                // (and `select_all` of nothing would panic).
                let changed = async {
                    if receivers.is_empty() {
                        return std::future::pending().await;
                    }
                    let changes = receivers.iter_mut().map(|r| Box::pin(r.changed()));
                    futures_util::future::select_all(changes).await.0.is_ok()
                };
                tokio::select! {
                    live = changed => live.then_some(POKE),
                    _ = tokio::time::sleep(keepalive) => Some(KEEP_ALIVE),
                    _ = stopping.wait_for(|s| *s) => None,
                }
            };
            event.map(|e| (Ok(web::Bytes::from_static(e)), (receivers, stopping)))
        },
    );
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(first.chain(rest)))
}

fn require_coordinator(actor: &Actor) -> Result<(), ApiError> {
    actor.require(&[Role::Coordinator])
}

/// Creates a task for a volunteer; it reaches their devices by sync.
#[utoipa::path(post, path = "/api/tasks", tag = "tasks",
    request_body = tasks::NewTask,
    responses(
        (status = 201, body = tasks::TaskDetail),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_task(
    state: web::Data<AppState>,
    actor: Actor,
    body: Deferred<web::Json<tasks::NewTask>>,
) -> actix_web::Result<HttpResponse> {
    require_coordinator(&actor)?;
    let body = body?.into_inner();
    let now = to_micros(state.clock.now());
    let (detail, touched) = state
        .db
        .write(move |conn| {
            let mut touched = Touched::new();
            let id = tasks::create(conn, now, &actor.user_id, &body, &mut touched)?;
            Ok::<_, ApiError>((tasks::detail(conn, &id)?, touched))
        })
        .await?;
    poke(&state, &touched);
    Ok(HttpResponse::Created().json(detail))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TaskListQuery {
    /// Only this volunteer's tasks.
    pub volunteer_id: Option<String>,
    /// Only this campaign's tasks.
    pub campaign_id: Option<String>,
    /// Only tasks in this status (`offered`, `accepted`, ... `closed`).
    pub status: Option<String>,
    /// 1 to 500, default 100.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

fn page_bounds(limit: Option<i64>, offset: Option<i64>) -> Result<(i64, i64), ApiError> {
    let (limit, offset) = (limit.unwrap_or(100), offset.unwrap_or(0));
    if !(1..=500).contains(&limit) || offset < 0 {
        return Err(ApiError::InvalidRequest(
            "limit must be 1 to 500 and offset at least 0".into(),
        ));
    }
    Ok((limit, offset))
}

/// Tasks, newest first; filtered by volunteer, campaign and status.
#[utoipa::path(get, path = "/api/tasks", tag = "tasks",
    params(TaskListQuery),
    responses((status = 200, body = [tasks::TaskView]), (status = 403, body = Problem, content_type = "application/problem+json")))]
pub async fn list_tasks(
    state: web::Data<AppState>,
    actor: Actor,
    query: Deferred<web::Query<TaskListQuery>>,
) -> actix_web::Result<HttpResponse> {
    require_coordinator(&actor)?;
    let query = query?.into_inner();
    let (limit, offset) = page_bounds(query.limit, query.offset)?;
    let list = state
        .db
        .read(move |conn| {
            let filter = crate::db::sync::TaskFilter {
                assignee: query.volunteer_id,
                campaign: query.campaign_id,
                status: query.status,
            };
            tasks::list(conn, &filter, limit, offset)
        })
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// One task with every record of it (held ones included).
#[utoipa::path(get, path = "/api/tasks/{id}", tag = "tasks",
    params(("id" = String, Path, description = "Task id")),
    responses((status = 200, body = tasks::TaskDetail), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get_task(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
) -> actix_web::Result<HttpResponse> {
    require_coordinator(&actor)?;
    let id = id.into_inner();
    let detail = state.db.read(move |conn| tasks::detail(conn, &id)).await?;
    Ok(HttpResponse::Ok().json(detail))
}

/// Runs a coordinator's change of a task and answers with the task.
async fn change_task(
    state: web::Data<AppState>,
    id: String,
    change: impl FnOnce(&mut crate::db::Conn, i64, &str, &mut Touched) -> Result<(), ApiError>
    + Send
    + 'static,
) -> actix_web::Result<HttpResponse> {
    let now = to_micros(state.clock.now());
    let (detail, touched) = state
        .db
        .write(move |conn| {
            let mut touched = Touched::new();
            change(conn, now, &id, &mut touched)?;
            Ok::<_, ApiError>((tasks::detail(conn, &id)?, touched))
        })
        .await?;
    poke(&state, &touched);
    Ok(HttpResponse::Ok().json(detail))
}

/// Changes what a task asks (title, instructions, listing, deadline, cap).
#[utoipa::path(patch, path = "/api/tasks/{id}", tag = "tasks",
    params(("id" = String, Path, description = "Task id")),
    request_body = tasks::TaskEdit,
    responses((status = 200, body = tasks::TaskDetail), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn edit_task(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
    body: Deferred<web::Json<tasks::TaskEdit>>,
) -> actix_web::Result<HttpResponse> {
    require_coordinator(&actor)?;
    let body = body?.into_inner();
    change_task(state, id.into_inner(), move |conn, now, id, touched| {
        tasks::edit(conn, now, id, &body, touched)
    })
    .await
}

/// Cancels the task's current generation (a task already bought stays
/// bought and goes on the review list).
#[utoipa::path(post, path = "/api/tasks/{id}/cancel", tag = "tasks",
    params(("id" = String, Path, description = "Task id")),
    responses((status = 200, body = tasks::TaskDetail), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn cancel_task(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
) -> actix_web::Result<HttpResponse> {
    require_coordinator(&actor)?;
    change_task(state, id.into_inner(), tasks::cancel).await
}

/// Offers the task again to the same volunteer, in a new generation.
#[utoipa::path(post, path = "/api/tasks/{id}/reopen", tag = "tasks",
    params(("id" = String, Path, description = "Task id")),
    responses((status = 200, body = tasks::TaskDetail), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn reopen_task(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
) -> actix_web::Result<HttpResponse> {
    require_coordinator(&actor)?;
    change_task(state, id.into_inner(), |conn, now, id, touched| {
        tasks::reassign(conn, now, id, None, touched)?;
        crate::campaigns::assignment::reoffer(conn, now, id)
    })
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reassignment {
    /// The volunteer who gets the task.
    pub volunteer_id: String,
}

/// Gives the task to another volunteer, in a new generation: it leaves the
/// old volunteer's devices and arrives on the new one's, with its history.
#[utoipa::path(post, path = "/api/tasks/{id}/reassign", tag = "tasks",
    params(("id" = String, Path, description = "Task id")),
    request_body = Reassignment,
    responses((status = 200, body = tasks::TaskDetail), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn reassign_task(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
    body: Deferred<web::Json<Reassignment>>,
) -> actix_web::Result<HttpResponse> {
    require_coordinator(&actor)?;
    let body = body?.into_inner();
    change_task(state, id.into_inner(), move |conn, now, id, touched| {
        tasks::reassign(conn, now, id, Some(&body.volunteer_id), touched)?;
        crate::campaigns::assignment::reoffer(conn, now, id)
    })
    .await
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReviewQuery {
    /// `open` (default) or `all`.
    pub status: Option<String>,
    /// Only this task's items.
    pub task_id: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// The review list: conflicts the merge settled that a coordinator must see.
#[utoipa::path(get, path = "/api/reviews", tag = "tasks",
    params(ReviewQuery),
    responses((status = 200, body = [reviews::ReviewView]), (status = 403, body = Problem, content_type = "application/problem+json")))]
pub async fn list_reviews(
    state: web::Data<AppState>,
    actor: Actor,
    query: Deferred<web::Query<ReviewQuery>>,
) -> actix_web::Result<HttpResponse> {
    require_coordinator(&actor)?;
    let query = query?.into_inner();
    let open_only = match query.status.as_deref() {
        None | Some("open") => true,
        Some("all") => false,
        Some(other) => {
            return Err(ApiError::InvalidRequest(format!(
                "`status` is `open` or `all`, not `{other}`"
            ))
            .into());
        }
    };
    let (limit, offset) = page_bounds(query.limit, query.offset)?;
    let list = state
        .db
        .read(move |conn| {
            crate::db::sync::list_reviews(conn, open_only, query.task_id.as_deref(), limit, offset)?
                .into_iter()
                .map(reviews::view)
                .collect::<Result<Vec<_>, ApiError>>()
        })
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resolution {
    /// What was decided.
    pub resolution: String,
}

/// Closes a review item with what was decided.
#[utoipa::path(post, path = "/api/reviews/{id}/resolve", tag = "tasks",
    params(("id" = String, Path, description = "Review item id")),
    request_body = Resolution,
    responses((status = 200, body = reviews::ReviewView), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn resolve_review(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
    body: Deferred<web::Json<Resolution>>,
) -> actix_web::Result<HttpResponse> {
    require_coordinator(&actor)?;
    let body = body?.into_inner();
    let id = id.into_inner();
    let now = to_micros(state.clock.now());
    let view = state
        .db
        .write(move |conn| reviews::resolve(conn, now, &id, &actor.user_id, &body.resolution))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}
