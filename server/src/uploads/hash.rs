//! The running SHA-256 of an upload, kept between PATCHes. Its state is
//! serialised into the upload's row after every PATCH, so the next PATCH may
//! continue it on any instance without reading the stored bytes back (S3
//! cannot read the parts of an unfinished multipart upload anyway).

use sha2::{
    Digest, Sha256,
    digest::common::hazmat::{SerializableState, SerializedState},
};

/// A SHA-256 that can be saved as text and restored.
#[derive(Clone)]
pub struct RunningHash(Sha256);

impl Default for RunningHash {
    fn default() -> Self {
        Self(Sha256::new())
    }
}

impl RunningHash {
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The state as hex (the compression state, the block count and the
    /// not-yet-compressed tail of under 64 bytes).
    pub fn save(&self) -> String {
        hex::encode(self.0.serialize())
    }

    /// Restores a state made by [`save`](Self::save); `None` if it is not one.
    pub fn restore(saved: &str) -> Option<Self> {
        let bytes = hex::decode(saved).ok()?;
        let state = SerializedState::<Sha256>::try_from(bytes.as_slice()).ok()?;
        Sha256::deserialize(&state).ok().map(Self)
    }

    /// The lower-case hex digest of everything given so far.
    pub fn finish(self) -> String {
        hex::encode(self.0.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_saved_and_restored_at_any_split_equals_the_one_pass_hash() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        let whole = hex::encode(Sha256::digest(&data));
        for splits in [
            [0, 0],
            [1, 63],
            [64, 64],
            [65, 200],
            [4_095, 9_999],
            [10_000, 10_000],
        ] {
            let mut h = RunningHash::default();
            h.update(&data[..splits[0]]);
            let mut h = RunningHash::restore(&h.save()).expect("restores");
            h.update(&data[splits[0]..splits[1]]);
            let mut h = RunningHash::restore(&h.save()).expect("restores");
            h.update(&data[splits[1]..]);
            assert_eq!(h.finish(), whole, "split at {splits:?}");
        }
    }

    #[test]
    fn a_damaged_state_is_refused() {
        assert!(RunningHash::restore("zz").is_none());
        assert!(RunningHash::restore("00").is_none());
    }
}
