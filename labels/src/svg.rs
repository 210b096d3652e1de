//! The label as SVG, one user unit a millimetre. Barcodes are one path each, a rectangle per run of
//! dark modules, with `crispEdges` so viewers do not blur bar edges. This module must never write
//! text without escaping it: lab names and addresses come from coordinators.

use std::fmt::Write;

use crate::font::FONT_FAMILY;
use crate::layout::{Item, Layout, TextRun};

pub(crate) fn render(layout: &Layout) -> String {
    let mut out = String::with_capacity(16 * 1024);
    // `write!` into a String cannot fail; the results are ignored on that ground.
    let _ = write!(
        out,
        r##"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{w}mm" height="{h}mm" viewBox="0 0 {w} {h}">
<rect width="{w}" height="{h}" fill="#fff"/>
"##,
        w = num(layout.width),
        h = num(layout.height),
    );
    for item in &layout.items {
        match item {
            Item::Text(run) => text(&mut out, run),
            Item::Rule { x, y, w, h } => {
                let _ = writeln!(
                    out,
                    r#"<rect x="{}" y="{}" width="{}" height="{}"/>"#,
                    num(*x),
                    num(*y),
                    num(*w),
                    num(*h)
                );
            }
            Item::Barcode { .. } | Item::Qr { .. } => {
                let class = if matches!(item, Item::Qr { .. }) {
                    "qr"
                } else {
                    "code128"
                };
                let mut d = String::new();
                for (x, y, w, h) in item.module_rects() {
                    let _ = write!(
                        d,
                        "M{} {}h{}v{}h-{}z",
                        num(x),
                        num(y),
                        num(w),
                        num(h),
                        num(w)
                    );
                }
                let _ = writeln!(
                    out,
                    r#"<path class="{class}" shape-rendering="crispEdges" d="{d}"/>"#
                );
            }
        }
    }
    out.push_str("</svg>\n");
    out
}

fn text(out: &mut String, run: &TextRun) {
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" font-family="{}" font-size="{}" textLength="{}" lengthAdjust="spacingAndGlyphs" xml:space="preserve">{}</text>"#,
        num(run.x),
        num(run.baseline),
        FONT_FAMILY,
        num(run.size),
        num(run.width),
        escape(&run.text)
    );
}

/// Millimetres to three decimals (a micrometre), without trailing zeros.
fn num(v: f32) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}
