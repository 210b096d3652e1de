//! Every classic direct-SQL tampering, one story each, reported as the first
//! offending entry with the right class; then the same over random logs.

use custody_log::{CheckpointSigner, LogVerifier, Problem, verify_log};
use proptest::prelude::*;

use crate::support::*;

fn problem_after(
    tamper: impl FnOnce(&mut Vec<custody_log::Entry>),
    checkpoint_sizes: &[u64],
) -> Option<Problem> {
    let mut entries = log(20);
    let checkpoints = checkpoint_sizes
        .iter()
        .map(|&size| checkpoint(&entries, size))
        .collect();
    tamper(&mut entries);
    verify(entries, checkpoints).problem
}

#[test]
fn an_intact_log_verifies_with_every_checkpoint_proven() {
    let entries = log(20);
    let checkpoints = vec![
        checkpoint(&entries, 20),
        checkpoint(&entries, 0),
        checkpoint(&entries, 7),
    ];
    let report = verify(entries, checkpoints);
    assert_eq!(report.problem, None);
    assert!(report.is_intact());
    assert_eq!(report.entries_read, 20);
    assert_eq!(report.checkpoints_checked, 3);
    assert_eq!(report.proven_up_to, 20);
}

#[test]
fn an_empty_log_without_checkpoints_is_intact_and_proves_nothing() {
    let report = verify(Vec::new(), Vec::new());
    assert!(report.is_intact());
    assert_eq!((report.entries_read, report.proven_up_to), (0, 0));
}

#[test]
fn entries_after_the_last_checkpoint_are_intact_but_not_proven() {
    let entries = log(20);
    let checkpoints = vec![checkpoint(&entries, 12)];
    let report = verify(entries, checkpoints);
    assert!(report.is_intact());
    assert_eq!(report.proven_up_to, 12);
}

#[test]
fn editing_an_entrys_data_is_reported_as_changed_at_that_entry() {
    assert_eq!(
        problem_after(|e| update_data(e, 9), &[20]),
        Some(Problem::Changed { seq: 9 })
    );
    assert_eq!(
        problem_after(|e| update_data(e, 1), &[]),
        Some(Problem::Changed { seq: 1 })
    );
    assert_eq!(
        problem_after(|e| update_data(e, 20), &[]),
        Some(Problem::Changed { seq: 20 })
    );
}

#[test]
fn editing_an_entry_and_recomputing_its_hash_is_reported_as_changed_at_that_entry() {
    assert_eq!(
        problem_after(|e| update_data_and_rehash(e, 9), &[20]),
        Some(Problem::Changed { seq: 9 })
    );
    // A checkpoint ending exactly at the edited entry does not hide which
    // entry it was.
    assert_eq!(
        problem_after(|e| update_data_and_rehash(e, 9), &[9]),
        Some(Problem::Changed { seq: 9 })
    );
    assert_eq!(
        problem_after(|e| update_data_and_rehash(e, 1), &[]),
        Some(Problem::Changed { seq: 1 })
    );
}

#[test]
fn editing_the_last_entry_and_recomputing_its_hash_is_caught_only_by_a_checkpoint() {
    assert_eq!(problem_after(|e| update_data_and_rehash(e, 20), &[]), None);
    assert_eq!(
        problem_after(|e| update_data_and_rehash(e, 20), &[5, 20]),
        Some(Problem::CheckpointMismatch {
            checkpoint_size: 20,
            first_unproven_seq: 6
        })
    );
}

#[test]
fn deleting_an_entry_is_reported_as_removed_after_the_entry_before_it() {
    assert_eq!(
        problem_after(|e| delete(e, 9), &[20]),
        Some(Problem::Removed {
            after_seq: 8,
            count: 1
        })
    );
    assert_eq!(
        problem_after(|e| delete(e, 1), &[]),
        Some(Problem::Removed {
            after_seq: 0,
            count: 1
        })
    );
    assert_eq!(
        problem_after(
            |e| {
                delete(e, 9);
                delete(e, 10);
                delete(e, 11);
            },
            &[]
        ),
        Some(Problem::Removed {
            after_seq: 8,
            count: 3
        })
    );
}

#[test]
fn deleting_an_entry_and_renumbering_the_rest_is_reported_as_removed() {
    assert_eq!(
        problem_after(|e| delete_and_renumber(e, 9, false), &[20]),
        Some(Problem::Removed {
            after_seq: 8,
            count: 1
        })
    );
    assert_eq!(
        problem_after(|e| delete_and_renumber(e, 1, false), &[]),
        Some(Problem::Removed {
            after_seq: 0,
            count: 1
        })
    );
    // The moved entry is the last one: no entry after it to compare with.
    assert_eq!(
        problem_after(|e| delete_and_renumber(e, 19, false), &[]),
        Some(Problem::Removed {
            after_seq: 18,
            count: 1
        })
    );
}

#[test]
fn deleting_several_entries_and_renumbering_reports_how_many() {
    let problem = problem_after(
        |e| {
            for _ in 0..4 {
                delete_and_renumber(e, 6, false);
            }
        },
        &[],
    );
    assert_eq!(
        problem,
        Some(Problem::Removed {
            after_seq: 5,
            count: 4
        })
    );
}

#[test]
fn deleting_an_entry_renumbering_and_rehashing_the_rest_is_reported_as_removed() {
    assert_eq!(
        problem_after(|e| delete_and_renumber(e, 9, true), &[20]),
        Some(Problem::Removed {
            after_seq: 8,
            count: 1
        })
    );
}

#[test]
fn deleting_the_second_last_entry_renumbering_and_rehashing_looks_like_an_edit_of_the_entry_before()
{
    // The moved entry is last and re-hashed: nothing names its old hash, so
    // the chain alone cannot tell this from an edited and re-hashed entry
    // 18. Both are caught; the class is the best the chain can say.
    assert_eq!(
        problem_after(|e| delete_and_renumber(e, 19, true), &[]),
        Some(Problem::Changed { seq: 18 })
    );
}

#[test]
fn inserting_a_forged_entry_and_renumbering_the_rest_is_reported_as_inserted() {
    assert_eq!(
        problem_after(|e| insert_and_renumber(e, 9, false), &[20]),
        Some(Problem::Inserted { seq: 9 })
    );
    assert_eq!(
        problem_after(|e| insert_and_renumber(e, 1, false), &[]),
        Some(Problem::Inserted { seq: 1 })
    );
    assert_eq!(
        problem_after(|e| insert_and_renumber(e, 20, false), &[9, 20]),
        Some(Problem::Inserted { seq: 20 })
    );
}

#[test]
fn inserting_a_forged_entry_renumbering_and_rehashing_the_rest_is_reported_as_inserted() {
    assert_eq!(
        problem_after(|e| insert_and_renumber(e, 9, true), &[20]),
        Some(Problem::Inserted { seq: 9 })
    );
    assert_eq!(
        problem_after(|e| insert_and_renumber(e, 20, true), &[]),
        Some(Problem::Inserted { seq: 20 })
    );
}

#[test]
fn inserting_several_forged_entries_reports_the_first() {
    let problem = problem_after(
        |e| {
            insert_and_renumber(e, 7, false);
            insert_and_renumber(e, 8, false);
            insert_and_renumber(e, 9, false);
        },
        &[],
    );
    assert_eq!(problem, Some(Problem::Inserted { seq: 7 }));
}

#[test]
fn inserting_a_forged_entry_with_a_wrong_hash_is_reported_as_inserted_not_changed() {
    let problem = problem_after(
        |e| {
            insert_and_renumber(e, 9, false);
            e[8].hash = [0x66; 32];
        },
        &[],
    );
    assert_eq!(problem, Some(Problem::Inserted { seq: 9 }));
}

#[test]
fn inserting_a_forged_entry_under_an_existing_seq_is_reported_as_inserted_whichever_row_comes_first()
 {
    for forged_first in [true, false] {
        assert_eq!(
            problem_after(|e| insert_duplicate(e, 9, forged_first), &[20]),
            Some(Problem::Inserted { seq: 9 }),
            "forged first: {forged_first}"
        );
    }
}

#[test]
fn appending_a_plausible_forged_entry_after_the_last_checkpoint_goes_unnoticed() {
    // The limit of a hash chain: the newest entries are protected only by
    // the next checkpoint.
    let problem = problem_after(|e| e.push(forged(e, 21)), &[20]);
    assert_eq!(problem, None);
}

#[test]
fn swapping_two_adjacent_entries_is_reported_as_reordered() {
    assert_eq!(
        problem_after(|e| swap(e, 9, 10), &[20]),
        Some(Problem::Reordered { seq: 9 })
    );
    assert_eq!(
        problem_after(|e| swap(e, 19, 20), &[]),
        Some(Problem::Reordered { seq: 19 })
    );
}

#[test]
fn swapping_two_distant_entries_is_reported_as_reordered() {
    assert_eq!(
        problem_after(|e| swap(e, 4, 15), &[20]),
        Some(Problem::Reordered { seq: 4 })
    );
}

#[test]
fn entries_handed_over_out_of_seq_order_are_reported() {
    let mut entries = log(10);
    entries.swap(4, 5);
    assert_eq!(
        verify(entries, Vec::new()).problem,
        Some(Problem::OutOfOrder {
            seq: 5,
            after_seq: 6
        })
    );
    let mut entries = log(10);
    entries.swap(0, 1);
    assert_eq!(
        verify(entries, Vec::new()).problem,
        Some(Problem::OutOfOrder {
            seq: 1,
            after_seq: 2
        })
    );
    // Handed over further away, the missing entry is first seen as a gap.
    let mut entries = log(10);
    let moved = entries.remove(2);
    entries.insert(6, moved);
    assert_eq!(
        verify(entries, Vec::new()).problem,
        Some(Problem::Removed {
            after_seq: 2,
            count: 1
        })
    );
    let mut entries = log(10);
    let first = entries[0].clone();
    entries.insert(3, first);
    assert_eq!(
        verify(entries, Vec::new()).problem,
        Some(Problem::OutOfOrder {
            seq: 1,
            after_seq: 3
        })
    );
}

#[test]
fn truncating_the_tail_below_a_checkpoint_is_reported_as_truncated() {
    assert_eq!(
        problem_after(|e| truncate(e, 13), &[5, 15, 20]),
        Some(Problem::Truncated {
            entries: 13,
            checkpoint_size: 15
        })
    );
    assert_eq!(
        problem_after(|e| truncate(e, 0), &[20]),
        Some(Problem::Truncated {
            entries: 0,
            checkpoint_size: 20
        })
    );
}

#[test]
fn truncating_the_tail_after_the_last_checkpoint_goes_unnoticed() {
    let report = {
        let mut entries = log(20);
        let checkpoints = vec![checkpoint(&entries, 10)];
        truncate(&mut entries, 15);
        verify(entries, checkpoints)
    };
    assert!(report.is_intact());
    assert_eq!(report.proven_up_to, 10);
}

#[test]
fn rewriting_the_chain_from_an_entry_on_is_caught_by_the_next_checkpoint_only() {
    assert_eq!(problem_after(|e| rewrite_from(e, 11), &[]), None);
    assert_eq!(
        problem_after(|e| rewrite_from(e, 11), &[4, 8, 14, 20]),
        Some(Problem::CheckpointMismatch {
            checkpoint_size: 14,
            first_unproven_seq: 9
        })
    );
    assert_eq!(
        problem_after(|e| rewrite_from(e, 1), &[20]),
        Some(Problem::CheckpointMismatch {
            checkpoint_size: 20,
            first_unproven_seq: 1
        })
    );
}

#[test]
fn a_checkpoint_with_a_bad_signature_is_reported() {
    let entries = log(20);
    let mut forged = checkpoint(&entries, 12);
    forged.checkpoint.at_us += 1;
    let report = verify(entries.clone(), vec![checkpoint(&entries, 5), forged]);
    assert_eq!(
        report.problem,
        Some(Problem::BadSignature {
            checkpoint_size: 12
        })
    );
    assert_eq!(report.proven_up_to, 5);
}

#[test]
fn a_forged_checkpoint_beyond_the_end_is_a_bad_signature_not_a_truncation() {
    let entries = log(20);
    let mut forged = checkpoint(&entries, 20);
    forged.checkpoint.tree_size = 25;
    assert_eq!(
        verify(entries, vec![forged]).problem,
        Some(Problem::BadSignature {
            checkpoint_size: 25
        })
    );
}

#[test]
fn a_checkpoint_signed_by_an_unknown_key_is_reported() {
    let entries = log(20);
    let stranger = CheckpointSigner::from_seed(&[3; 32]);
    let signed = checkpoint_by(&stranger, &entries, 10);
    assert_eq!(
        verify(entries, vec![signed]).problem,
        Some(Problem::UnknownKey {
            checkpoint_size: 10,
            key_id: stranger.key_id().0.clone()
        })
    );
}

#[test]
fn checkpoints_of_a_retired_key_still_count_when_that_key_is_trusted() {
    let entries = log(20);
    let old = CheckpointSigner::from_seed(&[3; 32]);
    let checkpoints = vec![checkpoint_by(&old, &entries, 10), checkpoint(&entries, 20)];
    let keys = vec![signer().public_key().clone(), old.public_key().clone()];
    let report = verify_log(entries, checkpoints, &keys);
    assert!(report.is_intact());
    assert_eq!(report.checkpoints_checked, 2);
}

#[test]
fn the_verifier_asks_to_stop_reading_once_it_found_a_problem() {
    let mut entries = log(20);
    update_data(&mut entries, 5);
    let keys = trusted();
    let mut verifier = LogVerifier::new(Vec::new(), &keys);
    let read = entries
        .into_iter()
        .take_while(|entry| verifier.push(entry.clone()))
        .count();
    // Entry 5 is judged when entry 6 arrives.
    assert_eq!(read, 5);
    let report = verifier.finish();
    assert_eq!(report.problem, Some(Problem::Changed { seq: 5 }));
    assert_eq!(report.entries_read, 6);
}

/// One tampering of a log of `n` entries.
#[derive(Clone, Debug)]
enum Tampering {
    UpdateData(u64),
    UpdateDataAndRehash(u64),
    Delete(u64),
    DeleteAndRenumber(u64),
    DeleteRenumberAndRehash(u64),
    InsertAndRenumber(u64),
    InsertRenumberAndRehash(u64),
    InsertDuplicate(u64, bool),
    SwapAdjacent(u64),
    Truncate(u64),
    RewriteFrom(u64),
}

fn tampering(n: u64) -> impl Strategy<Value = Tampering> {
    prop_oneof![
        (1..=n).prop_map(Tampering::UpdateData),
        (1..=n).prop_map(Tampering::UpdateDataAndRehash),
        (1..=n).prop_map(Tampering::Delete),
        (1..=n).prop_map(Tampering::DeleteAndRenumber),
        // The last moved entry needs a successor to be recognised (see the
        // story above).
        (1..n - 1).prop_map(Tampering::DeleteRenumberAndRehash),
        (1..=n).prop_map(Tampering::InsertAndRenumber),
        (1..=n).prop_map(Tampering::InsertRenumberAndRehash),
        ((1..=n), any::<bool>()).prop_map(|(k, first)| Tampering::InsertDuplicate(k, first)),
        (1..n).prop_map(Tampering::SwapAdjacent),
        (0..n).prop_map(Tampering::Truncate),
        (1..=n).prop_map(Tampering::RewriteFrom),
    ]
}

/// What the verifier must say: `n` entries, checkpoints at `mid` (if any,
/// `mid < n`) and at `n`.
fn expected(t: &Tampering, n: u64, mid: Option<u64>) -> Problem {
    let first_checkpoint_from = |k: u64| match mid {
        Some(mid) if mid >= k => mid,
        _ => n,
    };
    let proven_before = |k: u64| match mid {
        Some(mid) if mid < k => mid,
        _ => 0,
    };
    match *t {
        Tampering::UpdateData(k) => Problem::Changed { seq: k },
        Tampering::UpdateDataAndRehash(k) if k < n => Problem::Changed { seq: k },
        Tampering::UpdateDataAndRehash(k) | Tampering::RewriteFrom(k) => {
            Problem::CheckpointMismatch {
                checkpoint_size: first_checkpoint_from(k),
                first_unproven_seq: proven_before(k) + 1,
            }
        }
        Tampering::Delete(k)
        | Tampering::DeleteAndRenumber(k)
        | Tampering::DeleteRenumberAndRehash(k)
            if k < n =>
        {
            Problem::Removed {
                after_seq: k - 1,
                count: 1,
            }
        }
        Tampering::Delete(_)
        | Tampering::DeleteAndRenumber(_)
        | Tampering::DeleteRenumberAndRehash(_) => Problem::Truncated {
            entries: n - 1,
            checkpoint_size: n,
        },
        Tampering::InsertAndRenumber(k)
        | Tampering::InsertRenumberAndRehash(k)
        | Tampering::InsertDuplicate(k, _) => Problem::Inserted { seq: k },
        Tampering::SwapAdjacent(k) => Problem::Reordered { seq: k },
        Tampering::Truncate(keep) => Problem::Truncated {
            entries: keep,
            checkpoint_size: first_checkpoint_from(keep + 1),
        },
    }
}

fn apply(t: &Tampering, entries: &mut Vec<custody_log::Entry>) {
    match *t {
        Tampering::UpdateData(k) => update_data(entries, k),
        Tampering::UpdateDataAndRehash(k) => update_data_and_rehash(entries, k),
        Tampering::Delete(k) => delete(entries, k),
        Tampering::DeleteAndRenumber(k) => delete_and_renumber(entries, k, false),
        Tampering::DeleteRenumberAndRehash(k) => delete_and_renumber(entries, k, true),
        Tampering::InsertAndRenumber(k) => insert_and_renumber(entries, k, false),
        Tampering::InsertRenumberAndRehash(k) => insert_and_renumber(entries, k, true),
        Tampering::InsertDuplicate(k, forged_first) => insert_duplicate(entries, k, forged_first),
        Tampering::SwapAdjacent(k) => swap(entries, k, k + 1),
        Tampering::Truncate(keep) => truncate(entries, keep),
        Tampering::RewriteFrom(k) => rewrite_from(entries, k),
    }
}

fn case() -> impl Strategy<Value = (u64, Option<u64>, Tampering)> {
    (3..40u64).prop_flat_map(|n| (Just(n), proptest::option::of(1..n), tampering(n)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn any_single_tampering_of_a_random_log_is_reported_at_the_right_entry((n, mid, t) in case()) {
        let mut entries = log(n);
        let mut checkpoints = vec![checkpoint(&entries, n)];
        checkpoints.extend(mid.map(|mid| checkpoint(&entries, mid)));
        apply(&t, &mut entries);
        let report = verify(entries, checkpoints);
        prop_assert_eq!(report.problem, Some(expected(&t, n, mid)));
    }
}
