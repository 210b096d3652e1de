//! Push: a device's batch of mutations, processed in order inside one
//! transaction. Each mutation runs in its own savepoint, so a refused one
//! leaves nothing behind, and the device's last-processed number is written
//! in the same transaction as the effects: the batch commits (and fsyncs)
//! once, and a crash at any point leaves either all of it or none of it.
//!
//! Stamps are corrected before use: by the device clock's offset measured
//! now (server time minus the `sent_at_us` the device reported) and never
//! past server time, so a phone whose clock runs a week ahead cannot win
//! later edits (sync.md, "honest clocks").

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::json;
use sync_protocol::{
    Kind, Mutation, Record, Rejection, Stamp,
    hlc::correct,
    mutations::Effect,
    wire::{MutationEnvelope, MutationResult, Outcome, PushRequest, PushResponse, Stop},
};

use super::{
    Touched,
    reviews::{self, Reason},
    store::{self, evidence_key},
    volunteer_scope,
};
use crate::{
    db::{
        self, Conn,
        sync::{self, TaskRow},
        time::Micros,
    },
    error::ApiError,
    logistics::station_sync,
};

/// Why one mutation was not applied.
#[derive(Debug)]
enum Failure {
    /// The domain refused it: answered, counted as processed.
    Refused(Rejection),
    /// Something of ours failed: the batch stops here.
    Broken(ApiError),
}

impl From<diesel::result::Error> for Failure {
    fn from(e: diesel::result::Error) -> Self {
        Failure::Broken(e.into())
    }
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure::Broken(e)
    }
}

fn refuse(code: &str, message: &str) -> Failure {
    Failure::Refused(Rejection::new(code, message))
}

/// The batch checks that need no database: version, size, order.
pub fn check_batch(request: &PushRequest, max_batch: usize) -> Result<(), ApiError> {
    if request.v != sync_protocol::PROTOCOL_VERSION {
        return Err(ApiError::InvalidBody(format!(
            "protocol version {} is not spoken here; use {}",
            request.v,
            sync_protocol::PROTOCOL_VERSION
        )));
    }
    if request.mutations.len() > max_batch {
        return Err(ApiError::InvalidBody(format!(
            "a push carries at most {max_batch} mutations; split the batch"
        )));
    }
    if request.mutations.windows(2).any(|w| w[1].seq <= w[0].seq) {
        return Err(ApiError::InvalidBody(
            "mutations must be in increasing `seq` order".into(),
        ));
    }
    if request.mutations.iter().any(|m| m.seq == 0) {
        return Err(ApiError::InvalidBody("`seq` starts at 1".into()));
    }
    Ok(())
}

/// Processes a push for `user_id` inside the caller's write transaction.
/// Returns the answer and the scopes it changed.
pub fn process(
    conn: &mut Conn,
    now: Micros,
    user_id: &str,
    request: &PushRequest,
) -> Result<(PushResponse, Touched), ApiError> {
    let device = sync::lock_device(conn, &request.device_id)?
        .filter(|d| d.user_id == user_id)
        .ok_or_else(|| ApiError::Missing("no such device".into()))?;
    let offset = now.saturating_sub(request.sent_at_us);
    let mut last = u64::try_from(device.last_processed).unwrap_or(0);
    let mut floor: Option<Stamp> = device
        .last_stamp
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok());
    // Taken in a savepoint: when the locks cannot all be had now (a lock
    // timeout, a deadlock broken by PostgreSQL), the batch goes on locking
    // task by task, and a mutation that cannot get its task stops the batch
    // with a transient stop after what came before it.
    let mut locked: HashMap<String, TaskRow> =
        match db::savepoint(conn, |conn| lock_batch_tasks(conn, user_id, request, last)) {
            Ok(rows) => rows.into_iter().map(|t| (t.id.clone(), t)).collect(),
            Err(error) => {
                tracing::warn!(%error, "cannot lock a push batch's tasks up front");
                HashMap::new()
            }
        };
    let mut results = Vec::with_capacity(request.mutations.len());
    let mut stopped = None;
    let mut touched = Touched::new();
    // A re-sent mutation that was refused or held gets that answer again:
    // its first answer may have been lost, and the app must see it.
    let earlier = match request.mutations.first() {
        Some(first) if first.seq <= last => sync::refusals(
            conn,
            &device.id,
            i64::try_from(first.seq).unwrap_or(i64::MAX),
            i64::try_from(last).unwrap_or(i64::MAX),
        )?,
        _ => Vec::new(),
    };
    for envelope in &request.mutations {
        if envelope.seq <= last {
            let refusal = earlier
                .iter()
                .find(|(seq, ..)| u64::try_from(*seq).ok() == Some(envelope.seq));
            results.push(MutationResult {
                seq: envelope.seq,
                outcome: match refusal {
                    Some((_, true, code, message)) => {
                        Outcome::Held(Rejection::new(code, message.clone()))
                    }
                    Some((_, false, code, message)) => {
                        Outcome::Rejected(Rejection::new(code, message.clone()))
                    }
                    None => Outcome::Duplicate,
                },
            });
            continue;
        }
        if envelope.seq != last + 1 {
            stopped = Some(Stop::Gap {
                resume_from: last + 1,
            });
            break;
        }
        let outcome = if envelope.stamp.node.as_str() != device.node {
            Outcome::Rejected(Rejection::new(
                "foreign_stamp",
                "a stamp must carry the node id this device was registered with",
            ))
        } else {
            let stamp = correct(&envelope.stamp, offset, now, floor.as_ref());
            let mut changed = Touched::new();
            let result = db::savepoint(conn, |conn| {
                apply_one(conn, now, user_id, envelope, &stamp, &locked, &mut changed)
            });
            floor = Some(stamp);
            match result {
                Ok((outcome, task)) => {
                    touched.append(&mut changed);
                    // Its lock holds until commit (a released savepoint
                    // keeps it); later mutations of the task use this row.
                    if let Some(task) = task {
                        locked.insert(task.id.clone(), task);
                    }
                    outcome
                }
                Err(Failure::Refused(rejection)) => Outcome::Rejected(rejection),
                Err(Failure::Broken(error)) => {
                    tracing::warn!(seq = envelope.seq, %error, "push stopped by a failure");
                    stopped = Some(Stop::Transient {
                        resume_from: envelope.seq,
                        message: "the server could not process this mutation now; push again later"
                            .into(),
                    });
                    break;
                }
            }
        };
        last = envelope.seq;
        if let Outcome::Rejected(r) | Outcome::Held(r) = &outcome {
            sync::insert_refusal(
                conn,
                &device.id,
                i64::try_from(envelope.seq).unwrap_or(i64::MAX),
                matches!(outcome, Outcome::Held(_)),
                &r.code,
                &r.message,
                now,
            )?;
        }
        results.push(MutationResult {
            seq: envelope.seq,
            outcome,
        });
    }
    let floor_json = floor
        .map(|f| serde_json::to_string(&f))
        .transpose()
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    sync::record_push(
        conn,
        &device.id,
        i64::try_from(last).unwrap_or(i64::MAX),
        floor_json.as_deref(),
        now,
    )?;
    Ok((
        PushResponse {
            v: sync_protocol::PROTOCOL_VERSION,
            results,
            last_processed: last,
            stopped,
            server_time_us: now,
        },
        touched,
    ))
}

/// Locks the task of every mutation of the batch not processed yet, in
/// task id order, before any of them runs. Locked one by one as the batch
/// reached them, while it already held its scope's row (from its first
/// change, `bump_scope`), a task held by a coordinator's edit or by another
/// device's batch that then waited for the scope was a deadlock, which
/// PostgreSQL breaks after a second by failing one side (a 500 for the
/// coordinator, a transient stop for the device): about 85 a minute in the
/// load story of `tests/tests/e2e/sync_safety.rs`. And `apply_one` read a
/// record before it waited for the record's task, so it could overwrite a
/// coordinator's edit committed meanwhile (a lost update); with the task
/// held first, it reads each record when no one else can change it. On
/// SQLite the write transaction already excludes every other writer.
fn lock_batch_tasks(
    conn: &mut Conn,
    user_id: &str,
    request: &PushRequest,
    last: u64,
) -> Result<Vec<TaskRow>, ApiError> {
    let mut tasks = BTreeSet::new();
    let mut targets: BTreeMap<Kind, Vec<String>> = BTreeMap::new();
    let (mut scans, mut shipments) = (Vec::new(), Vec::new());
    for envelope in request.mutations.iter().filter(|m| m.seq > last) {
        // One that does not decode is refused when its turn comes.
        let Ok(mutation) = Mutation::decode(&envelope.name, &envelope.args) else {
            continue;
        };
        if let Mutation::RecordScan(scan) = &mutation {
            // A station's scan may match a parcel: its task now. A task the
            // scan comes to match only later (its number committed
            // meanwhile) is locked when reached, like `apply_one` does when
            // these locks could not be had up front.
            tasks.extend(station_sync::task_to_lock(conn, user_id, scan)?);
            scans.push(scan.clone());
            continue;
        }
        if let Mutation::SetShipment(m) = &mutation {
            shipments.push(m.task_id.clone());
        }
        let (kind, id) = mutation.target();
        targets.entry(kind).or_default().push(id.to_owned());
        tasks.extend(mutation.creates_in_task().map(str::to_owned));
    }
    for (kind, ids) in &targets {
        tasks.extend(sync::tasks_of_records(conn, kind.as_str(), ids)?);
    }
    // The custody events the batch logs are written at its commit
    // (`custody::flush`), so the log's head is not taken here.
    let locked = sync::lock_tasks(conn, &tasks)?;
    // A batch that reaches stations' scopes (an operator's scans, a
    // volunteer's new tracking number for a parcel on a shelf) takes them
    // now, then the volunteers' scopes it will write, each kind in order:
    // its mutations would bump them in whatever order they come.
    let scopes = station_sync::scopes_of_batch(conn, user_id, &scans, &shipments)?;
    sync::lock_scopes(conn, &scopes)?;
    Ok(locked)
}

/// Applies one mutation of `user_id`, stamped `stamp` (already corrected).
/// `locked` holds the batch's tasks already locked, as they stand. Returns
/// the outcome and the mutation's task as it now stands (none for a relay
/// station's scan, which belongs to the station).
fn apply_one(
    conn: &mut Conn,
    now: Micros,
    user_id: &str,
    envelope: &MutationEnvelope,
    stamp: &Stamp,
    locked: &HashMap<String, TaskRow>,
    touched: &mut Touched,
) -> Result<(Outcome, Option<TaskRow>), Failure> {
    let mutation = Mutation::decode(&envelope.name, &envelope.args).map_err(Failure::Refused)?;
    if let Mutation::RecordScan(scan) = &mutation {
        return match station_sync::push_scan(conn, now, user_id, scan, stamp, touched)? {
            Ok(()) => Ok((Outcome::Applied, None)),
            Err(rejection) => Err(Failure::Refused(rejection)),
        };
    }
    let (kind, id) = mutation.target();
    let scope = volunteer_scope(user_id);
    let visible = |row: &sync::RecordRow| {
        row.scope.as_deref() == Some(scope.as_str()) || row.author_id.as_deref() == Some(user_id)
    };

    let find_before = |conn: &mut Conn| -> Result<Option<sync::RecordRow>, Failure> {
        let mut before = sync::find_record(conn, kind.as_str(), id)?;
        if let (None, Mutation::AddEvidence(add)) = (&before, &mutation) {
            before = sync::find_by_dedupe_key(
                conn,
                Kind::Evidence.as_str(),
                &evidence_key(&add.task_id, &add.sha256),
            )?;
            if before.as_ref().is_some_and(|b| !visible(b)) {
                return Err(refuse(
                    "duplicate_file",
                    "this file is already recorded for this task",
                ));
            }
        }
        if before.as_ref().is_some_and(|b| !visible(b)) {
            return Err(refuse("not_found", "no such record"));
        }
        Ok(before)
    };
    let mut before = find_before(conn)?;
    let task_id = match (&before, mutation.creates_in_task()) {
        (Some(b), _) => b.task_id.clone(),
        (None, Some(task)) => task.to_owned(),
        (None, None) => return Err(refuse("not_found", "no such record")),
    };
    let task = match locked.get(&task_id) {
        Some(task) => Some(task.clone()),
        None => {
            let task = sync::lock_task(conn, &task_id)?;
            // The record was read before its task was locked: read it again,
            // or an edit committed meanwhile would be overwritten.
            before = find_before(conn)?;
            task
        }
    };
    let Some(mut task) = task else {
        return Err(refuse("not_found", "no such task"));
    };
    let theirs = task.assignee_id.as_deref() == Some(user_id);
    if !theirs && !sync::left_scope(conn, &scope, Kind::Task.as_str(), &task_id)? {
        // Never theirs: indistinguishable from a task that does not exist.
        return Err(refuse("not_found", "no such task"));
    }
    if let Mutation::SetTaskStatus(m) = &mutation {
        if !theirs {
            return Err(refuse(
                "task_not_yours",
                "this task is no longer assigned to you",
            ));
        }
        if !m.status.volunteer_may_set() {
            return Err(refuse(
                "status_not_yours",
                "a volunteer may set accepted, declined, purchased or shipped only",
            ));
        }
    }

    let existing = before.as_ref().map(store::decode).transpose()?;
    let applied = mutation
        .apply(existing.as_ref(), stamp)
        .map_err(Failure::Refused)?;

    for effect in &applied.effects {
        match effect {
            Effect::MoneyOverwritten { previous, seen } => {
                let previous_author = match previous.stamp.node.as_str() {
                    "server" => None,
                    node => sync::user_of_node(conn, node)?,
                };
                if previous_author.as_deref() != Some(user_id) {
                    reviews::flag(
                        conn,
                        now,
                        Reason::MoneyOverwrittenBlind,
                        &task_id,
                        Some((kind, id)),
                        &format!("{}:{}:{}", id, stamp.wall_us, stamp.node),
                        json!({ "previous": previous, "seen": seen, "by": user_id,
                                "record": applied.record }),
                    )?;
                }
            }
            Effect::PurchaseAfterCancellation => {
                reviews::flag(
                    conn,
                    now,
                    Reason::PurchaseAfterCancellation,
                    &task_id,
                    Some((Kind::Task, &task_id)),
                    &format!("{}:{}", task_id, task.generation),
                    json!({ "generation": task.generation, "by": user_id }),
                )?;
            }
        }
    }
    if let (Mutation::RecordPurchase(_), true) = (&mutation, applied.changed) {
        let others = sync::records_of_task(conn, &task_id)?
            .into_iter()
            .filter(|r| r.kind == Kind::Purchase.as_str() && !r.withdrawn && r.id != id)
            .filter(|r| r.author_id.as_deref() != Some(user_id))
            .map(|r| r.id)
            .collect::<Vec<_>>();
        if !others.is_empty() {
            reviews::flag(
                conn,
                now,
                Reason::TwoPurchasesForOneTask,
                &task_id,
                Some((Kind::Purchase, id)),
                &format!("{task_id}:{id}"),
                json!({ "purchase": id, "other_purchases": others }),
            )?;
        }
    }
    if !theirs && applied.changed {
        reviews::flag(
            conn,
            now,
            Reason::RecordForReassignedTask,
            &task_id,
            Some((kind, id)),
            &format!("{}:{}", kind.as_str(), id),
            json!({ "mutation": envelope.name, "by": user_id, "record": applied.record }),
        )?;
    }
    if applied.changed {
        if let Record::Task(t) = &applied.record {
            task.status = t.status.status.as_str().to_owned();
            task.updated_at = now;
            sync::update_task(conn, &task)?;
        }
        store::write_record(
            conn,
            now,
            &applied.record,
            &task,
            Some(user_id),
            before.as_ref(),
            touched,
        )?;
        if let (Mutation::AddEvidence(_), None) = (&mutation, &before) {
            // A file that arrived first was waiting for this record.
            crate::uploads::finish::on_evidence_added(conn, now, id).map_err(ApiError::from)?;
        }
    }
    let outcome = if theirs {
        Outcome::Applied
    } else {
        Outcome::Held(Rejection::new(
            "task_reassigned",
            "the task was reassigned; your record is kept and a coordinator will review it",
        ))
    };
    Ok((outcome, Some(task)))
}
