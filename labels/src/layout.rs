//! Where everything goes on a label, in millimetres from the top-left corner, decided once for
//! all three outputs. This module must never place text that was not measured to fit: text that
//! is too long shrinks down to a smallest readable size, and beyond that the label is refused
//! with an error naming what did not fit.
//!
//! The design is 100 × 150 mm, top to bottom: "TO", the lab's name and address (up to 50 mm
//! tall), a rule, "SAMPLE" and the sample code in large type, its Code 128 barcode (25 mm tall,
//! quiet zones of ten modules), a rule, the QR code (38 mm square, quiet zone of four modules) on
//! the left and the note on its right. A 4 × 6 inch label gets the same design centred.

use qrcode::bits::Bits;
use qrcode::types::QrError;
use qrcode::{Color, EcLevel, QrCode, Version};

use crate::font::LabelFont;
use crate::{Label, LabelError, qr_payload};

/// Line height as a multiple of the type size.
const LINE: f32 = 1.2;
/// Smallest type size (em) in mm: about 7 pt, still readable off a 203 dpi thermal printer.
pub(crate) const MIN_TEXT_MM: f32 = 2.5;
/// Code 128 quiet zone on each side, in modules (the standard asks for ten).
pub(crate) const CODE128_QUIET: usize = 10;
/// QR quiet zone on each side, in modules (the standard asks for four).
pub(crate) const QR_QUIET: usize = 4;
/// Densest QR code printed: version 20 (97 modules, 666 bytes at level M). At 38 mm that is
/// 0.36 mm a module, the least a phone camera reads reliably off thermal paper.
const QR_MAX_VERSION: i16 = 20;

/// Design width and height in mm.
const DESIGN_W: f32 = 100.0;
const DESIGN_H: f32 = 150.0;
const MARGIN: f32 = 4.0;

/// One line of cleaned text (every character has a glyph), left edge and baseline in mm, type
/// size (em) in mm, and its measured width.
#[derive(Debug, Clone)]
pub(crate) struct TextRun {
    pub x: f32,
    pub baseline: f32,
    pub size: f32,
    pub width: f32,
    pub text: String,
}

#[derive(Debug, Clone)]
pub(crate) enum Item {
    Text(TextRun),
    /// A filled black rectangle.
    Rule {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
    },
    /// A Code 128 symbol centred in its box, quiet zones included in the box. `modules` are the
    /// symbol's modules (true = bar) without quiet zones.
    Barcode {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        modules: Vec<bool>,
    },
    /// A QR code centred in a square box, quiet zone included. `dark` is row-major, `width`²
    /// modules without quiet zone.
    Qr {
        x: f32,
        y: f32,
        side: f32,
        width: usize,
        dark: Vec<bool>,
    },
}

impl Item {
    /// The dark modules of a barcode or QR code as rectangles (x, y, width, height) in mm, one per
    /// horizontal run, for the vector outputs: modules of the largest width that fits the box,
    /// not rounded to any pixel grid. Empty for text and rules.
    pub(crate) fn module_rects(&self) -> Vec<(f32, f32, f32, f32)> {
        match self {
            Item::Text(_) | Item::Rule { .. } => Vec::new(),
            Item::Barcode {
                x,
                y,
                w,
                h,
                modules,
            } => {
                let module = w / (modules.len() + 2 * CODE128_QUIET) as f32;
                let left = x + module * CODE128_QUIET as f32;
                runs(modules)
                    .map(|(start, len)| (left + module * start as f32, *y, module * len as f32, *h))
                    .collect()
            }
            Item::Qr {
                x,
                y,
                side,
                width,
                dark,
            } => {
                let module = side / (width + 2 * QR_QUIET) as f32;
                let (ox, oy) = (x + module * QR_QUIET as f32, y + module * QR_QUIET as f32);
                dark.chunks((*width).max(1))
                    .enumerate()
                    .flat_map(|(row, cells)| {
                        runs(cells).map(move |(start, len)| {
                            let top = oy + module * row as f32;
                            (ox + module * start as f32, top, module * len as f32, module)
                        })
                    })
                    .collect()
            }
        }
    }
}

/// (first index, length) of each run of `true`.
fn runs(cells: &[bool]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        let start = i + cells.get(i..)?.iter().position(|&d| d)?;
        let len = cells[start..].iter().take_while(|&&d| d).count();
        i = start + len;
        Some((start, len))
    })
}

#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub width: f32,
    pub height: f32,
    pub items: Vec<Item>,
}

pub(crate) fn layout(label: &Label, font: &LabelFont) -> Result<Layout, LabelError> {
    let (width, height) = label.size.millimetres();
    let ox = (width - DESIGN_W) / 2.0;
    let oy = (height - DESIGN_H) / 2.0;
    let inner = DESIGN_W - 2.0 * MARGIN;
    let left = ox + MARGIN;
    let mut items = Vec::new();

    // The addressee block.
    items.push(Item::Text(run(font, "TO", left, oy + 4.0, 3.2)));
    let name = font.clean(&label.lab_name);
    let address: Vec<String> = label
        .lab_address
        .iter()
        .map(|l| font.clean(l))
        .filter(|l| !l.is_empty())
        .collect();
    if name.is_empty() && address.is_empty() {
        return Err(LabelError::NoAddress);
    }
    let block = fit_block(
        font,
        &name,
        &address,
        (left, oy + 9.0),
        (inner, 51.0),
        5.0,
        LabelError::AddressTooLong,
    )?;
    items.extend(block.into_iter().map(Item::Text));
    items.push(Item::Rule {
        x: left,
        y: oy + 61.5,
        w: inner,
        h: 0.6,
    });

    // The sample code, as text and as Code 128.
    items.push(Item::Text(run(font, "SAMPLE", left, oy + 67.0, 3.2)));
    let code = label.sample_code.as_str();
    let size = fit_size(font, code, 8.5, inner);
    let code_width = font.width_em(code) * size;
    items.push(Item::Text(TextRun {
        x: left + (inner - code_width) / 2.0,
        baseline: oy + 77.0,
        size,
        width: code_width,
        text: code.to_owned(),
    }));
    items.push(Item::Barcode {
        x: left,
        y: oy + 80.0,
        w: inner,
        h: 25.0,
        modules: code128(code)?,
    });
    items.push(Item::Rule {
        x: left,
        y: oy + 107.5,
        w: inner,
        h: 0.6,
    });

    // The QR code and the note.
    let (qr_width, dark) = qr(&qr_payload(label))?;
    let qr_side = 38.0;
    items.push(Item::Qr {
        x: left - 1.0,
        y: oy + 109.5,
        side: qr_side,
        width: qr_width,
        dark,
    });
    if let Some(note) = &label.note {
        let note = font.clean(note);
        if !note.is_empty() {
            let note_left = left + qr_side + 2.0;
            let block = fit_block(
                font,
                "",
                &[note],
                (note_left, oy + 112.0),
                (left + inner - note_left, 34.0),
                3.5,
                LabelError::NoteTooLong,
            )?;
            items.extend(block.into_iter().map(Item::Text));
        }
    }
    Ok(Layout {
        width,
        height,
        items,
    })
}

/// A single line at a fixed size (captions).
fn run(font: &LabelFont, text: &str, x: f32, baseline: f32, size: f32) -> TextRun {
    let text = font.clean(text);
    TextRun {
        x,
        baseline,
        size,
        width: font.width_em(&text) * size,
        text,
    }
}

/// The largest size up to `max` at which one line fits `width` (never below the smallest size:
/// callers pass text whose length they bound, like a sample code).
fn fit_size(font: &LabelFont, text: &str, max: f32, width: f32) -> f32 {
    let em = font.width_em(text);
    if em * max <= width {
        max
    } else {
        (width / em).max(MIN_TEXT_MM)
    }
}

/// A heading (may be empty, set 30 % larger) and paragraphs, wrapped to the box's width, at the
/// largest body size up to `largest` (shrinking in steps of 8 %) at which the whole block fits the
/// box's height.
fn fit_block(
    font: &LabelFont,
    heading: &str,
    paragraphs: &[String],
    (x, top): (f32, f32),
    (width, height): (f32, f32),
    largest: f32,
    too_long: LabelError,
) -> Result<Vec<TextRun>, LabelError> {
    let mut body_size = largest;
    while body_size >= MIN_TEXT_MM {
        let heading_size = body_size * 1.3;
        let mut lines: Vec<(String, f32)> = Vec::new();
        if !heading.is_empty() {
            for l in font.wrap(heading, width / heading_size) {
                lines.push((l, heading_size));
            }
        }
        for p in paragraphs {
            for l in font.wrap(p, width / body_size) {
                lines.push((l, body_size));
            }
        }
        let needed: f32 = lines.iter().map(|(_, s)| s * LINE).sum();
        if needed <= height {
            let mut runs = Vec::with_capacity(lines.len());
            let mut line_top = top;
            for (text, size) in lines {
                let baseline = line_top + font.ascent_em() * size;
                runs.push(TextRun {
                    x,
                    baseline,
                    size,
                    width: font.width_em(&text) * size,
                    text,
                });
                line_top += size * LINE;
            }
            return Ok(runs);
        }
        body_size *= 0.92;
    }
    Err(too_long)
}

/// The modules of the Code 128 symbol for a sample code, all in code set B (its characters are
/// upper-case letters, digits and dashes; set C would only pay for runs of four or more digits).
fn code128(code: &str) -> Result<Vec<bool>, LabelError> {
    let symbol = barcoders::sym::code128::Code128::new(format!("\u{0181}{code}"))
        .map_err(|_| LabelError::Barcode)?;
    Ok(symbol.encode().into_iter().map(|m| m == 1).collect())
}

/// The QR code for the payload at error correction level M (15 %: survives a scuff or a fold), in
/// the smallest version that holds it. A payload that is not ASCII is preceded by the ECI
/// designator for UTF-8 (26): without it readers guess the encoding, and some guess Shift JIS.
fn qr(payload: &str) -> Result<(usize, Vec<bool>), LabelError> {
    let too_large = LabelError::QrTooLarge {
        bytes: payload.len(),
    };
    let encode = |version: i16| -> Result<QrCode, QrError> {
        let mut bits = Bits::new(Version::Normal(version));
        if !payload.is_ascii() {
            bits.push_eci_designator(26)?;
        }
        bits.push_byte_data(payload.as_bytes())?;
        bits.push_terminator(EcLevel::M)?;
        QrCode::with_bits(bits, EcLevel::M)
    };
    let code = (1..=QR_MAX_VERSION)
        .find_map(|v| encode(v).ok())
        .ok_or(too_large)?;
    let dark = code
        .to_colors()
        .into_iter()
        .map(|c| c == Color::Dark)
        .collect();
    Ok((code.width(), dark))
}
