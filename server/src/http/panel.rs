//! The web pages: the coordinators' and administrators' panel, the relay
//! station's page and the lab's page. Plain HTML, CSS and JavaScript
//! modules from `server/panel/`, compiled into the binary, served from the
//! API's own origin so the browser session and its CSRF token just work.
//! This module only serves files; every page talks to the JSON API like any
//! other client, and nothing here reads the database.

use actix_web::{
    HttpRequest, HttpResponse, ResponseError,
    http::header::{self, HeaderValue},
    web,
};
use sha2::{Digest, Sha256};

/// The page shell's policy: nothing inline, nothing from elsewhere. Label
/// previews and photos chosen on a phone are `blob:` URLs; the camera's
/// stream is not subject to it.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self'; font-src 'self'; \
    manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; \
    object-src 'none'";

/// One embedded file.
struct Asset {
    name: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal) => {
        Asset {
            name: $name,
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/panel/", $name)),
        }
    };
}

/// Every file under `/assets/`. A test checks that this list and the
/// folder agree, so a file added there is never silently missing here.
const ASSETS: &[Asset] = &[
    asset!("app.css"),
    asset!("icon.svg"),
    asset!("main.js"),
    asset!("api.js"),
    asset!("dom.js"),
    asset!("passkeys.js"),
    asset!("charts.js"),
    asset!("scanner.js"),
    asset!("pages/auth.js"),
    asset!("pages/campaigns.js"),
    asset!("pages/tasks.js"),
    asset!("pages/people.js"),
    asset!("pages/admin.js"),
    asset!("pages/station.js"),
    asset!("pages/lab.js"),
];

/// The type of an asset, by its extension.
fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

const SHELL: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/panel/index.html"));

/// The names of the embedded assets (for the test that compares them with
/// the folder).
pub fn asset_names() -> Vec<&'static str> {
    ASSETS.iter().map(|a| a.name).collect()
}

/// The routes of the pages: the shell at every address a person may open
/// (the panel's own, and the links mailed for invitations and recovery),
/// and the files it loads.
pub fn routes(cfg: &mut web::ServiceConfig) {
    for path in [
        "/",
        "/sign-in",
        "/station",
        "/lab",
        "/invitations/{token}",
        "/recover",
        "/recover/{token}",
    ] {
        cfg.route(path, web::get().to(shell));
    }
    cfg.route("/assets/{name:.+}", web::get().to(asset));
}

fn etag(body: &[u8]) -> String {
    format!("\"{}\"", hex::encode(&Sha256::digest(body)[..12]))
}

/// Headers every page response carries.
fn respond(req: &HttpRequest, content_type: &str, body: &'static [u8]) -> HttpResponse {
    let tag = etag(body);
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == tag.as_bytes());
    let mut builder = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    builder
        .insert_header((header::CONTENT_TYPE, content_type))
        // Revalidate each time: a new binary serves new files at once.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::ETAG, tag))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"));
    if fresh {
        builder.finish()
    } else {
        builder.body(body)
    }
}

/// The page shell: one HTML document for every page, which loads
/// `main.js`; the script reads the address and shows the page.
pub async fn shell(req: HttpRequest) -> HttpResponse {
    let mut response = respond(&req, "text/html; charset=utf-8", SHELL);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static("camera=(self), microphone=(), geolocation=()"),
    );
    response
}

/// A file of the pages, by name.
pub async fn asset(req: HttpRequest, name: web::Path<String>) -> HttpResponse {
    match ASSETS.iter().find(|a| a.name == name.as_str()) {
        Some(a) => respond(&req, content_type(a.name), a.body),
        None => crate::error::ApiError::NotFound(format!("no asset {name}")).error_response(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Every file in `server/panel/` (but the shell) is served, and
    /// nothing served is missing from the folder.
    #[test]
    fn the_asset_list_names_every_file_of_the_folder() {
        fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).expect("panel folder") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    walk(&path, base, out);
                } else {
                    let name = path.strip_prefix(base).expect("inside").to_string_lossy();
                    out.push(name.replace('\\', "/"));
                }
            }
        }
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("panel");
        let mut files = Vec::new();
        walk(&base, &base, &mut files);
        files.retain(|f| f != "index.html");
        files.sort();
        let mut listed: Vec<String> = super::asset_names().iter().map(|s| s.to_string()).collect();
        listed.sort();
        assert_eq!(files, listed);
    }

    #[test]
    fn every_asset_has_a_known_type() {
        for name in super::asset_names() {
            assert_ne!(
                super::content_type(name),
                "application/octet-stream",
                "{name}"
            );
        }
    }
}
