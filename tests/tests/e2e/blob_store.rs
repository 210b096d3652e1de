//! The blob store contract, run against every store: the filesystem always,
//! Garage and moto with the `services` feature.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use bytes::Bytes;
use futures_util::{TryStreamExt, stream};
use mystery_buyer_server::{
    clock::{ManualClock, SharedClock},
    db,
    storage::{
        self, BlobStore, ByteRange, ByteStream, PartSource, StorageError, content_key, fs::FsStore,
        ingest::abort_stale_multiparts,
    },
};
use mystery_buyer_tests::{Backend, TestEnv};
use sha2::{Digest, Sha256};

const MIB: usize = 1024 * 1024;

/// Every store a contract test runs against, with its name.
async fn stores() -> Vec<(&'static str, Arc<dyn BlobStore>, tempfile::TempDir)> {
    let dir = tempfile::tempdir().expect("dir");
    let fs: Arc<dyn BlobStore> =
        Arc::new(FsStore::open(dir.path().join("blobs")).expect("fs store"));
    #[allow(unused_mut)]
    let mut all = vec![("filesystem", fs, dir)];
    #[cfg(feature = "services")]
    {
        use mystery_buyer_tests::{S3Service, s3_store};
        all.push((
            "garage",
            s3_store(S3Service::Garage).await,
            tempfile::tempdir().expect("dir"),
        ));
        all.push((
            "moto",
            s3_store(S3Service::Moto).await,
            tempfile::tempdir().expect("dir"),
        ));
    }
    all
}

/// Deterministic pseudo-random bytes.
fn pattern(len: usize, seed: u8) -> Bytes {
    let mut state = u32::from(seed).wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect::<Vec<u8>>()
        .into()
}

fn body(bytes: Bytes) -> ByteStream {
    Box::pin(stream::iter(
        bytes
            .chunks(64 * 1024)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>(),
    ))
}

async fn read_all(store: &dyn BlobStore, key: &str, range: Option<ByteRange>) -> Option<Vec<u8>> {
    let object = store.get(key, range).await.expect("get")?;
    let chunks: Vec<Bytes> = object.body.try_collect().await.expect("read body");
    Some(chunks.concat())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn objects_round_trip_with_ranges_head_list_and_delete() {
    for (name, store, _dir) in stores().await {
        let data = pattern(300_000, 1);
        store
            .put("things/a", body(data.clone()), data.len() as u64)
            .await
            .expect(name);
        store
            .put("things/b", body(Bytes::from_static(b"bee")), 3)
            .await
            .expect(name);
        store
            .put("other/c", body(Bytes::new()), 0)
            .await
            .expect(name);

        assert_eq!(
            read_all(&*store, "things/a", None).await.as_deref(),
            Some(&data[..]),
            "{name}"
        );
        let range = ByteRange {
            start: 1000,
            end: Some(1999),
        };
        assert_eq!(
            read_all(&*store, "things/a", Some(range)).await.as_deref(),
            Some(&data[1000..2000]),
            "{name}"
        );
        let tail = ByteRange {
            start: 299_990,
            end: None,
        };
        assert_eq!(
            read_all(&*store, "things/a", Some(tail)).await.as_deref(),
            Some(&data[299_990..]),
            "{name}"
        );
        let object = store
            .get("things/a", Some(range))
            .await
            .expect(name)
            .expect(name);
        assert_eq!(
            (object.size, object.range),
            (300_000, (1000, 1999)),
            "{name}"
        );
        assert_eq!(
            read_all(&*store, "other/c", None).await.as_deref(),
            Some(&b""[..]),
            "{name}"
        );

        assert_eq!(
            store.head("things/a").await.expect(name).map(|m| m.size),
            Some(300_000),
            "{name}"
        );
        assert_eq!(store.head("things/none").await.expect(name), None, "{name}");
        assert!(
            store.get("things/none", None).await.expect(name).is_none(),
            "{name}"
        );

        let listed: Vec<String> = store
            .list("things/")
            .await
            .expect(name)
            .into_iter()
            .map(|m| m.key)
            .collect();
        assert_eq!(listed, vec!["things/a", "things/b"], "{name}");

        // Replacing an object replaces it whole.
        store
            .put("things/b", body(Bytes::from_static(b"wasp")), 4)
            .await
            .expect(name);
        assert_eq!(
            read_all(&*store, "things/b", None).await.as_deref(),
            Some(&b"wasp"[..]),
            "{name}"
        );

        store.delete("things/a").await.expect(name);
        store
            .delete("things/a")
            .await
            .expect("deleting twice is fine");
        assert_eq!(store.head("things/a").await.expect(name), None, "{name}");

        store.rename("things/b", "moved/b").await.expect(name);
        assert_eq!(store.head("things/b").await.expect(name), None, "{name}");
        assert_eq!(
            read_all(&*store, "moved/b", None).await.as_deref(),
            Some(&b"wasp"[..]),
            "{name}"
        );
        store.check().await.expect(name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_body_of_the_wrong_length_stores_nothing() {
    for (name, store, _dir) in stores().await {
        let short = store
            .put("bad/short", body(Bytes::from_static(b"abc")), 10)
            .await;
        assert!(
            matches!(
                short,
                Err(StorageError::ShortBody { .. }) | Err(StorageError::Refused(_))
            ),
            "{name}: {short:?}"
        );
        let long = store
            .put("bad/long", body(Bytes::from_static(b"abcdef")), 3)
            .await;
        assert!(long.is_err(), "{name}");
        let failing: ByteStream = Box::pin(stream::iter(vec![
            Ok(Bytes::from_static(b"abc")),
            Err(std::io::Error::other("client went away")),
        ]));
        assert!(store.put("bad/broken", failing, 6).await.is_err(), "{name}");
        assert!(
            store.list("bad/").await.expect(name).is_empty(),
            "{name} kept a partial object"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn invalid_keys_are_refused() {
    for (name, store, _dir) in stores().await {
        for key in ["../escape", "/abs", "a//b", ".hidden/x"] {
            let result = store.put(key, body(Bytes::from_static(b"x")), 1).await;
            assert!(
                matches!(result, Err(StorageError::InvalidKey(_))),
                "{name} {key}: {result:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn multipart_uploads_list_complete_and_abort() {
    for (name, store, _dir) in stores().await {
        let (a, b, c) = (pattern(5 * MIB, 2), pattern(5 * MIB, 3), pattern(1000, 4));
        let id = store.create_multipart("mp/joined").await.expect(name);
        let open = store.list_multipart_uploads("mp/").await.expect(name);
        assert!(
            open.iter()
                .any(|u| u.upload_id == id && u.key == "mp/joined"),
            "{name}: {open:?}"
        );

        let mut parts = Vec::new();
        for (n, bytes) in [(1, &a), (2, &b), (3, &c)] {
            parts.push(
                store
                    .upload_part("mp/joined", &id, n, Arc::new(bytes.clone()))
                    .await
                    .expect(name),
            );
        }
        let listed = store.list_parts("mp/joined", &id).await.expect(name);
        assert_eq!(
            listed
                .iter()
                .map(|p| (p.number, p.size))
                .collect::<Vec<_>>(),
            vec![(1, 5 * MIB as u64), (2, 5 * MIB as u64), (3, 1000)],
            "{name}"
        );
        assert_eq!(
            listed, parts,
            "{name}: listed parts match what upload_part returned"
        );

        store
            .complete_multipart("mp/joined", &id, &parts)
            .await
            .expect(name);
        let whole = read_all(&*store, "mp/joined", None).await.expect(name);
        assert_eq!(whole.len(), 10 * MIB + 1000, "{name}");
        assert!(
            whole == [&a[..], &b[..], &c[..]].concat(),
            "{name}: content differs"
        );
        assert!(
            !store
                .list_multipart_uploads("mp/")
                .await
                .expect(name)
                .iter()
                .any(|u| u.upload_id == id),
            "{name}"
        );

        // Abort: the upload and its parts are gone.
        let id = store.create_multipart("mp/dropped").await.expect(name);
        store
            .upload_part("mp/dropped", &id, 1, Arc::new(pattern(1000, 5)))
            .await
            .expect(name);
        store.abort_multipart("mp/dropped", &id).await.expect(name);
        store
            .abort_multipart("mp/dropped", &id)
            .await
            .expect("aborting twice is fine");
        assert!(
            !store
                .list_multipart_uploads("mp/")
                .await
                .expect(name)
                .iter()
                .any(|u| u.upload_id == id),
            "{name}"
        );
        let late = store
            .upload_part("mp/dropped", &id, 2, Arc::new(pattern(10, 6)))
            .await;
        assert!(
            late.is_err(),
            "{name}: a part for an aborted upload must fail"
        );
        assert_eq!(store.head("mp/dropped").await.expect(name), None, "{name}");
    }
}

/// A part body whose first `failures` streams break half-way, as a flaky
/// network would. (A real store cannot be told to fail one request, so the
/// fault is injected on our side of the connection.)
struct Flaky {
    bytes: Bytes,
    failures: usize,
    streams: AtomicUsize,
}

impl PartSource for Flaky {
    fn len(&self) -> u64 {
        self.bytes.len() as u64
    }
    fn stream(&self) -> ByteStream {
        let n = self.streams.fetch_add(1, Ordering::SeqCst);
        if n < self.failures {
            let half = self.bytes.slice(..self.bytes.len() / 2);
            Box::pin(stream::iter(vec![
                Ok(half),
                Err(std::io::Error::other("connection reset")),
            ]))
        } else {
            self.bytes.stream()
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_part_is_retried_and_never_aborts_the_upload() {
    for (name, store, _dir) in stores().await {
        let first = pattern(5 * MIB, 7);
        let id = store.create_multipart("retry/obj").await.expect(name);

        // One failed attempt: retried inside upload_part, which succeeds.
        let flaky = Arc::new(Flaky {
            bytes: first.clone(),
            failures: 1,
            streams: AtomicUsize::new(0),
        });
        let p1 = store
            .upload_part("retry/obj", &id, 1, flaky.clone())
            .await
            .expect(name);
        assert!(
            flaky.streams.load(Ordering::SeqCst) >= 2,
            "{name}: the part was sent again"
        );

        // A part that fails every attempt: an error, but the upload lives on.
        let hopeless = Arc::new(Flaky {
            bytes: pattern(1000, 8),
            failures: usize::MAX,
            streams: AtomicUsize::new(0),
        });
        assert!(
            store
                .upload_part("retry/obj", &id, 2, hopeless)
                .await
                .is_err(),
            "{name}"
        );
        let listed = store
            .list_parts("retry/obj", &id)
            .await
            .expect("the upload still exists");
        assert_eq!(
            listed.iter().map(|p| p.number).collect::<Vec<_>>(),
            vec![1],
            "{name}"
        );

        let last = pattern(1000, 9);
        let p2 = store
            .upload_part("retry/obj", &id, 2, Arc::new(last.clone()))
            .await
            .expect(name);
        store
            .complete_multipart("retry/obj", &id, &[p1, p2])
            .await
            .expect(name);
        let whole = read_all(&*store, "retry/obj", None).await.expect(name);
        assert!(whole == [&first[..], &last[..]].concat(), "{name}");
    }
}

/// Ingest stores by content: the same bytes twice are stored once, under
/// `blobs/sha256/<hex>`, and nothing is left in staging.
async fn ingest_story(backend: Backend) {
    let env = TestEnv::new(backend);
    let services = env.services().await;
    let clock: SharedClock = services.clock.clone();
    for size in [0, 1000, 8 * MIB + 17] {
        let data = pattern(size, 10);
        let sha = hex::encode(Sha256::digest(&data));
        let first = storage::ingest(
            &*services.blobs,
            &services.db,
            &clock,
            body(data.clone()),
            Some("image/jpeg".into()),
            64 * MIB as u64,
        )
        .await
        .expect("ingest");
        assert_eq!(
            (first.sha256.as_str(), first.size, first.newly_stored),
            (sha.as_str(), size as u64, true)
        );
        assert_eq!(first.key, content_key(&sha));
        let again = storage::ingest(
            &*services.blobs,
            &services.db,
            &clock,
            body(data.clone()),
            None,
            64 * MIB as u64,
        )
        .await
        .expect("ingest again");
        assert!(!again.newly_stored);
        assert_eq!(
            read_all(&*services.blobs, &first.key, None)
                .await
                .map(|b| b.len()),
            Some(size)
        );
        let sha_row = sha.clone();
        let row = services
            .db
            .read(move |conn| db::blobs::find(conn, &sha_row).map_err(db::DbError::from))
            .await
            .expect("read")
            .expect("row");
        assert_eq!(
            (row.size, row.media_type.as_deref()),
            (size as i64, Some("image/jpeg"))
        );
    }
    assert_eq!(services.blobs.list("blobs/").await.expect("list").len(), 3);
    assert!(
        services
            .blobs
            .list("staging/")
            .await
            .expect("list")
            .is_empty()
    );

    // Too big: refused, nothing kept.
    let too_big = storage::ingest(
        &*services.blobs,
        &services.db,
        &clock,
        body(pattern(9 * MIB, 11)),
        None,
        8 * MIB as u64,
    )
    .await;
    assert!(
        matches!(too_big, Err(StorageError::LongBody { .. })),
        "{too_big:?}"
    );
    assert!(
        services
            .blobs
            .list("staging/")
            .await
            .expect("list")
            .is_empty()
    );
    assert!(
        services
            .blobs
            .list_multipart_uploads("")
            .await
            .expect("list")
            .is_empty()
    );
}

mystery_buyer_tests::on_each_backend! {
    async fn ingest_stores_each_content_once_under_its_hash(backend: Backend) {
        ingest_story(backend).await;
    }
}

mystery_buyer_tests::on_each_backend! {
    async fn multipart_uploads_a_crash_left_behind_are_aborted_by_the_cleanup(backend: Backend) {
        let env = TestEnv::new(backend);
        let services = env.services().await;
        let start = chrono::Utc::now();
        let clock = ManualClock::new(start);
        let shared: SharedClock = Arc::new(clock.clone());
        // A crash between create and complete: the record and the upload stay.
        let now = db::time::to_micros(start);
        let upload_id = services.blobs.create_multipart("staging/crashed").await.expect("create");
        let row = db::blobs::MultipartRow {
            id: uuid::Uuid::now_v7().to_string(),
            object_key: "staging/crashed".into(),
            upload_id: Some(upload_id.clone()),
            purpose: "ingest".into(),
            created_at: now,
            updated_at: now,
        };
        services.db.write(move |conn| db::blobs::insert_multipart(conn, &row).map_err(db::DbError::from)).await.expect("record");
        services.blobs.upload_part("staging/crashed", &upload_id, 1, Arc::new(pattern(100, 12))).await.expect("part");

        let idle = chrono::Duration::hours(1);
        assert_eq!(abort_stale_multiparts(&*services.blobs, &services.db, &shared, idle).await.expect("cleanup"), 0, "not stale yet");
        clock.advance(chrono::Duration::hours(2));
        assert_eq!(abort_stale_multiparts(&*services.blobs, &services.db, &shared, idle).await.expect("cleanup"), 1);
        let open = services.blobs.list_multipart_uploads("").await.expect("list");
        assert!(open.is_empty(), "{open:?}");
        let remaining = services.db.read(move |conn| db::blobs::stale_multiparts(conn, i64::MAX, 10).map_err(db::DbError::from)).await.expect("read");
        assert!(remaining.is_empty());
    }
}
