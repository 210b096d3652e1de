//! The merge types. Each one is a join-semilattice: `merge` is commutative,
//! associative and idempotent, so replicas that have seen the same writes
//! hold the same value whatever order, batching or duplication the writes
//! arrived in. The laws are checked by the property tests in
//! `tests/merge_laws.rs`.
//!
//! | type | rule | tie-break | cost |
//! |---|---|---|---|
//! | [`Lww`] | the write with the greater [`Stamp`] wins | node id (inside the stamp), then the value | O(1) plus one value clone |
//! | [`StatusReg`] | newer generation wins; within one, the later workflow step | stamp | O(1) |
//! | [`InsertOnly`] | union by key; a record is written once | for two different bodies under one key, the smaller body | O(n log n) |
//! | [`Withdrawal`] | remove wins: once withdrawn, withdrawn for good | the earliest withdrawal | O(1) |

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{hlc::Stamp, records::Status};

/// A state-based merge (a join). Laws, for all `a`, `b`, `c`:
/// * commutative: `a ⊔ b == b ⊔ a`
/// * associative: `(a ⊔ b) ⊔ c == a ⊔ (b ⊔ c)`
/// * idempotent: `a ⊔ a == a`
pub trait Merge: Clone {
    /// Folds `other` into `self`. Returns whether `self` changed.
    fn merge(&mut self, other: &Self) -> bool;

    /// `self ⊔ other` as a new value.
    fn merged(mut self, other: &Self) -> Self {
        self.merge(other);
        self
    }
}

/// `None` is the bottom element: a field nobody has written yet.
impl<M: Merge> Merge for Option<M> {
    fn merge(&mut self, other: &Self) -> bool {
        match (self.as_mut(), other) {
            (_, None) => false,
            (None, Some(o)) => {
                *self = Some(o.clone());
                true
            }
            (Some(s), Some(o)) => s.merge(o),
        }
    }
}

/// A last-writer-wins register: ordinary fields (order number, price paid,
/// tracking number, notes).
///
/// Rule: the value with the greater stamp wins. Stamps of different writers
/// never tie (the node id is part of the stamp); should one writer reuse a
/// stamp for two values, the greater value wins so the merge stays a join.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lww<T> {
    pub value: T,
    pub stamp: Stamp,
}

impl<T> Lww<T> {
    pub fn new(value: T, stamp: Stamp) -> Self {
        Self { value, stamp }
    }
}

impl<T: Ord + Clone> Merge for Lww<T> {
    fn merge(&mut self, other: &Self) -> bool {
        if (&other.stamp, &other.value) > (&self.stamp, &self.value) {
            *self = other.clone();
            true
        } else {
            false
        }
    }
}

/// The task status: forward only along the workflow within a generation;
/// a newer generation (started only by a coordinator: reopen, reassign)
/// replaces the old one whatever its status.
///
/// Within a generation, statuses join by [`Status::rank`]: the workflow
/// order, with the generation-ending `declined < expired < cancelled` placed
/// after `accepted` and before `purchased`. So a cancellation beats an offer
/// or an acceptance, but a purchase (or anything after it) beats a
/// cancellation: a cancellation that reaches a task already bought does not
/// undo the purchase. [`StatusReg::conflict`] reports that meeting so the
/// server can flag it. Equal (generation, status) pairs keep the greater
/// stamp (the tie-break), so the merge is a join.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReg {
    pub generation: u32,
    pub status: Status,
    pub stamp: Stamp,
}

/// Two statuses of one generation whose meeting a person must look at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusConflict {
    /// A cancellation (or a decline or expiry) met a task the volunteer had
    /// already bought.
    PurchaseAfterCancellation,
}

impl StatusReg {
    pub fn new(generation: u32, status: Status, stamp: Stamp) -> Self {
        Self {
            generation,
            status,
            stamp,
        }
    }

    fn key(&self) -> (u32, u8, &Stamp) {
        (self.generation, self.status.rank(), &self.stamp)
    }

    /// Whether `self` and `other` meeting needs a person's review.
    pub fn conflict(&self, other: &Self) -> Option<StatusConflict> {
        if self.generation != other.generation {
            return None;
        }
        // Mostly a cancellation; a decline or an expiry that crossed a
        // purchase made offline is the same story and equally needs a look.
        let cancelled_and_bought =
            |a: Status, b: Status| a.ends_generation() && b.rank() >= Status::Purchased.rank();
        (cancelled_and_bought(self.status, other.status)
            || cancelled_and_bought(other.status, self.status))
        .then_some(StatusConflict::PurchaseAfterCancellation)
    }
}

impl Merge for StatusReg {
    fn merge(&mut self, other: &Self) -> bool {
        if other.key() > self.key() {
            *self = other.clone();
            true
        } else {
            false
        }
    }
}

/// Insert-only records keyed by a client-made id (UUIDv7): evidence, scan
/// events, purchases, custody events. The same record twice is one record.
///
/// Rule: union by key. Two different bodies under one key (a client bug or
/// a forged id) keep the smaller body, so the merge stays a join; the
/// server refuses the second body instead (`id_reused`), so this only
/// matters between replicas.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InsertOnly<K: Ord, V> {
    pub records: BTreeMap<K, V>,
}

impl<K: Ord, V> Default for InsertOnly<K, V> {
    fn default() -> Self {
        Self {
            records: BTreeMap::new(),
        }
    }
}

impl<K: Ord + Clone, V: Ord + Clone> InsertOnly<K, V> {
    /// Adds one record; returns whether the set changed.
    pub fn insert(&mut self, key: K, value: V) -> bool {
        let mut single = Self::default();
        single.records.insert(key, value);
        self.merge(&single)
    }
}

impl<K: Ord + Clone, V: Ord + Clone> Merge for InsertOnly<K, V> {
    fn merge(&mut self, other: &Self) -> bool {
        let mut changed = false;
        for (k, v) in &other.records {
            match self.records.get_mut(k) {
                None => {
                    self.records.insert(k.clone(), v.clone());
                    changed = true;
                }
                Some(mine) if v < mine => {
                    *mine = v.clone();
                    changed = true;
                }
                Some(_) => {}
            }
        }
        changed
    }
}

/// Why and when a record was withdrawn.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Withdrawn {
    pub stamp: Stamp,
    #[serde(default)]
    pub reason: String,
}

/// The withdrawal of a record: a remove-wins flag. The row and its history
/// stay; it is only marked.
///
/// Rule: withdrawn beats not withdrawn, for good (there is no un-withdraw:
/// a mistaken withdrawal is answered by a new record). Of two withdrawals
/// the earliest (smallest stamp) is kept: it is when the record stopped
/// counting.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Withdrawal(pub Option<Withdrawn>);

impl Withdrawal {
    pub fn is_withdrawn(&self) -> bool {
        self.0.is_some()
    }

    pub fn withdrawn(stamp: Stamp, reason: impl Into<String>) -> Self {
        Self(Some(Withdrawn {
            stamp,
            reason: reason.into(),
        }))
    }
}

impl Merge for Withdrawal {
    fn merge(&mut self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (_, None) => false,
            (None, Some(_)) => {
                *self = other.clone();
                true
            }
            (Some(mine), Some(theirs)) if theirs < mine => {
                *self = other.clone();
                true
            }
            (Some(_), Some(_)) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hlc::NodeId;

    fn st(wall: i64, node: &str) -> Stamp {
        Stamp::new(wall, 0, NodeId::new(node))
    }

    #[test]
    fn the_later_write_wins() {
        let mut a = Lww::new("old", st(1, "a"));
        assert!(a.merge(&Lww::new("new", st(2, "b"))));
        assert_eq!(a.value, "new");
        assert!(!a.merge(&Lww::new("older", st(0, "c"))));
        assert_eq!(a.value, "new");
    }

    #[test]
    fn a_cancellation_does_not_undo_a_purchase() {
        let bought = StatusReg::new(1, Status::Purchased, st(1, "phone"));
        let cancelled = StatusReg::new(1, Status::Cancelled, st(9, "server"));
        assert_eq!(bought.clone().merged(&cancelled).status, Status::Purchased);
        assert_eq!(cancelled.clone().merged(&bought).status, Status::Purchased);
        assert_eq!(
            bought.conflict(&cancelled),
            Some(StatusConflict::PurchaseAfterCancellation)
        );
    }

    #[test]
    fn a_new_generation_replaces_the_old_one() {
        let shipped = StatusReg::new(1, Status::Shipped, st(5, "phone"));
        let reoffered = StatusReg::new(2, Status::Offered, st(6, "server"));
        assert_eq!(shipped.merged(&reoffered).generation, 2);
    }

    #[test]
    fn status_never_moves_backwards_within_a_generation() {
        let shipped = StatusReg::new(1, Status::Shipped, st(1, "a"));
        let accepted_later = StatusReg::new(1, Status::Accepted, st(9, "b"));
        assert_eq!(shipped.merged(&accepted_later).status, Status::Shipped);
    }

    #[test]
    fn withdrawal_wins_and_keeps_the_first_one() {
        let mut w = Withdrawal::default();
        assert!(w.merge(&Withdrawal::withdrawn(st(5, "a"), "typo")));
        assert!(w.merge(&Withdrawal::withdrawn(st(3, "b"), "duplicate")));
        assert!(!w.merge(&Withdrawal::default()));
        assert_eq!(w.0.map(|x| x.reason), Some("duplicate".to_owned()));
    }
}
