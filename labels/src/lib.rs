//! Codes of the anonymous forwarding route (design/logistics.md): the recipient code a volunteer
//! orders under, the blind sample code a lab knows a parcel by, and tracking numbers in the form
//! scans are matched in.
//!
//! Architecture invariant: this crate is pure. It never does IO, never reads the clock, never
//! holds a random generator of its own (the caller passes one), and never panics on any input:
//! a code that does not parse or a tracking number that cannot be one is an error value.

mod codes;
mod tracking;

pub use codes::{ALPHABET, CodeError, CodeKind, RecipientCode, SampleCode};
pub use tracking::{TRACKING_MAX_LEN, TRACKING_MIN_LEN, normalise_tracking};
