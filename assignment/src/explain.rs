//! Why a quota keeps open slots. Each unfilled slot is put down to the first
//! of these that explains it, and every claim is checkable:
//!
//! 1. `no_candidates`: the quota has fewer eligible candidates than slots
//!    (counting only candidates within every applicable price cap).
//! 2. `no_eligible_volunteer`: candidates exist, but for these slots no
//!    volunteer may take any of the remaining ones at all (category,
//!    platform, spending cap, used shops, forbidden pairs).
//! 3. `capacity`: candidates exist that some volunteer may take, yet every
//!    such volunteer is full or already holds a listing of that shop. True of
//!    every unassigned candidate counted here: otherwise giving it to such a
//!    volunteer would add a task, and the assignment has the most tasks.
//! 4. `nested_quota_full`: the remaining takeable candidates also count
//!    against another quota (the category-wide one, or their platform's) that
//!    is already full.
//!
//! With `R` the remaining slots, `f` the filled ones, `A` the eligible
//! candidates, `B` those some volunteer may take: `no_candidates = R -
//! min(R, A)`, `no_eligible_volunteer = min(R, A) - min(R, B)`, and the rest
//! `min(R, B) - f` goes to `capacity` as far as there are unassigned
//! takeable candidates whose other quota is not full, and to
//! `nested_quota_full` beyond that. The counts add up to `R - f`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::{index::Index, problem::Pair};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnfilledReason {
    NoCandidates,
    NoEligibleVolunteer,
    Capacity,
    NestedQuotaFull,
}

/// A count of unfilled slots put down to one reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReasonCount {
    pub reason: UnfilledReason,
    pub slots: u32,
}

/// A quota left with open slots.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unfilled {
    /// Index into [`crate::Problem::quotas`].
    pub quota: usize,
    pub remaining: u32,
    pub filled: u32,
    /// `remaining - filled`, the sum of `reasons`.
    pub unfilled: u32,
    /// Non-zero counts, in the order of [`UnfilledReason`].
    pub reasons: Vec<ReasonCount>,
}

pub(crate) fn unfilled(ix: &Index, pairs: &[Pair]) -> Vec<Unfilled> {
    let p = ix.p;
    let mut filled = vec![0u32; p.quotas.len()];
    let mut assigned = vec![false; p.candidates.len()];
    for pair in pairs {
        assigned[pair.candidate] = true;
        for q in ix.quotas_of(pair.candidate) {
            filled[q] += 1;
        }
    }
    let open: Vec<bool> = (0..p.quotas.len())
        .map(|q| filled[q] < p.quotas[q].remaining)
        .collect();
    if !open.iter().any(|&o| o) {
        return Vec::new();
    }
    // Every volunteer by (category, platform), highest cap first; capacity
    // plays no part here (a full volunteer is a capacity reason).
    let mut takers: HashMap<(u32, u32), Vec<(i64, u32)>> = HashMap::new();
    for v in 0..p.volunteers.len() {
        for &c in &ix.vol_cats[v] {
            for &pl in &ix.vol_plats[v] {
                takers
                    .entry((c, pl))
                    .or_default()
                    .push((p.volunteers[v].spending_cap, v as u32));
            }
        }
    }
    for list in takers.values_mut() {
        list.sort_unstable_by(|a, b| b.cmp(a));
    }
    let takeable = |i: usize| {
        let price = p.candidates[i].price;
        takers
            .get(&(ix.cand_cat[i], ix.cand_plat[i]))
            .is_some_and(|list| {
                list.iter()
                    .take_while(|&&(cap, _)| cap >= price)
                    .any(|&(_, v)| !ix.shop_used(i, v as usize) && !ix.is_forbidden(i, v as usize))
            })
    };

    #[derive(Default, Clone)]
    struct Counts {
        eligible: u32,
        takeable: u32,
        free_unblocked: u32,
    }
    let mut counts = vec![Counts::default(); p.quotas.len()];
    for i in 0..p.candidates.len() {
        if !ix.cand_in_quota[i] || !ix.quotas_of(i).any(|q| open[q]) {
            continue;
        }
        let can = takeable(i);
        let quotas: Vec<usize> = ix.quotas_of(i).collect();
        for &q in &quotas {
            let c = &mut counts[q];
            c.eligible += 1;
            if can {
                c.takeable += 1;
                let other_full = quotas
                    .iter()
                    .any(|&o| o != q && filled[o] >= p.quotas[o].remaining);
                if !assigned[i] && !other_full {
                    c.free_unblocked += 1;
                }
            }
        }
    }
    let mut out = Vec::new();
    for (q, quota) in p.quotas.iter().enumerate() {
        if !open[q] {
            continue;
        }
        let (r, f, c) = (quota.remaining, filled[q], &counts[q]);
        let with_candidates = r.min(c.eligible);
        let with_takers = r.min(c.takeable);
        let rest = with_takers.saturating_sub(f);
        let capacity = rest.min(c.free_unblocked);
        let reasons = [
            (UnfilledReason::NoCandidates, r - with_candidates),
            (
                UnfilledReason::NoEligibleVolunteer,
                with_candidates - with_takers,
            ),
            (UnfilledReason::Capacity, capacity),
            (UnfilledReason::NestedQuotaFull, rest - capacity),
        ]
        .into_iter()
        .filter(|&(_, slots)| slots > 0)
        .map(|(reason, slots)| ReasonCount { reason, slots })
        .collect();
        out.push(Unfilled {
            quota: q,
            remaining: r,
            filled: f,
            unfilled: r - f,
            reasons,
        });
    }
    out
}
