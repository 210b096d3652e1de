//! The Merkle tree over entry hashes, as RFC 6962 / RFC 9162 (section 2.1)
//! define it: roots, inclusion proofs (audit paths), consistency proofs, and
//! the RFC's verification algorithms for both.
//!
//! Leaf `i` (0-based) of a tree of size `n` is entry `seq = i + 1`; its leaf
//! input is that entry's 32-byte hash. `MTH({}) = SHA-256()`,
//! `MTH({d}) = SHA-256(0x00 || d)`, and for `n > 1` with `k` the largest
//! power of two below `n`, `MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) ||
//! MTH(D[k:n]))`. The prefixes keep a leaf from passing for a node.
//!
//! Proof *building* reads every leaf hash (the server's side); proof
//! *checking* needs only the proof, the sizes and the roots (anyone's side).
//! Nothing here must accept a proof the RFC's algorithm rejects.

use sha2::{Digest, Sha256};

use crate::Hash;

const LEAF_PREFIX: u8 = 0x00;
const NODE_PREFIX: u8 = 0x01;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf index {index} is outside a tree of size {tree_size}")]
    IndexOutOfRange { index: u64, tree_size: u64 },
    #[error("tree sizes {old_size} and {new_size} are not 0 <= old <= new")]
    SizesOutOfOrder { old_size: u64, new_size: u64 },
    #[error("{tree_size} leaves asked of a list of {available}")]
    NotEnoughLeaves { tree_size: u64, available: u64 },
    #[error("the proof has the wrong number of hashes")]
    WrongLength,
    #[error("the proof does not lead to the given root")]
    RootMismatch,
    #[error("a frontier of size {size} has {peaks} peaks, not one per set bit")]
    MalformedFrontier { size: u64, peaks: usize },
}

/// `SHA-256(0x00 || entry_hash)`: an entry's leaf in the tree.
pub fn leaf_hash(entry_hash: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([LEAF_PREFIX]);
    hasher.update(entry_hash);
    hasher.finalize().into()
}

/// `SHA-256(0x01 || left || right)`: an inner node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([NODE_PREFIX]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The root of the empty tree, `SHA-256()` of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The root of the tree over `entry_hashes` (entries 1..=len). O(n) hashes,
/// O(log n) memory.
pub fn root(entry_hashes: &[Hash]) -> Hash {
    let mut frontier = Frontier::new();
    for hash in entry_hashes {
        frontier.push(*hash);
    }
    frontier.root()
}

/// The audit path of leaf `index` in the tree over `entry_hashes` (RFC 6962
/// `PATH`), deepest sibling first.
pub fn inclusion_proof(entry_hashes: &[Hash], index: u64) -> Result<Vec<Hash>, ProofError> {
    let mut proofs = inclusion_proofs(entry_hashes, &[index])?;
    Ok(proofs.pop().unwrap_or_default())
}

/// The audit paths of several leaves at once, in the order of `indices`
/// (repeats allowed), in one pass over the tree: O(n) hashes for any number
/// of indices, where one `inclusion_proof` each would cost O(n) apiece.
///
/// The server reads the entry hashes 1..=tree_size (32 bytes each, 32 MB
/// for a million entries) and calls this for one sample's entries. Should
/// that grow slow, store the hashes of complete subtrees as the log grows
/// (each is final once its last leaf is in): a path then needs O(log n)
/// reads and no hashing.
pub fn inclusion_proofs(
    entry_hashes: &[Hash],
    indices: &[u64],
) -> Result<Vec<Vec<Hash>>, ProofError> {
    let tree_size = entry_hashes.len() as u64;
    let mut wanted = Vec::with_capacity(indices.len());
    for (slot, &index) in indices.iter().enumerate() {
        if index >= tree_size {
            return Err(ProofError::IndexOutOfRange { index, tree_size });
        }
        wanted.push((index as usize, slot));
    }
    wanted.sort_unstable();
    let mut paths = vec![Vec::new(); indices.len()];
    if !wanted.is_empty() {
        collect_paths(entry_hashes, 0, &wanted, &mut paths);
    }
    Ok(paths)
}

/// The hash of the subtree over `leaves` (which start at leaf `offset`),
/// pushing on the way the sibling hashes that the `wanted` leaves' paths
/// need. Deeper levels return first, so each path comes out deepest first.
fn collect_paths(
    leaves: &[Hash],
    offset: usize,
    wanted: &[(usize, usize)],
    paths: &mut [Vec<Hash>],
) -> Hash {
    if wanted.is_empty() {
        return root(leaves);
    }
    if leaves.len() == 1 {
        return leaf_hash(&leaves[0]);
    }
    let k = split(leaves.len());
    let cut = wanted.partition_point(|&(index, _)| index < offset + k);
    let (in_left, in_right) = wanted.split_at(cut);
    let left = collect_paths(&leaves[..k], offset, in_left, paths);
    let right = collect_paths(&leaves[k..], offset + k, in_right, paths);
    for &(_, slot) in in_left {
        paths[slot].push(right);
    }
    for &(_, slot) in in_right {
        paths[slot].push(left);
    }
    node_hash(&left, &right)
}

/// The largest power of two strictly below `n` (for `n >= 2`).
fn split(n: usize) -> usize {
    let k = n.next_power_of_two();
    if k == n { n / 2 } else { k / 2 }
}

/// Checks that `entry_hash` is leaf `index` of the tree of size `tree_size`
/// with root `root`, by the algorithm of RFC 9162 section 2.1.3.2.
pub fn verify_inclusion(
    entry_hash: &Hash,
    index: u64,
    tree_size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= tree_size {
        return Err(ProofError::IndexOutOfRange { index, tree_size });
    }
    let mut f_n = index;
    let mut s_n = tree_size - 1;
    let mut r = leaf_hash(entry_hash);
    for p in proof {
        if s_n == 0 {
            return Err(ProofError::WrongLength);
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            skip_right_edge(&mut f_n, &mut s_n);
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(ProofError::WrongLength);
    }
    if &r != root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// The RFC's "right-shift both until LSB(fn) is set or fn is 0": climbs
/// past the levels where the node on the path is the last of its level and
/// has no sibling, so it is carried up unhashed and takes no proof hash.
fn skip_right_edge(f_n: &mut u64, s_n: &mut u64) {
    while *f_n & 1 == 0 && *f_n != 0 {
        *f_n >>= 1;
        *s_n >>= 1;
    }
}

/// The consistency proof between the tree over the first `old_size` entry
/// hashes and the tree over all of `entry_hashes` (RFC 6962 `PROOF`). Empty
/// when `old_size` is 0 or the whole list.
pub fn consistency_proof(entry_hashes: &[Hash], old_size: u64) -> Result<Vec<Hash>, ProofError> {
    let new_size = entry_hashes.len() as u64;
    if old_size > new_size {
        return Err(ProofError::SizesOutOfOrder { old_size, new_size });
    }
    let mut proof = Vec::new();
    if old_size > 0 {
        subproof(old_size as usize, entry_hashes, true, &mut proof);
    }
    Ok(proof)
}

fn subproof(m: usize, leaves: &[Hash], complete: bool, out: &mut Vec<Hash>) {
    let n = leaves.len();
    if m == n {
        if !complete {
            out.push(root(leaves));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(m, &leaves[..k], complete, out);
        out.push(root(&leaves[k..]));
    } else {
        subproof(m - k, &leaves[k..], false, out);
        out.push(root(&leaves[..k]));
    }
}

/// Checks that the tree of size `new_size` with root `new_root` extends the
/// tree of size `old_size` with root `old_root`, by the algorithm of RFC 9162
/// section 2.1.4.2. Every tree extends the empty one; equal sizes need equal
/// roots and an empty proof.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old_size > new_size {
        return Err(ProofError::SizesOutOfOrder { old_size, new_size });
    }
    if old_size == 0 || old_size == new_size {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength);
        }
        if old_size == new_size && old_root != new_root {
            return Err(ProofError::RootMismatch);
        }
        return Ok(());
    }
    let Some((first, rest)) = proof.split_first() else {
        return Err(ProofError::WrongLength);
    };
    // A power-of-two old tree is itself a node of the new one: its root
    // starts the path.
    let (start, path) = if old_size.is_power_of_two() {
        (old_root, proof)
    } else {
        (first, rest)
    };
    let mut f_n = old_size - 1;
    let mut s_n = new_size - 1;
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let mut f_r = *start;
    let mut s_r = *start;
    for c in path {
        if s_n == 0 {
            return Err(ProofError::WrongLength);
        }
        if f_n & 1 == 1 || f_n == s_n {
            f_r = node_hash(c, &f_r);
            s_r = node_hash(c, &s_r);
            skip_right_edge(&mut f_n, &mut s_n);
        } else {
            s_r = node_hash(&s_r, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(ProofError::WrongLength);
    }
    if &f_r != old_root || &s_r != new_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// The right edge of a growing tree: the roots of its complete subtrees,
/// largest (leftmost) first, one per set bit of the size. Enough to append a
/// leaf and to compute the root at any moment, in O(log n) memory: the
/// verifier streams millions of entries through one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    peaks: Vec<Hash>,
    head: Hash,
}

impl Frontier {
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds a frontier the server kept (`size`, [`Frontier::peaks`],
    /// [`Frontier::head`]). A stored frontier is only as good as the check
    /// that its [`Frontier::root`] equals a signed checkpoint's root.
    pub fn from_parts(size: u64, peaks: Vec<Hash>, head: Hash) -> Result<Self, ProofError> {
        if peaks.len() != size.count_ones() as usize {
            return Err(ProofError::MalformedFrontier {
                size,
                peaks: peaks.len(),
            });
        }
        Ok(Self { size, peaks, head })
    }

    /// Adds the next entry's hash as a leaf. Amortised two hashes.
    pub fn push(&mut self, entry_hash: Hash) {
        let mut node = leaf_hash(&entry_hash);
        let mut size = self.size;
        while size & 1 == 1 {
            // `size` odd means a complete subtree of the same height is on
            // top: the new one completes their parent.
            if let Some(left) = self.peaks.pop() {
                node = node_hash(&left, &node);
            }
            size >>= 1;
        }
        self.peaks.push(node);
        self.size += 1;
        self.head = entry_hash;
    }

    /// How many leaves (entries) are in.
    pub fn len(&self) -> u64 {
        self.size
    }

    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// The hash of the last entry pushed ([`crate::GENESIS_PREV_HASH`] when
    /// empty).
    pub fn head(&self) -> Hash {
        self.head
    }

    /// The complete subtrees' roots, leftmost first.
    pub fn peaks(&self) -> &[Hash] {
        &self.peaks
    }

    /// The Merkle root of the leaves so far. O(log n).
    pub fn root(&self) -> Hash {
        let mut peaks = self.peaks.iter().rev();
        let Some(last) = peaks.next() else {
            return empty_root();
        };
        peaks.fold(*last, |right, left| node_hash(left, &right))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| Sha256::digest((i as u64).to_be_bytes()).into())
            .collect()
    }

    #[test]
    fn the_empty_tree_has_the_hash_of_nothing() {
        assert_eq!(
            hex::encode(root(&[])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn a_one_leaf_tree_is_its_leaf_hash_and_needs_an_empty_path() {
        let l = leaves(1);
        assert_eq!(root(&l), leaf_hash(&l[0]));
        let path = inclusion_proof(&l, 0).expect("in range");
        assert!(path.is_empty());
        assert_eq!(verify_inclusion(&l[0], 0, 1, &path, &root(&l)), Ok(()));
    }

    #[test]
    fn three_leaves_split_two_and_one() {
        let l = leaves(3);
        let expected = node_hash(
            &node_hash(&leaf_hash(&l[0]), &leaf_hash(&l[1])),
            &leaf_hash(&l[2]),
        );
        assert_eq!(root(&l), expected);
        assert_eq!(
            inclusion_proof(&l, 2).expect("in range"),
            vec![node_hash(&leaf_hash(&l[0]), &leaf_hash(&l[1]))]
        );
    }

    #[test]
    fn a_proof_for_an_index_outside_the_tree_is_refused() {
        let l = leaves(4);
        assert_eq!(
            inclusion_proof(&l, 4),
            Err(ProofError::IndexOutOfRange {
                index: 4,
                tree_size: 4
            })
        );
        assert_eq!(
            consistency_proof(&l, 5),
            Err(ProofError::SizesOutOfOrder {
                old_size: 5,
                new_size: 4
            })
        );
    }

    #[test]
    fn a_frontier_rebuilt_from_its_parts_continues_the_same_tree() {
        let l = leaves(11);
        let mut frontier = Frontier::new();
        for h in &l[..6] {
            frontier.push(*h);
        }
        let mut again =
            Frontier::from_parts(frontier.len(), frontier.peaks().to_vec(), frontier.head())
                .expect("well-formed");
        for h in &l[6..] {
            again.push(*h);
        }
        assert_eq!(again.root(), root(&l));
        assert_eq!(again.head(), l[10]);
        assert_eq!(
            Frontier::from_parts(6, vec![[0; 32]], [0; 32]),
            Err(ProofError::MalformedFrontier { size: 6, peaks: 1 })
        );
    }
}
