//! Candidate listings: added one by one or imported in bulk from CSV or
//! JSON. An import is checked row by row and taken whole or not at all:
//! every wrong row is reported with its line and field, and nothing is
//! stored unless all are right. Each candidate's risk score is computed
//! here, with the configured weights.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    CampaignStatus, check_platform,
    risk::{Claim, RiskWeights, Signals, Source},
};
use crate::{
    auth::new_id,
    db::{
        Conn,
        campaigns::{self as sql, CandidateFilter, CandidateRow},
        time::{Micros, from_micros},
    },
    error::{ApiError, RowError},
};

/// The most rows one import may hold.
pub const MAX_ROWS: usize = 100_000;
const MAX_URL: usize = 2_000;
const MAX_TEXT: usize = 200;

/// One candidate listing, as a coordinator sends it (a JSON object, or a
/// CSV row with the same column names; `claims` in CSV is a list separated
/// by `;`). Prices are in minor units of the campaign's currency.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCandidate {
    /// A category id, e.g. `silk-quilts`.
    pub category: String,
    /// One of the campaign's platforms.
    pub platform: String,
    /// The listing's http(s) address; one candidate per listing and campaign.
    pub listing_url: String,
    /// The platform's id of the shop (the rule "never twice from one shop"
    /// compares these).
    pub shop_id: String,
    pub shop_name: String,
    pub listed_price: i64,
    /// (listed - normal) / normal, e.g. -0.4. When absent and the category
    /// has a normal price, the server works it out.
    #[serde(default)]
    pub price_deviation: Option<f64>,
    #[serde(default)]
    pub complaints: u32,
    /// 0 to 1.
    #[serde(default)]
    pub bad_rating_share: Option<f64>,
    #[serde(default)]
    pub sales_volume: u64,
    #[serde(default)]
    pub claims: Vec<Claim>,
    pub source: Source,
}

/// A CSV row: as [`NewCandidate`], with `claims` as one text field.
#[derive(Debug, Deserialize)]
struct CsvRow {
    category: String,
    platform: String,
    listing_url: String,
    shop_id: String,
    shop_name: String,
    listed_price: i64,
    #[serde(default)]
    price_deviation: Option<f64>,
    #[serde(default)]
    complaints: Option<u32>,
    #[serde(default)]
    bad_rating_share: Option<f64>,
    #[serde(default)]
    sales_volume: Option<u64>,
    #[serde(default)]
    claims: Option<String>,
    source: String,
}

/// The columns a CSV file may have; `category`, `platform`, `listing_url`,
/// `shop_id`, `shop_name`, `listed_price` and `source` are required.
pub const CSV_COLUMNS: [&str; 12] = [
    "category",
    "platform",
    "listing_url",
    "shop_id",
    "shop_name",
    "listed_price",
    "price_deviation",
    "complaints",
    "bad_rating_share",
    "sales_volume",
    "claims",
    "source",
];

/// A candidate as coordinators see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CandidateView {
    pub id: String,
    pub category: String,
    pub platform: String,
    pub listing_url: String,
    pub shop_id: String,
    pub shop_name: String,
    pub listed_price: i64,
    pub price_deviation: Option<f64>,
    pub complaints: i32,
    pub bad_rating_share: Option<f64>,
    pub sales_volume: i64,
    #[schema(value_type = Vec<String>)]
    pub claims: Vec<Claim>,
    #[schema(value_type = String)]
    pub source: Source,
    /// The risk score, 0 to 100 with the default weights.
    pub risk_score: f64,
    pub created_at: DateTime<Utc>,
}

impl CandidateView {
    fn from_row(row: CandidateRow) -> Result<Self, ApiError> {
        let claims: Vec<String> = serde_json::from_str(&row.claims)
            .map_err(|e| ApiError::Internal(format!("stored claims: {e}")))?;
        // Thousandths to points: exact for every stored score (< 2^53).
        #[allow(clippy::cast_precision_loss)]
        let risk_score = row.risk_milli as f64 / 1000.0;
        Ok(Self {
            claims: claims.iter().filter_map(|c| Claim::parse(c)).collect(),
            source: Source::parse(&row.source)
                .ok_or_else(|| ApiError::Internal(format!("stored source {}", row.source)))?,
            risk_score,
            created_at: from_micros(row.created_at),
            id: row.id,
            category: row.category_id,
            platform: row.platform,
            listing_url: row.listing_url,
            shop_id: row.shop_id,
            shop_name: row.shop_name,
            listed_price: row.listed_price,
            price_deviation: row.price_deviation,
            complaints: row.complaints,
            bad_rating_share: row.bad_rating_share,
            sales_volume: row.sales_volume,
        })
    }
}

/// What an import stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportReport {
    pub imported: usize,
}

/// Rows as read from a file: the readable ones with their numbers, and a
/// report for each row that cannot be read (checked together with the
/// others' content, so one answer names every wrong row).
#[derive(Debug, Default)]
pub struct Parsed {
    pub rows: Vec<(usize, NewCandidate)>,
    pub errors: Vec<RowError>,
}

/// Parses a CSV file (UTF-8, a header row naming the columns, `,`
/// separated). Rows that cannot be read are reported, not skipped.
pub fn parse_csv(body: &[u8]) -> Result<Parsed, ApiError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(body);
    let headers = reader
        .headers()
        .map_err(|e| ApiError::InvalidBody(format!("the CSV header cannot be read: {e}")))?
        .clone();
    for name in &headers {
        if !CSV_COLUMNS.contains(&name) {
            return Err(ApiError::InvalidBody(format!(
                "unknown CSV column {name:?}; the columns are {}",
                CSV_COLUMNS.join(", ")
            )));
        }
    }
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (i, record) in reader.deserialize::<CsvRow>().enumerate() {
        // Line numbers as a spreadsheet shows them: the header is line 1.
        let line = i + 2;
        if rows.len() + errors.len() >= MAX_ROWS {
            return Err(ApiError::InvalidBody(format!(
                "an import holds at most {MAX_ROWS} rows"
            )));
        }
        match record {
            Ok(row) => match from_csv(row) {
                Ok(candidate) => rows.push((line, candidate)),
                Err((field, message)) => errors.push(RowError {
                    row: line,
                    field: Some(field.into()),
                    message,
                }),
            },
            Err(e) => errors.push(csv_error(line, &headers, &e)),
        }
    }
    Ok(Parsed { rows, errors })
}

fn csv_error(line: usize, headers: &csv::StringRecord, error: &csv::Error) -> RowError {
    let field = match error.kind() {
        // The position in the row, named by the file's own header.
        csv::ErrorKind::Deserialize { err, .. } => err.field().and_then(|i| {
            usize::try_from(i)
                .ok()
                .and_then(|i| headers.get(i))
                .map(str::to_string)
        }),
        _ => None,
    };
    let message = match error.kind() {
        csv::ErrorKind::Deserialize { err, .. } => err.kind().to_string(),
        csv::ErrorKind::UnequalLengths { .. } => {
            "the row has a different number of fields than the header".into()
        }
        csv::ErrorKind::Utf8 { .. } => "the row is not valid UTF-8".into(),
        _ => "the row cannot be read".into(),
    };
    RowError {
        row: line,
        field,
        message,
    }
}

fn from_csv(row: CsvRow) -> Result<NewCandidate, (&'static str, String)> {
    let source = Source::parse(&row.source).ok_or((
        "source",
        format!(
            "{:?} is not a source; use complaint, public_opinion, platform_feed or earlier_failure",
            row.source
        ),
    ))?;
    let mut claims = Vec::new();
    for part in row.claims.as_deref().unwrap_or_default().split(';') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        claims.push(Claim::parse(part).ok_or((
            "claims",
            format!("{part:?} is not a claim; use flash_sale, hot_seller or super_low_price"),
        ))?);
    }
    Ok(NewCandidate {
        category: row.category,
        platform: row.platform,
        listing_url: row.listing_url,
        shop_id: row.shop_id,
        shop_name: row.shop_name,
        listed_price: row.listed_price,
        price_deviation: row.price_deviation,
        complaints: row.complaints.unwrap_or(0),
        bad_rating_share: row.bad_rating_share,
        sales_volume: row.sales_volume.unwrap_or(0),
        claims,
        source,
    })
}

/// Parses a JSON array of candidates; each element is checked on its own,
/// so one bad element is reported with its position, not as a bad body.
pub fn parse_json(body: &[u8]) -> Result<Parsed, ApiError> {
    let values: Vec<serde_json::Value> = serde_json::from_slice(body).map_err(|e| {
        ApiError::InvalidBody(format!("the body must be a JSON array of candidates: {e}"))
    })?;
    if values.len() > MAX_ROWS {
        return Err(ApiError::InvalidBody(format!(
            "an import holds at most {MAX_ROWS} rows"
        )));
    }
    let mut rows = Vec::with_capacity(values.len());
    let mut errors = Vec::new();
    for (i, value) in values.into_iter().enumerate() {
        match serde_json::from_value::<NewCandidate>(value) {
            Ok(candidate) => rows.push((i + 1, candidate)),
            Err(e) => errors.push(RowError {
                row: i + 1,
                field: None,
                message: e.to_string(),
            }),
        }
    }
    Ok(Parsed { rows, errors })
}

fn rows_refused(errors: Vec<RowError>) -> ApiError {
    ApiError::InvalidRows {
        detail: format!(
            "{} row{} cannot be imported; nothing was stored",
            errors.len(),
            if errors.len() == 1 { "" } else { "s" }
        ),
        errors,
    }
}

fn check_text(field: &'static str, value: &str) -> Result<String, (&'static str, String)> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > MAX_TEXT || value.chars().any(char::is_control) {
        return Err((
            field,
            format!("must be 1 to {MAX_TEXT} characters without control characters"),
        ));
    }
    Ok(value.to_string())
}

fn check_url(value: &str) -> Result<String, (&'static str, String)> {
    let value = value.trim();
    let parsed = url::Url::parse(value).ok();
    let ok = value.len() <= MAX_URL
        && parsed
            .as_ref()
            .is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    if !ok {
        return Err((
            "listing_url",
            format!("must be an http(s) address of at most {MAX_URL} characters"),
        ));
    }
    Ok(value.to_string())
}

/// Everything that does not depend on other rows: checks one candidate
/// and turns it into a row.
struct Checker<'a> {
    campaign_id: &'a str,
    platforms: Vec<String>,
    /// Category id -> normal price.
    categories: BTreeMap<String, Option<i64>>,
    weights: &'a RiskWeights,
    now: Micros,
}

impl Checker<'_> {
    fn row(&self, c: &NewCandidate) -> Result<CandidateRow, (&'static str, String)> {
        let normal = self
            .categories
            .get(&c.category)
            .ok_or(("category", format!("no category {:?}", c.category)))?;
        check_platform(&c.platform).map_err(|m| ("platform", m))?;
        if !self.platforms.contains(&c.platform) {
            return Err((
                "platform",
                format!("{:?} is not one of the campaign's platforms", c.platform),
            ));
        }
        let listing_url = check_url(&c.listing_url)?;
        let shop_id = check_text("shop_id", &c.shop_id)?;
        let shop_name = check_text("shop_name", &c.shop_name)?;
        if c.listed_price < 0 {
            return Err(("listed_price", "must not be negative (minor units)".into()));
        }
        if c.price_deviation
            .is_some_and(|d| !(d.is_finite() && (-1.0..=100.0).contains(&d)))
        {
            return Err(("price_deviation", "must be a number from -1 to 100".into()));
        }
        if c.bad_rating_share
            .is_some_and(|s| !(s.is_finite() && (0.0..=1.0).contains(&s)))
        {
            return Err(("bad_rating_share", "must be a number from 0 to 1".into()));
        }
        let complaints =
            i32::try_from(c.complaints).map_err(|_| ("complaints", "is too large".to_string()))?;
        let sales_volume = i64::try_from(c.sales_volume)
            .map_err(|_| ("sales_volume", "is too large".to_string()))?;
        // Prices are far below 2^53 minor units, so the ratio is exact enough.
        #[allow(clippy::cast_precision_loss)]
        let price_deviation = c
            .price_deviation
            .or_else(|| normal.map(|n| (c.listed_price as f64 - n as f64) / n as f64));
        let mut claims = c.claims.clone();
        claims.sort();
        claims.dedup();
        let signals = Signals {
            price_deviation,
            complaints: c.complaints,
            bad_rating_share: c.bad_rating_share,
            sales_volume: c.sales_volume,
            claims: claims.clone(),
            source: c.source,
        };
        let claims: Vec<&str> = claims.iter().map(|c| c.as_str()).collect();
        Ok(CandidateRow {
            id: new_id(),
            campaign_id: self.campaign_id.to_string(),
            category_id: c.category.clone(),
            platform: c.platform.clone(),
            listing_url,
            shop_id,
            shop_name,
            listed_price: c.listed_price,
            price_deviation,
            complaints,
            bad_rating_share: c.bad_rating_share,
            sales_volume,
            claims: serde_json::to_string(&claims).unwrap_or_else(|_| "[]".into()),
            source: c.source.as_str().into(),
            risk_milli: self.weights.score_milli(&signals),
            created_at: self.now,
        })
    }
}

/// Stores the parsed rows for the campaign, all or nothing: every wrong
/// row (unreadable ones included) is reported in one answer.
pub fn add(
    conn: &mut Conn,
    now: Micros,
    weights: &RiskWeights,
    campaign_id: &str,
    parsed: &Parsed,
) -> Result<Vec<CandidateRow>, ApiError> {
    let rows = &parsed.rows;
    let campaign = sql::lock_campaign(conn, campaign_id)?
        .ok_or_else(|| ApiError::Missing("no such campaign".into()))?;
    if campaign.status == CampaignStatus::Closed.as_str() {
        return Err(ApiError::Refused {
            code: "campaign_closed",
            status: actix_web::http::StatusCode::CONFLICT,
            detail: "a closed campaign takes no new candidates".into(),
        });
    }
    let checker = Checker {
        campaign_id,
        platforms: super::platforms(&campaign)?,
        categories: sql::categories(conn)?
            .into_iter()
            .map(|c| (c.id, c.normal_price))
            .collect(),
        weights,
        now,
    };
    let mut errors = parsed.errors.clone();
    let mut out = Vec::with_capacity(rows.len());
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (line, candidate) in rows {
        match checker.row(candidate) {
            Ok(row) => {
                if let Some(first) = seen.insert(row.listing_url.clone(), *line) {
                    errors.push(RowError {
                        row: *line,
                        field: Some("listing_url".into()),
                        message: format!("the same listing is on row {first}"),
                    });
                } else {
                    out.push((*line, row));
                }
            }
            Err((field, message)) => errors.push(RowError {
                row: *line,
                field: Some(field.into()),
                message,
            }),
        }
    }
    let urls: Vec<&str> = out.iter().map(|(_, r)| r.listing_url.as_str()).collect();
    let existing: BTreeSet<String> = sql::existing_listings(conn, campaign_id, &urls)?
        .into_iter()
        .collect();
    for (line, row) in &out {
        if existing.contains(&row.listing_url) {
            errors.push(RowError {
                row: *line,
                field: Some("listing_url".into()),
                message: "the campaign already has this listing".into(),
            });
        }
    }
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.row);
        return Err(rows_refused(errors));
    }
    let rows: Vec<CandidateRow> = out.into_iter().map(|(_, r)| r).collect();
    sql::insert_candidates(conn, &rows)?;
    Ok(rows)
}

/// One candidate, as a coordinator adds it by hand. A wrong field is a
/// plain 422, not a row report.
pub fn add_one(
    conn: &mut Conn,
    now: Micros,
    weights: &RiskWeights,
    campaign_id: &str,
    candidate: &NewCandidate,
) -> Result<CandidateView, ApiError> {
    let parsed = Parsed {
        rows: vec![(1, candidate.clone())],
        errors: Vec::new(),
    };
    match add(conn, now, weights, campaign_id, &parsed) {
        Ok(mut rows) => CandidateView::from_row(rows.remove(0)),
        Err(ApiError::InvalidRows { errors, .. }) => {
            let e = errors.into_iter().next();
            Err(ApiError::InvalidBody(e.map_or_else(
                || "the candidate is invalid".into(),
                |e| match e.field {
                    Some(field) => format!("{field}: {}", e.message),
                    None => e.message,
                },
            )))
        }
        Err(other) => Err(other),
    }
}

/// One page of the campaign's candidates, riskiest first.
pub fn page(
    conn: &mut Conn,
    campaign_id: &str,
    filter: &CandidateFilter,
) -> Result<CandidatePage, ApiError> {
    super::campaign(conn, campaign_id)?;
    let rows = sql::candidates_page(conn, campaign_id, filter)?;
    // A full page may have more after it: the token is where it ended, in
    // the stored order (risk in thousandths, then id).
    let next = (i64::try_from(rows.len()).ok() == Some(filter.limit))
        .then(|| rows.last().map(|r| format!("{}:{}", r.risk_milli, r.id)))
        .flatten();
    Ok(CandidatePage {
        candidates: rows
            .into_iter()
            .map(CandidateView::from_row)
            .collect::<Result<_, _>>()?,
        next,
    })
}

/// One page of candidates and the token of the next (`after`), if any.
#[derive(Debug, Serialize, ToSchema)]
pub struct CandidatePage {
    pub candidates: Vec<CandidateView>,
    pub next: Option<String>,
}
