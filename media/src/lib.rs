//! Finishing an evidence upload (design/uploads.md, "Finishing an upload", steps 2 to 6): sniff
//! the type from the bytes against the evidence class's allow-list, refuse polyglots and
//! decompression bombs, decode pictures under explicit limits, apply the EXIF orientation and
//! re-encode without any metadata (keeping only the colour profile) so the location never leaves
//! the server, make a 320 px thumbnail and a perceptual hash.
//!
//! Architecture invariant: this crate is pure. It never does IO, never reads the clock, never
//! spawns threads or tasks, and never trusts a file name or a declared type. It must never panic
//! on any input; `process` also catches panics from the decoders and turns them into
//! [`Refusal::Undecodable`]. The server still runs it on a blocking thread: decoding a 12 MP
//! picture takes tens of milliseconds.
//!
//! What is served: for pictures, a fresh encoding of the pixels (JPEG stays JPEG at quality 90,
//! PNG stays PNG, WebP becomes PNG because the `image` crate writes only lossless WebP and PNG is
//! viewable everywhere, HEIC becomes JPEG); for chat logs, the original bytes (text and JSON are
//! announced as `text/plain`/`application/json`, HTML as `text/html`: the server must serve HTML
//! and PDF as attachments or under a sandboxing CSP, never inline on its own origin).
//!
//! # Polyglots
//! A file that is valid as its type but could also be read as another format is refused with
//! `polyglot`. Detected:
//! - JPEG: more than [`JPEG_MAX_PADDING`] bytes after the EOI marker, or padding that is not
//!   `00`/`FF`. Exception: when the JPEG has an MPF (multi-picture) APP2 segment, the trailing
//!   bytes may be further complete JPEGs (Ultra HDR gain maps, depth maps), each walked the same
//!   way, with nothing after the last. Motion photos (a video after the EOI) are refused: the app
//!   should export a still.
//! - PNG: any byte after the IEND chunk.
//! - WebP: any byte after the RIFF length, or chunks that do not tile the RIFF payload.
//! - HEIC: top-level boxes that do not tile the file exactly.
//! - Every picture, anywhere in the file: a ZIP local file header or end-of-central-directory
//!   record (validated field by field beyond the 4-byte signature, so compressed data almost never
//!   matches by chance), a RAR or 7-Zip signature, `%PDF-`, and, ASCII case-insensitive, `<html`,
//!   `<script`, `<?php`.
//! - PDF: a ZIP local file header or end-of-central-directory record anywhere. (HTML or script
//!   before `%PDF-` cannot happen: a PDF is only sniffed as one when `%PDF-` is at offset 0; with
//!   anything before it the file is text or HTML, and then the next rule applies.)
//! - Text, JSON and HTML: `%PDF-` anywhere (PDF readers accept a header after leading junk).
//!
//! Not detected: data hidden inside a picture's own segments that no other format's reader would
//! pick up (it is dropped by the re-encoding anyway), and a JPEG whose scan was cut short and
//! followed directly by an EOI marker (every JPEG decoder zero-fills the rest; see
//! `raster::decode_jpeg`).

mod raster;
mod refusal;
mod sniff;
mod structure;

#[cfg(feature = "heic")]
mod heic;

use std::panic::{AssertUnwindSafe, catch_unwind};

pub use raster::{
    MAX_ICC_BYTES, SERVED_JPEG_QUALITY, THUMBNAIL_JPEG_QUALITY, THUMBNAIL_SIDE, thumbnail_size,
};
pub use refusal::Refusal;
pub use sniff::{ArchiveKind, FileType, sniff};
pub use structure::JPEG_MAX_PADDING;

use structure::Flaw;

/// What an evidence file is meant to show; decides the allow-list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// A photo taken by the volunteer (product, parcel, label). Gets a perceptual hash.
    Photo,
    /// A screenshot (listing, order, payment). Compared by exact hash only.
    Screenshot,
    /// A chat export with the seller: text, JSON, HTML or PDF.
    ChatLog,
}

impl Class {
    /// Whether `found` is on this class's allow-list (HEIC is allowed even when this build cannot
    /// decode it; that is a different refusal).
    pub fn allows(&self, found: FileType) -> bool {
        match self {
            Class::Photo | Class::Screenshot => found.is_image(),
            Class::ChatLog => matches!(
                found,
                FileType::Text | FileType::Json | FileType::Html | FileType::Pdf
            ),
        }
    }
}

/// Decoding limits, checked against the header before any pixel is allocated. The server passes
/// its configured values; `Default` is safe for phone cameras (a 12 MP photo is 4000 × 3000, a
/// 200 MP one 16320 × 12240 and is refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Maximum width in pixels, as stored (before orientation).
    pub max_width: u32,
    /// Maximum height in pixels, as stored.
    pub max_height: u32,
    /// Maximum width × height. A decompression bomb is a small file with a huge pixel count.
    pub max_pixels: u64,
    /// Memory budget in bytes: the decoder gets half, the rotated copy and the encoders the rest.
    pub max_alloc_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_width: 12_000,
            max_height: 12_000,
            max_pixels: 50_000_000,
            max_alloc_bytes: 512 << 20,
        }
    }
}

/// The result of finishing an upload: what may be served, the thumbnail and the hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Processed {
    /// What the original was.
    pub file_type: FileType,
    /// The copy that may be served: for pictures re-encoded without any metadata, EXIF
    /// orientation applied, ICC colour profile kept; for chat logs the original bytes.
    pub served: Vec<u8>,
    /// Media type of `served`.
    pub served_media_type: &'static str,
    /// Pictures: longest side [`THUMBNAIL_SIDE`] px, JPEG, no metadata (no ICC either).
    pub thumbnail: Option<Vec<u8>>,
    /// `Some("image/jpeg")` when there is a thumbnail.
    pub thumbnail_media_type: Option<&'static str>,
    /// Photos only (screenshots are compared by exact hash), see [`perceptual_distance`].
    pub perceptual_hash: Option<u64>,
    /// Width of the served picture, after orientation.
    pub width: Option<u32>,
    /// Height of the served picture, after orientation.
    pub height: Option<u32>,
}

/// A thumbnail made on its own (see [`thumbnail`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thumbnail {
    /// JPEG bytes, no metadata.
    pub bytes: Vec<u8>,
    /// Always `image/jpeg`.
    pub media_type: &'static str,
    /// Width after orientation.
    pub width: u32,
    /// Height after orientation.
    pub height: u32,
}

/// Hashes at most this Hamming distance apart are "the same or a near-identical picture" and the
/// reuse is flagged for review. On the 64-bit pHash used here (DCT, median), re-encoding at a
/// lower quality and resizing move a photo by 0 to 4 bits, while unrelated photos sit between 22
/// and 42 (around 32 on average); 10 leaves room for mild edits without flagging merely similar
/// scenes.
pub const NEAR_DUPLICATE: u32 = 10;

/// The Hamming distance between two perceptual hashes (0 = same picture, 64 = opposite).
pub fn perceptual_distance(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

const THUMBNAIL_MEDIA_TYPE: &str = "image/jpeg";

/// Sniffs, checks and transforms one evidence file. Never panics: decoder panics are caught and
/// become [`Refusal::Undecodable`].
pub fn process(class: Class, bytes: &[u8], limits: &Limits) -> Result<Processed, Refusal> {
    let file_type = admit(class, bytes)?;
    if !file_type.is_image() {
        return Ok(Processed {
            file_type,
            served: bytes.to_vec(),
            served_media_type: file_type.media_type(),
            thumbnail: None,
            thumbnail_media_type: None,
            perceptual_hash: None,
            width: None,
            height: None,
        });
    }
    guarded(file_type, || process_image(class, file_type, bytes, limits))
}

/// Makes only the thumbnail, with the same checks as [`process`] before decoding (type,
/// allow-list, structure, polyglots, limits). For JPEG it decodes at a reduced DCT scale (1/8 for
/// a 12 MP photo) with jpeg-decoder, several times less work than a full decode; that decoder is
/// lenient about corrupt scan data, so this is for regenerating thumbnails of files [`process`]
/// already accepted (and for the benchmark), not for admitting new ones. Pictures only.
pub fn thumbnail(class: Class, bytes: &[u8], limits: &Limits) -> Result<Thumbnail, Refusal> {
    let file_type = admit(class, bytes)?;
    if !file_type.is_image() {
        return Err(Refusal::TypeNotAllowed {
            found: file_type,
            class,
        });
    }
    guarded(file_type, || {
        let pixels = match file_type {
            FileType::Jpeg => match raster::jpeg_thumbnail_scaled(bytes, limits)? {
                Some(pixels) => pixels,
                None => full_thumbnail_pixels(file_type, bytes, limits)?,
            },
            _ => full_thumbnail_pixels(file_type, bytes, limits)?,
        };
        let encoded = raster::encode_thumbnail(&pixels).map_err(|reason| Refusal::Undecodable {
            format: file_type,
            reason,
        })?;
        Ok(Thumbnail {
            bytes: encoded,
            media_type: THUMBNAIL_MEDIA_TYPE,
            width: pixels.width(),
            height: pixels.height(),
        })
    })
}

fn full_thumbnail_pixels(
    file_type: FileType,
    bytes: &[u8],
    limits: &Limits,
) -> Result<image::RgbImage, Refusal> {
    let decoded = decode_image(file_type, bytes, limits)?;
    raster::thumbnail_pixels(&decoded.image).map_err(|reason| Refusal::Undecodable {
        format: file_type,
        reason,
    })
}

/// Runs `work` with panics caught.
fn guarded<T>(
    file_type: FileType,
    work: impl FnOnce() -> Result<T, Refusal>,
) -> Result<T, Refusal> {
    match catch_unwind(AssertUnwindSafe(work)) {
        Ok(result) => result,
        Err(panic) => {
            let reason = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "the decoder failed".to_owned());
            Err(Refusal::Undecodable {
                format: file_type,
                reason: format!("decoder panic: {reason}"),
            })
        }
    }
}

/// Everything decided before decoding: empty, type, allow-list, structure, polyglots.
fn admit(class: Class, bytes: &[u8]) -> Result<FileType, Refusal> {
    if bytes.is_empty() {
        return Err(Refusal::Empty);
    }
    let found = sniff(bytes);
    if !class.allows(found) {
        if class == Class::ChatLog
            && found == FileType::Unknown
            && let Some(offset) = not_utf8_text(bytes)
        {
            return Err(Refusal::NotUtf8 { offset });
        }
        return Err(Refusal::TypeNotAllowed { found, class });
    }
    if let Some(what) = structure::embedded_signature(found, bytes) {
        return Err(Refusal::Polyglot {
            format: found,
            what,
        });
    }
    let flaw_to_refusal = |flaw: Flaw| match flaw {
        Flaw::Truncated => Refusal::Truncated { format: found },
        Flaw::Polyglot(what) => Refusal::Polyglot {
            format: found,
            what,
        },
        Flaw::Malformed(reason) => Refusal::Undecodable {
            format: found,
            reason,
        },
    };
    if found.is_image() {
        structure::check_image(found, bytes).map_err(flaw_to_refusal)?;
    }
    if found == FileType::Pdf && !pdf_has_end(bytes) {
        return Err(Refusal::Truncated { format: found });
    }
    Ok(found)
}

/// A text export in another encoding, or text with a corrupt byte: no NUL in the first 8 KiB
/// (binary files almost always have one) or a UTF-16 BOM, and not valid UTF-8. Returns the offset
/// of the first invalid byte.
fn not_utf8_text(bytes: &[u8]) -> Option<usize> {
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        return Some(0);
    }
    let head = &bytes[..bytes.len().min(8192)];
    if memchr::memchr(0, head).is_some() {
        return None;
    }
    match std::str::from_utf8(bytes) {
        Ok(_) => None,
        Err(e) => Some(e.valid_up_to()),
    }
}

/// `%%EOF` within the last 1 KiB (PDF readers look there; writers may add whitespace or a few
/// bytes after it).
fn pdf_has_end(bytes: &[u8]) -> bool {
    let tail = &bytes[bytes.len().saturating_sub(1024)..];
    memchr::memmem::rfind(tail, b"%%EOF").is_some()
}

fn decode_image(
    file_type: FileType,
    bytes: &[u8],
    limits: &Limits,
) -> Result<raster::Decoded, Refusal> {
    match file_type {
        #[cfg(feature = "heic")]
        FileType::Heic => heic::decode(bytes, limits),
        #[cfg(not(feature = "heic"))]
        FileType::Heic => Err(Refusal::TypeNotSupported { found: file_type }),
        _ => raster::decode(file_type, bytes, limits),
    }
}

fn process_image(
    class: Class,
    file_type: FileType,
    bytes: &[u8],
    limits: &Limits,
) -> Result<Processed, Refusal> {
    let decoded = decode_image(file_type, bytes, limits)?;
    let undecodable = |reason: String| Refusal::Undecodable {
        format: file_type,
        reason,
    };
    let (served, served_media_type) = match file_type {
        FileType::Png | FileType::Webp => (
            raster::encode_served_png(&decoded).map_err(undecodable)?,
            FileType::Png.media_type(),
        ),
        _ => (
            raster::encode_served_jpeg(&decoded).map_err(undecodable)?,
            FileType::Jpeg.media_type(),
        ),
    };
    let thumb = raster::thumbnail_pixels(&decoded.image).map_err(undecodable)?;
    let perceptual_hash = (class == Class::Photo).then(|| raster::perceptual_hash(&thumb));
    let thumbnail = raster::encode_thumbnail(&thumb).map_err(undecodable)?;
    Ok(Processed {
        file_type,
        served,
        served_media_type,
        thumbnail: Some(thumbnail),
        thumbnail_media_type: Some(THUMBNAIL_MEDIA_TYPE),
        perceptual_hash,
        width: Some(decoded.image.width()),
        height: Some(decoded.image.height()),
    })
}
