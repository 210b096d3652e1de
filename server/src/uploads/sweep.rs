//! Expiry and cleanup. An upload idle past its expiry is ended: its
//! multipart upload aborted, its pieces and file deleted, its row marked
//! `expired` (HEAD and PATCH answer 410). A second pass finds what the
//! database no longer knows: multipart uploads and objects under `uploads/`
//! whose upload ended or never got recorded (a crash between the store's
//! write and the database's). Nothing an upload stored outlives it.

use std::collections::{BTreeSet, HashMap};

use super::{Uploads, data_key, upload_prefix};
use crate::{
    db::{
        DbError,
        uploads::{self as rows, UploadRow},
    },
    jobs::JobError,
    storage::StorageError,
};

pub const SWEEP_JOB: &str = "uploads.sweep";

/// How often the sweep runs.
pub fn interval() -> chrono::Duration {
    chrono::Duration::minutes(15)
}

/// What one sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Swept {
    pub expired: usize,
    pub multiparts_aborted: usize,
    pub objects_deleted: usize,
}

/// Deletes what `row` stored: the multipart upload or file, and pieces.
pub(super) async fn release_storage(u: &Uploads, row: &UploadRow) -> Result<(), StorageError> {
    let key = data_key(&row.id);
    if let Some(multipart) = &row.multipart_id {
        u.store.abort_multipart(&key, multipart).await?;
    }
    for object in u.store.list(&upload_prefix(&row.id)).await? {
        u.store.delete(&object.key).await?;
    }
    Ok(())
}

/// One sweep: expire idle uploads, then remove what no live upload owns.
pub async fn sweep(u: &Uploads) -> Result<Swept, StorageError> {
    let mut swept = Swept::default();
    let now = u.now();
    let expired =
        u.db.read(move |conn| rows::expired(conn, now, 500).map_err(DbError::from))
            .await?;
    for row in expired {
        release_storage(u, &row).await?;
        let id = row.id.clone();
        u.db.write(move |conn| {
            rows::forget_storage(conn, &id)?;
            rows::set_state(conn, &id, rows::EXPIRED, None, now)?;
            Ok::<_, DbError>(())
        })
        .await?;
        swept.expired += 1;
    }

    // Multipart uploads under uploads/ that no receiving upload records.
    let multiparts = u.store.list_multipart_uploads("uploads/").await?;
    let objects = u.store.list("uploads/").await?;
    let mut ids: BTreeSet<String> = BTreeSet::new();
    for key in multiparts
        .iter()
        .map(|m| m.key.as_str())
        .chain(objects.iter().map(|o| o.key.as_str()))
    {
        if let Some(id) = key
            .strip_prefix("uploads/")
            .and_then(|k| k.split('/').next())
        {
            ids.insert(id.to_string());
        }
    }
    if ids.is_empty() {
        return Ok(swept);
    }
    let list: Vec<String> = ids.into_iter().collect();
    let known: HashMap<String, (String, Option<String>)> =
        u.db.read(move |conn| {
            let mut known = HashMap::new();
            for chunk in list.chunks(500) {
                for (id, state, multipart) in rows::states(conn, chunk)? {
                    known.insert(id, (state, multipart));
                }
            }
            Ok::<_, DbError>(known)
        })
        .await?;
    let pieces_of = |id: &str| {
        let id = id.to_string();
        let db = u.db.clone();
        async move {
            db.read(move |conn| {
                Ok::<_, DbError>(
                    rows::pieces(conn, &id)?
                        .into_iter()
                        .map(|p| p.storage_key)
                        .collect::<BTreeSet<_>>(),
                )
            })
            .await
        }
    };
    let live = |id: &str| {
        known
            .get(id)
            .is_some_and(|(state, _)| state == rows::RECEIVING || state == rows::COMPLETE)
    };
    for m in &multiparts {
        let Some(id) = m
            .key
            .strip_prefix("uploads/")
            .and_then(|k| k.split('/').next())
        else {
            continue;
        };
        let recorded = known.get(id).is_some_and(|(state, multipart)| {
            state == rows::RECEIVING && multipart.as_deref() == Some(m.upload_id.as_str())
        });
        // A multipart created this minute may not be recorded yet: the
        // creating PATCH records it under its lock right after creation.
        let in_flight = live(id) && locked(u, id).await;
        if !recorded && !in_flight {
            u.store.abort_multipart(&m.key, &m.upload_id).await?;
            swept.multiparts_aborted += 1;
        }
    }
    for object in &objects {
        let Some(id) = object
            .key
            .strip_prefix("uploads/")
            .and_then(|k| k.split('/').next())
        else {
            continue;
        };
        let keep = if !live(id) {
            false
        } else if object.key == data_key(id) {
            true
        } else {
            // A piece the database does not list is from a PATCH that
            // failed before its commit (unless one is committing now).
            pieces_of(id).await?.contains(&object.key) || locked(u, id).await
        };
        if !keep {
            u.store.delete(&object.key).await?;
            swept.objects_deleted += 1;
        }
    }
    Ok(swept)
}

/// Whether a PATCH holds upload `id` right now.
async fn locked(u: &Uploads, id: &str) -> bool {
    let (id, now) = (id.to_string(), u.now());
    u.db.read(move |conn| rows::find(conn, &id).map_err(DbError::from))
        .await
        .ok()
        .flatten()
        .is_some_and(|r| r.lock_token.is_some() && r.lock_until.is_some_and(|t| t >= now))
}

/// Enqueues the next sweep (once per slot, whichever instance asks).
pub fn schedule(
    conn: &mut crate::db::Conn,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(), DbError> {
    let slot = at.timestamp() / interval().num_seconds();
    crate::jobs::schedule_once(conn, at, SWEEP_JOB, &slot.to_string())
}

/// Registers the sweep job; each run schedules the next.
pub fn register(registry: &mut crate::jobs::Registry, uploads: Uploads) {
    registry.register(SWEEP_JOB, move |_ctx| {
        let u = uploads.clone();
        async move {
            let swept = sweep(&u)
                .await
                .map_err(|e| JobError::Retry(e.to_string()))?;
            tracing::info!(
                expired = swept.expired,
                multiparts_aborted = swept.multiparts_aborted,
                objects_deleted = swept.objects_deleted,
                "swept uploads"
            );
            let next = u.clock.now() + interval();
            u.db.write(move |conn| schedule(conn, next))
                .await
                .map_err(|e| JobError::Retry(e.to_string()))?;
            Ok(())
        }
    });
}
