//! Why an evidence file was refused: a stable code for the server and the app, and a sentence a
//! volunteer can act on. Codes never change once shipped; messages may be reworded.

use crate::{Class, FileType};

/// An evidence file that must not become evidence. `code()` is stable snake_case for the API;
/// `Display` is a human sentence for the volunteer's app (English; the app may translate by code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The file has no bytes at all (an interrupted share or export).
    #[error("The file is empty. Please share the original file again.")]
    Empty,

    /// The sniffed type is not on the allow-list of the evidence class, or is never accepted
    /// (SVG, archives, GIF, executables, unknown binary data).
    #[error("{}", type_not_allowed_message(*found, *class))]
    TypeNotAllowed {
        /// What the bytes are.
        found: FileType,
        /// What the evidence was meant to be.
        class: Class,
    },

    /// The type is allowed but this build cannot decode it (HEIC without the `heic` feature).
    #[error(
        "{} files cannot be processed by this server yet. Please send the photo as JPEG (on an iPhone: Settings > Camera > Formats > Most Compatible).",
        found.name()
    )]
    TypeNotSupported {
        /// What the bytes are.
        found: FileType,
    },

    /// The file is valid as its type but also carries another format (bytes after the image's
    /// end, an embedded ZIP, HTML, script or PDF header): it could be read as something else.
    #[error(
        "The {} file also contains {what}, so it could be opened as something other than a picture or document. Please send the original file straight from the camera, screenshot or chat app.",
        format.name()
    )]
    Polyglot {
        /// The sniffed type.
        format: FileType,
        /// What else was found, e.g. "data after the end of the image" or "a ZIP archive".
        what: &'static str,
    },

    /// Width or height over the configured maximum (checked from the header, before decoding).
    #[error(
        "The picture is {width} × {height} pixels; at most {max_width} × {max_height} is accepted. Please send a smaller picture."
    )]
    DimensionsTooLarge {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// The limit.
        max_width: u32,
        /// The limit.
        max_height: u32,
    },

    /// More pixels than the configured maximum (a decompression bomb looks like this).
    #[error(
        "The picture has {pixels} pixels; at most {max_pixels} are accepted. Please send a smaller picture."
    )]
    TooManyPixels {
        /// Declared width × height.
        pixels: u64,
        /// The limit.
        max_pixels: u64,
    },

    /// Decoding would need more memory than the configured budget (deep colour at a size close to
    /// the pixel limit, or a decoder that asked for more than its share).
    #[error(
        "The picture needs too much memory to process (about {needed_bytes} bytes, at most {max_bytes}). Please send a smaller picture."
    )]
    TooMuchMemory {
        /// Estimated or requested bytes.
        needed_bytes: u64,
        /// The budget.
        max_bytes: u64,
    },

    /// The file ends before its format says it should (an interrupted upload or a cut file).
    #[error(
        "The {} file is incomplete: it ends before the {}. Please share the original file again.",
        format.name(), if matches!(format, FileType::Pdf) { "end-of-document marker" } else { "end of the picture" }
    )]
    Truncated {
        /// The sniffed type.
        format: FileType,
    },

    /// The file has the signature of its type but cannot be decoded (corrupt, unsupported variant,
    /// or the decoder panicked; a panic is caught and ends up here).
    #[error(
        "The {} file is damaged and cannot be read ({reason}). Please share the original file again.",
        format.name()
    )]
    Undecodable {
        /// The sniffed type.
        format: FileType,
        /// What the decoder or the structure check said (for support, not for the volunteer).
        reason: String,
    },

    /// A chat log that is neither UTF-8 text nor a known document type: usually a text export in a
    /// legacy encoding (Windows-1251, UTF-16, ...).
    #[error(
        "The chat log is not UTF-8 text (the first invalid byte is at position {offset}). Please export the chat as UTF-8 text, JSON, HTML or PDF."
    )]
    NotUtf8 {
        /// Byte offset of the first invalid sequence.
        offset: usize,
    },
}

impl Refusal {
    /// Every code [`Refusal::code`] can return, for callers that store a code and read it back.
    pub const CODES: &'static [&'static str] = &[
        "empty",
        "type_not_allowed",
        "type_not_supported",
        "polyglot",
        "dimensions_too_large",
        "too_many_pixels",
        "too_much_memory",
        "truncated",
        "undecodable",
        "not_utf8",
    ];

    /// The stable machine-readable code (snake_case). The server maps every code to 422.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Empty => "empty",
            Refusal::TypeNotAllowed { .. } => "type_not_allowed",
            Refusal::TypeNotSupported { .. } => "type_not_supported",
            Refusal::Polyglot { .. } => "polyglot",
            Refusal::DimensionsTooLarge { .. } => "dimensions_too_large",
            Refusal::TooManyPixels { .. } => "too_many_pixels",
            Refusal::TooMuchMemory { .. } => "too_much_memory",
            Refusal::Truncated { .. } => "truncated",
            Refusal::Undecodable { .. } => "undecodable",
            Refusal::NotUtf8 { .. } => "not_utf8",
        }
    }
}

fn type_not_allowed_message(found: FileType, class: Class) -> String {
    let wanted = match class {
        Class::Photo => "a photo (JPEG, PNG, WebP or HEIC)",
        Class::Screenshot => "a screenshot (JPEG, PNG, WebP or HEIC)",
        Class::ChatLog => "a chat log (UTF-8 text, JSON, HTML or PDF)",
    };
    match found {
        FileType::Unknown => {
            format!("The file is not a type we recognise; this evidence must be {wanted}.")
        }
        other => format!(
            "The file is {}; this evidence must be {wanted}.",
            other.described()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_listed_once() {
        let all = [
            Refusal::Empty,
            Refusal::TypeNotAllowed {
                found: FileType::Svg,
                class: Class::Photo,
            },
            Refusal::TypeNotSupported {
                found: FileType::Heic,
            },
            Refusal::Polyglot {
                format: FileType::Jpeg,
                what: "a ZIP archive",
            },
            Refusal::DimensionsTooLarge {
                width: 1,
                height: 1,
                max_width: 0,
                max_height: 0,
            },
            Refusal::TooManyPixels {
                pixels: 1,
                max_pixels: 0,
            },
            Refusal::TooMuchMemory {
                needed_bytes: 1,
                max_bytes: 0,
            },
            Refusal::Truncated {
                format: FileType::Jpeg,
            },
            Refusal::Undecodable {
                format: FileType::Png,
                reason: String::new(),
            },
            Refusal::NotUtf8 { offset: 0 },
        ];
        let codes: Vec<&str> = all.iter().map(Refusal::code).collect();
        assert_eq!(codes, Refusal::CODES);
    }
}
