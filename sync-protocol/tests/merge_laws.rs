//! The merge types are joins: commutative, associative, idempotent, and
//! `merge` reports a change exactly when the value changed. Plus the rules
//! the design promises on top (sync.md, "Merge rules by kind of field").
//!
//! The strategies draw from tiny ranges on purpose: a few wall times,
//! counters and node ids, so equal stamps, equal values and one writer
//! reusing a stamp for two values all happen often.

use proptest::prelude::*;
use sync_protocol::{
    Lww, Merge, Money, NodeId, Stamp, Status, StatusReg, Withdrawal,
    merge::{InsertOnly, StatusConflict, Withdrawn},
};

fn stamp() -> impl Strategy<Value = Stamp> {
    (
        0_i64..4,
        0_u32..3,
        prop::sample::select(vec!["a", "b", "c", "server"]),
    )
        .prop_map(|(wall, counter, node)| Stamp::new(wall, counter, NodeId::new(node)))
}

fn text() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["", "x", "y", "zz"]).prop_map(str::to_owned)
}

fn money() -> impl Strategy<Value = Money> {
    (0_i64..3, prop::sample::select(vec!["EUR", "CNY"]))
        .prop_map(|(minor, currency)| Money::new(minor * 500, currency))
}

fn lww_text() -> impl Strategy<Value = Lww<String>> {
    (text(), stamp()).prop_map(|(value, stamp)| Lww::new(value, stamp))
}

fn lww_money() -> impl Strategy<Value = Lww<Money>> {
    (money(), stamp()).prop_map(|(value, stamp)| Lww::new(value, stamp))
}

fn any_status() -> impl Strategy<Value = Status> {
    prop::sample::select(Status::ALL.to_vec())
}

fn status_reg() -> impl Strategy<Value = StatusReg> {
    (1_u32..=3, any_status(), stamp()).prop_map(|(g, s, st)| StatusReg::new(g, s, st))
}

fn insert_only() -> impl Strategy<Value = InsertOnly<u8, String>> {
    prop::collection::btree_map(0_u8..5, text(), 0..4).prop_map(|records| InsertOnly { records })
}

fn withdrawal() -> impl Strategy<Value = Withdrawal> {
    prop::option::of(
        (stamp(), prop::sample::select(vec!["", "typo", "duplicate"])).prop_map(
            |(stamp, reason)| Withdrawn {
                stamp,
                reason: reason.to_owned(),
            },
        ),
    )
    .prop_map(Withdrawal)
}

fn join<M: Merge>(a: &M, b: &M) -> M {
    a.clone().merged(b)
}

/// The four laws for one merge type, each as its own test.
macro_rules! laws {
    ($module:ident, $strategy:expr) => {
        mod $module {
            use super::*;

            proptest! {
                #![proptest_config(ProptestConfig::with_cases(512))]

                #[test]
                fn merging_is_commutative(a in $strategy, b in $strategy) {
                    prop_assert_eq!(join(&a, &b), join(&b, &a));
                }

                #[test]
                fn merging_is_associative(a in $strategy, b in $strategy, c in $strategy) {
                    prop_assert_eq!(join(&join(&a, &b), &c), join(&a, &join(&b, &c)));
                }

                #[test]
                fn merging_a_value_with_itself_changes_nothing(a in $strategy) {
                    let mut same = a.clone();
                    prop_assert!(!same.merge(&a));
                    prop_assert_eq!(same, a);
                }

                #[test]
                fn merge_reports_a_change_exactly_when_the_value_changed(
                    a in $strategy,
                    b in $strategy,
                ) {
                    let mut merged = a.clone();
                    let changed = merged.merge(&b);
                    prop_assert_eq!(changed, merged != a);
                }

                #[test]
                fn a_merged_value_has_absorbed_both_sides(a in $strategy, b in $strategy) {
                    // a ⊔ b is an upper bound of a and b: merging either
                    // into it again changes nothing.
                    let mut merged = join(&a, &b);
                    prop_assert!(!merged.merge(&a));
                    prop_assert!(!merged.merge(&b));
                }
            }
        }
    };
}

laws!(lww_of_text, lww_text());
laws!(lww_of_money, lww_money());
laws!(optional_lww_of_text, prop::option::of(lww_text()));
laws!(optional_lww_of_money, prop::option::of(lww_money()));
laws!(status_register, status_reg());
laws!(optional_status_register, prop::option::of(status_reg()));
laws!(insert_only_records, insert_only());
laws!(withdrawal_flag, withdrawal());

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_write_with_the_greater_stamp_wins(a in lww_text(), b in lww_text()) {
        prop_assume!(a.stamp != b.stamp);
        let winner = if a.stamp > b.stamp { &a } else { &b };
        prop_assert_eq!(&join(&a, &b), winner);
    }

    #[test]
    fn none_is_the_bottom_of_an_optional_field(a in prop::option::of(lww_text())) {
        prop_assert_eq!(join(&a, &None), a.clone());
        prop_assert_eq!(join(&None, &a), a);
    }

    #[test]
    fn a_purchase_or_later_is_never_undone_by_a_cancellation_in_the_same_generation(
        generation in 1_u32..=3,
        bought in prop::sample::select(
            Status::ALL.into_iter().filter(|s| s.rank() >= Status::Purchased.rank()).collect::<Vec<_>>()
        ),
        bought_at in stamp(),
        cancelled_at in stamp(),
    ) {
        let bought = StatusReg::new(generation, bought, bought_at);
        let cancelled = StatusReg::new(generation, Status::Cancelled, cancelled_at);
        prop_assert_eq!(join(&bought, &cancelled), bought.clone());
        prop_assert_eq!(join(&cancelled, &bought), bought.clone());
        prop_assert_eq!(
            bought.conflict(&cancelled),
            Some(StatusConflict::PurchaseAfterCancellation)
        );
        prop_assert_eq!(
            cancelled.conflict(&bought),
            Some(StatusConflict::PurchaseAfterCancellation)
        );
    }

    #[test]
    fn a_cancellation_ends_a_generation_that_had_not_reached_a_purchase(
        generation in 1_u32..=3,
        before in prop::sample::select(vec![Status::Offered, Status::Accepted, Status::Declined, Status::Expired]),
        a in stamp(),
        b in stamp(),
    ) {
        let before = StatusReg::new(generation, before, a);
        let cancelled = StatusReg::new(generation, Status::Cancelled, b);
        prop_assert_eq!(join(&before, &cancelled).status, Status::Cancelled);
        prop_assert_eq!(before.conflict(&cancelled), None);
    }

    #[test]
    fn a_newer_generation_always_wins(older in status_reg(), newer in status_reg(), ahead in 1_u32..3) {
        let newer = StatusReg { generation: older.generation + ahead, ..newer };
        prop_assert_eq!(join(&older, &newer), newer.clone());
        prop_assert_eq!(join(&newer, &older), newer.clone());
        prop_assert_eq!(older.conflict(&newer), None);
    }

    #[test]
    fn status_never_moves_backwards_within_a_generation(a in status_reg(), b in status_reg()) {
        let b = StatusReg { generation: a.generation, ..b };
        let merged = join(&a, &b);
        prop_assert_eq!(merged.status.rank(), a.status.rank().max(b.status.rank()));
    }

    #[test]
    fn once_withdrawn_always_withdrawn(
        first in withdrawal(),
        rest in prop::collection::vec(withdrawal(), 0..6),
    ) {
        let mut folded = first.clone();
        for w in &rest {
            folded.merge(w);
            if first.is_withdrawn() {
                prop_assert!(folded.is_withdrawn());
            }
        }
        let any = first.is_withdrawn() || rest.iter().any(Withdrawal::is_withdrawn);
        prop_assert_eq!(folded.is_withdrawn(), any);
    }

    #[test]
    fn of_two_withdrawals_the_earliest_is_kept(a in withdrawal(), b in withdrawal()) {
        if let (Some(x), Some(y)) = (&a.0, &b.0) {
            let merged = join(&a, &b);
            prop_assert_eq!(merged.0.as_ref(), Some(x.min(y)));
        }
    }

    #[test]
    fn insert_only_keeps_every_key_of_both_sides(a in insert_only(), b in insert_only()) {
        let merged = join(&a, &b);
        let mut keys: Vec<u8> = a.records.keys().chain(b.records.keys()).copied().collect();
        keys.sort_unstable();
        keys.dedup();
        prop_assert_eq!(merged.records.keys().copied().collect::<Vec<_>>(), keys);
    }

    #[test]
    fn inserting_the_same_record_twice_is_one_record(key in 0_u8..5, value in text()) {
        let mut set = InsertOnly::default();
        prop_assert!(set.insert(key, value.clone()));
        prop_assert!(!set.insert(key, value));
        prop_assert_eq!(set.records.len(), 1);
    }
}
