//! Money: the volunteer pays, the program pays back. A reimbursement
//! request (made on the phone, synced) goes requested -> approved or
//! rejected (with a reason) -> paid; each decision is written through the
//! sync write path, so the volunteer's app shows it. A campaign's budget
//! counts what was spent (bought tasks: their purchase amount) and what is
//! committed (tasks not bought yet: their price cap). Finance gets a CSV.

use serde::{Deserialize, Serialize};
use sync_protocol::{Record, records::ReimbursementStatus};
use utoipa::ToSchema;

use super::wire_name;
use crate::{
    db::{
        Conn,
        campaigns::{self as sql, ENDED, NOT_BOUGHT},
        sync::{self, RecordRow},
        time::{Micros, from_micros},
    },
    error::ApiError,
    spreadsheet::cell,
    sync::{Touched, store},
};

/// A coordinator's decision on a reimbursement request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Reject,
    /// The money went out (only after approval).
    Paid,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    pub decision: Decision,
    /// Required to reject: the volunteer reads it in the app.
    #[serde(default)]
    pub reason: Option<String>,
}

/// A reimbursement as coordinators see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReimbursementView {
    pub id: String,
    pub task_id: String,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    pub reason: Option<String>,
}

/// Applies a decision. Repeating the decision that is already in force is
/// a no-op (a retried request); any other step out of order is refused.
pub fn decide(
    conn: &mut Conn,
    now: Micros,
    id: &str,
    request: &DecisionRequest,
    touched: &mut Touched,
) -> Result<ReimbursementView, ApiError> {
    let row = sync::find_record(conn, "reimbursement", id)?
        .filter(|r| !r.withdrawn)
        .ok_or_else(|| ApiError::Missing("no such reimbursement request".into()))?;
    let task = sync::lock_task(conn, &row.task_id)?
        .ok_or_else(|| ApiError::Internal(format!("task {} is gone", row.task_id)))?;
    // Re-read under the task's lock: a push may have changed it.
    let row = sync::find_record(conn, "reimbursement", id)?.unwrap_or(row);
    let Record::Reimbursement(mut r) = store::decode(&row)? else {
        return Err(ApiError::Internal(format!(
            "record {id} is not a reimbursement"
        )));
    };
    use ReimbursementStatus as S;
    let next = match request.decision {
        Decision::Approve => S::Approved,
        Decision::Reject => S::Rejected,
        Decision::Paid => S::Paid,
    };
    let reason = request
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if next == S::Rejected && reason.is_none_or(|r| r.chars().count() > 1000) {
        return Err(ApiError::InvalidBody(
            "a rejection needs a reason of 1 to 1000 characters".into(),
        ));
    }
    if r.status != next {
        let allowed = matches!(
            (r.status, next),
            (S::Requested, S::Approved | S::Rejected) | (S::Approved, S::Paid)
        );
        if !allowed {
            return Err(ApiError::Refused {
                code: "reimbursement_out_of_order",
                status: actix_web::http::StatusCode::CONFLICT,
                detail: format!(
                    "a {} request cannot become {}: requested -> approved or rejected, approved -> paid",
                    wire_name(&r.status),
                    wire_name(&next)
                ),
            });
        }
        r.status = next;
        if next == S::Rejected {
            r.decision_reason = reason.map(str::to_string);
        }
        store::write_record(
            conn,
            now,
            &Record::Reimbursement(r.clone()),
            &task,
            None,
            Some(&row),
            touched,
        )?;
    }
    Ok(view(&r))
}

fn view(r: &sync_protocol::records::Reimbursement) -> ReimbursementView {
    ReimbursementView {
        id: r.id.clone(),
        task_id: r.task_id.clone(),
        amount: r.amount.minor,
        currency: r.amount.currency.clone(),
        status: wire_name(&r.status),
        reason: r.decision_reason.clone(),
    }
}

/// The campaign's money in minor units.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Budget {
    pub budget: i64,
    /// Bought tasks: what the purchases cost.
    pub spent: i64,
    /// Tasks not bought yet: their price caps.
    pub committed: i64,
    pub remaining: i64,
}

/// Spent and committed money of the campaign.
pub fn budget(conn: &mut Conn, campaign_id: &str) -> Result<Budget, ApiError> {
    let campaign = super::campaign(conn, campaign_id)?;
    let mut spent_by_task: std::collections::HashMap<String, i64> = Default::default();
    for row in sql::campaign_records(conn, campaign_id, &["purchase"])? {
        if let Record::Purchase(p) = store::decode(&row)? {
            *spent_by_task.entry(p.task_id).or_default() += p.amount.value.minor;
        }
    }
    let mut out = Budget {
        budget: campaign.budget,
        ..Budget::default()
    };
    for (link, task) in sql::campaign_tasks_with_status(conn, campaign_id)? {
        if link.released_at.is_some() || ENDED.contains(&task.status.as_str()) {
            continue;
        }
        if NOT_BOUGHT.contains(&task.status.as_str()) {
            out.committed = out.committed.saturating_add(link.price_cap);
        } else {
            // Bought: the purchase's amount, or the cap while its record
            // has not arrived.
            let spent = spent_by_task
                .get(&task.id)
                .copied()
                .unwrap_or(link.price_cap);
            out.spent = out.spent.saturating_add(spent);
        }
    }
    out.remaining = out
        .budget
        .saturating_sub(out.spent)
        .saturating_sub(out.committed);
    Ok(out)
}

/// The finance export: one line per reimbursement request of the
/// campaign, by pseudonym (payout details stay with administrators).
pub fn finance_csv(conn: &mut Conn, campaign_id: &str) -> Result<Vec<u8>, ApiError> {
    super::campaign(conn, campaign_id)?;
    let links: std::collections::HashMap<String, (String, i64)> =
        sql::campaign_tasks_with_status(conn, campaign_id)?
            .into_iter()
            .map(|(l, _)| (l.task_id, (l.volunteer_id, l.price_cap)))
            .collect();
    let mut rows: Vec<RecordRow> = sql::campaign_records(conn, campaign_id, &["reimbursement"])?;
    rows.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    let mut out = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| ApiError::Internal(format!("writing the export: {e}"));
    out.write_record([
        "reimbursement_id",
        "task_id",
        "volunteer",
        "price_cap",
        "amount",
        "currency",
        "status",
        "reason",
        "requested_at",
    ])
    .map_err(fail)?;
    for row in rows {
        let Record::Reimbursement(r) = store::decode(&row)? else {
            continue;
        };
        let (volunteer, cap) = links.get(&r.task_id).cloned().unwrap_or_default();
        let pseudonym = crate::db::users::find(conn, &volunteer)?
            .and_then(|u| u.pseudonym)
            .unwrap_or_default();
        out.write_record([
            &cell(&r.id),
            &cell(&r.task_id),
            &cell(&pseudonym),
            &cap.to_string(),
            &r.amount.minor.to_string(),
            &cell(&r.amount.currency),
            &wire_name(&r.status),
            &cell(r.decision_reason.as_deref().unwrap_or("")),
            &from_micros(row.created_at).to_rfc3339(),
        ])
        .map_err(fail)?;
    }
    out.into_inner()
        .map_err(|e| ApiError::Internal(format!("writing the export: {e}")))
}
