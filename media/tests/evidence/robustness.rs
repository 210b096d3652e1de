//! No input makes `process` panic or run away, and real-sized photos go through.

use std::time::{Duration, Instant};

use evidence_media::{Class, Limits, THUMBNAIL_SIDE, process, thumbnail};
use image::{GenericImageView, Rgba, RgbaImage};

use crate::support::*;

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    match rng.below(5) {
        0 => {
            for _ in 0..1 + rng.below(8) {
                let at = rng.below(out.len());
                out[at] ^= 1 << rng.below(8);
            }
        }
        1 => out.truncate(rng.below(out.len())),
        2 => {
            let at = rng.below(out.len());
            out[at] = rng.next_u64() as u8;
            let cut = at + rng.below(out.len() - at);
            out.truncate(cut.max(1));
        }
        3 => {
            // Overwrite a run in the header area, where lengths and dimensions live.
            let at = rng.below(out.len().min(200));
            for b in out.iter_mut().skip(at).take(1 + rng.below(6)) {
                *b = rng.next_u64() as u8;
            }
        }
        _ => {
            let at = rng.below(out.len());
            let len = rng.below(64);
            let chunk: Vec<u8> = out[at..(at + len).min(out.len())].to_vec();
            let to = rng.below(out.len());
            out.splice(to..to, chunk);
        }
    }
    out
}

#[test]
fn two_thousand_mutated_pictures_never_panic_nor_exceed_the_limits() {
    let img = RgbaImage::from_fn(48, 32, |x, y| Rgba([x as u8 * 5, y as u8 * 7, 99, 255]));
    let seeds = [
        jpeg(&photo_like(48, 32, 1), 85),
        with_segments(
            &jpeg(&photo_like(40, 30, 2), 85),
            &[exif_app1(6), icc_app2(&icc_profile())],
        ),
        png(&img, Some(&icc_profile()), Some(&exif_tiff(3))),
        webp(&img),
    ];
    let limits = Limits {
        max_width: 2_048,
        max_height: 2_048,
        max_pixels: 1_000_000,
        max_alloc_bytes: 64 << 20,
    };
    let mut rng = Rng::new(0xE51D_E9CE);
    let mut accepted = 0;
    let mut slowest = Duration::ZERO;
    for i in 0..2_000 {
        let input = mutate(&mut rng, &seeds[i % seeds.len()]);
        let class = if i % 2 == 0 {
            Class::Photo
        } else {
            Class::Screenshot
        };
        let started = Instant::now();
        let result = process(class, &input, &limits);
        let _ = thumbnail(class, &input, &limits);
        slowest = slowest.max(started.elapsed());
        match result {
            Ok(out) => {
                accepted += 1;
                let (w, h) = (out.width.expect("w"), out.height.expect("h"));
                assert!(u64::from(w) * u64::from(h) <= limits.max_pixels);
                assert!(w.max(h) <= limits.max_width.max(limits.max_height));
            }
            Err(refusal) => {
                assert!(!refusal.code().is_empty());
                if let evidence_media::Refusal::Undecodable { reason, .. } = &refusal {
                    assert!(
                        !reason.starts_with("decoder panic"),
                        "input {i} panicked: {reason}"
                    );
                }
            }
        }
    }
    assert!(
        slowest < Duration::from_secs(2),
        "slowest input took {slowest:?}"
    );
    assert!(
        accepted > 0,
        "some mutations (e.g. in pixel data) still decode"
    );
}

#[test]
fn a_twelve_megapixel_photo_passes_and_gets_a_thumbnail() {
    let photo = jpeg(&photo_like(4_000, 3_000, 12), 90);
    let out = process(Class::Photo, &photo, &Limits::default()).expect("accepted");
    assert_eq!((out.width, out.height), (Some(4_000), Some(3_000)));
    let thumb = image::load_from_memory(&out.thumbnail.expect("thumbnail")).expect("decodes");
    assert_eq!(thumb.dimensions(), (THUMBNAIL_SIDE, 240));
    assert!(out.perceptual_hash.is_some());
    // The fast thumbnail path gives the same size, and the same orientation handling.
    let fast = thumbnail(Class::Photo, &photo, &Limits::default()).expect("thumbnail");
    assert_eq!((fast.width, fast.height), (THUMBNAIL_SIDE, 240));
}

#[test]
fn the_fast_thumbnail_path_applies_the_orientation() {
    let input = with_segments(&jpeg(&photo_like(800, 600, 5), 90), &[exif_app1(6)]);
    let fast = thumbnail(Class::Photo, &input, &Limits::default()).expect("thumbnail");
    assert_eq!((fast.width, fast.height), (240, THUMBNAIL_SIDE));
    assert_eq!(exif_fields(&fast.bytes), None);
}
