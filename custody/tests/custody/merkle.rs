//! The Merkle tree against RFC 6962's recursive definitions, written here as
//! literally as the RFC states them, and the RFC's verification algorithms
//! against the proofs: every honest proof verifies, every altered one fails.

use custody_log::{
    Frontier, Hash,
    merkle::{
        ProofError, consistency_proof, inclusion_proof, inclusion_proofs, leaf_hash, node_hash,
        root, verify_consistency, verify_inclusion,
    },
};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

/// `MTH(D[n])`.
fn mth(d: &[Hash]) -> Hash {
    match d.len() {
        0 => Sha256::digest([]).into(),
        1 => {
            let mut input = vec![0x00];
            input.extend_from_slice(&d[0]);
            Sha256::digest(&input).into()
        }
        n => {
            let k = largest_power_of_two_below(n);
            let mut input = vec![0x01];
            input.extend_from_slice(&mth(&d[..k]));
            input.extend_from_slice(&mth(&d[k..]));
            Sha256::digest(&input).into()
        }
    }
}

fn largest_power_of_two_below(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// `PATH(m, D[n])`.
fn path(m: usize, d: &[Hash]) -> Vec<Hash> {
    let n = d.len();
    if n == 1 {
        return Vec::new();
    }
    let k = largest_power_of_two_below(n);
    let mut out;
    if m < k {
        out = path(m, &d[..k]);
        out.push(mth(&d[k..]));
    } else {
        out = path(m - k, &d[k..]);
        out.push(mth(&d[..k]));
    }
    out
}

/// `PROOF(m, D[n])` = `SUBPROOF(m, D[n], true)`.
fn proof(m: usize, d: &[Hash]) -> Vec<Hash> {
    fn subproof(m: usize, d: &[Hash], b: bool) -> Vec<Hash> {
        let n = d.len();
        if m == n {
            return if b { Vec::new() } else { vec![mth(d)] };
        }
        let k = largest_power_of_two_below(n);
        let mut out;
        if m <= k {
            out = subproof(m, &d[..k], b);
            out.push(mth(&d[k..]));
        } else {
            out = subproof(m - k, &d[k..], false);
            out.push(mth(&d[..k]));
        }
        out
    }
    if m == 0 {
        Vec::new()
    } else {
        subproof(m, d, true)
    }
}

fn leaves(n: usize, salt: u8) -> Vec<Hash> {
    (0..n as u64)
        .map(|i| {
            Sha256::new()
                .chain_update([salt])
                .chain_update(i.to_be_bytes())
                .finalize()
                .into()
        })
        .collect()
}

#[test]
fn leaf_and_node_hashes_are_the_rfcs_prefixed_hashes() {
    let d = leaves(2, 0);
    assert_eq!(leaf_hash(&d[0]), mth(&d[..1]));
    assert_eq!(node_hash(&leaf_hash(&d[0]), &leaf_hash(&d[1])), mth(&d));
}

#[test]
fn roots_match_the_definition_for_every_size_up_to_70() {
    for n in 0..70 {
        let d = leaves(n, 1);
        assert_eq!(root(&d), mth(&d), "size {n}");
    }
}

#[test]
fn a_growing_frontier_has_the_root_of_every_prefix() {
    let d = leaves(70, 2);
    let mut frontier = Frontier::new();
    assert_eq!(frontier.root(), mth(&[]));
    for (i, hash) in d.iter().enumerate() {
        frontier.push(*hash);
        assert_eq!(frontier.root(), mth(&d[..=i]));
        assert_eq!(frontier.len(), i as u64 + 1);
        assert_eq!(frontier.peaks().len(), (i + 1).count_ones() as usize);
    }
}

#[test]
fn a_proof_of_the_wrong_length_is_refused() {
    let d = leaves(10, 3);
    let r = root(&d);
    let mut p = inclusion_proof(&d, 3).expect("in range");
    p.push(p[0]);
    assert_eq!(
        verify_inclusion(&d[3], 3, 10, &p, &r),
        Err(ProofError::WrongLength)
    );
    p.truncate(2);
    assert_eq!(
        verify_inclusion(&d[3], 3, 10, &p, &r),
        Err(ProofError::WrongLength)
    );
}

#[test]
fn consistency_with_the_empty_tree_and_with_itself_needs_no_proof() {
    let d = leaves(9, 4);
    let r = root(&d);
    assert_eq!(verify_consistency(0, 9, &mth(&[]), &r, &[]), Ok(()));
    assert_eq!(verify_consistency(9, 9, &r, &r, &[]), Ok(()));
    assert_eq!(
        verify_consistency(9, 9, &r, &mth(&d[..8]), &[]),
        Err(ProofError::RootMismatch)
    );
    assert_eq!(
        verify_consistency(10, 9, &r, &r, &[]),
        Err(ProofError::SizesOutOfOrder {
            old_size: 10,
            new_size: 9
        })
    );
    assert_eq!(
        verify_consistency(3, 9, &mth(&d[..3]), &r, &[]),
        Err(ProofError::WrongLength)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn every_leafs_audit_path_is_the_rfcs_and_verifies(n in 1usize..200, salt: u8) {
        let d = leaves(n, salt);
        let r = mth(&d);
        let all: Vec<u64> = (0..n as u64).collect();
        let batch = inclusion_proofs(&d, &all).expect("in range");
        for i in 0..n {
            let p = inclusion_proof(&d, i as u64).expect("in range");
            prop_assert_eq!(&p, &path(i, &d));
            prop_assert_eq!(&batch[i], &p);
            prop_assert_eq!(verify_inclusion(&d[i], i as u64, n as u64, &p, &r), Ok(()));
        }
    }

    #[test]
    fn an_audit_path_fails_for_another_leaf_index_size_or_root(
        n in 2usize..200,
        i in any::<proptest::sample::Index>(),
        j in any::<proptest::sample::Index>(),
        wrong_size in 0u64..200,
        flip in any::<proptest::sample::Index>(),
    ) {
        let d = leaves(n, 7);
        let r = mth(&d);
        let (i, j) = (i.index(n), j.index(n));
        let p = inclusion_proof(&d, i as u64).expect("in range");
        if j != i {
            prop_assert!(verify_inclusion(&d[j], i as u64, n as u64, &p, &r).is_err());
            prop_assert!(verify_inclusion(&d[i], j as u64, n as u64, &p, &r).is_err());
        }
        // The size itself is bound by the checkpoint's signature, not by the
        // path (leaf 0's path is the same in trees of 65 and 66 leaves); a
        // size that cannot hold the index fails.
        if wrong_size <= i as u64 {
            prop_assert!(verify_inclusion(&d[i], i as u64, wrong_size, &p, &r).is_err());
        }
        prop_assert!(verify_inclusion(&d[i], i as u64, n as u64, &p, &mth(&d[..n - 1])).is_err());
        if !p.is_empty() {
            let mut altered = p.clone();
            let at = flip.index(p.len());
            altered[at][0] ^= 1;
            prop_assert_eq!(
                verify_inclusion(&d[i], i as u64, n as u64, &altered, &r),
                Err(ProofError::RootMismatch)
            );
        }
    }

    #[test]
    fn a_batch_of_audit_paths_in_any_order_equals_them_one_by_one(
        n in 1usize..300,
        picks in proptest::collection::vec(any::<proptest::sample::Index>(), 0..12),
    ) {
        let d = leaves(n, 9);
        let indices: Vec<u64> = picks.iter().map(|pick| pick.index(n) as u64).collect();
        let batch = inclusion_proofs(&d, &indices).expect("in range");
        for (index, p) in indices.iter().zip(&batch) {
            prop_assert_eq!(p, &path(*index as usize, &d));
        }
    }

    #[test]
    fn every_consistency_proof_is_the_rfcs_and_verifies(n in 1usize..130, salt: u8) {
        let d = leaves(n, salt);
        let new_root = mth(&d);
        for m in 0..=n {
            let p = consistency_proof(&d, m as u64).expect("m <= n");
            prop_assert_eq!(&p, &proof(m, &d));
            prop_assert_eq!(verify_consistency(m as u64, n as u64, &mth(&d[..m]), &new_root, &p), Ok(()));
        }
    }

    #[test]
    fn a_consistency_proof_fails_for_another_history(
        n in 2usize..130,
        m in any::<proptest::sample::Index>(),
        flip in any::<proptest::sample::Index>(),
        other_m in any::<proptest::sample::Index>(),
    ) {
        let d = leaves(n, 11);
        let m = 1 + m.index(n - 1); // 1..n: a real extension
        let p = consistency_proof(&d, m as u64).expect("m <= n");
        let (old_root, new_root) = (mth(&d[..m]), mth(&d));
        // The old tree was different.
        let mut forked = d.clone();
        forked[m - 1][0] ^= 1;
        prop_assert!(verify_consistency(m as u64, n as u64, &mth(&forked[..m]), &new_root, &p).is_err());
        // The new tree rewrote the old part.
        prop_assert!(verify_consistency(m as u64, n as u64, &old_root, &mth(&forked), &p).is_err());
        // The proof was altered.
        let mut altered = p.clone();
        altered[flip.index(p.len())][0] ^= 1;
        prop_assert!(verify_consistency(m as u64, n as u64, &old_root, &new_root, &altered).is_err());
        // The proof is for other sizes.
        let other = 1 + other_m.index(n - 1);
        if other != m && proof(other, &d) != p {
            prop_assert!(verify_consistency(other as u64, n as u64, &mth(&d[..other]), &new_root, &p).is_err());
        }
    }
}
