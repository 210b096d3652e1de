//! The anonymous route of a parcel (design/logistics.md): relay stations and
//! labs (`places`), the recipient code and station a task gets when it is
//! accepted (`routing`), the station's scans and forwarding (`scans`), the
//! lab's receipt, results and report, the coordinator's publishing and the
//! export (`lab`), exceptions and the never-arrived deadline
//! (`exceptions`), what each role is shown (`views`), and what the
//! stations' scanner apps sync (`station_sync`).
//!
//! Every custody event is appended to the custody log (`crate::custody`) in
//! the transaction of the event. Must never: answer a relay operator or a
//! lab inspector with anything about the volunteer, the shop, the price,
//! the platform or the campaign's purpose; responses are built per role in
//! `views`, never filtered from a bigger record.

pub mod codes;
pub mod exceptions;
pub mod jobs;
pub mod lab;
pub mod places;
pub mod routing;
pub mod scans;
pub mod station_sync;
pub mod views;

use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    db::{self, Conn, logistics::ParcelRow},
    error::ApiError,
};

/// Locks the parcel's task (the first lock of the lock order: tasks, then
/// stations' scopes, then volunteers') and reads the parcel again under
/// it, as committed.
pub fn lock(conn: &mut Conn, parcel: ParcelRow) -> Result<ParcelRow, ApiError> {
    db::sync::lock_task(conn, &parcel.task_id)?;
    Ok(db::logistics::find_parcel(conn, &parcel.task_id)?.unwrap_or(parcel))
}

/// Where a parcel is on its route. Forward only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Bought, maybe shipped; no station has scanned it.
    Awaiting,
    /// Scanned in at the relay station; has its sample code.
    AtStation,
    /// Relabelled and handed to a carrier for the lab.
    Forwarded,
    /// Scanned in at the lab.
    AtLab,
    /// The lab recorded its result.
    Tested,
    /// A coordinator published the result.
    Published,
}

impl Stage {
    pub const ALL: [Stage; 6] = [
        Stage::Awaiting,
        Stage::AtStation,
        Stage::Forwarded,
        Stage::AtLab,
        Stage::Tested,
        Stage::Published,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Awaiting => "awaiting",
            Stage::AtStation => "at_station",
            Stage::Forwarded => "forwarded",
            Stage::AtLab => "at_lab",
            Stage::Tested => "tested",
            Stage::Published => "published",
        }
    }

    /// The stage of a stored value; only a hand-edited row holds an unknown
    /// one, read as the earliest stage.
    pub fn parse(text: &str) -> Stage {
        Stage::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .unwrap_or(Stage::Awaiting)
    }
}
