//! The review list: conflicts the merge settled on its own that a
//! coordinator must still look at (sync.md, "conflicts people must see").
//! Nobody is asked to pick a winner; the list says what happened.

use serde::{Deserialize, Serialize};
use sync_protocol::Kind;
use utoipa::ToSchema;

use crate::{
    auth::new_id,
    db::{
        Conn,
        sync::{self, ReviewRow},
        time::{Micros, from_micros},
    },
    error::ApiError,
};

/// Why an item is on the list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// A money field was overwritten by someone who had not seen its value.
    MoneyOverwrittenBlind,
    /// A cancellation met a task the volunteer had already bought; the
    /// purchase stands.
    PurchaseAfterCancellation,
    /// A task has purchases by two volunteers (bought offline around a
    /// reassignment).
    TwoPurchasesForOneTask,
    /// A volunteer's record for a task reassigned away from them arrived
    /// later: kept, out of every device's scope.
    RecordForReassignedTask,
    /// A photo is the same as, or nearly the same as, a photo of another
    /// task (possible fraud: one picture passed off twice).
    NearDuplicatePhoto,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::MoneyOverwrittenBlind => "money_overwritten_blind",
            Reason::PurchaseAfterCancellation => "purchase_after_cancellation",
            Reason::TwoPurchasesForOneTask => "two_purchases_for_one_task",
            Reason::RecordForReassignedTask => "record_for_reassigned_task",
            Reason::NearDuplicatePhoto => "near_duplicate_photo",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            Reason::MoneyOverwrittenBlind,
            Reason::PurchaseAfterCancellation,
            Reason::TwoPurchasesForOneTask,
            Reason::RecordForReassignedTask,
            Reason::NearDuplicatePhoto,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// Puts an item on the list, once per `cause` (the same cause met again,
/// e.g. by a retried push, adds nothing).
pub fn flag(
    conn: &mut Conn,
    now: Micros,
    reason: Reason,
    task_id: &str,
    record: Option<(Kind, &str)>,
    cause: &str,
    details: serde_json::Value,
) -> Result<(), ApiError> {
    sync::insert_review(
        conn,
        &ReviewRow {
            id: new_id(),
            reason: reason.as_str().to_owned(),
            task_id: task_id.to_owned(),
            record_kind: record.map(|(k, _)| k.as_str().to_owned()),
            record_id: record.map(|(_, id)| id.to_owned()),
            details: details.to_string(),
            dedupe_key: format!("{}:{cause}", reason.as_str()),
            created_at: now,
            resolved_at: None,
            resolved_by: None,
            resolution: None,
        },
    )?;
    Ok(())
}

/// One item of the review list, for coordinators.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewView {
    pub id: String,
    pub reason: Reason,
    pub task_id: String,
    pub record_kind: Option<String>,
    pub record_id: Option<String>,
    /// What happened: the values, stamps and records involved.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub resolved_at: Option<chrono::DateTime<chrono::Utc>>,
    pub resolved_by: Option<String>,
    pub resolution: Option<String>,
}

pub fn view(row: ReviewRow) -> Result<ReviewView, ApiError> {
    Ok(ReviewView {
        reason: Reason::parse(&row.reason)
            .ok_or_else(|| ApiError::Internal(format!("unknown review reason {}", row.reason)))?,
        details: serde_json::from_str(&row.details).unwrap_or(serde_json::Value::Null),
        id: row.id,
        task_id: row.task_id,
        record_kind: row.record_kind,
        record_id: row.record_id,
        created_at: from_micros(row.created_at),
        resolved_at: row.resolved_at.map(from_micros),
        resolved_by: row.resolved_by,
        resolution: row.resolution,
    })
}

/// Closes an item with what the coordinator decided.
pub fn resolve(
    conn: &mut Conn,
    now: Micros,
    id: &str,
    by: &str,
    resolution: &str,
) -> Result<ReviewView, ApiError> {
    let resolution = resolution.trim();
    if resolution.is_empty() || resolution.chars().count() > 2_000 {
        return Err(ApiError::InvalidBody(
            "`resolution` must say what was decided, in 1 to 2000 characters".into(),
        ));
    }
    if sync::find_review(conn, id)?.is_none() {
        return Err(ApiError::Missing("no such review item".into()));
    }
    if !sync::resolve_review(conn, id, by, resolution, now)? {
        return Err(ApiError::Refused {
            code: "already_resolved",
            status: actix_web::http::StatusCode::CONFLICT,
            detail: "this item was resolved already".into(),
        });
    }
    let row =
        sync::find_review(conn, id)?.ok_or_else(|| ApiError::Internal("review vanished".into()))?;
    view(row)
}
