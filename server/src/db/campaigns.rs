//! SQL of campaigns: categories, campaigns, quotas, candidates, volunteer
//! profiles and the link from a task to the candidate it buys. The rules
//! (what a valid campaign is, how risk is scored, who may see what) live in
//! `crate::campaigns`; this module only reads and writes rows.

use diesel::prelude::*;

use super::{
    Conn,
    schema::{
        assignment_commits, campaign_tasks, campaigns, candidates, categories, quotas, users,
        volunteer_profiles,
    },
    time::Micros,
};
use crate::with_conn;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = categories)]
pub struct CategoryRow {
    pub id: String,
    pub name: String,
    pub normal_price: Option<i64>,
    pub created_at: Micros,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = campaigns, treat_none_as_null = true)]
pub struct CampaignRow {
    pub id: String,
    pub name: String,
    pub status: String,
    pub starts_at: Micros,
    pub ends_at: Micros,
    pub platforms: String,
    pub currency: String,
    pub budget: i64,
    pub required_evidence: String,
    pub relay_stations: String,
    pub lab: Option<String>,
    pub acceptance_window_secs: i64,
    pub purchase_window_secs: i64,
    pub open_board: bool,
    pub created_at: Micros,
    pub updated_at: Micros,
    /// The station opens the parcel and seals the sample in front of a
    /// witness before forwarding it.
    pub witnessed_opening: bool,
    /// What the lab tests (shown to the lab with each sample).
    pub test_plan: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = quotas)]
pub struct QuotaRow {
    pub id: String,
    pub campaign_id: String,
    pub category_id: String,
    /// `""` for the whole category.
    pub platform: String,
    pub target: i32,
    pub price_cap: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = candidates)]
pub struct CandidateRow {
    pub id: String,
    pub campaign_id: String,
    pub category_id: String,
    pub platform: String,
    pub listing_url: String,
    pub shop_id: String,
    pub shop_name: String,
    pub listed_price: i64,
    pub price_deviation: Option<f64>,
    pub complaints: i32,
    pub bad_rating_share: Option<f64>,
    pub sales_volume: i64,
    pub claims: String,
    pub source: String,
    pub risk_milli: i64,
    pub created_at: Micros,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = volunteer_profiles, treat_none_as_null = true)]
pub struct ProfileRow {
    pub user_id: String,
    pub region: String,
    pub categories: String,
    pub platforms: String,
    pub capacity: i32,
    pub spending_cap: i64,
    pub home_station: Option<String>,
    pub status: String,
    pub updated_at: Micros,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = campaign_tasks)]
pub struct CampaignTaskRow {
    pub task_id: String,
    pub campaign_id: String,
    pub candidate_id: String,
    pub volunteer_id: String,
    pub shop_id: String,
    pub price_cap: i64,
    pub offer_expires_at: Option<Micros>,
    pub commit_id: Option<String>,
    pub created_at: Micros,
    pub released_at: Option<Micros>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = assignment_commits)]
pub struct CommitRow {
    pub id: String,
    pub campaign_id: String,
    pub created_by: Option<String>,
    pub created_at: Micros,
    pub result: String,
}

// ---- categories -----------------------------------------------------------

pub fn categories(conn: &mut Conn) -> QueryResult<Vec<CategoryRow>> {
    with_conn!(conn, c => categories::table
        .order(categories::name.asc())
        .select(CategoryRow::as_select())
        .load(c))
}

pub fn find_category(conn: &mut Conn, id: &str) -> QueryResult<Option<CategoryRow>> {
    with_conn!(conn, c => categories::table
        .find(id)
        .select(CategoryRow::as_select())
        .first(c)
        .optional())
}

/// Inserts a category; `false` when its id or name is taken.
pub fn insert_category(conn: &mut Conn, row: &CategoryRow) -> QueryResult<bool> {
    let n = with_conn!(conn, c => diesel::insert_into(categories::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(n == 1)
}

// ---- campaigns ------------------------------------------------------------

pub fn insert_campaign(conn: &mut Conn, row: &CampaignRow) -> QueryResult<()> {
    with_conn!(conn, c => diesel::insert_into(campaigns::table).values(row).execute(c))?;
    Ok(())
}

pub fn find_campaign(conn: &mut Conn, id: &str) -> QueryResult<Option<CampaignRow>> {
    with_conn!(conn, c => campaigns::table
        .find(id)
        .select(CampaignRow::as_select())
        .first(c)
        .optional())
}

/// The campaign, its row locked until the transaction ends (PostgreSQL;
/// SQLite's write transaction already excludes other writers). Everything
/// that spends a campaign's slots or money takes this lock first, so two
/// claims or commits never both see the last free slot.
pub fn lock_campaign(conn: &mut Conn, id: &str) -> QueryResult<Option<CampaignRow>> {
    match conn {
        Conn::Pg(c) => campaigns::table
            .find(id)
            .select(CampaignRow::as_select())
            .for_update()
            .first(&mut **c)
            .optional(),
        Conn::Sqlite(_) => find_campaign(conn, id),
    }
}

/// Campaigns newest first, optionally of one status.
pub fn campaigns(conn: &mut Conn, status: Option<&str>) -> QueryResult<Vec<CampaignRow>> {
    with_conn!(conn, c => {
        let mut query = campaigns::table
            .order((campaigns::starts_at.desc(), campaigns::id.asc()))
            .select(CampaignRow::as_select())
            .into_boxed();
        if let Some(status) = status {
            query = query.filter(campaigns::status.eq(status.to_string()));
        }
        query.load(c)
    })
}

pub fn update_campaign(conn: &mut Conn, row: &CampaignRow) -> QueryResult<()> {
    with_conn!(conn, c => diesel::update(campaigns::table.find(&row.id)).set(row).execute(c))?;
    Ok(())
}

// ---- quotas ---------------------------------------------------------------

pub fn quotas(conn: &mut Conn, campaign_id: &str) -> QueryResult<Vec<QuotaRow>> {
    with_conn!(conn, c => quotas::table
        .filter(quotas::campaign_id.eq(campaign_id))
        .order((quotas::category_id.asc(), quotas::platform.asc()))
        .select(QuotaRow::as_select())
        .load(c))
}

/// Replaces the campaign's quotas with `rows` (one statement each way).
pub fn replace_quotas(conn: &mut Conn, campaign_id: &str, rows: &[QuotaRow]) -> QueryResult<()> {
    with_conn!(conn, c => {
        diesel::delete(quotas::table.filter(quotas::campaign_id.eq(campaign_id))).execute(c)?;
        diesel::insert_into(quotas::table).values(rows).execute(c)
    })?;
    Ok(())
}

// ---- candidates -----------------------------------------------------------

/// Rows per INSERT: SQLite allows 32,766 bound values; 17 columns each.
const INSERT_CHUNK: usize = 1_000;

pub fn insert_candidates(conn: &mut Conn, rows: &[CandidateRow]) -> QueryResult<()> {
    for chunk in rows.chunks(INSERT_CHUNK) {
        with_conn!(conn, c => diesel::insert_into(candidates::table).values(chunk).execute(c))?;
    }
    Ok(())
}

pub fn find_candidate(conn: &mut Conn, id: &str) -> QueryResult<Option<CandidateRow>> {
    with_conn!(conn, c => candidates::table
        .find(id)
        .select(CandidateRow::as_select())
        .first(c)
        .optional())
}

/// Which of `urls` the campaign already has a candidate for.
pub fn existing_listings(
    conn: &mut Conn,
    campaign_id: &str,
    urls: &[&str],
) -> QueryResult<Vec<String>> {
    let mut found = Vec::new();
    for chunk in urls.chunks(INSERT_CHUNK) {
        let mut part: Vec<String> = with_conn!(conn, c => candidates::table
            .filter(candidates::campaign_id.eq(campaign_id))
            .filter(candidates::listing_url.eq_any(chunk))
            .select(candidates::listing_url)
            .load(c))?;
        found.append(&mut part);
    }
    Ok(found)
}

/// What to list of a campaign's candidates.
#[derive(Debug, Clone, Default)]
pub struct CandidateFilter {
    pub category_id: Option<String>,
    pub platform: Option<String>,
    /// Riskiest first; the page after (risk_milli, id) of the last one seen.
    pub after: Option<(i64, String)>,
    pub limit: i64,
}

/// The campaign's candidates, riskiest first (ties by id), one page.
pub fn candidates_page(
    conn: &mut Conn,
    campaign_id: &str,
    filter: &CandidateFilter,
) -> QueryResult<Vec<CandidateRow>> {
    with_conn!(conn, c => {
        let mut query = candidates::table
            .filter(candidates::campaign_id.eq(campaign_id))
            .order((candidates::risk_milli.desc(), candidates::id.asc()))
            .limit(filter.limit)
            .select(CandidateRow::as_select())
            .into_boxed();
        if let Some(category) = &filter.category_id {
            query = query.filter(candidates::category_id.eq(category.clone()));
        }
        if let Some(platform) = &filter.platform {
            query = query.filter(candidates::platform.eq(platform.clone()));
        }
        if let Some((risk, id)) = &filter.after {
            query = query.filter(
                candidates::risk_milli
                    .lt(*risk)
                    .or(candidates::risk_milli.eq(*risk).and(candidates::id.gt(id.clone()))),
            );
        }
        query.load(c)
    })
}

/// Every candidate of the campaign (for the assignment engine).
pub fn all_candidates(conn: &mut Conn, campaign_id: &str) -> QueryResult<Vec<CandidateRow>> {
    with_conn!(conn, c => candidates::table
        .filter(candidates::campaign_id.eq(campaign_id))
        .order(candidates::id.asc())
        .select(CandidateRow::as_select())
        .load(c))
}

pub fn count_candidates(conn: &mut Conn, campaign_id: &str) -> QueryResult<i64> {
    with_conn!(conn, c => candidates::table
        .filter(candidates::campaign_id.eq(campaign_id))
        .count()
        .get_result(c))
}

// ---- volunteer profiles ---------------------------------------------------

pub fn find_profile(conn: &mut Conn, user_id: &str) -> QueryResult<Option<ProfileRow>> {
    with_conn!(conn, c => volunteer_profiles::table
        .find(user_id)
        .select(ProfileRow::as_select())
        .first(c)
        .optional())
}

pub fn upsert_profile(conn: &mut Conn, row: &ProfileRow) -> QueryResult<()> {
    with_conn!(conn, c => diesel::insert_into(volunteer_profiles::table)
        .values(row)
        .on_conflict(volunteer_profiles::user_id)
        .do_update()
        .set(row)
        .execute(c))?;
    Ok(())
}

/// Profiles with their owners' pseudonyms, by pseudonym; optionally only
/// one status. Volunteers without a profile are not listed.
pub fn profiles(
    conn: &mut Conn,
    status: Option<&str>,
) -> QueryResult<Vec<(ProfileRow, Option<String>)>> {
    with_conn!(conn, c => {
        let mut query = volunteer_profiles::table
            .inner_join(users::table)
            .filter(users::status.eq("active"))
            .order((users::pseudonym.asc(), users::id.asc()))
            .select((ProfileRow::as_select(), users::pseudonym))
            .into_boxed();
        if let Some(status) = status {
            query = query.filter(volunteer_profiles::status.eq(status.to_string()));
        }
        query.load(c)
    })
}

// ---- tasks of campaigns ---------------------------------------------------

pub fn insert_campaign_task(conn: &mut Conn, row: &CampaignTaskRow) -> QueryResult<()> {
    with_conn!(conn, c => diesel::insert_into(campaign_tasks::table).values(row).execute(c))?;
    Ok(())
}

/// Task statuses that end a task's hold on its candidate: the offer was
/// declined or left to expire, or the coordinator cancelled it.
pub const ENDED: [&str; 3] = ["declined", "expired", "cancelled"];

/// Task statuses of a live task not bought yet: its money is committed
/// (its price cap), not spent.
pub const NOT_BOUGHT: [&str; 2] = ["offered", "accepted"];

/// The campaign's tasks that still hold their candidate: not released,
/// and their task not ended (a decline frees the slot at once; the row is
/// released when the candidate is taken again).
pub fn live_campaign_tasks(
    conn: &mut Conn,
    campaign_id: &str,
) -> QueryResult<Vec<CampaignTaskRow>> {
    use super::schema::tasks;
    with_conn!(conn, c => campaign_tasks::table
        .inner_join(tasks::table)
        .filter(campaign_tasks::campaign_id.eq(campaign_id))
        .filter(campaign_tasks::released_at.is_null())
        .filter(tasks::status.ne_all(ENDED))
        .select(CampaignTaskRow::as_select())
        .load(c))
}

/// Releases the candidate's rows whose task ended, so a new task may take
/// it (the unique index allows one unreleased row per candidate).
pub fn release_ended(conn: &mut Conn, candidate_id: &str, now: Micros) -> QueryResult<usize> {
    use super::schema::tasks;
    with_conn!(conn, c => diesel::update(
        campaign_tasks::table
            .filter(campaign_tasks::candidate_id.eq(candidate_id))
            .filter(campaign_tasks::released_at.is_null())
            .filter(
                campaign_tasks::task_id.eq_any(
                    tasks::table.filter(tasks::status.eq_any(ENDED)).select(tasks::id),
                ),
            ),
    )
    .set(campaign_tasks::released_at.eq(now))
    .execute(c))
}

/// When the task's current offer expires.
pub fn set_offer_expiry(conn: &mut Conn, task_id: &str, at: Micros) -> QueryResult<()> {
    with_conn!(conn, c => diesel::update(campaign_tasks::table.find(task_id))
        .set(campaign_tasks::offer_expires_at.eq(at))
        .execute(c))?;
    Ok(())
}

/// Moves the task's hold to its new volunteer (a reassignment).
pub fn move_campaign_task(conn: &mut Conn, task_id: &str, volunteer_id: &str) -> QueryResult<()> {
    with_conn!(conn, c => diesel::update(campaign_tasks::table.find(task_id))
        .set(campaign_tasks::volunteer_id.eq(volunteer_id))
        .execute(c))?;
    Ok(())
}

pub fn find_commit(conn: &mut Conn, id: &str) -> QueryResult<Option<CommitRow>> {
    with_conn!(conn, c => assignment_commits::table
        .find(id)
        .select(CommitRow::as_select())
        .first(c)
        .optional())
}

pub fn insert_commit(conn: &mut Conn, row: &CommitRow) -> QueryResult<()> {
    with_conn!(conn, c => diesel::insert_into(assignment_commits::table).values(row).execute(c))?;
    Ok(())
}

/// Tasks per (assignee, status), for volunteers' track records; one
/// volunteer's or everyone's.
pub fn task_counts(
    conn: &mut Conn,
    user_id: Option<&str>,
) -> QueryResult<Vec<(Option<String>, String, i64)>> {
    use super::schema::tasks;
    use diesel::dsl::count_star;
    with_conn!(conn, c => {
        let mut query = tasks::table
            .group_by((tasks::assignee_id, tasks::status))
            .select((tasks::assignee_id, tasks::status, count_star()))
            .into_boxed();
        if let Some(id) = user_id {
            query = query.filter(tasks::assignee_id.eq(id.to_string()));
        }
        query.load(c)
    })
}

/// Open tasks (offered or accepted) past their deadline, per assignee.
pub fn overdue_counts(
    conn: &mut Conn,
    user_id: Option<&str>,
    now: Micros,
) -> QueryResult<Vec<(Option<String>, i64)>> {
    use super::schema::tasks;
    use diesel::dsl::count_star;
    with_conn!(conn, c => {
        let mut query = tasks::table
            .filter(tasks::status.eq_any(["offered", "accepted"]))
            .filter(tasks::deadline_at.lt(now))
            .group_by(tasks::assignee_id)
            .select((tasks::assignee_id, count_star()))
            .into_boxed();
        if let Some(id) = user_id {
            query = query.filter(tasks::assignee_id.eq(id.to_string()));
        }
        query.load(c)
    })
}

/// Live tasks of the campaign per (category, platform) of their candidate:
/// the slots already taken from each quota.
pub fn live_tasks_by_group(
    conn: &mut Conn,
    campaign_id: &str,
) -> QueryResult<Vec<(String, String, i64)>> {
    use super::schema::tasks;
    use diesel::dsl::count_star;
    with_conn!(conn, c => campaign_tasks::table
        .inner_join(candidates::table)
        .inner_join(tasks::table)
        .filter(campaign_tasks::campaign_id.eq(campaign_id))
        .filter(campaign_tasks::released_at.is_null())
        .filter(tasks::status.ne_all(ENDED))
        .group_by((candidates::category_id, candidates::platform))
        .select((candidates::category_id, candidates::platform, count_star()))
        .load(c))
}

/// Open tasks (offered, accepted, purchased: not yet sent off) per
/// volunteer, across campaigns: what fills their capacity.
pub fn open_loads(conn: &mut Conn) -> QueryResult<Vec<(Option<String>, i64)>> {
    use super::schema::tasks;
    use diesel::dsl::count_star;
    with_conn!(conn, c => tasks::table
        .filter(tasks::status.eq_any(["offered", "accepted", "purchased"]))
        .group_by(tasks::assignee_id)
        .select((tasks::assignee_id, count_star()))
        .load(c))
}

/// Whether any of `task_ids` is a campaign's task (only those have a
/// custody chain).
pub fn any_campaign_task(conn: &mut Conn, task_ids: &[String]) -> QueryResult<bool> {
    if task_ids.is_empty() {
        return Ok(false);
    }
    with_conn!(conn, c => diesel::select(diesel::dsl::exists(
        campaign_tasks::table.filter(campaign_tasks::task_id.eq_any(task_ids)),
    ))
    .get_result(c))
}

pub fn find_campaign_task(conn: &mut Conn, task_id: &str) -> QueryResult<Option<CampaignTaskRow>> {
    with_conn!(conn, c => campaign_tasks::table
        .find(task_id)
        .select(CampaignTaskRow::as_select())
        .first(c)
        .optional())
}

/// Every task the campaign ever made (released ones included, once each),
/// with its task row.
pub fn campaign_tasks_with_status(
    conn: &mut Conn,
    campaign_id: &str,
) -> QueryResult<Vec<(CampaignTaskRow, super::sync::TaskRow)>> {
    use super::schema::tasks;
    with_conn!(conn, c => campaign_tasks::table
        .inner_join(tasks::table)
        .filter(campaign_tasks::campaign_id.eq(campaign_id))
        .order(campaign_tasks::created_at.asc())
        .select((CampaignTaskRow::as_select(), super::sync::TaskRow::as_select()))
        .load(c))
}

/// The synced records of `kinds` for the campaign's tasks, withdrawn ones
/// left out.
pub fn campaign_records(
    conn: &mut Conn,
    campaign_id: &str,
    kinds: &[&str],
) -> QueryResult<Vec<super::sync::RecordRow>> {
    use super::schema::sync_records;
    with_conn!(conn, c => sync_records::table
        .filter(sync_records::kind.eq_any(kinds))
        .filter(sync_records::withdrawn.eq(false))
        .filter(
            sync_records::task_id.eq_any(
                campaign_tasks::table
                    .filter(campaign_tasks::campaign_id.eq(campaign_id))
                    .select(campaign_tasks::task_id),
            ),
        )
        .select(super::sync::RecordRow::as_select())
        .load(c))
}
