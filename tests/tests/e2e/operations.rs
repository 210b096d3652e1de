//! Health, readiness, metrics and the API description.

use std::time::Duration;

use mystery_buyer_server::{db, sync::pull::PRUNE_JOB};
use mystery_buyer_tests::{Backend, TestEnv, eventually, on_each_backend};
use serde_json::Value;

on_each_backend! {
    async fn health_and_readiness_answer_when_everything_is_reachable(backend: Backend) {
        let env = TestEnv::new(backend);
        let server = env.start().await;
        let health: Value = server.http.get(server.url("/healthz")).send().await.expect("send").json().await.expect("json");
        assert_eq!(health["status"], "ok");
        let ready = server.http.get(server.url("/readyz")).send().await.expect("send");
        assert_eq!(ready.status(), 200);
        let ready: Value = ready.json().await.expect("json");
        let expected = if backend == Backend::SqliteFs { "sqlite" } else { "postgres" };
        assert_eq!(ready["database"], expected);
        server.stop().await;
    }
}

#[tokio::test]
async fn readiness_is_503_with_the_reason_when_the_blob_store_is_gone() {
    let env = TestEnv::new(Backend::SqliteFs);
    let server = env.start().await;
    std::fs::remove_dir_all(env.config.blob_dir()).expect("remove blob folder");
    let response = server
        .http
        .get(server.url("/readyz"))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["code"], "not_ready");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with("blob store:"),
        "{body}"
    );
    server.stop().await;
}

#[cfg(feature = "services")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readiness_is_503_with_the_reason_when_the_database_is_gone() {
    let env = TestEnv::new(Backend::PostgresGarage);
    let server = env.start().await;
    let url = match env.database_target() {
        mystery_buyer_server::config::DatabaseTarget::Postgres(url) => url.expose().to_string(),
        other => panic!("{other:?}"),
    };
    let name = url.rsplit('/').next().expect("name").to_string();
    let admin = mystery_buyer_tests::service_var("MB_TEST_PG_URL");
    tokio::task::spawn_blocking(move || {
        let mut conn =
            <diesel::PgConnection as diesel::Connection>::establish(&admin).expect("admin");
        diesel::RunQueryDsl::execute(
            diesel::sql_query(format!("DROP DATABASE {name} WITH (FORCE)")),
            &mut conn,
        )
        .expect("drop");
    })
    .await
    .expect("join");
    let response = server
        .http
        .get(server.url("/readyz"))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.expect("json");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with("database:"),
        "{body}"
    );
    server.stop().await;
}

on_each_backend! {
    async fn metrics_count_requests_by_route_and_status_and_show_the_job_queue(backend: Backend) {
        let env = TestEnv::new(backend);
        let server = env.start().await;
        // The queue holds the server's own housekeeping: the sync pruning
        // runs at start and schedules tomorrow's. Wait until that is done so
        // the gauge and the table are read from a queue that stands still.
        let db = env.database().await;
        eventually(Duration::from_secs(20), "the start-up pruning is done", || {
            let db = db.clone();
            async move {
                let jobs = db
                    .read(|conn| db::jobs::of_kind(conn, PRUNE_JOB).map_err(db::DbError::from))
                    .await
                    .ok()?;
                jobs.iter().any(|j| j.state == "done").then_some(())
            }
        })
        .await
        .expect("pruned");
        for _ in 0..3 {
            server.http.get(server.url("/healthz")).send().await.expect("send");
        }
        server.http.get(server.url("/nowhere/42")).send().await.expect("send");
        let response = server.http.get(server.url("/metrics")).send().await.expect("send");
        assert!(response.headers()["content-type"].to_str().unwrap_or_default().starts_with("text/plain"));
        let text = response.text().await.expect("text");
        assert!(text.contains(r#"mystery_buyer_http_requests_total{method="GET",route="/healthz",status="200"} 3"#), "{text}");
        assert!(text.contains(r#"route="unmatched",status="404""#), "{text}");
        assert!(!text.contains("/nowhere/42"), "raw paths must not become labels");
        assert!(text.contains("mystery_buyer_http_request_duration_seconds_bucket"), "{text}");
        // The gauge shows what the queue holds, state by state. Other
        // start-up jobs may still be moving, so the gauge is compared with
        // the table only when the table read the same before and after.
        let mut compared = false;
        for _ in 0..50 {
            let depth = || async {
                let mut d = mystery_buyer_server::jobs::queue_depth(&db).await.expect("queue depth");
                d.sort();
                d
            };
            let before = depth().await;
            let text = server.http.get(server.url("/metrics")).send().await.expect("send").text().await.expect("text");
            let after = depth().await;
            if before != after {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            for state in ["queued", "running", "done", "dead"] {
                let n = after.iter().find(|(s, _)| s == state).map_or(0, |(_, n)| *n);
                assert!(text.contains(&format!(r#"mystery_buyer_jobs{{state="{state}"}} {n}"#)), "{n} {state}: {text}");
            }
            compared = true;
            break;
        }
        assert!(compared, "the job queue never stood still for a /metrics read");
        server.stop().await;
    }
}

#[tokio::test]
async fn the_openapi_document_and_its_docs_page_are_served() {
    let env = TestEnv::new(Backend::SqliteFs);
    let server = env.start().await;
    let doc: Value = server
        .http
        .get(server.url("/api/openapi.json"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert!(
        doc["openapi"]
            .as_str()
            .unwrap_or_default()
            .starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    for path in ["/healthz", "/readyz", "/metrics", "/api/openapi.json"] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    let page = server
        .http
        .get(server.url("/api/docs/"))
        .send()
        .await
        .expect("send");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("text");
    assert!(html.to_lowercase().contains("swagger"), "{html}");
    server.stop().await;
}
