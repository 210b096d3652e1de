//! The reference solver: the full explicit model, solved in one go. Every
//! allowed (candidate, volunteer) pair is its own arc, and every volunteer
//! has a (volunteer, shop) node of capacity 1 for each shop with several
//! candidates; no relaxation, no chains, no repair. Exact and simple, but
//! its size is the product of candidates and volunteers: it exists to check
//! the engine (tests and the benchmark), not to serve coordinators.

use std::collections::HashMap;

use crate::{
    check::{Objective, objective, validate_with},
    flow::{Cost, Network},
    index::{Index, check_limits},
    problem::{Pair, Problem, ProblemError},
};

/// An optimal assignment by the explicit model, forced pairs included, and
/// its objective. Same contract as [`crate::solve`], far slower.
pub fn solve_explicit(problem: &Problem) -> Result<(Vec<Pair>, Objective), ProblemError> {
    check_limits(problem)?;
    let ix = Index::new(problem)?;
    let broken = validate_with(&ix, &problem.forced, false);
    if !broken.is_empty() {
        return Err(ProblemError::ForcedPairs(broken));
    }
    let p = problem;
    // What the forced pairs leave.
    let mut remaining: Vec<i64> = p.quotas.iter().map(|q| i64::from(q.remaining)).collect();
    let mut capacity: Vec<i64> = p
        .volunteers
        .iter()
        .map(|v| i64::from(v.free_capacity))
        .collect();
    let mut load: Vec<i64> = p
        .volunteers
        .iter()
        .map(|v| i64::from(v.current_load))
        .collect();
    let mut forced = vec![false; p.candidates.len()];
    let mut closed: HashMap<(usize, u32), ()> = HashMap::new();
    for f in &p.forced {
        for q in ix.quotas_of(f.candidate) {
            remaining[q] -= 1;
        }
        capacity[f.volunteer] -= 1;
        load[f.volunteer] += 1;
        forced[f.candidate] = true;
        closed.insert((f.volunteer, ix.cand_shop[f.candidate]), ());
    }

    let mut net = Network::new();
    let s = net.add_node();
    let t = net.add_node();
    let mut quota_node: HashMap<usize, u32> = HashMap::new();
    for (q, quota) in p.quotas.iter().enumerate() {
        if quota.platform.is_none() {
            let node = net.add_node();
            net.add_arc(s, node, remaining[q], Cost::ZERO);
            quota_node.insert(q, node);
        }
    }
    let candidates: Vec<usize> = (0..p.candidates.len())
        .filter(|&i| !forced[i] && ix.cand_in_quota[i])
        .collect();
    let mut shop_size: HashMap<u32, usize> = HashMap::new();
    for &i in &candidates {
        *shop_size.entry(ix.cand_shop[i]).or_default() += 1;
    }
    let vol_node: Vec<u32> = (0..p.volunteers.len()).map(|_| net.add_node()).collect();
    for v in 0..p.volunteers.len() {
        let units = capacity[v].clamp(0, candidates.len() as i64);
        for k in 1..=units {
            net.add_arc(vol_node[v], t, 1, Cost::new(0, 0, 2 * (load[v] + k) - 1));
        }
    }
    let mut shop_node: HashMap<(usize, u32), u32> = HashMap::new();
    let mut pair_arcs: Vec<(usize, usize, u32)> = Vec::new();
    for &i in &candidates {
        let entry = match (ix.cand_narrow[i], ix.cand_wide[i]) {
            (Some(q), wide) => {
                let from = wide.map_or(s, |w| quota_node[&(w as usize)]);
                *quota_node.entry(q as usize).or_insert_with(|| {
                    let node = net.add_node();
                    net.add_arc(from, node, remaining[q as usize], Cost::ZERO);
                    node
                })
            }
            (None, Some(w)) => quota_node[&(w as usize)],
            (None, None) => continue,
        };
        let node = net.add_node();
        let risk = i64::from(p.candidates[i].risk);
        net.add_arc(entry, node, 1, Cost::new(-1, -risk, 0));
        let shop = ix.cand_shop[i];
        for v in 0..p.volunteers.len() {
            if capacity[v] <= 0 || !ix.may_take(i, v) || closed.contains_key(&(v, shop)) {
                continue;
            }
            let to = if shop_size[&shop] > 1 {
                *shop_node.entry((v, shop)).or_insert_with(|| {
                    let n = net.add_node();
                    net.add_arc(n, vol_node[v], 1, Cost::ZERO);
                    n
                })
            } else {
                vol_node[v]
            };
            pair_arcs.push((i, v, net.add_arc(node, to, 1, Cost::ZERO)));
        }
    }
    net.add_arc(t, s, candidates.len().max(1) as i64, Cost::ZERO);
    let flow = net.min_cost_circulation().flow;
    let mut pairs: Vec<Pair> = pair_arcs
        .iter()
        .filter(|&&(_, _, arc)| flow[arc as usize] > 0)
        .map(|&(i, v, _)| Pair::new(i, v))
        .collect();
    pairs.extend(p.forced.iter().copied());
    pairs.sort_unstable();
    let score = objective(p, &pairs);
    Ok((pairs, score))
}
