//! What every CSV export does to text it did not write itself: a cell a
//! spreadsheet would run as a formula is defused (OWASP's CSV injection
//! advice: a leading `=`, `+`, `-`, `@`, tab or carriage return gets a `'`).

/// `text` as a cell no spreadsheet runs.
pub fn cell(text: &str) -> String {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn formulas_are_defused_and_plain_text_is_kept() {
        for formula in ["=1+1", "+cmd", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(cell(formula), format!("'{formula}"));
        }
        for plain in ["", "Shop 1", "https://x.test/=a", "1-2"] {
            assert_eq!(cell(plain), plain);
        }
    }
}
