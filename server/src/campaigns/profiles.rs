//! Volunteers' buying profiles: where they are, what they are willing to
//! buy and on which platforms they hold accounts, how many open tasks they
//! take, how much they may spend on one, their home relay station, and
//! their track record. A volunteer edits their own; coordinators see them
//! by pseudonym, never by name.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{check_platform, parse_list};
use crate::{
    db::{
        Conn,
        campaigns::{self as sql, ProfileRow},
        time::{Micros, from_micros},
    },
    error::ApiError,
};

/// The most open tasks one volunteer may take at once.
pub const MAX_CAPACITY: u32 = 50;

/// Whether a volunteer takes new tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProfileStatus {
    Active,
    Paused,
}

impl ProfileStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProfileStatus::Active => "active",
            ProfileStatus::Paused => "paused",
        }
    }
}

/// A volunteer's preferences, as they write them (the whole profile).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileInput {
    /// A region name as the program uses them, e.g. `Zhejiang`.
    pub region: String,
    /// Category ids they are willing to buy.
    pub categories: Vec<String>,
    /// Platforms they hold an account on.
    pub platforms: Vec<String>,
    /// Open tasks they take at once (0 to 50).
    pub capacity: u32,
    /// The most they may spend on one task, in minor units.
    pub spending_cap: i64,
    /// The relay station they send parcels to.
    #[serde(default)]
    pub home_station: Option<String>,
    #[serde(default = "active")]
    pub status: ProfileStatus,
}

fn active() -> ProfileStatus {
    ProfileStatus::Active
}

/// How a volunteer has done so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct TrackRecord {
    /// Tasks bought (purchased or any later stage).
    pub done: i64,
    /// Offers or accepted tasks open now.
    pub open: i64,
    /// Open tasks past their deadline.
    pub late: i64,
    /// Offers they declined or let expire.
    pub rejected: i64,
}

/// A profile as its owner and coordinators see it: a pseudonym, never a
/// name.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileView {
    pub volunteer_id: String,
    pub pseudonym: Option<String>,
    pub region: String,
    pub categories: Vec<String>,
    pub platforms: Vec<String>,
    pub capacity: u32,
    pub spending_cap: i64,
    pub home_station: Option<String>,
    #[schema(value_type = String)]
    pub status: ProfileStatus,
    pub record: TrackRecord,
    pub updated_at: DateTime<Utc>,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::InvalidBody(message.into())
}

fn check_set(field: &str, values: &[String], max: usize) -> Result<Vec<String>, ApiError> {
    if values.len() > max {
        return Err(invalid(format!("{field} may list at most {max}")));
    }
    let set: BTreeSet<&String> = values.iter().collect();
    if set.len() != values.len() {
        return Err(invalid(format!("{field} lists a value twice")));
    }
    Ok(set.into_iter().cloned().collect())
}

/// Writes the volunteer's whole profile.
pub fn save(
    conn: &mut Conn,
    now: Micros,
    user_id: &str,
    input: &ProfileInput,
) -> Result<(), ApiError> {
    let region = input.region.trim();
    if region.is_empty() || region.chars().count() > 100 || region.chars().any(char::is_control) {
        return Err(invalid("region must be 1 to 100 characters"));
    }
    let categories = check_set("categories", &input.categories, 100)?;
    let known: BTreeSet<String> = sql::categories(conn)?.into_iter().map(|c| c.id).collect();
    if let Some(unknown) = categories.iter().find(|c| !known.contains(*c)) {
        return Err(invalid(format!("no category {unknown:?}")));
    }
    let platforms = check_set("platforms", &input.platforms, 100)?;
    for p in &platforms {
        check_platform(p).map_err(invalid)?;
    }
    if input.capacity > MAX_CAPACITY {
        return Err(invalid(format!("capacity must be 0 to {MAX_CAPACITY}")));
    }
    if input.spending_cap < 0 {
        return Err(invalid("spending_cap must not be negative (minor units)"));
    }
    let home_station = match input.home_station.as_deref().map(str::trim) {
        Some("") | None => None,
        Some(s) if s.chars().count() <= 200 && !s.chars().any(char::is_control) => {
            Some(s.to_string())
        }
        Some(_) => return Err(invalid("home_station must be at most 200 characters")),
    };
    let json = |list: &[String]| {
        serde_json::to_string(list).map_err(|e| ApiError::Internal(e.to_string()))
    };
    sql::upsert_profile(
        conn,
        &ProfileRow {
            user_id: user_id.to_string(),
            region: region.to_string(),
            categories: json(&categories)?,
            platforms: json(&platforms)?,
            capacity: i32::try_from(input.capacity).unwrap_or(0),
            spending_cap: input.spending_cap,
            home_station,
            status: input.status.as_str().into(),
            updated_at: now,
        },
    )?;
    Ok(())
}

/// Track records of one volunteer or of everyone, by user id.
fn records(
    conn: &mut Conn,
    user_id: Option<&str>,
    now: Micros,
) -> Result<BTreeMap<String, TrackRecord>, ApiError> {
    let mut out: BTreeMap<String, TrackRecord> = BTreeMap::new();
    for (who, status, n) in sql::task_counts(conn, user_id)? {
        let Some(who) = who else { continue };
        let record = out.entry(who).or_default();
        match status.as_str() {
            "offered" | "accepted" => record.open += n,
            "declined" | "expired" => record.rejected += n,
            "cancelled" => {}
            _ => record.done += n,
        }
    }
    for (who, n) in sql::overdue_counts(conn, user_id, now)? {
        if let Some(who) = who {
            out.entry(who).or_default().late += n;
        }
    }
    Ok(out)
}

fn view(
    row: ProfileRow,
    pseudonym: Option<String>,
    record: TrackRecord,
) -> Result<ProfileView, ApiError> {
    Ok(ProfileView {
        categories: parse_list(&row.categories, "categories")?,
        platforms: parse_list(&row.platforms, "platforms")?,
        capacity: u32::try_from(row.capacity).unwrap_or(0),
        status: if row.status == "paused" {
            ProfileStatus::Paused
        } else {
            ProfileStatus::Active
        },
        updated_at: from_micros(row.updated_at),
        volunteer_id: row.user_id,
        pseudonym,
        region: row.region,
        spending_cap: row.spending_cap,
        home_station: row.home_station,
        record,
    })
}

/// One volunteer's profile, or 404 when they have none yet.
pub fn one(conn: &mut Conn, user_id: &str, now: Micros) -> Result<ProfileView, ApiError> {
    let row = sql::find_profile(conn, user_id)?
        .ok_or_else(|| ApiError::Missing("no profile yet".into()))?;
    let pseudonym = crate::db::users::find(conn, user_id)?.and_then(|u| u.pseudonym);
    let record = records(conn, Some(user_id), now)?
        .remove(user_id)
        .unwrap_or_default();
    view(row, pseudonym, record)
}

/// Every active volunteer's profile, by pseudonym.
pub fn all(
    conn: &mut Conn,
    status: Option<ProfileStatus>,
    now: Micros,
) -> Result<Vec<ProfileView>, ApiError> {
    let mut records = records(conn, None, now)?;
    sql::profiles(conn, status.map(ProfileStatus::as_str))?
        .into_iter()
        .map(|(row, pseudonym)| {
            let record = records.remove(&row.user_id).unwrap_or_default();
            view(row, pseudonym, record)
        })
        .collect()
}
