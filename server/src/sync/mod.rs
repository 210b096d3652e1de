//! Offline sync, the server's half (the protocol and merge rules are the
//! `sync-protocol` crate's): devices, push, pull, the coordinators' task
//! write path, the review list and the event stream that pokes devices.
//!
//! Every write to a volunteer's synced record goes through
//! [`store::write_record`], and every write to a relay station's through
//! `crate::logistics::station_sync`; both bump the version of the record's
//! scope under that scope's row lock.
//! Pulls read a scope's changes by version in one snapshot; that is what
//! keeps a cursor from passing a change that commits late.
//!
//! Must never: trust a client's stamp unchanged (see [`push`]), write a
//! synced record around [`store`], or hand a device a record outside its
//! scope.

pub mod devices;
pub mod events;
pub mod pull;
pub mod push;
pub mod reviews;
pub mod store;
pub mod tasks;

use std::collections::BTreeSet;

/// The scopes a write changed, to poke their devices once it committed.
pub type Touched = BTreeSet<String>;

/// The scope of everything a volunteer's devices see.
pub fn volunteer_scope(user_id: &str) -> String {
    format!("volunteer:{user_id}")
}

/// The scope of what a relay station's scanners see: its scans and the
/// parcels on its shelf (`crate::logistics::station_sync`), stored apart
/// from the volunteers' records.
pub fn station_scope(station_id: &str) -> String {
    format!("{STATION_SCOPE_PREFIX}{station_id}")
}

const STATION_SCOPE_PREFIX: &str = "station:";

pub fn is_station_scope(scope: &str) -> bool {
    scope.starts_with(STATION_SCOPE_PREFIX)
}
