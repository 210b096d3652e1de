//! The lab's side of the route: a sample received by its code, the result
//! recorded (qualified or not, the failed test items, the standard) and the
//! report attached; then the coordinator publishes the result, and
//! published results export as CSV for the platforms (takedowns) and the
//! regulator.
//!
//! A lab knows a sample only by its code, category and what to test
//! (`views::LabSample`). A result may be corrected until it is published;
//! every recording is a custody entry, so a correction is visible.

use serde::Deserialize;
use sync_protocol::records::Status;
use utoipa::ToSchema;

use super::{Stage, codes, views};
use crate::{
    custody::{self, Event, kinds},
    db::{
        self, Conn,
        logistics::{LabResultRow, ParcelRow},
        time::{Micros, from_micros},
    },
    error::ApiError,
    spreadsheet,
    sync::Touched,
};

const MAX_ITEMS: usize = 100;
const MAX_TEXT: usize = 500;
const MAX_NOTES: usize = 4_000;

/// The media types a report may have.
pub const REPORT_TYPES: [&str; 1] = ["application/pdf"];

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::InvalidBody(message.into())
}

fn conflict(code: &'static str, detail: impl Into<String>) -> ApiError {
    ApiError::Refused {
        code,
        status: actix_web::http::StatusCode::CONFLICT,
        detail: detail.into(),
    }
}

/// A lab's sample by code; 404 for a malformed code or another lab's.
pub fn lab_parcel(conn: &mut Conn, lab: &str, sample: &str) -> Result<ParcelRow, ApiError> {
    codes::read_sample_code(sample)
        .map(|code| db::logistics::parcel_by_sample_code(conn, &code))
        .transpose()?
        .flatten()
        .filter(|p| p.lab_id.as_deref() == Some(lab))
        .ok_or_else(|| ApiError::Missing(format!("no sample {sample} for this lab")))
}

fn sample_of(parcel: &ParcelRow) -> String {
    parcel.sample_code.clone().unwrap_or_default()
}

/// The lab scanned the sample code on arrival.
pub fn receive(
    conn: &mut Conn,
    now: Micros,
    lab: &str,
    inspector: &str,
    sample: &str,
    touched: &mut Touched,
) -> Result<ParcelRow, ApiError> {
    let mut parcel = lab_parcel(conn, lab, sample)?;
    match Stage::parse(&parcel.stage) {
        Stage::Forwarded => {}
        Stage::AtLab | Stage::Tested | Stage::Published => return Ok(parcel),
        _ => {
            return Err(views::wrong_stage(
                &parcel,
                "received at the lab before it was forwarded",
            ));
        }
    }
    parcel.stage = Stage::AtLab.as_str().to_string();
    parcel.lab_received_at = Some(now);
    parcel.updated_at = now;
    db::logistics::update_parcel(conn, &parcel)?;
    custody::append(
        conn,
        now,
        Event::new(kinds::RECEIVED_AT_LAB, &parcel.task_id)
            .sample(&sample_of(&parcel))
            .with("lab", lab)
            .with("inspector", inspector),
    )?;
    crate::sync::tasks::advance(conn, now, &parcel.task_id, Status::AtLab, touched)?;
    Ok(parcel)
}

/// Qualified or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Qualified,
    Unqualified,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Qualified => "qualified",
            Verdict::Unqualified => "unqualified",
        }
    }
}

/// A result as the lab records it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResultInput {
    pub verdict: Verdict,
    /// The test items that failed (empty when qualified).
    #[serde(default)]
    pub failed_items: Vec<String>,
    /// The standard tested against, e.g. `GB 18401-2010`.
    pub standard: String,
    #[serde(default)]
    pub notes: String,
}

fn check_text(field: &str, value: &str, max: usize, required: bool) -> Result<String, ApiError> {
    let value = value.trim();
    if (required && value.is_empty())
        || value.chars().count() > max
        || value.chars().any(|c| c == '\0')
    {
        let need = if required { "1" } else { "0" };
        return Err(invalid(format!(
            "{field} must be {need} to {max} characters"
        )));
    }
    Ok(value.to_string())
}

fn check_result(input: &ResultInput) -> Result<(Vec<String>, String, String), ApiError> {
    if input.failed_items.len() > MAX_ITEMS {
        return Err(invalid(format!("at most {MAX_ITEMS} failed_items")));
    }
    let items = input
        .failed_items
        .iter()
        .map(|i| check_text("each failed item", i, MAX_TEXT, true))
        .collect::<Result<Vec<_>, _>>()?;
    match (input.verdict, items.is_empty()) {
        (Verdict::Unqualified, true) => {
            return Err(invalid("an unqualified sample names the failed_items"));
        }
        (Verdict::Qualified, false) => {
            return Err(invalid("a qualified sample has no failed_items"));
        }
        _ => {}
    }
    let standard = check_text("standard", &input.standard, MAX_TEXT, true)?;
    let notes = check_text("notes", &input.notes, MAX_NOTES, false)?;
    Ok((items, standard, notes))
}

/// Records (or corrects, until published) the sample's result.
pub fn record_result(
    conn: &mut Conn,
    now: Micros,
    lab: &str,
    inspector: &str,
    sample: &str,
    input: &ResultInput,
    touched: &mut Touched,
) -> Result<views::LabResult, ApiError> {
    let (items, standard, notes) = check_result(input)?;
    let mut parcel = lab_parcel(conn, lab, sample)?;
    match Stage::parse(&parcel.stage) {
        Stage::AtLab | Stage::Tested => {}
        Stage::Published => {
            return Err(conflict(
                "result_published",
                "the result is published and can no longer change",
            ));
        }
        _ => {
            return Err(views::wrong_stage(
                &parcel,
                "tested before the lab received it",
            ));
        }
    }
    let code = sample_of(&parcel);
    let before = db::logistics::find_result(conn, &code)?;
    let failed_items =
        serde_json::to_string(&items).map_err(|e| ApiError::Internal(e.to_string()))?;
    if let Some(b) = &before
        && b.verdict == input.verdict.as_str()
        && b.failed_items == failed_items
        && b.standard == standard
        && b.notes == notes
    {
        // The same result again (a retry): nothing to log.
        return Ok(views::lab_result(b));
    }
    let row = LabResultRow {
        sample_code: code.clone(),
        task_id: parcel.task_id.clone(),
        lab_id: lab.to_string(),
        verdict: input.verdict.as_str().to_string(),
        failed_items,
        standard,
        notes,
        report_sha256: before.as_ref().and_then(|b| b.report_sha256.clone()),
        report_media_type: before.as_ref().and_then(|b| b.report_media_type.clone()),
        recorded_by: inspector.to_string(),
        recorded_at: now,
        published_by: None,
        published_at: None,
    };
    db::logistics::upsert_result(conn, &row)?;
    if parcel.stage != Stage::Tested.as_str() {
        parcel.stage = Stage::Tested.as_str().to_string();
        parcel.updated_at = now;
        db::logistics::update_parcel(conn, &parcel)?;
    }
    custody::append(
        conn,
        now,
        Event::new(kinds::RESULT_RECORDED, &parcel.task_id)
            .sample(&code)
            .with("lab", lab)
            .with("inspector", inspector)
            .with("verdict", &row.verdict)
            .with("failed_items", &row.failed_items)
            .with("standard", &row.standard)
            .with("correction", if before.is_some() { "yes" } else { "no" }),
    )?;
    crate::sync::tasks::advance(conn, now, &parcel.task_id, Status::Tested, touched)?;
    Ok(views::lab_result(&row))
}

/// A report file as stored (content-addressed).
pub struct StoredReport<'a> {
    pub sha256: &'a str,
    pub size: u64,
    pub media_type: &'a str,
}

/// Attaches the stored report to the sample's result.
pub fn attach_report(
    conn: &mut Conn,
    now: Micros,
    lab: &str,
    inspector: &str,
    sample: &str,
    report: &StoredReport,
) -> Result<views::LabResult, ApiError> {
    let (sha256, size, media_type) = (report.sha256, report.size, report.media_type);
    let parcel = lab_parcel(conn, lab, sample)?;
    let code = sample_of(&parcel);
    let mut row = db::logistics::find_result(conn, &code)?
        .ok_or_else(|| conflict("no_result", "record the result before attaching its report"))?;
    if row.published_at.is_some() {
        return Err(conflict(
            "result_published",
            "the result is published and can no longer change",
        ));
    }
    if row.report_sha256.as_deref() == Some(sha256) {
        return Ok(views::lab_result(&row));
    }
    row.report_sha256 = Some(sha256.to_string());
    row.report_media_type = Some(media_type.to_string());
    db::logistics::upsert_result(conn, &row)?;
    custody::append(
        conn,
        now,
        Event::new("report_attached", &parcel.task_id)
            .sample(&code)
            .with("lab", lab)
            .with("inspector", inspector)
            .with("sha256", sha256)
            .with_int("size", i64::try_from(size).unwrap_or(i64::MAX)),
    )?;
    Ok(views::lab_result(&row))
}

/// The report of a sample: (blob key, media type, sha256) for whoever may
/// see it (the lab that made it, coordinators).
pub fn report_of(conn: &mut Conn, code: &str) -> Result<(String, String, String), ApiError> {
    let row = db::logistics::find_result(conn, code)?
        .filter(|r| r.report_sha256.is_some())
        .ok_or_else(|| ApiError::Missing("no report for this sample".into()))?;
    let sha = row.report_sha256.unwrap_or_default();
    Ok((
        crate::storage::content_key(&sha),
        row.report_media_type
            .unwrap_or_else(|| REPORT_TYPES[0].to_string()),
        sha,
    ))
}

/// The lab's samples: on their way, received, tested.
pub fn samples(conn: &mut Conn, lab: &str) -> Result<Vec<views::LabSample>, ApiError> {
    db::logistics::lab_parcels(conn, lab)?
        .iter()
        .map(|p| views::lab_sample(conn, p))
        .collect()
}

/// The coordinator publishes a task's recorded result.
pub fn publish(
    conn: &mut Conn,
    now: Micros,
    coordinator: &str,
    task: &str,
) -> Result<views::LabResult, ApiError> {
    let mut parcel = db::logistics::find_parcel(conn, task)?
        .ok_or_else(|| ApiError::Missing("this task has no parcel".into()))?;
    let code = sample_of(&parcel);
    let mut row = db::logistics::find_result(conn, &code)?
        .filter(|_| !code.is_empty())
        .ok_or_else(|| conflict("no_result", "the lab has not recorded a result yet"))?;
    if row.published_at.is_some() {
        return Ok(views::lab_result(&row));
    }
    row.published_by = Some(coordinator.to_string());
    row.published_at = Some(now);
    db::logistics::upsert_result(conn, &row)?;
    parcel.stage = Stage::Published.as_str().to_string();
    parcel.updated_at = now;
    db::logistics::update_parcel(conn, &parcel)?;
    custody::append(
        conn,
        now,
        Event::new(kinds::RESULT_PUBLISHED, task)
            .sample(&code)
            .with("verdict", &row.verdict)
            .with("published_by", coordinator),
    )?;
    Ok(views::lab_result(&row))
}

/// The published results of a campaign as CSV, for platforms (takedowns)
/// and regulators: the listing and shop tested, never the volunteer.
pub fn results_csv(conn: &mut Conn, campaign: &str) -> Result<Vec<u8>, ApiError> {
    let mut out = csv::Writer::from_writer(Vec::new());
    let csv_err = |e: csv::Error| ApiError::Internal(format!("results CSV: {e}"));
    out.write_record([
        "sample_code",
        "category",
        "platform",
        "shop_name",
        "shop_id",
        "listing_url",
        "verdict",
        "failed_items",
        "standard",
        "lab",
        "tested_at",
        "published_at",
    ])
    .map_err(csv_err)?;
    for (result, parcel) in db::logistics::campaign_results(conn, campaign)? {
        let Some(published) = result.published_at else {
            continue;
        };
        let candidate = match db::campaigns::find_campaign_task(conn, &parcel.task_id)? {
            Some(link) => db::campaigns::find_candidate(conn, &link.candidate_id)?,
            None => None,
        };
        let category = db::campaigns::find_category(conn, &parcel.category_id)?
            .map_or_else(|| parcel.category_id.clone(), |c| c.name);
        let lab = db::logistics::find_lab(conn, &result.lab_id)?
            .map_or_else(|| result.lab_id.clone(), |l| l.name);
        let items: Vec<String> = serde_json::from_str(&result.failed_items).unwrap_or_default();
        let (platform, shop_name, shop_id, url) = candidate
            .map(|c| (c.platform, c.shop_name, c.shop_id, c.listing_url))
            .unwrap_or_default();
        out.write_record([
            result.sample_code.as_str(),
            &category,
            &platform,
            &spreadsheet::cell(&shop_name),
            &spreadsheet::cell(&shop_id),
            &spreadsheet::cell(&url),
            &result.verdict,
            &spreadsheet::cell(&items.join("; ")),
            &spreadsheet::cell(&result.standard),
            &spreadsheet::cell(&lab),
            &from_micros(result.recorded_at).to_rfc3339(),
            &from_micros(published).to_rfc3339(),
        ])
        .map_err(csv_err)?;
    }
    out.into_inner()
        .map_err(|e| ApiError::Internal(format!("results CSV: {e}")))
}
