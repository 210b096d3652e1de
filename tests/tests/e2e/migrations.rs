//! Every migration runs up, down and up again on both backends, and the
//! schema comes back identical.

use mystery_buyer_server::db::{Database, migrations};
use mystery_buyer_tests::{Backend, TestEnv, on_each_backend};

on_each_backend! {
    async fn migrations_go_up_down_and_up_again_to_the_same_schema(backend: Backend) {
        let env = TestEnv::new(backend);
        let db = Database::connect(&env.database_target(), 2).expect("connect");
        let db2 = db.clone();
        tokio::task::spawn_blocking(move || {
            let db = db2;
            let applied = db.migrate().expect("up");
            assert!(applied.len() >= 4, "applied {applied:?}");
            let first = db.read_blocking(migrations::schema_fingerprint).expect("fingerprint");
            assert!(first.iter().any(|l| l.contains("jobs")), "{first:?}");

            let reverted = db.read_blocking(migrations::revert_all).expect("down");
            assert_eq!(reverted.len(), applied.len());
            let empty = db.read_blocking(migrations::schema_fingerprint).expect("fingerprint");
            assert!(empty.is_empty(), "down left {empty:?}");

            db.migrate().expect("up again");
            let second = db.read_blocking(migrations::schema_fingerprint).expect("fingerprint");
            assert_eq!(first, second);

            // Applying again is a no-op.
            assert!(db.migrate().expect("idempotent").is_empty());
        })
        .await
        .expect("blocking task");
    }
}

#[cfg(feature = "services")]
#[tokio::test]
async fn both_backends_end_with_the_same_tables_and_columns() {
    let sqlite = TestEnv::new(Backend::SqliteFs).database().await;
    let postgres = TestEnv::new(Backend::PostgresGarage).database().await;
    let columns = |db: Database| {
        tokio::task::spawn_blocking(move || {
            db.read_blocking(migrations::portable_columns)
                .expect("columns")
        })
    };
    let (a, b) = (
        columns(sqlite).await.expect("join"),
        columns(postgres).await.expect("join"),
    );
    assert!(a.contains(&"users.pseudonym".to_string()), "{a:?}");
    assert_eq!(a, b);
}
