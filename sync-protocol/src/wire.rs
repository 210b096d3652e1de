//! The messages of the sync endpoints, as JSON. Every message carries the
//! protocol version `v`. The encoding is frozen by the golden files in
//! `tests/golden/`: a change that breaks an old message fails the tests.
//! New fields get `#[serde(default)]` so old messages keep decoding.
//!
//! * `POST /api/sync/devices` [`RegisterDevice`] → [`DeviceRegistered`]
//! * `POST /api/sync/push` [`PushRequest`] → [`PushResponse`]
//! * `GET /api/sync/pull?device_id=…&cursor=…&limit=…` → [`PullResponse`]
//! * `GET /api/sync/events?device_id=…`: server-sent events; an event named
//!   `poke` means "pull now".

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    hlc::{NodeId, Stamp},
    mutations::Rejection,
    records::{Kind, Record},
};

fn v1() -> u32 {
    1
}

/// Registers a device (a phone's app install) for the signed-in user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterDevice {
    /// A name the user recognises ("Anna's phone").
    pub name: String,
}

/// The device's identity for sync. `node` goes into every stamp it makes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRegistered {
    #[serde(default = "v1")]
    pub v: u32,
    pub device_id: String,
    pub node: NodeId,
    /// The last mutation number the server processed for this device (0 for
    /// a new one): the next mutation gets this plus one.
    pub last_processed: u64,
    pub server_time_us: i64,
}

/// One queued mutation as it travels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MutationEnvelope {
    /// Per device: 1, 2, 3, … with no gaps.
    pub seq: u64,
    /// The device's stamp, in its own clock frame.
    pub stamp: Stamp,
    /// The mutation's name, e.g. `purchase.record`.
    pub name: String,
    pub args: Value,
}

/// A batch of mutations, oldest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PushRequest {
    #[serde(default = "v1")]
    pub v: u32,
    pub device_id: String,
    /// The device's clock when it sent the batch: the server measures the
    /// device's clock offset from it.
    pub sent_at_us: i64,
    pub mutations: Vec<MutationEnvelope>,
}

/// What became of one mutation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Applied (possibly changing nothing, e.g. a value older than the
    /// current one).
    Applied,
    /// Kept, but not where the device expected: a person will review it
    /// (e.g. a purchase for a task that was reassigned meanwhile). Counts as
    /// processed; the record does not come back in the device's pulls.
    Held(Rejection),
    /// Processed earlier and applied; not applied again. A re-sent mutation
    /// that was held or rejected is answered `held`/`rejected` again (the
    /// server keeps those outcomes): the first answer may have been lost,
    /// and the replica keeps such a mutation queued until it sees one.
    Duplicate,
    /// Refused by the domain; counts as processed. Show the message.
    Rejected(Rejection),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MutationResult {
    pub seq: u64,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Why a batch stopped before its end. The mutations from `resume_from` on
/// were not processed; push them again (after filling the gap, or later).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Stop {
    /// A number is missing: the server expected `resume_from`.
    Gap { resume_from: u64 },
    /// The server could not process `resume_from` now (database busy or
    /// down); nothing after it was touched. Retry later.
    Transient { resume_from: u64, message: String },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushResponse {
    #[serde(default = "v1")]
    pub v: u32,
    pub results: Vec<MutationResult>,
    /// The highest number processed for this device after this batch.
    pub last_processed: u64,
    #[serde(default)]
    pub stopped: Option<Stop>,
    pub server_time_us: i64,
}

/// One change in a pull.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
// Puts vastly outnumber removes; boxing the record would only add an
// allocation to every put.
#[allow(clippy::large_enum_variant)]
pub enum Change {
    /// The whole current record: replace what the device holds.
    Put { record: Record },
    /// The record left the device's scope (or never was in it): drop it.
    Remove { kind: Kind, id: String },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullResponse {
    #[serde(default = "v1")]
    pub v: u32,
    /// The cursor was unknown, from another server epoch or too old: drop
    /// every record pulled before (keep the pending mutations) and apply
    /// these changes, which start from nothing.
    #[serde(default)]
    pub reset: bool,
    pub changes: Vec<Change>,
    /// Pass it to the next pull. Opaque.
    pub cursor: String,
    /// More changes are waiting: pull again right away.
    #[serde(default)]
    pub more: bool,
    /// The highest mutation number processed for this device whose effects
    /// are all in what the device has pulled once it applied this page.
    pub last_processed: u64,
    pub server_time_us: i64,
}
