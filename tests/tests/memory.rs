//! Putting a 256 MiB object streams: the process never holds more than a few
//! MiB of it. Its own test binary, so no other test shares the process whose
//! peak resident memory is measured (Linux only: `/proc/self/status`).

use std::sync::Arc;

use bytes::Bytes;
use futures_util::{StreamExt, stream};
use mystery_buyer_server::storage::{self, BlobStore, ByteStream, fs::FsStore};
use mystery_buyer_tests::{Backend, TestEnv};
use sha2::{Digest, Sha256};

const MIB: u64 = 1024 * 1024;
const OBJECT: u64 = 256 * MIB;
const CHUNK: usize = 64 * 1024;

/// A direct put may hold the client's and the kernel socket's buffers.
const PUT_BUDGET: u64 = 16 * MIB;
/// Ingest also holds one multipart part (8 MiB) and the part being sent.
const INGEST_BUDGET: u64 = 16 * MIB + 2 * storage::ingest::PART_SIZE as u64;

/// `len` bytes made on the fly, chunk by chunk: the test never holds them.
fn generated(len: u64) -> ByteStream {
    let chunks = len.div_ceil(CHUNK as u64);
    Box::pin(stream::iter(0..chunks).map(move |i| {
        let start = i * CHUNK as u64;
        let size = (len - start).min(CHUNK as u64) as usize;
        let fill = (i % 251) as u8;
        Ok(Bytes::from(vec![fill; size]))
    }))
}

fn expected_sha256(len: u64) -> String {
    let mut hash = Sha256::new();
    let chunks = len.div_ceil(CHUNK as u64);
    for i in 0..chunks {
        let start = i * CHUNK as u64;
        let size = (len - start).min(CHUNK as u64) as usize;
        hash.update(vec![(i % 251) as u8; size]);
    }
    hex::encode(hash.finalize())
}

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} missing from /proc/self/status"))
}

/// Runs `work` and returns how far the peak resident set rose above the
/// resident set at the start (bytes).
async fn peak_growth<F: std::future::Future<Output = ()>>(work: F) -> u64 {
    // Writing 5 resets VmHWM to the current resident set (Linux >= 4.0).
    std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak");
    let before = status_kib("VmRSS:");
    work.await;
    let peak = status_kib("VmHWM:");
    peak.saturating_sub(before) * 1024
}

/// Reads the object back chunk by chunk and hashes it.
async fn stored_sha256(store: &dyn BlobStore, key: &str) -> (u64, String) {
    let object = store.get(key, None).await.expect("get").expect("stored");
    let mut body = object.body;
    let mut hash = Sha256::new();
    let mut size = 0;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.expect("read");
        size += chunk.len() as u64;
        hash.update(&chunk);
    }
    (size, hex::encode(hash.finalize()))
}

/// The store a case runs against.
async fn store(name: &str) -> (Arc<dyn BlobStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("dir");
    let store: Arc<dyn BlobStore> = match name {
        "filesystem" => Arc::new(FsStore::open(dir.path().join("blobs")).expect("fs store")),
        #[cfg(feature = "services")]
        "garage" => mystery_buyer_tests::s3_store(mystery_buyer_tests::S3Service::Garage).await,
        #[cfg(feature = "services")]
        "moto" => mystery_buyer_tests::s3_store(mystery_buyer_tests::S3Service::Moto).await,
        other => panic!("no store {other}"),
    };
    (store, dir)
}

/// One measurement per test, so that under nextest (one process per test,
/// as `cargo xtask test` runs them) no earlier case's freed memory hides a
/// later case's growth. Plain `cargo test` runs them as threads of one
/// process; the lock keeps them from overlapping there.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn put_case(name: &str) {
    let _turn = ONE_AT_A_TIME.lock().await;
    let (store, _dir) = store(name).await;
    let growth = peak_growth(async {
        store
            .put("big/object", generated(OBJECT), OBJECT)
            .await
            .expect(name);
    })
    .await;
    println!(
        "{name}: put of 256 MiB raised peak memory by {} KiB",
        growth / 1024
    );
    assert!(
        growth < PUT_BUDGET,
        "{name}: a 256 MiB put held {} MiB",
        growth / MIB
    );
    assert_eq!(
        stored_sha256(&*store, "big/object").await,
        (OBJECT, expected_sha256(OBJECT)),
        "{name}"
    );
    store.delete("big/object").await.expect(name);
}

async fn ingest_case(name: &str) {
    let _turn = ONE_AT_A_TIME.lock().await;
    let (store, _dir) = store(name).await;
    let env = TestEnv::new(Backend::SqliteFs);
    let db = env.database().await;
    let clock: mystery_buyer_server::clock::SharedClock =
        Arc::new(mystery_buyer_server::clock::SystemClock);
    let mut stored = None;
    let growth = peak_growth(async {
        stored = Some(
            storage::ingest(&*store, &db, &clock, generated(OBJECT), None, OBJECT)
                .await
                .expect(name),
        );
    })
    .await;
    println!(
        "{name}: ingest of 256 MiB raised peak memory by {} KiB",
        growth / 1024
    );
    assert!(
        growth < INGEST_BUDGET,
        "{name}: a 256 MiB ingest held {} MiB",
        growth / MIB
    );
    let stored = stored.expect("ingested");
    let expected = expected_sha256(OBJECT);
    assert_eq!(stored.sha256, expected, "{name}");
    assert_eq!(
        stored_sha256(&*store, &stored.key).await,
        (OBJECT, expected),
        "{name}"
    );
    store.delete(&stored.key).await.expect(name);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_256_mib_put_streams_on_the_filesystem() {
    put_case("filesystem").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_256_mib_ingest_streams_on_the_filesystem() {
    ingest_case("filesystem").await;
}

#[cfg(feature = "services")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_256_mib_put_streams_to_garage() {
    put_case("garage").await;
}

#[cfg(feature = "services")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_256_mib_ingest_streams_to_garage() {
    ingest_case("garage").await;
}

#[cfg(feature = "services")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_256_mib_put_streams_to_moto() {
    put_case("moto").await;
}

#[cfg(feature = "services")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_256_mib_ingest_streams_to_moto() {
    ingest_case("moto").await;
}
