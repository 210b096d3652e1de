//! Exceptions of the route, first-class: a parcel damaged on arrival, the
//! wrong item in it, a parcel that never arrived (no station scan within a
//! deadline after "shipped"), a return to sender, a sample lost at the lab.
//! Each is a row coordinators see and resolve, and a custody entry.
//!
//! The same kind reported twice from the same side while open is one
//! exception (a retried report, the deadline job running on two instances).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::views::{self, ExceptionView};
use crate::{
    custody::{self, Event, kinds},
    db::{
        self, Conn,
        logistics::{ExceptionRow, ParcelRow},
        time::Micros,
    },
    error::ApiError,
};

/// The job that reports parcels that never arrived.
pub const OVERDUE_JOB: &str = "logistics.overdue";

const MAX_NOTE: usize = 2_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Damaged,
    WrongItem,
    NeverArrived,
    Returned,
    Lost,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Damaged => "damaged",
            Kind::WrongItem => "wrong_item",
            Kind::NeverArrived => "never_arrived",
            Kind::Returned => "returned",
            Kind::Lost => "lost",
        }
    }
}

/// Who reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Station,
    Lab,
    Coordinator,
    Server,
}

impl Side {
    fn as_str(self) -> &'static str {
        match self {
            Side::Station => "station",
            Side::Lab => "lab",
            Side::Coordinator => "coordinator",
            Side::Server => "server",
        }
    }

    /// The kinds each side may report: a station sees the parcel arrive (or
    /// come back), a lab the sample, a coordinator anything.
    fn may_report(self, kind: Kind) -> bool {
        match self {
            Side::Station => matches!(kind, Kind::Damaged | Kind::WrongItem | Kind::Returned),
            Side::Lab => matches!(kind, Kind::Damaged | Kind::WrongItem | Kind::Lost),
            Side::Coordinator => true,
            Side::Server => kind == Kind::NeverArrived,
        }
    }
}

/// A report as a station, lab or coordinator sends it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportInput {
    pub kind: Kind,
    #[serde(default)]
    pub note: String,
}

pub fn check_note(note: &str) -> Result<String, ApiError> {
    if note.chars().count() > MAX_NOTE || note.chars().any(|c| c == '\0') {
        return Err(ApiError::InvalidBody(format!(
            "note must be at most {MAX_NOTE} characters"
        )));
    }
    Ok(note.trim().to_string())
}

/// Records an exception of `parcel` reported by `side` (and person
/// `reporter`); returns whether it was new.
pub fn report_from(
    conn: &mut Conn,
    now: Micros,
    parcel: &ParcelRow,
    kind: Kind,
    side: Side,
    reporter: Option<&str>,
    note: &str,
) -> Result<bool, ApiError> {
    if !side.may_report(kind) {
        return Err(ApiError::InvalidBody(format!(
            "a {} cannot report {}",
            side.as_str(),
            kind.as_str()
        )));
    }
    let note = check_note(note)?;
    let row = ExceptionRow {
        id: uuid::Uuid::now_v7().to_string(),
        task_id: parcel.task_id.clone(),
        kind: kind.as_str().to_string(),
        note,
        reported_by_role: side.as_str().to_string(),
        reported_by: reporter.map(str::to_string),
        reported_at: now,
        resolved_at: None,
        resolution: None,
    };
    let new = db::logistics::insert_exception(conn, &row)?;
    if new {
        custody::append(
            conn,
            now,
            Event::new(kinds::EXCEPTION, &parcel.task_id)
                .sample(parcel.sample_code.as_deref().unwrap_or_default())
                .with("exception", kind.as_str())
                .with("reported_by", side.as_str())
                .with("id", &row.id),
        )?;
    }
    Ok(new)
}

/// A campaign's exceptions, open ones first.
pub fn of_campaign(conn: &mut Conn, campaign: &str) -> Result<Vec<ExceptionView>, ApiError> {
    Ok(db::logistics::campaign_exceptions(conn, campaign)?
        .iter()
        .map(|(e, _)| views::exception(e))
        .collect())
}

/// A coordinator's resolution of an open exception.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveInput {
    pub resolution: String,
}

pub fn resolve(
    conn: &mut Conn,
    now: Micros,
    id: &str,
    input: &ResolveInput,
) -> Result<ExceptionView, ApiError> {
    let resolution = check_note(&input.resolution)?;
    if resolution.is_empty() {
        return Err(ApiError::InvalidBody(
            "resolution must say what was done".into(),
        ));
    }
    let row = db::logistics::find_exception(conn, id)?
        .ok_or_else(|| ApiError::Missing("no such exception".into()))?;
    if row.resolved_at.is_some() {
        if row.resolution.as_deref() == Some(resolution.as_str()) {
            return Ok(views::exception(&row));
        }
        return Err(ApiError::Refused {
            code: "already_resolved",
            status: actix_web::http::StatusCode::CONFLICT,
            detail: "this exception is already resolved".into(),
        });
    }
    db::logistics::resolve_exception(conn, id, &resolution, now)?;
    let row = db::logistics::find_exception(conn, id)?
        .ok_or_else(|| ApiError::Internal("a resolved exception vanished".into()))?;
    Ok(views::exception(&row))
}

/// Reports every shipped parcel no station scanned within `deadline_us`
/// of its shipping (the `logistics.overdue` job). Returns how many were new.
pub fn report_overdue(conn: &mut Conn, now: Micros, deadline_us: i64) -> Result<usize, ApiError> {
    let mut new = 0;
    for parcel in db::logistics::overdue_parcels(conn, now.saturating_sub(deadline_us))? {
        if report_from(
            conn,
            now,
            &parcel,
            Kind::NeverArrived,
            Side::Server,
            None,
            "no relay station scanned this parcel within the deadline after it was shipped",
        )? {
            new += 1;
        }
    }
    Ok(new)
}
