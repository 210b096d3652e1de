//! Chat logs: text, JSON, HTML and PDF are kept byte for byte; nothing else passes.

use evidence_media::{Class, FileType, Limits, Refusal, process};

use crate::support::*;

fn accepted(bytes: &[u8]) -> FileType {
    let out = process(Class::ChatLog, bytes, &Limits::default()).expect("accepted");
    assert_eq!(out.served, bytes, "served bytes are the original");
    assert_eq!(out.thumbnail, None);
    assert_eq!(out.perceptual_hash, None);
    assert_eq!(out.served_media_type, out.file_type.media_type());
    out.file_type
}

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";

#[test]
fn text_json_html_and_pdf_chat_logs_are_kept_byte_for_byte() {
    assert_eq!(
        accepted("[12:01] Продавец: отправлю завтра 📦\n".as_bytes()),
        FileType::Text
    );
    assert_eq!(
        accepted(b"\xEF\xBB\xBFseller: hi\r\nme: hello\r\n"),
        FileType::Text
    );
    assert_eq!(
        accepted(br#"{"messages":[{"from":"seller","text":"ok"}]}"#),
        FileType::Json
    );
    assert_eq!(
        accepted(b"<!DOCTYPE html>\n<html><body><p>seller: ok</p></body></html>"),
        FileType::Html
    );
    assert_eq!(accepted(PDF), FileType::Pdf);
    assert_eq!(FileType::Json.media_type(), "application/json");
    assert_eq!(FileType::Pdf.media_type(), "application/pdf");
}

#[test]
fn a_jpeg_is_not_a_chat_log() {
    let photo = jpeg(&photo_like(32, 32, 1), 90);
    let refusal = process(Class::ChatLog, &photo, &Limits::default()).expect_err("refused");
    assert_eq!(
        refusal,
        Refusal::TypeNotAllowed {
            found: FileType::Jpeg,
            class: Class::ChatLog
        }
    );
}

#[test]
fn text_is_not_a_photo() {
    let refusal = process(Class::Photo, b"just words", &Limits::default()).expect_err("refused");
    assert_eq!(
        refusal,
        Refusal::TypeNotAllowed {
            found: FileType::Text,
            class: Class::Photo
        }
    );
}

#[test]
fn a_chat_log_that_is_not_utf8_is_refused_with_the_offset() {
    // "Привет" in Windows-1251.
    let cp1251 = b"seller: \xCF\xF0\xE8\xE2\xE5\xF2\n";
    let refusal = process(Class::ChatLog, cp1251, &Limits::default()).expect_err("refused");
    assert_eq!(refusal, Refusal::NotUtf8 { offset: 8 });
    assert_eq!(refusal.code(), "not_utf8");
    // UTF-16 with a BOM is named too rather than called unknown.
    let utf16 = b"\xFF\xFEh\0i\0";
    assert_eq!(
        process(Class::ChatLog, utf16, &Limits::default())
            .expect_err("refused")
            .code(),
        "not_utf8"
    );
}

#[test]
fn a_pdf_without_its_end_marker_is_truncated() {
    let cut = &PDF[..PDF.len() / 2];
    let refusal = process(Class::ChatLog, cut, &Limits::default()).expect_err("refused");
    assert_eq!(
        refusal,
        Refusal::Truncated {
            format: FileType::Pdf
        }
    );
}

#[test]
fn a_pdf_carrying_a_zip_is_a_polyglot() {
    let mut input = PDF.to_vec();
    input.extend_from_slice(&zip_with("x.js", b"alert(1)"));
    input.extend_from_slice(b"\n%%EOF\n");
    let refusal = process(Class::ChatLog, &input, &Limits::default()).expect_err("refused");
    assert_eq!(
        refusal,
        Refusal::Polyglot {
            format: FileType::Pdf,
            what: "a ZIP archive"
        }
    );
}

#[test]
fn html_with_a_pdf_header_inside_is_a_polyglot() {
    let mut input = b"<html><body>chat</body></html>\n".to_vec();
    input.extend_from_slice(PDF);
    let refusal = process(Class::ChatLog, &input, &Limits::default()).expect_err("refused");
    assert_eq!(refusal.code(), "polyglot");
}

#[test]
fn a_pdf_must_start_with_its_header() {
    let mut shifted = b"   ".to_vec();
    shifted.extend_from_slice(PDF);
    // Leading spaces make it text that contains a PDF header: a polyglot, not a PDF.
    assert_eq!(
        process(Class::ChatLog, &shifted, &Limits::default())
            .expect_err("refused")
            .code(),
        "polyglot"
    );
}
