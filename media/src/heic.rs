//! HEIC decoding through libheif (feature `heic`). libheif applies the HEIF transform boxes
//! (irot, imir, clap) while decoding, which is how HEIF stores orientation; the EXIF orientation
//! inside a HEIC is informational only and must not be applied a second time.
//!
//! Versions: Debian bookworm ships libheif 1.15; libheif-rs 0.18 / libheif-sys 1.14 are the newest
//! bindings that accept it (later ones require libheif 1.16 or 1.17).

use image::{DynamicImage, RgbImage, RgbaImage};
use libheif_rs::{ColorSpace, HeifContext, RgbChroma};

use crate::raster::{Decoded, check_dimensions};
use crate::{FileType, Limits, Refusal};

fn undecodable(reason: impl ToString) -> Refusal {
    Refusal::Undecodable {
        format: FileType::Heic,
        reason: reason.to_string(),
    }
}

/// Decodes the primary image of a HEIC file to 8-bit RGB(A), transforms applied.
pub fn decode(bytes: &[u8], limits: &Limits) -> Result<Decoded, Refusal> {
    // The context reads from `bytes` without copying: it must not outlive this function.
    let context = HeifContext::read_from_bytes(bytes).map_err(undecodable)?;
    let handle = context.primary_image_handle().map_err(undecodable)?;
    let alpha = handle.has_alpha_channel();
    let (width, height) = (handle.width(), handle.height());
    check_dimensions(width, height, if alpha { 4 } else { 3 }, limits).map_err(|r| match r {
        Refusal::Undecodable { reason, .. } => undecodable(reason),
        other => other,
    })?;
    let icc = handle.color_profile_raw().map(|profile| profile.data);
    let chroma = if alpha {
        RgbChroma::Rgba
    } else {
        RgbChroma::Rgb
    };
    let decoded = handle
        .decode(ColorSpace::Rgb(chroma), None)
        .map_err(undecodable)?;
    let planes = decoded.planes();
    let plane = planes
        .interleaved
        .ok_or_else(|| undecodable("no interleaved plane"))?;
    let channels = if alpha { 4 } else { 3 };
    // Interleaved 8-bit output is what we asked for; libheif reduces 10-bit HEIC to it.
    if usize::from(plane.storage_bits_per_pixel) != channels * 8 {
        return Err(undecodable("unexpected sample size"));
    }
    let row = plane.width as usize * channels;
    let mut pixels = Vec::with_capacity(row * plane.height as usize);
    for y in 0..plane.height as usize {
        let start = y * plane.stride;
        let line = plane
            .data
            .get(start..start + row)
            .ok_or_else(|| undecodable("short plane"))?;
        pixels.extend_from_slice(line);
    }
    let image = if alpha {
        RgbaImage::from_raw(plane.width, plane.height, pixels).map(DynamicImage::ImageRgba8)
    } else {
        RgbImage::from_raw(plane.width, plane.height, pixels).map(DynamicImage::ImageRgb8)
    }
    .ok_or_else(|| undecodable("plane size mismatch"))?;
    Ok(Decoded { image, icc })
}
