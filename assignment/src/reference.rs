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

/// What [`certify`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Certificate {
    /// The pairs obey every rule (`validate` finds nothing).
    pub valid: bool,
    /// No assignment is better: the residual graph of the explicit model
    /// has no negative cycle.
    pub optimal: bool,
    /// Residual arcs looked at, for the benchmark's report.
    pub arcs_scanned: u64,
}

/// Proves or refutes that `pairs` is optimal, on the full explicit model
/// without building it.
///
/// `pairs` is a flow of the explicit model (source -> quotas -> candidate ->
/// (volunteer, shop) -> volunteer -> sink -> source, costs as in the crate
/// documentation). A circulation is of minimum cost exactly when its
/// residual graph has no cycle of negative cost; with the lexicographic
/// costs that is "no assignment has more tasks, or as many and more risk,
/// or as many, as much risk and a smaller sum of squared loads". The search
/// is a Bellman-Ford with a queue from a virtual source, over residual arcs
/// enumerated on the fly (a (volunteer, shop) node holding candidate `j` is
/// passed through as an arc to `j`, a free one as an arc to the volunteer).
/// It shares the rules (`Index`) and the cost type with the engine, nothing
/// of its models.
pub fn certify(problem: &Problem, pairs: &[Pair]) -> Result<Certificate, ProblemError> {
    check_limits(problem)?;
    let ix = Index::new(problem)?;
    let broken = validate_with(&ix, &problem.forced, false);
    if !broken.is_empty() {
        return Err(ProblemError::ForcedPairs(broken));
    }
    if !validate_with(&ix, pairs, true).is_empty() {
        return Ok(Certificate {
            valid: false,
            optimal: false,
            arcs_scanned: 0,
        });
    }
    let p = problem;
    let (nq, nc, nv) = (p.quotas.len(), p.candidates.len(), p.volunteers.len());
    let mut rem: Vec<i64> = p.quotas.iter().map(|q| i64::from(q.remaining)).collect();
    let mut cap: Vec<i64> = p
        .volunteers
        .iter()
        .map(|v| i64::from(v.free_capacity))
        .collect();
    let mut load: Vec<i64> = p
        .volunteers
        .iter()
        .map(|v| i64::from(v.current_load))
        .collect();
    let mut forced = vec![false; nc];
    let mut closed: HashMap<(usize, u32), ()> = HashMap::new();
    for f in &p.forced {
        for q in ix.quotas_of(f.candidate) {
            rem[q] -= 1;
        }
        cap[f.volunteer] -= 1;
        load[f.volunteer] += 1;
        forced[f.candidate] = true;
        closed.insert((f.volunteer, ix.cand_shop[f.candidate]), ());
    }
    // The flow: the pairs that are not forced.
    let mut holder = vec![usize::MAX; nc];
    let mut used = vec![0i64; nq];
    let mut new = vec![0i64; nv];
    let mut held: Vec<Vec<usize>> = vec![Vec::new(); nv];
    let mut at_shop: HashMap<(usize, u32), usize> = HashMap::new();
    for pair in pairs.iter().filter(|pair| !forced[pair.candidate]) {
        let (i, v) = (pair.candidate, pair.volunteer);
        holder[i] = v;
        for q in ix.quotas_of(i) {
            used[q] += 1;
        }
        new[v] += 1;
        held[v].push(i);
        at_shop.insert((v, ix.cand_shop[i]), i);
    }
    let total: i64 = new.iter().sum();

    // Nodes: source, sink, quotas, candidates, volunteers.
    let (s, t) = (0usize, 1usize);
    let quota = |q: usize| 2 + q;
    let cand = |i: usize| 2 + nq + i;
    let vol = |v: usize| 2 + nq + nc + v;
    let n = 2 + nq + nc + nv;
    let entry = |i: usize| {
        ix.cand_narrow[i]
            .or(ix.cand_wide[i])
            .map(|q| quota(q as usize))
    };
    let parent = |q: usize| match p.quotas[q].platform {
        Some(_) => (0..nq)
            .find(|&w| {
                p.quotas[w].platform.is_none() && p.quotas[w].category == p.quotas[q].category
            })
            .map_or(s, quota),
        None => s,
    };
    let parents: Vec<usize> = (0..nq).map(parent).collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
    for q in 0..nq {
        children[parents[q]].push(q);
    }
    let candidates: Vec<bool> = (0..nc).map(|i| !forced[i] && ix.cand_in_quota[i]).collect();
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); n];
    for i in (0..nc).filter(|&i| candidates[i]) {
        if let Some(e) = entry(i) {
            members[e].push(i);
        }
    }
    let mut takers: HashMap<(u32, u32), Vec<(i64, usize)>> = HashMap::new();
    for v in (0..nv).filter(|&v| cap[v] > 0) {
        for &c in &ix.vol_cats[v] {
            for &pl in &ix.vol_plats[v] {
                takers
                    .entry((c, pl))
                    .or_default()
                    .push((p.volunteers[v].spending_cap, v));
            }
        }
    }
    for list in takers.values_mut() {
        list.sort_unstable_by(|a, b| b.cmp(a));
    }
    let marginal = |v: usize, k: i64| Cost::new(0, 0, 2 * (load[v] + k) - 1);

    let mut arcs_scanned = 0u64;
    let mut out: Vec<(usize, Cost)> = Vec::new();
    let mut dist = vec![Cost::ZERO; n];
    let mut length = vec![0usize; n];
    let mut queued = vec![true; n];
    let mut queue: std::collections::VecDeque<usize> = (0..n).collect();
    while let Some(u) = queue.pop_front() {
        queued[u] = false;
        out.clear();
        if u == s {
            for &q in &children[s] {
                if used[q] < rem[q] {
                    out.push((quota(q), Cost::ZERO));
                }
            }
            if total > 0 {
                out.push((t, Cost::ZERO));
            }
        } else if u == t {
            out.push((s, Cost::ZERO));
            for v in 0..nv {
                if new[v] > 0 {
                    out.push((vol(v), -marginal(v, new[v])));
                }
            }
        } else if u < 2 + nq {
            let q = u - 2;
            if used[q] > 0 {
                out.push((parents[q], Cost::ZERO));
            }
            for &c in &children[u] {
                if used[c] < rem[c] {
                    out.push((quota(c), Cost::ZERO));
                }
            }
            for &i in &members[u] {
                if holder[i] == usize::MAX {
                    let risk = i64::from(p.candidates[i].risk);
                    out.push((cand(i), Cost::new(-1, -risk, 0)));
                }
            }
        } else if u < 2 + nq + nc {
            let i = u - 2 - nq;
            if candidates[i] {
                if holder[i] != usize::MAX {
                    let risk = i64::from(p.candidates[i].risk);
                    if let Some(e) = entry(i) {
                        out.push((e, Cost::new(1, risk, 0)));
                    }
                }
                let shop = ix.cand_shop[i];
                let price = p.candidates[i].price;
                if let Some(list) = takers.get(&(ix.cand_cat[i], ix.cand_plat[i])) {
                    for &(_, v) in list.iter().take_while(|&&(c, _)| c >= price) {
                        if v == holder[i] || !ix.may_take(i, v) || closed.contains_key(&(v, shop)) {
                            continue;
                        }
                        match at_shop.get(&(v, shop)) {
                            Some(&j) => out.push((cand(j), Cost::ZERO)),
                            None => out.push((vol(v), Cost::ZERO)),
                        }
                    }
                }
            }
        } else {
            let v = u - 2 - nq - nc;
            for &j in &held[v] {
                out.push((cand(j), Cost::ZERO));
            }
            if new[v] < cap[v] {
                out.push((t, marginal(v, new[v] + 1)));
            }
        }
        arcs_scanned += out.len() as u64;
        let du = dist[u];
        for &(w, c) in &out {
            if du + c < dist[w] {
                dist[w] = du + c;
                length[w] = length[u] + 1;
                if length[w] >= n {
                    // A shortest "path" with n arcs repeats a node: there is
                    // a negative cycle, so the assignment can be improved.
                    return Ok(Certificate {
                        valid: true,
                        optimal: false,
                        arcs_scanned,
                    });
                }
                if !queued[w] {
                    queued[w] = true;
                    queue.push_back(w);
                }
            }
        }
    }
    Ok(Certificate {
        valid: true,
        optimal: true,
        arcs_scanned,
    })
}
