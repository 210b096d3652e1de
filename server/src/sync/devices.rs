//! Registering a device for sync. The server picks the device's node id, so
//! no two devices share one and a stamp's node proves which device made it.

use sync_protocol::{NodeId, wire::DeviceRegistered};

use crate::{
    auth::{Role, new_id},
    db::{
        Conn,
        sync::{self, DeviceRow},
        time::Micros,
    },
    error::ApiError,
};

/// Longest device name.
pub const MAX_NAME: usize = 100;

/// The roles whose apps sync: volunteers' phones and relay stations'
/// scanners. Coordinators, the lab and administrators use the online API.
pub fn may_sync(role: Role) -> bool {
    matches!(role, Role::Volunteer | Role::RelayOperator)
}

pub fn register(
    conn: &mut Conn,
    now: Micros,
    user_id: &str,
    name: &str,
) -> Result<DeviceRegistered, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(ApiError::InvalidBody(format!(
            "`name` must be 1 to {MAX_NAME} characters"
        )));
    }
    let row = DeviceRow {
        id: new_id(),
        user_id: user_id.to_owned(),
        // Short enough to repeat in every stamp, random enough never to clash.
        node: uuid::Uuid::new_v4().simple().to_string()[..16].to_owned(),
        name: name.to_owned(),
        last_processed: 0,
        last_stamp: None,
        created_at: now,
        last_push_at: None,
    };
    sync::insert_device(conn, &row)?;
    Ok(DeviceRegistered {
        v: sync_protocol::PROTOCOL_VERSION,
        device_id: row.id,
        node: NodeId::new(row.node),
        last_processed: 0,
        server_time_us: now,
    })
}

/// The caller's device, or 404 (another user's device looks like none).
pub fn own_device(conn: &mut Conn, user_id: &str, device_id: &str) -> Result<DeviceRow, ApiError> {
    sync::find_device(conn, device_id)?
        .filter(|d| d.user_id == user_id)
        .ok_or_else(|| ApiError::Missing("no such device".into()))
}
