//! Two server instances on one PostgreSQL database and one bucket: both are
//! ready, and a blob stored through one is read through the other.

use futures_util::TryStreamExt;
use mystery_buyer_server::{db, storage};
use mystery_buyer_tests::{Backend, TestEnv};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_share_the_database_and_the_bucket() {
    let env = TestEnv::new(Backend::PostgresGarage);
    let first = env.start().await;
    let second = env.start().await;
    for server in [&first, &second] {
        let ready = server
            .http
            .get(server.url("/readyz"))
            .send()
            .await
            .expect("send");
        assert_eq!(ready.status(), 200, "{}", server.base);
    }

    // Each instance's own connections and S3 client, as separate processes have.
    let (a, b) = (env.services().await, env.services().await);
    let data = bytes::Bytes::from(vec![7u8; 3 * 1024 * 1024 + 5]);
    let body: storage::ByteStream =
        Box::pin(futures_util::stream::iter([Ok::<_, std::io::Error>(
            data.clone(),
        )]));
    let stored = storage::ingest(
        &*a.blobs,
        &a.db,
        &a.clock,
        body,
        Some("image/png".into()),
        1 << 30,
    )
    .await
    .expect("stored through the first");

    let sha = stored.sha256.clone();
    let row =
        b.db.read(move |conn| db::blobs::find(conn, &sha).map_err(db::DbError::from))
            .await
            .expect("read")
            .expect("the second sees the record");
    let object = b
        .blobs
        .get(&row.storage_key, None)
        .await
        .expect("get")
        .expect("the second sees the object");
    let read: Vec<bytes::Bytes> = object.body.try_collect().await.expect("body");
    assert!(read.concat() == data[..], "same bytes");

    first.stop().await;
    second.stop().await;
}
