//! Signed checkpoints: "the log had `tree_size` entries, with this Merkle root
//! and this head hash", signed with the regulator's Ed25519 key, which lives
//! in the server's configuration and never in the database. Someone who can
//! rewrite every row still cannot forge a checkpoint.
//!
//! The secret key must never be printed: [`CheckpointSigner`]'s `Debug`
//! shows only the key id, and key parsing errors never echo their input.

use std::fmt;

use base64::{
    Engine as _, alphabet,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
};
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Hash;

/// The first line of every signed checkpoint body.
pub const CHECKPOINT_HEADER: &str = "mystery-buyer custody checkpoint v1";

/// Hashed in front of a public key to make its [`KeyId`].
const KEY_ID_DOMAIN: &[u8] = b"mystery-buyer custody key v1\0";

/// What a checkpoint states about the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Checkpoint {
    /// How many entries the log had: entries 1..=tree_size.
    pub tree_size: u64,
    /// The Merkle root over those entries' hashes.
    #[serde(with = "crate::hexser::array")]
    pub merkle_root: Hash,
    /// The hash of entry `tree_size` ([`crate::GENESIS_PREV_HASH`] for an
    /// empty log).
    #[serde(with = "crate::hexser::array")]
    pub head_hash: Hash,
    /// When the server made it, microseconds since the Unix epoch (UTC).
    pub at_us: i64,
}

impl Checkpoint {
    /// The text that is signed: five lines, each ending in `\n`:
    /// the header, the size in decimal, the root and the head in lowercase
    /// hex, the time in decimal (a leading `-` before 1970).
    pub fn signed_body(&self) -> String {
        format!(
            "{CHECKPOINT_HEADER}\n{}\n{}\n{}\n{}\n",
            self.tree_size,
            hex::encode(self.merkle_root),
            hex::encode(self.head_hash),
            self.at_us
        )
    }
}

/// A checkpoint with its signature and the id of the key that made it: one
/// row of the server's checkpoint table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedCheckpoint {
    #[serde(flatten)]
    pub checkpoint: Checkpoint,
    pub key_id: KeyId,
    /// Ed25519 (RFC 8032) signature of [`Checkpoint::signed_body`].
    #[serde(with = "crate::hexser::array")]
    pub signature: [u8; 64],
}

/// A short fingerprint of a public key: the first 8 bytes of
/// `SHA-256("mystery-buyer custody key v1\0" || public key)` as 16 lowercase
/// hex digits. Names which trusted key verifies a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyId(pub String);

impl KeyId {
    fn of(public_key: &[u8; 32]) -> Self {
        let digest = Sha256::new()
            .chain_update(KEY_ID_DOMAIN)
            .chain_update(public_key)
            .finalize();
        KeyId(hex::encode(&digest[..8]))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    // Never carries the text: it may be a secret.
    #[error("a key must be 64 hex digits or base64 of 32 bytes")]
    NotHexOrBase64,
    #[error("a key must be 32 bytes, this one is {bytes}")]
    WrongLength { bytes: usize },
    #[error("not an Ed25519 public key (not a point on the curve)")]
    NotAPublicKey,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("checkpoint signed by key {0}, which is not the one given")]
    WrongKey(KeyId),
    #[error("the signature does not match the checkpoint")]
    Invalid,
}

/// Reads 32 key bytes written as 64 hex digits (either case) or as base64
/// (standard or URL-safe alphabet, padding optional). Surrounding whitespace
/// is ignored.
pub fn parse_key_bytes(text: &str) -> Result<[u8; 32], KeyError> {
    let text = text.trim();
    if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).map_err(|_| KeyError::NotHexOrBase64)?;
        return Ok(bytes);
    }
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let decoded = GeneralPurpose::new(&alphabet::STANDARD, config)
        .decode(text)
        .or_else(|_| GeneralPurpose::new(&alphabet::URL_SAFE, config).decode(text))
        .map_err(|_| KeyError::NotHexOrBase64)?;
    let bytes = decoded.len();
    decoded
        .try_into()
        .map_err(|_| KeyError::WrongLength { bytes })
}

/// The secret checkpoint key. Built from the configured 32-byte seed; wiped
/// from memory when dropped.
#[derive(Clone)]
pub struct CheckpointSigner {
    key: SigningKey,
    public: PublicKey,
}

impl CheckpointSigner {
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let key = SigningKey::from_bytes(seed);
        let public = PublicKey::from_verifying_key(key.verifying_key());
        Self { key, public }
    }

    /// The seed as written in the configuration (hex or base64, see
    /// [`parse_key_bytes`]).
    pub fn from_config(text: &str) -> Result<Self, KeyError> {
        Ok(Self::from_seed(&parse_key_bytes(text)?))
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    pub fn key_id(&self) -> &KeyId {
        &self.public.key_id
    }

    /// Signs `checkpoint`. Deterministic: the same checkpoint and key always
    /// give the same signature.
    pub fn sign(&self, checkpoint: Checkpoint) -> SignedCheckpoint {
        let signature = self.key.sign(checkpoint.signed_body().as_bytes());
        SignedCheckpoint {
            checkpoint,
            key_id: self.public.key_id.clone(),
            signature: signature.to_bytes(),
        }
    }
}

impl fmt::Debug for CheckpointSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckpointSigner")
            .field("key_id", &self.public.key_id)
            .field("seed", &"***")
            .finish()
    }
}

/// A trusted public key, with its [`KeyId`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    key: VerifyingKey,
    key_id: KeyId,
}

impl PublicKey {
    fn from_verifying_key(key: VerifyingKey) -> Self {
        let key_id = KeyId::of(key.as_bytes());
        Self { key, key_id }
    }

    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, KeyError> {
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| KeyError::NotAPublicKey)?;
        Ok(Self::from_verifying_key(key))
    }

    /// A public key written as hex or base64 (see [`parse_key_bytes`]).
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        Self::from_bytes(&parse_key_bytes(text)?)
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// Checks `signed`'s signature with this key. Strict RFC 8032
    /// verification: no small-order keys, no malleable signatures.
    pub fn verify(&self, signed: &SignedCheckpoint) -> Result<(), SignatureError> {
        if signed.key_id != self.key_id {
            return Err(SignatureError::WrongKey(signed.key_id.clone()));
        }
        let signature = ed25519_dalek::Signature::from_bytes(&signed.signature);
        self.key
            .verify_strict(signed.checkpoint.signed_body().as_bytes(), &signature)
            .map_err(|_| SignatureError::Invalid)
    }
}

/// Finds the key `signed` names among `trusted`.
pub(crate) fn find_key<'k>(trusted: &'k [PublicKey], key_id: &KeyId) -> Option<&'k PublicKey> {
    trusted.iter().find(|key| &key.key_id == key_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED_HEX: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";

    fn checkpoint() -> Checkpoint {
        Checkpoint {
            tree_size: 3,
            merkle_root: [0xab; 32],
            head_hash: [0xcd; 32],
            at_us: -5,
        }
    }

    #[test]
    fn the_seed_reads_as_hex_or_base64_with_or_without_padding() {
        let bytes = parse_key_bytes(SEED_HEX).expect("hex");
        let standard = base64::engine::general_purpose::STANDARD.encode(bytes);
        let unpadded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        assert_eq!(parse_key_bytes(&standard), Ok(bytes));
        assert_eq!(parse_key_bytes(&format!(" {unpadded}\n")), Ok(bytes));
        assert_eq!(parse_key_bytes(&SEED_HEX.to_uppercase()), Ok(bytes));
    }

    #[test]
    fn a_bad_key_text_is_refused_without_echoing_it() {
        let err = parse_key_bytes("secret!secret").expect_err("not a key");
        assert_eq!(err, KeyError::NotHexOrBase64);
        assert!(!err.to_string().contains("secret"));
        assert_eq!(
            parse_key_bytes("AAAA"),
            Err(KeyError::WrongLength { bytes: 3 })
        );
        let short = base64::engine::general_purpose::STANDARD.encode([9u8; 31]);
        assert_eq!(
            parse_key_bytes(&short),
            Err(KeyError::WrongLength { bytes: 31 })
        );
    }

    #[test]
    fn the_signer_never_prints_its_seed() {
        let signer = CheckpointSigner::from_config(SEED_HEX).expect("a seed");
        let printed = format!("{signer:?} {signer:#?}");
        assert!(!printed.contains(SEED_HEX));
        assert!(!printed.contains(&SEED_HEX[..16]));
        assert!(printed.contains(&signer.key_id().0));
    }

    #[test]
    fn a_signature_verifies_with_its_key_and_fails_on_any_change() {
        let signer = CheckpointSigner::from_config(SEED_HEX).expect("a seed");
        let signed = signer.sign(checkpoint());
        let public = signer.public_key();
        assert_eq!(public.verify(&signed), Ok(()));
        let mut changed = signed.clone();
        changed.checkpoint.tree_size += 1;
        assert_eq!(public.verify(&changed), Err(SignatureError::Invalid));
        let mut changed = signed.clone();
        changed.signature[0] ^= 1;
        assert_eq!(public.verify(&changed), Err(SignatureError::Invalid));
        let other = CheckpointSigner::from_seed(&[7; 32]);
        assert_eq!(
            other.public_key().verify(&signed),
            Err(SignatureError::WrongKey(signer.key_id().clone()))
        );
    }

    #[test]
    fn the_signed_body_is_five_lines() {
        assert_eq!(
            checkpoint().signed_body(),
            format!(
                "mystery-buyer custody checkpoint v1\n3\n{}\n{}\n-5\n",
                "ab".repeat(32),
                "cd".repeat(32)
            )
        );
    }

    #[test]
    fn the_public_key_parses_back_with_the_same_id() {
        let signer = CheckpointSigner::from_seed(&[1; 32]);
        let text = hex::encode(signer.public_key().to_bytes());
        let public = PublicKey::parse(&text).expect("a public key");
        assert_eq!(&public, signer.public_key());
        assert_eq!(public.key_id().0.len(), 16);
    }
}
