//! Sampling campaigns: what a campaign buys (quotas per category, optionally
//! per category x platform, with price caps), the candidate listings it may
//! buy and their risk scores, and the volunteers' buying profiles. Every
//! function here runs inside one database transaction handed in by the
//! caller; nothing here knows HTTP. Volunteers appear only by pseudonym.

pub mod assignment;
pub mod candidates;
pub mod money;
pub mod profiles;
pub mod progress;
pub mod risk;

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sync_protocol::records::EvidenceKind;
use utoipa::ToSchema;

use crate::{
    auth::new_id,
    db::{
        Conn,
        campaigns::{self as sql, CampaignRow, CategoryRow, QuotaRow},
        time::{Micros, from_micros, to_micros},
    },
    error::ApiError,
};

const MAX_NAME: usize = 200;
const MAX_LIST: usize = 100;
/// The most slots one quota may ask for.
pub const MAX_TARGET: u32 = 1_000_000;

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

/// A platform key: lower-case letters, digits, `.`, `-` and `_`, 1 to 40
/// characters (`taobao`, `jd.com`). Keys are compared exactly.
pub fn check_platform(value: &str) -> Result<(), String> {
    let ok = !value.is_empty()
        && value.len() <= 40
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "platform {value:?} must be 1 to 40 lower-case letters, digits, '.', '-' or '_'"
        ))
    }
}

fn check_name(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(invalid(format!(
            "{field} must be 1 to {max} characters without control characters"
        )));
    }
    Ok(value.to_string())
}

fn json_list<T: Serialize>(list: &[T]) -> Result<String, ApiError> {
    serde_json::to_string(list).map_err(|e| ApiError::Internal(e.to_string()))
}

/// A JSON list stored in a text column, read back.
pub(crate) fn parse_list<T: for<'a> Deserialize<'a>>(
    text: &str,
    what: &str,
) -> Result<Vec<T>, ApiError> {
    serde_json::from_str(text).map_err(|e| ApiError::Internal(format!("stored {what}: {e}")))
}

/// The name a unit enum variant has on the wire (`order_screenshot`,
/// `no_candidates`): the same spelling the API uses everywhere.
pub(crate) fn wire_name<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

// ---- categories -----------------------------------------------------------

/// A product category.
#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryView {
    /// A stable key, e.g. `silk-quilts`.
    pub id: String,
    pub name: String,
    /// The normal price in minor units, when known: it lets the server
    /// work out a candidate's price deviation.
    pub normal_price: Option<i64>,
}

impl From<CategoryRow> for CategoryView {
    fn from(row: CategoryRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            normal_price: row.normal_price,
        }
    }
}

/// A new category.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCategory {
    /// 1 to 40 lower-case letters, digits and `-`.
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub normal_price: Option<i64>,
}

pub fn create_category(
    conn: &mut Conn,
    now: Micros,
    new: &NewCategory,
) -> Result<CategoryView, ApiError> {
    let id_ok = !new.id.is_empty()
        && new.id.len() <= 40
        && new
            .id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !id_ok {
        return Err(invalid(
            "id must be 1 to 40 lower-case letters, digits and '-'",
        ));
    }
    let name = check_name("name", &new.name, MAX_NAME)?;
    if new.normal_price.is_some_and(|p| p <= 0) {
        return Err(invalid("normal_price must be above 0 (minor units)"));
    }
    let row = CategoryRow {
        id: new.id.clone(),
        name,
        normal_price: new.normal_price,
        created_at: now,
    };
    if !sql::insert_category(conn, &row)? {
        return Err(conflict(
            "category_exists",
            "a category with this id or name exists",
        ));
    }
    Ok(row.into())
}

pub fn categories(conn: &mut Conn) -> Result<Vec<CategoryView>, ApiError> {
    Ok(sql::categories(conn)?
        .into_iter()
        .map(CategoryView::from)
        .collect())
}

// ---- campaigns ------------------------------------------------------------

/// Where a campaign stands. Draft: being planned, no tasks. Active: tasks
/// are assigned and bought. Closed: nothing new; the record stays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    Draft,
    Active,
    Closed,
}

impl CampaignStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignStatus::Draft => "draft",
            CampaignStatus::Active => "active",
            CampaignStatus::Closed => "closed",
        }
    }

    fn parse(value: &str) -> Result<Self, ApiError> {
        match value {
            "draft" => Ok(CampaignStatus::Draft),
            "active" => Ok(CampaignStatus::Active),
            "closed" => Ok(CampaignStatus::Closed),
            other => Err(ApiError::Internal(format!(
                "stored campaign status {other}"
            ))),
        }
    }
}

/// A new campaign (it starts as a draft). Money is in minor units of
/// `currency`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCampaign {
    pub name: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// Platform keys the campaign buys on, e.g. `["taobao", "jd"]`.
    pub platforms: Vec<String>,
    /// ISO 4217, e.g. `CNY`.
    pub currency: String,
    /// The total budget in minor units.
    pub budget: i64,
    /// Evidence a task's package needs before it is complete.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub required_evidence: Vec<EvidenceKind>,
    /// Relay stations parcels go through (their ids).
    #[serde(default)]
    pub relay_stations: Vec<String>,
    /// The testing lab (its id).
    #[serde(default)]
    pub lab: Option<String>,
    /// Hours a volunteer has to accept an offer. Default 24.
    #[serde(default = "default_acceptance_hours")]
    pub acceptance_window_hours: u32,
    /// Hours to buy once an offer is accepted (never past the campaign's
    /// end). Default 72.
    #[serde(default = "default_purchase_hours")]
    pub purchase_window_hours: u32,
    /// Eligible volunteers may claim open slots themselves. Default false.
    #[serde(default)]
    pub open_board: bool,
    /// Relay stations open each parcel and seal the sample in front of a
    /// witness before forwarding it. Default false.
    #[serde(default)]
    pub witnessed_opening: bool,
    /// What the lab tests (the lab sees it with each sample).
    #[serde(default)]
    pub test_plan: String,
}

fn default_acceptance_hours() -> u32 {
    24
}

fn default_purchase_hours() -> u32 {
    72
}

/// Changes to a campaign; absent fields stay. `status` moves draft ->
/// active -> closed only.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignEdit {
    pub name: Option<String>,
    pub status: Option<CampaignStatus>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub platforms: Option<Vec<String>>,
    pub budget: Option<i64>,
    #[schema(value_type = Option<Vec<String>>)]
    pub required_evidence: Option<Vec<EvidenceKind>>,
    pub relay_stations: Option<Vec<String>>,
    pub lab: Option<String>,
    pub acceptance_window_hours: Option<u32>,
    pub purchase_window_hours: Option<u32>,
    pub open_board: Option<bool>,
    pub witnessed_opening: Option<bool>,
    pub test_plan: Option<String>,
}

/// A campaign as coordinators see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignView {
    pub id: String,
    pub name: String,
    pub status: CampaignStatus,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub platforms: Vec<String>,
    pub currency: String,
    pub budget: i64,
    #[schema(value_type = Vec<String>)]
    pub required_evidence: Vec<EvidenceKind>,
    pub relay_stations: Vec<String>,
    pub lab: Option<String>,
    pub acceptance_window_hours: u32,
    pub purchase_window_hours: u32,
    pub open_board: bool,
    pub witnessed_opening: bool,
    pub test_plan: String,
    pub quotas: Vec<QuotaView>,
    pub candidates: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn check_platforms(platforms: &[String]) -> Result<Vec<String>, ApiError> {
    if platforms.is_empty() || platforms.len() > MAX_LIST {
        return Err(invalid(format!(
            "platforms must list 1 to {MAX_LIST} platforms"
        )));
    }
    let mut seen = BTreeSet::new();
    for p in platforms {
        check_platform(p).map_err(invalid)?;
        if !seen.insert(p.clone()) {
            return Err(invalid(format!("platform {p:?} is listed twice")));
        }
    }
    Ok(platforms.to_vec())
}

fn check_ids(field: &str, ids: &[String]) -> Result<(), ApiError> {
    if ids.len() > MAX_LIST {
        return Err(invalid(format!("{field} may list at most {MAX_LIST}")));
    }
    for id in ids {
        check_name(field, id, MAX_NAME)?;
    }
    Ok(())
}

fn check_evidence(kinds: &[EvidenceKind]) -> Result<(), ApiError> {
    let unique: BTreeSet<String> = kinds.iter().map(wire_name).collect();
    if unique.len() != kinds.len() {
        return Err(invalid("required_evidence lists a kind twice"));
    }
    Ok(())
}

fn hours_to_secs(field: &str, hours: u32) -> Result<i64, ApiError> {
    if hours == 0 || hours > 24 * 366 {
        return Err(invalid(format!("{field} must be 1 to 8784 hours")));
    }
    Ok(i64::from(hours) * 3600)
}

fn secs_to_hours(secs: i64) -> u32 {
    u32::try_from(secs / 3600).unwrap_or(u32::MAX)
}

/// Checks what every campaign must satisfy, whichever way it was written.
fn check_campaign(row: &CampaignRow) -> Result<(), ApiError> {
    if row.ends_at <= row.starts_at {
        return Err(invalid("ends_at must be after starts_at"));
    }
    if row.budget < 0 {
        return Err(invalid("budget must not be negative (minor units)"));
    }
    Ok(())
}

/// What the lab tests: free text, at most 4,000 characters.
fn check_plan(plan: &str) -> Result<String, ApiError> {
    let plan = plan.trim();
    if plan.chars().count() > 4_000 || plan.chars().any(|c| c == '\0') {
        return Err(invalid("test_plan must be at most 4000 characters"));
    }
    Ok(plan.to_string())
}

pub fn create_campaign(
    conn: &mut Conn,
    now: Micros,
    new: &NewCampaign,
) -> Result<String, ApiError> {
    let currency_ok =
        new.currency.len() == 3 && new.currency.bytes().all(|b| b.is_ascii_uppercase());
    if !currency_ok {
        return Err(invalid("currency must be an ISO 4217 code such as CNY"));
    }
    check_ids("relay_stations", &new.relay_stations)?;
    if let Some(lab) = &new.lab {
        check_name("lab", lab, MAX_NAME)?;
    }
    crate::logistics::places::check_campaign_places(conn, &new.relay_stations, new.lab.as_deref())?;
    check_evidence(&new.required_evidence)?;
    let row = CampaignRow {
        id: new_id(),
        name: check_name("name", &new.name, MAX_NAME)?,
        status: CampaignStatus::Draft.as_str().into(),
        starts_at: to_micros(new.starts_at),
        ends_at: to_micros(new.ends_at),
        platforms: json_list(&check_platforms(&new.platforms)?)?,
        currency: new.currency.clone(),
        budget: new.budget,
        required_evidence: json_list(&new.required_evidence)?,
        relay_stations: json_list(&new.relay_stations)?,
        lab: new.lab.clone(),
        acceptance_window_secs: hours_to_secs(
            "acceptance_window_hours",
            new.acceptance_window_hours,
        )?,
        purchase_window_secs: hours_to_secs("purchase_window_hours", new.purchase_window_hours)?,
        open_board: new.open_board,
        created_at: now,
        updated_at: now,
        witnessed_opening: new.witnessed_opening,
        test_plan: check_plan(&new.test_plan)?,
    };
    check_campaign(&row)?;
    sql::insert_campaign(conn, &row)?;
    Ok(row.id)
}

/// The campaign or 404.
pub fn campaign(conn: &mut Conn, id: &str) -> Result<CampaignRow, ApiError> {
    sql::find_campaign(conn, id)?.ok_or_else(|| ApiError::Missing("no such campaign".into()))
}

pub fn edit_campaign(
    conn: &mut Conn,
    now: Micros,
    id: &str,
    edit: &CampaignEdit,
) -> Result<(), ApiError> {
    let mut row = sql::lock_campaign(conn, id)?
        .ok_or_else(|| ApiError::Missing("no such campaign".into()))?;
    let status = CampaignStatus::parse(&row.status)?;
    if status == CampaignStatus::Closed {
        return Err(conflict(
            "campaign_closed",
            "a closed campaign cannot change",
        ));
    }
    if let Some(next) = edit.status {
        let allowed = matches!(
            (status, next),
            (
                CampaignStatus::Draft,
                CampaignStatus::Active | CampaignStatus::Closed
            ) | (CampaignStatus::Active, CampaignStatus::Closed)
        ) || status == next;
        if !allowed {
            return Err(conflict(
                "status_backwards",
                format!(
                    "a campaign moves draft -> active -> closed; it cannot go from {} to {}",
                    status.as_str(),
                    next.as_str()
                ),
            ));
        }
        row.status = next.as_str().into();
    }
    if let Some(name) = &edit.name {
        row.name = check_name("name", name, MAX_NAME)?;
    }
    if let Some(at) = edit.starts_at {
        row.starts_at = to_micros(at);
    }
    if let Some(at) = edit.ends_at {
        row.ends_at = to_micros(at);
    }
    if let Some(platforms) = &edit.platforms {
        let platforms = check_platforms(platforms)?;
        let quotas = sql::quotas(conn, id)?;
        if let Some(q) = quotas
            .iter()
            .find(|q| !q.platform.is_empty() && !platforms.contains(&q.platform))
        {
            return Err(conflict(
                "platform_in_use",
                format!("a quota still names platform {:?}", q.platform),
            ));
        }
        row.platforms = json_list(&platforms)?;
    }
    if let Some(budget) = edit.budget {
        row.budget = budget;
    }
    if let Some(kinds) = &edit.required_evidence {
        check_evidence(kinds)?;
        row.required_evidence = json_list(kinds)?;
    }
    if let Some(stations) = &edit.relay_stations {
        check_ids("relay_stations", stations)?;
        row.relay_stations = json_list(stations)?;
    }
    if let Some(lab) = &edit.lab {
        row.lab = Some(check_name("lab", lab, MAX_NAME)?);
    }
    if let Some(hours) = edit.acceptance_window_hours {
        row.acceptance_window_secs = hours_to_secs("acceptance_window_hours", hours)?;
    }
    if let Some(hours) = edit.purchase_window_hours {
        row.purchase_window_secs = hours_to_secs("purchase_window_hours", hours)?;
    }
    if let Some(open) = edit.open_board {
        row.open_board = open;
    }
    if let Some(witnessed) = edit.witnessed_opening {
        row.witnessed_opening = witnessed;
    }
    if let Some(plan) = &edit.test_plan {
        row.test_plan = check_plan(plan)?;
    }
    let stations: Vec<String> = parse_list(&row.relay_stations, "relay stations")?;
    crate::logistics::places::check_campaign_places(conn, &stations, row.lab.as_deref())?;
    check_campaign(&row)?;
    row.updated_at = now;
    sql::update_campaign(conn, &row)?;
    Ok(())
}

pub fn view(conn: &mut Conn, row: CampaignRow) -> Result<CampaignView, ApiError> {
    let quotas = sql::quotas(conn, &row.id)?
        .into_iter()
        .map(QuotaView::from)
        .collect();
    let candidates = sql::count_candidates(conn, &row.id)?;
    Ok(CampaignView {
        status: CampaignStatus::parse(&row.status)?,
        platforms: parse_list(&row.platforms, "platforms")?,
        required_evidence: parse_list(&row.required_evidence, "required evidence")?,
        relay_stations: parse_list(&row.relay_stations, "relay stations")?,
        acceptance_window_hours: secs_to_hours(row.acceptance_window_secs),
        purchase_window_hours: secs_to_hours(row.purchase_window_secs),
        starts_at: from_micros(row.starts_at),
        ends_at: from_micros(row.ends_at),
        created_at: from_micros(row.created_at),
        updated_at: from_micros(row.updated_at),
        quotas,
        candidates,
        id: row.id,
        name: row.name,
        currency: row.currency,
        budget: row.budget,
        lab: row.lab,
        open_board: row.open_board,
        witnessed_opening: row.witnessed_opening,
        test_plan: row.test_plan,
    })
}

pub fn campaigns(
    conn: &mut Conn,
    status: Option<CampaignStatus>,
) -> Result<Vec<CampaignView>, ApiError> {
    sql::campaigns(conn, status.map(CampaignStatus::as_str))?
        .into_iter()
        .map(|row| view(conn, row))
        .collect()
}

/// The campaign's platforms, parsed.
pub fn platforms(row: &CampaignRow) -> Result<Vec<String>, ApiError> {
    parse_list(&row.platforms, "platforms")
}

// ---- quotas ---------------------------------------------------------------

/// Target lots for a category, or for a category on one platform.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotaSpec {
    /// The category id.
    pub category: String,
    /// A platform of the campaign, or absent for the whole category. A
    /// category may have both: its platform quotas then share its total.
    #[serde(default)]
    pub platform: Option<String>,
    pub target: u32,
    /// The most one lot may cost, in minor units.
    #[serde(default)]
    pub price_cap: Option<i64>,
}

/// A quota as stored.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QuotaView {
    pub id: String,
    pub category: String,
    pub platform: Option<String>,
    pub target: u32,
    pub price_cap: Option<i64>,
}

impl From<QuotaRow> for QuotaView {
    fn from(row: QuotaRow) -> Self {
        Self {
            id: row.id,
            category: row.category_id,
            platform: (!row.platform.is_empty()).then_some(row.platform),
            target: u32::try_from(row.target).unwrap_or(0),
            price_cap: row.price_cap,
        }
    }
}

/// Replaces the campaign's quotas (a closed campaign's stay as they are).
pub fn set_quotas(
    conn: &mut Conn,
    campaign_id: &str,
    specs: &[QuotaSpec],
) -> Result<Vec<QuotaView>, ApiError> {
    let campaign = sql::lock_campaign(conn, campaign_id)?
        .ok_or_else(|| ApiError::Missing("no such campaign".into()))?;
    if CampaignStatus::parse(&campaign.status)? == CampaignStatus::Closed {
        return Err(conflict(
            "campaign_closed",
            "a closed campaign cannot change",
        ));
    }
    let platforms = platforms(&campaign)?;
    if specs.len() > 10_000 {
        return Err(invalid("at most 10000 quotas"));
    }
    let mut seen = BTreeSet::new();
    let mut rows = Vec::with_capacity(specs.len());
    for (i, spec) in specs.iter().enumerate() {
        let at = format!("quota {}", i + 1);
        if sql::find_category(conn, &spec.category)?.is_none() {
            return Err(invalid(format!("{at}: no category {:?}", spec.category)));
        }
        let platform = spec.platform.clone().unwrap_or_default();
        if !platform.is_empty() && !platforms.contains(&platform) {
            return Err(invalid(format!(
                "{at}: platform {platform:?} is not one of the campaign's"
            )));
        }
        if spec.target > MAX_TARGET {
            return Err(invalid(format!(
                "{at}: target must be at most {MAX_TARGET}"
            )));
        }
        if spec.price_cap.is_some_and(|c| c < 0) {
            return Err(invalid(format!("{at}: price_cap must not be negative")));
        }
        if !seen.insert((spec.category.clone(), platform.clone())) {
            return Err(invalid(format!(
                "{at}: {} {} has a quota already",
                spec.category,
                spec.platform.as_deref().unwrap_or("(all platforms)")
            )));
        }
        rows.push(QuotaRow {
            id: new_id(),
            campaign_id: campaign_id.to_string(),
            category_id: spec.category.clone(),
            platform,
            target: i32::try_from(spec.target).unwrap_or(i32::MAX),
            price_cap: spec.price_cap,
        });
    }
    sql::replace_quotas(conn, campaign_id, &rows)?;
    Ok(rows.into_iter().map(QuotaView::from).collect())
}
