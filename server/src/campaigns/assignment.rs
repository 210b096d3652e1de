//! Assignment: the campaign's open quota slots, its unassigned candidates
//! and the active volunteers become a `campaign_assignment::Problem`; the
//! engine's exact answer is shown as a preview (who gets what, and why each
//! unfilled slot stays open); a commit, of the preview or of a coordinator's
//! hand-edited version of it, is checked by the engine's `validate` against
//! the state at commit time and creates the offers through the sync write
//! path. A commit carries its own id, so repeating it answers the first
//! result and creates nothing twice.

use std::collections::{BTreeMap, HashMap};

use campaign_assignment::{self as engine, Pair, Problem};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sync_protocol::Money;
use utoipa::ToSchema;

use super::{CampaignStatus, conflict, parse_list, profiles::ProfileStatus, wire_name};
use crate::{
    db::{
        Conn,
        campaigns::{self as sql, CampaignRow, CampaignTaskRow, CandidateRow, CommitRow},
        time::{Micros, from_micros},
        users,
    },
    error::ApiError,
    sync::{Touched, tasks},
};

/// The kind of the job that expires an unanswered offer.
pub const EXPIRY_JOB: &str = "campaigns.offer_expiry";

/// A candidate given to a volunteer, by their ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PairRef {
    pub candidate_id: String,
    pub volunteer_id: String,
}

/// A coordinator's adjustments to a preview.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Adjustments {
    /// These candidates never go to these volunteers.
    #[serde(default)]
    pub forbidden: Vec<PairRef>,
    /// These pairs are kept; the rest is optimised around them.
    #[serde(default)]
    pub forced: Vec<PairRef>,
}

/// One planned offer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlannedTask {
    pub candidate_id: String,
    pub volunteer_id: String,
    pub pseudonym: Option<String>,
    pub category: String,
    pub platform: String,
    pub shop_id: String,
    pub shop_name: String,
    pub listing_url: String,
    pub listed_price: i64,
    /// The money the task commits: the tightest quota price cap, or the
    /// listed price when no quota caps it.
    pub price_cap: i64,
    pub risk_score: f64,
}

/// Slots of one quota left open, and why.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UnfilledView {
    pub category: String,
    pub platform: Option<String>,
    /// Open before this assignment.
    pub remaining: u32,
    pub filled: u32,
    pub unfilled: u32,
    /// `no_candidates`, `no_eligible_volunteer`, `capacity` or
    /// `nested_quota_full`, with how many slots each explains.
    #[schema(value_type = Object)]
    pub reasons: BTreeMap<String, u32>,
}

/// The campaign's money, in minor units of its currency.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BudgetView {
    pub budget: i64,
    /// Spent (bought tasks' purchase amounts) and committed (the other
    /// live tasks' price caps).
    pub committed: i64,
    pub remaining: i64,
    /// Price caps of the planned tasks.
    pub planned: i64,
    /// Whether a commit of the plan stays within the budget.
    pub fits: bool,
}

/// The engine's lexicographic objective of a plan.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ObjectiveView {
    pub tasks: u64,
    /// Total risk in thousandths of a point.
    pub risk_milli: u64,
    /// Sum over volunteers of (open tasks after the plan)^2: smaller is
    /// more even.
    pub load_squares: u64,
}

/// What an assignment would do.
#[derive(Debug, Serialize, ToSchema)]
pub struct Preview {
    pub tasks: Vec<PlannedTask>,
    pub objective: ObjectiveView,
    pub unfilled: Vec<UnfilledView>,
    pub budget: BudgetView,
    /// Volunteers who could take tasks (active, with a profile).
    pub volunteers: usize,
    /// Candidates not yet taken.
    pub candidates: usize,
}

/// A commit: the plan to make real, under an id the coordinator's client
/// chose (a retry sends the same id).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommitRequest {
    /// 1 to 100 characters, e.g. a UUID made when the preview was shown.
    pub commit_id: String,
    pub tasks: Vec<PairRef>,
}

/// One offer a commit created.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CommittedTask {
    pub task_id: String,
    pub candidate_id: String,
    pub volunteer_id: String,
    pub offer_expires_at: DateTime<Utc>,
}

/// What a commit did (the same answer every time the commit is repeated).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CommitResult {
    pub commit_id: String,
    pub campaign_id: String,
    pub tasks: Vec<CommittedTask>,
    pub committed_at: DateTime<Utc>,
}

/// The problem as the database stands, with the rows behind its indices.
struct Snapshot {
    campaign: CampaignRow,
    problem: Problem,
    candidates: Vec<CandidateRow>,
    /// The money each candidate's task would commit.
    caps: Vec<i64>,
    volunteer_ids: Vec<String>,
    pseudonyms: Vec<Option<String>>,
    committed: i64,
}

fn snapshot(conn: &mut Conn, campaign: CampaignRow) -> Result<Snapshot, ApiError> {
    let quota_rows = sql::quotas(conn, &campaign.id)?;
    let taken: HashMap<(String, String), i64> = sql::live_tasks_by_group(conn, &campaign.id)?
        .into_iter()
        .map(|(c, p, n)| ((c, p), n))
        .collect();
    let mut taken_by_category: HashMap<String, i64> = HashMap::new();
    for ((c, _), n) in &taken {
        *taken_by_category.entry(c.clone()).or_default() += n;
    }
    let quotas: Vec<engine::Quota> = quota_rows
        .iter()
        .map(|q| {
            let used = if q.platform.is_empty() {
                taken_by_category.get(&q.category_id).copied().unwrap_or(0)
            } else {
                taken
                    .get(&(q.category_id.clone(), q.platform.clone()))
                    .copied()
                    .unwrap_or(0)
            };
            let remaining = (i64::from(q.target) - used).max(0);
            engine::Quota {
                category: q.category_id.clone(),
                platform: (!q.platform.is_empty()).then(|| q.platform.clone()),
                remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
                price_cap: q.price_cap,
            }
        })
        .collect();

    let live: Vec<CampaignTaskRow> = sql::live_campaign_tasks(conn, &campaign.id)?;
    let taken_candidates: std::collections::HashSet<&str> =
        live.iter().map(|t| t.candidate_id.as_str()).collect();
    let candidates: Vec<CandidateRow> = sql::all_candidates(conn, &campaign.id)?
        .into_iter()
        .filter(|c| !taken_candidates.contains(c.id.as_str()))
        .collect();
    let caps: Vec<i64> = candidates
        .iter()
        .map(|c| {
            quota_rows
                .iter()
                .filter(|q| {
                    q.category_id == c.category_id
                        && (q.platform.is_empty() || q.platform == c.platform)
                })
                .filter_map(|q| q.price_cap)
                .min()
                .unwrap_or(c.listed_price)
        })
        .collect();

    let mut used_shops: HashMap<&str, Vec<String>> = HashMap::new();
    for t in &live {
        used_shops
            .entry(t.volunteer_id.as_str())
            .or_default()
            .push(t.shop_id.clone());
    }
    let loads: HashMap<String, i64> = sql::open_loads(conn)?
        .into_iter()
        .filter_map(|(who, n)| Some((who?, n)))
        .collect();
    let mut volunteers = Vec::new();
    let mut volunteer_ids = Vec::new();
    let mut pseudonyms = Vec::new();
    for (profile, pseudonym) in sql::profiles(conn, Some(ProfileStatus::Active.as_str()))? {
        let load = loads.get(&profile.user_id).copied().unwrap_or(0);
        let free = (i64::from(profile.capacity) - load).max(0);
        volunteers.push(engine::Volunteer {
            categories: parse_list(&profile.categories, "categories")?,
            platforms: parse_list(&profile.platforms, "platforms")?,
            free_capacity: u32::try_from(free).unwrap_or(0),
            current_load: u32::try_from(load).unwrap_or(u32::MAX),
            spending_cap: profile.spending_cap,
            used_shops: used_shops
                .remove(profile.user_id.as_str())
                .unwrap_or_default(),
        });
        volunteer_ids.push(profile.user_id);
        pseudonyms.push(pseudonym);
    }
    let problem = Problem {
        quotas,
        candidates: candidates
            .iter()
            .map(|c| engine::Candidate {
                category: c.category_id.clone(),
                platform: c.platform.clone(),
                shop: c.shop_id.clone(),
                price: c.listed_price,
                risk: u32::try_from(c.risk_milli.max(0)).unwrap_or(u32::MAX),
            })
            .collect(),
        volunteers,
        forbidden: Vec::new(),
        forced: Vec::new(),
    };
    // Money already gone or promised: bought tasks at their purchase
    // amount, the others at their price cap.
    let money = super::money::budget(conn, &campaign.id)?;
    let committed = money.spent.saturating_add(money.committed);
    Ok(Snapshot {
        campaign,
        problem,
        candidates,
        caps,
        volunteer_ids,
        pseudonyms,
        committed,
    })
}

impl Snapshot {
    /// Ids to indices; an id not in the snapshot is named in the error
    /// (a candidate already taken, a volunteer paused or unknown).
    fn pairs(&self, refs: &[PairRef], what: &str) -> Result<Vec<Pair>, ApiError> {
        let candidates: HashMap<&str, usize> = self
            .candidates
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.as_str(), i))
            .collect();
        let volunteers: HashMap<&str, usize> = self
            .volunteer_ids
            .iter()
            .enumerate()
            .map(|(i, v)| (v.as_str(), i))
            .collect();
        refs.iter()
            .map(|r| {
                let candidate = *candidates.get(r.candidate_id.as_str()).ok_or_else(|| {
                    conflict(
                        "candidate_unavailable",
                        format!(
                            "{what}: candidate {} is not an open candidate of this campaign",
                            r.candidate_id
                        ),
                    )
                })?;
                let volunteer = *volunteers.get(r.volunteer_id.as_str()).ok_or_else(|| {
                    conflict(
                        "volunteer_unavailable",
                        format!(
                            "{what}: volunteer {} is not an active volunteer with a profile",
                            r.volunteer_id
                        ),
                    )
                })?;
                Ok(Pair::new(candidate, volunteer))
            })
            .collect()
    }

    fn planned(&self, pair: Pair) -> PlannedTask {
        let c = &self.candidates[pair.candidate];
        // Thousandths to points: exact for every stored score (< 2^53).
        #[allow(clippy::cast_precision_loss)]
        let risk_score = c.risk_milli as f64 / 1000.0;
        PlannedTask {
            candidate_id: c.id.clone(),
            volunteer_id: self.volunteer_ids[pair.volunteer].clone(),
            pseudonym: self.pseudonyms[pair.volunteer].clone(),
            category: c.category_id.clone(),
            platform: c.platform.clone(),
            shop_id: c.shop_id.clone(),
            shop_name: c.shop_name.clone(),
            listing_url: c.listing_url.clone(),
            listed_price: c.listed_price,
            price_cap: self.caps[pair.candidate],
            risk_score,
        }
    }

    fn budget(&self, pairs: &[Pair]) -> BudgetView {
        let planned = pairs
            .iter()
            .fold(0i64, |a, p| a.saturating_add(self.caps[p.candidate]));
        let remaining = self.campaign.budget.saturating_sub(self.committed);
        BudgetView {
            budget: self.campaign.budget,
            committed: self.committed,
            remaining,
            planned,
            fits: planned <= remaining,
        }
    }
}

fn objective_view(o: &engine::Objective) -> ObjectiveView {
    ObjectiveView {
        tasks: o.tasks,
        risk_milli: o.risk,
        load_squares: u64::try_from(o.load_squares).unwrap_or(u64::MAX),
    }
}

fn violations_text(violations: &[engine::Violation]) -> String {
    let shown: Vec<String> = violations
        .iter()
        .take(5)
        .map(|v| serde_json::to_string(v).unwrap_or_else(|_| format!("{v:?}")))
        .collect();
    format!(
        "{} rule(s) broken, e.g. {}",
        violations.len(),
        shown.join("; ")
    )
}

/// The engine's optimal assignment for the campaign as it stands, with the
/// coordinator's adjustments.
pub fn preview(
    conn: &mut Conn,
    campaign_id: &str,
    adjust: &Adjustments,
) -> Result<Preview, ApiError> {
    let campaign = super::campaign(conn, campaign_id)?;
    if campaign.status == CampaignStatus::Closed.as_str() {
        return Err(conflict(
            "campaign_closed",
            "a closed campaign takes no new tasks",
        ));
    }
    let mut snap = snapshot(conn, campaign)?;
    snap.problem.forbidden = snap.pairs(&adjust.forbidden, "forbidden")?;
    snap.problem.forced = snap.pairs(&adjust.forced, "forced")?;
    let answer = engine::solve(&snap.problem).map_err(|e| match e {
        engine::ProblemError::ForcedPairs(v) => conflict(
            "forced_pairs_invalid",
            format!("the forced pairs break the rules: {}", violations_text(&v)),
        ),
        // The engine's documented limits are far above a campaign's size;
        // a campaign beyond them is the coordinator's to split, not our
        // failure.
        engine::ProblemError::TooLarge(what) => conflict(
            "campaign_too_large",
            format!("the campaign is beyond what one assignment handles: {what}"),
        ),
        other => ApiError::Internal(format!("assignment engine: {other}")),
    })?;
    let unfilled = answer
        .unfilled
        .iter()
        .map(|u| {
            let q = &snap.problem.quotas[u.quota];
            UnfilledView {
                category: q.category.clone(),
                platform: q.platform.clone(),
                remaining: u.remaining,
                filled: u.filled,
                unfilled: u.unfilled,
                reasons: u
                    .reasons
                    .iter()
                    .map(|r| (wire_name(&r.reason), r.slots))
                    .collect(),
            }
        })
        .collect();
    Ok(Preview {
        tasks: answer.pairs.iter().map(|p| snap.planned(*p)).collect(),
        objective: objective_view(&answer.objective),
        unfilled,
        budget: snap.budget(&answer.pairs),
        volunteers: snap.volunteer_ids.len(),
        candidates: snap.candidates.len(),
    })
}

/// Makes a plan real: checks it against the campaign as it stands now
/// (rules, quotas, budget), creates each offer through the sync write path
/// (it reaches the volunteer's devices), schedules its expiry and mails the
/// volunteer. Repeating a commit id answers the first result.
pub fn commit(
    conn: &mut Conn,
    now: Micros,
    by: &str,
    campaign_id: &str,
    request: &CommitRequest,
    touched: &mut Touched,
) -> Result<CommitResult, ApiError> {
    let id = request.commit_id.trim();
    if id.is_empty() || id.len() > 100 || id.chars().any(char::is_control) {
        return Err(ApiError::InvalidBody(
            "commit_id must be 1 to 100 characters".into(),
        ));
    }
    if request.tasks.len() > 100_000 {
        return Err(ApiError::InvalidBody(
            "at most 100000 tasks per commit".into(),
        ));
    }
    // The campaign row's lock orders concurrent commits (and claims): the
    // second one sees the first one's tasks.
    let campaign = sql::lock_campaign(conn, campaign_id)?
        .ok_or_else(|| ApiError::Missing("no such campaign".into()))?;
    if let Some(done) = sql::find_commit(conn, id)? {
        if done.campaign_id != campaign_id {
            return Err(conflict(
                "commit_id_taken",
                "this commit id was used for another campaign",
            ));
        }
        return serde_json::from_str(&done.result)
            .map_err(|e| ApiError::Internal(format!("stored commit: {e}")));
    }
    if campaign.status != CampaignStatus::Active.as_str() {
        return Err(conflict(
            "campaign_not_active",
            "tasks are assigned only in an active campaign",
        ));
    }
    let snap = snapshot(conn, campaign)?;
    let pairs = snap.pairs(&request.tasks, "tasks")?;
    let violations = engine::validate(&snap.problem, &pairs);
    if !violations.is_empty() {
        return Err(conflict(
            "assignment_invalid",
            format!("the plan no longer fits: {}", violations_text(&violations)),
        ));
    }
    let budget = snap.budget(&pairs);
    if !budget.fits {
        return Err(conflict(
            "over_budget",
            format!(
                "the plan commits {} but only {} of the budget remains",
                budget.planned, budget.remaining
            ),
        ));
    }

    let campaign = &snap.campaign;
    let offer_expires =
        now.saturating_add(campaign.acceptance_window_secs.saturating_mul(1_000_000));
    let deadline = offer_expires
        .saturating_add(campaign.purchase_window_secs.saturating_mul(1_000_000))
        .min(campaign.ends_at);
    let required: Vec<String> = parse_list(&campaign.required_evidence, "required evidence")?;
    let mut created = Vec::with_capacity(pairs.len());
    for pair in &pairs {
        let plan = snap.planned(*pair);
        let instructions = format!(
            "Buy this listing as an ordinary shopper, for at most {} {} (minor units). \
             Evidence needed: {}.",
            plan.price_cap,
            campaign.currency,
            if required.is_empty() {
                "as usual".to_string()
            } else {
                required.join(", ")
            }
        );
        let task_id = tasks::create(
            conn,
            now,
            by,
            &tasks::NewTask {
                volunteer_id: plan.volunteer_id.clone(),
                title: format!("{}: {}", plan.category, plan.shop_name),
                instructions,
                listing_url: plan.listing_url.clone(),
                shop_name: plan.shop_name.clone(),
                platform: plan.platform.clone(),
                category: plan.category.clone(),
                price_cap: Some(Money::new(plan.price_cap, campaign.currency.clone())),
                deadline: Some(from_micros(deadline)),
            },
            touched,
        )?;
        sql::release_ended(conn, &plan.candidate_id, now)?;
        sql::insert_campaign_task(
            conn,
            &CampaignTaskRow {
                task_id: task_id.clone(),
                campaign_id: campaign.id.clone(),
                candidate_id: plan.candidate_id.clone(),
                volunteer_id: plan.volunteer_id.clone(),
                shop_id: plan.shop_id.clone(),
                price_cap: plan.price_cap,
                offer_expires_at: Some(offer_expires),
                commit_id: Some(id.to_string()),
                created_at: now,
                released_at: None,
            },
        )?;
        schedule_expiry(conn, now, &task_id, 1, offer_expires)?;
        mail_offer(conn, now, &plan.volunteer_id, campaign, offer_expires)?;
        created.push(CommittedTask {
            task_id,
            candidate_id: plan.candidate_id,
            volunteer_id: plan.volunteer_id,
            offer_expires_at: from_micros(offer_expires),
        });
    }
    let result = CommitResult {
        commit_id: id.to_string(),
        campaign_id: campaign.id.clone(),
        tasks: created,
        committed_at: from_micros(now),
    };
    sql::insert_commit(
        conn,
        &CommitRow {
            id: id.to_string(),
            campaign_id: campaign.id.clone(),
            created_by: Some(by.to_string()),
            created_at: now,
            result: serde_json::to_string(&result)
                .map_err(|e| ApiError::Internal(e.to_string()))?,
        },
    )?;
    Ok(result)
}

#[derive(Serialize, Deserialize)]
struct ExpiryPayload {
    task_id: String,
    /// The generation whose offer expires (a reopened or reassigned task
    /// is offered again in a new one, with its own expiry).
    #[serde(default = "first_generation")]
    generation: u32,
}

fn first_generation() -> u32 {
    1
}

fn schedule_expiry(
    conn: &mut Conn,
    now: Micros,
    task_id: &str,
    generation: u32,
    at: Micros,
) -> Result<(), ApiError> {
    let key = format!("{EXPIRY_JOB}:{task_id}:{generation}");
    crate::jobs::enqueue(
        conn,
        from_micros(now),
        EXPIRY_JOB,
        &ExpiryPayload {
            task_id: task_id.to_string(),
            generation,
        },
        crate::jobs::Enqueue {
            run_at: Some(from_micros(at)),
            dedupe_key: Some(&key),
            max_attempts: None,
        },
    )?;
    Ok(())
}

/// Tells the volunteer an offer waits in their app. The mail names no
/// shop, product or price: mailboxes are read on other devices.
fn mail_offer(
    conn: &mut Conn,
    now: Micros,
    volunteer_id: &str,
    campaign: &CampaignRow,
    expires: Micros,
) -> Result<(), ApiError> {
    let Some(email) = users::find_personal_data(conn, volunteer_id)?.and_then(|p| p.email) else {
        return Ok(());
    };
    let mail = crate::mail::OutgoingMail {
        to: email,
        subject: "A new buying task is waiting in your app".into(),
        body: format!(
            "Hello,\n\nA new buying task for the campaign \"{}\" is waiting in your app. \
             Please accept or decline it before {} (UTC).\n\nThank you for taking part.\n",
            campaign.name,
            from_micros(expires).format("%Y-%m-%d %H:%M")
        ),
    };
    crate::mail::queue(conn, from_micros(now), &mail)
        .map_err(|e| ApiError::Internal(format!("queueing the offer mail: {e}")))?;
    Ok(())
}

/// Expires the offer of `task_id` if it is still unanswered; its candidate
/// is then free for another task (liveness follows the task's status). Safe
/// to run twice or on any instance: the task's row lock and the status
/// check make a second run a no-op.
pub fn expire_offer(
    conn: &mut Conn,
    now: Micros,
    task_id: &str,
    generation: u32,
    touched: &mut Touched,
) -> Result<bool, ApiError> {
    let Some(link) = sql::find_campaign_task(conn, task_id)? else {
        return Ok(false);
    };
    if link.released_at.is_some() || link.offer_expires_at.is_none_or(|at| at > now) {
        return Ok(false);
    }
    tasks::expire_offer(conn, now, task_id, generation, touched)
}

/// After a campaign's task is offered again (reopened or reassigned), the
/// new offer gets the campaign's acceptance window and its own expiry.
/// Tasks outside campaigns are left alone.
pub fn reoffer(conn: &mut Conn, now: Micros, task_id: &str) -> Result<(), ApiError> {
    let Some(link) = sql::find_campaign_task(conn, task_id)? else {
        return Ok(());
    };
    let campaign = super::campaign(conn, &link.campaign_id)?;
    let task = crate::db::sync::find_task(conn, task_id)?
        .ok_or_else(|| ApiError::Internal(format!("task {task_id} is gone")))?;
    let generation = u32::try_from(task.generation).unwrap_or(1);
    let at = now.saturating_add(campaign.acceptance_window_secs.saturating_mul(1_000_000));
    sql::set_offer_expiry(conn, task_id, at)?;
    schedule_expiry(conn, now, task_id, generation, at)
}

/// Registers the offer expiry job. Devices learn of the expiry on their
/// next pull (the event poller notices the scope's new version).
pub fn register_expiry(
    registry: &mut crate::jobs::Registry,
    db: crate::db::Database,
    clock: crate::clock::SharedClock,
) {
    registry.register(EXPIRY_JOB, move |ctx| {
        let (db, clock) = (db.clone(), std::sync::Arc::clone(&clock));
        async move {
            let payload: ExpiryPayload = serde_json::from_value(ctx.payload)
                .map_err(|e| crate::jobs::JobError::Permanent(format!("bad payload: {e}")))?;
            let now = crate::db::time::to_micros(clock.now());
            db.write(move |conn| {
                let mut touched = Touched::new();
                expire_offer(
                    conn,
                    now,
                    &payload.task_id,
                    payload.generation,
                    &mut touched,
                )
            })
            .await
            .map_err(|e| crate::jobs::JobError::Retry(e.to_string()))?;
            Ok(())
        }
    });
}

/// An open slot a volunteer may claim from the board.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BoardSlot {
    pub candidate_id: String,
    pub category: String,
    pub platform: String,
    pub shop_name: String,
    pub listing_url: String,
    pub listed_price: i64,
    /// What the task may cost at most.
    pub price_cap: i64,
}

/// A slot the caller claimed: their task, already accepted (it reaches
/// their devices by sync).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Claimed {
    pub task_id: String,
    pub candidate_id: String,
    pub deadline: DateTime<Utc>,
}

/// The most slots the board shows at once (the riskiest first).
const BOARD_LIMIT: usize = 100;

fn board_campaign(conn: &mut Conn, campaign_id: &str, lock: bool) -> Result<CampaignRow, ApiError> {
    let campaign = if lock {
        sql::lock_campaign(conn, campaign_id)?
    } else {
        sql::find_campaign(conn, campaign_id)?
    };
    // A campaign without a board looks like no campaign to a volunteer.
    campaign
        .filter(|c| c.open_board && c.status == CampaignStatus::Active.as_str())
        .ok_or_else(|| ApiError::Missing("no open board for this campaign".into()))
}

/// Whether volunteer `v` may take candidate `c` on top of the snapshot.
fn claimable(snap: &Snapshot, c: usize, v: usize) -> bool {
    engine::validate(&snap.problem, &[Pair::new(c, v)]).is_empty()
}

/// The slots the volunteer could claim now, riskiest first.
pub fn board(
    conn: &mut Conn,
    campaign_id: &str,
    volunteer_id: &str,
) -> Result<Vec<BoardSlot>, ApiError> {
    let campaign = board_campaign(conn, campaign_id, false)?;
    let snap = snapshot(conn, campaign)?;
    let Some(v) = snap.volunteer_ids.iter().position(|id| id == volunteer_id) else {
        return Ok(Vec::new());
    };
    let me = &snap.problem.volunteers[v];
    // Cheap filters first; the engine's own check decides.
    let mut order: Vec<usize> = (0..snap.candidates.len())
        .filter(|&c| {
            let cand = &snap.problem.candidates[c];
            me.free_capacity > 0
                && cand.price <= me.spending_cap
                && me.categories.contains(&cand.category)
                && me.platforms.contains(&cand.platform)
                && !me.used_shops.contains(&cand.shop)
        })
        .collect();
    order.sort_by_key(|&c| std::cmp::Reverse(snap.problem.candidates[c].risk));
    let mut slots = Vec::new();
    for c in order {
        if slots.len() == BOARD_LIMIT {
            break;
        }
        if claimable(&snap, c, v) {
            let row = &snap.candidates[c];
            slots.push(BoardSlot {
                candidate_id: row.id.clone(),
                category: row.category_id.clone(),
                platform: row.platform.clone(),
                shop_name: row.shop_name.clone(),
                listing_url: row.listing_url.clone(),
                listed_price: row.listed_price,
                price_cap: snap.caps[c],
            });
        }
    }
    Ok(slots)
}

/// A volunteer claims an open slot: under the campaign's lock (so of many
/// claims for the last slots exactly as many win as there are slots), the
/// pair is checked by the engine's rules and the budget, and the task is
/// created already accepted.
pub fn claim(
    conn: &mut Conn,
    now: Micros,
    campaign_id: &str,
    volunteer_id: &str,
    candidate_id: &str,
    touched: &mut Touched,
) -> Result<Claimed, ApiError> {
    let campaign = board_campaign(conn, campaign_id, true)?;
    let snap = snapshot(conn, campaign)?;
    let pair = snap.pairs(
        &[PairRef {
            candidate_id: candidate_id.to_string(),
            volunteer_id: volunteer_id.to_string(),
        }],
        "claim",
    )?;
    let violations = engine::validate(&snap.problem, &pair);
    if !violations.is_empty() {
        return Err(conflict(
            "claim_refused",
            format!(
                "this slot cannot be yours: {}",
                violations_text(&violations)
            ),
        ));
    }
    if !snap.budget(&pair).fits {
        return Err(conflict("over_budget", "the campaign's budget is spent"));
    }
    let plan = snap.planned(pair[0]);
    let campaign = &snap.campaign;
    let deadline = now
        .saturating_add(campaign.purchase_window_secs.saturating_mul(1_000_000))
        .min(campaign.ends_at);
    let task_id = tasks::create(
        conn,
        now,
        volunteer_id,
        &tasks::NewTask {
            volunteer_id: volunteer_id.to_string(),
            title: format!("{}: {}", plan.category, plan.shop_name),
            instructions: format!(
                "Buy this listing as an ordinary shopper, for at most {} {} (minor units).",
                plan.price_cap, campaign.currency
            ),
            listing_url: plan.listing_url.clone(),
            shop_name: plan.shop_name.clone(),
            platform: plan.platform.clone(),
            category: plan.category.clone(),
            price_cap: Some(Money::new(plan.price_cap, campaign.currency.clone())),
            deadline: Some(from_micros(deadline)),
        },
        touched,
    )?;
    sql::release_ended(conn, &plan.candidate_id, now)?;
    sql::insert_campaign_task(
        conn,
        &CampaignTaskRow {
            task_id: task_id.clone(),
            campaign_id: campaign.id.clone(),
            candidate_id: plan.candidate_id.clone(),
            volunteer_id: volunteer_id.to_string(),
            shop_id: plan.shop_id.clone(),
            price_cap: plan.price_cap,
            offer_expires_at: None,
            commit_id: None,
            created_at: now,
            released_at: None,
        },
    )?;
    // After the campaign link exists: accepting routes the parcel by it.
    tasks::accept(conn, now, &task_id, touched)?;
    Ok(Claimed {
        task_id,
        candidate_id: plan.candidate_id,
        deadline: from_micros(deadline),
    })
}
