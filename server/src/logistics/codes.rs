//! The codes of the route (crate `sample-labels`): fresh recipient and
//! sample codes drawn from the OS generator until one is free, and the
//! normalisation that lets a typed or scanned code match a stored one.

use sample_labels::{RecipientCode, SampleCode};

use crate::{
    db::{self, Conn},
    error::ApiError,
};

/// Draws before giving up: at a million live codes one draw collides with
/// probability 1 in 34,000, so the limit is never reached by chance.
const DRAWS: usize = 16;

/// A recipient code no parcel has.
pub fn fresh_recipient_code(conn: &mut Conn) -> Result<String, ApiError> {
    for _ in 0..DRAWS {
        let code = RecipientCode::generate(&mut rand::rng()).to_string();
        if !db::logistics::recipient_code_taken(conn, &code)? {
            return Ok(code);
        }
    }
    Err(ApiError::Internal("no free recipient code".into()))
}

/// A sample code no parcel has.
pub fn fresh_sample_code(conn: &mut Conn) -> Result<String, ApiError> {
    for _ in 0..DRAWS {
        let code = SampleCode::generate(&mut rand::rng()).to_string();
        if !db::logistics::sample_code_taken(conn, &code)? {
            return Ok(code);
        }
    }
    Err(ApiError::Internal("no free sample code".into()))
}

/// What a station scanned or typed: a recipient code (its check character
/// right) or else a carrier's tracking number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scanned {
    Recipient(String),
    Tracking(String),
}

impl Scanned {
    pub fn kind(&self) -> &'static str {
        match self {
            Scanned::Recipient(_) => "recipient_code",
            Scanned::Tracking(_) => "tracking",
        }
    }

    pub fn code(&self) -> &str {
        match self {
            Scanned::Recipient(c) | Scanned::Tracking(c) => c,
        }
    }
}

/// Reads a scanned or typed code; `None` when it is neither.
pub fn read_scanned(input: &str) -> Option<Scanned> {
    if let Ok(code) = RecipientCode::parse(input) {
        return Some(Scanned::Recipient(code.to_string()));
    }
    normalise_tracking(input).map(Scanned::Tracking)
}

/// A sample code as typed or scanned, canonical; `None` when malformed.
pub fn read_sample_code(input: &str) -> Option<String> {
    SampleCode::parse(input).ok().map(|c| c.to_string())
}

/// A tracking number as stored and compared: case, spaces and dashes do
/// not matter.
pub fn normalise_tracking(input: &str) -> Option<String> {
    sample_labels::normalise_tracking(input)
}

/// The file formats a label is printed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LabelFormat {
    Png,
    Pdf,
    Svg,
}

impl LabelFormat {
    pub fn media_type(self) -> &'static str {
        match self {
            LabelFormat::Png => "image/png",
            LabelFormat::Pdf => "application/pdf",
            LabelFormat::Svg => "image/svg+xml",
        }
    }
}

/// The relabelling label of a parcel: its sample code and the lab's
/// address, nothing else (`Label` has no field for anything else).
pub fn label(
    sample_code: &str,
    lab: &super::places::Place,
    note: Option<String>,
    format: LabelFormat,
    dpi: u32,
) -> Result<Vec<u8>, ApiError> {
    let code = SampleCode::parse(sample_code)
        .map_err(|e| ApiError::Internal(format!("stored sample code does not parse: {e}")))?;
    let label = sample_labels::Label {
        sample_code: code,
        lab_name: lab.name.clone(),
        lab_address: lab.address.clone(),
        note,
        size: sample_labels::LabelSize::default(),
    };
    let made = match format {
        LabelFormat::Png => sample_labels::png(&label, dpi),
        LabelFormat::Pdf => sample_labels::pdf(&label),
        LabelFormat::Svg => sample_labels::svg(&label).map(String::into_bytes),
    };
    made.map_err(|e| match e {
        sample_labels::LabelError::Dpi { .. } => ApiError::InvalidRequest(e.to_string()),
        sample_labels::LabelError::NoAddress
        | sample_labels::LabelError::AddressTooLong
        | sample_labels::LabelError::NoteTooLong
        | sample_labels::LabelError::QrTooLarge { .. } => ApiError::Refused {
            code: "label_does_not_fit",
            status: actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
            detail: format!("{e}; an administrator can shorten the lab's address"),
        },
        other => ApiError::Internal(format!("label: {other}")),
    })
}
