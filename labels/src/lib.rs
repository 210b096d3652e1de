//! Codes and labels of the anonymous forwarding route (design/logistics.md): the recipient code a
//! volunteer orders under, the blind sample code a lab knows a parcel by, tracking numbers in the
//! form scans are matched in, and the label a relay station prints when it relabels a parcel for
//! the lab (PNG for thermal printers, SVG and PDF with vector barcodes).
//!
//! Architecture invariant: this crate is pure. It never does IO, never reads the clock, never
//! holds a random generator of its own (the caller passes one), and never panics on any input:
//! a code that does not parse, a tracking number that cannot be one, or a label whose text cannot
//! fit is an error value. Nothing on a label identifies the volunteer, the shop or the campaign:
//! a [`Label`] has no field for them.
//!
//! # Labels
//! A label shows the lab's name and address, the sample code as text, as a Code 128 barcode and
//! inside a QR code (payload: [`qr_payload`]), and an optional note (station, date). The layout is
//! decided once in millimetres (`layout.rs`) and drawn three ways:
//! - [`png`]: 8-bit grey at a chosen resolution; every barcode and QR module is a whole number
//!   of pixels so scanners see even bars; the physical size is recorded in the `pHYs` chunk.
//! - [`svg`]: millimetre user units, text as `<text>` elements (family DejaVu Sans, with
//!   `textLength` so a substitute font keeps the measured width).
//! - [`pdf`]: one page of the label's size; the font embedded as a CID TrueType font with a
//!   ToUnicode map, so text is real text (searchable, copyable) in any script the font covers.

mod codes;
mod font;
mod layout;
mod pdf;
mod raster;
mod svg;
mod tracking;

pub use codes::{ALPHABET, CodeError, CodeKind, RecipientCode, SampleCode};
pub use tracking::{TRACKING_MAX_LEN, TRACKING_MIN_LEN, normalise_tracking};

/// The smallest and largest resolution [`png`] renders at, in dots per inch (thermal printers
/// are 203 or 300 dpi, office printers 300 or 600).
pub const DPI_RANGE: std::ops::RangeInclusive<u32> = 150..=600;

/// What a relabelled parcel carries. Only what the lab needs: never the volunteer, the shop, the
/// price or the campaign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// The parcel's blind sample code.
    pub sample_code: SampleCode,
    /// The receiving lab's name (the label's first address line).
    pub lab_name: String,
    /// The lab's postal address, one line per entry (street, city, country...).
    pub lab_address: Vec<String>,
    /// A small line for the station: its name, the date. Plain text, already formatted.
    pub note: Option<String>,
    /// The label stock.
    pub size: LabelSize,
}

/// Label stock sizes; both are portrait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LabelSize {
    /// 100 × 150 mm, the common metric thermal shipping label.
    #[default]
    Mm100x150,
    /// 4 × 6 inches (101.6 × 152.4 mm), the common US one; the same design, centred.
    Inch4x6,
}

impl LabelSize {
    /// Width and height in millimetres.
    pub fn millimetres(self) -> (f32, f32) {
        match self {
            LabelSize::Mm100x150 => (100.0, 150.0),
            LabelSize::Inch4x6 => (101.6, 152.4),
        }
    }
}

/// Why a label could not be drawn. Each is about the input, except [`LabelError::Font`] and
/// [`LabelError::Barcode`], which would be defects of this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    /// Neither a lab name nor an address line with something printable.
    #[error("the label has no lab name or address")]
    NoAddress,
    /// The lab's name and address do not fit their box even at the smallest type size.
    #[error("the lab's name and address are too long for the label")]
    AddressTooLong,
    /// The note does not fit beside the QR code even at the smallest type size.
    #[error("the note is too long for the label")]
    NoteTooLong,
    /// The QR payload needs a code too dense to print in its square.
    #[error("the QR code's content ({bytes} bytes) is too long to print legibly")]
    QrTooLarge {
        /// The payload's length in UTF-8 bytes.
        bytes: usize,
    },
    /// A PNG resolution outside [`DPI_RANGE`].
    #[error("labels are rendered at 150 to 600 dpi, not {dpi}")]
    Dpi {
        /// The resolution asked for.
        dpi: u32,
    },
    /// The embedded font could not be read (a build defect).
    #[error("the embedded label font is unreadable")]
    Font,
    /// The Code 128 encoder refused the sample code (a defect: sample codes are set B text).
    #[error("the sample code could not be encoded as Code 128")]
    Barcode,
    /// The PNG encoder failed.
    #[error("PNG encoding failed: {0}")]
    Png(String),
}

/// What the label's QR code says, as UTF-8 lines separated by `\n`:
///
/// ```text
/// sample:S-7K4Q-2XHM-J
/// <lab name>
/// <address line 1>
/// <address line 2>
/// ...
/// ```
///
/// The first line lets a scanning app tell a sample label from anything else; the rest is the
/// address as given (not font-cleaned: the QR carries characters the printed font may lack).
/// Inside a line, line breaks and other control characters become spaces; empty lines are left
/// out.
pub fn qr_payload(label: &Label) -> String {
    let mut out = format!("sample:{}", label.sample_code);
    let lines = std::iter::once(&label.lab_name).chain(&label.lab_address);
    for line in lines {
        let line: String = line
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let line = line.trim();
        if !line.is_empty() {
            out.push('\n');
            out.push_str(line);
        }
    }
    out
}

/// The label as a grey PNG at `dpi` dots per inch (see [`DPI_RANGE`]): 100 × 150 mm at 203 dpi is
/// 799 × 1199 pixels.
pub fn png(label: &Label, dpi: u32) -> Result<Vec<u8>, LabelError> {
    if !DPI_RANGE.contains(&dpi) {
        return Err(LabelError::Dpi { dpi });
    }
    let font = font::LabelFont::load()?;
    let layout = layout::layout(label, &font)?;
    raster::render(&layout, &font, dpi)
}

/// The label as a standalone SVG document in millimetres.
pub fn svg(label: &Label) -> Result<String, LabelError> {
    let font = font::LabelFont::load()?;
    let layout = layout::layout(label, &font)?;
    Ok(svg::render(&layout))
}

/// The label as a one-page PDF of the label's size, font embedded.
pub fn pdf(label: &Label) -> Result<Vec<u8>, LabelError> {
    let font = font::LabelFont::load()?;
    let layout = layout::layout(label, &font)?;
    Ok(pdf::render(&layout, &font))
}
