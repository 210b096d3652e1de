//! Checking and scoring any assignment, whoever made it: the engine, a
//! coordinator's hand, a test's brute force. `validate` states every hard
//! rule in its plainest form; `objective` is the measure the engine
//! optimises.

use std::{
    cmp::Ordering,
    collections::{HashMap, HashSet},
};

use serde::{Deserialize, Serialize};

use crate::{
    index::Index,
    problem::{Pair, Problem},
};

/// One broken rule. Candidates, volunteers, quotas and pairs are indices
/// into the problem's vectors and the checked list of pairs.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Violation {
    /// The problem itself is malformed (see [`crate::ProblemError`]), so
    /// no assignment can be valid.
    InvalidProblem {
        message: String,
    },
    /// Pair `pair` names a candidate or volunteer that does not exist.
    UnknownMember {
        pair: usize,
    },
    /// The candidate appears in more than one pair.
    CandidateAssignedTwice {
        candidate: usize,
    },
    /// No quota applies to the candidate's category and platform.
    OutsideQuotas {
        candidate: usize,
    },
    /// The candidate's price is above the price cap of a quota it counts
    /// against.
    OverQuotaPriceCap {
        candidate: usize,
        quota: usize,
    },
    CategoryNotTaken {
        candidate: usize,
        volunteer: usize,
    },
    PlatformNotHeld {
        candidate: usize,
        volunteer: usize,
    },
    OverSpendingCap {
        candidate: usize,
        volunteer: usize,
    },
    /// The volunteer already has a task in the candidate's shop.
    ShopAlreadyUsed {
        candidate: usize,
        volunteer: usize,
    },
    /// Two candidates of one shop went to one volunteer.
    SameShopTwice {
        volunteer: usize,
        candidates: [usize; 2],
    },
    Forbidden {
        candidate: usize,
        volunteer: usize,
    },
    OverCapacity {
        volunteer: usize,
        assigned: u32,
        free_capacity: u32,
    },
    QuotaExceeded {
        quota: usize,
        assigned: u32,
        remaining: u32,
    },
    ForcedPairMissing {
        candidate: usize,
        volunteer: usize,
    },
}

/// Every way `pairs` breaks a hard rule of `problem`, including a forced
/// pair left out. Empty means the assignment may be committed.
pub fn validate(problem: &Problem, pairs: &[Pair]) -> Vec<Violation> {
    match Index::new(problem) {
        Ok(ix) => validate_with(&ix, pairs, true),
        Err(e) => vec![Violation::InvalidProblem {
            message: e.to_string(),
        }],
    }
}

pub(crate) fn validate_with(ix: &Index, pairs: &[Pair], require_forced: bool) -> Vec<Violation> {
    let p = ix.p;
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut per_volunteer = vec![0u32; p.volunteers.len()];
    let mut per_quota = vec![0u32; p.quotas.len()];
    let mut shop_holder: HashMap<(usize, u32), usize> = HashMap::new();
    for (k, pair) in pairs.iter().enumerate() {
        let (i, v) = (pair.candidate, pair.volunteer);
        if i >= p.candidates.len() || v >= p.volunteers.len() {
            out.push(Violation::UnknownMember { pair: k });
            continue;
        }
        if !seen.insert(i) {
            out.push(Violation::CandidateAssignedTwice { candidate: i });
        }
        let quotas: Vec<usize> = ix.quotas_of(i).collect();
        if quotas.is_empty() {
            out.push(Violation::OutsideQuotas { candidate: i });
        }
        for &q in &quotas {
            per_quota[q] += 1;
            if p.quotas[q]
                .price_cap
                .is_some_and(|cap| p.candidates[i].price > cap)
            {
                out.push(Violation::OverQuotaPriceCap {
                    candidate: i,
                    quota: q,
                });
            }
        }
        let (candidate, volunteer) = (i, v);
        if !ix.has_category(i, v) {
            out.push(Violation::CategoryNotTaken {
                candidate,
                volunteer,
            });
        }
        if !ix.has_platform(i, v) {
            out.push(Violation::PlatformNotHeld {
                candidate,
                volunteer,
            });
        }
        if !ix.affordable(i, v) {
            out.push(Violation::OverSpendingCap {
                candidate,
                volunteer,
            });
        }
        if ix.shop_used(i, v) {
            out.push(Violation::ShopAlreadyUsed {
                candidate,
                volunteer,
            });
        }
        if ix.is_forbidden(i, v) {
            out.push(Violation::Forbidden {
                candidate,
                volunteer,
            });
        }
        match shop_holder.get(&(v, ix.cand_shop[i])) {
            Some(&other) if other != i => out.push(Violation::SameShopTwice {
                volunteer: v,
                candidates: [other, i],
            }),
            Some(_) => {}
            None => {
                shop_holder.insert((v, ix.cand_shop[i]), i);
            }
        }
        per_volunteer[v] += 1;
    }
    for (v, &assigned) in per_volunteer.iter().enumerate() {
        let free_capacity = p.volunteers[v].free_capacity;
        if assigned > free_capacity {
            out.push(Violation::OverCapacity {
                volunteer: v,
                assigned,
                free_capacity,
            });
        }
    }
    for (q, &assigned) in per_quota.iter().enumerate() {
        let remaining = p.quotas[q].remaining;
        if assigned > remaining {
            out.push(Violation::QuotaExceeded {
                quota: q,
                assigned,
                remaining,
            });
        }
    }
    if require_forced {
        let given: HashSet<&Pair> = pairs.iter().collect();
        for f in &p.forced {
            if !given.contains(f) {
                out.push(Violation::ForcedPairMissing {
                    candidate: f.candidate,
                    volunteer: f.volunteer,
                });
            }
        }
    }
    out
}

/// The measure the engine optimises, in priority order: more `tasks`, then
/// more `risk`, then smaller `load_squares`.
///
/// `load_squares` is the sum over **all** volunteers of
/// `(current_load + new tasks)^2`. For a fixed number of tasks it is smallest
/// when loads are as even as possible: moving one task from a volunteer with
/// load `a` to one with load `b <= a - 2` lowers it by `2(a - b - 1) > 0`. So
/// among assignments with the same tasks and risk, nobody gets a second task
/// while a volunteer who could take it equally well has none.
///
/// `Ord` ranks by quality: `a > b` means `a` is the better assignment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Objective {
    pub tasks: u64,
    pub risk: u64,
    pub load_squares: u128,
}

impl Ord for Objective {
    fn cmp(&self, other: &Self) -> Ordering {
        self.tasks
            .cmp(&other.tasks)
            .then(self.risk.cmp(&other.risk))
            .then(other.load_squares.cmp(&self.load_squares))
    }
}

impl PartialOrd for Objective {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Scores `pairs` (valid or not; pairs naming nobody are skipped).
pub fn objective(problem: &Problem, pairs: &[Pair]) -> Objective {
    let mut load: Vec<u64> = problem
        .volunteers
        .iter()
        .map(|v| u64::from(v.current_load))
        .collect();
    let mut tasks = 0;
    let mut risk = 0;
    for pair in pairs {
        if let (Some(c), Some(l)) = (
            problem.candidates.get(pair.candidate),
            load.get_mut(pair.volunteer),
        ) {
            tasks += 1;
            risk += u64::from(c.risk);
            *l += 1;
        }
    }
    let load_squares = load.iter().map(|&l| u128::from(l) * u128::from(l)).sum();
    Objective {
        tasks,
        risk,
        load_squares,
    }
}
