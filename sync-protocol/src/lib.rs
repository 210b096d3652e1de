//! The offline-sync protocol shared by the mystery-buyer server and its app
//! clients: wire types, the hybrid logical clock, the merge types, the named
//! mutations and a client replica.
//!
//! This crate is pure: no IO, no clock reads, no async runtime, no database.
//! Time always comes in as an argument (microseconds since the Unix epoch), so
//! the server and every test control it. Because the server applies mutations
//! with the same functions the client uses to predict their effect, the merge
//! rules cannot differ between the two ends.

pub mod hlc;
pub mod merge;
pub mod mutations;
pub mod records;
pub mod replica;
pub mod wire;

pub use hlc::{Hlc, NodeId, Stamp};
pub use merge::{Lww, Merge, StatusReg, Withdrawal};
pub use mutations::{Mutation, Rejection};
pub use records::{Kind, Money, Record, Status};

/// The wire protocol version this crate speaks. Messages carry it as `v`; a
/// server answers every version it still knows.
pub const PROTOCOL_VERSION: u32 = 1;
