//! Test pictures made in code: photo-like content, hand-built EXIF/XMP/ICC segments and PNG
//! chunks, and readers that list what metadata a file still carries.

#![allow(dead_code)]

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::{ExtendedColorType, ImageDecoder, ImageEncoder, RgbImage, RgbaImage};

/// A small deterministic PRNG (xorshift64*), so tests need no `rand`.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// Photo-like content: two smooth gradients whose directions depend on the seed, a few soft
/// discs (the "objects"), and sensor-like noise. Large pictures are drawn at a quarter of their
/// size and scaled up before the noise is added (drawing 12 MP in a debug build takes seconds).
pub fn photo_like(width: u32, height: u32, seed: u64) -> RgbImage {
    if width >= 1_000 && height >= 1_000 {
        let small = draw(width / 4, height / 4, seed);
        let mut img =
            image::imageops::resize(&small, width, height, image::imageops::FilterType::Triangle);
        let mut rng = Rng::new(seed ^ 0xA5A5);
        for chunk in img.chunks_mut(3) {
            let noise = (rng.next_u64() % 17) as u8;
            for c in chunk {
                *c = c.saturating_add(noise).saturating_sub(8);
            }
        }
        return img;
    }
    draw(width, height, seed)
}

fn draw(width: u32, height: u32, seed: u64) -> RgbImage {
    let mut rng = Rng::new(seed);
    let angle = (rng.below(360) as f32).to_radians();
    let (dx, dy) = (angle.cos(), angle.sin());
    let base = [
        rng.below(200) as f32,
        rng.below(200) as f32,
        rng.below(200) as f32,
    ];
    let discs: Vec<(f32, f32, f32, [f32; 3])> = (0..6)
        .map(|_| {
            (
                rng.below(width as usize) as f32,
                rng.below(height as usize) as f32,
                (width.min(height) as f32) * (0.05 + rng.below(20) as f32 / 100.0),
                [
                    rng.below(256) as f32,
                    rng.below(256) as f32,
                    rng.below(256) as f32,
                ],
            )
        })
        .collect();
    let (w, h) = (width as f32, height as f32);
    let mut img = RgbImage::new(width, height);
    for (x, y, px) in img.enumerate_pixels_mut() {
        let (fx, fy) = (x as f32, y as f32);
        let t = ((fx / w) * dx + (fy / h) * dy + 1.0) / 2.0;
        let mut c = [
            base[0] + 55.0 * t,
            base[1] + 40.0 * (1.0 - t),
            base[2] + 50.0 * t,
        ];
        for &(cx, cy, r, col) in &discs {
            let d2 = (fx - cx).powi(2) + (fy - cy).powi(2);
            let k = (1.0 - d2 / (r * r)).clamp(0.0, 1.0);
            for i in 0..3 {
                c[i] = c[i] * (1.0 - k) + col[i] * k;
            }
        }
        let noise = (rng.next_u64() % 17) as f32 - 8.0;
        px.0 = [
            (c[0] + noise).clamp(0.0, 255.0) as u8,
            (c[1] + noise).clamp(0.0, 255.0) as u8,
            (c[2] + noise).clamp(0.0, 255.0) as u8,
        ];
    }
    img
}

pub fn jpeg(img: &RgbImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality)
        .write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            ExtendedColorType::Rgb8,
        )
        .expect("encode jpeg");
    out
}

pub fn png(img: &RgbaImage, icc: Option<&[u8]>, exif: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = PngEncoder::new(&mut out);
    if let Some(icc) = icc {
        encoder.set_icc_profile(icc.to_vec()).expect("icc");
    }
    if let Some(exif) = exif {
        encoder.set_exif_metadata(exif.to_vec()).expect("exif");
    }
    encoder
        .write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            ExtendedColorType::Rgba8,
        )
        .expect("encode png");
    out
}

pub fn webp(img: &RgbaImage) -> Vec<u8> {
    let mut out = Vec::new();
    WebPEncoder::new_lossless(&mut out)
        .write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            ExtendedColorType::Rgba8,
        )
        .expect("encode webp");
    out
}

/// Inserts segments (marker, payload) right after SOI.
pub fn with_segments(jpeg: &[u8], segments: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut out = jpeg[..2].to_vec();
    for (marker, payload) in segments {
        out.extend_from_slice(&[0xFF, *marker]);
        let len = u16::try_from(payload.len() + 2).expect("segment too long");
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(payload);
    }
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// A little-endian TIFF/EXIF block with Orientation, Make, and a GPS IFD (Paris).
pub fn exif_tiff(orientation: u16) -> Vec<u8> {
    // Layout: header (8) | IFD0: 3 entries (2 + 36 + 4) at 8 | "Phone\0" at 50 |
    // GPS IFD: 4 entries (2 + 48 + 4) at 56 | latitude rationals at 110 | longitude at 134.
    let mut t = Vec::new();
    t.extend_from_slice(b"II*\0");
    t.extend_from_slice(&8u32.to_le_bytes());
    let entry = |t: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: u32| {
        t.extend_from_slice(&tag.to_le_bytes());
        t.extend_from_slice(&kind.to_le_bytes());
        t.extend_from_slice(&count.to_le_bytes());
        t.extend_from_slice(&value.to_le_bytes());
    };
    t.extend_from_slice(&3u16.to_le_bytes());
    entry(&mut t, 0x010F, 2, 6, 50); // Make -> "Phone\0"
    entry(&mut t, 0x0112, 3, 1, u32::from(orientation)); // Orientation (SHORT, inline)
    entry(&mut t, 0x8825, 4, 1, 56); // GPSInfo IFD pointer
    t.extend_from_slice(&0u32.to_le_bytes());
    assert_eq!(t.len(), 50);
    t.extend_from_slice(b"Phone\0");
    assert_eq!(t.len(), 56);
    t.extend_from_slice(&4u16.to_le_bytes());
    entry(&mut t, 0x0001, 2, 2, u32::from_le_bytes(*b"N\0\0\0")); // GPSLatitudeRef
    entry(&mut t, 0x0002, 5, 3, 110); // GPSLatitude
    entry(&mut t, 0x0003, 2, 2, u32::from_le_bytes(*b"E\0\0\0")); // GPSLongitudeRef
    entry(&mut t, 0x0004, 5, 3, 134); // GPSLongitude
    t.extend_from_slice(&0u32.to_le_bytes());
    assert_eq!(t.len(), 110);
    for (num, den) in [
        (48u32, 1u32),
        (51, 1),
        (2994, 100),
        (2, 1),
        (21, 1),
        (755, 100),
    ] {
        t.extend_from_slice(&num.to_le_bytes());
        t.extend_from_slice(&den.to_le_bytes());
    }
    t
}

/// An APP1 Exif payload.
pub fn exif_app1(orientation: u16) -> (u8, Vec<u8>) {
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(&exif_tiff(orientation));
    (0xE1, payload)
}

/// An APP1 XMP payload that repeats the location.
pub fn xmp_app1() -> (u8, Vec<u8>) {
    let mut payload = b"http://ns.adobe.com/xap/1.0/\0".to_vec();
    payload.extend_from_slice(
        br#"<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="48,51.499N" exif:GPSLongitude="2,21.125E"/></rdf:RDF></x:xmpmeta>"#,
    );
    (0xE1, payload)
}

/// An APP13 IPTC payload (Photoshop 3.0 resource with a city).
pub fn iptc_app13() -> (u8, Vec<u8>) {
    let mut payload = b"Photoshop 3.0\08BIM\x04\x04\0\0".to_vec();
    let record = b"\x1C\x02\x5A\x00\x05Paris";
    payload.extend_from_slice(&(record.len() as u32).to_be_bytes());
    payload.extend_from_slice(record);
    (0xED, payload)
}

pub fn comment(text: &str) -> (u8, Vec<u8>) {
    (0xFE, text.as_bytes().to_vec())
}

/// A syntactically plausible RGB display profile (header fields only, tags empty): enough for
/// every reader here, which copies ICC bytes verbatim.
pub fn icc_profile() -> Vec<u8> {
    let mut p = vec![0u8; 132];
    let len = p.len() as u32;
    p[0..4].copy_from_slice(&len.to_be_bytes());
    p[4..8].copy_from_slice(b"test");
    p[8..12].copy_from_slice(&[4, 0x40, 0, 0]);
    p[12..16].copy_from_slice(b"mntr");
    p[16..20].copy_from_slice(b"RGB ");
    p[20..24].copy_from_slice(b"XYZ ");
    p[36..40].copy_from_slice(b"acsp");
    // A recognisable body so a truncated copy would be noticed.
    for (i, b) in p[100..128].iter_mut().enumerate() {
        *b = i as u8 * 7;
    }
    p
}

pub fn icc_app2(profile: &[u8]) -> (u8, Vec<u8>) {
    let mut payload = b"ICC_PROFILE\0\x01\x01".to_vec();
    payload.extend_from_slice(profile);
    (0xE2, payload)
}

/// The markers of a JPEG's header segments (up to the first scan).
pub fn jpeg_segments(jpeg: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pos = 2;
    while pos + 4 <= jpeg.len() && jpeg[pos] == 0xFF {
        let marker = jpeg[pos + 1];
        let len = usize::from(u16::from_be_bytes([jpeg[pos + 2], jpeg[pos + 3]]));
        out.push((marker, jpeg[pos + 4..pos + 2 + len].to_vec()));
        if marker == 0xDA {
            break;
        }
        pos += 2 + len;
    }
    out
}

pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

pub fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc_input = kind.to_vec();
    crc_input.extend_from_slice(data);
    out.extend_from_slice(&crc32(&crc_input).to_be_bytes());
    out
}

/// The chunk types of a PNG, in order.
pub fn png_chunk_types(png: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut pos = 8;
    while pos + 8 <= png.len() {
        let len = u32::from_be_bytes([png[pos], png[pos + 1], png[pos + 2], png[pos + 3]]) as usize;
        out.push(String::from_utf8_lossy(&png[pos + 4..pos + 8]).into_owned());
        pos += 12 + len;
    }
    out
}

/// Inserts chunks right after IHDR.
pub fn png_with_chunks(png: &[u8], chunks: &[Vec<u8>]) -> Vec<u8> {
    let ihdr_end = 8 + 12 + 13;
    let mut out = png[..ihdr_end].to_vec();
    for chunk in chunks {
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(&png[ihdr_end..]);
    out
}

/// A PNG made of raw parts: any header, the given zlib-compressed scanlines.
pub fn raw_png(width: u32, height: u32, bit_depth: u8, color_type: u8, zlib: &[u8]) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[bit_depth, color_type, 0, 0, 0]);
    out.extend_from_slice(&png_chunk(b"IHDR", &ihdr));
    out.extend_from_slice(&png_chunk(b"IDAT", zlib));
    out.extend_from_slice(&png_chunk(b"IEND", b""));
    out
}

/// A ZIP archive with one stored file.
pub fn zip_with(name: &str, content: &[u8]) -> Vec<u8> {
    let crc = crc32(content);
    let mut z = Vec::new();
    let local = |z: &mut Vec<u8>| {
        z.extend_from_slice(b"PK\x03\x04");
        z.extend_from_slice(&20u16.to_le_bytes()); // version needed
        z.extend_from_slice(&0u16.to_le_bytes()); // flags
        z.extend_from_slice(&0u16.to_le_bytes()); // stored
        z.extend_from_slice(&[0, 0, 0x21, 0]); // time, date
        z.extend_from_slice(&crc.to_le_bytes());
        z.extend_from_slice(&(content.len() as u32).to_le_bytes());
        z.extend_from_slice(&(content.len() as u32).to_le_bytes());
        z.extend_from_slice(&(name.len() as u16).to_le_bytes());
        z.extend_from_slice(&0u16.to_le_bytes());
        z.extend_from_slice(name.as_bytes());
        z.extend_from_slice(content);
    };
    local(&mut z);
    let cd_offset = z.len() as u32;
    z.extend_from_slice(b"PK\x01\x02");
    z.extend_from_slice(&20u16.to_le_bytes()); // made by
    z.extend_from_slice(&20u16.to_le_bytes()); // needed
    z.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0x21, 0]);
    z.extend_from_slice(&crc.to_le_bytes());
    z.extend_from_slice(&(content.len() as u32).to_le_bytes());
    z.extend_from_slice(&(content.len() as u32).to_le_bytes());
    z.extend_from_slice(&(name.len() as u16).to_le_bytes());
    z.extend_from_slice(&[0; 12]); // extra, comment, disk, attrs
    z.extend_from_slice(&0u32.to_le_bytes()); // local header offset
    z.extend_from_slice(name.as_bytes());
    let cd_size = z.len() as u32 - cd_offset;
    z.extend_from_slice(b"PK\x05\x06");
    z.extend_from_slice(&[0, 0, 0, 0]);
    z.extend_from_slice(&1u16.to_le_bytes());
    z.extend_from_slice(&1u16.to_le_bytes());
    z.extend_from_slice(&cd_size.to_le_bytes());
    z.extend_from_slice(&cd_offset.to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes());
    z
}

pub fn jpeg_icc(jpeg: &[u8]) -> Option<Vec<u8>> {
    let mut decoder = image::codecs::jpeg::JpegDecoder::new(Cursor::new(jpeg)).ok()?;
    decoder.icc_profile().ok().flatten()
}

pub fn png_icc(png: &[u8]) -> Option<Vec<u8>> {
    let mut decoder = image::codecs::png::PngDecoder::new(Cursor::new(png)).ok()?;
    decoder.icc_profile().ok().flatten()
}

/// What kamadak-exif finds, if anything.
pub fn exif_fields(bytes: &[u8]) -> Option<Vec<String>> {
    let exif = exif::Reader::new()
        .read_from_container(&mut Cursor::new(bytes))
        .ok()?;
    Some(exif.fields().map(|f| f.tag.to_string()).collect())
}
