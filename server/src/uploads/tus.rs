//! The tus 1.0 wire details: versions, extensions, and the parsing of the
//! headers a client sends. Parsing is strict (a malformed header is a 400
//! that says which header and why) and nothing a client sends is ever used
//! as a path.

use base64::{Engine, engine::general_purpose::STANDARD};
use sha1::Sha1;
use sha2::{Digest, Sha256};

pub const VERSION: &str = "1.0.0";
pub const EXTENSIONS: &str =
    "creation,creation-with-upload,creation-defer-length,termination,checksum,expiration";
pub const CHECKSUM_ALGORITHMS: &str = "sha1,sha256";
/// The content type of every PATCH body.
pub const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";

/// Why a tus header was refused; each becomes a 400 problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("{header} must be a non-negative whole number of bytes")]
    NotANumber { header: &'static str },
    #[error("Upload-Metadata: {0}")]
    Metadata(String),
    #[error("Upload-Checksum must be `<algorithm> <base64 digest>`")]
    ChecksumSyntax,
    #[error("checksum algorithm {0:?} is not supported; use sha1 or sha256")]
    UnknownAlgorithm(String),
    #[error("the {algorithm} checksum must be {expected} bytes, base64 encoded")]
    ChecksumLength {
        algorithm: &'static str,
        expected: usize,
    },
}

/// A byte count header: digits only (no sign, no spaces), at most u63.
pub fn parse_length(header: &'static str, value: &str) -> Result<u64, HeaderError> {
    if value.is_empty() || value.len() > 18 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HeaderError::NotANumber { header });
    }
    value
        .parse::<u64>()
        .map_err(|_| HeaderError::NotANumber { header })
}

/// One `key value` pair of Upload-Metadata, the value decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataPair {
    pub key: String,
    pub value: Option<Vec<u8>>,
}

/// The most pairs and bytes a metadata header may carry.
const MAX_METADATA_PAIRS: usize = 32;
pub const MAX_METADATA_BYTES: usize = 4096;

/// Parses `key base64,key2 base64,key3`: keys are unique, non-empty ASCII
/// without spaces or commas; values are standard base64 with padding.
pub fn parse_metadata(header: &str) -> Result<Vec<MetadataPair>, HeaderError> {
    let bad = |why: String| HeaderError::Metadata(why);
    if header.len() > MAX_METADATA_BYTES {
        return Err(bad(format!("longer than {MAX_METADATA_BYTES} bytes")));
    }
    let mut pairs: Vec<MetadataPair> = Vec::new();
    if header.trim().is_empty() {
        return Ok(pairs);
    }
    for item in header.split(',') {
        let item = item.trim();
        let mut parts = item.split(' ');
        let key = parts.next().unwrap_or_default();
        let value = parts.next();
        if parts.next().is_some() {
            return Err(bad(format!("{item:?} has more than a key and a value")));
        }
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic() && b != b',') {
            return Err(bad(format!(
                "key {key:?} must be non-empty ASCII without spaces or commas"
            )));
        }
        if pairs.iter().any(|p| p.key == key) {
            return Err(bad(format!("key {key:?} appears twice")));
        }
        let value = match value {
            None | Some("") => None,
            Some(v) => Some(
                STANDARD
                    .decode(v)
                    .map_err(|_| bad(format!("the value of {key:?} is not base64")))?,
            ),
        };
        pairs.push(MetadataPair {
            key: key.to_string(),
            value,
        });
        if pairs.len() > MAX_METADATA_PAIRS {
            return Err(bad(format!("more than {MAX_METADATA_PAIRS} keys")));
        }
    }
    Ok(pairs)
}

/// A checksum algorithm of the `checksum` extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Sha1,
    Sha256,
}

/// A PATCH's `Upload-Checksum`: the algorithm and the expected digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    pub algorithm: Algorithm,
    pub digest: Vec<u8>,
}

pub fn parse_checksum(value: &str) -> Result<Checksum, HeaderError> {
    let (name, digest) = value
        .trim()
        .split_once(' ')
        .ok_or(HeaderError::ChecksumSyntax)?;
    let (algorithm, expected, label) = match name {
        "sha1" => (Algorithm::Sha1, 20, "sha1"),
        "sha256" => (Algorithm::Sha256, 32, "sha256"),
        other => return Err(HeaderError::UnknownAlgorithm(other.to_string())),
    };
    let digest = STANDARD
        .decode(digest.trim())
        .map_err(|_| HeaderError::ChecksumSyntax)?;
    if digest.len() != expected {
        return Err(HeaderError::ChecksumLength {
            algorithm: label,
            expected,
        });
    }
    Ok(Checksum { algorithm, digest })
}

/// Computes a PATCH body's checksum while it streams.
pub enum ChecksumHasher {
    Sha1(Sha1),
    Sha256(Sha256),
}

impl ChecksumHasher {
    pub fn new(algorithm: Algorithm) -> Self {
        match algorithm {
            Algorithm::Sha1 => Self::Sha1(Sha1::new()),
            Algorithm::Sha256 => Self::Sha256(Sha256::new()),
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Self::Sha1(h) => h.update(bytes),
            Self::Sha256(h) => h.update(bytes),
        }
    }

    pub fn finish(self) -> Vec<u8> {
        match self {
            Self::Sha1(h) => h.finalize().to_vec(),
            Self::Sha256(h) => h.finalize().to_vec(),
        }
    }
}

/// Why a filename was refused: it is shown, never used as a path, but a
/// name that looks like a path is a sign of a confused or hostile client.
pub fn check_filename(name: &[u8]) -> Result<String, String> {
    let name = std::str::from_utf8(name).map_err(|_| "the filename is not UTF-8".to_string())?;
    if name.is_empty() || name.len() > 255 {
        return Err("the filename must be 1 to 255 bytes".into());
    }
    if name.contains(['/', '\\']) || name == "." || name == ".." || name.starts_with("..") {
        return Err(format!(
            "the filename {name:?} looks like a path; send the bare file name"
        ));
    }
    if name.chars().any(char::is_control) {
        return Err("the filename contains control characters".into());
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_parsed_strictly() {
        let pairs = parse_metadata("filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==,is_confidential")
            .expect("valid");
        assert_eq!(pairs[0].key, "filename");
        assert_eq!(
            pairs[0].value.as_deref(),
            Some(&b"world_domination_plan.pdf"[..])
        );
        assert_eq!(pairs[1].value, None);
        for bad in ["a b c", "a !!!", "a YQ==,a YQ==", "é YQ==", ","] {
            assert!(parse_metadata(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn checksums_name_a_known_algorithm_and_a_digest_of_its_size() {
        let sha1 = STANDARD.encode([0u8; 20]);
        assert!(parse_checksum(&format!("sha1 {sha1}")).is_ok());
        assert_eq!(
            parse_checksum(&format!("md5 {sha1}")),
            Err(HeaderError::UnknownAlgorithm("md5".into()))
        );
        assert!(matches!(
            parse_checksum(&format!("sha256 {sha1}")),
            Err(HeaderError::ChecksumLength { .. })
        ));
        assert_eq!(parse_checksum("sha1"), Err(HeaderError::ChecksumSyntax));
    }

    #[test]
    fn lengths_are_bare_digits() {
        assert_eq!(parse_length("Upload-Length", "42"), Ok(42));
        for bad in ["", "-1", "+1", " 1", "1.0", "99999999999999999999"] {
            assert!(parse_length("Upload-Length", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn filenames_that_are_paths_are_refused() {
        assert!(check_filename(b"IMG_0001.jpg").is_ok());
        for bad in [
            &b"../../etc/passwd"[..],
            b"a/b.jpg",
            b"c:\\x.jpg",
            b"..",
            b"x\n.jpg",
            b"",
        ] {
            assert!(check_filename(bad).is_err());
        }
    }
}
