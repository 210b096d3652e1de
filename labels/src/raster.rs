//! The label as a PNG for thermal and office printers. This module must never draw a barcode or
//! QR module that is not a whole number of pixels wide: a module of 2.6 pixels becomes bars of 2
//! and 3 pixels, which scanners misread. Each symbol therefore gets the largest whole module width
//! that fits its box and is centred in it.

use ab_glyph::{Font, PxScale, point};

use crate::LabelError;
use crate::font::LabelFont;
use crate::layout::{CODE128_QUIET, Item, Layout, QR_QUIET, TextRun};

const MM_PER_INCH: f32 = 25.4;

struct Canvas {
    width: usize,
    height: usize,
    /// 8-bit grey, 255 is paper.
    pixels: Vec<u8>,
    px_per_mm: f32,
}

impl Canvas {
    fn px(&self, mm: f32) -> i64 {
        (mm * self.px_per_mm).round() as i64
    }

    /// Fills whole pixels black; parts outside the canvas are clipped.
    fn fill(&mut self, x: i64, y: i64, w: i64, h: i64) {
        let x0 = x.clamp(0, self.width as i64) as usize;
        let x1 = (x + w).clamp(0, self.width as i64) as usize;
        let y0 = y.clamp(0, self.height as i64) as usize;
        let y1 = (y + h).clamp(0, self.height as i64) as usize;
        for row in y0..y1 {
            self.pixels[row * self.width + x0..row * self.width + x1].fill(0);
        }
    }

    /// Darkens a pixel by `coverage` (0 to 1), clipped.
    fn ink(&mut self, x: i64, y: i64, coverage: f32) {
        if x < 0 || y < 0 || x >= self.width as i64 || y >= self.height as i64 {
            return;
        }
        let p = &mut self.pixels[y as usize * self.width + x as usize];
        let shade = (255.0 * (1.0 - coverage.clamp(0.0, 1.0))).round() as u8;
        *p = (*p).min(shade);
    }
}

pub(crate) fn render(layout: &Layout, font: &LabelFont, dpi: u32) -> Result<Vec<u8>, LabelError> {
    let px_per_mm = dpi as f32 / MM_PER_INCH;
    let width = (layout.width * px_per_mm).round() as usize;
    let height = (layout.height * px_per_mm).round() as usize;
    let mut canvas = Canvas {
        width,
        height,
        pixels: vec![255; width * height],
        px_per_mm,
    };
    for item in &layout.items {
        match item {
            Item::Text(run) => text(&mut canvas, font, run),
            Item::Rule { x, y, w, h } => {
                let (x0, y0) = (canvas.px(*x), canvas.px(*y));
                let (w, h) = (canvas.px(x + w) - x0, (canvas.px(y + h) - y0).max(1));
                canvas.fill(x0, y0, w, h);
            }
            Item::Barcode {
                x,
                y,
                w,
                h,
                modules,
            } => {
                let box_x = canvas.px(*x);
                let box_w = canvas.px(x + w) - box_x;
                let total = (modules.len() + 2 * CODE128_QUIET) as i64;
                let module = box_w / total;
                if module < 1 {
                    return Err(LabelError::Dpi { dpi });
                }
                let start = box_x + (box_w - module * total) / 2 + module * CODE128_QUIET as i64;
                let (top, bottom) = (canvas.px(*y), canvas.px(y + h));
                for (i, _) in modules.iter().enumerate().filter(|(_, bar)| **bar) {
                    canvas.fill(start + module * i as i64, top, module, bottom - top);
                }
            }
            Item::Qr {
                x,
                y,
                side,
                width: n,
                dark,
            } => {
                let box_x = canvas.px(*x);
                let box_y = canvas.px(*y);
                let box_side = canvas.px(x + side) - box_x;
                let total = (n + 2 * QR_QUIET) as i64;
                let module = box_side / total;
                if module < 1 {
                    return Err(LabelError::Dpi { dpi });
                }
                let pad = (box_side - module * total) / 2 + module * QR_QUIET as i64;
                for (i, _) in dark.iter().enumerate().filter(|(_, d)| **d) {
                    let (col, row) = ((i % n) as i64, (i / n) as i64);
                    canvas.fill(
                        box_x + pad + col * module,
                        box_y + pad + row * module,
                        module,
                        module,
                    );
                }
            }
        }
    }
    encode(&canvas)
}

/// Draws a line glyph by glyph at the advances the layout measured with.
fn text(canvas: &mut Canvas, font: &LabelFont, run: &TextRun) {
    let em_px = run.size * canvas.px_per_mm;
    let ttf = font.font();
    // ab_glyph scales by ascent − descent, not by the em.
    let scale = PxScale::from(em_px * ttf.height_unscaled() / font.units_per_em());
    let baseline = run.baseline * canvas.px_per_mm;
    let mut pen = run.x * canvas.px_per_mm;
    for c in run.text.chars() {
        let id = font.glyph(c);
        let glyph = id.with_scale_and_position(scale, point(pen, baseline));
        if let Some(outline) = ttf.outline_glyph(glyph) {
            let bounds = outline.px_bounds();
            outline.draw(|gx, gy, coverage| {
                canvas.ink(
                    bounds.min.x as i64 + gx as i64,
                    bounds.min.y as i64 + gy as i64,
                    coverage,
                );
            });
        }
        pen += font.advance_em(id) * em_px;
    }
}

fn encode(canvas: &Canvas) -> Result<Vec<u8>, LabelError> {
    let failed = |e: ::png::EncodingError| LabelError::Png(e.to_string());
    let mut out = Vec::new();
    let mut encoder = ::png::Encoder::new(&mut out, canvas.width as u32, canvas.height as u32);
    encoder.set_color(::png::ColorType::Grayscale);
    encoder.set_depth(::png::BitDepth::Eight);
    // pHYs: printers and viewers then print the label at its real size.
    let per_metre = (canvas.px_per_mm * 1000.0).round() as u32;
    encoder.set_pixel_dims(Some(::png::PixelDimensions {
        xppu: per_metre,
        yppu: per_metre,
        unit: ::png::Unit::Meter,
    }));
    let mut writer = encoder.write_header().map_err(failed)?;
    writer.write_image_data(&canvas.pixels).map_err(failed)?;
    writer.finish().map_err(failed)?;
    Ok(out)
}
