//! The custody log as stored, on both backends: `mystery-buyer audit
//! verify` (the real binary, against the real database) says an untouched
//! log is intact, and names the first entry when rows are changed, removed
//! or inserted directly in SQL, the way someone with database access would
//! tamper with them.

use diesel::RunQueryDsl;
use mystery_buyer_server::{
    custody::{self, Event},
    db::{Conn, DbError},
    error::ApiError,
};
use mystery_buyer_tests::{Backend, TestEnv, on_each_backend};

use super::logistics::SIGNING_SEED;

/// Twelve entries, a signed checkpoint after the eighth.
async fn logged(backend: Backend) -> TestEnv {
    let env = TestEnv::with(backend, &[("MB_CUSTODY_SIGNING_KEY", SIGNING_SEED)]);
    let services = env.services().await;
    let signer = services.custody_signer.clone().expect("a signer");
    services
        .db
        .write(move |conn| {
            let start = chrono::Utc::now().timestamp_micros();
            for i in 0..12_i64 {
                let kind = if i % 3 == 0 {
                    "received_at_station"
                } else {
                    "forwarded"
                };
                custody::append(
                    conn,
                    start + i,
                    Event::new(kind, &format!("task-{}", i % 4))
                        .sample(&format!("S-TEST-{i:04}"))
                        .with("station", "wuhan-3")
                        .with_int("parcels", i),
                )?;
                if i == 7 {
                    custody::checkpoint(conn, start + i, &signer)?;
                }
            }
            Ok::<_, ApiError>(())
        })
        .await
        .expect("log written");
    env
}

/// Runs `audit verify`; (success, stdout + stderr).
fn audit(env: &TestEnv) -> (bool, String) {
    let mut command = std::process::Command::new(mystery_buyer_tests::binary());
    for (key, _) in std::env::vars() {
        if key.starts_with("MB_") {
            command.env_remove(key);
        }
    }
    let output = command
        .envs(env.env_vars())
        .args(["audit", "verify"])
        .output()
        .expect("run the binary");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// Runs raw SQL against the test's database, as a tamperer would.
async fn tamper(env: &TestEnv, statements: &'static [&'static str]) {
    let db = env.database().await;
    db.write(move |conn| {
        for sql in statements {
            match conn {
                Conn::Sqlite(c) => diesel::sql_query(*sql).execute(&mut **c)?,
                Conn::Pg(c) => diesel::sql_query(*sql).execute(&mut **c)?,
            };
        }
        Ok::<_, DbError>(())
    })
    .await
    .expect("tampered");
}

on_each_backend! {
async fn audit_verify_finds_an_intact_log_intact(backend: Backend) {
    let env = logged(backend).await;
    let (ok, text) = audit(&env);
    assert!(ok, "{text}");
    assert!(text.contains("entries read: 12"), "{text}");
    assert!(text.contains("checkpoints verified: 1"), "{text}");
    assert!(text.contains("up to entry: 8"), "{text}");
    assert!(text.contains("the custody log is intact"), "{text}");
}
}

on_each_backend! {
async fn audit_verify_names_a_changed_entry(backend: Backend) {
    let env = logged(backend).await;
    tamper(&env, &["UPDATE custody_entries SET data = '{\"parcels\":5,\"station\":\"elsewhere\"}' WHERE seq = 5"]).await;
    let (ok, text) = audit(&env);
    assert!(!ok, "{text}");
    assert!(text.contains("entry 5 was changed"), "{text}");
}
}

on_each_backend! {
async fn audit_verify_names_removed_entries(backend: Backend) {
    let env = logged(backend).await;
    tamper(&env, &["DELETE FROM custody_entries WHERE seq = 10"]).await;
    let (ok, text) = audit(&env);
    assert!(!ok, "{text}");
    assert!(text.contains("1 entries after entry 9 were removed"), "{text}");
}
}

on_each_backend! {
async fn audit_verify_names_an_entry_inserted_with_the_rest_renumbered(backend: Backend) {
    let env = logged(backend).await;
    // Entries 7.. move up one, and a forged entry takes seq 7, linked to
    // entry 6 and hashed correctly: only the chain after it (and the
    // checkpoint) can tell.
    let db = env.database().await;
    db.write(|conn| {
        let six = mystery_buyer_server::db::custody::entries_after(conn, 5, 1)?;
        let head = custody::from_row(six[0].clone()).head();
        let forged = custody_log::append(Some(head), custody_log::NewEntry {
            at_us: six[0].at + 1,
            kind: "received_at_lab".into(),
            subject: "task-9".into(),
            sample: Some("S-FORGED".into()),
            data: serde_json::json!({ "lab": "nowhere" }),
        })
        .expect("entry");
        let shift = [
            "UPDATE custody_entries SET seq = seq + 1000 WHERE seq >= 7",
            "UPDATE custody_entries SET seq = seq - 999 WHERE seq >= 1000",
        ];
        for sql in shift {
            match conn {
                Conn::Sqlite(c) => diesel::sql_query(sql).execute(&mut **c)?,
                Conn::Pg(c) => diesel::sql_query(sql).execute(&mut **c)?,
            };
        }
        let row = mystery_buyer_server::db::custody::EntryRow {
            seq: 7,
            at: forged.at_us,
            kind: forged.kind.clone(),
            task_id: forged.subject.clone(),
            sample_code: forged.sample.clone(),
            data: forged.canonical_data(),
            prev_hash: hex::encode(forged.prev_hash),
            hash: hex::encode(forged.hash),
        };
        mystery_buyer_server::db::custody::insert_entries(conn, std::slice::from_ref(&row))?;
        Ok::<_, DbError>(())
    })
    .await
    .expect("inserted");
    let (ok, text) = audit(&env);
    assert!(!ok, "{text}");
    assert!(text.contains("entry 7 was inserted"), "{text}");
}
}

on_each_backend! {
async fn audit_verify_names_a_rewritten_log_that_no_longer_matches_its_checkpoint(backend: Backend) {
    let env = logged(backend).await;
    // The whole log from entry 3 re-hashed consistently: the chain holds,
    // the signed checkpoint does not.
    let db = env.database().await;
    db.write(|conn| {
        let rows = mystery_buyer_server::db::custody::entries_after(conn, 0, 100)?;
        let mut head = None;
        for (i, row) in rows.into_iter().enumerate() {
            let mut entry = custody::from_row(row);
            if i >= 2 {
                if i == 2 {
                    entry.data = serde_json::json!({ "parcels": 2, "station": "rewritten" });
                }
                entry = custody_log::append(head, custody_log::NewEntry {
                    at_us: entry.at_us,
                    kind: entry.kind.clone(),
                    subject: entry.subject.clone(),
                    sample: entry.sample.clone(),
                    data: entry.data.clone(),
                })
                .expect("entry");
                let sql = format!(
                    "UPDATE custody_entries SET data = '{}', prev_hash = '{}', hash = '{}' WHERE seq = {}",
                    entry.canonical_data(), hex::encode(entry.prev_hash), hex::encode(entry.hash), entry.seq
                );
                match conn {
                    Conn::Sqlite(c) => diesel::sql_query(sql).execute(&mut **c)?,
                    Conn::Pg(c) => diesel::sql_query(sql).execute(&mut **c)?,
                };
            }
            head = Some(entry.head());
        }
        Ok::<_, DbError>(())
    })
    .await
    .expect("rewritten");
    let (ok, text) = audit(&env);
    assert!(!ok, "{text}");
    assert!(text.contains("no longer matches the signed checkpoint of size 8"), "{text}");
}
}
