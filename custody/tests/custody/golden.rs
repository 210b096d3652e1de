//! Golden vectors: the entry encoding, entry hashes, Merkle root and a
//! checkpoint signature, frozen. If one of these fails, every stored log
//! would fail verification: make a new format version instead. The values
//! were cross-checked once with an independent implementation from the
//! documentation alone (Python's hashlib and json.dumps with sorted keys,
//! and OpenSSL's Ed25519 through the `cryptography` package).

use custody_log::{
    Checkpoint, CheckpointSigner, Entry, GENESIS_PREV_HASH, NewEntry, PublicKey, append, kinds,
    merkle,
};
use serde_json::json;

/// RFC 8032's first Ed25519 test key.
const SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

fn golden_log() -> Vec<Entry> {
    let news = [
        NewEntry {
            at_us: 1_767_225_600_000_000,
            kind: kinds::TASK_ACCEPTED.into(),
            subject: "0192f0c4-8f5e-7a3b-9c1d-2e4f6a8b0c1d".into(),
            sample: None,
            data: json!({}),
        },
        NewEntry {
            at_us: 1_767_312_000_123_456,
            kind: kinds::EVIDENCE_VERIFIED.into(),
            subject: "0192f0c4-8f5e-7a3b-9c1d-2e4f6a8b0c1d".into(),
            sample: Some("MB-2026-0001".into()),
            data: json!({
                "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                "kind": "receipt",
                "bytes": 48213,
                "note": "Quittung \"Kasse 2\"\n",
            }),
        },
        NewEntry {
            at_us: -1,
            kind: kinds::RECEIVED_AT_STATION.into(),
            subject: "t".into(),
            sample: Some("MB-2026-0001".into()),
            data: json!({"station": "R-7", "seals": [3, -4], "ok": true, "damage": null}),
        },
    ];
    let mut entries: Vec<Entry> = Vec::new();
    for new in news {
        entries.push(append(entries.last().map(Entry::head), new).expect("a valid entry"));
    }
    entries
}

/// The encoding rebuilt from the table in the crate documentation, as an
/// outside auditor would write it.
fn encode_as_documented(entry: &Entry, canonical_data: &str) -> Vec<u8> {
    fn field(out: &mut Vec<u8>, bytes: &[u8]) {
        out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
        out.extend_from_slice(bytes);
    }
    let mut out = b"mystery-buyer custody entry v1\0".to_vec();
    out.extend_from_slice(&entry.seq.to_be_bytes());
    out.extend_from_slice(&entry.at_us.to_be_bytes());
    field(&mut out, entry.kind.as_bytes());
    field(&mut out, entry.subject.as_bytes());
    match &entry.sample {
        None => out.push(0),
        Some(sample) => {
            out.push(1);
            field(&mut out, sample.as_bytes());
        }
    }
    field(&mut out, canonical_data.as_bytes());
    out.extend_from_slice(&entry.prev_hash);
    out
}

#[test]
fn the_entry_encoding_is_the_documented_one() {
    let entries = golden_log();
    let canonical = [
        "{}",
        r#"{"bytes":48213,"kind":"receipt","note":"Quittung \"Kasse 2\"\n","sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}"#,
        r#"{"damage":null,"ok":true,"seals":[3,-4],"station":"R-7"}"#,
    ];
    for (entry, data) in entries.iter().zip(canonical) {
        assert_eq!(entry.canonical_data(), data);
        assert_eq!(entry.canonical_bytes(), encode_as_documented(entry, data));
    }
    assert_eq!(entries[0].prev_hash, GENESIS_PREV_HASH);
}

#[test]
fn the_first_entrys_bytes_are_frozen() {
    let entries = golden_log();
    assert_eq!(hex::encode(entries[0].canonical_bytes()), FIRST_ENTRY_BYTES);
}

const FIRST_ENTRY_BYTES: &str = concat!(
    "6d7973746572792d627579657220637573746f647920656e747279207631", // the domain text
    "00",                                                           // its NUL
    "0000000000000001",                                             // seq 1
    "0006474846204000",                                             // at_us
    "000000000000000d",                                             // 13 bytes of kind
    "7461736b5f6163636570746564",                                   // task_accepted
    "0000000000000024",                                             // 36 bytes of subject
    "30313932663063342d386635652d376133622d396331642d326534663661386230633164",
    "00",                                                               // no sample
    "0000000000000002",                                                 // 2 bytes of data
    "7b7d",                                                             // {}
    "0000000000000000000000000000000000000000000000000000000000000000", // genesis
);

#[test]
fn entry_hashes_and_the_merkle_root_are_frozen() {
    let entries = golden_log();
    let hashes: Vec<String> = entries
        .iter()
        .map(|entry| hex::encode(entry.hash))
        .collect();
    assert_eq!(hashes, ENTRY_HASHES);
    let leaves: Vec<_> = entries.iter().map(|entry| entry.hash).collect();
    assert_eq!(hex::encode(merkle::root(&leaves)), ROOT);
}

const ENTRY_HASHES: [&str; 3] = [
    "d0d291832c4dee01bac20d5d813498dcfb97e114ff65ff8e6a00754f8e525300",
    "9724bf85e5d947c88e96da28f4c223730ad0d594fcadc3e0230759f144c54a20",
    "ed879a6a6d98de666699851262ff5bae16a0ff5f24f86b33ed7830a76f103e5e",
];
const ROOT: &str = "56c29003ce19a75c92ce1b2d8d28d2b44a72332894c890aa92f47f3fbd6681cb";

#[test]
fn the_checkpoint_key_and_signature_are_frozen() {
    let signer = CheckpointSigner::from_config(SEED).expect("a seed");
    // The public key RFC 8032 gives for this seed: the standard Ed25519.
    assert_eq!(hex::encode(signer.public_key().to_bytes()), PUBLIC);
    assert_eq!(signer.key_id().0, KEY_ID);
    let entries = golden_log();
    let leaves: Vec<_> = entries.iter().map(|entry| entry.hash).collect();
    let checkpoint = Checkpoint {
        tree_size: 3,
        merkle_root: merkle::root(&leaves),
        head_hash: entries[2].hash,
        at_us: 1_767_398_400_000_000,
    };
    assert_eq!(
        checkpoint.signed_body(),
        format!(
            "mystery-buyer custody checkpoint v1\n3\n{ROOT}\n{}\n1767398400000000\n",
            ENTRY_HASHES[2]
        )
    );
    let signed = signer.sign(checkpoint);
    assert_eq!(hex::encode(signed.signature), SIGNATURE);
    let public = PublicKey::parse(PUBLIC).expect("a public key");
    assert_eq!(public.verify(&signed), Ok(()));
    assert_eq!(
        serde_json::to_value(&signed).expect("encodes"),
        json!({
            "tree_size": 3,
            "merkle_root": ROOT,
            "head_hash": ENTRY_HASHES[2],
            "at_us": 1_767_398_400_000_000_i64,
            "key_id": KEY_ID,
            "signature": SIGNATURE,
        })
    );
}

const KEY_ID: &str = "47813376aee2034f";
const SIGNATURE: &str = concat!(
    "0b7ec0f1b094332c9efc57dba91e011b34fb88907cf6f21e67175f52d10881cb",
    "e5ae1f5343d892a5134bf0cd330b212776305eec39d580fc39c26d2314e4a109",
);
