//! Pictures: the location and every other piece of metadata are gone from what is served, the
//! orientation is applied, the colour profile stays.

use evidence_media::{Class, FileType, Limits, THUMBNAIL_SIDE, process};
use image::{GenericImageView, Rgba, RgbaImage};

use crate::support::*;

/// A 400 × 300 JPEG as the sensor stored it, with a red block in the top-left corner, EXIF with
/// GPS and Orientation=6 (display rotated 90° clockwise), XMP, IPTC, a comment and an ICC profile.
fn phone_jpeg() -> Vec<u8> {
    let mut img = photo_like(400, 300, 7);
    for y in 0..40 {
        for x in 0..40 {
            img.put_pixel(x, y, image::Rgb([250, 0, 0]));
        }
    }
    with_segments(
        &jpeg(&img, 92),
        &[
            exif_app1(6),
            xmp_app1(),
            iptc_app13(),
            comment("taken at 12 rue de Rivoli"),
            icc_app2(&icc_profile()),
        ],
    )
}

#[test]
fn the_test_photo_really_carries_gps_before_processing() {
    let fields = exif_fields(&phone_jpeg()).expect("the input has EXIF");
    assert!(fields.iter().any(|f| f == "GPSLatitude"), "{fields:?}");
    assert!(fields.iter().any(|f| f == "Orientation"), "{fields:?}");
}

#[test]
fn gps_is_gone_from_the_served_copy() {
    let out = process(Class::Photo, &phone_jpeg(), &Limits::default()).expect("accepted");
    assert_eq!(out.file_type, FileType::Jpeg);
    assert_eq!(out.served_media_type, "image/jpeg");
    assert_eq!(exif_fields(&out.served), None, "no EXIF at all");
    let markers: Vec<u8> = jpeg_segments(&out.served).iter().map(|s| s.0).collect();
    assert!(
        !markers.contains(&0xE1),
        "no APP1 (EXIF, XMP): {markers:02X?}"
    );
    assert!(!markers.contains(&0xED), "no APP13 (IPTC): {markers:02X?}");
    assert!(!markers.contains(&0xFE), "no comment: {markers:02X?}");
    for needle in [
        &b"GPS"[..],
        b"Exif",
        b"xap/1.0",
        b"Photoshop",
        b"Rivoli",
        b"Phone",
    ] {
        assert!(
            memchr::memmem::find(&out.served, needle).is_none(),
            "{:?} left in the served copy",
            String::from_utf8_lossy(needle)
        );
    }
}

#[test]
fn the_orientation_is_applied_so_the_served_copy_stands_upright() {
    let out = process(Class::Photo, &phone_jpeg(), &Limits::default()).expect("accepted");
    assert_eq!((out.width, out.height), (Some(300), Some(400)));
    let served = image::load_from_memory(&out.served).expect("served decodes");
    assert_eq!(served.dimensions(), (300, 400));
    // Rotating 90° clockwise moves the stored top-left corner to the top-right.
    let Rgba([r, g, b, _]) = served.get_pixel(300 - 20, 20);
    assert!(r > 200 && g < 60 && b < 60, "top-right is red: {r} {g} {b}");
    let Rgba([r, _, _, _]) = served.get_pixel(20, 20);
    assert!(
        r < 200 || served.get_pixel(20, 20).0[1] > 60,
        "top-left is not the red block"
    );
}

#[test]
fn the_colour_profile_survives_in_the_served_copy() {
    let out = process(Class::Photo, &phone_jpeg(), &Limits::default()).expect("accepted");
    assert_eq!(jpeg_icc(&out.served), Some(icc_profile()));
}

#[test]
fn the_thumbnail_is_small_and_carries_no_metadata() {
    let out = process(Class::Photo, &phone_jpeg(), &Limits::default()).expect("accepted");
    let thumb = out.thumbnail.expect("a thumbnail");
    assert_eq!(out.thumbnail_media_type, Some("image/jpeg"));
    let decoded = image::load_from_memory(&thumb).expect("thumbnail decodes");
    let (w, h) = decoded.dimensions();
    assert!(
        w.max(h) <= THUMBNAIL_SIDE && w.max(h) >= THUMBNAIL_SIDE - 1,
        "{w}x{h}"
    );
    assert!(h > w, "the thumbnail is upright too");
    assert_eq!(exif_fields(&thumb), None);
    let markers: Vec<u8> = jpeg_segments(&thumb).iter().map(|s| s.0).collect();
    for marker in [0xE1, 0xE2, 0xED, 0xFE] {
        assert!(!markers.contains(&marker), "{markers:02X?}");
    }
}

#[test]
fn png_text_and_exif_chunks_are_stripped_but_the_colour_profile_is_kept() {
    let img = RgbaImage::from_fn(120, 80, |x, y| {
        Rgba([x as u8 * 2, y as u8 * 3, 90, 255 - x as u8])
    });
    let base = png(&img, Some(&icc_profile()), Some(&exif_tiff(1)));
    let input = png_with_chunks(
        &base,
        &[
            png_chunk(b"tEXt", b"Location\0Paris, 12 rue de Rivoli"),
            png_chunk(
                b"iTXt",
                b"XML:com.adobe.xmp\0\0\0\0\0<x:xmpmeta>GPS</x:xmpmeta>",
            ),
            png_chunk(b"zTXt", b"Comment\0\0x\x9c\x03\0\0\0\0\x01"),
        ],
    );
    let before = png_chunk_types(&input);
    for kind in ["eXIf", "tEXt", "iTXt", "iCCP"] {
        assert!(
            before.iter().any(|k| k == kind),
            "input has {kind}: {before:?}"
        );
    }
    let out = process(Class::Screenshot, &input, &Limits::default()).expect("accepted");
    assert_eq!(out.served_media_type, "image/png");
    let after = png_chunk_types(&out.served);
    for chunk in &after {
        assert!(
            ["IHDR", "iCCP", "IDAT", "IEND"].contains(&chunk.as_str()),
            "unexpected chunk {chunk} in {after:?}"
        );
    }
    assert_eq!(png_icc(&out.served), Some(icc_profile()));
    assert_eq!(exif_fields(&out.served), None);
    assert!(memchr::memmem::find(&out.served, b"Rivoli").is_none());
    let served = image::load_from_memory(&out.served).expect("decodes");
    assert_eq!(
        served.to_rgba8(),
        img,
        "PNG pixels are kept exactly, alpha too"
    );
}

#[test]
fn a_webp_screenshot_is_served_as_lossless_png() {
    let img = RgbaImage::from_fn(90, 160, |x, y| Rgba([x as u8, y as u8, 200, 255]));
    let out = process(Class::Screenshot, &webp(&img), &Limits::default()).expect("accepted");
    assert_eq!(out.file_type, FileType::Webp);
    assert_eq!(out.served_media_type, "image/png");
    assert_eq!(
        image::load_from_memory(&out.served)
            .expect("png")
            .to_rgba8(),
        img
    );
    assert_eq!((out.width, out.height), (Some(90), Some(160)));
    assert!(out.thumbnail.is_some());
}

#[test]
fn an_ultra_hdr_jpeg_with_its_gain_map_after_the_primary_image_is_accepted() {
    let primary = with_segments(
        &jpeg(&photo_like(64, 48, 3), 90),
        &[(0xE2, b"MPF\0II*\0".to_vec())],
    );
    let gain_map = jpeg(&photo_like(32, 24, 4), 80);
    let mut input = primary;
    input.extend_from_slice(&gain_map);
    let out = process(Class::Photo, &input, &Limits::default()).expect("accepted");
    assert_eq!((out.width, out.height), (Some(64), Some(48)));
}

#[test]
fn a_few_bytes_of_padding_after_a_jpeg_are_tolerated() {
    let mut input = jpeg(&photo_like(64, 48, 5), 90);
    input.extend_from_slice(&[0, 0, 0, 0]);
    assert!(process(Class::Photo, &input, &Limits::default()).is_ok());
}

const HEIC: &[u8] = include_bytes!("../fixtures/gradient-300x200.heic");

#[test]
fn a_heic_photo_is_served_as_a_jpeg_without_exif_or_refused_as_unsupported() {
    assert_eq!(evidence_media::sniff(HEIC), FileType::Heic);
    assert!(exif_heic_has_exif(HEIC), "the fixture carries EXIF");
    let result = process(Class::Photo, HEIC, &Limits::default());
    if cfg!(feature = "heic") {
        let out = result.expect("decoded with libheif");
        assert_eq!(out.served_media_type, "image/jpeg");
        assert_eq!((out.width, out.height), (Some(300), Some(200)));
        assert_eq!(exif_fields(&out.served), None);
        assert!(out.thumbnail.is_some() && out.perceptual_hash.is_some());
    } else {
        let refusal = result.expect_err("no HEIC decoder in this build");
        assert_eq!(refusal.code(), "type_not_supported");
    }
}

fn exif_heic_has_exif(bytes: &[u8]) -> bool {
    memchr::memmem::find(bytes, b"Exif").is_some()
}
