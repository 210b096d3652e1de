//! The running SHA-256 of an upload, kept between PATCHes. Its state is
//! serialised into the upload's row after every PATCH, so the next PATCH may
//! continue it on any instance without reading the stored bytes back (S3
//! cannot read the parts of an unfinished multipart upload anyway).

use bytes::Bytes;
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

/// The running hash while a PATCH is received. It may fall behind the
/// bytes that arrived, by bytes a streamed part holds in memory anyway (as
/// its copy for a retry), and catches up on the blocking pool while the
/// store answers that part. Hashing as the bytes arrive competed for the CPU
/// with receiving them, sending them on and the store taking them in; on
/// two cores that contention set the upload's pace, while the wait for the
/// store's answer left a core idle (`cargo xtask bench uploads`).
pub struct Trailing {
    hash: RunningHash,
    /// Bytes received but not hashed yet, in order (they share the body's
    /// buffers: nothing is copied).
    behind: Vec<Bytes>,
}

impl Trailing {
    pub fn new(hash: RunningHash) -> Self {
        Self {
            hash,
            behind: Vec::new(),
        }
    }

    /// The next bytes, hashed now unless earlier bytes wait.
    pub fn update(&mut self, bytes: &Bytes) {
        if self.behind.is_empty() {
            self.hash.update(bytes);
        } else {
            self.behind.push(bytes.clone());
        }
    }

    /// The next bytes, hashed at the next [`catch_up`](Self::catch_up). The
    /// caller holds them in memory until then anyway.
    pub fn defer(&mut self, bytes: &Bytes) {
        self.behind.push(bytes.clone());
    }

    /// Hashes the bytes that wait, and `part` (if given) into a SHA-256 of
    /// its own whose hex it returns, on the blocking pool.
    pub async fn catch_up(
        &mut self,
        part: Option<Vec<Bytes>>,
    ) -> Result<Option<String>, tokio::task::JoinError> {
        if self.behind.is_empty() && part.is_none() {
            return Ok(None);
        }
        let mut hash = std::mem::take(&mut self.hash);
        let behind = std::mem::take(&mut self.behind);
        let (hash, part) = tokio::task::spawn_blocking(move || {
            for bytes in &behind {
                hash.update(bytes);
            }
            let part = part.map(|part| {
                let mut h = Sha256::new();
                for bytes in &part {
                    h.update(bytes);
                }
                hex::encode(h.finalize())
            });
            (hash, part)
        })
        .await?;
        self.hash = hash;
        Ok(part)
    }

    /// The hash of every byte so far; `None` while some wait.
    pub fn caught_up(&self) -> Option<&RunningHash> {
        self.behind.is_empty().then_some(&self.hash)
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

    #[tokio::test]
    async fn a_trailing_hash_takes_deferred_bytes_in_order() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 31 + i / 7) as u8).collect();
        let whole = hex::encode(Sha256::digest(&data));
        let piece = |a: usize, b: usize| Bytes::copy_from_slice(&data[a..b]);
        let mut t = Trailing::new(RunningHash::default());
        t.update(&piece(0, 1_000));
        t.defer(&piece(1_000, 40_000));
        // Bytes after deferred ones wait their turn, even when not deferred.
        t.update(&piece(40_000, 41_000));
        assert!(t.caught_up().is_none(), "bytes wait");
        let part = vec![piece(1_000, 20_000), piece(20_000, 41_000)];
        let part_hash = t.catch_up(Some(part)).await.expect("hashes");
        assert_eq!(
            part_hash.as_deref(),
            Some(hex::encode(Sha256::digest(&data[1_000..41_000])).as_str())
        );
        t.update(&piece(41_000, 100_000));
        assert_eq!(t.catch_up(None).await.expect("nothing waits"), None);
        let hash = t.caught_up().expect("caught up").clone();
        assert_eq!(hash.finish(), whole);
    }

    #[test]
    fn a_damaged_state_is_refused() {
        assert!(RunningHash::restore("zz").is_none());
        assert!(RunningHash::restore("00").is_none());
    }
}
