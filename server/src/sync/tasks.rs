//! The coordinators' side of tasks, through the online API: create a task
//! for a volunteer, edit what it asks, cancel, reopen and reassign. Every
//! change goes through the same write path as a device's mutation
//! ([`store::write_record`]) and the same merge rules, stamped by the
//! server. Reopening and reassigning start a new generation.

use serde::{Deserialize, Serialize};
use sync_protocol::{
    Merge, Money, Record, Status, StatusReg, mutations::record_history, records::Task,
};
use utoipa::ToSchema;

use super::{
    Touched,
    reviews::{self, Reason},
    store::{self, server_stamp},
};
use crate::{
    auth::{Role, new_id},
    db::{
        Conn,
        sync::{self, TaskRow},
        time::{Micros, from_micros},
        users,
    },
    error::ApiError,
};

const MAX_TITLE: usize = 200;
const MAX_TEXT: usize = 10_000;

/// A new buying task for one volunteer.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTask {
    /// The volunteer's user id.
    pub volunteer_id: String,
    pub title: String,
    #[serde(default)]
    pub instructions: String,
    #[serde(default)]
    pub listing_url: String,
    #[serde(default)]
    pub shop_name: String,
    #[serde(default)]
    pub platform: String,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub price_cap: Option<Money>,
    #[serde(default)]
    pub deadline: Option<chrono::DateTime<chrono::Utc>>,
}

/// Changes to what a task asks; absent fields stay.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskEdit {
    pub title: Option<String>,
    pub instructions: Option<String>,
    pub listing_url: Option<String>,
    pub shop_name: Option<String>,
    pub platform: Option<String>,
    pub category: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub price_cap: Option<Money>,
    pub deadline: Option<chrono::DateTime<chrono::Utc>>,
}

/// A task as a coordinator sees it: the volunteer's view plus who has it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskView {
    pub id: String,
    pub assignee_id: Option<String>,
    pub assignee_pseudonym: Option<String>,
    pub generation: i32,
    pub status: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    /// The task record exactly as the volunteer's devices receive it.
    #[schema(value_type = Object)]
    pub record: serde_json::Value,
}

/// A task with every record of it, held ones included.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskDetail {
    #[serde(flatten)]
    pub task: TaskView,
    /// Purchases, evidence, shipment, notes and reimbursement requests.
    #[schema(value_type = Vec<Object>)]
    pub records: Vec<serde_json::Value>,
}

fn text(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.chars().count() > max {
        return Err(ApiError::InvalidBody(format!(
            "`{field}` is longer than {max} characters"
        )));
    }
    Ok(())
}

fn check_money(money: &Option<Money>) -> Result<(), ApiError> {
    let bad = |m: &Money| {
        m.currency.len() != 3 || !m.currency.bytes().all(|b| b.is_ascii_uppercase()) || m.minor < 0
    };
    if money.as_ref().is_some_and(bad) {
        return Err(ApiError::InvalidBody(
            "`price_cap` needs `minor` >= 0 and a three-letter ISO 4217 `currency`".into(),
        ));
    }
    Ok(())
}

/// An active volunteer, or 404/409.
fn volunteer(conn: &mut Conn, id: &str) -> Result<String, ApiError> {
    let user = users::find(conn, id)?
        .filter(|u| u.role == Role::Volunteer.as_str())
        .ok_or_else(|| ApiError::Missing("no such volunteer".into()))?;
    if user.status != "active" {
        return Err(ApiError::Refused {
            code: "volunteer_not_active",
            status: actix_web::http::StatusCode::CONFLICT,
            detail: "this volunteer's account is not active".into(),
        });
    }
    Ok(user.id)
}

fn load(conn: &mut Conn, id: &str) -> Result<(TaskRow, Task, sync::RecordRow), ApiError> {
    let row = sync::lock_task(conn, id)?.ok_or_else(|| ApiError::Missing("no such task".into()))?;
    let doc_row = sync::find_record(conn, "task", id)?
        .ok_or_else(|| ApiError::Internal(format!("task {id} has no record")))?;
    let Record::Task(task) = store::decode(&doc_row)? else {
        return Err(ApiError::Internal(format!("task {id} holds another kind")));
    };
    Ok((row, task, doc_row))
}

fn save(
    conn: &mut Conn,
    now: Micros,
    mut row: TaskRow,
    task: Task,
    before: Option<&sync::RecordRow>,
    touched: &mut Touched,
) -> Result<TaskRow, ApiError> {
    row.status = task.status.status.as_str().to_owned();
    row.generation = i32::try_from(task.status.generation).unwrap_or(i32::MAX);
    row.deadline_at = task.deadline_us;
    row.updated_at = now;
    if before.is_some() {
        sync::update_task(conn, &row)?;
    } else {
        sync::insert_task(conn, &row)?;
    }
    store::write_record(conn, now, &Record::Task(task), &row, None, before, touched)?;
    Ok(row)
}

/// Creates a task, offered to the volunteer (generation 1).
pub fn create(
    conn: &mut Conn,
    now: Micros,
    coordinator: &str,
    new: &NewTask,
    touched: &mut Touched,
) -> Result<String, ApiError> {
    text("title", &new.title, MAX_TITLE)?;
    if new.title.trim().is_empty() {
        return Err(ApiError::InvalidBody("`title` must not be empty".into()));
    }
    for (field, value) in [
        ("instructions", &new.instructions),
        ("listing_url", &new.listing_url),
        ("shop_name", &new.shop_name),
        ("platform", &new.platform),
        ("category", &new.category),
    ] {
        text(field, value, MAX_TEXT)?;
    }
    check_money(&new.price_cap)?;
    let assignee = volunteer(conn, &new.volunteer_id)?;
    let id = new_id();
    let mut task = Task {
        id: id.clone(),
        status: StatusReg::new(1, Status::Offered, server_stamp(now)),
        history: Vec::new(),
        title: new.title.trim().to_owned(),
        instructions: new.instructions.clone(),
        listing_url: new.listing_url.clone(),
        shop_name: new.shop_name.clone(),
        platform: new.platform.clone(),
        category: new.category.clone(),
        price_cap: new.price_cap.clone(),
        deadline_us: new.deadline.map(|d| d.timestamp_micros()),
        delivery: None,
    };
    record_history(&mut task, 1, Status::Offered, now);
    let row = TaskRow {
        id: id.clone(),
        assignee_id: Some(assignee),
        generation: 1,
        status: Status::Offered.as_str().to_owned(),
        created_by: Some(coordinator.to_owned()),
        deadline_at: task.deadline_us,
        created_at: now,
        updated_at: now,
    };
    save(conn, now, row, task, None, touched)?;
    Ok(id)
}

/// Changes what the task asks.
pub fn edit(
    conn: &mut Conn,
    now: Micros,
    id: &str,
    edit: &TaskEdit,
    touched: &mut Touched,
) -> Result<(), ApiError> {
    let (row, mut task, doc_row) = load(conn, id)?;
    if let Some(title) = &edit.title {
        text("title", title, MAX_TITLE)?;
        if title.trim().is_empty() {
            return Err(ApiError::InvalidBody("`title` must not be empty".into()));
        }
        task.title = title.trim().to_owned();
    }
    for (field, value, target) in [
        ("instructions", &edit.instructions, &mut task.instructions),
        ("listing_url", &edit.listing_url, &mut task.listing_url),
        ("shop_name", &edit.shop_name, &mut task.shop_name),
        ("platform", &edit.platform, &mut task.platform),
        ("category", &edit.category, &mut task.category),
    ] {
        if let Some(value) = value {
            text(field, value, MAX_TEXT)?;
            value.clone_into(target);
        }
    }
    check_money(&edit.price_cap)?;
    if edit.price_cap.is_some() {
        task.price_cap = edit.price_cap.clone();
    }
    if let Some(deadline) = edit.deadline {
        task.deadline_us = Some(deadline.timestamp_micros());
    }
    save(conn, now, row, task, Some(&doc_row), touched)?;
    Ok(())
}

/// Cancels the current generation. A task the volunteer already bought
/// stays bought (the merge says so) and is put on the review list.
pub fn cancel(
    conn: &mut Conn,
    now: Micros,
    id: &str,
    touched: &mut Touched,
) -> Result<(), ApiError> {
    let (row, mut task, doc_row) = load(conn, id)?;
    let cancelled = StatusReg::new(task.status.generation, Status::Cancelled, server_stamp(now));
    if task.status.conflict(&cancelled).is_some() {
        reviews::flag(
            conn,
            now,
            Reason::PurchaseAfterCancellation,
            id,
            Some((sync_protocol::Kind::Task, id)),
            &format!("{id}:{}", task.status.generation),
            serde_json::json!({ "generation": task.status.generation, "status": task.status.status }),
        )?;
    }
    if task.status.merge(&cancelled) {
        record_history(&mut task, cancelled.generation, Status::Cancelled, now);
    }
    save(conn, now, row, task, Some(&doc_row), touched)?;
    Ok(())
}

/// Expires generation `generation`'s offer if it is still the current one
/// and unanswered; `false` when the volunteer answered first, or it was
/// cancelled or offered again since (checked under the task's lock).
pub fn expire_offer(
    conn: &mut Conn,
    now: Micros,
    id: &str,
    generation: u32,
    touched: &mut Touched,
) -> Result<bool, ApiError> {
    let (row, mut task, doc_row) = load(conn, id)?;
    if task.status.status != Status::Offered || task.status.generation != generation {
        return Ok(false);
    }
    let expired = StatusReg::new(task.status.generation, Status::Expired, server_stamp(now));
    if task.status.merge(&expired) {
        record_history(&mut task, expired.generation, Status::Expired, now);
    }
    save(conn, now, row, task, Some(&doc_row), touched)?;
    Ok(true)
}

/// Accepts the current offer on the volunteer's behalf (a slot they
/// claimed themselves is accepted from the start).
pub fn accept(
    conn: &mut Conn,
    now: Micros,
    id: &str,
    touched: &mut Touched,
) -> Result<(), ApiError> {
    let (row, mut task, doc_row) = load(conn, id)?;
    let accepted = StatusReg::new(task.status.generation, Status::Accepted, server_stamp(now));
    if task.status.merge(&accepted) {
        record_history(&mut task, accepted.generation, Status::Accepted, now);
    }
    save(conn, now, row, task, Some(&doc_row), touched)?;
    Ok(())
}

/// Moves the task forward to `status` (a relay station, the lab or the
/// server reporting progress: at relay, forwarded, at lab, tested). The
/// merge keeps the furthest status, so a late or repeated report changes
/// nothing.
pub fn advance(
    conn: &mut Conn,
    now: Micros,
    id: &str,
    status: Status,
    touched: &mut Touched,
) -> Result<(), ApiError> {
    let (row, mut task, doc_row) = load(conn, id)?;
    if task.status.status.ends_generation() {
        return Ok(());
    }
    let next = StatusReg::new(task.status.generation, status, server_stamp(now));
    if task.status.merge(&next) {
        record_history(&mut task, next.generation, status, now);
        save(conn, now, row, task, Some(&doc_row), touched)?;
    }
    Ok(())
}

/// Starts a new generation, offered again to `volunteer_id` (the same
/// volunteer: a reopen; another: a reassignment, after which the task
/// leaves the old volunteer's devices and arrives on the new one's, with
/// its history).
pub fn reassign(
    conn: &mut Conn,
    now: Micros,
    id: &str,
    volunteer_id: Option<&str>,
    touched: &mut Touched,
) -> Result<(), ApiError> {
    let (mut row, mut task, doc_row) = load(conn, id)?;
    // A campaign's task whose candidate went back to the pool and was
    // taken by another task cannot come back: one candidate, one task.
    let link = crate::db::campaigns::find_campaign_task(conn, id)?;
    if link.as_ref().is_some_and(|l| l.released_at.is_some()) {
        return Err(ApiError::Refused {
            code: "candidate_released",
            status: actix_web::http::StatusCode::CONFLICT,
            detail: "this task's listing went back to the campaign's pool; assign it anew".into(),
        });
    }
    if let Some(v) = volunteer_id {
        row.assignee_id = Some(volunteer(conn, v)?);
    }
    if let (Some(_), Some(assignee)) = (&link, &row.assignee_id) {
        crate::db::campaigns::move_campaign_task(conn, id, assignee)?;
    }
    let generation = task.status.generation + 1;
    task.status.merge(&StatusReg::new(
        generation,
        Status::Offered,
        server_stamp(now),
    ));
    record_history(&mut task, generation, Status::Offered, now);
    let row = save(conn, now, row, task, Some(&doc_row), touched)?;
    store::rescope_children(conn, now, &row, touched)
}

fn view(conn: &mut Conn, row: TaskRow, doc: &sync::RecordRow) -> Result<TaskView, ApiError> {
    let pseudonym = match &row.assignee_id {
        Some(a) => users::find(conn, a)?.and_then(|u| u.pseudonym),
        None => None,
    };
    Ok(TaskView {
        record: serde_json::from_str(&doc.doc).unwrap_or(serde_json::Value::Null),
        id: row.id,
        assignee_id: row.assignee_id,
        assignee_pseudonym: pseudonym,
        generation: row.generation,
        status: row.status,
        created_at: from_micros(row.created_at),
        updated_at: from_micros(row.updated_at),
    })
}

/// One task with all its records.
pub fn detail(conn: &mut Conn, id: &str) -> Result<TaskDetail, ApiError> {
    let row = sync::find_task(conn, id)?.ok_or_else(|| ApiError::Missing("no such task".into()))?;
    let records = sync::records_of_task(conn, id)?;
    let doc = records
        .iter()
        .find(|r| r.kind == "task")
        .cloned()
        .ok_or_else(|| ApiError::Internal(format!("task {id} has no record")))?;
    let task = view(conn, row, &doc)?;
    let records = records
        .into_iter()
        .filter(|r| r.kind != "task")
        .map(|r| {
            let mut value: serde_json::Value =
                serde_json::from_str(&r.doc).unwrap_or(serde_json::Value::Null);
            if let Some(object) = value.as_object_mut() {
                object.insert("author_id".into(), r.author_id.clone().into());
                object.insert("on_devices".into(), r.scope.is_some().into());
            }
            value
        })
        .collect();
    Ok(TaskDetail { task, records })
}

/// Tasks, newest first, optionally one volunteer's.
pub fn list(
    conn: &mut Conn,
    filter: &sync::TaskFilter,
    limit: i64,
    offset: i64,
) -> Result<Vec<TaskView>, ApiError> {
    if let Some(status) = &filter.status
        && sync_protocol::records::Status::parse(status).is_none()
    {
        return Err(ApiError::InvalidRequest(format!(
            "`status` is not a task status: {status:?}"
        )));
    }
    let rows = sync::list_tasks(conn, filter, limit, offset)?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let doc = sync::find_record(conn, "task", &row.id)?
            .ok_or_else(|| ApiError::Internal(format!("task {} has no record", row.id)))?;
        out.push(view(conn, row, &doc)?);
    }
    Ok(out)
}
