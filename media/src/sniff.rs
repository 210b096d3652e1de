//! What a file is, from its bytes alone: magic numbers and structure, never names or declared
//! types. Sniffing decides nothing; `process` checks the result against the class's allow-list.

/// A type sniffed from the bytes. The accepted ones come first; the rest are detected only so a
/// refusal can say what the file was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileType {
    /// `FF D8 FF`.
    Jpeg,
    /// The 8-byte PNG signature.
    Png,
    /// `RIFF....WEBP`.
    Webp,
    /// ISO-BMFF `ftyp` with a HEIF brand (heic, heix, hevc, hevx, heim, heis, hevm, hevs, or
    /// mif1/msf1 without an AVIF brand).
    Heic,
    /// Starts with `%PDF-` at offset 0.
    Pdf,
    /// Valid UTF-8 that parses as JSON.
    Json,
    /// Valid UTF-8 starting (after a BOM and whitespace) with a common HTML tag or comment.
    Html,
    /// Valid UTF-8 without NUL bytes (XML that is neither SVG nor XHTML counts as text).
    Text,
    /// An SVG root element, after any XML prolog, comments and doctype, or XML naming the SVG
    /// namespace. Refused in every class: SVG can carry script.
    Svg,
    /// GIF87a / GIF89a.
    Gif,
    /// TIFF (`II*\0` / `MM\0*`).
    Tiff,
    /// BMP (`BM` with a plausible header; only when the file is not text).
    Bmp,
    /// AVIF (`ftyp` brand avif/avis).
    Avif,
    /// A video container (MP4/MOV/3GP `ftyp`, Matroska/WebM, AVI).
    Video,
    /// A compressed or archive format.
    Archive(ArchiveKind),
    /// A program: ELF, PE (`MZ`), Mach-O, WebAssembly, Java class, or a `#!` script.
    Executable,
    /// Anything else (including empty input).
    Unknown,
}

/// Which archive or compression format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArchiveKind {
    /// `PK\x03\x04`, `PK\x05\x06` (empty) or `PK\x07\x08` (spanned); also OOXML/ODF/JAR/APK.
    Zip,
    /// `1F 8B`.
    Gzip,
    /// `7z\xBC\xAF\x27\x1C`.
    SevenZip,
    /// `Rar!\x1A\x07`.
    Rar,
    /// `ustar` at offset 257.
    Tar,
    /// `BZh1`..`BZh9` followed by a block or end-of-stream magic.
    Bzip2,
    /// `FD 37 7A 58 5A 00`.
    Xz,
    /// `28 B5 2F FD`.
    Zstd,
}

impl FileType {
    /// The media type to announce for this type (the original, not necessarily the served copy).
    pub fn media_type(&self) -> &'static str {
        match self {
            FileType::Jpeg => "image/jpeg",
            FileType::Png => "image/png",
            FileType::Webp => "image/webp",
            FileType::Heic => "image/heic",
            FileType::Pdf => "application/pdf",
            FileType::Json => "application/json",
            FileType::Html => "text/html; charset=utf-8",
            FileType::Text => "text/plain; charset=utf-8",
            FileType::Svg => "image/svg+xml",
            FileType::Gif => "image/gif",
            FileType::Tiff => "image/tiff",
            FileType::Bmp => "image/bmp",
            FileType::Avif => "image/avif",
            FileType::Video => "video/mp4",
            FileType::Archive(kind) => match kind {
                ArchiveKind::Zip => "application/zip",
                ArchiveKind::Gzip => "application/gzip",
                ArchiveKind::SevenZip => "application/x-7z-compressed",
                ArchiveKind::Rar => "application/vnd.rar",
                ArchiveKind::Tar => "application/x-tar",
                ArchiveKind::Bzip2 => "application/x-bzip2",
                ArchiveKind::Xz => "application/x-xz",
                ArchiveKind::Zstd => "application/zstd",
            },
            FileType::Executable | FileType::Unknown => "application/octet-stream",
        }
    }

    /// A short name for messages ("JPEG", "ZIP archive").
    pub fn name(&self) -> &'static str {
        match self {
            FileType::Jpeg => "JPEG",
            FileType::Png => "PNG",
            FileType::Webp => "WebP",
            FileType::Heic => "HEIC",
            FileType::Pdf => "PDF",
            FileType::Json => "JSON",
            FileType::Html => "HTML",
            FileType::Text => "text",
            FileType::Svg => "SVG",
            FileType::Gif => "GIF",
            FileType::Tiff => "TIFF",
            FileType::Bmp => "BMP",
            FileType::Avif => "AVIF",
            FileType::Video => "video",
            FileType::Archive(kind) => match kind {
                ArchiveKind::Zip => "ZIP archive",
                ArchiveKind::Gzip => "gzip archive",
                ArchiveKind::SevenZip => "7-Zip archive",
                ArchiveKind::Rar => "RAR archive",
                ArchiveKind::Tar => "tar archive",
                ArchiveKind::Bzip2 => "bzip2 archive",
                ArchiveKind::Xz => "xz archive",
                ArchiveKind::Zstd => "zstd archive",
            },
            FileType::Executable => "program",
            FileType::Unknown => "unknown file",
        }
    }

    /// The name with its indefinite article, for sentences ("an SVG drawing").
    pub fn described(&self) -> &'static str {
        match self {
            FileType::Jpeg => "a JPEG picture",
            FileType::Png => "a PNG picture",
            FileType::Webp => "a WebP picture",
            FileType::Heic => "a HEIC picture",
            FileType::Pdf => "a PDF document",
            FileType::Json => "a JSON file",
            FileType::Html => "an HTML page",
            FileType::Text => "a text file",
            FileType::Svg => "an SVG drawing (which can contain script)",
            FileType::Gif => "a GIF animation",
            FileType::Tiff => "a TIFF picture",
            FileType::Bmp => "a BMP picture",
            FileType::Avif => "an AVIF picture",
            FileType::Video => "a video",
            FileType::Archive(_) => "an archive (ZIP, gzip, 7-Zip, RAR, tar or similar)",
            FileType::Executable => "a program",
            FileType::Unknown => "of an unknown type",
        }
    }

    /// Whether this is one of the raster image types we may decode.
    pub fn is_image(&self) -> bool {
        matches!(
            self,
            FileType::Jpeg | FileType::Png | FileType::Webp | FileType::Heic
        )
    }
}

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Sniffs the type of `bytes`. Never panics; cost is one pass for UTF-8 validation and one JSON
/// parse at most.
pub fn sniff(bytes: &[u8]) -> FileType {
    if bytes.is_empty() {
        return FileType::Unknown;
    }
    if let Some(found) = sniff_binary(bytes) {
        return found;
    }
    if let Some(found) = sniff_text(bytes) {
        return found;
    }
    sniff_weak_binary(bytes).unwrap_or(FileType::Unknown)
}

/// Signatures long or specific enough never to be mistaken for text.
fn sniff_binary(b: &[u8]) -> Option<FileType> {
    let starts = |magic: &[u8]| b.starts_with(magic);
    if starts(b"\xFF\xD8\xFF") {
        return Some(FileType::Jpeg);
    }
    if starts(PNG_SIGNATURE) {
        return Some(FileType::Png);
    }
    if b.len() >= 12 && &b[0..4] == b"RIFF" {
        return Some(match &b[8..12] {
            b"WEBP" => FileType::Webp,
            b"AVI " => FileType::Video,
            _ => FileType::Unknown,
        });
    }
    if let Some(found) = sniff_ftyp(b) {
        return Some(found);
    }
    if starts(b"%PDF-") {
        return Some(FileType::Pdf);
    }
    if starts(b"GIF87a") || starts(b"GIF89a") {
        return Some(FileType::Gif);
    }
    if starts(b"II*\0") || starts(b"MM\0*") {
        return Some(FileType::Tiff);
    }
    if starts(b"\x1A\x45\xDF\xA3") {
        return Some(FileType::Video);
    }
    let archive = if starts(b"PK\x03\x04") || starts(b"PK\x05\x06") || starts(b"PK\x07\x08") {
        Some(ArchiveKind::Zip)
    } else if starts(b"\x1F\x8B") {
        Some(ArchiveKind::Gzip)
    } else if starts(b"7z\xBC\xAF\x27\x1C") {
        Some(ArchiveKind::SevenZip)
    } else if starts(b"Rar!\x1A\x07") {
        Some(ArchiveKind::Rar)
    } else if starts(b"\xFD7zXZ\0") {
        Some(ArchiveKind::Xz)
    } else if starts(b"\x28\xB5\x2F\xFD") {
        Some(ArchiveKind::Zstd)
    } else if b.len() >= 10
        && &b[0..3] == b"BZh"
        && (b'1'..=b'9').contains(&b[3])
        && (&b[4..10] == b"\x31\x41\x59\x26\x53\x59" || &b[4..10] == b"\x17\x72\x45\x38\x50\x90")
    {
        Some(ArchiveKind::Bzip2)
    } else if b.len() >= 262 && &b[257..262] == b"ustar" {
        Some(ArchiveKind::Tar)
    } else {
        None
    };
    if let Some(kind) = archive {
        return Some(FileType::Archive(kind));
    }
    if starts(b"\x7FELF")
        || starts(b"\0asm")
        || starts(b"\xCA\xFE\xBA\xBE")
        || starts(b"\xFE\xED\xFA\xCE")
        || starts(b"\xFE\xED\xFA\xCF")
        || starts(b"\xCE\xFA\xED\xFE")
        || starts(b"\xCF\xFA\xED\xFE")
        || starts(b"#!/")
    {
        return Some(FileType::Executable);
    }
    if starts(b"MZ") && is_pe(b) {
        return Some(FileType::Executable);
    }
    None
}

/// Two-byte signatures that a text file could start with: only checked once the file is known
/// not to be text.
fn sniff_weak_binary(b: &[u8]) -> Option<FileType> {
    if b.starts_with(b"MZ") {
        return Some(FileType::Executable);
    }
    if b.starts_with(b"BM") && b.len() >= 26 {
        return Some(FileType::Bmp);
    }
    None
}

/// A PE file: `MZ`, and the offset at 0x3C points to `PE\0\0`.
fn is_pe(b: &[u8]) -> bool {
    let Some(offset) = b.get(0x3C..0x40) else {
        return false;
    };
    let offset = u32::from_le_bytes([offset[0], offset[1], offset[2], offset[3]]) as usize;
    b.get(offset..offset.saturating_add(4)) == Some(b"PE\0\0")
}

/// ISO-BMFF files start with an `ftyp` box: major brand, minor version, compatible brands.
fn sniff_ftyp(b: &[u8]) -> Option<FileType> {
    if b.len() < 16 || &b[4..8] != b"ftyp" {
        return None;
    }
    let size = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
    let end = size.clamp(16, b.len().min(4096));
    let major = &b[8..12];
    let compatible: Vec<&[u8]> = b[16..end].chunks_exact(4).collect();
    let brands = || std::iter::once(major).chain(compatible.iter().copied());
    const HEIF: [&[u8]; 8] = [
        b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs",
    ];
    if matches!(major, b"avif" | b"avis") {
        return Some(FileType::Avif);
    }
    if HEIF.contains(&major) {
        return Some(FileType::Heic);
    }
    if matches!(major, b"mif1" | b"msf1") {
        if brands().any(|brand| brand == b"avif" || brand == b"avis") {
            return Some(FileType::Avif);
        }
        return Some(FileType::Heic);
    }
    if brands().any(|brand| HEIF.contains(&brand)) {
        return Some(FileType::Heic);
    }
    // Everything else with an ftyp box is an MP4/MOV/3GP family video (or unknown media).
    Some(FileType::Video)
}

/// Text types: the bytes must be valid UTF-8 (after an optional BOM) without NUL bytes.
fn sniff_text(b: &[u8]) -> Option<FileType> {
    let body = b.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(b);
    if memchr::memchr(0, body).is_some() {
        return None;
    }
    let text = std::str::from_utf8(body).ok()?;
    let head = text.trim_start();
    if is_svg(head) {
        return Some(FileType::Svg);
    }
    if is_html(head) {
        return Some(FileType::Html);
    }
    if !head.is_empty() && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() {
        return Some(FileType::Json);
    }
    Some(FileType::Text)
}

/// Case-insensitive ASCII prefix test.
fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// Skips an XML prolog, processing instructions, comments and a doctype, returning the rest
/// starting at the first element (or wherever skipping stopped).
fn skip_xml_preamble(mut s: &str) -> &str {
    // Bounded: each round removes at least one construct; a pathological file with thousands of
    // comments only costs their length.
    loop {
        s = s.trim_start();
        let end = if s.starts_with("<?") {
            s.find("?>").map(|i| i + 2)
        } else if s.starts_with("<!--") {
            s.find("-->").map(|i| i + 3)
        } else if starts_with_ci(s, "<!doctype") {
            doctype_end(s)
        } else {
            return s;
        };
        match end {
            Some(end) => s = &s[end..],
            None => return s,
        }
    }
}

/// The end of a `<!DOCTYPE ...>` including an internal subset in brackets.
fn doctype_end(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            '>' if depth == 0 => return Some(i + 1),
            _ => {}
        }
    }
    None
}

/// An SVG root (`<svg` or a prefixed `<x:svg`), an SVG doctype, or an XML file that names the SVG
/// namespace anywhere.
fn is_svg(head: &str) -> bool {
    let looks_xml = head.starts_with('<');
    if !looks_xml {
        return false;
    }
    let doctype_svg = {
        let mut s = head;
        loop {
            s = s.trim_start();
            if starts_with_ci(s, "<!doctype") {
                let rest = s["<!doctype".len()..].trim_start();
                break starts_with_ci(rest, "svg");
            }
            let end = if s.starts_with("<?") {
                s.find("?>").map(|i| i + 2)
            } else if s.starts_with("<!--") {
                s.find("-->").map(|i| i + 3)
            } else {
                None
            };
            match end {
                Some(end) => s = &s[end..],
                None => break false,
            }
        }
    };
    if doctype_svg {
        return true;
    }
    let root = skip_xml_preamble(head);
    if let Some(name) = root.strip_prefix('<') {
        let name: String = name
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '>' && *c != '/')
            .collect();
        let local = name.rsplit(':').next().unwrap_or("");
        if local.eq_ignore_ascii_case("svg") {
            return true;
        }
    }
    head.starts_with("<?xml") && head.contains("http://www.w3.org/2000/svg")
}

/// The WHATWG "unknown type" HTML patterns: a tag name followed by a space or `>`.
fn is_html(head: &str) -> bool {
    const TAGS: [&str; 17] = [
        "<!doctype html",
        "<html",
        "<head",
        "<script",
        "<iframe",
        "<h1",
        "<div",
        "<font",
        "<table",
        "<a",
        "<style",
        "<title",
        "<b",
        "<body",
        "<br",
        "<p",
        "<!--",
    ];
    let terminated = |s: &str, tag: &str| {
        matches!(
            s.as_bytes().get(tag.len()),
            Some(b' ' | b'>' | b'\t' | b'\n' | b'\r' | b'\x0C')
        )
    };
    if TAGS
        .iter()
        .any(|tag| starts_with_ci(head, tag) && terminated(head, tag))
    {
        return true;
    }
    // XHTML: an XML prolog followed by an html root or doctype.
    if head.starts_with("<?xml") {
        let after_prolog = match head.find("?>") {
            Some(i) => head[i + 2..].trim_start(),
            None => return false,
        };
        let root = skip_xml_preamble(head);
        return starts_with_ci(after_prolog, "<!doctype html")
            || (starts_with_ci(root, "<html") && terminated(root, "<html"));
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_kinds_are_told_apart() {
        assert_eq!(sniff(b"hello"), FileType::Text);
        assert_eq!(sniff(b"[12:01] seller: hi"), FileType::Text);
        assert_eq!(sniff(b" {\"a\": [1, 2]}\n"), FileType::Json);
        assert_eq!(sniff(b"\xEF\xBB\xBF<!DOCTYPE html><p>x"), FileType::Html);
        assert_eq!(sniff(b"  <HTML>"), FileType::Html);
        assert_eq!(sniff(b"<p>hi</p>"), FileType::Html);
        assert_eq!(sniff(b"<pre>x</pre>"), FileType::Text);
        assert_eq!(sniff(b"<svg xmlns='x'/>"), FileType::Svg);
        assert_eq!(
            sniff(b"<?xml version='1.0'?>\n<!-- c -->\n<svg:svg/>"),
            FileType::Svg
        );
        assert_eq!(
            sniff(
                b"<?xml version='1.0'?><!DOCTYPE svg PUBLIC '-//W3C//DTD SVG 1.1//EN' 'x'><svg/>"
            ),
            FileType::Svg
        );
        assert_eq!(
            sniff(b"<?xml version='1.0'?><html xmlns='http://www.w3.org/1999/xhtml'/>"),
            FileType::Html
        );
        assert_eq!(
            sniff(b"<?xml version='1.0'?><smses count='1'/>"),
            FileType::Text
        );
        assert_eq!(sniff(b"MZ hello"), FileType::Text);
        assert_eq!(sniff(b"MZ\0\x01"), FileType::Executable);
        assert_eq!(sniff(b"#!/bin/sh\nrm -rf /"), FileType::Executable);
        assert_eq!(sniff(b"a\0b"), FileType::Unknown);
    }
}
