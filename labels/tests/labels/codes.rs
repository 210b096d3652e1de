use std::collections::HashSet;

use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use sample_labels::{ALPHABET, CodeError, CodeKind, RecipientCode, SampleCode};

fn rng() -> StdRng {
    StdRng::seed_from_u64(0x5eed_c0de)
}

/// The symbols after the prefix, dashes removed.
fn body(code: &str, prefix: &str) -> Vec<u8> {
    code[prefix.len()..]
        .bytes()
        .filter(|&b| b != b'-')
        .collect()
}

fn is_symbol(b: u8) -> bool {
    ALPHABET.contains(&b)
}

#[test]
fn generated_recipient_codes_have_the_canonical_shape_and_do_not_repeat() {
    let mut rng = rng();
    let mut seen = HashSet::new();
    for _ in 0..20_000 {
        let code = RecipientCode::generate(&mut rng);
        let s = code.as_str();
        assert_eq!(s.len(), 12, "{s}");
        assert_eq!(&s[..3], "MB-");
        assert_eq!(&s[7..8], "-");
        assert!(body(s, "MB-").iter().all(|&b| is_symbol(b)), "{s}");
        assert!(seen.insert(s.to_owned()), "{s} generated twice");
    }
}

#[test]
fn generated_sample_codes_have_the_canonical_shape_and_do_not_repeat() {
    let mut rng = rng();
    let mut seen = HashSet::new();
    for _ in 0..20_000 {
        let code = SampleCode::generate(&mut rng);
        let s = code.as_str();
        assert_eq!(s.len(), 13, "{s}");
        assert_eq!(&s[..2], "S-");
        assert_eq!((&s[6..7], &s[11..12]), ("-", "-"), "{s}");
        assert!(body(s, "S-").iter().all(|&b| is_symbol(b)), "{s}");
        assert!(seen.insert(s.to_owned()), "{s} generated twice");
    }
}

#[test]
fn every_symbol_turns_up_in_every_random_position() {
    let mut rng = rng();
    let mut seen = vec![HashSet::new(); 7];
    for _ in 0..2_000 {
        let code = RecipientCode::generate(&mut rng);
        for (i, b) in body(code.as_str(), "MB").into_iter().take(7).enumerate() {
            seen[i].insert(b);
        }
    }
    assert!(seen.iter().all(|s| s.len() == 32), "{seen:?}");
}

#[test]
fn a_code_parses_back_to_itself() {
    let mut rng = rng();
    for _ in 0..1_000 {
        let r = RecipientCode::generate(&mut rng);
        assert_eq!(RecipientCode::parse(r.as_str()), Ok(r.clone()));
        assert_eq!(r.to_string().parse::<RecipientCode>(), Ok(r));
        let s = SampleCode::generate(&mut rng);
        let shown = s.to_string();
        assert_eq!(SampleCode::parse(&shown), Ok(s));
    }
}

#[test]
fn case_spacing_dashes_and_confusables_are_forgiven() {
    let code = RecipientCode::parse("MB-0K1Q-2X1G").or_else(|_| {
        // Find any valid code with a 0 and a 1 in it to exercise the confusables.
        let mut rng = rng();
        loop {
            let c = RecipientCode::generate(&mut rng);
            if c.as_str()[3..].contains('0') && c.as_str()[3..].contains('1') {
                return Ok::<_, CodeError>(c);
            }
        }
    });
    let code = code.expect("a code with 0 and 1");
    let s = code.as_str();
    let variants = [
        s.to_lowercase(),
        s.replace('-', ""),
        s.replace('-', " "),
        format!("  {}  ", s.replace('-', " - ")),
        format!("MB{}", s[2..].replace('0', "O")),
        format!("MB{}", s[2..].replace('1', "I")),
        format!("mb{}", s[2..].replace('1', "l").to_lowercase()),
        s.replace('-', "\u{2013}"),
        s.replace('-', "\t"),
    ];
    for v in variants {
        assert_eq!(RecipientCode::parse(&v), Ok(code.clone()), "{v:?}");
    }
}

/// Each single substitution (every position, every other symbol) and each adjacent transposition
/// of distinct symbols of `values`, which pass the check.
fn single_errors(values: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for i in 0..values.len() {
        for &other in ALPHABET.iter().filter(|&&o| o != values[i]) {
            let mut v = values.to_vec();
            v[i] = other;
            out.push(v);
        }
        if i + 1 < values.len() && values[i] != values[i + 1] {
            let mut v = values.to_vec();
            v.swap(i, i + 1);
            out.push(v);
        }
    }
    out
}

#[test]
fn every_single_substitution_and_adjacent_transposition_fails_the_check() {
    let mut rng = rng();
    let mut tried = 0usize;
    for _ in 0..2_000 {
        let r = RecipientCode::generate(&mut rng);
        for wrong in single_errors(&body(r.as_str(), "MB")) {
            let typed = format!("MB{}", String::from_utf8_lossy(&wrong));
            let got = RecipientCode::parse(&typed);
            assert_eq!(
                got,
                Err(CodeError::CheckFailed {
                    kind: CodeKind::Recipient
                }),
                "{typed} from {r}"
            );
            tried += 1;
        }
        let s = SampleCode::generate(&mut rng);
        for wrong in single_errors(&body(s.as_str(), "S")) {
            let typed = format!("S{}", String::from_utf8_lossy(&wrong));
            let got = SampleCode::parse(&typed);
            assert_eq!(
                got,
                Err(CodeError::CheckFailed {
                    kind: CodeKind::Sample
                }),
                "{typed} from {s}"
            );
            tried += 1;
        }
    }
    // 8 × 31 + up to 7 swaps per recipient code, 9 × 31 + up to 8 per sample code.
    assert!(tried > 2_000 * (8 * 31 + 9 * 31), "{tried}");
}

#[test]
fn every_transposition_of_every_symbol_pair_in_every_position_is_caught() {
    // Exhaustive over the pair: a fixed random code, each adjacent position, all 32 × 31 ordered
    // pairs of distinct symbols placed there; the check character recomputed by searching the
    // one that passes, then the pair swapped.
    let mut rng = rng();
    let base = body(RecipientCode::generate(&mut rng).as_str(), "MB");
    for pos in 0..6 {
        for &a in ALPHABET {
            for &b in ALPHABET.iter().filter(|&&b| b != a) {
                let mut v = base.clone();
                v[pos] = a;
                v[pos + 1] = b;
                let valid = ALPHABET.iter().find_map(|&c| {
                    v[7] = c;
                    let s = format!("MB{}", String::from_utf8_lossy(&v));
                    RecipientCode::parse(&s).ok().map(|_| v.clone())
                });
                let mut swapped = valid.expect("exactly one check character passes");
                swapped.swap(pos, pos + 1);
                let s = format!("MB{}", String::from_utf8_lossy(&swapped));
                assert!(
                    RecipientCode::parse(&s).is_err(),
                    "{s}: swapping {} and {} went unnoticed",
                    a as char,
                    b as char
                );
            }
        }
    }
}

#[test]
fn malformed_codes_say_what_is_wrong() {
    let kind = CodeKind::Recipient;
    assert_eq!(
        RecipientCode::parse(""),
        Err(CodeError::WrongLength {
            kind,
            expected: 8,
            found: 0
        })
    );
    assert_eq!(
        RecipientCode::parse(" - "),
        Err(CodeError::WrongLength {
            kind,
            expected: 8,
            found: 0
        })
    );
    assert_eq!(
        RecipientCode::parse("MB-7K4Q-2XH"),
        Err(CodeError::WrongLength {
            kind,
            expected: 8,
            found: 7
        })
    );
    assert_eq!(
        RecipientCode::parse("MB-7K4Q-2XHMM"),
        Err(CodeError::WrongLength {
            kind,
            expected: 8,
            found: 9
        })
    );
    assert_eq!(
        RecipientCode::parse("MB-7K4Q-2XUM"),
        Err(CodeError::InvalidCharacter {
            kind,
            character: 'U',
            position: 11
        })
    );
    assert_eq!(
        RecipientCode::parse("MB-7K4Q_2XHM"),
        Err(CodeError::InvalidCharacter {
            kind,
            character: '_',
            position: 8
        })
    );
    assert_eq!(
        RecipientCode::parse("MB-7K4Q-2XЖM"),
        Err(CodeError::InvalidCharacter {
            kind,
            character: 'Ж',
            position: 11
        })
    );
    assert_eq!(
        RecipientCode::parse("7K4Q-2XHM"),
        Err(CodeError::WrongPrefix {
            kind,
            expected: "MB"
        })
    );
    let sample = SampleCode::generate(&mut rng());
    assert_eq!(
        RecipientCode::parse(sample.as_str()),
        Err(CodeError::WrongPrefix {
            kind,
            expected: "MB"
        })
    );
    let recipient = RecipientCode::generate(&mut rng());
    assert_eq!(
        SampleCode::parse(recipient.as_str()),
        Err(CodeError::WrongPrefix {
            kind: CodeKind::Sample,
            expected: "S"
        })
    );
    let err = RecipientCode::parse("MB-7K4Q-2XUM").expect_err("U is no symbol");
    assert_eq!(
        err.to_string(),
        "'U' (character 11) cannot be part of a recipient code"
    );
}

#[test]
fn a_valid_code_with_one_wrong_character_reports_a_failed_check() {
    let code = RecipientCode::generate(&mut rng());
    let s = code.as_str();
    let last = s.chars().last().expect("not empty");
    let other = if last == 'A' { 'B' } else { 'A' };
    let typed = format!("{}{other}", &s[..s.len() - 1]);
    assert_eq!(
        RecipientCode::parse(&typed),
        Err(CodeError::CheckFailed {
            kind: CodeKind::Recipient
        })
    );
}

proptest! {
    #[test]
    fn any_string_parses_or_is_refused_without_panicking(input in any::<String>()) {
        if let Ok(code) = RecipientCode::parse(&input) {
            prop_assert_eq!(RecipientCode::parse(code.as_str()), Ok(code.clone()));
        }
        if let Ok(code) = SampleCode::parse(&input) {
            prop_assert_eq!(SampleCode::parse(code.as_str()), Ok(code.clone()));
        }
    }

    #[test]
    fn code_like_strings_parse_or_are_refused_without_panicking(input in "[MBSmbs0-9A-Za-z \\-_#ОЖ]{0,16}") {
        let _ = RecipientCode::parse(&input);
        let _ = SampleCode::parse(&input);
    }

    #[test]
    fn a_code_survives_any_mix_of_case_and_separators(seed in any::<u64>(), seps in proptest::collection::vec(0u8..4, 13), lower in proptest::collection::vec(any::<bool>(), 13)) {
        let code = SampleCode::generate(&mut StdRng::seed_from_u64(seed));
        let mut typed = String::new();
        for (i, c) in code.as_str().chars().filter(|&c| c != '-').enumerate() {
            typed.push_str(["", " ", "-", " - "][usize::from(seps[i])]);
            typed.push(if lower[i] { c.to_ascii_lowercase() } else { c });
        }
        prop_assert_eq!(SampleCode::parse(&typed), Ok(code));
    }
}
