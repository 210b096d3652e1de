//! Perceptual hashes: a re-encoded or resized copy of a photo is a near duplicate, a different
//! photo is not, and screenshots get none.

use evidence_media::{Class, Limits, NEAR_DUPLICATE, perceptual_distance, process};
use image::imageops::FilterType;

use crate::support::*;

fn hash(class: Class, bytes: &[u8]) -> Option<u64> {
    process(class, bytes, &Limits::default())
        .expect("accepted")
        .perceptual_hash
}

#[test]
fn the_same_photo_reencoded_smaller_and_worse_is_a_near_duplicate() {
    let original = photo_like(1200, 900, 42);
    let first = hash(Class::Photo, &jpeg(&original, 92)).expect("photos get a hash");
    let smaller = image::imageops::resize(&original, 800, 600, FilterType::Triangle);
    let second = hash(Class::Photo, &jpeg(&smaller, 55)).expect("hash");
    let distance = perceptual_distance(first, second);
    assert!(distance <= NEAR_DUPLICATE, "distance {distance}");
}

#[test]
fn different_photos_are_not_near_duplicates() {
    let hashes: Vec<u64> = (100..106)
        .map(|seed| hash(Class::Photo, &jpeg(&photo_like(640, 480, seed), 90)).expect("hash"))
        .collect();
    for (i, a) in hashes.iter().enumerate() {
        for b in &hashes[i + 1..] {
            let distance = perceptual_distance(*a, *b);
            assert!(distance > NEAR_DUPLICATE, "distance {distance}");
        }
    }
}

#[test]
fn screenshots_are_compared_by_exact_hash_only() {
    assert_eq!(
        hash(Class::Screenshot, &jpeg(&photo_like(200, 400, 9), 90)),
        None
    );
}

#[test]
fn distance_is_the_number_of_differing_bits() {
    assert_eq!(perceptual_distance(0, 0), 0);
    assert_eq!(perceptual_distance(0, u64::MAX), 64);
    assert_eq!(perceptual_distance(0b1011, 0b0001), 2);
}
