//! The canonical JSON text of an entry's `data`: one byte string per JSON
//! value, so the same event fields always hash the same, however they were
//! built or read back from the database.
//!
//! It must never depend on how the value was parsed, on the order keys were
//! inserted in, or on serde_json's cargo features (`preserve_order` and
//! `arbitrary_precision` change what `serde_json::to_string` writes; this
//! module sorts keys itself and prints every number through `u64`, `i64` or
//! `f64`).
//!
//! The rules (written out for auditors in the crate documentation):
//! - no whitespace anywhere;
//! - `null`, `true`, `false` as such;
//! - integers that fit `u64` or `i64` in plain decimal (`-12`, `0`,
//!   `18446744073709551615`). Other numbers (fractions, exponents, larger
//!   integers) are refused by [`crate::append`] (see [`check_integers_only`]):
//!   write a measured value as a decimal string (`"0.35"`), which is exact
//!   where a binary float is not. So that a stored value is always hashable,
//!   such a number is written as the `f64` it parses to in Rust's `Display`
//!   form (shortest round-trip digits, never an exponent); no valid entry
//!   contains one;
//! - strings in double quotes, UTF-8, with `"` and `\` escaped by a
//!   backslash, `\b \f \n \r \t` for those control characters, every other
//!   character below U+0020 as `\u00XX` with lowercase hex digits, everything
//!   else (including `/`, U+007F and all non-ASCII) as its own UTF-8 bytes;
//! - arrays in their order, `[a,b]`;
//! - objects with their members sorted by the UTF-8 bytes of the key
//!   (byte-wise lexicographic, a prefix first), `{"a":1,"b":2}`.
//!
//! Float formatting is kept out on purpose: serde_json 1.0.154 writes
//! `1e21` as `1e+21` where earlier releases wrote `1e21`, and a library
//! upgrade must never change a hash.
//!
//! This is close to, but not, RFC 8785 (JCS): JCS sorts keys by UTF-16 code
//! units; for keys in the Basic Multilingual Plane the two orders agree.

use serde_json::{Number, Value};

/// The canonical JSON text of `value`.
pub fn canonical_json(value: &Value) -> String {
    let mut out = Vec::new();
    write_value(&mut out, value);
    // Every piece written is valid UTF-8 (serde_json output and ASCII).
    String::from_utf8(out).unwrap_or_default()
}

/// Appends the canonical JSON text of `value` to `out`.
pub fn write_canonical_json(out: &mut Vec<u8>, value: &Value) {
    write_value(out, value);
}

fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(number) => write_number(out, number),
        Value::String(text) => write_string(out, text),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(members) => {
            let mut sorted: Vec<(&String, &Value)> = members.iter().collect();
            // `str`'s order is the byte-wise order of its UTF-8.
            sorted.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (key, item)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(out, key);
                out.push(b':');
                write_value(out, item);
            }
            out.push(b'}');
        }
    }
}

fn write_number(out: &mut Vec<u8>, number: &Number) {
    if let Some(n) = number.as_u64() {
        out.extend_from_slice(n.to_string().as_bytes());
    } else if let Some(n) = number.as_i64() {
        out.extend_from_slice(n.to_string().as_bytes());
    } else if let Some(f) = number.as_f64() {
        // Never in a valid entry (see `check_integers_only`); Rust's own
        // formatting keeps the encoding total and independent of serde_json.
        out.extend_from_slice(f.to_string().as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
}

/// The first number in `value` that is not an integer fitting `u64` or
/// `i64`, as text, if any: such numbers have no stable canonical form.
pub fn check_integers_only(value: &Value) -> Result<(), String> {
    match value {
        Value::Number(number) if number.as_u64().is_none() && number.as_i64().is_none() => {
            Err(number.to_string())
        }
        Value::Array(items) => items.iter().try_for_each(check_integers_only),
        Value::Object(members) => members.values().try_for_each(check_integers_only),
        _ => Ok(()),
    }
}

fn write_string(out: &mut Vec<u8>, text: &str) {
    // serde_json's string escaping is the one described in the module docs
    // and is not affected by any feature. Writing to a Vec cannot fail.
    if serde_json::to_writer(&mut *out, text).is_err() {
        out.extend_from_slice(b"\"\"");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_sorted_and_whitespace_dropped() {
        let value: Value =
            serde_json::from_str(r#"{ "b": [1, 2, {"z": null, "a": true}], "a": "x" }"#)
                .expect("valid JSON");
        assert_eq!(
            canonical_json(&value),
            r#"{"a":"x","b":[1,2,{"a":true,"z":null}]}"#
        );
    }

    #[test]
    fn integers_print_in_decimal_and_other_numbers_without_exponent() {
        let value: Value = serde_json::from_str(
            "[1, -12, 18446744073709551615, -9223372036854775808, 1.0, 1.50, 0.1, 1e21, 1.5e-7]",
        )
        .expect("valid JSON");
        assert_eq!(
            canonical_json(&value),
            "[1,-12,18446744073709551615,-9223372036854775808,1,1.5,0.1,1000000000000000000000,0.00000015]"
        );
    }

    #[test]
    fn only_integers_pass_the_integer_check() {
        let fine = json!({"a": [1, -2, u64::MAX, i64::MIN], "b": "0.35"});
        assert_eq!(check_integers_only(&fine), Ok(()));
        let value: Value = serde_json::from_str(r#"{"a": [1, {"b": 0.5}]}"#).expect("valid JSON");
        assert_eq!(check_integers_only(&value), Err("0.5".to_owned()));
        let huge: Value = serde_json::from_str("18446744073709551616").expect("valid JSON");
        assert!(check_integers_only(&huge).is_err());
    }

    #[test]
    fn strings_escape_only_what_json_requires() {
        let value = json!(["a\"b\\c\n\t\u{1}\u{7f}/é", "\u{8}\u{c}\r"]);
        assert_eq!(
            canonical_json(&value),
            "[\"a\\\"b\\\\c\\n\\t\\u0001\u{7f}/é\",\"\\b\\f\\r\"]"
        );
    }

    #[test]
    fn keys_sort_by_utf8_bytes_not_utf16() {
        // U+FF61 sorts before U+1F600 in UTF-16 (0xFF61 < 0xD83D is false:
        // 0xD83D < 0xFF61), after it in UTF-8 (EF BD A1 < F0 9F 98 80).
        let value = json!({"\u{1F600}": 1, "\u{FF61}": 2, "": 0, "a": 3, "ab": 4});
        assert_eq!(
            canonical_json(&value),
            "{\"\":0,\"a\":3,\"ab\":4,\"\u{FF61}\":2,\"\u{1F600}\":1}"
        );
    }

    #[test]
    fn the_canonical_text_reads_back_to_the_same_canonical_text() {
        let value: Value = serde_json::from_str(r#"{"x": [1e300, 2.5, 1.0, "s"], "n": {"m": -1}}"#)
            .expect("valid JSON");
        let text = canonical_json(&value);
        let again: Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(canonical_json(&again), text);
    }
}
