//! A task's evidence as coordinators see it: the package (every item the
//! campaign requires, uploaded and verified, or what is missing and why)
//! and the served files. Only the served copy (metadata removed) and the
//! thumbnail are ever served; the original, when kept, is not reachable
//! through the API.
//!
//! Must never: serve a file to anyone but coordinators, administrators and
//! the volunteer who recorded it (everyone else gets 404, as for a file
//! that does not exist).

use serde::Serialize;
use sync_protocol::{
    Kind,
    records::{EvidenceKind, EvidenceStatus, Record},
};
use utoipa::ToSchema;

use crate::{
    auth::{Actor, Role},
    campaigns::wire_name,
    db::{self, Conn, uploads as rows},
    error::ApiError,
    storage::content_key,
    sync::store,
};

/// One evidence record of a task.
#[derive(Debug, Serialize, ToSchema)]
pub struct Item {
    pub id: String,
    /// `listing_photo`, `order_screenshot`, `chat_log`, ...
    pub kind: String,
    /// `pending` (no file yet), `verified` or `refused`.
    pub status: String,
    /// Why the file was refused.
    pub refusal: Option<String>,
    /// The served copy: its type, size and hash (the original's hash is
    /// the one the record declared).
    pub media_type: Option<String>,
    pub size: Option<i64>,
    pub sha256: Option<String>,
    pub original_sha256: String,
    pub width: Option<i32>,
    pub height: Option<i32>,
    /// `/api/evidence/{id}/file` once verified.
    pub file_url: Option<String>,
    pub thumbnail_url: Option<String>,
}

/// A required kind the package lacks, and why.
#[derive(Debug, Serialize, ToSchema)]
pub struct Missing {
    pub kind: String,
    /// `no_record` (the app has not recorded one), `not_uploaded` (recorded,
    /// its file has not arrived or is being checked) or `refused`.
    pub reason: &'static str,
}

/// A task's evidence package.
#[derive(Debug, Serialize, ToSchema)]
pub struct Package {
    pub task_id: String,
    /// What the task's campaign requires (none for a task outside one).
    pub required: Vec<String>,
    /// True when every required kind has a verified file.
    pub complete: bool,
    pub missing: Vec<Missing>,
    pub items: Vec<Item>,
}

/// The package of `task_id`.
pub fn package(conn: &mut Conn, task_id: &str) -> Result<Package, ApiError> {
    if db::sync::find_task(conn, task_id)?.is_none() {
        return Err(ApiError::Missing("no such task".into()));
    }
    let required: Vec<EvidenceKind> = match db::campaigns::find_campaign_task(conn, task_id)? {
        Some(link) => match db::campaigns::find_campaign(conn, &link.campaign_id)? {
            Some(c) => crate::campaigns::parse_list(&c.required_evidence, "required evidence")?,
            None => Vec::new(),
        },
        None => Vec::new(),
    };
    let mut items = Vec::new();
    let mut by_kind: Vec<(EvidenceKind, EvidenceStatus)> = Vec::new();
    for row in db::sync::records_of_task(conn, task_id)? {
        if row.kind != Kind::Evidence.as_str() || row.withdrawn {
            continue;
        }
        let Record::Evidence(e) = store::decode(&row)? else {
            continue;
        };
        by_kind.push((e.kind, e.status));
        let file = rows::evidence_file(conn, &e.id)?;
        let verified = e.status == EvidenceStatus::Verified && file.is_some();
        items.push(Item {
            kind: wire_name(&e.kind),
            status: wire_name(&e.status),
            refusal: e.refusal.clone(),
            media_type: file.as_ref().map(|f| f.served_media_type.clone()),
            size: file.as_ref().map(|f| f.served_size),
            sha256: file.as_ref().map(|f| f.served_sha256.clone()),
            original_sha256: e.sha256.clone(),
            width: file.as_ref().and_then(|f| f.width),
            height: file.as_ref().and_then(|f| f.height),
            file_url: verified.then(|| format!("/api/evidence/{}/file", e.id)),
            thumbnail_url: file
                .as_ref()
                .filter(|f| verified && f.thumbnail_sha256.is_some())
                .map(|_| format!("/api/evidence/{}/thumbnail", e.id)),
            id: e.id,
        });
    }
    let missing: Vec<Missing> = required
        .iter()
        .filter_map(|kind| {
            let statuses: Vec<EvidenceStatus> = by_kind
                .iter()
                .filter(|(k, _)| k == kind)
                .map(|(_, s)| *s)
                .collect();
            let reason = if statuses.contains(&EvidenceStatus::Verified) {
                return None;
            } else if statuses.contains(&EvidenceStatus::Pending) {
                "not_uploaded"
            } else if statuses.contains(&EvidenceStatus::Refused) {
                "refused"
            } else {
                "no_record"
            };
            Some(Missing {
                kind: wire_name(kind),
                reason,
            })
        })
        .collect();
    Ok(Package {
        task_id: task_id.to_string(),
        required: required.iter().map(wire_name).collect(),
        complete: missing.is_empty(),
        missing,
        items,
    })
}

/// Which file of an evidence record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Served,
    Thumbnail,
}

/// Where a served file is, for one who may see it.
#[derive(Debug, Clone)]
pub struct Served {
    pub key: String,
    pub media_type: String,
    pub sha256: String,
}

/// The served copy or thumbnail of `evidence_id`, if `actor` may see it:
/// coordinators and administrators, and the volunteer who recorded it.
pub fn served(
    conn: &mut Conn,
    actor: &Actor,
    evidence_id: &str,
    which: Which,
) -> Result<Served, ApiError> {
    let missing = || ApiError::Missing("no such evidence file".into());
    let record =
        db::sync::find_record(conn, Kind::Evidence.as_str(), evidence_id)?.ok_or_else(missing)?;
    let staff = matches!(actor.role, Role::Coordinator | Role::Administrator);
    let owner = record.author_id.as_deref() == Some(actor.user_id.as_str());
    if !(staff || owner) || record.withdrawn {
        return Err(missing());
    }
    let file = rows::evidence_file(conn, evidence_id)?.ok_or_else(missing)?;
    let (sha256, media_type) = match which {
        Which::Served => (file.served_sha256, file.served_media_type),
        Which::Thumbnail => (
            file.thumbnail_sha256.ok_or_else(missing)?,
            crate::uploads::media::THUMBNAIL_TYPE.to_string(),
        ),
    };
    Ok(Served {
        key: content_key(&sha256),
        media_type,
        sha256,
    })
}

/// The served copy or thumbnail of a relay station's photo, if `actor` may
/// see it: coordinators and administrators, the operator who took it, and
/// the operators of a station where a scan names it. Anyone else (the lab
/// above all) is told it does not exist.
pub fn served_station_photo(
    conn: &mut Conn,
    actor: &Actor,
    photo_id: &str,
    which: Which,
) -> Result<Served, ApiError> {
    let missing = || ApiError::Missing("no such photo".into());
    let photo = db::logistics::find_station_photo(conn, photo_id)?.ok_or_else(missing)?;
    let allowed = match actor.role {
        Role::Coordinator | Role::Administrator => true,
        Role::RelayOperator => {
            photo.owner_id == actor.user_id
                || db::logistics::photo_seen_at_stations_of(conn, photo_id, &actor.user_id)?
        }
        _ => false,
    };
    if !allowed {
        return Err(missing());
    }
    let (sha256, media_type) = match which {
        Which::Served => (photo.served_sha256, photo.served_media_type),
        Which::Thumbnail => (
            photo.thumbnail_sha256.ok_or_else(missing)?,
            crate::uploads::media::THUMBNAIL_TYPE.to_string(),
        ),
    };
    Ok(Served {
        key: content_key(&sha256),
        media_type,
        sha256,
    })
}
