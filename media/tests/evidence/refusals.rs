//! What is refused, with which code, and that a bomb is refused before it costs anything.

use std::time::{Duration, Instant};

use evidence_media::{ArchiveKind, Class, FileType, Limits, Refusal, process};
use image::{Rgba, RgbaImage};

use crate::support::*;

fn code(class: Class, bytes: &[u8]) -> &'static str {
    match process(class, bytes, &Limits::default()) {
        Ok(out) => panic!("accepted as {:?}", out.file_type),
        Err(refusal) => {
            assert!(!refusal.to_string().is_empty());
            refusal.code()
        }
    }
}

/// zlib-compressed all-zero scanlines for a 1-bit greyscale picture: a few KB for many pixels.
fn black_1bit_scanlines(width: u32, height: u32) -> Vec<u8> {
    let row = 1 + width.div_ceil(8) as usize;
    miniz_oxide::deflate::compress_to_vec_zlib(&vec![0u8; row * height as usize], 9)
}

#[test]
fn a_decompression_bomb_is_refused_for_its_pixel_count() {
    let bomb = raw_png(8_000, 8_000, 1, 0, &black_1bit_scanlines(8_000, 8_000));
    assert!(
        bomb.len() < 64 * 1024,
        "a real bomb is small: {} bytes",
        bomb.len()
    );
    let started = Instant::now();
    let refusal = process(Class::Photo, &bomb, &Limits::default()).expect_err("refused");
    assert_eq!(refusal.code(), "too_many_pixels");
    assert!(started.elapsed() < Duration::from_millis(500));
    assert_eq!(
        refusal,
        Refusal::TooManyPixels {
            pixels: 64_000_000,
            max_pixels: 50_000_000
        }
    );
}

#[test]
fn a_twenty_thousand_pixel_square_bomb_is_refused_too() {
    let bomb = raw_png(20_000, 20_000, 1, 0, &black_1bit_scanlines(20_000, 20_000));
    let refusal = process(Class::Photo, &bomb, &Limits::default()).expect_err("refused");
    assert_eq!(refusal.code(), "dimensions_too_large");
    // With a generous side limit the pixel count still stops it.
    let wide = Limits {
        max_width: 65_535,
        max_height: 65_535,
        ..Limits::default()
    };
    assert_eq!(
        process(Class::Photo, &bomb, &wide)
            .expect_err("refused")
            .code(),
        "too_many_pixels"
    );
}

#[test]
fn a_png_header_claiming_100000_by_100000_is_refused_without_allocating() {
    let tiny = miniz_oxide::deflate::compress_to_vec_zlib(&[0, 0, 0, 0], 9);
    let header_only = raw_png(100_000, 100_000, 8, 6, &tiny);
    let started = Instant::now();
    let refusal =
        process(Class::Screenshot, &header_only, &Limits::default()).expect_err("refused");
    // Allocating 40 GB would have failed or taken seconds.
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(refusal.code(), "dimensions_too_large");
    assert!(refusal.to_string().contains("100000 × 100000"), "{refusal}");
}

#[test]
fn a_jpeg_cut_in_half_is_refused_as_truncated() {
    let whole = jpeg(&photo_like(320, 240, 11), 90);
    let half = &whole[..whole.len() / 2];
    assert_eq!(code(Class::Photo, half), "truncated");
    // Cut inside the header too.
    assert_eq!(code(Class::Photo, &whole[..40]), "truncated");
}

#[test]
fn a_png_or_webp_cut_short_is_refused() {
    let img = RgbaImage::from_fn(64, 64, |x, y| Rgba([x as u8, y as u8, 7, 255]));
    let png = png(&img, None, None);
    assert_eq!(code(Class::Screenshot, &png[..png.len() - 20]), "truncated");
    let webp = webp(&img);
    assert_eq!(
        code(Class::Screenshot, &webp[..webp.len() - 10]),
        "truncated"
    );
}

#[test]
fn svg_is_refused_in_every_class_even_behind_an_xml_prolog() {
    let plain = br#"<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>"#;
    let prolog = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- drawn -->\n<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>";
    for bytes in [&plain[..], &prolog[..]] {
        for class in [Class::Photo, Class::Screenshot, Class::ChatLog] {
            let refusal = process(class, bytes, &Limits::default()).expect_err("refused");
            assert_eq!(
                refusal,
                Refusal::TypeNotAllowed {
                    found: FileType::Svg,
                    class
                }
            );
        }
    }
}

#[test]
fn an_html_page_named_like_a_jpeg_is_refused_as_a_photo() {
    let page = b"<!DOCTYPE html><html><body><script>steal()</script></body></html>";
    let refusal = process(Class::Photo, page, &Limits::default()).expect_err("refused");
    assert_eq!(
        refusal,
        Refusal::TypeNotAllowed {
            found: FileType::Html,
            class: Class::Photo
        }
    );
    assert_eq!(refusal.code(), "type_not_allowed");
}

#[test]
fn a_jpeg_with_a_zip_appended_is_a_polyglot() {
    let mut input = jpeg(&photo_like(64, 48, 1), 90);
    input.extend_from_slice(&zip_with("payload.html", b"<b>hi</b>"));
    assert_eq!(code(Class::Photo, &input), "polyglot");
}

#[test]
fn a_zip_hidden_in_a_jpeg_comment_is_a_polyglot() {
    let zip = zip_with("a.txt", b"hello");
    let input = with_segments(&jpeg(&photo_like(64, 48, 2), 90), &[(0xFE, zip)]);
    let refusal = process(Class::Photo, &input, &Limits::default()).expect_err("refused");
    assert_eq!(
        refusal,
        Refusal::Polyglot {
            format: FileType::Jpeg,
            what: "a ZIP archive"
        }
    );
}

#[test]
fn a_jpeg_with_html_and_script_after_its_end_is_a_polyglot() {
    let mut input = jpeg(&photo_like(64, 48, 3), 90);
    input.extend_from_slice(b"<html><script>alert(document.cookie)</script></html>");
    assert_eq!(code(Class::Photo, &input), "polyglot");
}

#[test]
fn a_script_inside_a_jpeg_segment_is_a_polyglot() {
    let input = with_segments(
        &jpeg(&photo_like(64, 48, 4), 90),
        &[(0xFE, b"<SCRIPT>alert(1)</SCRIPT>".to_vec())],
    );
    assert_eq!(code(Class::Photo, &input), "polyglot");
}

#[test]
fn bytes_after_a_png_iend_make_a_polyglot() {
    let img = RgbaImage::from_fn(16, 16, |_, _| Rgba([1, 2, 3, 255]));
    let mut input = png(&img, None, None);
    input.extend_from_slice(b"trailing");
    assert_eq!(code(Class::Screenshot, &input), "polyglot");
}

#[test]
fn bytes_beyond_the_riff_length_of_a_webp_make_a_polyglot() {
    let img = RgbaImage::from_fn(16, 16, |_, _| Rgba([1, 2, 3, 255]));
    let mut input = webp(&img);
    input.extend_from_slice(b"%PDF-1.7 trailing");
    assert_eq!(code(Class::Screenshot, &input), "polyglot");
    let mut quiet = webp(&img);
    quiet.extend_from_slice(b"tail");
    assert_eq!(code(Class::Screenshot, &quiet), "polyglot");
}

#[test]
fn a_gif_is_refused() {
    let gif = b"GIF89a\x01\0\x01\0\x80\0\0\0\0\0\xff\xff\xff!\xf9\x04\x01\0\0\0\0,\0\0\0\0\x01\0\x01\0\0\x02\x02D\x01\0;";
    let refusal = process(Class::Photo, gif, &Limits::default()).expect_err("refused");
    assert_eq!(
        refusal,
        Refusal::TypeNotAllowed {
            found: FileType::Gif,
            class: Class::Photo
        }
    );
}

#[test]
fn archives_are_refused_in_every_class() {
    let zip = zip_with("chat.txt", b"hello");
    let gzip = b"\x1F\x8B\x08\0\0\0\0\0\0\x03\x03\0\0\0\0\0\0\0\0\0".to_vec();
    let seven = b"7z\xBC\xAF\x27\x1C\0\x04rest".to_vec();
    let rar = b"Rar!\x1A\x07\x01\0rest".to_vec();
    let mut tar = vec![0u8; 1024];
    tar[..8].copy_from_slice(b"chat.txt");
    tar[257..263].copy_from_slice(b"ustar\0");
    for (bytes, kind) in [
        (zip, ArchiveKind::Zip),
        (gzip, ArchiveKind::Gzip),
        (seven, ArchiveKind::SevenZip),
        (rar, ArchiveKind::Rar),
        (tar, ArchiveKind::Tar),
    ] {
        for class in [Class::Photo, Class::ChatLog] {
            let refusal = process(class, &bytes, &Limits::default()).expect_err("refused");
            assert_eq!(
                refusal,
                Refusal::TypeNotAllowed {
                    found: FileType::Archive(kind),
                    class
                }
            );
        }
    }
}

#[test]
fn programs_are_refused() {
    let elf = b"\x7FELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec();
    let mut pe = vec![0u8; 128];
    pe[..2].copy_from_slice(b"MZ");
    pe[0x3C] = 0x40;
    pe[0x40..0x44].copy_from_slice(b"PE\0\0");
    for bytes in [elf, pe, b"#!/bin/sh\necho hi\n".to_vec()] {
        let refusal = process(Class::ChatLog, &bytes, &Limits::default()).expect_err("refused");
        assert_eq!(
            refusal,
            Refusal::TypeNotAllowed {
                found: FileType::Executable,
                class: Class::ChatLog
            }
        );
    }
}

#[test]
fn an_empty_file_is_refused() {
    for class in [Class::Photo, Class::Screenshot, Class::ChatLog] {
        assert_eq!(process(class, b"", &Limits::default()), Err(Refusal::Empty));
    }
    assert_eq!(Refusal::Empty.code(), "empty");
}

#[test]
fn heic_is_sniffed_by_its_brand_and_checked_for_trailing_data() {
    // ftyp heic, an empty meta box, an empty mdat: structurally a HEIF file.
    let heic = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic\0\0\0\x08meta\0\0\0\x08mdat".to_vec();
    assert_eq!(evidence_media::sniff(&heic), FileType::Heic);
    let refusal = process(Class::Photo, &heic, &Limits::default()).expect_err("refused");
    if cfg!(feature = "heic") {
        assert_eq!(refusal.code(), "undecodable");
    } else {
        assert_eq!(
            refusal,
            Refusal::TypeNotSupported {
                found: FileType::Heic
            }
        );
    }
    let mut with_tail = heic.clone();
    with_tail.extend_from_slice(b"<html>");
    assert_eq!(code(Class::Photo, &with_tail), "polyglot");
    let avif = b"\0\0\0\x18ftypavif\0\0\0\0mif1avif\0\0\0\x08meta".to_vec();
    assert_eq!(evidence_media::sniff(&avif), FileType::Avif);
}

#[test]
fn every_refusal_has_a_stable_code_and_a_sentence() {
    let samples = [
        (Refusal::Empty, "empty"),
        (
            Refusal::TypeNotAllowed {
                found: FileType::Svg,
                class: Class::Photo,
            },
            "type_not_allowed",
        ),
        (
            Refusal::TypeNotSupported {
                found: FileType::Heic,
            },
            "type_not_supported",
        ),
        (
            Refusal::Polyglot {
                format: FileType::Jpeg,
                what: "a ZIP archive",
            },
            "polyglot",
        ),
        (
            Refusal::DimensionsTooLarge {
                width: 1,
                height: 2,
                max_width: 3,
                max_height: 4,
            },
            "dimensions_too_large",
        ),
        (
            Refusal::TooManyPixels {
                pixels: 1,
                max_pixels: 2,
            },
            "too_many_pixels",
        ),
        (
            Refusal::TooMuchMemory {
                needed_bytes: 1,
                max_bytes: 2,
            },
            "too_much_memory",
        ),
        (
            Refusal::Truncated {
                format: FileType::Png,
            },
            "truncated",
        ),
        (
            Refusal::Undecodable {
                format: FileType::Png,
                reason: "x".into(),
            },
            "undecodable",
        ),
        (Refusal::NotUtf8 { offset: 3 }, "not_utf8"),
    ];
    for (refusal, code) in samples {
        assert_eq!(refusal.code(), code);
        let message = refusal.to_string();
        assert!(message.ends_with('.'), "{message}");
        assert!(message.len() > 30, "{message}");
    }
}
