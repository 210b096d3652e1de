//! Mail goes through the outbox table and a job: as `.eml` files by default,
//! over SMTP when configured, and nothing queued is lost to a restart.

use std::time::Duration;

use mystery_buyer_server::mail::{self, MailError, OutgoingMail};
use mystery_buyer_tests::{Backend, TestEnv, TestServer, eventually};

async fn queue(server_env: &TestEnv, subject: &str) -> String {
    let services = server_env.services().await;
    let now = services.clock.now();
    let mail = OutgoingMail {
        to: "Volunteer Example <volunteer@example.org>".into(),
        subject: subject.into(),
        body: "Your buying task is ready.\nOpen the app to accept it.\n".into(),
    };
    services
        .db
        .write(move |conn| mail::queue(conn, now, &mail))
        .await
        .expect("queued")
}

#[tokio::test]
async fn without_smtp_mail_is_written_to_the_outbox_folder() {
    let env = TestEnv::new(Backend::SqliteFs);
    let server: TestServer = env.start().await;
    let id = queue(&env, "Folder delivery").await;
    let file = env.config.outbox_dir().join(format!("{id}.eml"));
    let text = eventually(Duration::from_secs(20), "the .eml file", || {
        let file = file.clone();
        async move { std::fs::read_to_string(file).ok() }
    })
    .await
    .expect("written");
    assert!(text.contains("Subject: Folder delivery"), "{text}");
    assert!(
        text.contains("To: \"Volunteer Example\" <volunteer@example.org>")
            || text.contains("To: Volunteer Example <volunteer@example.org>"),
        "{text}"
    );
    assert!(text.contains("Open the app to accept it."), "{text}");
    server.stop().await;
}

#[tokio::test]
async fn a_bad_recipient_is_refused_before_anything_is_written() {
    let env = TestEnv::new(Backend::SqliteFs);
    let services = env.services().await;
    let now = services.clock.now();
    let result = services
        .db
        .write(move |conn| {
            mail::queue(
                conn,
                now,
                &OutgoingMail {
                    to: "not an address".into(),
                    subject: "x".into(),
                    body: "y".into(),
                },
            )
        })
        .await;
    assert!(
        matches!(result, Err(MailError::BadAddress(_))),
        "{result:?}"
    );
    let depth = mystery_buyer_server::jobs::queue_depth(&services.db)
        .await
        .expect("count");
    assert!(depth.is_empty(), "{depth:?}");
}

/// The mail jobs in the queue (housekeeping jobs such as the daily sync
/// pruning share it), or `None` while the database cannot be read.
async fn mail_jobs(
    db: &mystery_buyer_server::db::Database,
) -> Option<Vec<mystery_buyer_server::db::jobs::JobRow>> {
    use mystery_buyer_server::db::{self, DbError};
    db.read(|conn| db::jobs::of_kind(conn, mail::SEND_JOB).map_err(DbError::from))
        .await
        .ok()
}

mod smtp {
    use super::*;
    use mystery_buyer_tests::{
        on_each_backend, service_var, unique, wait_for_mail, wait_for_mail_in,
    };

    on_each_backend! {
        async fn a_queued_mail_arrives_at_the_smtp_server_as_written(backend: Backend) {
            let smtp = service_var("MB_TEST_SMTP_URL");
            let env = TestEnv::with(backend, &[("MB_SMTP_URL", &smtp), ("MB_MAIL_FROM", "Mystery Buyer <program@regulator.example>")]);
            let server = env.start().await;
            let subject = unique("Your task ");
            queue(&env, &subject).await;
            let mail = wait_for_mail(&subject, Duration::from_secs(30)).await.expect("arrives");
            assert_eq!(mail.header("From").as_deref(), Some("\"Mystery Buyer\" <program@regulator.example>"));
            let to = mail.header("To").unwrap_or_default();
            assert!(to.contains("<volunteer@example.org>"), "{to}");
            assert!(mail.body().contains("Open the app to accept it."), "{}", mail.raw);
            assert!(mail.header("Message-ID").unwrap_or_default().ends_with("@regulator.example>"));
            server.stop().await;
        }
    }

    on_each_backend! {
        async fn a_mail_queued_before_a_restart_is_sent_after_it(backend: Backend) {
            // First instance: the SMTP server is unreachable, so sending fails.
            let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let dead_smtp = format!("smtp://{}", closed.local_addr().expect("addr"));
            drop(closed);
            let env = TestEnv::with(backend, &[("MB_SMTP_URL", &dead_smtp), ("MB_JOBS_RETRY_BASE_MS", "200")]);
            let first = env.start().await;
            let subject = unique("Queued before restart ");
            queue(&env, &subject).await;
            let db = env.database().await;
            eventually(Duration::from_secs(20), "a failed attempt", || {
                let db = db.clone();
                async move {
                    let jobs = mail_jobs(&db).await?;
                    jobs.iter().any(|j| j.state == "queued" && j.attempts >= 1).then_some(())
                }
            })
            .await
            .expect("attempted");
            first.stop().await;

            // Restart with the real SMTP server: the message goes out.
            let mut config = env.config.clone();
            config.smtp_url = Some(mystery_buyer_server::config::Secret::new(service_var("MB_TEST_SMTP_URL")));
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let second = mystery_buyer_server::run(config, listener).await.expect("restart");
            let mail = wait_for_mail(&subject, Duration::from_secs(30)).await.expect("sent after restart");
            assert!(mail.body().contains("Your buying task is ready."));
            second.stop().await;
        }
    }

    /// STARTTLS (required by that server) and implicit TLS, each with a
    /// certificate from a private CA named in `smtp_ca_file`.
    #[tokio::test]
    async fn mail_goes_over_starttls_and_smtps() {
        for (url_var, maildir_var) in [
            ("MB_TEST_SMTP_STARTTLS_URL", "MB_TEST_SMTP_STARTTLS_MAILDIR"),
            ("MB_TEST_SMTPS_URL", "MB_TEST_SMTPS_MAILDIR"),
        ] {
            let (url, ca) = (service_var(url_var), service_var("MB_TEST_SMTP_CA_FILE"));
            let env = TestEnv::with(
                Backend::SqliteFs,
                &[("MB_SMTP_URL", &url), ("MB_SMTP_CA_FILE", &ca)],
            );
            let server = env.start().await;
            let subject = unique("Over TLS ");
            queue(&env, &subject).await;
            let mail = wait_for_mail_in(maildir_var, &subject, Duration::from_secs(30))
                .await
                .expect(url_var);
            assert!(
                mail.body().contains("Open the app to accept it."),
                "{}",
                mail.raw
            );
            server.stop().await;
        }
    }

    /// Without the CA the certificate is not trusted: nothing is sent in the
    /// clear, the job fails with the reason and waits for a retry.
    #[tokio::test]
    async fn an_untrusted_smtp_certificate_is_refused_and_the_mail_waits() {
        let url = service_var("MB_TEST_SMTP_STARTTLS_URL");
        let env = TestEnv::with(
            Backend::SqliteFs,
            &[("MB_SMTP_URL", &url), ("MB_JOBS_RETRY_BASE_MS", "60000")],
        );
        let server = env.start().await;
        let subject = unique("Untrusted ");
        queue(&env, &subject).await;
        let db = env.database().await;
        let error = eventually(Duration::from_secs(20), "a failed attempt", || {
            let db = db.clone();
            async move {
                let jobs = mail_jobs(&db).await?;
                let job = jobs.into_iter().next()?;
                (job.state == "queued" && job.attempts == 1)
                    .then_some(job.last_error.unwrap_or_default())
            }
        })
        .await
        .expect("attempted");
        assert!(!error.is_empty());
        assert!(
            wait_for_mail_in(
                "MB_TEST_SMTP_STARTTLS_MAILDIR",
                &subject,
                Duration::from_secs(1)
            )
            .await
            .is_err(),
            "nothing was delivered"
        );
        server.stop().await;
    }
}
