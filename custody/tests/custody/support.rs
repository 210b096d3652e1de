//! Logs, checkpoints and the tamperings someone with SQL access can do to
//! the entries table (a `Vec<Entry>` in seq order stands in for it).

use custody_log::{
    Checkpoint, CheckpointSigner, Entry, Frontier, Hash, NewEntry, PublicKey, Report,
    SignedCheckpoint, append, kinds, verify_log,
};
use serde_json::json;

pub fn signer() -> CheckpointSigner {
    CheckpointSigner::from_seed(&[42; 32])
}

pub fn trusted() -> Vec<PublicKey> {
    vec![signer().public_key().clone()]
}

const KINDS: [&str; 6] = [
    kinds::TASK_ACCEPTED,
    kinds::PURCHASE_RECORDED,
    kinds::EVIDENCE_VERIFIED,
    kinds::SHIPPED,
    kinds::RECEIVED_AT_STATION,
    kinds::RECEIVED_AT_LAB,
];

/// A log of `n` entries about a handful of tasks.
pub fn log(n: u64) -> Vec<Entry> {
    let mut entries: Vec<Entry> = Vec::with_capacity(n as usize);
    for i in 0..n {
        let new = NewEntry {
            at_us: 1_767_225_600_000_000 + i as i64 * 1_000_003,
            kind: KINDS[(i % 6) as usize].to_owned(),
            subject: format!("task-{}", i % 7),
            sample: (i % 3 == 0).then(|| format!("S-{:04}", i % 11)),
            data: json!({"i": i, "evidence": {"sha256": format!("{:064x}", i * 7919)}}),
        };
        entries.push(append(entries.last().map(Entry::head), new).expect("a valid entry"));
    }
    entries
}

pub fn hashes(entries: &[Entry]) -> Vec<Hash> {
    entries.iter().map(|entry| entry.hash).collect()
}

/// The checkpoint of the first `size` entries, signed by [`signer`].
pub fn checkpoint(entries: &[Entry], size: u64) -> SignedCheckpoint {
    checkpoint_by(&signer(), entries, size)
}

pub fn checkpoint_by(signer: &CheckpointSigner, entries: &[Entry], size: u64) -> SignedCheckpoint {
    let mut frontier = Frontier::new();
    for entry in &entries[..size as usize] {
        frontier.push(entry.hash);
    }
    signer.sign(Checkpoint {
        tree_size: size,
        merkle_root: frontier.root(),
        head_hash: frontier.head(),
        at_us: 1_767_300_000_000_000 + size as i64,
    })
}

pub fn verify(entries: Vec<Entry>, checkpoints: Vec<SignedCheckpoint>) -> Report {
    verify_log(entries, checkpoints, &trusted())
}

fn at(entries: &mut [Entry], seq: u64) -> &mut Entry {
    entries
        .iter_mut()
        .find(|entry| entry.seq == seq)
        .expect("the entry exists")
}

fn rehash(entry: &mut Entry) {
    entry.hash = entry.compute_hash();
}

/// `UPDATE ... SET data = ... WHERE seq = k`.
pub fn update_data(entries: &mut [Entry], seq: u64) {
    at(entries, seq).data = json!({"i": 999_999, "evidence": {"sha256": "forged"}});
}

/// The same, and the row's hash recomputed.
pub fn update_data_and_rehash(entries: &mut [Entry], seq: u64) {
    update_data(entries, seq);
    rehash(at(entries, seq));
}

/// `DELETE ... WHERE seq = k`.
pub fn delete(entries: &mut Vec<Entry>, seq: u64) {
    entries.retain(|entry| entry.seq != seq);
}

/// `DELETE ... WHERE seq = k; UPDATE ... SET seq = seq - 1 WHERE seq > k`,
/// and with `rehash` each moved row's hash recomputed (links left).
pub fn delete_and_renumber(entries: &mut Vec<Entry>, seq: u64, rehash_moved: bool) {
    delete(entries, seq);
    for entry in entries.iter_mut().filter(|entry| entry.seq > seq) {
        entry.seq -= 1;
        if rehash_moved {
            rehash(entry);
        }
    }
}

/// A forged entry for seq `k` that links to entry `k - 1` and hashes right.
pub fn forged(entries: &[Entry], seq: u64) -> Entry {
    let head = entries
        .iter()
        .find(|entry| entry.seq == seq - 1)
        .map(Entry::head);
    let new = NewEntry {
        at_us: 1_767_225_600_500_000,
        kind: kinds::RESULT_RECORDED.to_owned(),
        subject: "task-forged".to_owned(),
        sample: Some("S-FAKE".to_owned()),
        data: json!({"verdict": "pass"}),
    };
    append(head, new).expect("a valid entry")
}

/// `UPDATE ... SET seq = seq + 1 WHERE seq >= k; INSERT` a forged entry at
/// `k`, with each moved row's hash recomputed when `rehash_moved`.
pub fn insert_and_renumber(entries: &mut Vec<Entry>, seq: u64, rehash_moved: bool) {
    let forged = forged(entries, seq);
    for entry in entries.iter_mut().filter(|entry| entry.seq >= seq) {
        entry.seq += 1;
        if rehash_moved {
            rehash(entry);
        }
    }
    entries.insert((seq - 1) as usize, forged);
}

/// `INSERT` a forged entry under the existing seq `k` (no unique
/// constraint), read before or after the original.
pub fn insert_duplicate(entries: &mut Vec<Entry>, seq: u64, forged_first: bool) {
    let forged = forged(entries, seq);
    let index = (seq - 1) as usize + usize::from(!forged_first);
    entries.insert(index, forged);
}

/// `UPDATE` swapping the seqs of entries `a` and `b`, read back in seq order.
pub fn swap(entries: &mut [Entry], a: u64, b: u64) {
    entries.swap((a - 1) as usize, (b - 1) as usize);
    entries[(a - 1) as usize].seq = a;
    entries[(b - 1) as usize].seq = b;
}

/// `DELETE ... WHERE seq > keep`.
pub fn truncate(entries: &mut Vec<Entry>, keep: u64) {
    entries.truncate(keep as usize);
}

/// Entry `k` edited and every entry from it on re-hashed and re-linked: a
/// consistent chain that only a checkpoint can tell from the original.
pub fn rewrite_from(entries: &mut [Entry], seq: u64) {
    update_data(entries, seq);
    let mut prev_hash = None;
    for entry in entries.iter_mut().filter(|entry| entry.seq >= seq) {
        if let Some(prev_hash) = prev_hash {
            entry.prev_hash = prev_hash;
        }
        rehash(entry);
        prev_hash = Some(entry.hash);
    }
}
