//! The tamper-evident custody log of mystery-buyer: every custody event of a
//! sample (task accepted, purchase recorded, evidence verified, shipped,
//! relayed, received at the lab, result published) is an [`Entry`] that
//! carries the hash of the entry before it; a Merkle tree over the entry
//! hashes is periodically committed to by a [`Checkpoint`] signed with an
//! Ed25519 key kept outside the database. Regulators can then show in court
//! that a sample's chain of custody was never altered.
//!
//! This crate is pure: no IO, no clock reads, no async runtime, no
//! database. The server stores entries and checkpoints in its tables and
//! calls this crate to:
//!
//! 1. **append**: [`append`] turns the head of the log (`seq`, `hash` of the
//!    newest entry, read under a lock in the event's transaction) and the
//!    new event's fields into the complete entry to insert (one SHA-256);
//! 2. **checkpoint**: push the entry hashes into a [`Frontier`] (or read them
//!    all), take its root and head, and [`CheckpointSigner::sign`];
//! 3. **verify the log**: push every stored entry in seq order into a
//!    [`LogVerifier`] (or call [`verify_log`]) with the stored checkpoints and
//!    the trusted public keys; the [`Report`] names the first [`Problem`];
//! 4. **prove one sample's chain**: [`build_chain_proof`] from the sample's
//!    entries and all entry hashes up to a checkpoint; anyone checks it with
//!    [`verify_chain`].
//!
//! # Entry hash (format v1)
//! `hash = SHA-256(encoding)`, where the encoding is the concatenation of:
//!
//! | bytes | what |
//! |---|---|
//! | 31 | the ASCII text `mystery-buyer custody entry v1` and one `0x00` byte |
//! | 8 | `seq`, unsigned, big-endian |
//! | 8 | `at_us`, signed two's complement, big-endian |
//! | 8 + n | `kind`: its UTF-8 length n as a big-endian u64, then its bytes |
//! | 8 + n | `subject`, likewise |
//! | 1 or 9 + n | `sample`: `0x00` when absent; else `0x01`, length, bytes |
//! | 8 + n | `data`: the canonical JSON text (below), length-prefixed likewise |
//! | 32 | `prev_hash`: the previous entry's `hash`; 32 zero bytes for entry 1 |
//!
//! Canonical JSON: no whitespace; object members sorted by the UTF-8 bytes
//! of their keys; strings UTF-8 with only `"` and `\` backslash-escaped,
//! `\b \f \n \r \t`, other control characters as `\u00xx` (lowercase hex),
//! everything else literal; numbers are integers (u64 or i64 range) in
//! plain decimal: [`append`] refuses any other number (write measurements as
//! decimal strings). See
//! [`canonical`]. The server should store this text, not a reformatted one.
//!
//! # Merkle tree
//! RFC 9162 section 2.1 over the entry hashes, leaf `i` = entry `i + 1`:
//! leaf `SHA-256(0x00 || entry hash)`, node `SHA-256(0x01 || left || right)`,
//! the left subtree the largest power of two below the size. See [`merkle`].
//!
//! # Checkpoint signature
//! Ed25519 (RFC 8032, strict verification) over the UTF-8 text
//!
//! ```text
//! mystery-buyer custody checkpoint v1
//! <tree_size, decimal>
//! <merkle_root, 64 lowercase hex digits>
//! <head_hash (hash of entry tree_size; zeros for 0), 64 lowercase hex digits>
//! <at_us, decimal, '-' if negative>
//! ```
//!
//! each line ending in `\n`. The key id is the first 8 bytes, in hex, of
//! `SHA-256("mystery-buyer custody key v1" || 0x00 || public key)`.
//!
//! # Verifying a chain proof, for auditors
//! A [`ChainProof`] is JSON; every hash and the signature are lowercase hex.
//! With the regulator's public key obtained independently of the proof:
//!
//! 1. check `format` is `mystery-buyer custody chain proof v1`;
//! 2. check `public_key` is the regulator's key and `checkpoint.key_id` its
//!    key id;
//! 3. rebuild the signed text of `checkpoint` (above) and verify
//!    `checkpoint.signature` over it with the key;
//! 4. for each entry, in increasing `seq` (1 <= seq <= `tree_size`):
//!    recompute its hash from its fields (above) and compare with `hash`;
//!    where two listed entries are consecutive, check the later's
//!    `prev_hash` is the earlier's `hash`; if `seq` is `tree_size`, check
//!    `hash` is `head_hash`;
//! 5. check each `audit_path` with RFC 9162's inclusion verification
//!    (section 2.1.3.2) for leaf index `seq - 1`, tree size `tree_size`,
//!    leaf input `hash`, against `merkle_root`.
//!
//! All pass: each listed entry was in the log, as shown, when the regulator
//! signed the checkpoint at `at_us`. The proof says nothing of entries it
//! does not list.
//!
//! # What the log cannot show
//! Entries after the newest checkpoint are protected by the chain only:
//! whoever can write the database can rewrite them consistently, append
//! plausible ones, or delete the tail undetected. So is a deleted checkpoint
//! row: publish checkpoints outside the database (the regulator keeps them)
//! and sign them often.

pub mod canonical;
pub mod chain;
pub mod checkpoint;
pub mod entry;
mod hexser;
pub mod merkle;
pub mod verify;

pub use chain::{
    CHAIN_PROOF_FORMAT, ChainError, ChainProof, ProvenEntry, build_chain_proof, verify_chain,
};
pub use checkpoint::{
    Checkpoint, CheckpointSigner, KeyError, KeyId, PublicKey, SignatureError, SignedCheckpoint,
    parse_key_bytes,
};
pub use entry::{AppendError, Entry, GENESIS_PREV_HASH, Head, NewEntry, append, kinds};
pub use merkle::{Frontier, ProofError};
pub use verify::{LogVerifier, Problem, Report, verify_log};

/// A SHA-256 output.
pub type Hash = [u8; 32];
