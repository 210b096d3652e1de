//! Recipient codes and sample codes: short random Crockford base32 codes with a check character.
//! This module makes and reads codes; it must never derive a code from another id (a sample code
//! says nothing about the task, the volunteer or the shop) and never accept a code whose check
//! character does not match.
//!
//! # Formats
//! | code | canonical form | random symbols | space |
//! |---|---|---|---|
//! | recipient | `MB-XXXX-XXXC` | 7 | 32^7 = 2^35 ≈ 34 billion |
//! | sample | `S-XXXX-XXXX-C` | 8 | 32^8 = 2^40 ≈ 1.1 trillion |
//!
//! `X` is a random symbol, `C` the check character, both from Crockford's alphabet
//! `0123456789ABCDEFGHJKMNPQRSTVWXYZ` (no I, L, O, U). The server stores the canonical form under
//! a unique constraint and draws again on a collision; at a million live codes a fresh recipient
//! code collides with probability 1 in 34,000, a sample code 1 in 1.1 million. Sample codes are
//! longer because they also stand for a sample in the lab for years.
//!
//! # Reading
//! Case does not matter; spaces, tabs and dashes anywhere are ignored; O reads as 0, I and L as
//! 1 (Crockford's confusables). The prefix is required: without it a prefixed code that lost a
//! symbol or two would have the length of a bare one and pass its check one time in 32.
//!
//! # Check character
//! A Damm check over GF(32): symbols are elements of GF(2^5) (modulus x^5 + x^2 + 1), the running
//! value is `r ← 2·r + s` (field multiplication by x, addition is XOR) from `r = 0`, and the check
//! symbol `c` is chosen so that `2·r + c = 0`. That operation is a totally anti-symmetric
//! quasigroup, so the check catches:
//! - every single substitution: `2·r + s ≠ 2·r + s'` for `s ≠ s'`, and `r ↦ 2·r + s` is a bijection
//!   afterwards, so the difference survives to the end;
//! - every adjacent transposition, the check character included: `4r + 2a + b = 4r + 2b + a`
//!   means `3·(a + b) = 0`, so `a = b` (3 is not zero in GF(32)).
//!
//! Luhn mod N was not used: it misses one transposition pair (like `09`/`90` in base 10).
//! `tests/labels/codes.rs` checks both guarantees exhaustively on thousands of random codes.

use std::fmt;
use std::str::FromStr;

use rand::CryptoRng;

/// Crockford's base32 alphabet: value `i` is `ALPHABET[i]`.
pub const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// The value of one symbol as read (after upper-casing), with Crockford's confusables folded.
fn symbol_value(c: char) -> Option<u8> {
    let c = match c {
        'O' => '0',
        'I' | 'L' => '1',
        other => other,
    };
    let byte = u8::try_from(c).ok()?;
    ALPHABET
        .iter()
        .position(|&a| a == byte)
        .and_then(|i| u8::try_from(i).ok())
}

/// Multiplication by x (2) in GF(2^5) with modulus x^5 + x^2 + 1.
fn times_two(r: u8) -> u8 {
    let shifted = r << 1;
    if shifted & 0b10_0000 != 0 {
        (shifted ^ 0b10_0101) & 0b1_1111
    } else {
        shifted
    }
}

/// The running Damm value over `values` (each below 32).
fn damm(values: &[u8]) -> u8 {
    values.iter().fold(0, |r, &s| times_two(r) ^ s)
}

/// The check symbol's value for `values`: the one that brings the running value to zero.
pub fn check_value(values: &[u8]) -> u8 {
    times_two(damm(values))
}

/// Whether `values`, the check symbol last, pass the check.
pub fn check_passes(values: &[u8]) -> bool {
    damm(values) == 0
}

/// Which kind of code an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodeKind {
    /// A volunteer's [`RecipientCode`].
    Recipient,
    /// A lab's [`SampleCode`].
    Sample,
}

impl fmt::Display for CodeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CodeKind::Recipient => "recipient",
            CodeKind::Sample => "sample",
        })
    }
}

/// Why a typed or scanned code was not accepted. `Display` is a sentence an operator can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// The wrong number of symbols after the prefix (separators not counted).
    #[error("a {kind} code has {expected} characters after its prefix, this one has {found}")]
    WrongLength {
        /// The kind of code expected.
        kind: CodeKind,
        /// Symbols a code of this kind has, check character included.
        expected: usize,
        /// Symbols found.
        found: usize,
    },
    /// A character that is no Crockford symbol (U, punctuation, letters from other scripts).
    #[error("{character:?} (character {position}) cannot be part of a {kind} code")]
    InvalidCharacter {
        /// The kind of code expected.
        kind: CodeKind,
        /// The character as typed.
        character: char,
        /// Its position in the input, counting characters from 1.
        position: usize,
    },
    /// Another prefix or none (e.g. a sample code where a recipient code belongs).
    #[error("a {kind} code starts with {expected}")]
    WrongPrefix {
        /// The kind of code expected.
        kind: CodeKind,
        /// The prefix that kind has.
        expected: &'static str,
    },
    /// Well-formed, but a character is mistyped or two are swapped.
    #[error("this {kind} code is mistyped: its check character does not match")]
    CheckFailed {
        /// The kind of code expected.
        kind: CodeKind,
    },
}

/// The shape of one kind of code.
struct Format {
    kind: CodeKind,
    prefix: &'static str,
    /// Symbols per dash-separated group after the prefix; the last symbol is the check.
    groups: &'static [usize],
}

const RECIPIENT: Format = Format {
    kind: CodeKind::Recipient,
    prefix: "MB",
    groups: &[4, 4],
};

const SAMPLE: Format = Format {
    kind: CodeKind::Sample,
    prefix: "S",
    groups: &[4, 4, 1],
};

impl Format {
    fn symbols(&self) -> usize {
        self.groups.iter().sum()
    }

    fn generate<R: CryptoRng + ?Sized>(&self, rng: &mut R) -> String {
        let random = self.symbols() - 1;
        // The top five bits of a u32: 32 divides 2^32, so every symbol is equally likely.
        let mut values: Vec<u8> = (0..random).map(|_| (rng.next_u32() >> 27) as u8).collect();
        values.push(check_value(&values));
        self.canonical(&values)
    }

    fn canonical(&self, values: &[u8]) -> String {
        let mut out = String::with_capacity(self.prefix.len() + values.len() + self.groups.len());
        out.push_str(self.prefix);
        let mut rest = values;
        for &len in self.groups {
            let (group, tail) = rest.split_at(len.min(rest.len()));
            out.push('-');
            out.extend(
                group
                    .iter()
                    .map(|&v| char::from(ALPHABET[usize::from(v & 31)])),
            );
            rest = tail;
        }
        out
    }

    fn parse(&self, input: &str) -> Result<String, CodeError> {
        let kind = self.kind;
        // (upper-cased character, 1-based position in the input) of everything but separators.
        let mut chars: Vec<(char, usize)> = Vec::new();
        for (i, c) in input.chars().enumerate() {
            if c.is_whitespace() || is_dash(c) {
                continue;
            }
            if !c.is_ascii_alphanumeric() {
                return Err(CodeError::InvalidCharacter {
                    kind,
                    character: c,
                    position: i + 1,
                });
            }
            chars.push((c.to_ascii_uppercase(), i + 1));
        }
        let expected = self.symbols();
        if chars.is_empty() {
            return Err(CodeError::WrongLength {
                kind,
                expected,
                found: 0,
            });
        }
        let has_prefix = chars.len() >= self.prefix.len()
            && chars
                .iter()
                .zip(self.prefix.chars())
                .all(|(&(c, _), p)| c == p);
        if !has_prefix {
            return Err(CodeError::WrongPrefix {
                kind,
                expected: self.prefix,
            });
        }
        let body = &chars[self.prefix.len()..];
        if body.len() != expected {
            return Err(CodeError::WrongLength {
                kind,
                expected,
                found: body.len(),
            });
        }
        let mut values = Vec::with_capacity(expected);
        for &(c, position) in body {
            let value = symbol_value(c).ok_or(CodeError::InvalidCharacter {
                kind,
                character: original_char(input, position).unwrap_or(c),
                position,
            })?;
            values.push(value);
        }
        if !check_passes(&values) {
            return Err(CodeError::CheckFailed { kind });
        }
        Ok(self.canonical(&values))
    }
}

/// Dashes a keyboard or a word processor may produce: hyphen-minus, the Unicode hyphens and dashes
/// and the minus sign.
fn is_dash(c: char) -> bool {
    matches!(c, '-' | '\u{2010}'..='\u{2015}' | '\u{2212}')
}

fn original_char(input: &str, position: usize) -> Option<char> {
    input.chars().nth(position.checked_sub(1)?)
}

macro_rules! code_type {
    ($(#[$doc:meta])* $name:ident, $format:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// A fresh random code. The server passes the OS RNG; tests a seeded one.
            pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
                $name($format.generate(rng))
            }

            /// Reads a typed or scanned code (see the module documentation for what is
            /// tolerated) and returns it in canonical form.
            pub fn parse(input: &str) -> Result<Self, CodeError> {
                $format.parse(input).map($name)
            }

            /// The canonical form, as stored and printed.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = CodeError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::parse(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

code_type!(
    /// What a volunteer writes instead of their name on an order: `MB-XXXX-XXXC`, 7 random symbols
    /// (35 bits) and a check character.
    RecipientCode,
    RECIPIENT
);

code_type!(
    /// The blind code a lab knows a sample by: `S-XXXX-XXXX-C`, 8 random symbols (40 bits) and a
    /// check character. Only characters of Code 128's set B, so the barcode is plain set B.
    SampleCode,
    SAMPLE
);
