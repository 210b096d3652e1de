//! Tracking numbers as the server compares them: the number a volunteer typed on the phone and the
//! one a relay operator scanned must meet in one canonical form. This module only normalises; it
//! must never validate a carrier's check digit or guess the carrier (formats change, regional
//! carriers are many, and a refused number would leave a parcel unmatched).

/// Shortest accepted number: short domestic numbers (some postal and courier services) have 8 to
/// 10 characters; 6 leaves room and still refuses a stray word or house number.
pub const TRACKING_MIN_LEN: usize = 6;

/// Longest accepted number: a USPS IMpb scan with its `420` + ZIP+4 routing prefix is 34 digits;
/// FedEx's longest 34 too. Anything longer is not one tracking number.
pub const TRACKING_MAX_LEN: usize = 40;

/// The canonical form of a tracking number, or `None` when the input cannot be one.
///
/// - Removed: all white space (also no-break and other Unicode spaces), ASCII control characters
///   (a GS1-128 scan carries a group separator, 0x1D, after an application identifier), and the
///   separators people and labels put in numbers: `- . / \ _ , : ; | ( ) #`, Unicode hyphens and
///   dashes.
/// - Upper-cased (ASCII).
/// - Refused: anything else that is not an ASCII letter or digit (accented or other-script
///   letters, `@`, `+`, emoji), fewer than [`TRACKING_MIN_LEN`] or more than
///   [`TRACKING_MAX_LEN`] characters, and no digit at all (every carrier's number has one).
///
/// Not done: carrier check digits; and a USPS IMpb scan keeps its `420` + ZIP routing prefix, so
/// it differs from the 22 digits a volunteer copies from the shop (the matcher may compare by
/// suffix for numbers that start with `420`).
pub fn normalise_tracking(input: &str) -> Option<String> {
    let mut out = String::with_capacity(input.len().min(TRACKING_MAX_LEN + 1));
    for c in input.chars() {
        if is_separator(c) {
            continue;
        }
        if !c.is_ascii_alphanumeric() {
            return None;
        }
        out.push(c.to_ascii_uppercase());
        if out.len() > TRACKING_MAX_LEN {
            return None;
        }
    }
    let plausible = out.len() >= TRACKING_MIN_LEN && out.bytes().any(|b| b.is_ascii_digit());
    plausible.then_some(out)
}

fn is_separator(c: char) -> bool {
    c.is_whitespace()
        || c.is_ascii_control()
        || matches!(
            c,
            '-' | '.'
                | '/'
                | '\\'
                | '_'
                | ','
                | ':'
                | ';'
                | '|'
                | '('
                | ')'
                | '#'
                | '\u{00A0}'
                | '\u{2010}'..='\u{2015}' | '\u{2212}'
        )
}
