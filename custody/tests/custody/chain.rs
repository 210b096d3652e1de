//! A sample's custody chain with its proof: built by the server from the
//! entry hashes, checked by anyone with the regulator's public key.

use custody_log::{
    CHAIN_PROOF_FORMAT, ChainError, ChainProof, CheckpointSigner, Entry, ProofError,
    build_chain_proof, verify_chain,
};
use serde_json::Value;

use crate::support::*;

/// Entries 12, 57, 58 and 300 of a 400-entry log, proven against a
/// checkpoint of size 350.
fn sample_proof() -> (Vec<Entry>, ChainProof) {
    let entries = log(400);
    let chain: Vec<Entry> = [300, 12, 58, 57]
        .iter()
        .map(|&seq| entries[seq - 1].clone())
        .collect();
    let signed = checkpoint(&entries, 350);
    let proof = build_chain_proof(chain, &hashes(&entries), signed, signer().public_key())
        .expect("a proof");
    (entries, proof)
}

#[test]
fn a_samples_chain_proof_verifies_after_a_trip_through_json() {
    let (_, proof) = sample_proof();
    let text = serde_json::to_string_pretty(&proof).expect("encodes");
    let back: ChainProof = serde_json::from_str(&text).expect("decodes");
    assert_eq!(back, proof);
    let checkpoint = verify_chain(&back, &trusted()).expect("verifies");
    assert_eq!(checkpoint.tree_size, 350);
    let seqs: Vec<u64> = back.entries.iter().map(|proven| proven.entry.seq).collect();
    assert_eq!(seqs, [12, 57, 58, 300]);
}

#[test]
fn the_proof_json_spells_every_hash_in_hex() {
    let (_, proof) = sample_proof();
    let json = serde_json::to_value(&proof).expect("encodes");
    assert_eq!(json["format"], CHAIN_PROOF_FORMAT);
    let is_hex = |value: &Value, digits: usize| {
        value
            .as_str()
            .is_some_and(|text| text.len() == digits && text.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    let first = &json["entries"][0];
    assert!(is_hex(&first["entry"]["hash"], 64));
    assert!(is_hex(&first["entry"]["prev_hash"], 64));
    let path = first["audit_path"].as_array().expect("a list");
    assert_eq!(path.len(), 9); // a tree of 350 leaves is 9 levels deep
    assert!(path.iter().all(|hash| is_hex(hash, 64)));
    let checkpoint = &json["checkpoint"];
    assert_eq!(checkpoint["tree_size"], 350);
    assert!(is_hex(&checkpoint["merkle_root"], 64));
    assert!(is_hex(&checkpoint["head_hash"], 64));
    assert!(is_hex(&checkpoint["signature"], 128));
    assert!(is_hex(&checkpoint["key_id"], 16));
    assert!(is_hex(&json["public_key"], 64));
}

#[test]
fn a_changed_entry_in_a_proof_is_refused() {
    let (_, mut proof) = sample_proof();
    proof.entries[1].entry.data = serde_json::json!({"i": 1});
    assert_eq!(
        verify_chain(&proof, &trusted()),
        Err(ChainError::EntryChanged { seq: 57 })
    );
    // Re-hashed, it is no longer the entry the tree holds.
    let entry = &mut proof.entries[1].entry;
    entry.hash = entry.compute_hash();
    assert!(matches!(
        verify_chain(&proof, &trusted()),
        Err(ChainError::NotInLog { seq: 57, .. })
    ));
}

#[test]
fn an_entry_with_another_entrys_audit_path_is_refused() {
    let (_, mut proof) = sample_proof();
    proof.entries[0].audit_path = proof.entries[3].audit_path.clone();
    assert!(matches!(
        verify_chain(&proof, &trusted()),
        Err(ChainError::NotInLog { seq: 12, .. })
    ));
    // Same length, wrong siblings.
    let (_, mut proof) = sample_proof();
    proof.entries[1].audit_path = proof.entries[2].audit_path.clone();
    assert_eq!(
        verify_chain(&proof, &trusted()),
        Err(ChainError::NotInLog {
            seq: 57,
            source: ProofError::RootMismatch
        })
    );
}

#[test]
fn an_entry_moved_to_another_seq_is_refused() {
    let (_, mut proof) = sample_proof();
    let entry = &mut proof.entries[3].entry;
    entry.seq = 301;
    entry.hash = entry.compute_hash();
    assert!(matches!(
        verify_chain(&proof, &trusted()),
        Err(ChainError::NotInLog { seq: 301, .. })
    ));
}

#[test]
fn a_proof_under_a_key_that_is_not_trusted_is_refused() {
    let (_, proof) = sample_proof();
    let stranger = CheckpointSigner::from_seed(&[5; 32]);
    assert_eq!(
        verify_chain(&proof, &[stranger.public_key().clone()]),
        Err(ChainError::UnknownKey(signer().key_id().clone()))
    );
    let mut swapped = proof.clone();
    swapped.public_key = stranger.public_key().to_bytes();
    assert_eq!(
        verify_chain(&swapped, &trusted()),
        Err(ChainError::KeyMismatch)
    );
}

#[test]
fn a_checkpoint_changed_after_signing_is_refused() {
    let (_, mut proof) = sample_proof();
    proof.checkpoint.checkpoint.tree_size = 351;
    assert_eq!(
        verify_chain(&proof, &trusted()),
        Err(ChainError::BadSignature)
    );
}

#[test]
fn entries_must_be_listed_in_increasing_seq_order_and_inside_the_checkpoint() {
    let (entries, mut proof) = sample_proof();
    proof.entries.swap(0, 1);
    assert_eq!(
        verify_chain(&proof, &trusted()),
        Err(ChainError::NotIncreasing { seq: 12 })
    );
    let signed = checkpoint(&entries, 350);
    assert_eq!(
        build_chain_proof(
            vec![entries[360].clone()],
            &hashes(&entries),
            signed.clone(),
            signer().public_key()
        ),
        Err(ChainError::BeyondCheckpoint {
            seq: 361,
            tree_size: 350
        })
    );
    assert_eq!(
        build_chain_proof(Vec::new(), &hashes(&entries), signed, signer().public_key()),
        Err(ChainError::Empty)
    );
}

#[test]
fn a_proof_is_not_built_from_hashes_that_disagree_with_the_log_or_the_checkpoint() {
    let entries = log(50);
    let signed = checkpoint(&entries, 40);
    let mut leaf_hashes = hashes(&entries);
    assert_eq!(
        build_chain_proof(
            vec![entries[5].clone()],
            &leaf_hashes[..30],
            signed.clone(),
            signer().public_key()
        ),
        Err(ChainError::NotEnoughHashes {
            tree_size: 40,
            available: 30
        })
    );
    let mut other = entries[5].clone();
    other.subject = "task-x".into();
    other.hash = other.compute_hash();
    assert_eq!(
        build_chain_proof(
            vec![other],
            &leaf_hashes,
            signed.clone(),
            signer().public_key()
        ),
        Err(ChainError::NotTheLogsEntry { seq: 6 })
    );
    // The database's hashes were rewritten after the checkpoint: the paths
    // do not reach its root.
    leaf_hashes[20][0] ^= 1;
    assert!(matches!(
        build_chain_proof(
            vec![entries[5].clone()],
            &leaf_hashes,
            signed,
            signer().public_key()
        ),
        Err(ChainError::NotInLog { seq: 6, .. })
    ));
}

#[test]
fn the_last_entry_of_the_checkpoint_must_be_its_head() {
    let entries = log(20);
    let mut signed = checkpoint(&entries, 20);
    signed.checkpoint.head_hash = entries[18].hash;
    let signed = signer().sign(signed.checkpoint);
    let proof = ChainProof {
        format: CHAIN_PROOF_FORMAT.into(),
        entries: vec![custody_log::ProvenEntry {
            entry: entries[19].clone(),
            audit_path: custody_log::merkle::inclusion_proof(&hashes(&entries), 19)
                .expect("in range"),
        }],
        checkpoint: signed,
        public_key: signer().public_key().to_bytes(),
    };
    assert_eq!(
        verify_chain(&proof, &trusted()),
        Err(ChainError::HeadMismatch { seq: 20 })
    );
}
