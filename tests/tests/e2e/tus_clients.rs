//! Evidence uploads by real tus clients: tus-js-client (Node) and tuspy
//! (Python) run the scripts in `tests/clients/` against the server, on both
//! backends. Where the raw-HTTP stories in `uploads.rs` check each header,
//! these check that clients written by others, with their own ideas of
//! relative URLs, resumption and deferred lengths, get a file through.
//!
//! `cargo xtask test` installs the clients (see `xtask/src/services/
//! tus_clients.rs`) and names them in `MB_TEST_NODE_MODULES` and
//! `MB_TEST_PYTHON`.

use std::{
    fmt,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use mystery_buyer_tests::{Backend, TestServer, on_each_backend, service_var};
use serde_json::{Value, json};
use sync_protocol::records::{EvidenceKind, EvidenceStatus};
use tokio::process::Command;

use super::uploads::{
    Volunteer, World, chat_log, evidence_on, read_blob, record_evidence, sha256_hex, stored_under,
    volunteer_with_task, world_with,
};

const MIB: usize = 1024 * 1024;
/// How long one client run may take.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy)]
enum Client {
    TusJs,
    Tuspy,
}

impl fmt::Display for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Client::TusJs => "tus-js-client",
            Client::Tuspy => "tuspy",
        })
    }
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("clients")
        .join(name)
}

/// Runs `client` on `file` for `evidence` with extra `flags`; returns the
/// JSON line it printed last. Fails with the client's stderr if it fails,
/// does not finish in [`CLIENT_TIMEOUT`] or prints no JSON.
async fn run_client(
    client: Client,
    server: &TestServer,
    token: &str,
    file: &Path,
    evidence: &str,
    flags: &[&str],
) -> Value {
    let mut cmd = match client {
        Client::TusJs => {
            let mut cmd = Command::new("node");
            cmd.arg(script("tus_upload.mjs"))
                .env("MB_TEST_NODE_MODULES", service_var("MB_TEST_NODE_MODULES"));
            cmd
        }
        Client::Tuspy => {
            let mut cmd = Command::new(service_var("MB_TEST_PYTHON"));
            cmd.arg(script("tus_upload.py"));
            cmd
        }
    };
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a file name");
    cmd.arg("--endpoint")
        .arg(server.url("/api/uploads"))
        .arg("--file")
        .arg(file)
        .arg("--metadata")
        .arg(json!({ "evidence_id": evidence, "filename": name }).to_string())
        .args(flags)
        .env("MB_TUS_TOKEN", token)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(CLIENT_TIMEOUT, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{client} did not finish within {CLIENT_TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("cannot run {client} ({cmd:?}): {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{client} failed ({}):\n--- stderr\n{stderr}\n--- stdout\n{stdout}",
        output.status
    );
    let line = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_else(|| panic!("{client} printed nothing; stderr:\n{stderr}"));
    let result: Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("{client} printed no JSON ({e}): {line}\nstderr:\n{stderr}"));
    eprintln!("{client}: {stderr}");
    result
}

fn number(v: &Value, field: &str) -> u64 {
    v[field]
        .as_u64()
        .or_else(|| v[field].as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("{field} is not a number in {v}"))
}

/// The requests a client logged, those of `upload` only when given.
fn requests<'a>(result: &'a Value, upload: Option<&str>) -> Vec<&'a Value> {
    result["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .filter(|r| upload.is_none_or(|u| r["upload"] == u))
        .collect()
}

/// A chat log on disk for a fresh evidence record the phone has pushed.
async fn chat_log_recorded(
    w: &World,
    v: &mut Volunteer,
    size: usize,
    seed: u64,
    name: &str,
) -> (Vec<u8>, PathBuf, String) {
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
    let path = w.env.dir.path().join(name);
    std::fs::write(&path, &file).expect("write the chat log");
    (file, path, evidence)
}

/// The client finished the whole file at an absolute URL under the endpoint
/// (it resolved the relative `Location`), with no refused request.
fn assert_finished(client: Client, w: &World, result: &Value, size: usize) {
    assert_eq!(number(result, "bytes"), size as u64, "{result}");
    assert_eq!(number(result, "final_offset"), size as u64, "{result}");
    let url = result["url"].as_str().expect("url");
    assert!(
        url.starts_with(&w.server.url("/api/uploads/")),
        "{client} resolved the upload URL to {url}"
    );
    for r in requests(result, None) {
        // `null`: the PATCH the script aborted.
        if let Some(status) = r["status"].as_u64() {
            assert!(status < 300, "{client} got a {status} for {r}: {result}");
        }
    }
}

/// The evidence is verified on the phone, the file is stored whole at its
/// content address, and nothing of the upload is left.
async fn assert_stored(w: &World, v: &mut Volunteer, evidence: &str, file: &[u8]) {
    v.phone.pull(&w.server).await;
    let e = evidence_on(&v.phone, evidence);
    assert_eq!(e.status, EvidenceStatus::Verified, "{e:?}");
    let key = format!("blobs/sha256/{}", sha256_hex(file));
    assert!(
        read_blob(&w.services.blobs, &key).await == file,
        "the bytes at {key} are the file"
    );
    let (left, multiparts) = stored_under(&w.services.blobs, "uploads/").await;
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(multiparts, 0);
}

/// The second half of an interrupted upload: it asked the server's offset
/// (the same the script's own HEAD saw), went on from there with the same
/// upload, and created nothing new.
fn assert_resumed(client: Client, result: &Value, size: usize) {
    let head = number(result, "head_offset");
    let resumed = number(result, "resumed_from");
    assert!(
        head > 0 && (head as usize) < size,
        "{client}: the server had {head} of {size} bytes after the interruption"
    );
    assert_eq!(
        resumed, head,
        "{client} resumed from {resumed}, the server said {head}: {result}"
    );
    let posts = requests(result, None)
        .into_iter()
        .filter(|r| r["method"] == "POST")
        .count();
    assert_eq!(posts, 1, "{client} created one upload: {result}");
}

on_each_backend! {
/// tus-js-client sends a 12 MiB chat log in 1 MiB chunks from an
/// fs.ReadStream and is aborted in the middle of a PATCH after 5.5 MiB; the
/// server keeps the half chunk that arrived, and a new tus.Upload given the
/// upload URL asks the offset with HEAD and finishes the file from there.
async fn tus_js_client_uploads_a_file_and_resumes_it_after_an_interruption(backend: Backend) {
    let w = world_with(backend, &[]).await;
    let mut v = volunteer_with_task(&w.server, &w.env, &w.clock, &w.coordinator).await;
    let (file, path, evidence) = chat_log_recorded(&w, &mut v, 12 * MIB, 21, "chat.txt").await;
    let abort_after = (5 * MIB + MIB / 2).to_string();
    let result = run_client(
        Client::TusJs,
        &w.server,
        &v.person.access_token,
        &path,
        &evidence,
        &["--chunk-size", &MIB.to_string(), "--abort-after", &abort_after],
    )
    .await;
    assert_finished(Client::TusJs, &w, &result, file.len());
    assert_resumed(Client::TusJs, &result, file.len());
    assert_eq!(
        number(&result, "head_offset"),
        (5 * MIB + MIB / 2) as u64,
        "the server kept what arrived of the interrupted PATCH: {result}"
    );
    // The new Upload's first request is a HEAD answering that offset, its
    // first PATCH starts there.
    let resumed = requests(&result, Some("resumed"));
    assert_eq!(resumed[0]["method"], "HEAD", "{result}");
    assert_eq!(number(resumed[0], "answered_offset"), number(&result, "head_offset"));
    let first = requests(&result, Some("first"));
    assert!(
        first.last().is_some_and(|r| r["method"] == "PATCH" && r["status"].is_null()),
        "the first upload was aborted in a PATCH: {result}"
    );
    assert_stored(&w, &mut v, &evidence, &file).await;
}
}

on_each_backend! {
/// tuspy sends a 12 MiB chat log in 1 MiB chunks with sha1 checksums, stops
/// after about 5 MiB (the app was killed between chunks), and a new
/// uploader given the upload URL asks the offset with HEAD and finishes.
async fn tuspy_uploads_a_file_and_resumes_it_after_an_interruption(backend: Backend) {
    let w = world_with(backend, &[]).await;
    let mut v = volunteer_with_task(&w.server, &w.env, &w.clock, &w.coordinator).await;
    let (file, path, evidence) = chat_log_recorded(&w, &mut v, 12 * MIB, 22, "chat.txt").await;
    let abort_after = (5 * MIB).to_string();
    let result = run_client(
        Client::Tuspy,
        &w.server,
        &v.person.access_token,
        &path,
        &evidence,
        &["--chunk-size", &MIB.to_string(), "--abort-after", &abort_after, "--checksum"],
    )
    .await;
    assert_finished(Client::Tuspy, &w, &result, file.len());
    assert_resumed(Client::Tuspy, &result, file.len());
    let all = requests(&result, None);
    let patches: Vec<_> = all.iter().filter(|r| r["method"] == "PATCH").collect();
    assert_eq!(patches.len(), 12, "{result}");
    for p in &patches {
        assert!(p["checksum"].as_str().is_some_and(|c| c.starts_with("sha1 ")), "{p}");
    }
    // After the stop: our HEAD, the new uploader's HEAD, then PATCHes from there.
    let head = number(&result, "head_offset");
    let resumed_at = all
        .iter()
        .position(|r| r["method"] == "PATCH" && number(r, "upload_offset") == head)
        .expect("a PATCH at the server's offset");
    assert_eq!(all[resumed_at - 1]["method"], "HEAD", "{result}");
    assert_eq!(number(all[resumed_at - 1], "answered_offset"), head);
    assert_stored(&w, &mut v, &evidence, &file).await;
}
}

on_each_backend! {
/// tus-js-client's creation-with-upload (the first chunk in the POST) and
/// deferred length (`Upload-Defer-Length: 1`, the length sent with the last
/// PATCH), each alone and both together. tus-js-client sends no data in a
/// POST whose length is deferred, and then takes the offset from the 201.
async fn tus_js_client_creates_with_data_and_defers_the_length(backend: Backend) {
    let w = world_with(backend, &[]).await;
    let mut v = volunteer_with_task(&w.server, &w.env, &w.clock, &w.coordinator).await;
    let size = 2 * MIB + MIB / 2 + 7;
    let chunk = MIB.to_string();
    let cases: [(&str, &[&str]); 3] = [
        ("with-data.txt", &["--data-during-creation"]),
        ("deferred.txt", &["--defer-length"]),
        ("both.txt", &["--data-during-creation", "--defer-length"]),
    ];
    for (seed, (name, flags)) in (31..).zip(cases) {
        let (file, path, evidence) = chat_log_recorded(&w, &mut v, size, seed, name).await;
        let mut args = vec!["--chunk-size", chunk.as_str()];
        args.extend_from_slice(flags);
        let result = run_client(Client::TusJs, &w.server, &v.person.access_token, &path, &evidence, &args).await;
        assert_finished(Client::TusJs, &w, &result, size);
        let all = requests(&result, None);
        let post = all[0];
        assert_eq!(post["method"], "POST", "{name}: {result}");
        assert_eq!(post["status"], 201, "{name}: {result}");
        let patches: Vec<_> = all.iter().filter(|r| r["method"] == "PATCH").collect();
        let deferred = flags.contains(&"--defer-length");
        let with_data = flags.contains(&"--data-during-creation") && !deferred;
        if with_data {
            assert_eq!(post["content_type"], "application/offset+octet-stream", "{name}: {result}");
            assert_eq!(number(post, "answered_offset"), MIB as u64, "{name}: {result}");
            assert_eq!(number(patches[0], "upload_offset"), MIB as u64, "{name}: {result}");
            assert_eq!(patches.len(), 2, "{name}: {result}");
        } else {
            assert!(post["content_type"].is_null(), "{name}: {result}");
            assert_eq!(number(post, "answered_offset"), 0, "{name}: {result}");
            assert_eq!(patches.len(), 3, "{name}: {result}");
        }
        if deferred {
            assert_eq!(post["defer_length"], "1", "{name}: {result}");
            assert!(post["upload_length"].is_null(), "{name}: {result}");
            let (last, rest) = patches.split_last().expect("PATCHes");
            assert_eq!(number(last, "upload_length"), size as u64, "{name}: {result}");
            assert!(rest.iter().all(|p| p["upload_length"].is_null()), "{name}: {result}");
        } else {
            assert_eq!(number(post, "upload_length"), size as u64, "{name}: {result}");
        }
        assert_stored(&w, &mut v, &evidence, &file).await;
    }
}
}
