//! Stamps and the hybrid logical clock.
//!
//! A [`Stamp`] orders writes: by wall time, then by a counter that keeps a
//! node's stamps strictly increasing when its clock stands still or goes
//! back, then by node id, so two different writers never tie. Clients stamp
//! in their own clock's frame; the server corrects every client stamp by the
//! offset it measures at push time and never lets it exceed server time
//! ([`correct`]), so a phone whose clock runs a week ahead cannot win edits
//! made after its push.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A device's (or the server's) identity in stamps. Assigned by the server
/// when a device registers; the server's own writes use [`NodeId::server`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(pub String);

impl NodeId {
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The node of writes made by the server itself (coordinator actions
    /// through the online API, jobs).
    pub fn server() -> Self {
        Self("server".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// When and by whom a value was written. Totally ordered: wall time, then
/// counter, then node id (the tie-break between different writers).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Stamp {
    /// Microseconds since the Unix epoch in the writer's clock frame (after
    /// the server's correction, in the server's frame).
    pub wall_us: i64,
    /// Orders stamps of one node within the same microsecond.
    pub counter: u32,
    pub node: NodeId,
}

impl Stamp {
    pub fn new(wall_us: i64, counter: u32, node: NodeId) -> Self {
        Self {
            wall_us,
            counter,
            node,
        }
    }

    /// The (wall, counter) part, which one node keeps strictly increasing.
    fn tick_part(&self) -> (i64, u32) {
        (self.wall_us, self.counter)
    }
}

/// A hybrid logical clock for one node: stamps follow the physical clock
/// when it moves forward and a counter when it stands still or jumps back,
/// so a node's stamps strictly increase whatever its clock does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hlc {
    node: NodeId,
    last_wall_us: i64,
    last_counter: u32,
}

impl Hlc {
    pub fn new(node: NodeId) -> Self {
        Self {
            node,
            last_wall_us: i64::MIN,
            last_counter: 0,
        }
    }

    pub fn node(&self) -> &NodeId {
        &self.node
    }

    /// A new stamp for a local event at physical time `now_us`.
    pub fn tick(&mut self, now_us: i64) -> Stamp {
        if now_us > self.last_wall_us {
            self.last_wall_us = now_us;
            self.last_counter = 0;
        } else if self.last_counter == u32::MAX {
            // 4 billion events in one microsecond: borrow the next one.
            self.last_wall_us = self.last_wall_us.saturating_add(1);
            self.last_counter = 0;
        } else {
            self.last_counter += 1;
        }
        Stamp::new(self.last_wall_us, self.last_counter, self.node.clone())
    }

    /// Moves the clock past `seen` (a stamp in the same clock frame), so the
    /// next tick orders after it.
    pub fn observe(&mut self, seen: &Stamp) {
        if seen.tick_part() > (self.last_wall_us, self.last_counter) {
            self.last_wall_us = seen.wall_us;
            self.last_counter = seen.counter;
        }
    }
}

/// The server's correction of a client stamp (sync.md, "honest clocks").
///
/// * `offset_us` is server time minus the client's clock, measured when the
///   push arrived (the client sends its clock reading with the batch).
/// * The corrected wall time never exceeds `server_now_us`.
/// * `floor` is the device's previous corrected stamp: the result orders
///   after it, so one device's own mutations keep their order even when its
///   clock was changed between two pushes.
///
/// The node id is kept: it is the tie-break.
pub fn correct(stamp: &Stamp, offset_us: i64, server_now_us: i64, floor: Option<&Stamp>) -> Stamp {
    let wall = stamp.wall_us.saturating_add(offset_us).min(server_now_us);
    let mut out = Stamp::new(wall, stamp.counter, stamp.node.clone());
    if let Some(floor) = floor.filter(|f| out.tick_part() <= f.tick_part()) {
        let mut next = Hlc {
            node: out.node.clone(),
            last_wall_us: floor.wall_us,
            last_counter: floor.counter,
        };
        out = next.tick(i64::MIN);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(n: &str) -> NodeId {
        NodeId::new(n)
    }

    #[test]
    fn stamps_increase_when_the_clock_stands_still_or_goes_back() {
        let mut hlc = Hlc::new(node("a"));
        let s1 = hlc.tick(1_000);
        let s2 = hlc.tick(1_000);
        let s3 = hlc.tick(500);
        let s4 = hlc.tick(2_000);
        assert!(s1 < s2 && s2 < s3 && s3 < s4);
        assert_eq!(s4.counter, 0);
    }

    #[test]
    fn observing_a_later_stamp_moves_the_clock_past_it() {
        let mut hlc = Hlc::new(node("a"));
        hlc.observe(&Stamp::new(9_000, 3, node("a")));
        let next = hlc.tick(1_000);
        assert_eq!((next.wall_us, next.counter), (9_000, 4));
    }

    #[test]
    fn ties_in_time_break_by_node_id() {
        assert!(Stamp::new(5, 0, node("a")) < Stamp::new(5, 0, node("b")));
    }

    #[test]
    fn a_clock_a_week_ahead_is_corrected_to_server_time() {
        let week = 7 * 24 * 3_600 * 1_000_000_i64;
        let now = 1_800_000_000_000_000;
        let stamp = Stamp::new(now + week - 60_000_000, 0, node("fast"));
        let corrected = correct(&stamp, -week, now, None);
        assert_eq!(corrected.wall_us, now - 60_000_000);
    }

    #[test]
    fn a_corrected_stamp_never_exceeds_server_time() {
        let corrected = correct(&Stamp::new(9_999, 0, node("x")), 0, 1_000, None);
        assert_eq!(corrected.wall_us, 1_000);
    }

    #[test]
    fn a_corrected_stamp_orders_after_the_devices_previous_one() {
        let floor = Stamp::new(1_000, 7, node("x"));
        let corrected = correct(&Stamp::new(400, 0, node("x")), 0, 2_000, Some(&floor));
        assert!(corrected > floor);
        assert_eq!((corrected.wall_us, corrected.counter), (1_000, 8));
    }
}
