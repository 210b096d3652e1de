//! The web pages as files: served by the binary itself, under a strict
//! Content-Security-Policy, every module they import present. What the
//! pages do is `panel.rs`'s story, in a real browser.

use mystery_buyer_server::auth::Role;
use mystery_buyer_tests::{
    Backend, TestEnv, on_each_backend,
    people::{get, person, post},
};
use reqwest::{StatusCode, header};
use serde_json::json;

on_each_backend! {
/// The shell answers at every address a person opens (the mailed links
/// too) with a policy that allows no inline or foreign script.
async fn the_pages_are_served_by_the_binary_under_a_strict_policy(backend: Backend) {
    let env = TestEnv::new(backend);
    let server = env.start().await;
    let token = "0".repeat(64);
    for path in ["/", "/sign-in", "/station", "/lab", "/recover", &format!("/invitations/{token}"), &format!("/recover/{token}")] {
        let response = server.http.get(server.url(path)).send().await.expect("send");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let headers = response.headers().clone();
        assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8", "{path}");
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().expect("ascii");
        for directive in ["default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"] {
            assert!(csp.contains(directive), "{path}: {csp} lacks {directive}");
        }
        assert!(!csp.contains("unsafe"), "{path}: {csp}");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let html = response.text().await.expect("body");
        // No inline script: every <script> names its file.
        for tag in html.split("<script").skip(1) {
            let open = tag.split('>').next().unwrap_or_default();
            assert!(open.contains("src=\"/assets/"), "{path}: inline script <script{open}>");
        }
        assert!(!html.contains(" style="), "{path}: inline style");
    }
    // A page address that is not one answers 404 as any unknown route.
    let response = server.http.get(server.url("/nowhere")).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    server.stop().await;
}
}

/// Every module the pages import (statically or on demand) is served as
/// JavaScript, so a typo in a path cannot wait for a browser to show it.
#[tokio::test]
async fn every_module_the_pages_import_is_served() {
    let env = TestEnv::new(Backend::SqliteFs);
    let server = env.start().await;
    let mut todo = vec!["/assets/main.js".to_string()];
    let mut seen = std::collections::BTreeSet::new();
    while let Some(path) = todo.pop() {
        if !seen.insert(path.clone()) {
            continue;
        }
        let response = server
            .http
            .get(server.url(&path))
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8",
            "{path}"
        );
        let etag = response.headers()[header::ETAG].clone();
        let text = response.text().await.expect("body");
        // The next request revalidates instead of downloading again.
        let again = server
            .http
            .get(server.url(&path))
            .header(header::IF_NONE_MATCH, etag)
            .send()
            .await
            .expect("send");
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
        let dir = path.rsplit_once('/').map_or("", |(d, _)| d).to_string();
        for quote in ['\'', '"'] {
            for piece in text
                .split(&format!("from {quote}"))
                .skip(1)
                .chain(text.split(&format!("import({quote}")).skip(1))
            {
                let target = piece.split(quote).next().unwrap_or_default();
                if !target.starts_with('.') {
                    continue;
                }
                let mut parts: Vec<&str> = dir.split('/').collect();
                for segment in target.split('/') {
                    match segment {
                        "." => {}
                        ".." => {
                            parts.pop();
                        }
                        s => parts.push(s),
                    }
                }
                todo.push(parts.join("/"));
            }
        }
    }
    assert!(seen.len() >= 5, "{seen:?}");
    let missing = server
        .http
        .get(server.url("/assets/nothing.js"))
        .send()
        .await
        .expect("send");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        missing.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );
    server.stop().await;
}

on_each_backend! {
/// A relay operator's and a lab inspector's own profile names where they
/// work, so their page opens it; other staff have none.
async fn staff_see_their_workplaces_in_their_profile(backend: Backend) {
    let env = TestEnv::with(backend, &[("MB_RATE_LIMIT_IP_PER_MINUTE", "100000")]);
    let server = env.start().await;
    let admin = person(&server, &env, Role::Administrator).await;
    let operator = person(&server, &env, Role::RelayOperator).await;
    let inspector = person(&server, &env, Role::LabInspector).await;
    let token = Some(admin.access_token.as_str());
    let (status, station) = post(&server, "/api/stations", token, json!({
        "name": "Wuhan relay 3", "region": "Hubei", "address": ["18 Jiefang Avenue"], "staff": [operator.user_id],
    })).await;
    assert_eq!(status, StatusCode::CREATED, "{station}");
    let (status, lab) = post(&server, "/api/labs", token, json!({
        "name": "Shanghai lab", "region": "Shanghai", "address": ["88 Caobao Road"], "staff": [inspector.user_id],
    })).await;
    assert_eq!(status, StatusCode::CREATED, "{lab}");
    let (_, me) = get(&server, "/api/me", Some(&operator.access_token)).await;
    assert_eq!(me["workplaces"], json!([{ "id": station["id"], "name": "Wuhan relay 3", "active": true }]));
    let (_, me) = get(&server, "/api/me", Some(&inspector.access_token)).await;
    assert_eq!(me["workplaces"], json!([{ "id": lab["id"], "name": "Shanghai lab", "active": true }]));
    let (_, me) = get(&server, "/api/me", Some(&admin.access_token)).await;
    assert_eq!(me["workplaces"], json!([]));
    server.stop().await;
}
}
