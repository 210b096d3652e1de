//! The one font every label is set in, and text measured with it. Layout, PNG, SVG and PDF all
//! measure with these advances, so a line that fits in one fits in all. This module must never
//! hand out text with a character the font has no glyph for: [`LabelFont::clean`] replaces those
//! with `?`, visibly.
//!
//! The font is a subset of DejaVu Sans 2.37 (Bitstream Vera licence with public-domain DejaVu
//! changes, see `font/LICENSE`; free to embed and redistribute, compatible with the AGPL): Basic
//! Latin, Latin-1 Supplement, Latin Extended-A, Cyrillic U+0400–U+045F and U+0490–U+0491, dashes,
//! quotes, bullet, ellipsis, euro and numero signs. Hinting and layout tables were dropped (no
//! kerning: advances alone place the glyphs, identically in every output). 38 KB.

use ab_glyph::{Font, FontRef, GlyphId};

use crate::LabelError;

/// The embedded font file (TrueType outlines), also embedded whole into each PDF.
pub(crate) const FONT_BYTES: &[u8] = include_bytes!("font/DejaVuSans-subset.ttf");

/// The family name SVG asks for; viewers without it fall back to a sans-serif, and `textLength`
/// keeps the line to the measured width either way.
pub(crate) const FONT_FAMILY: &str = "'DejaVu Sans', Verdana, sans-serif";

/// Shown instead of a character the font lacks.
pub(crate) const REPLACEMENT: char = '?';

pub(crate) struct LabelFont {
    font: FontRef<'static>,
    units_per_em: f32,
}

impl LabelFont {
    pub(crate) fn load() -> Result<Self, LabelError> {
        let font = FontRef::try_from_slice(FONT_BYTES).map_err(|_| LabelError::Font)?;
        let units_per_em = font.units_per_em().ok_or(LabelError::Font)?;
        Ok(LabelFont { font, units_per_em })
    }

    pub(crate) fn font(&self) -> &FontRef<'static> {
        &self.font
    }

    pub(crate) fn units_per_em(&self) -> f32 {
        self.units_per_em
    }

    /// The glyph for a character of cleaned text.
    pub(crate) fn glyph(&self, c: char) -> GlyphId {
        self.font.glyph_id(c)
    }

    fn has_glyph(&self, c: char) -> bool {
        self.font.glyph_id(c).0 != 0
    }

    /// One line of text as it will be printed: control characters (tabs, line breaks) become
    /// spaces, runs of spaces one space, characters without a glyph [`REPLACEMENT`].
    pub(crate) fn clean(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        for c in text.chars() {
            let c = if c.is_whitespace() || c.is_control() {
                ' '
            } else if self.has_glyph(c) {
                c
            } else {
                REPLACEMENT
            };
            if c == ' ' && (out.is_empty() || out.ends_with(' ')) {
                continue;
            }
            out.push(c);
        }
        let trimmed = out.trim_end().len();
        out.truncate(trimmed);
        out
    }

    /// Advance of one glyph in ems.
    pub(crate) fn advance_em(&self, glyph: GlyphId) -> f32 {
        self.font.h_advance_unscaled(glyph) / self.units_per_em
    }

    /// Width of cleaned text in ems.
    pub(crate) fn width_em(&self, text: &str) -> f32 {
        text.chars().map(|c| self.advance_em(self.glyph(c))).sum()
    }

    /// Ascent above the baseline in ems (for placing a line's top edge).
    pub(crate) fn ascent_em(&self) -> f32 {
        self.font.ascent_unscaled() / self.units_per_em
    }

    /// Breaks cleaned text into lines no wider than `max_em` ems: at spaces, and inside a word only
    /// when the word alone is too wide.
    pub(crate) fn wrap(&self, text: &str, max_em: f32) -> Vec<String> {
        let mut lines = Vec::new();
        let mut line = String::new();
        for word in text.split(' ').filter(|w| !w.is_empty()) {
            let candidate = if line.is_empty() {
                word.to_owned()
            } else {
                format!("{line} {word}")
            };
            if self.width_em(&candidate) <= max_em {
                line = candidate;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            // The word alone: break it by characters if it is still too wide.
            for c in word.chars() {
                line.push(c);
                if self.width_em(&line) > max_em && line.chars().count() > 1 {
                    line.pop();
                    lines.push(std::mem::take(&mut line));
                    line.push(c);
                }
            }
        }
        if !line.is_empty() {
            lines.push(line);
        }
        lines
    }
}
