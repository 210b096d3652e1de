//! Evidence uploads over tus 1.0, driven by raw HTTP so every header and
//! status is checked: on both backends, on moto (which refuses parts under
//! 5 MiB), and across two instances. The bytes are checked where they end
//! up: in the bucket or the data folder.

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::Duration;
use mystery_buyer_server::{Services, auth::Role, clock::ManualClock, storage::BlobStore, uploads};
use mystery_buyer_tests::{
    Backend, TestEnv, TestServer, on_each_backend,
    people::{Person, person},
    sync::{Device, create_task, new_id},
};
use reqwest::{StatusCode, header::HeaderMap};
use sha2::{Digest, Sha256};
use sync_protocol::{
    Kind, Mutation, Record, Status,
    mutations::{AddEvidence, SetTaskStatus},
    records::{EvidenceKind, EvidenceStatus},
};

const MIB: usize = 1024 * 1024;

/// A tus client with a bearer token.
pub struct Tus<'a> {
    pub server: &'a TestServer,
    pub token: String,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: serde_json::Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    pub fn offset(&self) -> u64 {
        self.header("upload-offset")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no Upload-Offset in {:?}", self.headers))
    }
}

impl<'a> Tus<'a> {
    pub fn new(server: &'a TestServer, person: &Person) -> Self {
        Self {
            server,
            token: person.access_token.clone(),
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.server
            .http
            .request(method, self.server.url(path))
            .bearer_auth(&self.token)
            .header("Tus-Resumable", "1.0.0")
    }

    async fn send(request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.expect("send");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.json().await.unwrap_or(serde_json::Value::Null);
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn create(&self, length: Option<usize>, metadata: &str) -> Answer {
        let mut r = self
            .request(reqwest::Method::POST, "/api/uploads")
            .header("Upload-Metadata", metadata);
        r = match length {
            Some(l) => r.header("Upload-Length", l.to_string()),
            None => r.header("Upload-Defer-Length", "1"),
        };
        Self::send(r).await
    }

    /// Creates an upload for `evidence_id` and returns its path.
    pub async fn start(&self, length: usize, evidence_id: &str) -> String {
        let a = self
            .create(
                Some(length),
                &meta(&[("evidence_id", evidence_id.as_bytes())]),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
        a.header("location").expect("Location")
    }

    pub async fn head(&self, path: &str) -> Answer {
        Self::send(self.request(reqwest::Method::HEAD, path)).await
    }

    pub async fn patch(&self, path: &str, offset: usize, bytes: &[u8]) -> Answer {
        self.patch_with(path, offset, bytes, None).await
    }

    pub async fn patch_with(
        &self,
        path: &str,
        offset: usize,
        bytes: &[u8],
        checksum: Option<String>,
    ) -> Answer {
        let mut r = self
            .request(reqwest::Method::PATCH, path)
            .header("Upload-Offset", offset.to_string())
            .header("Content-Type", "application/offset+octet-stream")
            .body(bytes.to_vec());
        if let Some(c) = checksum {
            r = r.header("Upload-Checksum", c);
        }
        Self::send(r).await
    }

    /// Sends `bytes` from `from` in chunks of `chunk`, each 204.
    pub async fn send_all(&self, path: &str, from: usize, bytes: &[u8], chunk: usize) {
        let mut offset = from;
        while offset < bytes.len() {
            let end = (offset + chunk).min(bytes.len());
            let a = self.patch(path, offset, &bytes[offset..end]).await;
            assert_eq!(
                a.status,
                StatusCode::NO_CONTENT,
                "PATCH at {offset}: {}",
                a.body
            );
            assert_eq!(a.offset(), end as u64);
            offset = end;
        }
    }

    pub async fn delete(&self, path: &str) -> Answer {
        Self::send(self.request(reqwest::Method::DELETE, path)).await
    }
}

/// `Upload-Metadata` from pairs.
pub fn meta(pairs: &[(&str, &[u8])]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k} {}", STANDARD.encode(v)))
        .collect::<Vec<_>>()
        .join(",")
}

/// A chat log of about `size` bytes: valid UTF-8 text, different per seed.
pub fn chat_log(size: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 64);
    let mut n = seed;
    while out.len() < size {
        n = n
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        out.extend_from_slice(format!("[{n:020}] seller: the parcel ships tomorrow\n").as_bytes());
    }
    out.truncate(size);
    out
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A volunteer with a phone and an accepted task.
pub struct Volunteer {
    pub person: Person,
    pub phone: Device,
    pub task: String,
}

pub async fn volunteer_with_task(
    server: &TestServer,
    env: &TestEnv,
    clock: &ManualClock,
    coordinator: &Person,
) -> Volunteer {
    let person = person(server, env, Role::Volunteer).await;
    let mut phone = Device::register(server, &person, "phone").await;
    let task = create_task(server, coordinator, &person.user_id, "Power strip").await;
    phone.pull(server).await;
    phone.mutate(
        now(clock),
        Mutation::SetTaskStatus(SetTaskStatus {
            task_id: task.clone(),
            generation: 1,
            status: Status::Accepted,
        }),
    );
    phone.sync(server, now(clock)).await;
    Volunteer {
        person,
        phone,
        task,
    }
}

fn now(clock: &ManualClock) -> i64 {
    use mystery_buyer_server::clock::Clock;
    clock.now().timestamp_micros()
}

/// The phone records evidence for `bytes` and pushes it.
pub async fn record_evidence(
    server: &TestServer,
    clock: &ManualClock,
    v: &mut Volunteer,
    kind: EvidenceKind,
    bytes: &[u8],
    media_type: &str,
) -> String {
    let id = new_id();
    v.phone.mutate(
        now(clock),
        Mutation::AddEvidence(AddEvidence {
            id: id.clone(),
            task_id: v.task.clone(),
            kind,
            sha256: sha256_hex(bytes),
            size: bytes.len() as u64,
            media_type: media_type.into(),
            captured_at_us: now(clock),
            note: String::new(),
        }),
    );
    v.phone.sync(server, now(clock)).await;
    id
}

/// The evidence record as the phone last pulled it.
pub fn evidence_on(phone: &Device, id: &str) -> sync_protocol::records::Evidence {
    match phone
        .replica
        .confirmed()
        .get(&(Kind::Evidence, id.to_owned()))
    {
        Some(Record::Evidence(e)) => e.clone(),
        other => panic!("evidence {id} is not on the phone: {other:?}"),
    }
}

/// Every key the store holds under `prefix`, and its open multipart uploads.
pub async fn stored_under(store: &Arc<dyn BlobStore>, prefix: &str) -> (Vec<String>, usize) {
    let objects = store.list(prefix).await.expect("list");
    let multiparts = store
        .list_multipart_uploads(prefix)
        .await
        .expect("list multipart uploads");
    (
        objects.into_iter().map(|o| o.key).collect(),
        multiparts.len(),
    )
}

pub async fn read_blob(store: &Arc<dyn BlobStore>, key: &str) -> Vec<u8> {
    use futures_util::TryStreamExt;
    let object = store
        .get(key, None)
        .await
        .expect("get")
        .expect("the object exists");
    let chunks: Vec<bytes::Bytes> = object.body.try_collect().await.expect("body");
    chunks.concat()
}

pub struct World {
    pub env: TestEnv,
    pub server: TestServer,
    pub clock: ManualClock,
    pub coordinator: Person,
    pub services: Services,
}

pub async fn world_with(backend: Backend, extra: &[(&str, &str)]) -> World {
    let mut settings = vec![
        ("MB_RATE_LIMIT_IP_PER_MINUTE", "100000"),
        ("MB_ACCESS_TOKEN_SECS", "864000"),
    ];
    settings.extend_from_slice(extra);
    let env = TestEnv::with(backend, &settings);
    let clock = mystery_buyer_tests::manual_clock();
    let server = env.start_with_clock(clock.clone()).await;
    let coordinator = person(&server, &env, Role::Coordinator).await;
    let mut services = env.services().await;
    services.clock = Arc::new(clock.clone());
    World {
        env,
        server,
        clock,
        coordinator,
        services,
    }
}

on_each_backend! {
/// The protocol as a client sees it: discovery, creation, offsets, chunks
/// with and without checksums, and every wrong request answered with its
/// status while the upload stays as it was.
async fn an_upload_in_chunks_is_stored_whole_and_wrong_requests_change_nothing(backend: Backend) {
    let w = world_with(backend, &[]).await;
    let mut v = volunteer_with_task(&w.server, &w.env, &w.clock, &w.coordinator).await;
    let tus = Tus::new(&w.server, &v.person);

    // Discovery.
    let options = Tus::send(w.server.http.request(reqwest::Method::OPTIONS, w.server.url("/api/uploads"))).await;
    assert_eq!(options.status, StatusCode::NO_CONTENT);
    assert_eq!(options.header("tus-version").as_deref(), Some("1.0.0"));
    let extensions = options.header("tus-extension").expect("Tus-Extension");
    for ext in ["creation", "creation-with-upload", "creation-defer-length", "termination", "checksum", "expiration"] {
        assert!(extensions.split(',').any(|e| e == ext), "{ext} in {extensions}");
    }
    assert_eq!(options.header("tus-checksum-algorithm").as_deref(), Some("sha1,sha256"));
    assert_eq!(options.header("tus-max-size").as_deref(), Some(&*(64 * MIB).to_string()));

    // A 12 MiB chat log, its record synced first.
    let file = chat_log(12 * MIB + 123, 1);
    let evidence = record_evidence(&w.server, &w.clock, &mut v, EvidenceKind::ChatLog, &file, "text/plain").await;
    let created = tus.create(Some(file.len()), &meta(&[("evidence_id", evidence.as_bytes()), ("filename", b"chat.txt")])).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.header("tus-resumable").as_deref(), Some("1.0.0"));
    assert!(created.header("upload-expires").is_some(), "{:?}", created.headers);
    let upload = created.header("location").expect("Location");
    assert!(upload.starts_with("/api/uploads/"), "{upload}");

    let head = tus.head(&upload).await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.offset(), 0);
    assert_eq!(head.header("upload-length"), Some(file.len().to_string()));
    assert_eq!(head.header("cache-control").as_deref(), Some("no-store"));
    assert!(head.header("upload-metadata").expect("metadata").contains("evidence_id"));

    // Small chunks (pieces on S3), then a checksummed one.
    tus.send_all(&upload, 0, &file[..3 * MIB], MIB).await;
    let chunk = &file[3 * MIB..7 * MIB];
    let sha1 = {
        use sha1::Digest as _;
        STANDARD.encode(sha1::Sha1::digest(chunk))
    };
    let ok = tus.patch_with(&upload, 3 * MIB, chunk, Some(format!("sha1 {sha1}"))).await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT, "{}", ok.body);
    assert_eq!(ok.offset(), 7 * MIB as u64);
    assert!(ok.header("upload-expires").is_some());

    // Wrong requests: each refused, the offset unmoved.
    let at = 7 * MIB;
    let next = &file[at..at + MIB];
    let wrong_offset = tus.patch(&upload, at - 1, next).await;
    assert_eq!(wrong_offset.status, StatusCode::CONFLICT, "{}", wrong_offset.body);
    assert_eq!(wrong_offset.header("content-type").as_deref(), Some("application/problem+json"));
    let bad_sum = STANDARD.encode(Sha256::digest(b"not these bytes"));
    let mismatch = tus.patch_with(&upload, at, next, Some(format!("sha256 {bad_sum}"))).await;
    assert_eq!(mismatch.status.as_u16(), 460, "{}", mismatch.body);
    let unknown = tus.patch_with(&upload, at, next, Some(format!("md5 {bad_sum}"))).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST, "{}", unknown.body);
    let wrong_type = Tus::send(
        tus.request(reqwest::Method::PATCH, &upload)
            .header("Upload-Offset", at.to_string())
            .header("Content-Type", "application/octet-stream")
            .body(next.to_vec()),
    ).await;
    assert_eq!(wrong_type.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let too_long = tus.patch(&upload, at, &vec![b'x'; file.len() - at + 1]).await;
    assert_eq!(too_long.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", too_long.body);
    let old_version = Tus::send(
        w.server.http.head(w.server.url(&upload)).bearer_auth(&tus.token).header("Tus-Resumable", "0.2.2"),
    ).await;
    assert_eq!(old_version.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(old_version.header("tus-version").as_deref(), Some("1.0.0"));
    let stranger = person(&w.server, &w.env, Role::Volunteer).await;
    let theirs = Tus::new(&w.server, &stranger);
    assert_eq!(theirs.head(&upload).await.status, StatusCode::NOT_FOUND);
    assert_eq!(theirs.patch(&upload, at, next).await.status, StatusCode::NOT_FOUND);
    assert_eq!(theirs.delete(&upload).await.status, StatusCode::NOT_FOUND);
    assert_eq!(tus.head(&upload).await.offset(), at as u64, "nothing moved the offset");

    // The rest, the last PATCH through X-HTTP-Method-Override.
    tus.send_all(&upload, at, &file[..file.len() - 10], 3 * MIB).await;
    let last = Tus::send(
        tus.request(reqwest::Method::POST, &upload)
            .header("X-HTTP-Method-Override", "PATCH")
            .header("Upload-Offset", (file.len() - 10).to_string())
            .header("Content-Type", "application/offset+octet-stream")
            .body(file[file.len() - 10..].to_vec()),
    ).await;
    assert_eq!(last.status, StatusCode::NO_CONTENT, "{}", last.body);
    assert_eq!(last.offset(), file.len() as u64);

    // The file is whole, content-addressed; nothing is left under uploads/.
    let key = format!("blobs/sha256/{}", sha256_hex(&file));
    assert!(read_blob(&w.services.blobs, &key).await == file, "the stored bytes are the file");
    let (left, multiparts) = stored_under(&w.services.blobs, "uploads/").await;
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(multiparts, 0);
    // The phone learns the file is verified.
    v.phone.pull(&w.server).await;
    assert_eq!(evidence_on(&v.phone, &evidence).status, EvidenceStatus::Verified);
    // A re-sent last chunk whose answer was lost is answered the same.
    let again = tus.patch(&upload, file.len(), b"").await;
    assert_eq!(again.status, StatusCode::NO_CONTENT, "{}", again.body);
    // Another file for the same evidence is refused.
    let other = tus.create(Some(100), &meta(&[("evidence_id", evidence.as_bytes())])).await;
    assert_eq!(other.status, StatusCode::CONFLICT, "{}", other.body);
    assert_eq!(other.body["code"], "evidence_has_file");
}
}

on_each_backend! {
/// Wrong creation requests are refused and create nothing.
async fn wrong_creation_requests_are_refused(backend: Backend) {
    let w = world_with(backend, &[("MB_UPLOAD_MAX_BYTES", "1048576"), ("MB_UPLOAD_MAX_OPEN_PER_USER", "3")]).await;
    let v = volunteer_with_task(&w.server, &w.env, &w.clock, &w.coordinator).await;
    let tus = Tus::new(&w.server, &v.person);
    let good = meta(&[("evidence_id", b"ev-1")]);
    let cases: Vec<(Option<usize>, String, StatusCode, &str)> = vec![
        (Some(2 * MIB), good.clone(), StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
        (Some(10), "evidence_id !!!notbase64".into(), StatusCode::BAD_REQUEST, "invalid_metadata"),
        (Some(10), "evidence_id".into(), StatusCode::BAD_REQUEST, "invalid_metadata"),
        (Some(10), format!("{good},filename {}", STANDARD.encode("../../etc/passwd")), StatusCode::BAD_REQUEST, "invalid_filename"),
        (Some(10), format!("{good},filename {}", STANDARD.encode("C:\\photos\\a.jpg")), StatusCode::BAD_REQUEST, "invalid_filename"),
        (Some(0), good.clone(), StatusCode::BAD_REQUEST, "empty_upload"),
    ];
    for (length, metadata, status, code) in cases {
        let a = tus.create(length, &metadata).await;
        assert_eq!(a.status, status, "{metadata}: {}", a.body);
        assert_eq!(a.body["code"], code, "{metadata}");
        assert_eq!(a.header("tus-resumable").as_deref(), Some("1.0.0"));
    }
    let both = Tus::send(
        tus.request(reqwest::Method::POST, "/api/uploads")
            .header("Upload-Metadata", good.clone())
            .header("Upload-Length", "10")
            .header("Upload-Defer-Length", "1"),
    ).await;
    assert_eq!(both.status, StatusCode::BAD_REQUEST);
    let unsigned = Tus::send(
        w.server.http.post(w.server.url("/api/uploads")).header("Tus-Resumable", "1.0.0")
            .header("Upload-Length", "10").header("Upload-Metadata", good.clone()),
    ).await;
    assert_eq!(unsigned.status, StatusCode::UNAUTHORIZED);
    // The per-user limit.
    for _ in 0..3 {
        assert_eq!(tus.create(Some(10), &good).await.status, StatusCode::CREATED);
    }
    let fourth = tus.create(Some(10), &good).await;
    assert_eq!(fourth.status, StatusCode::TOO_MANY_REQUESTS, "{}", fourth.body);
}
}

on_each_backend! {
/// Deferred length, creation-with-upload, termination, and a file whose
/// record arrives after it.
async fn a_deferred_upload_waits_for_its_record_and_a_terminated_one_leaves_nothing(backend: Backend) {
    let w = world_with(backend, &[]).await;
    let mut v = volunteer_with_task(&w.server, &w.env, &w.clock, &w.coordinator).await;
    let tus = Tus::new(&w.server, &v.person);
    let file = chat_log(6 * MIB + 7, 2);
    let evidence = new_id();

    // Created with its first chunk in the POST, length deferred.
    let created = Tus::send(
        tus.request(reqwest::Method::POST, "/api/uploads")
            .header("Upload-Defer-Length", "1")
            .header("Upload-Metadata", meta(&[("evidence_id", evidence.as_bytes())]))
            .header("Content-Type", "application/offset+octet-stream")
            .body(file[..MIB].to_vec()),
    ).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.offset(), MIB as u64);
    let upload = created.header("location").expect("Location");
    let head = tus.head(&upload).await;
    assert_eq!(head.header("upload-defer-length").as_deref(), Some("1"));
    assert_eq!(head.header("upload-length"), None);
    tus.send_all(&upload, MIB, &file[..file.len() - 100], 2 * MIB).await;
    // The last PATCH says the length.
    let last = Tus::send(
        tus.request(reqwest::Method::PATCH, &upload)
            .header("Upload-Offset", (file.len() - 100).to_string())
            .header("Upload-Length", file.len().to_string())
            .header("Content-Type", "application/offset+octet-stream")
            .body(file[file.len() - 100..].to_vec()),
    ).await;
    assert_eq!(last.status, StatusCode::NO_CONTENT, "{}", last.body);

    // No record yet: the file waits. The record arrives; a job finishes it.
    let key = format!("blobs/sha256/{}", sha256_hex(&file));
    assert!(w.services.blobs.head(&key).await.expect("head").is_none());
    v.phone.mutate(now(&w.clock), Mutation::AddEvidence(AddEvidence {
        id: evidence.clone(),
        task_id: v.task.clone(),
        kind: EvidenceKind::ChatLog,
        sha256: sha256_hex(&file),
        size: file.len() as u64,
        media_type: "text/plain".into(),
        captured_at_us: now(&w.clock),
        note: String::new(),
    }));
    v.phone.sync(&w.server, now(&w.clock)).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        v.phone.pull(&w.server).await;
        if evidence_on(&v.phone, &evidence).status == EvidenceStatus::Verified {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the evidence was never verified");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(read_blob(&w.services.blobs, &key).await == file);

    // Termination releases everything.
    let doomed = tus.start(3 * MIB, &new_id()).await;
    tus.send_all(&doomed, 0, &file[..2 * MIB], MIB).await;
    let id = doomed.rsplit('/').next().expect("id").to_string();
    let deleted = tus.delete(&doomed).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    assert_eq!(tus.head(&doomed).await.status, StatusCode::NOT_FOUND);
    let (left, multiparts) = stored_under(&w.services.blobs, &uploads::upload_prefix(&id)).await;
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(multiparts, 0);
}
}

on_each_backend! {
/// A file whose hash is not the one its record declares is refused: 422,
/// nothing kept, and the app learns why.
async fn a_file_with_the_wrong_hash_is_refused_and_nothing_is_kept(backend: Backend) {
    let w = world_with(backend, &[]).await;
    let mut v = volunteer_with_task(&w.server, &w.env, &w.clock, &w.coordinator).await;
    let tus = Tus::new(&w.server, &v.person);
    let declared = chat_log(4000, 3);
    let evidence = record_evidence(&w.server, &w.clock, &mut v, EvidenceKind::ChatLog, &declared, "text/plain").await;
    let other = chat_log(4000, 4);
    let upload = tus.start(other.len(), &evidence).await;
    let refused = tus.patch(&upload, 0, &other).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
    assert_eq!(refused.body["code"], "hash_mismatch");
    assert!(w.services.blobs.head(&format!("blobs/sha256/{}", sha256_hex(&other))).await.expect("head").is_none());
    let (left, _) = stored_under(&w.services.blobs, "uploads/").await;
    assert!(left.is_empty(), "{left:?}");
    v.phone.pull(&w.server).await;
    let e = evidence_on(&v.phone, &evidence);
    assert_eq!(e.status, EvidenceStatus::Refused);
    assert!(e.refusal.expect("a reason").contains("SHA-256"));
    // The right file is then accepted.
    let upload = tus.start(declared.len(), &evidence).await;
    assert_eq!(tus.patch(&upload, 0, &declared).await.status, StatusCode::NO_CONTENT);
    v.phone.pull(&w.server).await;
    assert_eq!(evidence_on(&v.phone, &evidence).status, EvidenceStatus::Verified);
}
}

on_each_backend! {
/// An idle upload expires: 410, and the sweep aborts its multipart upload
/// and deletes its pieces; it also removes what no upload owns. The job
/// worker is off, so the sweep that the advanced clock makes due does not
/// run before (and instead of) the one this story runs and counts.
async fn idle_uploads_expire_and_the_sweep_leaves_nothing_behind(backend: Backend) {
    let w = world_with(
        backend,
        &[("MB_UPLOAD_EXPIRY_HOURS", "2"), ("MB_JOBS_CONCURRENCY", "0")],
    )
    .await;
    let v = volunteer_with_task(&w.server, &w.env, &w.clock, &w.coordinator).await;
    let tus = Tus::new(&w.server, &v.person);
    let file = chat_log(9 * MIB, 5);
    let upload = tus.start(file.len(), &new_id()).await;
    tus.send_all(&upload, 0, &file[..7 * MIB], 2 * MIB + 512 * 1024).await;
    let id = upload.rsplit('/').next().expect("id").to_string();
    let (before, _) = stored_under(&w.services.blobs, &uploads::upload_prefix(&id)).await;
    assert!(!before.is_empty(), "the upload stored something");

    // Something no upload owns: a crash's leftovers.
    let orphan = "uploads/0123456789abcdef0123456789abcdef/data";
    let multipart = w.services.blobs.create_multipart(orphan).await.expect("create");
    let body: mystery_buyer_server::storage::ByteStream =
        Box::pin(futures_util::stream::once(async { Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"left")) }));
    w.services.blobs.put("uploads/0123456789abcdef0123456789abcdef/piece-0-00", body, 4).await.expect("put");

    w.clock.advance(Duration::hours(3));
    assert_eq!(tus.head(&upload).await.status, StatusCode::GONE);
    assert_eq!(tus.patch(&upload, 7 * MIB, &file[7 * MIB..]).await.status, StatusCode::GONE);
    let swept = uploads::sweep::sweep(&w.services.uploads()).await.expect("sweep");
    assert_eq!(swept.expired, 1, "{swept:?}");
    let (left, multiparts) = stored_under(&w.services.blobs, "uploads/").await;
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(multiparts, 0, "multipart uploads left (the orphan was {multipart})");
    assert_eq!(tus.head(&upload).await.status, StatusCode::GONE);
}
}

/// A world on SQLite whose blob store is moto (which checks part sizes
/// and ETags as AWS does).
#[cfg(feature = "services")]
async fn moto_world() -> World {
    use mystery_buyer_tests::{S3Service, s3_settings, s3_store, unique};
    let _bucket = s3_store(S3Service::Moto).await;
    let settings = s3_settings(S3Service::Moto, &unique("uploads-"));
    let pairs: Vec<(&str, &str)> = settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    world_with(Backend::SqliteFs, &pairs).await
}

/// A chat log of `size` bytes recorded as evidence by `v`'s phone, and an
/// upload started for it: the file, the evidence id and the upload's path.
async fn start_chat_log(
    w: &World,
    v: &mut Volunteer,
    size: usize,
    seed: u64,
) -> (Vec<u8>, String, String) {
    let file = chat_log(size, seed);
    let evidence = record_evidence(
        &w.server,
        &w.clock,
        v,
        EvidenceKind::ChatLog,
        &file,
        "text/plain",
    )
    .await;
    let upload = Tus::new(&w.server, &v.person)
        .start(file.len(), &evidence)
        .await;
    (file, evidence, upload)
}

/// moto refuses parts under 5 MiB (Garage does not): client chunks of
/// 1 MiB must still be gathered into valid parts.
#[cfg(feature = "services")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn small_chunks_become_parts_that_moto_accepts() {
    let w = moto_world().await;
    let mut v = volunteer_with_task(&w.server, &w.env, &w.clock, &w.coordinator).await;
    let tus = Tus::new(&w.server, &v.person);
    let (file, _, upload) = start_chat_log(&w, &mut v, 13 * MIB + 5, 6).await;
    tus.send_all(&upload, 0, &file, 700 * 1024).await;
    let key = format!("blobs/sha256/{}", sha256_hex(&file));
    assert!(read_blob(&w.services.blobs, &key).await == file);
    let (left, multiparts) = stored_under(&w.services.blobs, "uploads/").await;
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(multiparts, 0);
}

/// A volunteer with a task claimed from a campaign's board that requires a
/// chat log and an order screenshot.
async fn campaign_volunteer(w: &World) -> Volunteer {
    use mystery_buyer_tests::people::{get, post, send};
    let token = Some(w.coordinator.access_token.as_str());
    let (status, campaign) = post(&w.server, "/api/campaigns", token, serde_json::json!({
        "name": "Chargers 2026", "starts_at": "2026-12-01T00:00:00Z", "ends_at": "2027-02-28T00:00:00Z",
        "platforms": ["jd"], "currency": "CNY", "budget": 1_000_000,
        "required_evidence": ["chat_log", "order_screenshot"], "open_board": true,
    })).await;
    assert_eq!(status, StatusCode::CREATED, "{campaign}");
    let path = format!("/api/campaigns/{}", campaign["id"].as_str().expect("id"));
    let (status, body) = send(
        &w.server,
        reqwest::Method::PUT,
        &format!("{path}/quotas"),
        token,
        serde_json::json!([{ "category": "power-strips", "target": 1 }]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = post(&w.server, &format!("{path}/candidates"), token, serde_json::json!({
        "category": "power-strips", "platform": "jd", "listing_url": "https://jd.example.com/item/1",
        "shop_id": "s1", "shop_name": "Shop s1", "listed_price": 4_000, "source": "platform_feed",
    })).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = send(
        &w.server,
        reqwest::Method::PATCH,
        &path,
        token,
        serde_json::json!({ "status": "active" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let person = person(&w.server, &w.env, Role::Volunteer).await;
    let (status, body) = send(&w.server, reqwest::Method::PUT, "/api/me/profile", Some(&person.access_token), serde_json::json!({
        "region": "Hubei", "categories": ["power-strips"], "platforms": ["jd"], "capacity": 1, "spending_cap": 9_000,
    })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, board) = get(
        &w.server,
        &format!("{path}/board"),
        Some(&person.access_token),
    )
    .await;
    let (status, task) = post(
        &w.server,
        &format!("{path}/board/claim"),
        Some(&person.access_token),
        serde_json::json!({ "candidate_id": board[0]["candidate_id"] }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{task}");
    let mut phone = Device::register(&w.server, &person, "phone").await;
    phone.pull(&w.server).await;
    Volunteer {
        person,
        phone,
        task: task["task_id"].as_str().expect("task").to_string(),
    }
}

on_each_backend! {
/// The package says what is missing; the served file goes to staff and its
/// owner only, in byte ranges when asked.
async fn the_package_lists_what_is_missing_and_files_are_served_in_ranges_to_those_who_may_see_them(backend: Backend) {
    use mystery_buyer_tests::people::get;
    let w = world_with(backend, &[]).await;
    let mut v = campaign_volunteer(&w).await;
    let token = Some(w.coordinator.access_token.as_str());
    let package_path = format!("/api/tasks/{}/evidence", v.task);
    let (status, package) = get(&w.server, &package_path, token).await;
    assert_eq!(status, StatusCode::OK, "{package}");
    assert_eq!(package["complete"], false);
    assert_eq!(package["missing"], serde_json::json!([
        { "kind": "chat_log", "reason": "no_record" }, { "kind": "order_screenshot", "reason": "no_record" },
    ]));

    let file = chat_log(100_000, 9);
    let evidence = record_evidence(&w.server, &w.clock, &mut v, EvidenceKind::ChatLog, &file, "text/plain").await;
    let (_, package) = get(&w.server, &package_path, token).await;
    assert_eq!(package["missing"][0], serde_json::json!({ "kind": "chat_log", "reason": "not_uploaded" }));
    let tus = Tus::new(&w.server, &v.person);
    let upload = tus.start(file.len(), &evidence).await;
    assert_eq!(tus.patch(&upload, 0, &file).await.status, StatusCode::NO_CONTENT);
    let (_, package) = get(&w.server, &package_path, token).await;
    assert_eq!(package["complete"], false);
    assert_eq!(package["missing"], serde_json::json!([{ "kind": "order_screenshot", "reason": "no_record" }]));
    let item = &package["items"][0];
    assert_eq!(item["status"], "verified", "{package}");
    let url = item["file_url"].as_str().expect("file_url").to_string();

    let fetch = |token: String, range: Option<&'static str>| {
        let request = w.server.http.get(w.server.url(&url)).bearer_auth(token);
        let request = match range { Some(r) => request.header("Range", r), None => request };
        async move { request.send().await.expect("send") }
    };
    let whole = fetch(w.coordinator.access_token.clone(), None).await;
    assert_eq!(whole.status(), StatusCode::OK);
    assert_eq!(whole.headers()["x-content-type-options"], "nosniff");
    assert_eq!(whole.headers()["accept-ranges"], "bytes");
    assert!(whole.bytes().await.expect("body") == file);
    let part = fetch(w.coordinator.access_token.clone(), Some("bytes=10-19")).await;
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.headers()["content-range"], format!("bytes 10-19/{}", file.len()));
    assert!(part.bytes().await.expect("body") == file[10..20]);
    let tail = fetch(v.person.access_token.clone(), Some("bytes=-5")).await;
    assert_eq!(tail.status(), StatusCode::PARTIAL_CONTENT, "the owner may fetch it");
    assert!(tail.bytes().await.expect("body") == file[file.len() - 5..]);
    let outside = fetch(w.coordinator.access_token.clone(), Some("bytes=999999-")).await;
    assert_eq!(outside.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(outside.headers()["content-range"], format!("bytes */{}", file.len()));
    for role in [Role::Volunteer, Role::RelayOperator, Role::LabInspector] {
        let other = person(&w.server, &w.env, role).await;
        let answer = fetch(other.access_token.clone(), None).await;
        assert_eq!(answer.status(), StatusCode::NOT_FOUND, "{role}");
    }
    let thumbnail = w.server.http.get(w.server.url(&format!("/api/evidence/{evidence}/thumbnail")))
        .bearer_auth(&w.coordinator.access_token).send().await.expect("send");
    assert_eq!(thumbnail.status(), StatusCode::NOT_FOUND, "a chat log has no thumbnail");
}
}

/// Two instances on one PostgreSQL and one bucket: an upload moves between
/// them, and two PATCHes racing on one upload never interleave.
#[cfg(feature = "services")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upload_moves_between_instances_and_racing_patches_never_interleave() {
    let env = TestEnv::with(
        Backend::PostgresGarage,
        &[("MB_RATE_LIMIT_IP_PER_MINUTE", "100000")],
    );
    let clock = mystery_buyer_tests::manual_clock();
    let a = env.start_with_clock(clock.clone()).await;
    let b = env.start_with_clock(clock.clone()).await;
    let coordinator = person(&a, &env, Role::Coordinator).await;
    let mut v = volunteer_with_task(&a, &env, &clock, &coordinator).await;
    let (on_a, on_b) = (Tus::new(&a, &v.person), Tus::new(&b, &v.person));
    let file = chat_log(17 * MIB + 3, 10);
    let evidence = record_evidence(
        &a,
        &clock,
        &mut v,
        EvidenceKind::ChatLog,
        &file,
        "text/plain",
    )
    .await;
    let upload = on_a.start(file.len(), &evidence).await;

    // Small chunks on A leave pieces; B joins them into its part.
    on_a.send_all(&upload, 0, &file[..3 * MIB], MIB).await;
    assert_eq!(on_b.head(&upload).await.offset(), 3 * MIB as u64);
    on_b.send_all(&upload, 3 * MIB, &file[..9 * MIB], 3 * MIB)
        .await;
    assert_eq!(on_a.head(&upload).await.offset(), 9 * MIB as u64);

    // A slow PATCH on A holds the upload; B's PATCH meanwhile gets 409.
    let at = 9 * MIB;
    let slow_chunk = file[at..at + 4 * MIB].to_vec();
    let pieces: Vec<Result<bytes::Bytes, std::io::Error>> = slow_chunk
        .chunks(256 * 1024)
        .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
        .collect();
    let slow_body = reqwest::Body::wrap_stream(futures_util::StreamExt::then(
        futures_util::stream::iter(pieces),
        |piece| async move {
            tokio::time::sleep(std::time::Duration::from_millis(60)).await;
            piece
        },
    ));
    let slow = on_a
        .request(reqwest::Method::PATCH, &upload)
        .header("Upload-Offset", at.to_string())
        .header("Content-Type", "application/offset+octet-stream")
        .header("Content-Length", slow_chunk.len().to_string())
        .body(slow_body)
        .send();
    let slow = tokio::spawn(slow);
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let racing = on_b.patch(&upload, at, &file[at..at + 4 * MIB]).await;
    assert_eq!(racing.status, StatusCode::CONFLICT, "{}", racing.body);
    let slow = slow.await.expect("join").expect("send");
    assert_eq!(slow.status(), StatusCode::NO_CONTENT);

    // Ten bursts of two PATCHes at once, one per instance: exactly one wins
    // each time, and the upload stays exact.
    let mut offset = at + 4 * MIB;
    while offset < file.len() {
        let end = (offset + 400 * 1024).min(file.len());
        let chunk = &file[offset..end];
        let (x, y) = tokio::join!(
            on_a.patch(&upload, offset, chunk),
            on_b.patch(&upload, offset, chunk)
        );
        let won = [x.status, y.status]
            .iter()
            .filter(|s| **s == StatusCode::NO_CONTENT)
            .count();
        assert_eq!(won, 1, "at {offset}: {} and {}", x.status, y.status);
        for lost in [&x, &y]
            .iter()
            .filter(|r| r.status != StatusCode::NO_CONTENT)
        {
            assert_eq!(lost.status, StatusCode::CONFLICT, "{}", lost.body);
        }
        offset = end;
    }
    let key = format!("blobs/sha256/{}", sha256_hex(&file));
    let services = env.services().await;
    assert!(
        read_blob(&services.blobs, &key).await == file,
        "the stored bytes are the file"
    );
    v.phone.pull(&a).await;
    assert_eq!(
        evidence_on(&v.phone, &evidence).status,
        EvidenceStatus::Verified
    );
    a.stop().await;
    b.stop().await;
}

#[path = "../../../media/tests/evidence/support.rs"]
pub mod pictures;

/// Uploads `bytes` for a new evidence record of `kind` and returns the
/// evidence id, the upload's path and the last PATCH's answer.
async fn upload_evidence(
    w: &World,
    v: &mut Volunteer,
    kind: EvidenceKind,
    bytes: &[u8],
) -> (String, String, Answer) {
    let evidence = record_evidence(&w.server, &w.clock, v, kind, bytes, "image/jpeg").await;
    let tus = Tus::new(&w.server, &v.person);
    let upload = tus.start(bytes.len(), &evidence).await;
    let answer = tus.patch(&upload, 0, bytes).await;
    (evidence, upload, answer)
}

on_each_backend! {
/// A photo's location never reaches anyone: the served copy and the
/// thumbnail carry no EXIF (GPS above all), the orientation is applied and
/// the colour profile kept. Bad files are refused with a 4xx, and nothing
/// of them is kept.
async fn photos_lose_their_location_and_bad_files_are_refused_with_nothing_kept(backend: Backend) {
    use pictures::*;
    let w = world_with(backend, &[]).await;
    let mut v = volunteer_with_task(&w.server, &w.env, &w.clock, &w.coordinator).await;
    let icc = icc_profile();
    let photo = with_segments(
        &jpeg(&photo_like(600, 400, 1), 90),
        &[exif_app1(6), icc_app2(&icc), xmp_app1()],
    );
    assert!(exif_fields(&photo).is_some_and(|f| f.iter().any(|x| x.contains("GPS"))), "the input has GPS");
    let (evidence, _, answer) = upload_evidence(&w, &mut v, EvidenceKind::ProductPhoto, &photo).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.body);
    let (status, package) = mystery_buyer_tests::people::get(
        &w.server, &format!("/api/tasks/{}/evidence", v.task), Some(&w.coordinator.access_token)).await;
    assert_eq!(status, StatusCode::OK);
    let item = package["items"].as_array().expect("items").iter()
        .find(|i| i["id"] == evidence.as_str()).expect("the item").clone();
    assert_eq!(item["status"], "verified", "{item}");
    assert_eq!((item["width"].as_i64(), item["height"].as_i64()), (Some(400), Some(600)), "orientation 6 turns it upright");
    assert_eq!(item["media_type"], "image/jpeg");
    let fetch = |path: String| {
        let request = w.server.http.get(w.server.url(&path)).bearer_auth(&w.coordinator.access_token);
        async move { request.send().await.expect("send").bytes().await.expect("body").to_vec() }
    };
    let served = fetch(item["file_url"].as_str().expect("file").to_string()).await;
    let thumbnail = fetch(item["thumbnail_url"].as_str().expect("thumbnail").to_string()).await;
    for (name, bytes) in [("served copy", &served), ("thumbnail", &thumbnail)] {
        assert!(exif_fields(bytes).is_none_or(|f| f.is_empty()), "{name} has EXIF: {:?}", exif_fields(bytes));
        assert!(!bytes.windows(4).any(|w| w == b"Exif"), "{name} has an Exif segment");
        assert!(!bytes.windows(9).any(|w| w == b"http://ns"), "{name} has XMP");
    }
    assert_eq!(jpeg_icc(&served).as_deref(), Some(&icc[..]), "the colour profile is kept");
    assert_ne!(served, photo);
    // The original with its location is not kept (not configured).
    let (originals, _) = stored_under(&w.services.blobs, "originals/").await;
    assert!(originals.is_empty(), "{originals:?}");
    v.phone.pull(&w.server).await;
    assert_eq!(evidence_on(&v.phone, &evidence).status, EvidenceStatus::Verified);

    // Bad files: each refused at its last PATCH, nothing of it kept.
    let tiny = miniz_oxide::deflate::compress_to_vec_zlib(&[0, 0, 0, 0], 9);
    let row = 8_000usize.div_ceil(8) + 1;
    let bomb_rows = miniz_oxide::deflate::compress_to_vec_zlib(&vec![0u8; row * 8_000], 9);
    let good = jpeg(&photo_like(300, 200, 2), 85);
    let mut zip_polyglot = good.clone();
    zip_polyglot.extend_from_slice(&zip_with("payload.html", b"<b>hi</b>"));
    let cases: Vec<(&str, EvidenceKind, Vec<u8>, StatusCode, &str)> = vec![
        ("a decompression bomb", EvidenceKind::ProductPhoto, raw_png(8_000, 8_000, 1, 0, &bomb_rows), StatusCode::UNPROCESSABLE_ENTITY, "too_many_pixels"),
        ("a huge-dimension PNG", EvidenceKind::ListingPhoto, raw_png(100_000, 100_000, 8, 6, &tiny), StatusCode::UNPROCESSABLE_ENTITY, "dimensions_too_large"),
        ("a truncated JPEG", EvidenceKind::ProductPhoto, good[..good.len() / 2].to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "truncated"),
        ("an SVG", EvidenceKind::OrderScreenshot, br#"<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#.to_vec(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "type_not_allowed"),
        ("HTML posing as a JPEG", EvidenceKind::ProductPhoto, b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>".to_vec(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "type_not_allowed"),
        ("a JPEG + ZIP polyglot", EvidenceKind::ProductPhoto, zip_polyglot, StatusCode::UNSUPPORTED_MEDIA_TYPE, "polyglot"),
        ("a JPEG as a chat log", EvidenceKind::ChatLog, good.clone(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "type_not_allowed"),
    ];
    for (what, kind, bytes, status, code) in cases {
        let (evidence, upload, answer) = upload_evidence(&w, &mut v, kind, &bytes).await;
        assert_eq!(answer.status, status, "{what}: {}", answer.body);
        assert_eq!(answer.body["code"], code, "{what}");
        // A re-sent last PATCH (its answer lost) hears the same refusal.
        let again = Tus::new(&w.server, &v.person).patch(&upload, bytes.len(), b"").await;
        assert_eq!((again.status, &again.body["code"]), (status, &answer.body["code"]), "{what} again");
        assert!(w.services.blobs.head(&format!("blobs/sha256/{}", sha256_hex(&bytes))).await.expect("head").is_none(), "{what} was stored");
        v.phone.pull(&w.server).await;
        let e = evidence_on(&v.phone, &evidence);
        assert_eq!(e.status, EvidenceStatus::Refused, "{what}");
        assert!(e.refusal.is_some_and(|r| !r.is_empty()), "{what}: the app gets a reason");
    }
    let (left, multiparts) = stored_under(&w.services.blobs, "uploads/").await;
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(multiparts, 0);
}
}

on_each_backend! {
/// The same photo passed off on a second task is put on the review list.
async fn a_photo_reused_on_another_task_is_flagged_for_review(backend: Backend) {
    use pictures::*;
    let w = world_with(backend, &[]).await;
    let mut first = volunteer_with_task(&w.server, &w.env, &w.clock, &w.coordinator).await;
    let mut second = volunteer_with_task(&w.server, &w.env, &w.clock, &w.coordinator).await;
    let picture = photo_like(640, 480, 7);
    let (_, _, a) = upload_evidence(&w, &mut first, EvidenceKind::ProductPhoto, &jpeg(&picture, 92)).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.body);
    // Re-encoded at another quality: different bytes, the same picture.
    let (reused, _, b) = upload_evidence(&w, &mut second, EvidenceKind::ProductPhoto, &jpeg(&picture, 70)).await;
    assert_eq!(b.status, StatusCode::NO_CONTENT, "{}", b.body);
    let (other, _, c) = upload_evidence(&w, &mut second, EvidenceKind::ListingPhoto, &jpeg(&photo_like(640, 480, 8), 92)).await;
    assert_eq!(c.status, StatusCode::NO_CONTENT, "{}", c.body);
    let (status, reviews) = mystery_buyer_tests::people::get(&w.server, "/api/reviews", Some(&w.coordinator.access_token)).await;
    assert_eq!(status, StatusCode::OK);
    let flagged: Vec<&serde_json::Value> = reviews.as_array().expect("list").iter()
        .filter(|r| r["reason"] == "near_duplicate_photo").collect();
    assert_eq!(flagged.len(), 1, "{reviews}");
    assert_eq!(flagged[0]["record_id"], reused.as_str());
    assert_eq!(flagged[0]["task_id"], second.task.as_str());
    assert_ne!(flagged[0]["record_id"], other.as_str());
}
}

/// Sends `sent` at `offset` under a Content-Length of `announced`, then
/// loses the connection after a pause, as a phone losing its signal does;
/// returns once the server has recorded what arrived (the offset moved).
async fn patch_cut_short(
    tus: &Tus<'_>,
    path: &str,
    offset: usize,
    sent: &[u8],
    announced: usize,
) -> u64 {
    let pieces: Vec<Result<bytes::Bytes, std::io::Error>> = sent
        .chunks(256 * 1024)
        .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
        .collect();
    let body = futures_util::StreamExt::chain(
        futures_util::stream::iter(pieces),
        futures_util::stream::once(async {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            Err(std::io::Error::other("the signal is lost"))
        }),
    );
    let answer = tus
        .request(reqwest::Method::PATCH, path)
        .header("Upload-Offset", offset.to_string())
        .header("Content-Type", "application/offset+octet-stream")
        .header("Content-Length", announced.to_string())
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await;
    assert!(answer.is_err(), "the body was cut short: {answer:?}");
    for _ in 0..200 {
        let now = tus.head(path).await.offset();
        if now != offset as u64 {
            return now;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the offset never moved from {offset}");
}

/// The parts an upload has recorded, in order.
async fn part_rows(w: &World, upload: &str) -> Vec<mystery_buyer_server::db::uploads::PartRow> {
    use mystery_buyer_server::db;
    let id = upload.rsplit('/').next().expect("id").to_string();
    w.services
        .db
        .read(move |conn| db::uploads::parts(conn, &id).map_err(db::DbError::from))
        .await
        .expect("read parts")
}

/// The parts an upload has recorded: (number, size).
async fn recorded_parts(w: &World, upload: &str) -> Vec<(i32, i64)> {
    let parts = part_rows(w, upload).await;
    parts.into_iter().map(|p| (p.number, p.size)).collect()
}

/// Each recorded part's SHA-256 is that of its bytes of `file`, however it
/// was hashed: as it was sent (after carried pieces, or again from the
/// spool) or from memory while the store answered. Returns how far the
/// parts reach (the recorded parts go once the upload is finished).
async fn assert_part_hashes(w: &World, upload: &str, file: &[u8]) -> usize {
    let mut at = 0usize;
    for part in part_rows(w, upload).await {
        let end = at + usize::try_from(part.size).expect("size");
        assert_eq!(
            part.sha256,
            sha256_hex(&file[at..end]),
            "part {} ({at}..{end})",
            part.number
        );
        at = end;
    }
    at
}

/// Bodies whose length is announced are sent to the store while they
/// arrive: a body cut short keeps what arrived (as a part when it is big
/// enough, else as a piece), a chunk refused by its checksum after its part
/// was sent leaves no part recorded and the offset where it was, and the
/// file ends up exact. On S3 the parts are checked too.
async fn cut_bodies_and_refused_chunks_leave_the_upload_exact(w: &World, s3: bool) {
    let mut v = volunteer_with_task(&w.server, &w.env, &w.clock, &w.coordinator).await;
    let tus = Tus::new(&w.server, &v.person);
    let (file, evidence, upload) = start_chat_log(w, &mut v, 20 * MIB + 3, 21).await;

    // 12 MiB announced, 7 arrive: kept, on S3 as part 1 (the number the
    // abandoned streamed part had).
    let at = patch_cut_short(&tus, &upload, 0, &file[..7 * MIB], 12 * MIB).await;
    assert_eq!(at, 7 * MIB as u64, "what arrived is kept");
    if s3 {
        assert_eq!(recorded_parts(w, &upload).await, vec![(1, 7 * MIB as i64)]);
    }

    // 6 MiB of other bytes under the checksum of the right ones: the part
    // went out while they arrived, but the chunk is refused, nothing is
    // recorded and the offset stays.
    let right = &file[7 * MIB..13 * MIB];
    let sum = STANDARD.encode(Sha256::digest(right));
    let wrong = chat_log(6 * MIB, 99);
    let refused = tus
        .patch_with(&upload, 7 * MIB, &wrong, Some(format!("sha256 {sum}")))
        .await;
    assert_eq!(refused.status.as_u16(), 460, "{}", refused.body);
    assert_eq!(tus.head(&upload).await.offset(), 7 * MIB as u64);
    if s3 {
        assert_eq!(recorded_parts(w, &upload).await, vec![(1, 7 * MIB as i64)]);
    }

    // 6 MiB announced, 2 arrive: too small for a part, kept as a piece.
    let at = patch_cut_short(&tus, &upload, 7 * MIB, &file[7 * MIB..9 * MIB], 6 * MIB).await;
    assert_eq!(at, 9 * MIB as u64);
    if s3 {
        assert_eq!(recorded_parts(w, &upload).await, vec![(1, 7 * MIB as i64)]);
        let id = upload.rsplit('/').next().expect("id");
        let (pieces, _) = stored_under(&w.services.blobs, &uploads::upload_prefix(id)).await;
        assert_eq!(pieces.len(), 1, "{pieces:?}");
    }

    // All but the last 3 bytes: the piece leads an 8 MiB part, then a
    // 5 MiB part goes out while it arrives. Every part's hash is right,
    // whichever way it was made.
    let end = file.len() - 3;
    let most = tus.patch(&upload, 9 * MIB, &file[9 * MIB..end]).await;
    assert_eq!(most.status, StatusCode::NO_CONTENT, "{}", most.body);
    if s3 {
        assert_eq!(
            recorded_parts(w, &upload).await,
            vec![
                (1, 7 * MIB as i64),
                (2, 8 * MIB as i64),
                (3, 5 * MIB as i64)
            ]
        );
        assert_eq!(assert_part_hashes(w, &upload, &file).await, end);
    }

    // The last 3 bytes finish the file.
    let last = tus.patch(&upload, end, &file[end..]).await;
    assert_eq!(last.status, StatusCode::NO_CONTENT, "{}", last.body);
    assert_eq!(last.offset(), file.len() as u64);
    let key = format!("blobs/sha256/{}", sha256_hex(&file));
    assert!(
        read_blob(&w.services.blobs, &key).await == file,
        "the stored bytes are the file"
    );
    let (left, multiparts) = stored_under(&w.services.blobs, "uploads/").await;
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(multiparts, 0);
    v.phone.pull(&w.server).await;
    assert_eq!(
        evidence_on(&v.phone, &evidence).status,
        EvidenceStatus::Verified
    );
}

on_each_backend! {
/// See [`cut_bodies_and_refused_chunks_leave_the_upload_exact`].
async fn a_body_cut_mid_part_is_kept_and_a_refused_chunk_leaves_no_part(backend: Backend) {
    let w = world_with(backend, &[]).await;
    cut_bodies_and_refused_chunks_leave_the_upload_exact(&w, backend == Backend::PostgresGarage).await;
}
}

/// The same on moto, which checks every part's size and ETag as AWS does.
#[cfg(feature = "services")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_body_cut_mid_part_leaves_parts_that_moto_accepts() {
    let w = moto_world().await;
    cut_bodies_and_refused_chunks_leave_the_upload_exact(&w, true).await;
}

/// A TCP proxy in front of the S3 store that, once armed, breaks the first
/// connection to carry more than `after` bytes towards the store: a real
/// network failure in the middle of a part. Only the Garage story uses it.
#[cfg(feature = "services")]
struct FlakyLink {
    address: std::net::SocketAddr,
    armed: Arc<std::sync::atomic::AtomicBool>,
    cuts: Arc<std::sync::atomic::AtomicUsize>,
}

#[cfg(feature = "services")]
impl FlakyLink {
    async fn to(upstream: String, after: u64) -> Self {
        use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let armed = Arc::new(AtomicBool::new(false));
        let cuts = Arc::new(AtomicUsize::new(0));
        let (a, c) = (Arc::clone(&armed), Arc::clone(&cuts));
        tokio::spawn(async move {
            let sent_while_armed = Arc::new(AtomicU64::new(0));
            while let Ok((client, _)) = listener.accept().await {
                let (armed, cuts, sent) = (
                    Arc::clone(&a),
                    Arc::clone(&c),
                    Arc::clone(&sent_while_armed),
                );
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let (mut client_read, mut client_write) = client.into_split();
                    let (mut server_read, mut server_write) = server.into_split();
                    let down = tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                    });
                    let mut buffer = vec![0u8; 64 * 1024];
                    loop {
                        let n = match client_read.read(&mut buffer).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if armed.load(Ordering::SeqCst)
                            && sent.fetch_add(n as u64, Ordering::SeqCst) + n as u64 > after
                            && armed.swap(false, Ordering::SeqCst)
                        {
                            cuts.fetch_add(1, Ordering::SeqCst);
                            down.abort();
                            return; // both halves dropped: the connection breaks
                        }
                        if server_write.write_all(&buffer[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = server_write.shutdown().await;
                    let _ = down.await;
                });
            }
        });
        Self {
            address,
            armed,
            cuts,
        }
    }
}

/// A part whose connection to the store breaks half-way is sent again from
/// its copy (held in memory while it streamed, written to the spool for the
/// second attempt): the PATCH still succeeds and the file is exact. The
/// fault is real (a broken TCP connection to Garage), only its timing is
/// chosen.
#[cfg(feature = "services")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_part_whose_connection_breaks_is_sent_again_from_the_spool() {
    use std::sync::atomic::Ordering;
    let garage = mystery_buyer_tests::service_var("MB_TEST_GARAGE_ENDPOINT");
    let link = FlakyLink::to(garage.trim_start_matches("http://").to_string(), MIB as u64).await;
    let endpoint = format!("http://{}", link.address);
    let w = world_with(
        Backend::PostgresGarage,
        &[("MB_S3_ENDPOINT", endpoint.as_str())],
    )
    .await;
    let mut v = volunteer_with_task(&w.server, &w.env, &w.clock, &w.coordinator).await;
    let tus = Tus::new(&w.server, &v.person);
    let (file, evidence, upload) = start_chat_log(&w, &mut v, 11 * MIB + 7, 31).await;

    link.armed.store(true, Ordering::SeqCst);
    let first = tus.patch(&upload, 0, &file[..6 * MIB]).await;
    assert_eq!(first.status, StatusCode::NO_CONTENT, "{}", first.body);
    assert_eq!(
        link.cuts.load(Ordering::SeqCst),
        1,
        "the part's connection broke once"
    );
    assert_eq!(recorded_parts(&w, &upload).await, vec![(1, 6 * MIB as i64)]);
    assert_eq!(assert_part_hashes(&w, &upload, &file).await, 6 * MIB);

    let last = tus.patch(&upload, 6 * MIB, &file[6 * MIB..]).await;
    assert_eq!(last.status, StatusCode::NO_CONTENT, "{}", last.body);
    let key = format!("blobs/sha256/{}", sha256_hex(&file));
    assert!(
        read_blob(&w.services.blobs, &key).await == file,
        "the stored bytes are the file"
    );
    v.phone.pull(&w.server).await;
    assert_eq!(
        evidence_on(&v.phone, &evidence).status,
        EvidenceStatus::Verified
    );
}
