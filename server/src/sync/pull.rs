//! Pull: the changes of each of the device's scopes since its cursor, read
//! in one database snapshot. A scope's versions are bumped under its row
//! lock, so in any snapshot they form a committed prefix: delivering every
//! change up to the scope's counter (as read in the same snapshot) can never
//! skip a change that commits later. The cursor is opaque to the app: the
//! server epoch, the version reached in each scope, and the last-processed
//! number already reported.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sync_protocol::{
    Kind,
    wire::{Change, PullResponse},
};

use super::{is_station_scope, station_scope, volunteer_scope};
use crate::{
    auth::{Actor, Role},
    db::{self, Conn, sync, time::Micros},
    error::ApiError,
};

/// What the opaque cursor holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Cursor {
    /// The database's sync epoch: a restored or different database has
    /// another, and its cursors mean nothing here.
    e: String,
    /// Version reached per scope.
    s: BTreeMap<String, i64>,
    /// The last-processed number this cursor's pulls reported.
    p: u64,
}

impl Cursor {
    fn encode(&self) -> String {
        hex::encode(serde_json::to_vec(self).unwrap_or_default())
    }

    fn decode(text: &str) -> Option<Self> {
        if text.len() > 16 * 1024 {
            return None;
        }
        serde_json::from_slice(&hex::decode(text).ok()?).ok()
    }
}

/// The scopes a user's devices sync: a volunteer's own; a relay
/// operator's stations'.
pub fn scopes_of(conn: &mut Conn, user_id: &str, role: Role) -> Result<Vec<String>, ApiError> {
    Ok(match role {
        Role::RelayOperator => db::logistics::stations_of(conn, user_id)?
            .iter()
            .map(|s| station_scope(s))
            .collect(),
        _ => vec![volunteer_scope(user_id)],
    })
}

/// One page of changes for the device, read inside the caller's snapshot.
pub fn page(
    conn: &mut Conn,
    now: Micros,
    epoch: &str,
    actor: &Actor,
    device_id: &str,
    cursor: Option<&str>,
    limit: usize,
) -> Result<PullResponse, ApiError> {
    let device = sync::find_device(conn, device_id)?
        .filter(|d| d.user_id == actor.user_id)
        .ok_or_else(|| ApiError::Missing("no such device".into()))?;
    let scopes = scopes_of(conn, &actor.user_id, actor.role)?;
    let states = sync::scope_states(conn, &scopes)?;
    let current: BTreeMap<String, i64> = states.iter().map(|(s, v, _)| (s.clone(), *v)).collect();
    let pruned: BTreeMap<String, i64> = states.into_iter().map(|(s, _, p)| (s, p)).collect();

    let given = cursor.map(Cursor::decode);
    // A cursor is honoured only if it is ours, for no scope the user lost
    // (a relay operator taken off a station: the reset drops its records),
    // not ahead of this database (a restore from backup moves it back) and
    // not outdated (older than the tombstones still kept: the removes it
    // missed are gone). A scope the user gained starts from nothing.
    let usable = match &given {
        Some(Some(c)) => {
            c.e == epoch
                && c.s.keys().all(|s| scopes.contains(s))
                && c.s.iter().all(|(scope, v)| {
                    *v <= current.get(scope).copied().unwrap_or(0)
                        && *v >= pruned.get(scope).copied().unwrap_or(0)
                })
        }
        _ => false,
    };
    let reset = given.is_some() && !usable;
    let (mut reached, reported) = match given {
        Some(Some(c)) if usable => (c.s, c.p),
        _ => (scopes.iter().map(|s| (s.clone(), 0)).collect(), 0),
    };

    let mut changes = Vec::new();
    let mut more = false;
    for scope in &scopes {
        let from = reached.get(scope).copied().unwrap_or(0);
        let room = limit.saturating_sub(changes.len());
        if room == 0 {
            more = true;
            break;
        }
        let fetch = i64::try_from(room + 1).unwrap_or(1);
        let batch = if is_station_scope(scope) {
            db::station_sync::changes_since(conn, scope, from, fetch)?
        } else {
            sync::changes_since(conn, scope, from, fetch)?
        };
        let full = batch.len() > room;
        let mut last = from;
        for change in batch.into_iter().take(room) {
            last = change.version;
            changes.push(match change.doc {
                Some(doc) => Change::Put {
                    record: serde_json::from_str(&doc).map_err(|e| {
                        ApiError::Internal(format!(
                            "stored {} {} does not decode: {e}",
                            change.kind, change.id
                        ))
                    })?,
                },
                None => Change::Remove {
                    kind: Kind::parse(&change.kind).ok_or_else(|| {
                        ApiError::Internal(format!("unknown kind {}", change.kind))
                    })?,
                    id: change.id,
                },
            });
        }
        if full {
            more = true;
            reached.insert(scope.clone(), last);
        } else {
            // Everything of this scope up to its counter is delivered.
            reached.insert(
                scope.clone(),
                current.get(scope).copied().unwrap_or(0).max(last),
            );
        }
    }
    // The device's number is read in the same snapshot as the data, so on
    // the last page every effect of every mutation it counts is delivered.
    // Mid-way, the earlier report stands.
    let last_processed = if more {
        reported
    } else {
        u64::try_from(device.last_processed).unwrap_or(0)
    };
    Ok(PullResponse {
        v: sync_protocol::PROTOCOL_VERSION,
        reset,
        changes,
        cursor: Cursor {
            e: epoch.to_owned(),
            s: reached,
            p: last_processed,
        }
        .encode(),
        more,
        last_processed,
        server_time_us: now,
    })
}

/// The kind of the job that deletes old tombstones.
pub const PRUNE_JOB: &str = "sync.prune";

/// Enqueues the daily tombstone pruning for the day of `at` (once, whichever
/// instance asks).
pub fn schedule_prune(conn: &mut Conn, at: chrono::DateTime<chrono::Utc>) -> Result<(), ApiError> {
    crate::jobs::schedule_once(conn, at, PRUNE_JOB, &at.format("%Y-%m-%d").to_string())?;
    Ok(())
}

/// Registers the pruning job: deletes tombstones older than `days` (their
/// scopes remember how far, so older cursors get a reset) and schedules the
/// next run a day later.
pub fn register_prune(
    registry: &mut crate::jobs::Registry,
    db: crate::db::Database,
    clock: crate::clock::SharedClock,
    days: u32,
) {
    registry.register(PRUNE_JOB, move |_ctx| {
        let (db, clock) = (db.clone(), std::sync::Arc::clone(&clock));
        async move {
            let now = clock.now();
            let horizon = crate::db::time::to_micros(now - chrono::Duration::days(i64::from(days)));
            let deleted = db
                .write(move |conn| {
                    let deleted = sync::prune_tombstones(conn, horizon)?;
                    schedule_prune(conn, now + chrono::Duration::days(1))?;
                    Ok::<_, ApiError>(deleted)
                })
                .await
                .map_err(|e| crate::jobs::JobError::Retry(e.to_string()))?;
            tracing::info!(deleted, "pruned sync tombstones");
            Ok(())
        }
    });
}
