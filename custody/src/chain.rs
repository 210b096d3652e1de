//! One sample's custody chain with a proof: its entries, each with its audit
//! path to the root of a signed checkpoint. This is what the API returns as
//! JSON and what an outside party checks without access to the database.
//!
//! A proof shows that each listed entry is in the signed log, unchanged. It
//! does not show that no other entry about the sample exists; it must never
//! be read as "this is all that happened to the sample".

use serde::{Deserialize, Serialize};

use crate::{
    Hash,
    checkpoint::{Checkpoint, KeyId, PublicKey, SignedCheckpoint, find_key},
    entry::Entry,
    merkle::{ProofError, inclusion_proofs, verify_inclusion},
};

/// The `format` of a [`ChainProof`]: a verifier refuses any other.
pub const CHAIN_PROOF_FORMAT: &str = "mystery-buyer custody chain proof v1";

/// A custody chain with its proof (serialised as the API's JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainProof {
    /// [`CHAIN_PROOF_FORMAT`].
    pub format: String,
    /// In increasing seq order.
    pub entries: Vec<ProvenEntry>,
    /// The checkpoint the audit paths lead to, with its signature.
    pub checkpoint: SignedCheckpoint,
    /// The public key that signed it, for convenience: a verifier must get
    /// the key it trusts from elsewhere (the regulator publishes it) and
    /// compare.
    #[serde(with = "crate::hexser::array")]
    pub public_key: [u8; 32],
}

/// An entry with its audit path in the checkpoint's tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvenEntry {
    pub entry: Entry,
    /// RFC 9162 inclusion proof of leaf `entry.seq - 1`, deepest sibling
    /// first, as lowercase hex.
    #[serde(with = "crate::hexser::list")]
    pub audit_path: Vec<Hash>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("not a chain proof of a known format")]
    UnknownFormat,
    #[error("the checkpoint is signed by key {0}, which is not trusted")]
    UnknownKey(KeyId),
    #[error("the proof's public key is not the trusted key it names")]
    KeyMismatch,
    #[error("the checkpoint's signature does not verify")]
    BadSignature,
    #[error("the chain has no entries")]
    Empty,
    #[error("entry {seq} is not after the entry before it")]
    NotIncreasing { seq: u64 },
    #[error("entry {seq} is outside the checkpoint's {tree_size} entries")]
    BeyondCheckpoint { seq: u64, tree_size: u64 },
    #[error("entry {seq}'s fields do not hash to its hash")]
    EntryChanged { seq: u64 },
    #[error("entry {seq} does not link to entry {} before it", seq - 1)]
    BrokenLink { seq: u64 },
    #[error("entry {seq} is the checkpoint's last entry but not its head hash")]
    HeadMismatch { seq: u64 },
    #[error("entry {seq} is not in the checkpoint's tree: {source}")]
    NotInLog { seq: u64, source: ProofError },
    #[error("entry {seq}'s hash is not the log's hash {seq}")]
    NotTheLogsEntry { seq: u64 },
    #[error("the checkpoint has {tree_size} entries but {available} hashes were given")]
    NotEnoughHashes { tree_size: u64, available: u64 },
}

/// Builds the proof for `entries` (one sample's, any order) against
/// `checkpoint`, from the hashes of the log's entries 1..=tree_size (or
/// more: the rest is ignored) as the server read them. O(tree_size) hashes
/// (see [`inclusion_proofs`]). The proof is verified before it is returned,
/// so the server never hands out one that fails.
pub fn build_chain_proof(
    mut entries: Vec<Entry>,
    entry_hashes: &[Hash],
    checkpoint: SignedCheckpoint,
    public_key: &PublicKey,
) -> Result<ChainProof, ChainError> {
    let tree_size = checkpoint.checkpoint.tree_size;
    let available = entry_hashes.len() as u64;
    let leaves = usize::try_from(tree_size)
        .ok()
        .and_then(|size| entry_hashes.get(..size))
        .ok_or(ChainError::NotEnoughHashes {
            tree_size,
            available,
        })?;
    entries.sort_by_key(|entry| entry.seq);
    let mut indices = Vec::with_capacity(entries.len());
    for entry in &entries {
        let seq = entry.seq;
        if seq == 0 || seq > tree_size {
            return Err(ChainError::BeyondCheckpoint { seq, tree_size });
        }
        if leaves[(seq - 1) as usize] != entry.hash {
            return Err(ChainError::NotTheLogsEntry { seq });
        }
        indices.push(seq - 1);
    }
    let paths = inclusion_proofs(leaves, &indices).map_err(|source| ChainError::NotInLog {
        seq: indices.first().map_or(0, |index| index + 1),
        source,
    })?;
    let proof = ChainProof {
        format: CHAIN_PROOF_FORMAT.to_owned(),
        entries: entries
            .into_iter()
            .zip(paths)
            .map(|(entry, audit_path)| ProvenEntry { entry, audit_path })
            .collect(),
        checkpoint,
        public_key: public_key.to_bytes(),
    };
    verify_chain(&proof, std::slice::from_ref(public_key))?;
    Ok(proof)
}

/// Verifies a chain proof against the keys the caller trusts; returns the
/// checkpoint that vouches for the entries. The steps are those listed for
/// auditors in the crate documentation, in that order.
pub fn verify_chain(proof: &ChainProof, trusted: &[PublicKey]) -> Result<Checkpoint, ChainError> {
    if proof.format != CHAIN_PROOF_FORMAT {
        return Err(ChainError::UnknownFormat);
    }
    let signed = &proof.checkpoint;
    let key = find_key(trusted, &signed.key_id)
        .ok_or_else(|| ChainError::UnknownKey(signed.key_id.clone()))?;
    if key.to_bytes() != proof.public_key {
        return Err(ChainError::KeyMismatch);
    }
    key.verify(signed).map_err(|_| ChainError::BadSignature)?;
    let checkpoint = signed.checkpoint;
    if proof.entries.is_empty() {
        return Err(ChainError::Empty);
    }
    let mut previous: Option<&Entry> = None;
    for ProvenEntry { entry, audit_path } in &proof.entries {
        let seq = entry.seq;
        if previous.is_some_and(|previous| previous.seq >= seq) {
            return Err(ChainError::NotIncreasing { seq });
        }
        if seq == 0 || seq > checkpoint.tree_size {
            return Err(ChainError::BeyondCheckpoint {
                seq,
                tree_size: checkpoint.tree_size,
            });
        }
        if !entry.is_self_consistent() {
            return Err(ChainError::EntryChanged { seq });
        }
        if let Some(previous) = previous
            && previous.seq + 1 == seq
            && entry.prev_hash != previous.hash
        {
            return Err(ChainError::BrokenLink { seq });
        }
        if seq == checkpoint.tree_size && entry.hash != checkpoint.head_hash {
            return Err(ChainError::HeadMismatch { seq });
        }
        verify_inclusion(
            &entry.hash,
            seq - 1,
            checkpoint.tree_size,
            audit_path,
            &checkpoint.merkle_root,
        )
        .map_err(|source| ChainError::NotInLog { seq, source })?;
        previous = Some(entry);
    }
    Ok(checkpoint)
}
