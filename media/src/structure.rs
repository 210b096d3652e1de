//! Structure checks done before any decoder sees the bytes: each image format is walked segment by
//! segment to find where it really ends (a truncated file is refused, bytes after the end make a
//! polyglot), and the whole file is scanned for other formats' signatures.
//!
//! What counts as a polyglot is listed in the crate documentation (lib.rs, "Polyglots").

use crate::FileType;

/// Bytes of `00`/`FF` tolerated after a JPEG's EOI (some cameras and editors pad).
pub const JPEG_MAX_PADDING: usize = 16;

/// What a structure walk found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flaw {
    /// The file ends before the format's end marker.
    Truncated,
    /// Bytes after the format's end, or another format's signature inside.
    Polyglot(&'static str),
    /// The structure is broken in another way.
    Malformed(String),
}

/// Walks the container structure of an image and checks for trailing data.
pub fn check_image(format: FileType, b: &[u8]) -> Result<(), Flaw> {
    match format {
        FileType::Jpeg => check_jpeg(b),
        FileType::Png => check_png(b),
        FileType::Webp => check_webp(b),
        FileType::Heic => check_bmff(b),
        _ => Ok(()),
    }
}

fn check_jpeg(b: &[u8]) -> Result<(), Flaw> {
    let first = walk_jpeg(b)?;
    let rest = &b[first.end..];
    if rest.is_empty() {
        return Ok(());
    }
    if rest.len() <= JPEG_MAX_PADDING && rest.iter().all(|&x| x == 0 || x == 0xFF) {
        return Ok(());
    }
    if !first.has_mpf {
        return Err(Flaw::Polyglot("data after the end of the image"));
    }
    // Multi-picture JPEG: only further complete JPEGs may follow (no nesting beyond one level).
    let mut pos = first.end;
    while pos < b.len() {
        let tail = &b[pos..];
        if tail.len() <= JPEG_MAX_PADDING && tail.iter().all(|&x| x == 0 || x == 0xFF) {
            return Ok(());
        }
        if !tail.starts_with(b"\xFF\xD8\xFF") {
            return Err(Flaw::Polyglot("data after the end of the image"));
        }
        let next = walk_jpeg(tail).map_err(|flaw| match flaw {
            Flaw::Truncated => Flaw::Truncated,
            _ => Flaw::Polyglot("data after the end of the image"),
        })?;
        pos += next.end;
    }
    Ok(())
}

struct JpegWalk {
    /// Offset just after the EOI marker.
    end: usize,
    /// An APP2 segment starting with `MPF\0`.
    has_mpf: bool,
}

/// Walks markers from SOI to EOI, skipping segments by their length and entropy-coded data by
/// scanning for the next real marker.
fn walk_jpeg(b: &[u8]) -> Result<JpegWalk, Flaw> {
    if !b.starts_with(b"\xFF\xD8") {
        return Err(Flaw::Malformed("no start-of-image marker".into()));
    }
    let mut pos = 2usize;
    let mut seen_frame = false;
    let mut seen_scan = false;
    let mut has_mpf = false;
    loop {
        if pos >= b.len() {
            return Err(Flaw::Truncated);
        }
        if b[pos] != 0xFF {
            return Err(Flaw::Malformed(format!("expected a marker at byte {pos}")));
        }
        while pos < b.len() && b[pos] == 0xFF {
            pos += 1;
        }
        let Some(&marker) = b.get(pos) else {
            return Err(Flaw::Truncated);
        };
        pos += 1;
        match marker {
            0xD9 => {
                if !seen_scan {
                    return Err(Flaw::Malformed(
                        "no image data before the end marker".into(),
                    ));
                }
                return Ok(JpegWalk { end: pos, has_mpf });
            }
            // Standalone markers (restart markers outside a scan are tolerated, as decoders do).
            0x01 | 0xD0..=0xD7 => {}
            0x00 | 0xD8 => {
                return Err(Flaw::Malformed(format!(
                    "unexpected marker {marker:#04X} at byte {pos}"
                )));
            }
            _ => {
                let Some(len) = b.get(pos..pos + 2) else {
                    return Err(Flaw::Truncated);
                };
                let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
                if len < 2 {
                    return Err(Flaw::Malformed("segment length below 2".into()));
                }
                if pos + len > b.len() {
                    return Err(Flaw::Truncated);
                }
                let payload = &b[pos + 2..pos + len];
                match marker {
                    0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => seen_frame = true,
                    0xE2 if payload.starts_with(b"MPF\0") => has_mpf = true,
                    _ => {}
                }
                pos += len;
                if marker == 0xDA {
                    if !seen_frame {
                        return Err(Flaw::Malformed("scan before frame header".into()));
                    }
                    seen_scan = true;
                    pos = skip_entropy_coded(b, pos)?;
                }
            }
        }
    }
}

/// Returns the offset of the first marker after entropy-coded data: `FF` followed by anything but
/// a stuffed `00`, a restart marker or another `FF` fill byte.
fn skip_entropy_coded(b: &[u8], mut pos: usize) -> Result<usize, Flaw> {
    loop {
        let Some(at) = memchr::memchr(0xFF, &b[pos..]) else {
            return Err(Flaw::Truncated);
        };
        let i = pos + at;
        match b.get(i + 1) {
            None => return Err(Flaw::Truncated),
            Some(0x00 | 0xD0..=0xD7) => pos = i + 2,
            Some(0xFF) => pos = i + 1,
            Some(_) => return Ok(i),
        }
    }
}

fn check_png(b: &[u8]) -> Result<(), Flaw> {
    let mut pos = 8usize;
    let mut first = true;
    let mut seen_idat = false;
    loop {
        let Some(head) = b.get(pos..pos + 8) else {
            return Err(Flaw::Truncated);
        };
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let kind = &head[4..8];
        if len > 0x7FFF_FFFF || !kind.iter().all(u8::is_ascii_alphabetic) {
            return Err(Flaw::Malformed(format!("bad chunk header at byte {pos}")));
        }
        if first && kind != b"IHDR" {
            return Err(Flaw::Malformed("the first chunk is not IHDR".into()));
        }
        first = false;
        let end = pos + 12 + len as usize;
        if end > b.len() {
            return Err(Flaw::Truncated);
        }
        if kind == b"IDAT" {
            seen_idat = true;
        }
        pos = end;
        if kind == b"IEND" {
            if !seen_idat {
                return Err(Flaw::Malformed("no image data".into()));
            }
            return if pos == b.len() {
                Ok(())
            } else {
                Err(Flaw::Polyglot("data after the end of the image"))
            };
        }
    }
}

fn check_webp(b: &[u8]) -> Result<(), Flaw> {
    let Some(size) = b.get(4..8) else {
        return Err(Flaw::Truncated);
    };
    let riff_end = 8 + u32::from_le_bytes([size[0], size[1], size[2], size[3]]) as usize;
    if riff_end > b.len() {
        return Err(Flaw::Truncated);
    }
    let mut pos = 12usize;
    let mut chunks = 0usize;
    while pos < riff_end {
        let Some(head) = b.get(pos..pos + 8).filter(|_| pos + 8 <= riff_end) else {
            return Err(Flaw::Malformed(
                "a chunk header crosses the RIFF end".into(),
            ));
        };
        let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
        let end = pos + 8 + len + (len & 1);
        if end > riff_end {
            // The last chunk may omit its pad byte.
            if pos + 8 + len == riff_end && riff_end == b.len() {
                chunks += 1;
                break;
            }
            return Err(if riff_end == b.len() && end > b.len() {
                Flaw::Truncated
            } else {
                Flaw::Malformed("a chunk crosses the RIFF end".into())
            });
        }
        pos = end;
        chunks += 1;
    }
    if chunks == 0 {
        return Err(Flaw::Malformed("no chunks".into()));
    }
    if riff_end != b.len() {
        return Err(Flaw::Polyglot("data after the end of the image"));
    }
    Ok(())
}

/// ISO base media file format (HEIF): top-level boxes must tile the file.
fn check_bmff(b: &[u8]) -> Result<(), Flaw> {
    let mut pos = 0usize;
    let mut seen_meta = false;
    while pos < b.len() {
        let Some(head) = b.get(pos..pos + 8) else {
            return Err(Flaw::Polyglot("data after the end of the image"));
        };
        let size = u64::from(u32::from_be_bytes([head[0], head[1], head[2], head[3]]));
        let kind = &head[4..8];
        if !kind.iter().all(|c| c.is_ascii_graphic() || *c == b' ') {
            return Err(if pos > 0 {
                Flaw::Polyglot("data after the end of the image")
            } else {
                Flaw::Malformed("bad box header".into())
            });
        }
        if kind == b"meta" {
            seen_meta = true;
        }
        let (size, header) = match size {
            0 => ((b.len() - pos) as u64, 8),
            1 => {
                let Some(large) = b.get(pos + 8..pos + 16) else {
                    return Err(Flaw::Truncated);
                };
                let mut be = [0u8; 8];
                be.copy_from_slice(large);
                (u64::from_be_bytes(be), 16)
            }
            n => (n, 8),
        };
        if size < header {
            return Err(Flaw::Malformed(format!(
                "box smaller than its header at {pos}"
            )));
        }
        let end = (pos as u64).saturating_add(size);
        if end > b.len() as u64 {
            return Err(Flaw::Truncated);
        }
        pos = end as usize;
    }
    if !seen_meta {
        return Err(Flaw::Malformed("no meta box".into()));
    }
    Ok(())
}

/// Scans for signatures of formats that a reader would find inside this file.
pub fn embedded_signature(format: FileType, b: &[u8]) -> Option<&'static str> {
    match format {
        FileType::Jpeg | FileType::Png | FileType::Webp | FileType::Heic => {
            if let Some(what) = zip_inside(b) {
                return Some(what);
            }
            if memchr::memmem::find(b, b"Rar!\x1A\x07").is_some() {
                return Some("a RAR archive");
            }
            if memchr::memmem::find(b, b"7z\xBC\xAF\x27\x1C").is_some() {
                return Some("a 7-Zip archive");
            }
            if memchr::memmem::find(b, b"%PDF-").is_some() {
                return Some("a PDF header");
            }
            markup_inside(b)
        }
        FileType::Pdf => zip_inside(b),
        FileType::Text | FileType::Json | FileType::Html => memchr::memmem::find(b, b"%PDF-")
            .is_some()
            .then_some("a PDF header"),
        _ => None,
    }
}

/// `<html`, `<script` or `<?php`, ASCII case-insensitive.
fn markup_inside(b: &[u8]) -> Option<&'static str> {
    const NEEDLES: [(&[u8], &str); 3] = [
        (b"<html", "an HTML page"),
        (b"<script", "a script"),
        (b"<?php", "a PHP script"),
    ];
    for at in memchr::memchr_iter(b'<', b) {
        let rest = &b[at..];
        for (needle, what) in NEEDLES {
            if rest.len() >= needle.len() && rest[..needle.len()].eq_ignore_ascii_case(needle) {
                return Some(what);
            }
        }
    }
    None
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2).map(|x| u16::from_le_bytes([x[0], x[1]]))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .map(|x| u32::from_le_bytes([x[0], x[1], x[2], x[3]]))
}

/// A ZIP local file header or end-of-central-directory record, validated field by field so that
/// random compressed bytes almost never match:
/// - local file header: version needed ≤ 63, a known compression method (stored, deflate,
///   deflate64, bzip2, lzma, zstd, xz, ppmd, AES), a file name of 1..=1024 bytes that fits in the
///   file;
/// - EOCD: disk numbers equal and ≤ 1, entries on this disk ≤ total entries, the central
///   directory (offset + size) lying before the record, the comment fitting in the file.
fn zip_inside(b: &[u8]) -> Option<&'static str> {
    for at in memchr::memmem::find_iter(b, b"PK\x03\x04") {
        let valid = (|| {
            let version = le16(b, at + 4)?;
            let method = le16(b, at + 8)?;
            let name_len = usize::from(le16(b, at + 26)?);
            let extra_len = usize::from(le16(b, at + 28)?);
            Some(
                version <= 63
                    && matches!(method, 0 | 8 | 9 | 12 | 14 | 93 | 95 | 98 | 99)
                    && (1..=1024).contains(&name_len)
                    && at + 30 + name_len + extra_len <= b.len(),
            )
        })();
        if valid == Some(true) {
            return Some("a ZIP archive");
        }
    }
    for at in memchr::memmem::find_iter(b, b"PK\x05\x06") {
        let valid = (|| {
            let disk = le16(b, at + 4)?;
            let cd_disk = le16(b, at + 6)?;
            let here = le16(b, at + 8)?;
            let total = le16(b, at + 10)?;
            let cd_size = u64::from(le32(b, at + 12)?);
            let cd_offset = u64::from(le32(b, at + 16)?);
            let comment = usize::from(le16(b, at + 20)?);
            Some(
                disk == cd_disk
                    && disk <= 1
                    && here <= total
                    && cd_offset + cd_size <= at as u64
                    && at + 22 + comment <= b.len(),
            )
        })();
        if valid == Some(true) {
            return Some("a ZIP archive");
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jpeg_walk_needs_an_end_marker() {
        let jpeg = b"\xFF\xD8\xFF\xC0\x00\x02\xFF\xDA\x00\x02\x12\x34\xFF\x00\x56\xFF\xD9";
        assert_eq!(check_jpeg(jpeg), Ok(()));
        assert_eq!(check_jpeg(&jpeg[..jpeg.len() - 2]), Err(Flaw::Truncated));
        let mut padded = jpeg.to_vec();
        padded.extend_from_slice(&[0; 4]);
        assert_eq!(check_jpeg(&padded), Ok(()));
        padded.extend_from_slice(b"more");
        assert!(matches!(check_jpeg(&padded), Err(Flaw::Polyglot(_))));
    }

    #[test]
    fn bmff_boxes_must_tile_the_file() {
        let mut heic = Vec::new();
        heic.extend_from_slice(b"\0\0\0\x10ftypheic\0\0\0\0");
        heic.extend_from_slice(b"\0\0\0\x08meta");
        assert_eq!(check_bmff(&heic), Ok(()));
        heic.extend_from_slice(b"junk");
        assert!(matches!(check_bmff(&heic), Err(Flaw::Polyglot(_))));
    }
}
