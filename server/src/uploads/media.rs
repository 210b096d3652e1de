//! The server's side of the media pipeline (the `evidence-media` crate):
//! which evidence kinds are pictures and which documents, the decoding
//! limits from configuration, and the processing itself on a blocking
//! thread, at most one per core at a time (a 12-megapixel decode holds
//! ~100 MiB), with panics caught, so a malicious file costs a 4xx and
//! never the process.

use std::sync::Arc;

use actix_web::http::StatusCode;
use evidence_media::{Class, Refusal};
use sync_protocol::records::EvidenceKind;
use tokio::sync::Semaphore;

use crate::config::Config;

/// The media type of every thumbnail.
pub const THUMBNAIL_TYPE: &str = "image/jpeg";
/// Perceptual hashes this close are the same picture (see the crate).
pub const NEAR_DUPLICATE: u32 = evidence_media::NEAR_DUPLICATE;

/// Decoding limits.
pub type Limits = evidence_media::Limits;

/// The limits from configuration.
pub fn limits(config: &Config) -> Limits {
    Limits {
        max_width: config.media_max_dimension,
        max_height: config.media_max_dimension,
        max_pixels: config.media_max_pixels,
        ..Limits::default()
    }
}

/// What finishing stores.
#[derive(Debug, Clone)]
pub struct Processed {
    pub served: Vec<u8>,
    pub served_media_type: String,
    pub thumbnail: Option<Vec<u8>>,
    pub perceptual_hash: Option<u64>,
    pub width: Option<u32>,
    pub height: Option<u32>,
}

/// Why a file was refused: the crate's stable code, our status, and its
/// sentence for the volunteer.
#[derive(Debug, Clone)]
pub struct Refused {
    pub code: &'static str,
    pub status: StatusCode,
    pub detail: String,
}

impl From<Refusal> for Refused {
    fn from(r: Refusal) -> Self {
        let status = match r {
            // Not a kind of file this evidence may be.
            Refusal::TypeNotAllowed { .. }
            | Refusal::TypeNotSupported { .. }
            | Refusal::Polyglot { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        Refused {
            code: r.code(),
            status,
            detail: r.to_string(),
        }
    }
}

/// The allow-list a kind of evidence is checked against.
pub fn class_of(kind: EvidenceKind) -> Class {
    match kind {
        EvidenceKind::ListingPhoto | EvidenceKind::ProductPhoto | EvidenceKind::ParcelPhoto => {
            Class::Photo
        }
        EvidenceKind::OrderScreenshot
        | EvidenceKind::PaymentScreenshot
        | EvidenceKind::ShippingInfo
        | EvidenceKind::Receipt => Class::Screenshot,
        EvidenceKind::ChatLog => Class::ChatLog,
    }
}

pub fn distance(a: u64, b: u64) -> u32 {
    evidence_media::perceptual_distance(a, b)
}

/// At most one decode per core at a time on this instance.
pub fn slots() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(
        std::thread::available_parallelism().map_or(2, usize::from),
    ))
}

/// Processes a file of evidence `kind` on a blocking thread.
pub async fn process(
    kind: EvidenceKind,
    bytes: Vec<u8>,
    limits: Limits,
    slots: &Arc<Semaphore>,
) -> Result<Processed, Refused> {
    let _slot = Arc::clone(slots)
        .acquire_owned()
        .await
        .map_err(|_| Refused {
            code: "undecodable",
            status: StatusCode::UNPROCESSABLE_ENTITY,
            detail: "the server is shutting down; upload the file again later".into(),
        })?;
    let class = class_of(kind);
    let outcome =
        tokio::task::spawn_blocking(move || evidence_media::process(class, &bytes, &limits)).await;
    match outcome {
        Ok(Ok(p)) => Ok(Processed {
            served: p.served,
            served_media_type: p.served_media_type.to_string(),
            thumbnail: p.thumbnail,
            perceptual_hash: p.perceptual_hash,
            width: p.width,
            height: p.height,
        }),
        Ok(Err(refusal)) => Err(refusal.into()),
        // The crate catches decoder panics itself; this is the last guard.
        Err(e) => Err(Refused {
            code: "undecodable",
            status: StatusCode::UNPROCESSABLE_ENTITY,
            detail: format!("the file could not be read: {e}"),
        }),
    }
}
