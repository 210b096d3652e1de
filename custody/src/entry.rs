//! Custody log entries: their fields, their canonical encoding, their hash
//! and the append step that links a new entry to the head of the log.
//!
//! The encoding is a frozen format (see the crate documentation, "Entry
//! hash"): changing a byte of it makes every stored log fail verification.
//! A new format gets a new domain prefix (`... entry v2`), never an edit of
//! v1. Nothing here reads a clock: the server passes the time in.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{Hash, canonical::write_canonical_json};

/// The first bytes of every encoded entry: names the format and its version,
/// so an entry hash can never be mistaken for the hash of anything else.
pub const ENTRY_DOMAIN: &[u8] = b"mystery-buyer custody entry v1\0";

/// The `prev_hash` of entry 1: there is no entry before it.
pub const GENESIS_PREV_HASH: Hash = [0u8; 32];

/// The event kinds the server writes today. The log does not restrict kinds
/// (a new event needs no new version of this crate); these only keep the
/// spelling in one place.
pub mod kinds {
    pub const TASK_ACCEPTED: &str = "task_accepted";
    pub const PURCHASE_RECORDED: &str = "purchase_recorded";
    pub const EVIDENCE_VERIFIED: &str = "evidence_verified";
    pub const SHIPPED: &str = "shipped";
    pub const RECEIVED_AT_STATION: &str = "received_at_station";
    /// A relay station's photo of the parcel, with its file's hashes.
    pub const STATION_PHOTO: &str = "station_photo";
    pub const RELABELLED: &str = "relabelled";
    pub const FORWARDED: &str = "forwarded";
    pub const RECEIVED_AT_LAB: &str = "received_at_lab";
    pub const RESULT_RECORDED: &str = "result_recorded";
    pub const RESULT_PUBLISHED: &str = "result_published";
    /// A parcel went missing, arrived damaged or opened, a label did not
    /// match: the details are in `data`.
    pub const EXCEPTION: &str = "exception";
}

/// One entry of the custody log, as stored (one row) and as proven.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the log, 1-based and dense: entry n is the n-th appended.
    pub seq: u64,
    /// Server time of the event, microseconds since the Unix epoch (UTC).
    pub at_us: i64,
    /// What happened (see [`kinds`]).
    pub kind: String,
    /// What it happened to: the task id.
    pub subject: String,
    /// The sample code, once the sample has one.
    #[serde(default)]
    pub sample: Option<String>,
    /// The event's fields (evidence hashes, station ids, ...). Hashed in
    /// canonical form; store [`Entry::canonical_data`] so the database
    /// keeps exactly the text that was hashed.
    pub data: Value,
    /// `hash` of entry `seq - 1`, or [`GENESIS_PREV_HASH`] for entry 1.
    #[serde(with = "crate::hexser::array")]
    pub prev_hash: Hash,
    /// SHA-256 of the canonical encoding of every field above.
    #[serde(with = "crate::hexser::array")]
    pub hash: Hash,
}

/// The fields of an entry about to be appended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEntry {
    pub at_us: i64,
    pub kind: String,
    pub subject: String,
    pub sample: Option<String>,
    pub data: Value,
}

/// The newest entry of the log: all [`append`] needs to know about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Head {
    pub seq: u64,
    #[serde(with = "crate::hexser::array")]
    pub hash: Hash,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AppendError {
    #[error("an entry needs a kind")]
    EmptyKind,
    #[error("an entry needs a subject")]
    EmptySubject,
    #[error("a sample code, when given, must not be empty")]
    EmptySample,
    #[error("the log is full (seq would pass u64::MAX)")]
    SeqOverflow,
    #[error("the head has seq 0; entries are numbered from 1")]
    HeadSeqZero,
    #[error("data may hold integers only, not {0}: write other numbers as strings")]
    NonIntegerNumber(String),
}

/// The entry that follows `head` (or the first entry, when `head` is `None`):
/// its `seq` and `prev_hash` come from the head, its `hash` from its fields.
/// One SHA-256 over the encoding; call it inside the event's transaction,
/// with the head read under a lock (or a unique `seq`, retried on conflict),
/// so two appends never share a predecessor.
pub fn append(head: Option<Head>, new: NewEntry) -> Result<Entry, AppendError> {
    if new.kind.is_empty() {
        return Err(AppendError::EmptyKind);
    }
    if new.subject.is_empty() {
        return Err(AppendError::EmptySubject);
    }
    if new.sample.as_deref() == Some("") {
        return Err(AppendError::EmptySample);
    }
    crate::canonical::check_integers_only(&new.data).map_err(AppendError::NonIntegerNumber)?;
    let (seq, prev_hash) = match head {
        None => (1, GENESIS_PREV_HASH),
        Some(Head { seq: 0, .. }) => return Err(AppendError::HeadSeqZero),
        Some(head) => (
            head.seq.checked_add(1).ok_or(AppendError::SeqOverflow)?,
            head.hash,
        ),
    };
    let mut entry = Entry {
        seq,
        at_us: new.at_us,
        kind: new.kind,
        subject: new.subject,
        sample: new.sample,
        data: new.data,
        prev_hash,
        hash: [0; 32],
    };
    entry.hash = entry.compute_hash();
    Ok(entry)
}

impl Entry {
    /// The canonical encoding of every field but `hash` (the bytes that are
    /// hashed).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        self.canonical_bytes_as(self.seq)
    }

    /// SHA-256 of [`Entry::canonical_bytes`]: what `hash` must be.
    pub fn compute_hash(&self) -> Hash {
        self.compute_hash_as(self.seq)
    }

    /// Whether the stored `hash` is the hash of the stored fields.
    pub fn is_self_consistent(&self) -> bool {
        self.compute_hash() == self.hash
    }

    /// The log head this entry makes, for the next [`append`].
    pub fn head(&self) -> Head {
        Head {
            seq: self.seq,
            hash: self.hash,
        }
    }

    /// The canonical JSON text of `data`: what the database should store, so
    /// reading it back gives the hashed bytes again.
    pub fn canonical_data(&self) -> String {
        crate::canonical::canonical_json(&self.data)
    }

    /// The hash these fields would have under another `seq`: how the verifier
    /// recognises an entry that was renumbered.
    pub(crate) fn compute_hash_as(&self, seq: u64) -> Hash {
        Sha256::digest(self.canonical_bytes_as(seq)).into()
    }

    /// The first of `candidates` under which these fields hash to `target`:
    /// the seq an entry had before someone renumbered it. Encodes once and
    /// patches the seq bytes, so each candidate costs one SHA-256.
    pub(crate) fn find_seq(
        &self,
        target: &Hash,
        candidates: impl Iterator<Item = u64>,
    ) -> Option<u64> {
        let mut bytes = self.canonical_bytes_as(0);
        let at = ENTRY_DOMAIN.len();
        for seq in candidates {
            bytes[at..at + 8].copy_from_slice(&seq.to_be_bytes());
            if Sha256::digest(&bytes).as_slice() == target {
                return Some(seq);
            }
        }
        None
    }

    fn canonical_bytes_as(&self, seq: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            ENTRY_DOMAIN.len() + 8 + 8 + 8 * 4 + 1 + self.kind.len() + self.subject.len() + 128,
        );
        out.extend_from_slice(ENTRY_DOMAIN);
        out.extend_from_slice(&seq.to_be_bytes());
        out.extend_from_slice(&self.at_us.to_be_bytes());
        put_field(&mut out, self.kind.as_bytes());
        put_field(&mut out, self.subject.as_bytes());
        match &self.sample {
            None => out.push(0),
            Some(sample) => {
                out.push(1);
                put_field(&mut out, sample.as_bytes());
            }
        }
        // Length prefix first: write the JSON, then patch its length in.
        let at = out.len();
        out.extend_from_slice(&[0; 8]);
        write_canonical_json(&mut out, &self.data);
        let len = (out.len() - at - 8) as u64;
        out[at..at + 8].copy_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&self.prev_hash);
        out
    }
}

/// A variable-length field: its length in bytes as a big-endian u64, then
/// the bytes. The prefix makes the encoding unambiguous (no separator can be
/// forged inside a field).
fn put_field(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn new(kind: &str) -> NewEntry {
        NewEntry {
            at_us: 1_700_000_000_000_000,
            kind: kind.into(),
            subject: "task-1".into(),
            sample: None,
            data: json!({}),
        }
    }

    #[test]
    fn the_first_entry_has_seq_one_and_the_genesis_prev_hash() {
        let first = append(None, new(kinds::TASK_ACCEPTED)).expect("appends");
        assert_eq!(first.seq, 1);
        assert_eq!(first.prev_hash, GENESIS_PREV_HASH);
        assert!(first.is_self_consistent());
    }

    #[test]
    fn an_appended_entry_links_to_the_head() {
        let first = append(None, new(kinds::TASK_ACCEPTED)).expect("appends");
        let second = append(Some(first.head()), new(kinds::SHIPPED)).expect("appends");
        assert_eq!(second.seq, 2);
        assert_eq!(second.prev_hash, first.hash);
        assert!(second.is_self_consistent());
    }

    #[test]
    fn every_field_is_covered_by_the_hash() {
        let mut sampled = new(kinds::SHIPPED);
        sampled.sample = Some("S-1".into());
        sampled.data = json!({"a": 1});
        let base = append(None, sampled).expect("appends");
        let edits: [fn(&mut Entry); 8] = [
            |e| e.seq = 2,
            |e| e.at_us += 1,
            |e| e.kind.push('x'),
            |e| e.subject.push('x'),
            |e| e.sample = None,
            |e| e.sample = Some("S-2".into()),
            |e| e.data = json!({"a": 2}),
            |e| e.prev_hash[31] ^= 1,
        ];
        for edit in edits {
            let mut changed = base.clone();
            edit(&mut changed);
            assert_ne!(changed.compute_hash(), base.hash, "{changed:?}");
        }
    }

    #[test]
    fn field_boundaries_cannot_be_shifted() {
        let mut a = append(None, new("ab")).expect("appends");
        a.subject = "c".into();
        let mut b = a.clone();
        b.kind = "a".into();
        b.subject = "bc".into();
        assert_ne!(a.compute_hash(), b.compute_hash());
        // An absent sample and an empty-looking one differ too.
        let mut c = a.clone();
        c.sample = Some(String::new());
        assert_ne!(a.compute_hash(), c.compute_hash());
    }

    #[test]
    fn the_order_of_data_keys_does_not_matter() {
        let mut a = new(kinds::EVIDENCE_VERIFIED);
        a.data = serde_json::from_str(r#"{"sha256": "ab", "file": "f1"}"#).expect("JSON");
        let mut b = a.clone();
        b.data = serde_json::from_str(r#"{"file":"f1","sha256":"ab"}"#).expect("JSON");
        assert_eq!(
            append(None, a).expect("appends").hash,
            append(None, b).expect("appends").hash
        );
    }

    #[test]
    fn empty_names_and_a_zero_head_are_refused() {
        assert_eq!(append(None, new("")), Err(AppendError::EmptyKind));
        let mut no_subject = new("x");
        no_subject.subject.clear();
        assert_eq!(append(None, no_subject), Err(AppendError::EmptySubject));
        let mut empty_sample = new("x");
        empty_sample.sample = Some(String::new());
        assert_eq!(append(None, empty_sample), Err(AppendError::EmptySample));
        let zero = Head {
            seq: 0,
            hash: [0; 32],
        };
        assert_eq!(append(Some(zero), new("x")), Err(AppendError::HeadSeqZero));
        let full = Head {
            seq: u64::MAX,
            hash: [0; 32],
        };
        assert_eq!(append(Some(full), new("x")), Err(AppendError::SeqOverflow));
        let mut float = new("x");
        float.data = json!({"lead_mg_per_kg": 0.35});
        assert_eq!(
            append(None, float),
            Err(AppendError::NonIntegerNumber("0.35".into()))
        );
    }

    #[test]
    fn an_entry_round_trips_through_json_with_hex_hashes() {
        let entry = append(None, new(kinds::SHIPPED)).expect("appends");
        let text = serde_json::to_string(&entry).expect("encodes");
        assert!(text.contains(&hex::encode(entry.hash)));
        let back: Entry = serde_json::from_str(&text).expect("decodes");
        assert_eq!(back, entry);
    }
}
