//! The custody log as the server keeps it: every custody event is appended
//! in the transaction of the event itself (so there is no event without its
//! entry, and no entry without its event), checkpoints are signed with the
//! Ed25519 key from configuration (never stored in the database), and one
//! sample's chain is handed out with the proof that it is part of the
//! signed log. The format, the hashing and the verification live in the
//! pure crate `custody-log`; this module only moves rows.
//!
//! The head row is the log's one point of contention: every append numbers
//! its entry from it, so it is locked until the commit. [`append`] inside
//! [`crate::db::Database::write_blocking`] therefore only queues the event;
//! the transaction numbers, hashes and inserts its queued entries as its
//! very last statements ([`flush`]), just before it commits. The head is
//! held from there to the commit only, and nothing is locked after it, so
//! it stands outside the lock order of tasks and scopes. A savepoint rolled
//! back drops the events queued inside it ([`crate::db::savepoint`]).

use std::{
    cell::RefCell,
    sync::atomic::{AtomicBool, Ordering},
};

use custody_log::{
    CheckpointSigner, Entry, Head, KeyId, NewEntry, PublicKey, SignedCheckpoint,
    checkpoint::Checkpoint, merkle,
};
use serde_json::{Map, Value};

use crate::{
    db::{
        self, Conn, DbError,
        custody::{CheckpointRow, EntryRow},
        time::Micros,
    },
    error::ApiError,
};

pub use custody_log::kinds;

/// Set only by the custody benchmark, to measure the same scans without
/// their entries in the same run. Nothing else may set it.
static LEFT_OUT_FOR_BENCHMARK: AtomicBool = AtomicBool::new(false);

/// For `tests/benches/custody.rs` only: leaves custody writes out (`true`)
/// or puts them back.
#[doc(hidden)]
pub fn leave_out_for_benchmark(left_out: bool) {
    LEFT_OUT_FOR_BENCHMARK.store(left_out, Ordering::SeqCst);
}

/// A custody event about to be logged: what happened, to which task (and
/// sample, once it has a code), and its fields. Fields are strings or
/// integers only: they are hashed in canonical JSON, which has no floats.
#[derive(Debug, Clone)]
pub struct Event {
    kind: &'static str,
    task: String,
    sample: Option<String>,
    data: Map<String, Value>,
}

impl Event {
    pub fn new(kind: &'static str, task: &str) -> Self {
        Self {
            kind,
            task: task.to_string(),
            sample: None,
            data: Map::new(),
        }
    }

    /// The sample code the event concerns.
    pub fn sample(mut self, code: &str) -> Self {
        if !code.is_empty() {
            self.sample = Some(code.to_string());
        }
        self
    }

    pub fn with(mut self, key: &str, value: &str) -> Self {
        self.data
            .insert(key.to_string(), Value::String(value.to_string()));
        self
    }

    pub fn with_int(mut self, key: &str, value: i64) -> Self {
        self.data.insert(key.to_string(), Value::from(value));
        self
    }
}

thread_local! {
    /// The events of the write transaction running on this thread, in the
    /// order they happened; `None` outside [`Deferring`]. A write
    /// transaction runs start to commit on one blocking thread, with no
    /// await inside, so the thread is the transaction.
    static QUEUED: RefCell<Option<Vec<NewEntry>>> = const { RefCell::new(None) };
}

/// While alive, [`append`] on this thread queues its events for [`flush`].
/// Made by `Database::write_blocking` around its transaction; dropping it
/// (commit, rollback or panic) forgets whatever is left and gives back the
/// queue of an enclosing transaction, if any.
pub struct Deferring {
    outer: Option<Vec<NewEntry>>,
}

impl Deferring {
    pub fn begin() -> Self {
        Self {
            outer: QUEUED.with(|q| q.borrow_mut().replace(Vec::new())),
        }
    }
}

impl Drop for Deferring {
    fn drop(&mut self) {
        let outer = self.outer.take();
        QUEUED.with(|q| *q.borrow_mut() = outer);
    }
}

/// How many events are queued: a savepoint's mark.
pub fn queued() -> usize {
    QUEUED.with(|q| q.borrow().as_ref().map_or(0, Vec::len))
}

/// Drops the events queued after `mark` (their savepoint rolled back).
pub fn forget_after(mark: usize) {
    QUEUED.with(|q| {
        if let Some(list) = q.borrow_mut().as_mut() {
            list.truncate(mark);
        }
    });
}

/// Appends `event` to the log in the caller's transaction: queued until the
/// transaction's [`flush`] inside `Database::write_blocking`, written at
/// once anywhere else.
pub fn append(conn: &mut Conn, now: Micros, event: Event) -> Result<(), ApiError> {
    if LEFT_OUT_FOR_BENCHMARK.load(Ordering::Relaxed) {
        return Ok(());
    }
    if event.task.is_empty() {
        return Err(ApiError::Internal(format!(
            "a {} custody event without its task",
            event.kind
        )));
    }
    let new = NewEntry {
        at_us: now,
        kind: event.kind.to_string(),
        subject: event.task,
        sample: event.sample,
        data: Value::Object(event.data),
    };
    let direct = QUEUED.with(|q| match q.borrow_mut().as_mut() {
        Some(list) => {
            list.push(new);
            None
        }
        None => Some(new),
    });
    match direct {
        Some(new) => Ok(write_entries(conn, vec![new])?),
        None => Ok(()),
    }
}

/// Writes the events this thread's transaction queued, chained after the
/// head: the transaction's last statements before its commit.
pub fn flush(conn: &mut Conn) -> Result<(), DbError> {
    let queued = QUEUED.with(|q| q.borrow_mut().as_mut().map(std::mem::take));
    match queued {
        Some(list) if !list.is_empty() => write_entries(conn, list),
        _ => Ok(()),
    }
}

/// Numbers `entries` from the head in one update (which locks it until the
/// commit), hashes each onto the one before, inserts them and moves the
/// head's hash.
fn write_entries(conn: &mut Conn, entries: Vec<NewEntry>) -> Result<(), DbError> {
    let count = i64::try_from(entries.len()).unwrap_or(i64::MAX);
    let (last_seq, prev) = db::custody::claim_seqs(conn, count)?;
    let first = last_seq - count + 1;
    let mut head = if first <= 1 {
        None
    } else {
        Some(Head {
            seq: u64::try_from(first - 1).unwrap_or(0),
            hash: decode_hash(&prev)
                .ok_or_else(|| DbError::Damaged("the custody head's hash is not a hash".into()))?,
        })
    };
    let mut rows = Vec::with_capacity(entries.len());
    for new in entries {
        let entry = custody_log::append(head, new)
            .map_err(|e| DbError::Damaged(format!("a custody entry was refused: {e}")))?;
        head = Some(Head {
            seq: entry.seq,
            hash: entry.hash,
        });
        rows.push(to_row(&entry));
    }
    db::custody::insert_entries(conn, &rows)?;
    if let Some(last) = rows.last() {
        db::custody::set_head_hash(conn, &last.hash)?;
    }
    Ok(())
}

fn to_row(entry: &Entry) -> EntryRow {
    EntryRow {
        seq: i64::try_from(entry.seq).unwrap_or(i64::MAX),
        at: entry.at_us,
        kind: entry.kind.clone(),
        task_id: entry.subject.clone(),
        sample_code: entry.sample.clone(),
        data: entry.canonical_data(),
        prev_hash: hex::encode(entry.prev_hash),
        hash: hex::encode(entry.hash),
    }
}

pub(crate) fn decode_hash(text: &str) -> Option<[u8; 32]> {
    hex::decode(text).ok()?.try_into().ok()
}

/// A stored row as the crate's entry. A row whose hashes are not hex or
/// whose data is not JSON still becomes an entry (with zero hashes or the
/// data as a string), so the verifier reports it as changed instead of the
/// reader failing.
pub fn from_row(row: EntryRow) -> Entry {
    Entry {
        seq: u64::try_from(row.seq).unwrap_or(0),
        at_us: row.at,
        kind: row.kind,
        subject: row.task_id,
        sample: row.sample_code,
        data: serde_json::from_str(&row.data).unwrap_or(Value::String(row.data)),
        prev_hash: decode_hash(&row.prev_hash).unwrap_or([0; 32]),
        hash: decode_hash(&row.hash).unwrap_or([0; 32]),
    }
}

/// A stored checkpoint row as the crate's signed checkpoint. A field that
/// does not even decode reads as zeros, so the verifier reports that
/// checkpoint (bad signature, mismatch) instead of skipping it.
pub fn checkpoint_from_row(row: &CheckpointRow) -> SignedCheckpoint {
    SignedCheckpoint {
        checkpoint: Checkpoint {
            tree_size: u64::try_from(row.tree_size).unwrap_or(0),
            merkle_root: decode_hash(&row.root).unwrap_or([0; 32]),
            head_hash: decode_hash(&row.head).unwrap_or([0; 32]),
            at_us: row.at,
        },
        key_id: KeyId(row.key_id.clone()),
        signature: hex::decode(&row.signature)
            .ok()
            .and_then(|b| b.try_into().ok())
            .unwrap_or([0; 64]),
    }
}

/// Checks the whole log as stored: every entry's hash, every link, every
/// signed checkpoint against `trusted` keys; names the first problem.
/// Reads in pages, inside the caller's snapshot.
pub fn verify(conn: &mut Conn, trusted: &[PublicKey]) -> Result<custody_log::Report, ApiError> {
    const PAGE: i64 = 10_000;
    let checkpoints: Vec<SignedCheckpoint> = db::custody::all_checkpoints(conn)?
        .iter()
        .map(checkpoint_from_row)
        .collect();
    let mut verifier = custody_log::LogVerifier::new(checkpoints, trusted);
    let mut after = i64::MIN;
    'pages: loop {
        let rows = db::custody::entries_after(conn, after, PAGE)?;
        let Some(last) = rows.last() else { break };
        after = last.seq;
        let full = rows.len() as i64 == PAGE;
        for row in rows {
            if !verifier.push(from_row(row)) {
                break 'pages;
            }
        }
        if !full {
            break;
        }
    }
    Ok(verifier.finish())
}

/// Signs a checkpoint of the log as committed now, unless the newest one
/// already covers it. Returns the newest checkpoint afterwards (`None` for
/// an empty log that was never checkpointed).
pub fn checkpoint(
    conn: &mut Conn,
    now: Micros,
    signer: &CheckpointSigner,
) -> Result<Option<SignedCheckpoint>, ApiError> {
    // What this transaction logged so far is part of the log it signs.
    flush(conn)?;
    let (size, _) = db::custody::head(conn)?;
    let latest = db::custody::latest_checkpoint(conn)?;
    if let Some(row) = &latest
        && row.tree_size >= size
    {
        return Ok(Some(checkpoint_from_row(row)));
    }
    if size == 0 {
        return Ok(None);
    }
    let leaves = leaves_upto(conn, size)?;
    let head_hash = *leaves
        .last()
        .ok_or_else(|| ApiError::Internal("custody log shorter than its head".into()))?;
    let signed = signer.sign(Checkpoint {
        tree_size: leaves.len() as u64,
        merkle_root: merkle::root(&leaves),
        head_hash,
        at_us: now,
    });
    db::custody::insert_checkpoint(
        conn,
        &CheckpointRow {
            tree_size: size,
            root: hex::encode(signed.checkpoint.merkle_root),
            head: hex::encode(signed.checkpoint.head_hash),
            at: now,
            key_id: signed.key_id.0.clone(),
            signature: hex::encode(signed.signature),
        },
    )?;
    Ok(Some(signed))
}

/// The entry hashes 1..=size as stored, refusing a log with a gap (a
/// checkpoint is never signed over a damaged log).
fn leaves_upto(conn: &mut Conn, size: i64) -> Result<Vec<[u8; 32]>, ApiError> {
    let rows = db::custody::hashes_upto(conn, size)?;
    let mut leaves = Vec::with_capacity(rows.len());
    for (i, (seq, hash)) in rows.iter().enumerate() {
        let expected = i64::try_from(i).unwrap_or(i64::MAX) + 1;
        let hash = decode_hash(hash).filter(|_| *seq == expected).ok_or_else(|| {
            ApiError::Internal(format!(
                "custody entry {expected} is missing or damaged; run `mystery-buyer audit verify`"
            ))
        })?;
        leaves.push(hash);
    }
    if leaves.len() as i64 != size {
        return Err(ApiError::Internal(
            "custody log shorter than its head; run `mystery-buyer audit verify`".into(),
        ));
    }
    Ok(leaves)
}

/// One task's custody chain with the proof that it is part of the signed
/// log: a fresh checkpoint is signed when the newest does not cover the
/// chain yet. Read and signed in the caller's write transaction.
pub fn chain_of_task(
    conn: &mut Conn,
    now: Micros,
    task: &str,
    signer: &CheckpointSigner,
) -> Result<custody_log::ChainProof, ApiError> {
    let entries: Vec<Entry> = db::custody::entries_of_task(conn, task)?
        .into_iter()
        .map(from_row)
        .collect();
    if entries.is_empty() {
        return Err(ApiError::Missing(
            "this sample has no custody entries yet".into(),
        ));
    }
    let signed = checkpoint(conn, now, signer)?
        .ok_or_else(|| ApiError::Internal("custody log without a checkpoint".into()))?;
    let size = i64::try_from(signed.checkpoint.tree_size).unwrap_or(i64::MAX);
    let leaves = leaves_upto(conn, size)?;
    custody_log::build_chain_proof(entries, &leaves, signed, signer.public_key())
        .map_err(|e| ApiError::Internal(format!("custody chain proof failed: {e}")))
}

/// The keys whose checkpoints count: the signing key's own public key and
/// any older ones configured (a rotated key's checkpoints stay valid).
pub fn trusted_keys(
    signer: Option<&CheckpointSigner>,
    extra: &[String],
) -> Result<Vec<PublicKey>, String> {
    let mut keys: Vec<PublicKey> = signer.map(|s| s.public_key().clone()).into_iter().collect();
    for text in extra {
        keys.push(PublicKey::parse(text).map_err(|e| format!("custody_public_keys: {e}"))?);
    }
    Ok(keys)
}

/// The job that signs a checkpoint now and then.
pub const CHECKPOINT_JOB: &str = "custody.checkpoint";

pub fn checkpoint_interval(config: &crate::config::Config) -> chrono::Duration {
    chrono::Duration::minutes(i64::from(config.custody_checkpoint_minutes.max(1)))
}

/// Enqueues the next checkpoint (once per slot, whichever instance asks).
pub fn schedule_checkpoint(
    conn: &mut Conn,
    at: chrono::DateTime<chrono::Utc>,
    every: chrono::Duration,
) -> Result<(), db::DbError> {
    let slot = at.timestamp() / every.num_seconds().max(1);
    crate::jobs::schedule_once(conn, at, CHECKPOINT_JOB, &slot.to_string())
}

/// Registers the checkpoint job; each run schedules the next. Without a
/// signing key it only schedules the next run (and says so in the log).
pub fn register_checkpoints(registry: &mut crate::jobs::Registry, services: &crate::Services) {
    let (db, clock) = (services.db.clone(), std::sync::Arc::clone(&services.clock));
    let signer = services.custody_signer.clone();
    let every = checkpoint_interval(&services.config);
    registry.register(CHECKPOINT_JOB, move |_ctx| {
        let (db, clock, signer) = (db.clone(), clock.clone(), signer.clone());
        async move {
            let now = clock.now();
            let next = now + every;
            db.write(move |conn| {
                match &signer {
                    Some(signer) => {
                        if let Some(signed) =
                            checkpoint(conn, crate::db::time::to_micros(now), signer)?
                        {
                            tracing::info!(
                                tree_size = signed.checkpoint.tree_size,
                                key = %signed.key_id.0,
                                "custody checkpoint"
                            );
                        }
                    }
                    None => tracing::warn!(
                        "custody checkpoints are not signed: set custody_signing_key"
                    ),
                }
                schedule_checkpoint(conn, next, every)?;
                Ok::<_, ApiError>(())
            })
            .await
            .map_err(|e| crate::jobs::JobError::Retry(e.to_string()))
        }
    });
}
