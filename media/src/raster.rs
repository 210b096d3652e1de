//! Decoding under limits, orientation, metadata-free re-encoding, thumbnails and the perceptual
//! hash. Everything here runs inside `catch_unwind`; it allocates only after the header's
//! dimensions passed the limits.

use std::borrow::Cow;
use std::io::Cursor;

use image::codecs::png::{CompressionType, FilterType as PngFilter, PngEncoder};
use image::error::LimitErrorKind;
use image::metadata::Orientation;
use image::{
    DynamicImage, ImageDecoder, ImageEncoder, ImageError, ImageFormat, ImageReader, RgbImage,
};

use crate::{FileType, Limits, Refusal};

/// Longest side of a thumbnail, in pixels.
pub const THUMBNAIL_SIDE: u32 = 320;
/// JPEG quality of a served copy re-encoded from a JPEG or HEIC original.
pub const SERVED_JPEG_QUALITY: u8 = 90;
/// JPEG quality of thumbnails (small, for the admin panel).
pub const THUMBNAIL_JPEG_QUALITY: u8 = 80;
/// ICC profiles larger than this are dropped rather than copied (real ones are a few KiB; the
/// largest common ones, with big LUTs, stay under 1 MiB).
pub const MAX_ICC_BYTES: usize = 1 << 20;

/// A decoded picture, orientation applied.
pub struct Decoded {
    pub image: DynamicImage,
    pub icc: Option<Vec<u8>>,
}

/// Checks header dimensions against the limits, and the decoded size against the memory budget
/// (half of it for the decoder's buffer; the rest is for the rotated copy and the encoders).
pub fn check_dimensions(
    width: u32,
    height: u32,
    bytes_per_pixel: u64,
    limits: &Limits,
) -> Result<(), Refusal> {
    if width > limits.max_width || height > limits.max_height {
        return Err(Refusal::DimensionsTooLarge {
            width,
            height,
            max_width: limits.max_width,
            max_height: limits.max_height,
        });
    }
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels {
        return Err(Refusal::TooManyPixels {
            pixels,
            max_pixels: limits.max_pixels,
        });
    }
    let needed_bytes = pixels.saturating_mul(bytes_per_pixel).saturating_mul(2);
    if needed_bytes > limits.max_alloc_bytes {
        return Err(Refusal::TooMuchMemory {
            needed_bytes,
            max_bytes: limits.max_alloc_bytes,
        });
    }
    if width == 0 || height == 0 {
        return Err(Refusal::Undecodable {
            format: FileType::Unknown,
            reason: "zero width or height".into(),
        });
    }
    Ok(())
}

/// The `image` limits for a decoder: our dimensions and half the allocation budget.
pub fn image_limits(limits: &Limits) -> image::Limits {
    let mut out = image::Limits::default();
    out.max_image_width = Some(limits.max_width);
    out.max_image_height = Some(limits.max_height);
    out.max_alloc = Some(limits.max_alloc_bytes / 2);
    out
}

/// Decodes JPEG with zune-jpeg (the decoder inside `image`) in strict mode: `image` runs it in
/// lenient mode, which turns corrupt entropy-coded data, unexpected markers inside a scan and a
/// premature end of data into a grey fill and success. Header first, limits checked, then pixels.
///
/// Known gap: a scan cut short and followed directly by an EOI marker is zero-filled by zune-jpeg
/// even in strict mode (as by libjpeg, which only warns), so a file cut in half with `FF D9`
/// appended decodes as a picture whose lower part is flat. A file simply cut short (no EOI) is
/// refused as truncated by the structure walk.
fn decode_jpeg(bytes: &[u8], limits: &Limits) -> Result<Decoded, Refusal> {
    use zune_core::colorspace::ColorSpace;
    let format = FileType::Jpeg;
    let undecodable = |e: zune_jpeg::errors::DecodeErrors| Refusal::Undecodable {
        format,
        reason: e.to_string(),
    };
    let options = zune_core::options::DecoderOptions::default()
        .set_strict_mode(true)
        .set_max_width(usize::try_from(limits.max_width).unwrap_or(usize::MAX))
        .set_max_height(usize::try_from(limits.max_height).unwrap_or(usize::MAX));
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(
        zune_core::bytestream::ZCursor::new(bytes),
        options,
    );
    // Our own dimension check must see the header first to give the precise refusal, so the
    // header is read with the dimension limits of the format itself.
    let mut header = zune_jpeg::JpegDecoder::new_with_options(
        zune_core::bytestream::ZCursor::new(bytes),
        options.set_max_width(usize::MAX).set_max_height(usize::MAX),
    );
    header.decode_headers().map_err(undecodable)?;
    let (Some((width, height)), Some(input)) = (header.dimensions(), header.input_colorspace())
    else {
        return Err(Refusal::Undecodable {
            format,
            reason: "no frame header".into(),
        });
    };
    let gray = matches!(input, ColorSpace::Luma | ColorSpace::LumaA);
    let (width, height) = (
        u32::try_from(width).unwrap_or(u32::MAX),
        u32::try_from(height).unwrap_or(u32::MAX),
    );
    check_dimensions(width, height, if gray { 1 } else { 3 }, limits)
        .map_err(|r| with_format(r, format))?;
    let out = if gray {
        ColorSpace::Luma
    } else {
        ColorSpace::RGB
    };
    decoder.set_options(options.jpeg_set_out_colorspace(out));
    decoder.decode_headers().map_err(undecodable)?;
    let orientation = decoder
        .exif()
        .and_then(|exif| Orientation::from_exif_chunk(exif))
        .unwrap_or(Orientation::NoTransforms);
    let icc = decoder.icc_profile();
    let pixels = decoder.decode().map_err(undecodable)?;
    let image = if gray {
        image::GrayImage::from_raw(width, height, pixels).map(DynamicImage::ImageLuma8)
    } else {
        RgbImage::from_raw(width, height, pixels).map(DynamicImage::ImageRgb8)
    };
    let Some(mut image) = image else {
        return Err(Refusal::Undecodable {
            format,
            reason: "the decoder returned fewer pixels than the header declares".into(),
        });
    };
    image.apply_orientation(orientation);
    Ok(Decoded { image, icc })
}

/// Decodes JPEG (see [`decode_jpeg`]), PNG or WebP (with the `image` crate): header first,
/// limits checked, then pixels.
pub fn decode(format: FileType, bytes: &[u8], limits: &Limits) -> Result<Decoded, Refusal> {
    let image_format = match format {
        FileType::Jpeg => return decode_jpeg(bytes, limits),
        FileType::Png => ImageFormat::Png,
        FileType::Webp => ImageFormat::WebP,
        other => {
            return Err(Refusal::TypeNotSupported { found: other });
        }
    };
    let fail = |e: ImageError| map_image_error(format, e, limits);
    // Reading the header allocates no pixels; only the allocation limit applies at this stage so
    // our own check can tell dimensions from pixel count.
    let mut header_limits = image::Limits::default();
    header_limits.max_alloc = Some(limits.max_alloc_bytes / 2);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), image_format);
    reader.limits(header_limits);
    let mut decoder = reader.into_decoder().map_err(fail)?;
    let (width, height) = decoder.dimensions();
    let bytes_per_pixel = u64::from(decoder.color_type().bytes_per_pixel());
    check_dimensions(width, height, bytes_per_pixel, limits).map_err(|r| with_format(r, format))?;
    let fail = |e: ImageError| match map_image_error(format, e, limits) {
        Refusal::DimensionsTooLarge {
            max_width,
            max_height,
            ..
        } => Refusal::DimensionsTooLarge {
            width,
            height,
            max_width,
            max_height,
        },
        other => other,
    };
    decoder.set_limits(image_limits(limits)).map_err(fail)?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let icc = decoder.icc_profile().ok().flatten();
    let mut image = DynamicImage::from_decoder(decoder).map_err(fail)?;
    image.apply_orientation(orientation);
    Ok(Decoded { image, icc })
}

fn with_format(refusal: Refusal, format: FileType) -> Refusal {
    match refusal {
        Refusal::Undecodable { reason, .. } => Refusal::Undecodable { format, reason },
        other => other,
    }
}

pub fn map_image_error(format: FileType, e: ImageError, limits: &Limits) -> Refusal {
    match e {
        ImageError::Limits(limit) => match limit.kind() {
            LimitErrorKind::DimensionError => Refusal::DimensionsTooLarge {
                width: 0,
                height: 0,
                max_width: limits.max_width,
                max_height: limits.max_height,
            },
            LimitErrorKind::InsufficientMemory => Refusal::TooMuchMemory {
                needed_bytes: 0,
                max_bytes: limits.max_alloc_bytes,
            },
            _ => Refusal::Undecodable {
                format,
                reason: limit.to_string(),
            },
        },
        ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            Refusal::Truncated { format }
        }
        other => Refusal::Undecodable {
            format,
            reason: other.to_string(),
        },
    }
}

/// Whether an ICC profile's data colour space (header bytes 16..20) fits the pixels we write.
fn icc_fits(icc: &[u8], gray: bool) -> bool {
    if icc.len() < 128 || icc.len() > MAX_ICC_BYTES {
        return false;
    }
    let space = &icc[16..20];
    if gray {
        space == b"GRAY"
    } else {
        space == b"RGB "
    }
}

fn is_gray(image: &DynamicImage) -> bool {
    !image.color().has_color()
}

/// Drops alpha by compositing over white (JPEG has no alpha; black would hide dark text).
/// Borrows when the picture is already 8-bit RGB, which is what JPEG decoding gives.
fn flatten_rgb(image: &DynamicImage) -> Cow<'_, RgbImage> {
    if let DynamicImage::ImageRgb8(rgb) = image {
        return Cow::Borrowed(rgb);
    }
    if !image.color().has_alpha() {
        return Cow::Owned(image.to_rgb8());
    }
    let rgba = image.to_rgba8();
    let (w, h) = rgba.dimensions();
    let mut out = Vec::with_capacity(w as usize * h as usize * 3);
    for px in rgba.as_raw().chunks_exact(4) {
        let a = u32::from(px[3]);
        for &c in &px[..3] {
            // c·a + 255·(255 − a), rounded, over 255.
            out.push(((u32::from(c) * a + 255 * (255 - a) + 127) / 255) as u8);
        }
    }
    Cow::Owned(RgbImage::from_raw(w, h, out).unwrap_or_else(|| RgbImage::new(w, h)))
}

/// Encodes 8-bit RGB or grey pixels as a baseline JPEG with 4:2:0 chroma (as phone cameras do),
/// adding nothing but the JFIF header and, if given, the ICC profile.
fn encode_jpeg(
    pixels: &[u8],
    width: u32,
    height: u32,
    gray: bool,
    quality: u8,
    icc: Option<&[u8]>,
) -> Result<Vec<u8>, String> {
    let (w, h) = match (u16::try_from(width), u16::try_from(height)) {
        (Ok(w), Ok(h)) => (w, h),
        _ => return Err(format!("{width}×{height} is too large for JPEG")),
    };
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, quality);
    encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
    if let Some(icc) = icc {
        encoder.add_icc_profile(icc).map_err(|e| e.to_string())?;
    }
    let color = if gray {
        jpeg_encoder::ColorType::Luma
    } else {
        jpeg_encoder::ColorType::Rgb
    };
    encoder
        .encode(pixels, w, h, color)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

/// Re-encodes a JPEG (or HEIC) original as JPEG: pixels and the ICC profile only.
pub fn encode_served_jpeg(decoded: &Decoded) -> Result<Vec<u8>, String> {
    let image = &decoded.image;
    let gray = is_gray(image);
    let icc = decoded.icc.as_deref().filter(|icc| icc_fits(icc, gray));
    if gray {
        let luma = image.to_luma8();
        encode_jpeg(
            luma.as_raw(),
            luma.width(),
            luma.height(),
            true,
            SERVED_JPEG_QUALITY,
            icc,
        )
    } else {
        let rgb = flatten_rgb(image);
        encode_jpeg(
            rgb.as_raw(),
            rgb.width(),
            rgb.height(),
            false,
            SERVED_JPEG_QUALITY,
            icc,
        )
    }
}

/// Re-encodes a PNG or WebP original as PNG (lossless, alpha and bit depth kept) with only IHDR,
/// iCCP, IDAT and IEND.
pub fn encode_served_png(decoded: &Decoded) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut encoder =
        PngEncoder::new_with_quality(&mut out, CompressionType::Fast, PngFilter::Adaptive);
    let image = &decoded.image;
    if let Some(icc) = decoded
        .icc
        .as_ref()
        .filter(|icc| icc_fits(icc, is_gray(image)))
    {
        encoder
            .set_icc_profile(icc.clone())
            .map_err(|e| e.to_string())?;
    }
    // PNG stores 8- and 16-bit integer samples; anything else becomes 8- or 16-bit RGBA.
    let converted;
    let image = match image {
        DynamicImage::ImageLuma8(_)
        | DynamicImage::ImageLumaA8(_)
        | DynamicImage::ImageRgb8(_)
        | DynamicImage::ImageRgba8(_)
        | DynamicImage::ImageLuma16(_)
        | DynamicImage::ImageLumaA16(_)
        | DynamicImage::ImageRgb16(_)
        | DynamicImage::ImageRgba16(_) => image,
        other => {
            converted = DynamicImage::ImageRgba16(other.to_rgba16());
            &converted
        }
    };
    image
        .write_with_encoder(encoder)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

/// The size of a thumbnail: longest side [`THUMBNAIL_SIDE`], never upscaled, at least 1 px.
pub fn thumbnail_size(width: u32, height: u32) -> (u32, u32) {
    let longest = width.max(height);
    if longest <= THUMBNAIL_SIDE {
        return (width.max(1), height.max(1));
    }
    let scale = |side: u32| {
        let scaled = (u64::from(side) * u64::from(THUMBNAIL_SIDE) + u64::from(longest) / 2)
            / u64::from(longest);
        (scaled as u32).max(1)
    };
    (scale(width), scale(height))
}

/// Resizes to thumbnail size (flattening alpha over white) with a Lanczos3 convolution.
pub fn thumbnail_pixels(image: &DynamicImage) -> Result<RgbImage, String> {
    resize_rgb(&flatten_rgb(image))
}

/// Resizes an RGB image to thumbnail size (a no-op copy if already small enough).
pub fn resize_rgb(rgb: &RgbImage) -> Result<RgbImage, String> {
    use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
    let (tw, th) = thumbnail_size(rgb.width(), rgb.height());
    if (tw, th) == rgb.dimensions() {
        return Ok(rgb.clone());
    }
    let mut dst = RgbImage::new(tw, th);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    Resizer::new()
        .resize(rgb, &mut dst, &options)
        .map_err(|e| e.to_string())?;
    Ok(dst)
}

/// Encodes thumbnail pixels as a metadata-free baseline JPEG.
pub fn encode_thumbnail(thumb: &RgbImage) -> Result<Vec<u8>, String> {
    encode_jpeg(
        thumb.as_raw(),
        thumb.width(),
        thumb.height(),
        false,
        THUMBNAIL_JPEG_QUALITY,
        None,
    )
}

/// The perceptual hash (pHash: DCT of a downscaled grey image, each of the 8×8 lowest
/// frequencies compared with their median) of the thumbnail pixels. Hashing the 320 px thumbnail rather than the full picture keeps
/// it cheap and makes it independent of the original's resolution.
pub fn perceptual_hash(thumb: &RgbImage) -> u64 {
    let hasher = image_hasher::HasherConfig::new()
        .hash_size(8, 8)
        .hash_alg(image_hasher::HashAlg::Median)
        .preproc_dct()
        .to_hasher();
    let hash = hasher.hash_image(&DynamicImage::ImageRgb8(thumb.clone()));
    let mut bits = [0u8; 8];
    for (dst, src) in bits.iter_mut().zip(hash.as_bytes()) {
        *dst = *src;
    }
    u64::from_be_bytes(bits)
}

/// The fast thumbnail path for JPEG: decode at a reduced DCT scale (1/2, 1/4 or 1/8, the smallest
/// that still covers the thumbnail), apply the EXIF orientation, resize. Returns `None` for
/// colour models it does not handle (CMYK, 16-bit), so the caller falls back to a full decode.
pub fn jpeg_thumbnail_scaled(bytes: &[u8], limits: &Limits) -> Result<Option<RgbImage>, Refusal> {
    let format = FileType::Jpeg;
    let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    decoder.set_max_decoding_buffer_size(
        usize::try_from(limits.max_alloc_bytes / 2).unwrap_or(usize::MAX),
    );
    decoder.read_info().map_err(|e| Refusal::Undecodable {
        format,
        reason: e.to_string(),
    })?;
    let Some(info) = decoder.info() else {
        return Ok(None);
    };
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    check_dimensions(width, height, 3, limits).map_err(|r| with_format(r, format))?;
    let (tw, th) = thumbnail_size(width, height);
    let (sw, sh) = decoder
        .scale(
            u16::try_from(tw).unwrap_or(u16::MAX),
            u16::try_from(th).unwrap_or(u16::MAX),
        )
        .map_err(|e| Refusal::Undecodable {
            format,
            reason: e.to_string(),
        })?;
    let orientation = decoder
        .exif_data()
        .and_then(Orientation::from_exif_chunk)
        .unwrap_or(Orientation::NoTransforms);
    let pixels = decoder.decode().map_err(|e| Refusal::Undecodable {
        format,
        reason: e.to_string(),
    })?;
    let Some(info) = decoder.info() else {
        return Ok(None);
    };
    let (sw, sh) = (u32::from(sw), u32::from(sh));
    let mut image = match info.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 => match RgbImage::from_raw(sw, sh, pixels) {
            Some(rgb) => DynamicImage::ImageRgb8(rgb),
            None => return Ok(None),
        },
        jpeg_decoder::PixelFormat::L8 => match image::GrayImage::from_raw(sw, sh, pixels) {
            Some(gray) => DynamicImage::ImageLuma8(gray),
            None => return Ok(None),
        },
        _ => return Ok(None),
    };
    image.apply_orientation(orientation);
    let rgb = image.into_rgb8();
    resize_rgb(&rgb)
        .map(Some)
        .map_err(|reason| Refusal::Undecodable { format, reason })
}
