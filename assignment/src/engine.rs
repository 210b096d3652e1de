//! The exact engine: relax the shop rule, solve the relaxation as a small
//! min-cost flow, turn its answer into a real assignment; where that is
//! impossible, put the offending shops back into the model exactly and
//! solve again. See the crate documentation for the argument why the result
//! is optimal.
//!
//! Never: read a clock, do IO, use floats in the objective, or return an
//! assignment `validate` would reject.

use std::collections::{HashMap, HashSet, VecDeque};

use serde::{Deserialize, Serialize};

use crate::{
    check::{Objective, objective, validate_with},
    explain::{self, Unfilled},
    flow::{Cost, Network},
    index::{Index, check_limits},
    problem::{Pair, Problem, ProblemError},
};

const NONE: u32 = u32::MAX;

/// The engine's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// Who gets what, forced pairs included, sorted by candidate.
    pub pairs: Vec<Pair>,
    /// The score of `pairs`; no valid assignment scores better.
    pub objective: Objective,
    /// New tasks per volunteer (forced ones included), indexed like
    /// [`Problem::volunteers`]. Their load afterwards is
    /// `current_load + new_tasks[v]`.
    pub new_tasks: Vec<u32>,
    /// Every quota left with open slots, and why.
    pub unfilled: Vec<Unfilled>,
    pub stats: Stats,
}

/// How the engine got there (for benchmarks, tests and logs).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Models solved: 1 when the first relaxation could be realised.
    pub rounds: u32,
    /// Shops the last model kept exactly (its shop rule, used shops and
    /// forbidden pairs); all the others were relaxed.
    pub exact_shops: u32,
    /// Tentative placements that broke a shop rule and were moved by an
    /// augmenting path without changing the objective.
    pub repaired: u32,
    /// Size of the last model.
    pub nodes: usize,
    pub arcs: usize,
    /// Simplex pivots, all rounds together.
    pub pivots: u64,
}

/// Finds an optimal assignment: the most tasks; among those the most total
/// risk; among those the smallest sum of squared loads (see [`Objective`]).
/// Forced pairs are part of it; forbidden pairs are not.
pub fn solve(problem: &Problem) -> Result<Assignment, ProblemError> {
    check_limits(problem)?;
    let ix = Index::new(problem)?;
    let broken = validate_with(&ix, &problem.forced, false);
    if !broken.is_empty() {
        return Err(ProblemError::ForcedPairs(broken));
    }
    let residual = Residual::new(&ix);
    let (mut pairs, stats) = Engine::new(&ix, &residual).run();
    pairs.extend(problem.forced.iter().copied());
    pairs.sort_unstable();
    let mut new_tasks = vec![0u32; problem.volunteers.len()];
    for pair in &pairs {
        new_tasks[pair.volunteer] += 1;
    }
    debug_assert_eq!(validate_with(&ix, &pairs, true), vec![]);
    Ok(Assignment {
        objective: objective(problem, &pairs),
        unfilled: explain::unfilled(&ix, &pairs),
        pairs,
        new_tasks,
        stats,
    })
}

/// The problem left once the forced pairs are in place. The objective of
/// "forced pairs + an assignment of the rest" is the objective of the rest
/// with loads `current_load + forced`, plus constants, so optimising the rest
/// optimises the whole.
pub(crate) struct Residual {
    pub remaining: Vec<u32>,
    pub capacity: Vec<u32>,
    pub load: Vec<u32>,
    /// (volunteer, shop) of the forced pairs: like used shops.
    pub forced_shops: HashSet<(u32, u32)>,
    /// Candidates still to place: not forced, within the quota rules, every
    /// applicable quota with a slot left.
    pub active: Vec<bool>,
}

impl Residual {
    pub fn new(ix: &Index) -> Self {
        let p = ix.p;
        let mut remaining: Vec<u32> = p.quotas.iter().map(|q| q.remaining).collect();
        let mut capacity: Vec<u32> = p.volunteers.iter().map(|v| v.free_capacity).collect();
        let mut load: Vec<u32> = p.volunteers.iter().map(|v| v.current_load).collect();
        let mut forced_shops = HashSet::new();
        let mut taken = vec![false; p.candidates.len()];
        for f in &p.forced {
            for q in ix.quotas_of(f.candidate) {
                remaining[q] = remaining[q].saturating_sub(1);
            }
            capacity[f.volunteer] = capacity[f.volunteer].saturating_sub(1);
            load[f.volunteer] += 1;
            forced_shops.insert((f.volunteer as u32, ix.cand_shop[f.candidate]));
            taken[f.candidate] = true;
        }
        let active = (0..p.candidates.len())
            .map(|i| !taken[i] && ix.cand_in_quota[i] && ix.quotas_of(i).all(|q| remaining[q] > 0))
            .collect();
        Self {
            remaining,
            capacity,
            load,
            forced_shops,
            active,
        }
    }

    fn shop_closed(&self, ix: &Index, v: usize, shop: u32) -> bool {
        ix.vol_used[v].binary_search(&shop).is_ok() || self.forced_shops.contains(&(v as u32, shop))
    }

    /// `Index::may_take`, with the forced tasks' shops closed too.
    fn may_take(&self, ix: &Index, i: usize, v: usize) -> bool {
        ix.may_take(i, v) && !self.forced_shops.contains(&(v as u32, ix.cand_shop[i]))
    }
}

/// A class: the candidates of one (category, platform) and the volunteers
/// who could buy there (category, platform, free capacity), by spending cap.
struct Class {
    cands: Vec<u32>,
    /// (spending cap, volunteer), ascending.
    vols: Vec<(i64, u32)>,
}

/// One chain of spending-cap levels. Volunteers are sorted by cap; a
/// candidate enters at the position of the first volunteer who can afford
/// it; there is a level per distinct entry position, flow only climbs, and a
/// volunteer (or a (volunteer, shop) node) hangs at the highest level at or
/// below its own position. So a candidate reaches exactly the volunteers who
/// can afford it, over O(candidates + volunteers) arcs instead of their
/// product, and a class whose listings everybody can afford is one level.
struct Chain {
    /// (level, candidate, arc from the quota node).
    entries: Vec<(u32, u32, u32)>,
    /// (level, volunteer, arc to the volunteer or its shop node).
    attach: Vec<(u32, u32, u32)>,
    /// A chain of one exactly modelled shop: its attachments go through
    /// (volunteer, shop) nodes of capacity 1.
    exact: bool,
}

struct Model {
    net: Network,
    chains: Vec<Chain>,
    /// Candidates of exact shops with forbidden pairs, arc by arc:
    /// (candidate, volunteer, arc from the candidate's node).
    explicit: Vec<(u32, u32, u32)>,
    /// (volunteer, first arc to the sink, count): the load pieces.
    sinks: Vec<(u32, u32, u32)>,
}

struct Engine<'a, 'p> {
    ix: &'a Index<'p>,
    res: &'a Residual,
    classes: Vec<Class>,
    class_of: Vec<u32>,
}

impl<'a, 'p> Engine<'a, 'p> {
    fn new(ix: &'a Index<'p>, res: &'a Residual) -> Self {
        let mut key_class: HashMap<(u32, u32), u32> = HashMap::new();
        let mut classes: Vec<Class> = Vec::new();
        let mut class_of = vec![NONE; ix.p.candidates.len()];
        for i in 0..ix.p.candidates.len() {
            if !res.active[i] {
                continue;
            }
            let k = *key_class
                .entry((ix.cand_cat[i], ix.cand_plat[i]))
                .or_insert_with(|| {
                    classes.push(Class {
                        cands: Vec::new(),
                        vols: Vec::new(),
                    });
                    (classes.len() - 1) as u32
                });
            classes[k as usize].cands.push(i as u32);
            class_of[i] = k;
        }
        for v in 0..ix.p.volunteers.len() {
            if res.capacity[v] == 0 {
                continue;
            }
            for &c in &ix.vol_cats[v] {
                for &p in &ix.vol_plats[v] {
                    if let Some(&k) = key_class.get(&(c, p)) {
                        classes[k as usize]
                            .vols
                            .push((ix.p.volunteers[v].spending_cap, v as u32));
                    }
                }
            }
        }
        for class in &mut classes {
            class.vols.sort_unstable();
        }
        Self {
            ix,
            res,
            classes,
            class_of,
        }
    }

    fn price(&self, i: u32) -> i64 {
        self.ix.p.candidates[i as usize].price
    }

    fn shop(&self, i: u32) -> u32 {
        self.ix.cand_shop[i as usize]
    }

    /// Solves relaxations until one can be realised. Returns the pairs (not
    /// the forced ones) and the statistics.
    fn run(&self) -> (Vec<Pair>, Stats) {
        let mut exact: HashSet<u32> = HashSet::new();
        let mut stats = Stats::default();
        loop {
            stats.rounds += 1;
            let model = self.build(&exact);
            stats.nodes = model.net.node_count();
            stats.arcs = model.net.arc_count();
            stats.exact_shops = exact.len() as u32;
            let chains = model.chains;
            let explicit = model.explicit;
            let sinks = model.sinks;
            let circulation = model.net.min_cost_circulation();
            stats.pivots += circulation.pivots;
            let flow = circulation.flow;
            let mut real = Realiser::new(self);
            for (v, first, count) in sinks {
                real.deficit[v as usize] = (first..first + count)
                    .map(|a| flow[a as usize] as u32)
                    .sum();
            }
            real.place_chains(&chains, &flow);
            for &(x, v, arc) in &explicit {
                if flow[arc as usize] > 0 {
                    real.place(x, v);
                }
            }
            let conflicts = real.unplaced.len() as u32;
            let stuck = real.repair();
            stats.repaired += conflicts - stuck.len() as u32;
            let placed = || {
                (0..real.holder.len())
                    .filter(|&i| real.holder[i] != NONE)
                    .map(|i| Pair::new(i, real.holder[i] as usize))
                    .collect()
            };
            if stuck.is_empty() {
                debug_assert!(real.deficit.iter().all(|&d| d == 0));
                return (placed(), stats);
            }
            let before = exact.len();
            exact.extend(stuck.iter().map(|&i| self.shop(i)));
            // A stuck candidate's shop is never exact already (exact shops
            // are placed without conflicts, and a failed search starts only
            // from a conflict), so every round adds a shop and the loop ends
            // at the latest when every shop is exact.
            debug_assert!(exact.len() > before, "a stuck candidate of an exact shop");
            if exact.len() == before {
                exact.extend(
                    (0..self.ix.p.candidates.len())
                        .filter(|&i| self.res.active[i])
                        .map(|i| self.ix.cand_shop[i]),
                );
                if exact.len() == before {
                    // Unreachable by the argument above; should it ever
                    // happen, answer with what is placed (valid, perhaps
                    // not optimal) rather than loop.
                    return (placed(), stats);
                }
            }
        }
    }

    /// The flow model with the shops in `exact` modelled exactly and every
    /// other shop's rule relaxed.
    ///
    /// source -> category quota -> platform quota -> (candidate arc, cost
    /// (-1, -risk, 0)) -> spending-cap chain of its class -> volunteer ->
    /// (k-th unit: cost (0, 0, 2(load + k) - 1)) -> sink -> source.
    ///
    /// An exact shop gets its own chains per class, hung on (volunteer,
    /// shop) nodes of capacity 1 that exist only where the volunteer has not
    /// used the shop; its candidates with forbidden pairs get one arc per
    /// allowed volunteer instead of a chain.
    fn build(&self, exact: &HashSet<u32>) -> Model {
        let (ix, res) = (self.ix, self.res);
        let p = ix.p;
        let mut net = Network::new();
        let s = net.add_node();
        let t = net.add_node();
        let active = res.active.iter().filter(|&&a| a).count() as i64;
        let big = active.max(1);
        let mut quota_node = vec![NONE; p.quotas.len()];
        let mut vol_node = vec![NONE; p.volunteers.len()];
        let mut shop_node: HashMap<(u32, u32), u32> = HashMap::new();
        let mut chains = Vec::new();
        let mut explicit = Vec::new();
        let mut sinks = Vec::new();
        let mut reach = vec![0u32; p.volunteers.len()];
        for class in &self.classes {
            for &(_, v) in &class.vols {
                reach[v as usize] = reach[v as usize].saturating_add(class.cands.len() as u32);
            }
        }

        let mut quota_entry = |net: &mut Network, i: usize| -> u32 {
            let mut node_of = |net: &mut Network, q: usize, from: u32| {
                if quota_node[q] == NONE {
                    quota_node[q] = net.add_node();
                    net.add_arc(from, quota_node[q], i64::from(res.remaining[q]), Cost::ZERO);
                }
                quota_node[q]
            };
            let wide = ix.cand_wide[i].map(|w| node_of(net, w as usize, s));
            match ix.cand_narrow[i] {
                Some(q) => node_of(net, q as usize, wide.unwrap_or(s)),
                None => wide.unwrap_or(s),
            }
        };
        let mut volunteer = |net: &mut Network, v: u32| -> u32 {
            let v = v as usize;
            if vol_node[v] == NONE {
                vol_node[v] = net.add_node();
                // More units than candidates it could ever reach would be
                // dead arcs.
                let units = res.capacity[v].min(reach[v]);
                let first = net.arc_count() as u32;
                for k in 1..=i64::from(units) {
                    let marginal = 2 * (i64::from(res.load[v]) + k) - 1;
                    net.add_arc(vol_node[v], t, 1, Cost::new(0, 0, marginal));
                }
                sinks.push((v as u32, first, units));
            }
            vol_node[v]
        };
        let cand_cost = |i: u32| Cost::new(-1, -i64::from(p.candidates[i as usize].risk), 0);

        for class in &self.classes {
            // Shared chain for the relaxed shops.
            let relaxed: Vec<u32> = class
                .cands
                .iter()
                .copied()
                .filter(|&i| !exact.contains(&self.shop(i)))
                .collect();
            if let Some(min_price) = relaxed.iter().map(|&i| self.price(i)).min() {
                let vols: Vec<(i64, u32)> = class
                    .vols
                    .iter()
                    .copied()
                    .filter(|&(cap, _)| cap >= min_price)
                    .collect();
                if let Some(chain) = self.chain(
                    &mut net,
                    &relaxed,
                    &vols,
                    &mut quota_entry,
                    &mut |net, v| (volunteer(net, v), big),
                    &cand_cost,
                    false,
                ) {
                    chains.push(chain);
                }
            }

            // One chain per exact shop.
            let mut by_shop: HashMap<u32, Vec<u32>> = HashMap::new();
            for &i in &class.cands {
                if exact.contains(&self.shop(i)) {
                    by_shop.entry(self.shop(i)).or_default().push(i);
                }
            }
            let mut shops: Vec<_> = by_shop.into_iter().collect();
            shops.sort_unstable();
            for (shop, cands) in shops {
                let Some(min_price) = cands.iter().map(|&i| self.price(i)).min() else {
                    continue;
                };
                let vols: Vec<(i64, u32)> = class
                    .vols
                    .iter()
                    .copied()
                    .filter(|&(cap, v)| cap >= min_price && !res.shop_closed(ix, v as usize, shop))
                    .collect();
                let mut shop_vol = |net: &mut Network, v: u32| -> u32 {
                    if let Some(&node) = shop_node.get(&(v, shop)) {
                        return node;
                    }
                    let node = net.add_node();
                    let to = volunteer(net, v);
                    net.add_arc(node, to, 1, Cost::ZERO);
                    shop_node.insert((v, shop), node);
                    node
                };
                let (plain, with_forbidden): (Vec<u32>, Vec<u32>) =
                    cands.iter().partition(|&&i| !ix.has_forbidden[i as usize]);
                if let Some(chain) = self.chain(
                    &mut net,
                    &plain,
                    &vols,
                    &mut quota_entry,
                    &mut |net, v| (shop_vol(net, v), 1),
                    &cand_cost,
                    true,
                ) {
                    chains.push(chain);
                }
                for x in with_forbidden {
                    let allowed: Vec<u32> = vols
                        .iter()
                        .filter(|&&(cap, v)| {
                            cap >= self.price(x) && !ix.is_forbidden(x as usize, v as usize)
                        })
                        .map(|&(_, v)| v)
                        .collect();
                    if allowed.is_empty() {
                        continue;
                    }
                    let node = net.add_node();
                    let from = quota_entry(&mut net, x as usize);
                    net.add_arc(from, node, 1, cand_cost(x));
                    for v in allowed {
                        let to = shop_vol(&mut net, v);
                        explicit.push((x, v, net.add_arc(node, to, 1, Cost::ZERO)));
                    }
                }
            }
        }
        net.add_arc(t, s, big, Cost::ZERO);
        Model {
            net,
            chains,
            explicit,
            sinks,
        }
    }

    /// Builds one spending-cap chain for `cands` over `vols` (ascending by
    /// cap); `hang` gives the node a volunteer hangs on and that arc's
    /// capacity.
    #[allow(clippy::too_many_arguments)]
    fn chain(
        &self,
        net: &mut Network,
        cands: &[u32],
        vols: &[(i64, u32)],
        quota_entry: &mut dyn FnMut(&mut Network, usize) -> u32,
        hang: &mut dyn FnMut(&mut Network, u32) -> (u32, i64),
        cand_cost: &dyn Fn(u32) -> Cost,
        exact: bool,
    ) -> Option<Chain> {
        if cands.is_empty() || vols.is_empty() {
            return None;
        }
        // Levels sit only where candidates enter: a candidate enters at the
        // first volunteer (by cap) who can afford it, so the distinct entry
        // positions are the levels, and a volunteer hangs at the highest
        // level at or below its own position. Volunteers below the first
        // level afford nothing here.
        let entry_of: Vec<Option<usize>> = cands
            .iter()
            .map(|&i| {
                let at = vols.partition_point(|&(cap, _)| cap < self.price(i));
                (at < vols.len()).then_some(at)
            })
            .collect();
        let mut levels: Vec<usize> = entry_of.iter().flatten().copied().collect();
        levels.sort_unstable();
        levels.dedup();
        if levels.is_empty() {
            return None;
        }
        let first = net.node_count() as u32;
        for _ in &levels {
            net.add_node();
        }
        let big = net_big(cands.len());
        for k in 1..levels.len() as u32 {
            net.add_arc(first + k - 1, first + k, big, Cost::ZERO);
        }
        let mut entries = Vec::with_capacity(cands.len());
        for (&i, at) in cands.iter().zip(&entry_of) {
            let Some(at) = at else {
                continue; // nobody in this class can afford it
            };
            let level = levels.partition_point(|&l| l < *at);
            let from = quota_entry(net, i as usize);
            let arc = net.add_arc(from, first + level as u32, 1, cand_cost(i));
            entries.push((level as u32, i, arc));
        }
        let mut attach = Vec::with_capacity(vols.len());
        for (j, &(_, v)) in vols.iter().enumerate().skip(levels[0]) {
            let level = (levels.partition_point(|&l| l <= j) - 1) as u32;
            let (to, cap) = hang(net, v);
            let arc = net.add_arc(first + level, to, cap, Cost::ZERO);
            attach.push((level, v, arc));
        }
        Some(Chain {
            entries,
            attach,
            exact,
        })
    }
}

fn net_big(n: usize) -> i64 {
    n.max(1) as i64
}

/// Turns a solved relaxation into a real assignment with exactly its
/// candidates and its per-volunteer loads, or reports the candidates it could
/// not place.
struct Realiser<'e, 'a, 'p> {
    engine: &'e Engine<'a, 'p>,
    holder: Vec<u32>,
    held: Vec<Vec<u32>>,
    /// Slots a volunteer must still receive to reach the relaxation's load.
    deficit: Vec<u32>,
    unplaced: Vec<u32>,
}

impl<'e, 'a, 'p> Realiser<'e, 'a, 'p> {
    fn new(engine: &'e Engine<'a, 'p>) -> Self {
        let p = engine.ix.p;
        Self {
            engine,
            holder: vec![NONE; p.candidates.len()],
            held: vec![Vec::new(); p.volunteers.len()],
            deficit: vec![0; p.volunteers.len()],
            unplaced: Vec::new(),
        }
    }

    fn holds_shop(&self, v: u32, shop: u32) -> Option<u32> {
        self.held[v as usize]
            .iter()
            .copied()
            .find(|&y| self.engine.shop(y) == shop)
    }

    fn fits(&self, i: u32, v: u32) -> bool {
        self.engine
            .res
            .may_take(self.engine.ix, i as usize, v as usize)
            && self.holds_shop(v, self.engine.shop(i)).is_none()
    }

    /// Gives `i` to `v` if that breaks no rule; otherwise leaves `i` for the
    /// repair. Either way `v`'s slot is counted.
    fn place(&mut self, i: u32, v: u32) {
        if self.fits(i, v) {
            self.held[v as usize].push(i);
            self.holder[i as usize] = v;
            self.deficit[v as usize] -= 1;
        } else {
            self.unplaced.push(i);
        }
    }

    /// Decomposes each chain's flow bottom-up: at each level the candidates
    /// that entered at or below it wait; a volunteer hanging there takes as
    /// many as its arc carries. Flow conservation on the chain arcs means
    /// enough are always waiting. Among them, one that breaks no shop rule
    /// is preferred.
    fn place_chains(&mut self, chains: &[Chain], flow: &[i64]) {
        let mut waiting: Vec<u32> = Vec::new();
        for chain in chains {
            let mut entries: Vec<(u32, u32)> = chain
                .entries
                .iter()
                .filter(|e| flow[e.2 as usize] > 0)
                .map(|e| (e.0, e.1))
                .collect();
            entries.sort_unstable();
            let mut attach: Vec<(u32, u32, i64)> = chain
                .attach
                .iter()
                .filter(|a| flow[a.2 as usize] > 0)
                .map(|a| (a.0, a.1, flow[a.2 as usize]))
                .collect();
            attach.sort_unstable();
            waiting.clear();
            let mut next = 0;
            for (level, v, units) in attach {
                while next < entries.len() && entries[next].0 <= level {
                    waiting.push(entries[next].1);
                    next += 1;
                }
                for _ in 0..units {
                    let pick = if chain.exact {
                        waiting.len().checked_sub(1)
                    } else {
                        let from = waiting.len().saturating_sub(32);
                        (from..waiting.len())
                            .rev()
                            .find(|&k| self.fits(waiting[k], v))
                            .or(waiting.len().checked_sub(1))
                    };
                    let Some(k) = pick else {
                        debug_assert!(false, "a chain's flow is not conserved");
                        break;
                    };
                    let i = waiting.swap_remove(k);
                    self.place(i, v);
                }
            }
            debug_assert!(waiting.is_empty() && next == entries.len());
        }
    }

    /// Places every unplaced candidate by an augmenting path, if it can:
    /// the search is a max-flow search in the graph candidate -> (volunteer,
    /// shop) [capacity 1] -> volunteer [its deficit], restricted to the
    /// relaxation's chosen candidates and loaded volunteers. A path moves
    /// candidates between volunteers; it never changes who is chosen or any
    /// load, so the objective stays the relaxation's. Returns the candidates
    /// it could not place: then no assignment with these candidates and
    /// loads exists (max-flow = min-cut), and the caller refines the model.
    fn repair(&mut self) -> Vec<u32> {
        let e = self.engine;
        let (ix, p) = (e.ix, e.ix.p);
        if self.unplaced.is_empty() {
            return Vec::new();
        }
        // Loaded volunteers by class, ascending by cap.
        let mut loaded_by_class: Vec<Vec<(i64, u32)>> = Vec::with_capacity(e.classes.len());
        for class in &e.classes {
            loaded_by_class.push(
                class
                    .vols
                    .iter()
                    .copied()
                    .filter(|&(_, v)| {
                        !self.held[v as usize].is_empty() || self.deficit[v as usize] > 0
                    })
                    .collect(),
            );
        }
        let n = p.candidates.len();
        let mut dead_c = vec![false; n];
        let mut dead_v = vec![false; p.volunteers.len()];
        let mut seen_c = vec![0u32; n];
        let mut seen_v = vec![0u32; p.volunteers.len()];
        let mut from = vec![(NONE, NONE); n];
        let mut stamp = 0;
        let mut stuck = Vec::new();
        let mut queue = VecDeque::new();
        let (mut touched_c, mut touched_v) = (Vec::new(), Vec::new());
        for x0 in std::mem::take(&mut self.unplaced) {
            stamp += 1;
            queue.clear();
            touched_c.clear();
            touched_v.clear();
            queue.push_back(x0);
            seen_c[x0 as usize] = stamp;
            touched_c.push(x0);
            let mut found = None;
            'search: while let Some(x) = queue.pop_front() {
                let loaded = &loaded_by_class[e.class_of[x as usize] as usize];
                let start = loaded.partition_point(|&(cap, _)| cap < e.price(x));
                for &(_, v) in &loaded[start..] {
                    if v == self.holder[x as usize] || !e.res.may_take(ix, x as usize, v as usize) {
                        continue;
                    }
                    if let Some(y) = self.holds_shop(v, e.shop(x)) {
                        // x takes y's place in (v, shop); y moves on.
                        if seen_c[y as usize] != stamp && !dead_c[y as usize] {
                            seen_c[y as usize] = stamp;
                            touched_c.push(y);
                            from[y as usize] = (x, v);
                            queue.push_back(y);
                        }
                        continue;
                    }
                    if seen_v[v as usize] == stamp || dead_v[v as usize] {
                        continue;
                    }
                    seen_v[v as usize] = stamp;
                    touched_v.push(v);
                    if self.deficit[v as usize] > 0 {
                        found = Some((x, v));
                        break 'search;
                    }
                    // x takes one of v's slots; whoever held it moves on.
                    for k in 0..self.held[v as usize].len() {
                        let y = self.held[v as usize][k];
                        if seen_c[y as usize] != stamp && !dead_c[y as usize] {
                            seen_c[y as usize] = stamp;
                            touched_c.push(y);
                            from[y as usize] = (x, v);
                            queue.push_back(y);
                        }
                    }
                }
            }
            match found {
                Some((x, v)) => {
                    self.deficit[v as usize] -= 1;
                    self.move_to(x, v);
                    let mut cur = x;
                    while cur != x0 {
                        let (prev, v) = from[cur as usize];
                        self.move_to(prev, v);
                        cur = prev;
                    }
                }
                None => {
                    // Nothing this search reached can reach a free slot, and
                    // augmenting elsewhere only adds arcs among the nodes of
                    // that path, which these cannot reach: skip them for good.
                    for &i in &touched_c {
                        dead_c[i as usize] = true;
                    }
                    for &v in &touched_v {
                        dead_v[v as usize] = true;
                    }
                    stuck.push(x0);
                }
            }
        }
        stuck
    }

    /// Moves `i` (wherever it is) to `v`.
    fn move_to(&mut self, i: u32, v: u32) {
        let old = self.holder[i as usize];
        if old != NONE {
            let list = &mut self.held[old as usize];
            if let Some(k) = list.iter().position(|&y| y == i) {
                list.swap_remove(k);
            }
        }
        self.held[v as usize].push(i);
        self.holder[i as usize] = v;
    }
}
