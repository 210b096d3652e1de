use rand::SeedableRng;
use rand::rngs::StdRng;
use sample_labels::{Label, LabelError, LabelSize, SampleCode, pdf, png, qr_payload, svg};

use crate::support::{decode_png, read_code128, read_qr};

fn code() -> SampleCode {
    SampleCode::generate(&mut StdRng::seed_from_u64(7))
}

fn label(lab_name: &str, lab_address: &[&str], note: Option<&str>) -> Label {
    Label {
        sample_code: code(),
        lab_name: lab_name.to_owned(),
        lab_address: lab_address.iter().map(|s| (*s).to_owned()).collect(),
        note: note.map(str::to_owned),
        size: LabelSize::Mm100x150,
    }
}

fn german_lab() -> Label {
    label(
        "Prüflabor Süd GmbH",
        &[
            "Warenannahme, Tor 3",
            "Großbeerenstraße 12",
            "70565 Stuttgart",
            "Deutschland",
        ],
        Some("Station Köln-Ehrenfeld · 2026-11-23"),
    )
}

fn cyrillic_lab() -> Label {
    label(
        "ООО «Испытательный центр „Качество“»",
        &[
            "ул. Льва Толстого, д. 16, офис № 4",
            "Київ, 01032",
            "Łódź / Ærøskøbing / Čačak",
        ],
        Some("Станция Лесная, 23.11.2026"),
    )
}

/// Text content of every `<text>` element, with (x, baseline, textLength).
fn svg_texts(doc: &str) -> Vec<(String, f32, f32, f32)> {
    let tree = roxmltree::Document::parse(doc).expect("the SVG is well-formed XML");
    let attr = |n: &roxmltree::Node, a: &str| -> f32 {
        n.attribute(a)
            .and_then(|v| v.parse().ok())
            .expect("a numeric attribute")
    };
    tree.descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| {
            (
                n.text().unwrap_or_default().to_owned(),
                attr(&n, "x"),
                attr(&n, "y"),
                attr(&n, "textLength"),
            )
        })
        .collect()
}

fn pdf_text(bytes: &[u8]) -> String {
    let doc = lopdf::Document::load_mem(bytes).expect("lopdf reads the PDF");
    doc.extract_text(&[1]).expect("text of page 1")
}

#[test]
fn the_png_is_the_label_size_at_the_requested_resolution() {
    let image = decode_png(&png(&german_lab(), 203).expect("a PNG"));
    assert_eq!((image.width, image.height), (799, 1199));
    assert_eq!(image.per_metre, Some(7992));
    let image = decode_png(&png(&german_lab(), 300).expect("a PNG"));
    assert_eq!((image.width, image.height), (1181, 1772));
}

#[test]
fn the_qr_code_in_the_png_holds_the_sample_code_and_the_lab_address() {
    let l = german_lab();
    for dpi in [203, 300] {
        let image = decode_png(&png(&l, dpi).expect("a PNG"));
        let found = read_qr(&image);
        let want = format!(
            "sample:{}\nPrüflabor Süd GmbH\nWarenannahme, Tor 3\nGroßbeerenstraße 12\n70565 Stuttgart\nDeutschland",
            l.sample_code
        );
        assert_eq!(found, vec![want.clone()], "at {dpi} dpi");
        assert_eq!(qr_payload(&l), want);
    }
}

#[test]
fn the_code_128_barcode_in_the_png_reads_back_as_the_sample_code_with_whole_pixel_modules() {
    let l = german_lab();
    for dpi in [150, 203, 300, 600] {
        let image = decode_png(&png(&l, dpi).expect("a PNG"));
        // Through the middle of the barcode (80 to 105 mm from the top) and near both its edges.
        for mm in [81.0, 92.5, 104.0] {
            let y = (mm * dpi as f32 / 25.4) as usize;
            assert_eq!(
                read_code128(&image, y).as_deref(),
                Ok(l.sample_code.as_str()),
                "{dpi} dpi, {mm} mm"
            );
        }
    }
}

#[test]
fn a_4x6_inch_label_has_the_same_design_centred() {
    let mut l = german_lab();
    l.size = LabelSize::Inch4x6;
    let image = decode_png(&png(&l, 203).expect("a PNG"));
    // Exactly 4 × 203 by 6 × 203.
    assert_eq!((image.width, image.height), (812, 1218));
    let y = ((92.5 + 1.2) * 203.0 / 25.4) as usize;
    assert_eq!(
        read_code128(&image, y).as_deref(),
        Ok(l.sample_code.as_str())
    );
    assert_eq!(read_qr(&image).len(), 1);
    let doc = lopdf::Document::load_mem(&pdf(&l).expect("a PDF")).expect("a PDF");
    assert_eq!(media_box(&doc), [0.0, 0.0, 288.0, 432.0]);
}

#[test]
fn the_svg_is_xml_with_the_code_the_address_and_both_barcodes() {
    let l = german_lab();
    let doc = svg(&l).expect("an SVG");
    let tree = roxmltree::Document::parse(&doc).expect("well-formed XML");
    let root = tree.root_element();
    assert_eq!(root.attribute("width"), Some("100mm"));
    assert_eq!(root.attribute("height"), Some("150mm"));
    assert_eq!(root.attribute("viewBox"), Some("0 0 100 150"));
    let texts: Vec<String> = svg_texts(&doc).into_iter().map(|t| t.0).collect();
    for want in [
        l.sample_code.as_str(),
        "Prüflabor Süd GmbH",
        "Großbeerenstraße 12",
        "70565 Stuttgart",
    ] {
        assert!(
            texts.iter().any(|t| t == want),
            "{want} missing from {texts:?}"
        );
    }
    let classes: Vec<&str> = tree
        .descendants()
        .filter_map(|n| n.attribute("class"))
        .collect();
    assert_eq!(classes, ["code128", "qr"]);
}

#[test]
fn text_that_needs_escaping_stays_text_in_the_svg() {
    let l = label(
        "Lab <script>alert(1)</script> & \"Sons\"",
        &["'Quotes' & <tags>"],
        None,
    );
    let doc = svg(&l).expect("an SVG");
    let texts: Vec<String> = svg_texts(&doc).into_iter().map(|t| t.0).collect();
    assert!(
        texts
            .iter()
            .any(|t| t.contains("<script>alert(1)</script>")),
        "{texts:?}"
    );
    assert!(!doc.contains("<script>"));
}

fn media_box(doc: &lopdf::Document) -> [f32; 4] {
    let pages = doc.get_pages();
    assert_eq!(pages.len(), 1);
    let page = pages.values().next().copied().expect("a page");
    let dict = doc.get_dictionary(page).expect("a page dictionary");
    let array = dict
        .get(b"MediaBox")
        .and_then(|o| o.as_array())
        .expect("a MediaBox");
    let v: Vec<f32> = array
        .iter()
        .map(|o| o.as_float().expect("a number"))
        .collect();
    [
        v[0],
        v[1],
        (v[2] * 100.0).round() / 100.0,
        (v[3] * 100.0).round() / 100.0,
    ]
}

#[test]
fn the_pdf_is_one_page_of_the_label_size_with_the_code_as_text() {
    let l = german_lab();
    let bytes = pdf(&l).expect("a PDF");
    assert!(bytes.starts_with(b"%PDF-"));
    assert!(bytes.trim_ascii_end().ends_with(b"%%EOF"));
    let doc = lopdf::Document::load_mem(&bytes).expect("lopdf reads the PDF");
    // 100 × 150 mm in points.
    assert_eq!(media_box(&doc), [0.0, 0.0, 283.46, 425.2]);
    let text = pdf_text(&bytes);
    assert!(text.contains(l.sample_code.as_str()), "{text}");
    assert!(text.contains("Großbeerenstraße 12"), "{text}");
    // The font is embedded: a FontFile2 stream whose Length1 is the font's size.
    let embedded = doc.objects.values().any(|o| {
        o.as_dict()
            .ok()
            .and_then(|d| d.get(b"FontFile2").ok())
            .is_some()
    });
    assert!(embedded);
}

#[test]
fn cyrillic_and_accented_addresses_print_without_replacement_characters() {
    let l = cyrillic_lab();
    let want = [
        "ООО «Испытательный центр „Качество“»",
        "ул. Льва Толстого, д. 16, офис № 4",
        "Київ, 01032",
        "Łódź / Ærøskøbing / Čačak",
    ];
    let svg_doc = svg(&l).expect("an SVG");
    let svg_text = svg_texts(&svg_doc)
        .into_iter()
        .map(|t| t.0)
        .collect::<Vec<_>>()
        .join(" ");
    let pdf_text = pdf_text(&pdf(&l).expect("a PDF"));
    for layer in [&svg_text, &pdf_text] {
        assert!(!layer.contains('?'), "{layer}");
        // Lines may wrap: compare word by word.
        for word in want.iter().flat_map(|w| w.split(' ')) {
            assert!(layer.contains(word), "{word} missing from {layer}");
        }
    }
    let image = decode_png(&png(&l, 203).expect("a PNG"));
    assert_eq!(read_qr(&image), vec![qr_payload(&l)]);
}

#[test]
fn characters_the_font_lacks_are_replaced_visibly_and_kept_in_the_qr_code() {
    let l = label("東京試験所 ☃", &["1-2-3 Chiyoda 🚚"], Some("ok \u{7}bell"));
    let svg_doc = svg(&l).expect("an SVG");
    let texts: Vec<String> = svg_texts(&svg_doc).into_iter().map(|t| t.0).collect();
    assert!(texts.iter().any(|t| t == "????? ?"), "{texts:?}");
    assert!(texts.iter().any(|t| t == "1-2-3 Chiyoda ?"), "{texts:?}");
    assert!(texts.iter().any(|t| t == "ok bell"), "{texts:?}");
    assert!(pdf_text(&pdf(&l).expect("a PDF")).contains("?????"));
    let image = decode_png(&png(&l, 203).expect("a PNG"));
    assert_eq!(
        read_qr(&image),
        vec![format!(
            "sample:{}\n東京試験所 ☃\n1-2-3 Chiyoda 🚚",
            l.sample_code
        )]
    );
}

#[test]
fn a_long_address_shrinks_and_wraps_inside_its_box() {
    let long_line =
        "Building 7, Entrance B, Floor 3, Room 312, Receiving Desk for Laboratory Samples";
    let l = label(
        "Federal Institute for Consumer Product Safety Testing and Market Surveillance",
        &[
            long_line,
            long_line,
            long_line,
            "Antidisestablishmentarianismstraßenverkehrsordnungsbehörde",
            "12345 Somewhere",
            "Country",
        ],
        Some("Relay station North-East, Warehouse District, Gate 14, 2026-11-23 14:05"),
    );
    let doc = svg(&l).expect("fits after shrinking");
    let texts = svg_texts(&doc);
    for (text, x, y, len) in &texts {
        assert!(
            *x >= 4.0 - 1e-3 && x + len <= 96.0 + 1e-3,
            "{text:?} spans {x}..{}",
            x + len
        );
        assert!(*y > 0.0 && *y < 150.0, "{text:?} at {y}");
        // Nothing runs into the rule under the address (61.5 mm) or the barcode (80 to 105 mm).
        assert!(*y <= 61.5 || *y >= 63.0, "{text:?} at {y}");
        assert!(!(80.0..=105.0).contains(y), "{text:?} at {y}");
    }
    let all: String = texts
        .iter()
        .map(|t| t.0.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    for word in [
        "Federal",
        "Surveillance",
        "Receiving",
        "Somewhere",
        "Country",
        "2026-11-23",
    ] {
        assert!(all.contains(word), "{word} lost");
    }
    let image = decode_png(&png(&l, 203).expect("a PNG"));
    assert_eq!(read_qr(&image), vec![qr_payload(&l)]);
}

#[test]
fn an_address_too_long_for_any_size_is_refused_not_cut() {
    let lines: Vec<String> = (0..40)
        .map(|i| format!("Address line number {i} with words"))
        .collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let l = label("Lab", &refs[..], None);
    assert!(matches!(
        svg(&l),
        Err(LabelError::AddressTooLong | LabelError::QrTooLarge { .. })
    ));
    let l = label("Lab", &refs[..20], None);
    assert_eq!(svg(&l), Err(LabelError::AddressTooLong));
    let note = "word ".repeat(200);
    let l = label("Lab", &["Street 1"], Some(&note));
    assert_eq!(pdf(&l), Err(LabelError::NoteTooLong));
}

#[test]
fn a_qr_payload_too_dense_to_print_is_refused() {
    let line = "x".repeat(90);
    let lines = vec![line.as_str(); 9];
    let l = label("Lab", &lines, None);
    assert!(matches!(
        png(&l, 203),
        Err(LabelError::QrTooLarge { .. }) | Err(LabelError::AddressTooLong)
    ));
}

#[test]
fn a_label_without_any_address_is_refused() {
    assert_eq!(
        svg(&label("  ", &["", "\n"], None)),
        Err(LabelError::NoAddress)
    );
}

#[test]
fn resolutions_outside_the_range_are_refused() {
    assert_eq!(png(&german_lab(), 72), Err(LabelError::Dpi { dpi: 72 }));
    assert_eq!(png(&german_lab(), 1200), Err(LabelError::Dpi { dpi: 1200 }));
}

#[test]
fn qr_payload_lines_never_contain_line_breaks_of_their_own() {
    let l = label("Lab\nName", &["Street\r\n1", "  ", "City"], None);
    assert_eq!(
        qr_payload(&l),
        format!("sample:{}\nLab Name\nStreet  1\nCity", l.sample_code)
    );
}

#[test]
fn sample_labels_are_written_for_a_person_to_look_at() {
    // Not an assertion: the files a developer opens to see the label as printed.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("sample-labels");
    std::fs::create_dir_all(&dir).expect("a folder");
    for (name, l) in [("german", german_lab()), ("cyrillic", cyrillic_lab())] {
        std::fs::write(
            dir.join(format!("{name}.png")),
            png(&l, 203).expect("a PNG"),
        )
        .expect("written");
        std::fs::write(dir.join(format!("{name}.svg")), svg(&l).expect("an SVG")).expect("written");
        std::fs::write(dir.join(format!("{name}.pdf")), pdf(&l).expect("a PDF")).expect("written");
    }
}
