//! The one timestamp representation of the schema: microseconds since the
//! Unix epoch, UTC, in a `BIGINT`. Portable across both backends, exact, and
//! ordered as numbers.

use chrono::{DateTime, TimeZone, Utc};

/// Microseconds since 1970-01-01T00:00:00Z.
pub type Micros = i64;

pub fn to_micros(t: DateTime<Utc>) -> Micros {
    t.timestamp_micros()
}

/// The instant for a stored value; out-of-range values clamp to the epoch
/// rather than panic (they can only come from a hand-edited row).
pub fn from_micros(m: Micros) -> DateTime<Utc> {
    Utc.timestamp_micros(m).single().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_at_microsecond_precision() {
        let t = Utc
            .with_ymd_and_hms(2026, 11, 11, 0, 0, 0)
            .single()
            .expect("valid")
            + chrono::Duration::microseconds(123_456);
        assert_eq!(from_micros(to_micros(t)), t);
    }
}
