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
/// and deletes its pieces; it also removes what no upload owns.
async fn idle_uploads_expire_and_the_sweep_leaves_nothing_behind(backend: Backend) {
    let w = world_with(backend, &[("MB_UPLOAD_EXPIRY_HOURS", "2")]).await;
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

/// moto refuses parts under 5 MiB (Garage does not): client chunks of
/// 1 MiB must still be gathered into valid parts.
#[cfg(feature = "services")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn small_chunks_become_parts_that_moto_accepts() {
    use mystery_buyer_tests::{S3Service, s3_settings, s3_store, unique};
    let _bucket = s3_store(S3Service::Moto).await;
    let settings = s3_settings(S3Service::Moto, &unique("uploads-"));
    let pairs: Vec<(&str, &str)> = settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let w = world_with(Backend::SqliteFs, &pairs).await;
    let mut v = volunteer_with_task(&w.server, &w.env, &w.clock, &w.coordinator).await;
    let tus = Tus::new(&w.server, &v.person);
    let file = chat_log(13 * MIB + 5, 6);
    let evidence = record_evidence(
        &w.server,
        &w.clock,
        &mut v,
        EvidenceKind::ChatLog,
        &file,
        "text/plain",
    )
    .await;
    let upload = tus.start(file.len(), &evidence).await;
    tus.send_all(&upload, 0, &file, 700 * 1024).await;
    let key = format!("blobs/sha256/{}", sha256_hex(&file));
    assert!(read_blob(&w.services.blobs, &key).await == file);
    let (left, multiparts) = stored_under(&w.services.blobs, "uploads/").await;
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(multiparts, 0);
}
