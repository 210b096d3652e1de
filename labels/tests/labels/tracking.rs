use sample_labels::normalise_tracking;

fn norm(s: &str) -> Option<String> {
    normalise_tracking(s)
}

#[test]
fn real_carrier_numbers_come_out_upper_case_without_separators() {
    let cases = [
        // UPS
        ("1Z 999 AA1 01 2345 6784", "1Z999AA10123456784"),
        ("1z999aa10123456784", "1Z999AA10123456784"),
        // USPS IMpb, 22 digits in groups of four
        ("9400 1000 0000 0000 0000 00", "9400100000000000000000"),
        // USPS scan with the GS1 application identifier and a group separator
        (
            "420221539101\u{1d}9400100000000000000000",
            "4202215391019400100000000000000000",
        ),
        // FedEx
        ("7489-7474-9120", "748974749120"),
        // DHL Express and DHL Paket
        ("JJD0001 2345 6789", "JJD000123456789"),
        ("00340434161094042557", "00340434161094042557"),
        // UPU S10: registered mail from China, EMS
        ("RR123456785CN", "RR123456785CN"),
        ("rr 123 456 785 cn", "RR123456785CN"),
        ("EE.123.456.785.RU", "EE123456785RU"),
        // Russian Post domestic (14 digits) and Nova Poshta (14 digits)
        ("125 476 54 12345 6", "12547654123456"),
        ("20 4500 0123 4567", "20450001234567"),
        // GLS, Hermes, Royal Mail
        ("GLS/123456789012", "GLS123456789012"),
        ("H1000 2345 6789 0123", "H1000234567890123"),
        ("AB 1234 5678 9GB", "AB123456789GB"),
        // pasted with a no-break space, an en dash and a trailing newline
        ("RR\u{a0}123456785\u{2013}CN\n", "RR123456785CN"),
    ];
    for (input, want) in cases {
        assert_eq!(norm(input).as_deref(), Some(want), "{input:?}");
    }
}

#[test]
fn the_same_number_typed_differently_matches() {
    let a = norm("1Z 999 AA1 01 2345 6784");
    let b = norm("1z-999-aa1-0123456784");
    let c = norm("1Z999AA1.0123.4567.84");
    assert!(a.is_some());
    assert_eq!(a, b);
    assert_eq!(a, c);
}

#[test]
fn things_that_cannot_be_tracking_numbers_are_refused() {
    let refused = [
        "",
        "   ",
        "- - -",
        "12345",
        "ABCDEFGHIJ",
        "not yet shipped",
        "RR123456785CN@",
        "RR12345678€CN",
        "ЖЖ123456785RU",
        "１２３４５６７８",
        "1Z999AA10123456784+",
        "12345678901234567890123456789012345678901",
    ];
    for input in refused {
        assert_eq!(norm(input), None, "{input:?}");
    }
}

#[test]
fn the_length_limits_are_inclusive() {
    assert_eq!(norm("A12345").as_deref(), Some("A12345"));
    let forty = "1".repeat(40);
    assert_eq!(norm(&forty), Some(forty.clone()));
    assert_eq!(norm(&format!("{forty}2")), None);
    assert_eq!(norm(&format!("{} 2 ", forty)), None);
}

proptest::proptest! {
    #[test]
    fn normalising_never_panics_and_is_idempotent(input in proptest::prelude::any::<String>()) {
        if let Some(n) = normalise_tracking(&input) {
            proptest::prop_assert_eq!(normalise_tracking(&n), Some(n.clone()));
            proptest::prop_assert!(n.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
        }
    }
}
