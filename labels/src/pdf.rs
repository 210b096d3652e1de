//! The label as a one-page PDF. Text is set in the embedded font as a CID-keyed TrueType font
//! (Type0, Identity-H, CIDs are glyph ids) with a ToUnicode map, so Cyrillic and accented
//! addresses print exactly as laid out and copy out as the same text. Barcodes are filled
//! rectangles. This module must never reference a font or glyph it did not embed: every glyph
//! shown is in the embedded file and has its width in the `W` array.

use std::collections::BTreeMap;

use pdf_writer::types::{CidFontType, FontFlags, SystemInfo};
use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str};

use crate::font::{FONT_BYTES, LabelFont};
use crate::layout::{Item, Layout};

const PT_PER_MM: f32 = 72.0 / 25.4;
const FONT_NAME: Name<'static> = Name(b"DejaVuSans");
/// Glyph-space metrics of the embedded subset (1000 units to the em), read once from its `head`,
/// `hhea` and `glyf` tables (H's height): they only feed the font descriptor.
const FONT_BBOX: [f32; 4] = [-1020.5, -462.9, 1793.5, 1232.4];
const ASCENT: f32 = 928.2;
const DESCENT: f32 = -235.8;
const CAP_HEIGHT: f32 = 729.0;

pub(crate) fn render(layout: &Layout, font: &LabelFont) -> Vec<u8> {
    let catalog_id = Ref::new(1);
    let pages_id = Ref::new(2);
    let page_id = Ref::new(3);
    let content_id = Ref::new(4);
    let type0_id = Ref::new(5);
    let cid_id = Ref::new(6);
    let descriptor_id = Ref::new(7);
    let file_id = Ref::new(8);
    let cmap_id = Ref::new(9);
    let font_ref = Name(b"F1");

    let page_h = layout.height * PT_PER_MM;
    // Glyph id → (advance in 1000ths of an em, character) of every glyph shown.
    let mut used: BTreeMap<u16, (f32, char)> = BTreeMap::new();
    let mut content = Content::new();
    content.set_fill_gray(0.0);
    for item in &layout.items {
        match item {
            Item::Text(run) => {
                let mut encoded = Vec::with_capacity(run.text.len() * 2);
                for c in run.text.chars() {
                    let glyph = font.glyph(c);
                    used.entry(glyph.0)
                        .or_insert((font.advance_em(glyph) * 1000.0, c));
                    encoded.extend_from_slice(&glyph.0.to_be_bytes());
                }
                content.begin_text();
                content.set_font(font_ref, run.size * PT_PER_MM);
                content.set_text_matrix([
                    1.0,
                    0.0,
                    0.0,
                    1.0,
                    run.x * PT_PER_MM,
                    page_h - run.baseline * PT_PER_MM,
                ]);
                content.show(Str(&encoded));
                content.end_text();
            }
            Item::Rule { x, y, w, h } => {
                rect(&mut content, page_h, *x, *y, *w, *h);
                content.fill_nonzero();
            }
            Item::Barcode { .. } | Item::Qr { .. } => {
                for (x, y, w, h) in item.module_rects() {
                    rect(&mut content, page_h, x, y, w, h);
                }
                content.fill_nonzero();
            }
        }
    }
    // Each item's rectangles are one path, filled before the next item: a text object may not
    // interrupt a path under construction.
    let content = deflate(&content.finish());

    let mut pdf = Pdf::new();
    pdf.catalog(catalog_id).pages(pages_id);
    pdf.pages(pages_id).kids([page_id]).count(1);
    let mut page = pdf.page(page_id);
    page.parent(pages_id)
        .media_box(Rect::new(
            0.0,
            0.0,
            layout.width * PT_PER_MM,
            layout.height * PT_PER_MM,
        ))
        .contents(content_id);
    page.resources().fonts().pair(font_ref, type0_id);
    page.finish();
    pdf.stream(content_id, &content).filter(Filter::FlateDecode);

    pdf.type0_font(type0_id)
        .base_font(FONT_NAME)
        .encoding_predefined(Name(b"Identity-H"))
        .descendant_font(cid_id)
        .to_unicode(cmap_id);
    let system_info = SystemInfo {
        registry: Str(b"Adobe"),
        ordering: Str(b"Identity"),
        supplement: 0,
    };
    let mut cid = pdf.cid_font(cid_id);
    cid.subtype(CidFontType::Type2)
        .base_font(FONT_NAME)
        .system_info(system_info)
        .font_descriptor(descriptor_id)
        .cid_to_gid_map_predefined(Name(b"Identity"));
    let mut widths = cid.widths();
    for (&glyph, &(advance, _)) in &used {
        widths.consecutive(glyph, [advance]);
    }
    widths.finish();
    cid.finish();

    pdf.font_descriptor(descriptor_id)
        .name(FONT_NAME)
        .flags(FontFlags::NON_SYMBOLIC)
        .bbox(Rect::new(
            FONT_BBOX[0],
            FONT_BBOX[1],
            FONT_BBOX[2],
            FONT_BBOX[3],
        ))
        .italic_angle(0.0)
        .ascent(ASCENT)
        .descent(DESCENT)
        .cap_height(CAP_HEIGHT)
        .stem_v(80.0)
        .font_file2(file_id);
    let font_file = deflate(FONT_BYTES);
    pdf.stream(file_id, &font_file)
        .filter(Filter::FlateDecode)
        .pair(Name(b"Length1"), FONT_BYTES.len() as i32);

    let mut cmap = pdf_writer::types::UnicodeCmap::new(Name(b"DejaVuSans-UTF16"), system_info);
    for (&glyph, &(_, c)) in &used {
        cmap.pair(glyph, c);
    }
    let cmap = cmap.finish();
    pdf.cmap(cmap_id, &cmap);
    pdf.finish()
}

/// A rectangle given top-left-down in mm, added to the current path in PDF points.
fn rect(content: &mut Content, page_h: f32, x: f32, y: f32, w: f32, h: f32) {
    content.rect(
        x * PT_PER_MM,
        page_h - (y + h) * PT_PER_MM,
        w * PT_PER_MM,
        h * PT_PER_MM,
    );
}

fn deflate(data: &[u8]) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec_zlib(data, 6)
}
