//! Serde helpers that write fixed-size byte arrays (hashes, signatures) as
//! lowercase hex strings, the one binary-to-text form of every JSON this crate
//! produces. Decoding accepts upper case too but insists on the exact length.

use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

/// `#[serde(with = "crate::hexser::array")]` for `[u8; N]`.
pub mod array {
    use super::*;

    pub fn serialize<S: Serializer, const N: usize>(
        bytes: &[u8; N],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        deserializer: D,
    ) -> Result<[u8; N], D::Error> {
        let text = String::deserialize(deserializer)?;
        decode(&text).map_err(D::Error::custom)
    }
}

/// `#[serde(with = "crate::hexser::list")]` for `Vec<[u8; 32]>` (audit paths).
pub mod list {
    use super::*;
    use crate::Hash;

    pub fn serialize<S: Serializer>(hashes: &[Hash], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(hashes.iter().map(hex::encode))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Hash>, D::Error> {
        let texts = Vec::<String>::deserialize(deserializer)?;
        texts
            .iter()
            .map(|text| decode(text).map_err(D::Error::custom))
            .collect()
    }
}

/// Decodes exactly `N` bytes of hex.
pub fn decode<const N: usize>(text: &str) -> Result<[u8; N], String> {
    let mut bytes = [0u8; N];
    hex::decode_to_slice(text, &mut bytes).map_err(|_| format!("expected {} hex digits", 2 * N))?;
    Ok(bytes)
}
