//! A campaign's progress, as the admin panel charts it: quota fill by
//! category and platform, tasks by status (which is also where each sample
//! stands on its way to the lab), overdue tasks, tasks missing required
//! evidence, reimbursements not yet paid, samples by custody stage, and
//! the lab's results by category and platform.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use serde::Serialize;
use sync_protocol::{Record, records::ReimbursementStatus};
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
    pub generated_at: DateTime<Utc>,
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
    for row in sql::campaign_records(conn, campaign_id, &["evidence", "reimbursement"])? {
        match store::decode(&row)? {
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
        generated_at: from_micros(now),
    })
}
