//! Thumbnails of 12-megapixel JPEGs per second, against `vipsthumbnail` on the same files.
//!
//! Run: `cargo bench -p evidence-media --bench thumbnails` (needs `apt-get install libvips-tools`).
//! `MB_BENCH_FILES` sets how many photos are generated (default 20).
//!
//! Measured in one run, on the same files:
//! - ours, `thumbnail()`: sniff, structure and polyglot checks, JPEG decode at 1/8 DCT scale,
//!   EXIF orientation, Lanczos3 to 320 px, JPEG encode; one thread, then two threads;
//! - ours, `process()`: the same checks, full decode, served re-encode (JPEG q90, ICC kept), 320 px
//!   thumbnail, perceptual hash; one thread;
//! - `vipsthumbnail --size 320`: one process per file, and one process for all files (libvips
//!   threads as it likes, then with VIPS_CONCURRENCY=1).
//!
//! Our numbers read the files from memory (they were just written, so vips reads them from the page
//! cache); vips's include process start-up, which is what a server shelling out to it would pay.
//!
//! Two runs on the 2-core development machine (other builds running, load 1.6 to 2.5), 20 files,
//! vips 8.14.1, files per second: ours `thumbnail()` 19.0 / 17.0 (2 threads 30.4 / 23.8),
//! `process()` 4.7 / 3.9; vips one process per file 9.7 / 7.3, one process for all 20.2 / 15.5,
//! one process with one thread 18.5 / 17.6. So the thumbnail path is on par with libvips in one
//! process and twice as fast as spawning `vipsthumbnail` per file; `process()` costs about four
//! times a thumbnail because it decodes every DCT coefficient and re-encodes 12 MP at quality 90.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use evidence_media::{Class, Limits, process, thumbnail};
use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, ImageEncoder, RgbImage};

const WIDTH: u32 = 4_000;
const HEIGHT: u32 = 3_000;

fn main() {
    let files: usize = std::env::var("MB_BENCH_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let vips = find_vipsthumbnail();
    let dir = tempfile::tempdir().expect("temporary directory");
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).expect("output directory");

    eprintln!("generating {files} photo-like {WIDTH}×{HEIGHT} JPEGs (quality 90)...");
    let started = Instant::now();
    let paths: Vec<PathBuf> = (0..files)
        .map(|i| {
            let path = dir.path().join(format!("photo_{i:03}.jpg"));
            std::fs::write(&path, photo_jpeg(i as u64)).expect("write photo");
            path
        })
        .collect();
    let inputs: Vec<Vec<u8>> = paths
        .iter()
        .map(|p| std::fs::read(p).expect("read photo"))
        .collect();
    let mean_size = inputs.iter().map(Vec::len).sum::<usize>() / files.max(1);
    eprintln!(
        "generated in {:.1?}, mean size {:.1} MB",
        started.elapsed(),
        mean_size as f64 / 1e6
    );

    let limits = Limits::default();
    // Warm-up: caches, CPU feature detection, lazy statics.
    let _ = thumbnail(Class::Photo, &inputs[0], &limits).expect("thumbnail");
    run_vips(&vips, &paths[..1], &out_dir, None);

    let ours_thumb = time(|| {
        for input in &inputs {
            let thumb = thumbnail(Class::Photo, input, &limits).expect("thumbnail");
            assert_eq!((thumb.width, thumb.height), (320, 240));
        }
    });
    let ours_thumb_2 = time(|| {
        std::thread::scope(|scope| {
            for half in inputs.chunks(inputs.len().div_ceil(2).max(1)) {
                let limits = &limits;
                scope.spawn(move || {
                    for input in half {
                        thumbnail(Class::Photo, input, limits).expect("thumbnail");
                    }
                });
            }
        });
    });
    let ours_process = time(|| {
        for input in &inputs {
            let out = process(Class::Photo, input, &limits).expect("process");
            assert_eq!(out.width, Some(WIDTH));
        }
    });
    let vips_each = time(|| {
        for path in &paths {
            run_vips(&vips, std::slice::from_ref(path), &out_dir, None);
        }
    });
    let vips_all = time(|| run_vips(&vips, &paths, &out_dir, None));
    let vips_all_1 = time(|| run_vips(&vips, &paths, &out_dir, Some("1")));

    let rate = |d: Duration| files as f64 / d.as_secs_f64();
    let row = |name: &str, d: Duration| {
        println!(
            "{name:<58} {:>8.1} files/s  {:>7.1} ms/file",
            rate(d),
            d.as_secs_f64() * 1e3 / files as f64
        );
    };
    println!("\n{files} files, {WIDTH}×{HEIGHT}, quality 90, thumbnails 320 px");
    row(
        "ours: thumbnail() (1/8 DCT-scaled decode), 1 thread",
        ours_thumb,
    );
    row("ours: thumbnail(), 2 threads", ours_thumb_2);
    row(
        "ours: process() (full decode + served JPEG + thumb + hash)",
        ours_process,
    );
    row("vipsthumbnail --size 320, one process per file", vips_each);
    row(
        "vipsthumbnail --size 320, one process for all files",
        vips_all,
    );
    row("vipsthumbnail, one process, VIPS_CONCURRENCY=1", vips_all_1);
    let ratio = |ours: Duration, theirs: Duration| rate(ours) / rate(theirs);
    println!("\nratios (ours / vips, files per second; > 1 means ours is faster)");
    println!(
        "thumbnail() 1 thread  / vips per file:      {:.2}",
        ratio(ours_thumb, vips_each)
    );
    println!(
        "thumbnail() 1 thread  / vips all files:     {:.2}",
        ratio(ours_thumb, vips_all)
    );
    println!(
        "thumbnail() 1 thread  / vips all, 1 thread: {:.2}",
        ratio(ours_thumb, vips_all_1)
    );
    println!(
        "thumbnail() 2 threads / vips all files:     {:.2}",
        ratio(ours_thumb_2, vips_all)
    );
    println!(
        "process()   1 thread  / vips per file:      {:.2}",
        ratio(ours_process, vips_each)
    );
    println!(
        "process()   1 thread  / vips all files:     {:.2}",
        ratio(ours_process, vips_all)
    );
}

fn time(work: impl FnOnce()) -> Duration {
    let started = Instant::now();
    work();
    started.elapsed()
}

fn find_vipsthumbnail() -> PathBuf {
    match Command::new("vipsthumbnail").arg("--version").output() {
        Ok(out) if out.status.success() => {
            eprintln!(
                "using {}",
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .next()
                    .unwrap_or("vipsthumbnail")
            );
            PathBuf::from("vipsthumbnail")
        }
        _ => panic!(
            "vipsthumbnail not found: this benchmark compares against libvips. Install it with \
             `apt-get install libvips-tools` (Debian/Ubuntu) and run again."
        ),
    }
}

fn run_vips(vips: &Path, inputs: &[PathBuf], out_dir: &Path, concurrency: Option<&str>) {
    let mut command = Command::new(vips);
    command
        .arg("--size")
        .arg("320")
        .arg("-o")
        .arg(out_dir.join("out_%s.jpg"))
        .args(inputs);
    if let Some(threads) = concurrency {
        command.env("VIPS_CONCURRENCY", threads);
    }
    let status = command.status().expect("run vipsthumbnail");
    assert!(status.success(), "vipsthumbnail failed: {status}");
}

/// A photo-like picture: sky-to-ground gradient, soft objects, texture and sensor noise.
fn photo_jpeg(seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let objects: Vec<(f32, f32, f32, [f32; 3])> = (0..8)
        .map(|_| {
            (
                (next() % u64::from(WIDTH)) as f32,
                (next() % u64::from(HEIGHT)) as f32,
                150.0 + (next() % 600) as f32,
                [
                    (next() % 256) as f32,
                    (next() % 256) as f32,
                    (next() % 256) as f32,
                ],
            )
        })
        .collect();
    let mut img = RgbImage::new(WIDTH, HEIGHT);
    for (x, y, px) in img.enumerate_pixels_mut() {
        let (fx, fy) = (x as f32, y as f32);
        let t = fy / HEIGHT as f32;
        let mut c = [
            90.0 + 100.0 * t + 20.0 * (fx / 300.0).sin(),
            140.0 + 40.0 * t,
            220.0 - 150.0 * t,
        ];
        for &(cx, cy, r, col) in &objects {
            let d2 = (fx - cx).powi(2) + (fy - cy).powi(2);
            if d2 < r * r {
                let k = 1.0 - d2 / (r * r);
                let texture = 12.0 * ((fx * 0.15).sin() * (fy * 0.11).cos());
                for i in 0..3 {
                    c[i] = c[i] * (1.0 - k) + (col[i] + texture) * k;
                }
            }
        }
        let noise = (next() % 13) as f32 - 6.0;
        px.0 = [
            (c[0] + noise).clamp(0.0, 255.0) as u8,
            (c[1] + noise).clamp(0.0, 255.0) as u8,
            (c[2] + noise).clamp(0.0, 255.0) as u8,
        ];
    }
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 90)
        .write_image(img.as_raw(), WIDTH, HEIGHT, ExtendedColorType::Rgb8)
        .expect("encode");
    out
}
