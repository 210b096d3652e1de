//! Minimum-cost circulation by the primal network simplex method, with
//! lexicographic integer costs. The engine's models and the explicit
//! reference model are both solved here. No floats anywhere: a cost is a
//! triple of integers compared lexicographically, so "first the number of
//! tasks, then risk, then evenness" is exact by construction rather than by
//! a weighting that might overflow or round.
//!
//! Why the network simplex: the engine's models have tens of thousands of
//! nodes and about a hundred thousand arcs, and successive shortest paths
//! would need one shortest-path search per task (every candidate has its own
//! risk, so paths rarely share a length). The simplex pivots on a spanning
//! tree instead and, in practice, touches a small part of it per pivot.
//!
//! The implementation follows the textbook primal network simplex (Ahuja,
//! Magnanti and Orlin, *Network Flows*, ch. 11; Király and Kovács, "Efficient
//! implementations of minimum-cost flow algorithms", 2012): an artificial
//! root joined to every node, a strongly feasible spanning tree (which rules
//! out cycling on degenerate pivots), block search for the entering arc. The
//! tree is kept as parent pointers, subtree sizes and child lists; a pivot
//! re-hangs one subtree and shifts the potentials of the smaller side.
//!
//! Exactness: the simplex only adds, subtracts and compares costs. Integer
//! triples under lexicographic order form a totally ordered abelian group, so
//! every step of the method (reduced costs, potentials, the optimality test
//! "no arc with a negative reduced cost") means what it means for plain
//! integers. A circulation whose non-tree arcs all have non-negative reduced
//! cost (at their lower bound) or non-positive (at their upper bound) is
//! optimal: the potentials are a dual certificate.

use std::ops::{Add, AddAssign, Neg, Sub};

/// A cost: `tasks`, then `risk`, then `even`, compared in that order (the
/// derived `Ord` compares fields in declaration order).
///
/// Bounds: potentials are sums of arc costs along simple tree paths, so each
/// component stays below the sum of its absolute arc costs; the caller keeps
/// those sums far below `i64::MAX` (see `Index::new`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Cost {
    pub tasks: i64,
    pub risk: i64,
    pub even: i64,
}

impl Cost {
    pub const ZERO: Cost = Cost {
        tasks: 0,
        risk: 0,
        even: 0,
    };

    pub const fn new(tasks: i64, risk: i64, even: i64) -> Self {
        Self { tasks, risk, even }
    }

    /// `self` times a flow amount (a non-negative integer).
    #[cfg(test)]
    pub fn times(self, k: i64) -> Self {
        Self::new(self.tasks * k, self.risk * k, self.even * k)
    }
}

impl Add for Cost {
    type Output = Cost;
    #[inline]
    fn add(self, o: Cost) -> Cost {
        Cost::new(self.tasks + o.tasks, self.risk + o.risk, self.even + o.even)
    }
}

impl Sub for Cost {
    type Output = Cost;
    #[inline]
    fn sub(self, o: Cost) -> Cost {
        Cost::new(self.tasks - o.tasks, self.risk - o.risk, self.even - o.even)
    }
}

impl Neg for Cost {
    type Output = Cost;
    #[inline]
    fn neg(self) -> Cost {
        Cost::new(-self.tasks, -self.risk, -self.even)
    }
}

impl AddAssign for Cost {
    #[inline]
    fn add_assign(&mut self, o: Cost) {
        *self = *self + o;
    }
}

const NONE: u32 = u32::MAX;
/// Arc states: a non-tree arc sits at its lower bound (flow 0) or at its
/// capacity; tree arcs may hold anything in between.
const LOWER: i8 = 1;
const TREE: i8 = 0;
const UPPER: i8 = -1;
/// The tree arc above a node points from the node to its parent (`UP`) or
/// from the parent to the node (`DOWN`).
const UP: i8 = 1;
const DOWN: i8 = -1;

/// A network: nodes `0..n`, arcs with a capacity (lower bounds are all 0)
/// and a cost. [`Network::min_cost_circulation`] finds a circulation (flow
/// conserved at every node) of minimum total cost.
#[derive(Debug, Default)]
pub(crate) struct Network {
    nodes: u32,
    src: Vec<u32>,
    dst: Vec<u32>,
    cap: Vec<i64>,
    cost: Vec<Cost>,
}

/// What the simplex found: the flow on every arc (by the id `add_arc`
/// returned) and how many pivots it took.
#[derive(Debug)]
pub(crate) struct Circulation {
    pub flow: Vec<i64>,
    pub pivots: u64,
}

impl Network {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add_node(&mut self) -> u32 {
        self.nodes += 1;
        self.nodes - 1
    }

    pub fn node_count(&self) -> usize {
        self.nodes as usize
    }

    pub fn arc_count(&self) -> usize {
        self.src.len()
    }

    /// Adds the arc `from -> to`; returns its id. `cap` must be >= 0.
    pub fn add_arc(&mut self, from: u32, to: u32, cap: i64, cost: Cost) -> u32 {
        debug_assert!(from < self.nodes && to < self.nodes && cap >= 0);
        self.src.push(from);
        self.dst.push(to);
        self.cap.push(cap);
        self.cost.push(cost);
        (self.src.len() - 1) as u32
    }

    /// Solves for a minimum-cost circulation. Every capacity is finite, so a
    /// minimum exists (the zero flow is feasible).
    pub fn min_cost_circulation(self) -> Circulation {
        Simplex::new(self).run()
    }
}

struct Simplex {
    /// Real arcs `0..m`, then one artificial arc per node `node -> root`.
    m: usize,
    src: Vec<u32>,
    dst: Vec<u32>,
    cap: Vec<i64>,
    cost: Vec<Cost>,
    flow: Vec<i64>,
    state: Vec<i8>,
    /// Node arrays, the artificial root last.
    parent: Vec<u32>,
    pred: Vec<u32>,
    dir: Vec<i8>,
    /// Nodes in the subtree of each node, itself included.
    size: Vec<u32>,
    first_child: Vec<u32>,
    next_sib: Vec<u32>,
    prev_sib: Vec<u32>,
    pi: Vec<Cost>,
    /// Block search state.
    block: usize,
    next_arc: usize,
    stem: Vec<u32>,
}

impl Simplex {
    fn new(net: Network) -> Self {
        let n = net.nodes as usize;
        let m = net.src.len();
        let root = n as u32;
        let mut src = net.src;
        let mut dst = net.dst;
        let mut cap = net.cap;
        let mut cost = net.cost;
        // Artificial arcs u -> root, uncapacitated, cost 0. All supplies are
        // zero, so they carry no flow and the root has no way out: they only
        // make the initial spanning tree (strongly feasible: from every node
        // flow can be pushed up to the root).
        let infinite = i64::MAX / 4;
        for u in 0..n as u32 {
            src.push(u);
            dst.push(root);
            cap.push(infinite);
            cost.push(Cost::ZERO);
        }
        let mut state = vec![LOWER; m];
        state.extend(std::iter::repeat_n(TREE, n));
        let mut first_child = vec![NONE; n + 1];
        let mut next_sib = vec![NONE; n + 1];
        let mut prev_sib = vec![NONE; n + 1];
        for u in 0..n {
            next_sib[u] = if u + 1 < n { (u + 1) as u32 } else { NONE };
            prev_sib[u] = if u > 0 { (u - 1) as u32 } else { NONE };
        }
        if n > 0 {
            first_child[n] = 0;
        }
        let mut parent = vec![root; n + 1];
        parent[n] = NONE;
        let mut pred: Vec<u32> = (0..n).map(|u| (m + u) as u32).collect();
        pred.push(NONE);
        let mut size = vec![1; n + 1];
        size[n] = n as u32 + 1;
        let block = m.isqrt().max(10);
        Self {
            m,
            flow: vec![0; m + n],
            src,
            dst,
            cap,
            cost,
            state,
            parent,
            pred,
            dir: vec![UP; n + 1],
            size,
            first_child,
            next_sib,
            prev_sib,
            pi: vec![Cost::ZERO; n + 1],
            block,
            next_arc: 0,
            stem: Vec::new(),
        }
    }

    fn run(mut self) -> Circulation {
        let mut pivots = 0;
        while let Some(e) = self.find_entering() {
            pivots += 1;
            self.pivot(e);
        }
        self.flow.truncate(self.m);
        Circulation {
            flow: self.flow,
            pivots,
        }
    }

    #[inline]
    fn violation(&self, e: usize) -> Cost {
        let rc = self.cost[e] + self.pi[self.src[e] as usize] - self.pi[self.dst[e] as usize];
        match self.state[e] {
            LOWER => rc,
            UPPER => -rc,
            _ => Cost::ZERO,
        }
    }

    /// Block search: scan arcs cyclically in blocks; return the most
    /// violating arc of the first block that has one. `None` means every
    /// arc satisfies the optimality conditions.
    fn find_entering(&mut self) -> Option<usize> {
        let m = self.m;
        if m == 0 {
            return None;
        }
        let mut best = Cost::ZERO;
        let mut best_arc = usize::MAX;
        let mut left = self.block;
        let mut e = self.next_arc;
        for _ in 0..m {
            if self.state[e] != TREE {
                let v = self.violation(e);
                if v < best {
                    best = v;
                    best_arc = e;
                }
            }
            e += 1;
            if e == m {
                e = 0;
            }
            left -= 1;
            if left == 0 {
                if best_arc != usize::MAX {
                    break;
                }
                left = self.block;
            }
        }
        self.next_arc = e;
        (best_arc != usize::MAX).then_some(best_arc)
    }

    /// The nearest common ancestor. A node's ancestors have larger
    /// subtrees, so the one with the smaller subtree is never the answer
    /// unless both are equal.
    fn join(&self, mut a: u32, mut b: u32) -> u32 {
        while a != b {
            if self.size[a as usize] < self.size[b as usize] {
                a = self.parent[a as usize];
            } else {
                b = self.parent[b as usize];
            }
        }
        a
    }

    fn pivot(&mut self, e: usize) {
        // Flow goes round the cycle: first -(e)-> second -> ... -> join ->
        // ... -> first.
        let (first, second) = if self.state[e] == LOWER {
            (self.src[e], self.dst[e])
        } else {
            (self.dst[e], self.src[e])
        };
        let join = self.join(self.src[e], self.dst[e]);

        // Leaving arc: the blocking arc met last when walking the cycle in
        // the direction of flow from the join. That keeps the tree strongly
        // feasible. Path join..first is walked backwards, so strict `<`;
        // path second..join forwards, so `<=`.
        let mut delta = self.cap[e];
        let mut side = 0;
        let mut u_out = NONE;
        let mut u = first;
        while u != join {
            let a = self.pred[u as usize] as usize;
            let d = if self.dir[u as usize] == DOWN {
                self.cap[a] - self.flow[a]
            } else {
                self.flow[a]
            };
            if d < delta {
                delta = d;
                u_out = u;
                side = 1;
            }
            u = self.parent[u as usize];
        }
        let mut u = second;
        while u != join {
            let a = self.pred[u as usize] as usize;
            let d = if self.dir[u as usize] == UP {
                self.cap[a] - self.flow[a]
            } else {
                self.flow[a]
            };
            if d <= delta {
                delta = d;
                u_out = u;
                side = 2;
            }
            u = self.parent[u as usize];
        }

        if delta > 0 {
            let val = i64::from(self.state[e]) * delta;
            self.flow[e] += val;
            let mut u = self.src[e];
            while u != join {
                let a = self.pred[u as usize] as usize;
                self.flow[a] -= i64::from(self.dir[u as usize]) * val;
                u = self.parent[u as usize];
            }
            let mut u = self.dst[e];
            while u != join {
                let a = self.pred[u as usize] as usize;
                self.flow[a] += i64::from(self.dir[u as usize]) * val;
                u = self.parent[u as usize];
            }
        }

        if side == 0 {
            // The entering arc blocks itself: it moves to its other bound.
            self.state[e] = -self.state[e];
            return;
        }
        let (u_in, v_in) = if side == 1 {
            (first, second)
        } else {
            (second, first)
        };
        let leaving = self.pred[u_out as usize] as usize;
        self.state[e] = TREE;
        self.state[leaving] = if self.flow[leaving] == 0 {
            LOWER
        } else {
            UPPER
        };
        self.rehang(u_in, v_in, u_out, join, e as u32);
    }

    fn unlink(&mut self, u: u32) {
        let (p, prev, next) = (
            self.parent[u as usize],
            self.prev_sib[u as usize],
            self.next_sib[u as usize],
        );
        if prev != NONE {
            self.next_sib[prev as usize] = next;
        } else {
            self.first_child[p as usize] = next;
        }
        if next != NONE {
            self.prev_sib[next as usize] = prev;
        }
    }

    fn link(&mut self, u: u32, p: u32) {
        let head = self.first_child[p as usize];
        self.next_sib[u as usize] = head;
        self.prev_sib[u as usize] = NONE;
        if head != NONE {
            self.prev_sib[head as usize] = u;
        }
        self.first_child[p as usize] = u;
        self.parent[u as usize] = p;
    }

    /// The tree arc above `u_out` leaves, `e` (joining `u_in` in the subtree
    /// of `u_out` to `v_in` outside it) enters. The stem `u_in ..= u_out` is
    /// reversed so that `u_in` becomes the subtree's top, hung under `v_in`.
    fn rehang(&mut self, u_in: u32, v_in: u32, u_out: u32, join: u32, e: u32) {
        let v_out = self.parent[u_out as usize];
        let moved = self.size[u_out as usize];
        let mut stem = std::mem::take(&mut self.stem);
        stem.clear();
        let mut u = u_in;
        loop {
            stem.push(u);
            if u == u_out {
                break;
            }
            u = self.parent[u as usize];
        }
        for &s in &stem {
            self.unlink(s);
        }
        // Reverse the stem: s_j's parent becomes s_{j-1}, above it the arc
        // that was above s_{j-1}, now seen from the other end. Its subtree
        // keeps what hung off it besides s_{j-1}, plus s_{j+1}'s new one.
        let mut below_new = 0;
        for j in (1..stem.len()).rev() {
            let (s, below) = (stem[j] as usize, stem[j - 1] as usize);
            self.pred[s] = self.pred[below];
            self.dir[s] = -self.dir[below];
            below_new += self.size[s] - self.size[below];
            self.size[s] = below_new;
        }
        self.size[u_in as usize] = moved;
        self.pred[u_in as usize] = e;
        self.dir[u_in as usize] = if self.src[e as usize] == u_in {
            UP
        } else {
            DOWN
        };
        self.link(u_in, v_in);
        for j in 1..stem.len() {
            self.link(stem[j], stem[j - 1]);
        }
        self.stem = stem;
        let mut u = v_in;
        while u != join {
            self.size[u as usize] += moved;
            u = self.parent[u as usize];
        }
        let mut u = v_out;
        while u != join {
            self.size[u as usize] -= moved;
            u = self.parent[u as usize];
        }

        // Potentials: the entering arc must get reduced cost 0, so the moved
        // subtree shifts by sigma against the rest. Only differences matter,
        // so shift whichever side is smaller.
        let c = self.cost[e as usize];
        let sigma = if self.dir[u_in as usize] == UP {
            self.pi[v_in as usize] - self.pi[u_in as usize] - c
        } else {
            self.pi[v_in as usize] - self.pi[u_in as usize] + c
        };
        let root = (self.size.len() - 1) as u32;
        if 2 * moved <= self.size[root as usize] {
            self.shift(u_in, NONE, sigma);
        } else {
            self.shift(root, u_in, -sigma);
        }
    }

    /// Adds `sigma` to the potentials of the subtree of `top`, except the
    /// subtree of `skip`.
    fn shift(&mut self, top: u32, skip: u32, sigma: Cost) {
        let mut u = top;
        'walk: loop {
            if u != skip {
                self.pi[u as usize] += sigma;
                let child = self.first_child[u as usize];
                if child != NONE {
                    u = child;
                    continue;
                }
            }
            loop {
                if u == top {
                    break 'walk;
                }
                let next = self.next_sib[u as usize];
                if next != NONE {
                    u = next;
                    break;
                }
                u = self.parent[u as usize];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Cycle cancelling with Bellman-Ford on the residual graph: slow,
    /// obviously correct, independent of the simplex.
    fn cycle_cancelling(n: usize, arcs: &[(u32, u32, i64, Cost)]) -> Cost {
        let mut flow = vec![0i64; arcs.len()];
        loop {
            // residual arcs: (from, to, cost, arc, forward)
            let mut res = Vec::new();
            for (i, &(a, b, cap, c)) in arcs.iter().enumerate() {
                if flow[i] < cap {
                    res.push((a as usize, b as usize, c, i, true));
                }
                if flow[i] > 0 {
                    res.push((b as usize, a as usize, -c, i, false));
                }
            }
            let mut dist = vec![Cost::ZERO; n];
            let mut via = vec![usize::MAX; n];
            let mut last = usize::MAX;
            for _ in 0..n {
                last = usize::MAX;
                for (k, &(a, b, c, _, _)) in res.iter().enumerate() {
                    if dist[a] + c < dist[b] {
                        dist[b] = dist[a] + c;
                        via[b] = k;
                        last = b;
                    }
                }
                if last == usize::MAX {
                    break;
                }
            }
            if last == usize::MAX {
                break;
            }
            let mut v = last;
            for _ in 0..n {
                v = res[via[v]].0;
            }
            let start = v;
            let mut cycle = Vec::new();
            loop {
                let k = via[v];
                cycle.push(k);
                v = res[k].0;
                if v == start {
                    break;
                }
            }
            let amount = cycle
                .iter()
                .map(|&k| {
                    let (_, _, _, i, fwd) = res[k];
                    if fwd { arcs[i].2 - flow[i] } else { flow[i] }
                })
                .min()
                .unwrap_or(0);
            for &k in &cycle {
                let (_, _, _, i, fwd) = res[k];
                flow[i] += if fwd { amount } else { -amount };
            }
        }
        arcs.iter()
            .zip(&flow)
            .fold(Cost::ZERO, |acc, (a, &f)| acc + a.3.times(f))
    }

    fn network() -> impl Strategy<Value = (usize, Vec<(u32, u32, i64, Cost)>)> {
        (2usize..7).prop_flat_map(|n| {
            let arc = (
                0..n as u32,
                0..n as u32,
                0i64..4,
                (-2i64..2, -3i64..4, -3i64..4),
            )
                .prop_map(|(a, b, cap, (t, r, e))| (a, b, cap, Cost::new(t, r, e)));
            (Just(n), prop::collection::vec(arc, 0..14))
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn the_simplex_finds_the_same_minimum_as_cycle_cancelling((n, arcs) in network()) {
            let mut net = Network::new();
            for _ in 0..n {
                net.add_node();
            }
            for &(a, b, cap, c) in &arcs {
                net.add_arc(a, b, cap, c);
            }
            let sol = net.min_cost_circulation();
            let mut balance = vec![0i64; n];
            for (i, &(a, b, cap, _)) in arcs.iter().enumerate() {
                prop_assert!(sol.flow[i] >= 0 && sol.flow[i] <= cap);
                balance[a as usize] -= sol.flow[i];
                balance[b as usize] += sol.flow[i];
            }
            prop_assert!(balance.iter().all(|&b| b == 0));
            let cost = arcs.iter().zip(&sol.flow).fold(Cost::ZERO, |acc, (a, &f)| acc + a.3.times(f));
            prop_assert_eq!(cost, cycle_cancelling(n, &arcs));
        }
    }
}
