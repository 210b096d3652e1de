//! A campaign's progress, as the admin panel charts it: quota fill by
//! category and platform, tasks by status (which is also where each sample
//! stands on its way to the lab), overdue tasks, tasks missing required
//! evidence, reimbursements not yet paid, samples by custody stage, and
//! the lab's results by category and platform.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use serde::Serialize;
use sync_protocol::{
    Record,
    records::{ReimbursementStatus, StatusChange},
};
use utoipa::ToSchema;

use super::CampaignStatus;
use crate::{
    db::{
        Conn,
        campaigns::{self as sql, ENDED, NOT_BOUGHT},
        time::{Micros, from_micros},
    },
    error::ApiError,
    sync::store,
};

/// One quota's fill.
#[derive(Debug, Serialize, ToSchema)]
pub struct QuotaFill {
    pub category: String,
    pub platform: Option<String>,
    pub target: u32,
    /// Tasks holding a slot (offered, accepted or further along).
    pub filled: u32,
    /// Of those, bought or further along.
    pub purchased: u32,
}

/// A task past its deadline and not bought.
#[derive(Debug, Serialize, ToSchema)]
pub struct Overdue {
    pub task_id: String,
    pub volunteer_id: String,
    pub status: String,
    pub deadline: DateTime<Utc>,
}

/// A bought task whose evidence is not complete.
#[derive(Debug, Serialize, ToSchema)]
pub struct MissingEvidence {
    pub task_id: String,
    pub volunteer_id: String,
    /// Required kinds without a verified file yet.
    pub missing: Vec<String>,
}

/// Reimbursements by state, with their sums in minor units.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Reimbursements {
    pub requested: u32,
    pub requested_amount: i64,
    pub approved: u32,
    pub approved_amount: i64,
    pub paid: u32,
    pub paid_amount: i64,
    pub rejected: u32,
}

/// The lab's results of one category on one platform.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct ResultCount {
    pub category: String,
    pub platform: String,
    /// Samples with a recorded result.
    pub tested: u32,
    pub qualified: u32,
    pub unqualified: u32,
    /// Of the tested, how many results a coordinator published.
    pub published: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Progress {
    pub campaign_id: String,
    #[schema(value_type = String)]
    pub status: CampaignStatus,
    pub quotas: Vec<QuotaFill>,
    /// Every task the campaign made, by status (`offered` ... `closed`).
    #[schema(value_type = Object)]
    pub tasks_by_status: BTreeMap<String, u32>,
    pub overdue: Vec<Overdue>,
    pub missing_evidence: Vec<MissingEvidence>,
    pub reimbursements: Reimbursements,
    pub money: super::money::Budget,
    /// Parcels by custody stage (`awaiting`, `at_station`, `forwarded`,
    /// `at_lab`, `tested`, `published`).
    #[schema(value_type = Object)]
    pub samples_by_stage: BTreeMap<String, u32>,
    /// Results by category and platform.
    pub results: Vec<ResultCount>,
    /// Tasks by status over time: a point when the first task was
    /// offered, one at the end of each day (UTC) since, and one now (at
    /// most [`TIMELINE_POINTS`] points: longer campaigns are sampled every
    /// few days). Rebuilt from each task's status history.
    pub timeline: Vec<TimelinePoint>,
    pub generated_at: DateTime<Utc>,
}

/// Where every task of the campaign stood at one instant.
#[derive(Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct TimelinePoint {
    pub at: DateTime<Utc>,
    #[schema(value_type = Object)]
    pub by_status: BTreeMap<String, u32>,
}

/// The most points a timeline has.
pub const TIMELINE_POINTS: i64 = 120;

const DAY_US: i64 = 86_400_000_000;

/// Each task's status at the first history entry, at the end of each day
/// since, and at `now`. A task's status at an instant is the last entry
/// of its history (ordered by generation, then workflow) reached by then;
/// a task not offered yet is not counted.
pub fn timeline(histories: &[Vec<StatusChange>], now: Micros) -> Vec<TimelinePoint> {
    let Some(first) = histories.iter().flatten().map(|c| c.at_us).min() else {
        return Vec::new();
    };
    let first = first.min(now);
    // The end of the first entry's day, then every `step` days, then now.
    let first_end = (first.div_euclid(DAY_US) + 1) * DAY_US - 1;
    let days = (now - first_end).div_euclid(DAY_US) + 1;
    // Days between points, so that with the first and now there are at
    // most `TIMELINE_POINTS`.
    let step = ((days + TIMELINE_POINTS - 3) / (TIMELINE_POINTS - 2)).max(1);
    let mut instants = vec![first];
    instants.extend(
        (0..)
            .map(|i| first_end + i * step * DAY_US)
            .take_while(|t| *t < now),
    );
    if first < now {
        instants.push(now);
    }
    instants
        .into_iter()
        .map(|at| {
            let mut by_status: BTreeMap<String, u32> = BTreeMap::new();
            for history in histories {
                if let Some(change) = history.iter().rev().find(|c| c.at_us <= at) {
                    *by_status
                        .entry(change.status.as_str().to_string())
                        .or_default() += 1;
                }
            }
            TimelinePoint {
                at: from_micros(at),
                by_status,
            }
        })
        .collect()
}

pub fn progress(conn: &mut Conn, campaign_id: &str, now: Micros) -> Result<Progress, ApiError> {
    let campaign = super::campaign(conn, campaign_id)?;
    let required: Vec<String> = serde_json::from_str(&campaign.required_evidence)
        .map_err(|e| ApiError::Internal(format!("stored required evidence: {e}")))?;
    let tasks = sql::campaign_tasks_with_status(conn, campaign_id)?;
    let candidates: HashMap<String, (String, String)> = sql::all_candidates(conn, campaign_id)?
        .into_iter()
        .map(|c| (c.id, (c.category_id, c.platform)))
        .collect();

    let mut tasks_by_status: BTreeMap<String, u32> = BTreeMap::new();
    // (category, platform) -> (holding a slot, bought)
    let mut groups: HashMap<(String, String), (u32, u32)> = HashMap::new();
    let mut overdue = Vec::new();
    let mut bought = Vec::new();
    for (link, task) in &tasks {
        *tasks_by_status.entry(task.status.clone()).or_default() += 1;
        let live = link.released_at.is_none() && !ENDED.contains(&task.status.as_str());
        if !live {
            continue;
        }
        let not_bought = NOT_BOUGHT.contains(&task.status.as_str());
        if let Some(group) = candidates.get(&link.candidate_id) {
            let entry = groups.entry(group.clone()).or_default();
            entry.0 += 1;
            entry.1 += u32::from(!not_bought);
        }
        match task.deadline_at {
            Some(deadline) if not_bought && deadline < now => overdue.push(Overdue {
                task_id: task.id.clone(),
                volunteer_id: link.volunteer_id.clone(),
                status: task.status.clone(),
                deadline: from_micros(deadline),
            }),
            _ => {}
        }
        if !not_bought {
            bought.push((task.id.clone(), link.volunteer_id.clone()));
        }
    }
    let quotas = sql::quotas(conn, campaign_id)?
        .into_iter()
        .map(|q| {
            let (filled, purchased) = groups
                .iter()
                .filter(|((c, p), _)| {
                    *c == q.category_id && (q.platform.is_empty() || *p == q.platform)
                })
                .fold((0, 0), |(f, b), (_, (gf, gb))| (f + gf, b + gb));
            QuotaFill {
                category: q.category_id,
                platform: (!q.platform.is_empty()).then_some(q.platform),
                target: u32::try_from(q.target).unwrap_or(0),
                filled,
                purchased,
            }
        })
        .collect();

    let mut evidence: HashMap<String, BTreeSet<String>> = HashMap::new();
    let mut reimbursements = Reimbursements::default();
    let mut histories = Vec::new();
    for row in sql::campaign_records(conn, campaign_id, &["task", "evidence", "reimbursement"])? {
        match store::decode(&row)? {
            Record::Task(t) => histories.push(t.history),
            // Only a verified file counts: a record whose file has not
            // arrived (or was refused) leaves its kind missing.
            Record::Evidence(e)
                if e.status == sync_protocol::records::EvidenceStatus::Verified
                    && !e.withdrawal.is_withdrawn() =>
            {
                evidence
                    .entry(e.task_id)
                    .or_default()
                    .insert(super::wire_name(&e.kind));
            }
            Record::Reimbursement(r) => {
                let amount = r.amount.minor;
                match r.status {
                    ReimbursementStatus::Requested => {
                        reimbursements.requested += 1;
                        reimbursements.requested_amount += amount;
                    }
                    ReimbursementStatus::Approved => {
                        reimbursements.approved += 1;
                        reimbursements.approved_amount += amount;
                    }
                    ReimbursementStatus::Paid => {
                        reimbursements.paid += 1;
                        reimbursements.paid_amount += amount;
                    }
                    ReimbursementStatus::Rejected => reimbursements.rejected += 1,
                }
            }
            _ => {}
        }
    }
    let missing_evidence = bought
        .into_iter()
        .filter_map(|(task_id, volunteer_id)| {
            let have = evidence.get(&task_id);
            let missing: Vec<String> = required
                .iter()
                .filter(|k| !have.is_some_and(|h| h.contains(*k)))
                .cloned()
                .collect();
            (!missing.is_empty()).then_some(MissingEvidence {
                task_id,
                volunteer_id,
                missing,
            })
        })
        .collect();
    let mut samples_by_stage: BTreeMap<String, u32> = BTreeMap::new();
    for parcel in crate::db::logistics::campaign_parcels(conn, campaign_id)? {
        *samples_by_stage.entry(parcel.stage).or_default() += 1;
    }
    let task_candidate: HashMap<&str, &str> = tasks
        .iter()
        .map(|(link, _)| (link.task_id.as_str(), link.candidate_id.as_str()))
        .collect();
    let mut results: BTreeMap<(String, String), ResultCount> = BTreeMap::new();
    for (result, parcel) in crate::db::logistics::campaign_results(conn, campaign_id)? {
        let (category, platform) = task_candidate
            .get(parcel.task_id.as_str())
            .and_then(|c| candidates.get(*c))
            .cloned()
            .unwrap_or_else(|| (parcel.category_id.clone(), String::new()));
        let count = results
            .entry((category.clone(), platform.clone()))
            .or_insert_with(|| ResultCount {
                category,
                platform,
                ..ResultCount::default()
            });
        count.tested += 1;
        if result.verdict == "qualified" {
            count.qualified += 1;
        } else {
            count.unqualified += 1;
        }
        count.published += u32::from(result.published_at.is_some());
    }
    Ok(Progress {
        samples_by_stage,
        results: results.into_values().collect(),
        campaign_id: campaign.id,
        status: super::CampaignStatus::parse(&campaign.status)?,
        quotas,
        tasks_by_status,
        overdue,
        missing_evidence,
        reimbursements,
        money: super::money::budget(conn, campaign_id)?,
        timeline: timeline(&histories, now),
        generated_at: from_micros(now),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sync_protocol::Status;

    fn change(generation: u32, status: Status, at_us: i64) -> StatusChange {
        StatusChange {
            generation,
            status,
            at_us,
        }
    }

    fn counts(point: &TimelinePoint) -> Vec<(&str, u32)> {
        point
            .by_status
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect()
    }

    #[test]
    fn the_timeline_counts_each_task_by_its_status_at_the_end_of_each_day() {
        let day0 = 20_000 * DAY_US; // a midnight
        let hour = 3_600_000_000;
        let histories = vec![
            vec![
                change(1, Status::Offered, day0 + hour),
                change(1, Status::Accepted, day0 + DAY_US + hour),
                change(1, Status::Purchased, day0 + 2 * DAY_US + hour),
            ],
            vec![
                change(1, Status::Offered, day0 + 2 * hour),
                change(1, Status::Expired, day0 + DAY_US + 2 * hour),
                // Offered again: a new generation.
                change(2, Status::Offered, day0 + 2 * DAY_US + 2 * hour),
            ],
            // Not offered until the third day.
            vec![change(1, Status::Offered, day0 + 2 * DAY_US + 3 * hour)],
        ];
        let now = day0 + 2 * DAY_US + 5 * hour;
        let points = timeline(&histories, now);
        assert_eq!(points.len(), 4, "{points:?}");
        assert_eq!(points[0].at, from_micros(day0 + hour));
        assert_eq!(counts(&points[0]), vec![("offered", 1)]);
        assert_eq!(points[1].at, from_micros(day0 + DAY_US - 1));
        assert_eq!(counts(&points[1]), vec![("offered", 2)]);
        assert_eq!(counts(&points[2]), vec![("accepted", 1), ("expired", 1)]);
        assert_eq!(points[3].at, from_micros(now));
        assert_eq!(counts(&points[3]), vec![("offered", 2), ("purchased", 1)]);
    }

    #[test]
    fn a_long_campaign_is_sampled_to_at_most_the_limit_and_ends_now() {
        let day0 = 20_000 * DAY_US;
        let histories = vec![vec![change(1, Status::Offered, day0)]];
        let now = day0 + 1_000 * DAY_US + 7;
        let points = timeline(&histories, now);
        assert!(points.len() as i64 <= TIMELINE_POINTS, "{}", points.len());
        assert_eq!(points.last().map(|p| p.at), Some(from_micros(now)));
        assert!(points.windows(2).all(|w| w[0].at < w[1].at));
        assert!(timeline(&[], now).is_empty());
    }
}
