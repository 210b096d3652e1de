//! Every error answer is `application/problem+json` with a stable `code`.
//! The JSON rules are checked on a probe route mounted on the server's own
//! app factory (the same body limits, extractors and error mapping every
//! endpoint gets), served over real HTTP.

use actix_web::{HttpResponse, HttpServer, web};
use mystery_buyer_server::http::{self, AppState};
use mystery_buyer_tests::{Backend, TestEnv};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Probe {
    name: String,
    count: u32,
}

async fn probe(body: web::Json<Probe>, id: web::Path<uuid::Uuid>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "id": id.into_inner(), "name": body.name }))
}

/// Serves the app with a probe route on a free port; returns its base URL.
async fn serve_probe(env: &TestEnv) -> String {
    let services = env.services().await;
    let state = AppState::new(&services).expect("state");
    let server = HttpServer::new(move || {
        http::app(state.clone(), |cfg| {
            cfg.route("/probe/{id}", web::post().to(probe));
        })
    })
    .workers(1)
    .disable_signals()
    .bind("127.0.0.1:0")
    .expect("bind");
    let addr = server.addrs()[0];
    tokio::spawn(server.run());
    format!("http://{addr}")
}

async fn problem(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert_eq!(content_type, "application/problem+json", "status {status}");
    let body: Value = response.json().await.expect("problem body is JSON");
    assert_eq!(body["status"], status, "{body}");
    assert!(
        body["title"].is_string() && body["detail"].is_string(),
        "{body}"
    );
    assert_eq!(
        body["type"],
        format!(
            "urn:mystery-buyer:problem:{}",
            body["code"].as_str().unwrap_or("?")
        )
    );
    (status, body)
}

#[tokio::test]
async fn json_mistakes_get_the_right_problem() {
    let env = TestEnv::with(Backend::SqliteFs, &[("MB_MAX_JSON_BODY_BYTES", "2048")]);
    let base = serve_probe(&env).await;
    let client = mystery_buyer_tests::http_client().build().expect("client");
    let id = uuid::Uuid::new_v4();
    let url = format!("{base}/probe/{id}");
    let post = |body: &'static str, content_type: &'static str| {
        client
            .post(&url)
            .header("content-type", content_type)
            .body(body)
            .send()
    };

    let ok = post(r#"{"name":"a","count":1}"#, "application/json")
        .await
        .expect("send");
    assert_eq!(ok.status(), 200);

    let (status, body) = problem(
        post(r#"{"name":"a","#, "application/json")
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("malformed_json")),
        "{body}"
    );

    let (status, body) = problem(
        post(r#"{"name":"a","count":-1}"#, "application/json")
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("invalid_body")),
        "{body}"
    );

    let (status, body) = problem(
        post(r#"{"name":"a","count":1,"admin":true}"#, "application/json")
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("invalid_body")),
        "{body}"
    );

    let (status, body) = problem(
        post(r#"{"name":"a","count":1}"#, "text/plain")
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (415, Some("unsupported_media_type")),
        "{body}"
    );

    let big = format!(r#"{{"name":"{}","count":1}}"#, "x".repeat(4096));
    let response = client
        .post(&url)
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .expect("send");
    let (status, body) = problem(response).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("payload_too_large")),
        "{body}"
    );
    assert!(
        body["detail"].as_str().unwrap_or_default().contains("2048"),
        "{body}"
    );

    // The same without a Content-Length (chunked): cut off at the limit.
    let chunks: Vec<Result<String, std::io::Error>> = big
        .as_bytes()
        .chunks(512)
        .map(|c| Ok(String::from_utf8_lossy(c).into_owned()))
        .collect();
    let response = client
        .post(&url)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .expect("send");
    let (status, body) = problem(response).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("payload_too_large")),
        "{body}"
    );

    let response = client
        .post(format!("{base}/probe/not-a-uuid"))
        .header("content-type", "application/json")
        .body(r#"{"name":"a","count":1}"#)
        .send()
        .await
        .expect("send");
    let (status, body) = problem(response).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_request")),
        "{body}"
    );
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_are_problems() {
    let env = TestEnv::new(Backend::SqliteFs);
    let server = env.start().await;

    let response = server
        .http
        .get(server.url("/no/such/route"))
        .send()
        .await
        .expect("send");
    let (status, body) = problem(response).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("not_found")),
        "{body}"
    );

    let response = server
        .http
        .delete(server.url("/healthz"))
        .send()
        .await
        .expect("send");
    let allow = response
        .headers()
        .get("allow")
        .map(|v| v.to_str().unwrap_or_default().to_string());
    let (status, body) = problem(response).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (405, Some("method_not_allowed")),
        "{body}"
    );
    assert_eq!(allow.as_deref(), Some("GET"));

    server.stop().await;
}

/// README, "Connections": what a pooled HTTP client must expect. A
/// connection that sends no whole request head within
/// `client_request_timeout_secs` gets `408` with an empty body and is
/// closed, whether it sent nothing (a client's spare connection) or half a
/// head (a slow or hostile client). A kept-alive connection left idle after
/// a response is closed without a word. The test rig's `CLIENT_IDLE` is
/// chosen against both.
#[tokio::test]
async fn idle_and_slow_connections_are_closed_as_the_readme_says() {
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let env = TestEnv::with(
        Backend::SqliteFs,
        &[("MB_CLIENT_REQUEST_TIMEOUT_SECS", "1")],
    );
    let server = env.start().await;
    let addr = server.base.trim_start_matches("http://").to_owned();
    // Everything the server sends until it closes the connection.
    let exchange = |sent: &'static [u8]| {
        let addr = addr.clone();
        async move {
            let mut stream = tokio::net::TcpStream::connect(&addr)
                .await
                .expect("connect");
            stream.write_all(sent).await.expect("write");
            let mut answer = Vec::new();
            tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut answer))
                .await
                .expect("the server closes the connection")
                .expect("read");
            String::from_utf8(answer)
                .expect("ASCII")
                .to_ascii_lowercase()
        }
    };

    for sent in [&b""[..], b"GET /healthz HTTP/1.1\r\nhost: x\r\n"] {
        let answer = exchange(sent).await;
        assert!(answer.starts_with("http/1.1 408 "), "{answer:?}");
        assert!(answer.contains("\r\nconnection: close\r\n"), "{answer:?}");
        assert!(answer.contains("\r\ncontent-length: 0\r\n"), "{answer:?}");
        assert!(answer.ends_with("\r\n\r\n"), "no body: {answer:?}");
    }

    let answer = exchange(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n").await;
    assert!(answer.starts_with("http/1.1 200 "), "{answer:?}");
    assert_eq!(answer.matches("http/1.1 ").count(), 1, "{answer:?}");
    server.stop().await;
}
