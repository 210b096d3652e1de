//! The one write path of synced records: computes the record's scope,
//! bumps that scope's version (taking its row lock until commit), leaves a
//! tombstone where a record left a scope, and stores the document.

use sync_protocol::{Kind, NodeId, Record, Stamp};

use super::{Touched, volunteer_scope};
use crate::{
    db::{
        Conn,
        sync::{self, RecordRow, TaskRow},
        time::Micros,
    },
    error::ApiError,
};

/// The stamp of a write the server makes itself (a coordinator's action).
pub fn server_stamp(now: Micros) -> Stamp {
    Stamp::new(now, 0, NodeId::server())
}

/// Where a record belongs: a task and its shipment (one parcel per task,
/// whoever entered it) in the assignee's scope; any other record in its
/// task's scope while its author is the assignee (or it was made by the
/// server), and in no device's scope otherwise (a purchase by a volunteer
/// the task was taken from: kept for review, shown on no one's phone).
pub fn scope_of(kind: Kind, task: &TaskRow, author: Option<&str>) -> Option<String> {
    let assignee = task.assignee_id.as_deref()?;
    match (kind, author) {
        (Kind::Task | Kind::Shipment, _) | (_, None) => Some(volunteer_scope(assignee)),
        (_, Some(author)) if author == assignee => Some(volunteer_scope(assignee)),
        _ => None,
    }
}

/// The key that makes one evidence file one record per task.
pub fn evidence_key(task_id: &str, sha256: &str) -> String {
    format!("{task_id}:{sha256}")
}

pub fn decode(row: &RecordRow) -> Result<Record, ApiError> {
    serde_json::from_str(&row.doc).map_err(|e| {
        ApiError::Internal(format!(
            "stored {} {} does not decode: {e}",
            row.kind, row.id
        ))
    })
}

fn withdrawn(record: &Record) -> bool {
    match record {
        Record::Purchase(r) => r.withdrawal.is_withdrawn(),
        Record::Evidence(r) => r.withdrawal.is_withdrawn(),
        Record::Note(r) => r.withdrawal.is_withdrawn(),
        Record::Reimbursement(r) => r.withdrawal.is_withdrawn(),
        _ => false,
    }
}

/// Writes `record` (new, or changed from `before`) of `task`, authored by
/// `author` (`None`: the server), into the scope it belongs in.
pub fn write_record(
    conn: &mut Conn,
    now: Micros,
    record: &Record,
    task: &TaskRow,
    author: Option<&str>,
    before: Option<&RecordRow>,
    touched: &mut Touched,
) -> Result<(), ApiError> {
    if record.kind().is_some_and(Kind::is_station) {
        // Never into a volunteer's scope (or any task's).
        return Err(ApiError::Internal(
            "a station's record is written by logistics::station_sync".into(),
        ));
    }
    // Logistics first: the record it stores may be the routed one, and a
    // station's records it rewrites (a new tracking number) take their
    // scope before this one (the lock order: station scopes, then
    // volunteers').
    let routed = crate::logistics::routing::on_record_write(
        conn,
        now,
        record,
        task,
        before.is_none(),
        touched,
    )?;
    let record = routed.as_ref().unwrap_or(record);
    let kind = record
        .kind()
        .ok_or_else(|| ApiError::Internal("cannot store a record of unknown kind".into()))?;
    let author_id = match before {
        Some(b) => b.author_id.clone(),
        None => author.map(str::to_owned),
    };
    let scope = scope_of(kind, task, author_id.as_deref());
    let old_scope = before.and_then(|b| b.scope.clone());
    if let Some(old) = old_scope
        .as_deref()
        .filter(|old| Some(*old) != scope.as_deref())
    {
        let version = sync::bump_scope(conn, old)?;
        sync::insert_tombstone(conn, old, version, kind.as_str(), record.id(), now)?;
        touched.insert(old.to_owned());
    }
    let version = match &scope {
        Some(s) => {
            touched.insert(s.clone());
            sync::bump_scope(conn, s)?
        }
        None => 0,
    };
    let dedupe_key = match record {
        Record::Evidence(e) => Some(evidence_key(&e.task_id, &e.sha256)),
        _ => None,
    };
    let doc = serde_json::to_string(record)
        .map_err(|e| ApiError::Internal(format!("cannot encode a record: {e}")))?;
    sync::save_record(
        conn,
        &RecordRow {
            kind: kind.as_str().to_owned(),
            id: record.id().to_owned(),
            task_id: record.task_id().to_owned(),
            author_id,
            scope,
            version,
            doc,
            dedupe_key,
            withdrawn: withdrawn(record),
            created_at: before.map_or(now, |b| b.created_at),
            updated_at: now,
        },
    )?;
    Ok(())
}

/// Moves every record of `task` (other than the task itself, which the
/// caller writes) into the scope it now belongs in, with a tombstone in the
/// scope it left and a fresh version in the one it joined, so a record newly
/// in scope arrives whenever it last changed.
pub fn rescope_children(
    conn: &mut Conn,
    now: Micros,
    task: &TaskRow,
    touched: &mut Touched,
) -> Result<(), ApiError> {
    for row in sync::records_of_task(conn, &task.id)? {
        let Some(kind) = Kind::parse(&row.kind).filter(|k| *k != Kind::Task) else {
            continue;
        };
        if scope_of(kind, task, row.author_id.as_deref()) != row.scope {
            let record = decode(&row)?;
            write_record(conn, now, &record, task, None, Some(&row), touched)?;
        }
    }
    Ok(())
}
