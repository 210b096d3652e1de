//! The route's background jobs: matching scans that waited for a tracking
//! number, and reporting parcels that never arrived.

use std::sync::Arc;

use crate::{
    db::{self, Conn, time::to_micros},
    error::ApiError,
    jobs::{JobError, Registry},
    sync::Touched,
};

use super::{exceptions, routing::MATCH_JOB, scans};

/// How often overdue parcels are looked for.
pub fn overdue_interval() -> chrono::Duration {
    chrono::Duration::hours(1)
}

/// Enqueues the next overdue check (once per slot).
pub fn schedule_overdue(
    conn: &mut Conn,
    at: chrono::DateTime<chrono::Utc>,
    every: chrono::Duration,
) -> Result<(), db::DbError> {
    let slot = at.timestamp() / every.num_seconds().max(1);
    crate::jobs::schedule_once(conn, at, exceptions::OVERDUE_JOB, &slot.to_string())
}

pub fn register(registry: &mut Registry, services: &crate::Services) {
    let (db, clock) = (services.db.clone(), Arc::clone(&services.clock));
    let hub_db = db.clone();
    let match_clock = Arc::clone(&clock);
    registry.register(MATCH_JOB, move |ctx| {
        let (db, clock) = (hub_db.clone(), Arc::clone(&match_clock));
        async move {
            let task = ctx
                .payload
                .get("task_id")
                .and_then(|v| v.as_str())
                .ok_or_else(|| JobError::Permanent("no task_id".into()))?
                .to_string();
            let now = to_micros(clock.now());
            let (matched, touched) = db
                .write(move |conn| {
                    let mut touched = Touched::new();
                    let n = scans::match_waiting(conn, now, &task, &mut touched)?;
                    Ok::<_, ApiError>((n, touched))
                })
                .await
                .map_err(|e| JobError::Retry(e.to_string()))?;
            if matched > 0 {
                tracing::info!(matched, scopes = touched.len(), "matched waiting scans");
            }
            Ok(())
        }
    });
    let deadline_us = i64::from(services.config.parcel_arrival_days) * 86_400 * 1_000_000;
    registry.register(exceptions::OVERDUE_JOB, move |_ctx| {
        let (db, clock) = (db.clone(), Arc::clone(&clock));
        async move {
            let now = clock.now();
            let next = now + overdue_interval();
            db.write(move |conn| {
                let n = exceptions::report_overdue(conn, to_micros(now), deadline_us)?;
                if n > 0 {
                    tracing::info!(parcels = n, "parcels reported never arrived");
                }
                schedule_overdue(conn, next, overdue_interval())?;
                Ok::<_, ApiError>(())
            })
            .await
            .map_err(|e| JobError::Retry(e.to_string()))
        }
    });
}
