//! Thousands of small random instances, each solved by brute force.

use campaign_assignment::{
    Assignment, Problem, ProblemError, UnfilledReason,
    reference::{certify, solve_explicit},
    solve, validate,
};
use proptest::{
    prelude::*,
    strategy::ValueTree,
    test_runner::{Config, TestRunner},
};

use crate::support::{SMALL, Shape, brute_force, may_take, problem, quotas_of, score};

/// Checks the unfilled-slot report against the rules directly: the counts
/// add up, and each reason is true of the assignment.
pub fn check_unfilled(p: &Problem, a: &Assignment) -> Result<(), TestCaseError> {
    let mut filled = vec![0u32; p.quotas.len()];
    let mut holder = vec![None; p.candidates.len()];
    let mut new = vec![0u32; p.volunteers.len()];
    for pair in &a.pairs {
        holder[pair.candidate] = Some(pair.volunteer);
        new[pair.volunteer] += 1;
        for q in quotas_of(p, pair.candidate).unwrap_or_default() {
            filled[q] += 1;
        }
    }
    prop_assert_eq!(&new, &a.new_tasks);
    let open: Vec<usize> = (0..p.quotas.len())
        .filter(|&q| filled[q] < p.quotas[q].remaining)
        .collect();
    prop_assert_eq!(
        a.unfilled.iter().map(|u| u.quota).collect::<Vec<_>>(),
        open.clone()
    );
    for u in &a.unfilled {
        let q = u.quota;
        let r = p.quotas[q].remaining;
        prop_assert_eq!(
            (u.remaining, u.filled, u.unfilled),
            (r, filled[q], r - filled[q])
        );
        prop_assert_eq!(u.reasons.iter().map(|c| c.slots).sum::<u32>(), u.unfilled);
        let count = |reason| {
            u.reasons
                .iter()
                .find(|c| c.reason == reason)
                .map_or(0, |c| c.slots)
        };
        let members: Vec<usize> = (0..p.candidates.len())
            .filter(|&i| quotas_of(p, i).is_some_and(|qs| qs.contains(&q)))
            .collect();
        let takeable: Vec<usize> = members
            .iter()
            .copied()
            .filter(|&i| (0..p.volunteers.len()).any(|v| may_take(p, i, v)))
            .collect();
        let (a_n, b_n) = (members.len() as u32, takeable.len() as u32);
        prop_assert_eq!(count(UnfilledReason::NoCandidates), r - r.min(a_n));
        prop_assert_eq!(
            count(UnfilledReason::NoEligibleVolunteer),
            r.min(a_n) - r.min(b_n)
        );
        // "capacity": at least that many unassigned takeable candidates
        // whose other quotas have room, and every volunteer who may take one
        // is full or holds a listing of its shop.
        let free: Vec<usize> = takeable
            .iter()
            .copied()
            .filter(|&i| holder[i].is_none())
            .filter(|&i| {
                quotas_of(p, i)
                    .unwrap_or_default()
                    .iter()
                    .all(|&o| o == q || filled[o] < p.quotas[o].remaining)
            })
            .collect();
        prop_assert!(count(UnfilledReason::Capacity) as usize <= free.len());
        for &i in &free {
            for v in 0..p.volunteers.len() {
                if may_take(p, i, v) {
                    let full = new[v] >= p.volunteers[v].free_capacity;
                    let same_shop = a.pairs.iter().any(|pair| {
                        pair.volunteer == v
                            && p.candidates[pair.candidate].shop == p.candidates[i].shop
                    });
                    prop_assert!(full || same_shop, "candidate {i} could go to {v}");
                }
            }
        }
        if count(UnfilledReason::NestedQuotaFull) > 0 {
            prop_assert!(p.quotas.iter().enumerate().any(|(o, quota)| o != q
                && quota.category == p.quotas[q].category
                && filled[o] >= quota.remaining));
        }
    }
    Ok(())
}

/// Solves `p` with the engine and checks it against brute force, the
/// explicit model, `validate` and the unfilled report. Returns the rounds
/// the engine needed.
pub fn check_against_brute_force(p: &Problem) -> Result<u32, TestCaseError> {
    let (best, samples) = brute_force(p);
    match solve(p) {
        Ok(a) => {
            prop_assert_eq!(validate(p, &a.pairs), vec![]);
            prop_assert_eq!(Some(a.objective), best);
            prop_assert_eq!(score(p, &a.pairs), a.objective);
            // Deterministic: no hash order (random per map) leaks into it.
            prop_assert_eq!(solve(p), Ok(a.clone()));
            let reference = solve_explicit(p).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(reference.1, a.objective);
            prop_assert_eq!(validate(p, &reference.0), vec![]);
            check_unfilled(p, &a)?;
            let proof = certify(p, &a.pairs).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(proof.valid && proof.optimal);
            // The certificate also tells suboptimal assignments apart.
            for sample in &samples {
                let mut sample = sample.clone();
                sample.sort_unstable();
                let proof = certify(p, &sample).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert!(proof.valid);
                prop_assert_eq!(proof.optimal, Some(score(p, &sample)) == best);
            }
            Ok(a.stats.rounds)
        }
        Err(ProblemError::ForcedPairs(broken)) => {
            prop_assert!(!broken.is_empty());
            prop_assert_eq!(best, None);
            Ok(0)
        }
        Err(e) => Err(TestCaseError::fail(e.to_string())),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn the_engine_matches_brute_force_on_small_instances(p in problem(SMALL)) {
        check_against_brute_force(&p)?;
    }
}

/// Few volunteers, few shops, several listings each: the relaxation often
/// hands one volunteer two listings of a shop, and the engine must refine.
const CROWDED_SHOPS: Shape = Shape {
    categories: 2,
    platforms: 2,
    shops: 2,
    candidates: (3, 7),
    volunteers: (1, 3),
    capacity: 3,
    risk: 6,
    quota_scale: 1,
    forbidden: 3,
};

#[test]
fn refinement_rounds_match_brute_force_on_instances_with_crowded_shops() {
    let mut runner = TestRunner::new(Config {
        rng_algorithm: proptest::test_runner::RngAlgorithm::ChaCha,
        ..Config::default()
    });
    let strategy = problem(CROWDED_SHOPS);
    let mut refined = 0;
    for case in 0..5000 {
        let p = strategy
            .new_tree(&mut runner)
            .expect("a strategy that never rejects")
            .current();
        match check_against_brute_force(&p) {
            Ok(rounds) if rounds > 1 => refined += 1,
            Ok(_) => {}
            Err(e) => panic!("case {case}: {e}\n{p:#?}"),
        }
    }
    // The point of this test is the fallback: make sure it ran, often.
    assert!(refined >= 500, "only {refined} instances needed refinement");
}
