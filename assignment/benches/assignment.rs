//! The assignment benchmark: a seeded, realistic national campaign (20,000
//! candidate listings, 5,000 volunteers, 10 categories, 7 platforms), solved
//! by the engine and by a greedy baseline, and checked by two references:
//!
//! * on the full instance, `reference::certify`: Bellman-Ford over the
//!   residual graph of the full explicit model (every allowed pair an arc)
//!   finds no negative cycle, so nothing beats the engine's answer: the
//!   exact optimum is the engine's objective, the gap none;
//! * on a scaled-down instance from the same generator, the explicit model
//!   solved from scratch (`reference::solve_explicit`), compared with the
//!   engine there. That solve grows fast (10x from 2,000 to 4,000
//!   candidates), which is why it does not run on the full instance.
//!
//! `cargo bench -p campaign-assignment --bench assignment`
//!
//! Environment: `MB_BENCH_CANDIDATES`, `MB_BENCH_VOLUNTEERS`,
//! `MB_BENCH_SEED`, `MB_BENCH_RUNS` (engine runs, the median is reported),
//! `MB_BENCH_EXPLICIT_CANDIDATES` (size of the scaled-down instance, its
//! volunteers a quarter of that; 0 skips it), `MB_BENCH_CERTIFY=0` to skip
//! the certificate, `MB_BENCH_SHOPS_PER_PLATFORM` (default 400 per 20,000
//! candidates; a few makes the shop rule bind hard and exercises the
//! engine's refinement rounds).

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    time::{Duration, Instant},
};

use campaign_assignment::{
    Candidate, Objective, Pair, Problem, Quota, Volunteer, objective,
    reference::{certify, solve_explicit},
    solve, validate,
};

const CATEGORIES: [(&str, i64, i64); 10] = [
    // name, typical lowest and highest price in yuan
    ("travel bags", 80, 900),
    ("backpacks", 50, 600),
    ("silk quilts", 200, 2500),
    ("induction cookers", 150, 1200),
    ("smart toilet seats", 800, 5000),
    ("leather shoes", 150, 1500),
    ("casual wear", 40, 500),
    ("women's underwear", 20, 250),
    ("power strips", 20, 180),
    ("sports shoes", 100, 1300),
];

const PLATFORMS: [(&str, u64); 7] = [
    // name, relative weight
    ("taobao", 30),
    ("pinduoduo", 22),
    ("jd", 18),
    ("douyin", 14),
    ("tmall", 8),
    ("kuaishou", 5),
    ("vipshop", 3),
];

/// SplitMix64: small, seeded, the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn weighted(&mut self, weights: &[u64]) -> usize {
        let mut x = self.below(weights.iter().sum());
        for (k, &w) in weights.iter().enumerate() {
            if x < w {
                return k;
            }
            x -= w;
        }
        weights.len() - 1
    }
    /// A price between lo and hi, skewed low (the product of two uniforms).
    fn skewed(&mut self, lo: i64, hi: i64) -> i64 {
        let (a, b) = (self.below(1000) as i64, self.below(1000) as i64);
        lo + (hi - lo) * a * b / 999_999
    }
    fn sample<T: Copy>(&mut self, items: &[T], k: usize) -> Vec<T> {
        let mut pool = items.to_vec();
        let mut out = Vec::new();
        while out.len() < k && !pool.is_empty() {
            let at = self.below(pool.len() as u64) as usize;
            out.push(pool.swap_remove(at));
        }
        out
    }
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn instance(candidates: usize, volunteers: usize, seed: u64, shops: usize) -> Problem {
    let mut rng = Rng(seed);
    let scale = candidates as f64 / 20_000.0;
    let platform_weights: Vec<u64> = PLATFORMS.iter().map(|p| p.1).collect();

    // Shops live on one platform; a few big shops list a lot (Zipf-like).
    let shops_per_platform = if shops > 0 {
        shops
    } else {
        ((400.0 * scale).ceil() as usize).max(5)
    };
    let mut shop_weights = Vec::new();
    for k in 0..shops_per_platform {
        shop_weights.push((10_000 / (k as u64 + 25)).max(1));
    }

    // Quotas: each category on its 5 or 6 main platforms, some
    // category-wide quotas that cap the platform ones, price caps here and
    // there.
    let mut quotas = Vec::new();
    let mut category_platforms = Vec::new();
    for (c, &(name, lo, hi)) in CATEGORIES.iter().enumerate() {
        let n = 5 + rng.below(2) as usize;
        let plats: Vec<usize> = (0..n).collect();
        let mut sum = 0;
        for &p in &plats {
            let remaining =
                ((rng.range(50, 150) as f64) * scale).ceil() as u32 * 6 / (2 + p as u32) + 5;
            sum += remaining;
            quotas.push(Quota {
                category: name.to_string(),
                platform: Some(PLATFORMS[p].0.to_string()),
                remaining,
                price_cap: rng.chance(30).then(|| hi * 100 * 7 / 10),
            });
        }
        if c % 3 == 0 {
            quotas.push(Quota {
                category: name.to_string(),
                platform: None,
                remaining: sum * 3 / 4,
                price_cap: None,
            });
        }
        let _ = lo;
        category_platforms.push(plats);
    }

    let category_weights = [12, 14, 8, 9, 6, 10, 14, 9, 8, 10];
    let mut cands = Vec::with_capacity(candidates);
    for _ in 0..candidates {
        let c = rng.weighted(&category_weights);
        let (name, lo, hi) = CATEGORIES[c];
        let p = rng.weighted(&platform_weights);
        let shop = rng.weighted(&shop_weights);
        let normal = rng.skewed(lo * 100, hi * 100);
        // Risk signals, weighted as the server would (score x 1000).
        let deviation = rng.below(60) as i64; // % below the normal price
        let price = (normal * (100 - deviation) / 100).max(100);
        let complaints = rng.below(4) * rng.below(6);
        let bad_share = rng.below(30);
        let claims = rng.below(3);
        let from_complaint = rng.chance(10);
        let earlier_failure = rng.chance(5);
        let score = deviation as u64 * 4
            + complaints.min(12) * 18
            + bad_share * 5
            + claims * 40
            + u64::from(from_complaint) * 120
            + u64::from(earlier_failure) * 150;
        cands.push(Candidate {
            category: name.to_string(),
            platform: PLATFORMS[p].0.to_string(),
            shop: format!("{}-{shop}", PLATFORMS[p].0),
            price,
            risk: score.min(1000) as u32,
        });
    }

    let mut vols = Vec::with_capacity(volunteers);
    for _ in 0..volunteers {
        let nc = rng.range(2, 4) as usize;
        let categories: Vec<String> = rng
            .sample(&(0..10).collect::<Vec<_>>(), nc)
            .into_iter()
            .map(|c| CATEGORIES[c].0.to_string())
            .collect();
        let np = rng.range(2, 5) as usize;
        let mut plats = BTreeSet::new();
        while plats.len() < np {
            plats.insert(rng.weighted(&platform_weights));
        }
        let platforms: Vec<String> = plats.iter().map(|&p| PLATFORMS[p].0.to_string()).collect();
        let spending_cap = match rng.below(10) {
            0..=3 => rng.range(200, 600),
            4..=7 => rng.range(500, 1500),
            _ => rng.range(1500, 6000),
        } * 100;
        let current_load = [0, 0, 0, 1, 1, 2][rng.below(6) as usize];
        let used_shops = if rng.chance(30) {
            (0..rng.range(1, 3))
                .map(|_| {
                    let p = *plats.iter().next().expect("two platforms at least");
                    format!("{}-{}", PLATFORMS[p].0, rng.weighted(&shop_weights))
                })
                .collect()
        } else {
            Vec::new()
        };
        vols.push(Volunteer {
            categories,
            platforms,
            free_capacity: [1, 1, 1, 2, 2, 3][rng.below(6) as usize],
            current_load,
            spending_cap,
            used_shops,
        });
    }
    let _ = category_platforms;
    Problem {
        quotas,
        candidates: cands,
        volunteers: vols,
        forbidden: Vec::new(),
        forced: Vec::new(),
    }
}

/// Candidates by descending risk, each to the least-loaded volunteer who
/// may take it and has room.
fn greedy(p: &Problem) -> Vec<Pair> {
    let mut by_class: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
    for (v, vol) in p.volunteers.iter().enumerate() {
        for c in &vol.categories {
            for pl in &vol.platforms {
                by_class.entry((c, pl)).or_default().push(v);
            }
        }
    }
    let mut room: Vec<u32> = p.quotas.iter().map(|q| q.remaining).collect();
    let mut load: Vec<u32> = p.volunteers.iter().map(|v| v.current_load).collect();
    let mut new = vec![0u32; p.volunteers.len()];
    let mut held: HashSet<(usize, &str)> = HashSet::new();
    let mut order: Vec<usize> = (0..p.candidates.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(p.candidates[i].risk));
    let mut pairs = Vec::new();
    for i in order {
        let c = &p.candidates[i];
        let applies: Vec<usize> = p
            .quotas
            .iter()
            .enumerate()
            .filter(|(_, q)| {
                q.category == c.category && q.platform.as_ref().is_none_or(|pl| *pl == c.platform)
            })
            .map(|(k, _)| k)
            .collect();
        if applies.is_empty()
            || applies
                .iter()
                .any(|&q| room[q] == 0 || p.quotas[q].price_cap.is_some_and(|cap| c.price > cap))
        {
            continue;
        }
        let Some(list) = by_class.get(&(c.category.as_str(), c.platform.as_str())) else {
            continue;
        };
        let best = list
            .iter()
            .copied()
            .filter(|&v| {
                let vol = &p.volunteers[v];
                new[v] < vol.free_capacity
                    && c.price <= vol.spending_cap
                    && !vol.used_shops.contains(&c.shop)
                    && !held.contains(&(v, c.shop.as_str()))
            })
            .min_by_key(|&v| (load[v], v));
        if let Some(v) = best {
            for &q in &applies {
                room[q] -= 1;
            }
            load[v] += 1;
            new[v] += 1;
            held.insert((v, c.shop.as_str()));
            pairs.push(Pair::new(i, v));
        }
    }
    pairs
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

fn show(o: &Objective) -> String {
    format!(
        "tasks {}, risk {}, load squares {}",
        o.tasks, o.risk, o.load_squares
    )
}

fn main() {
    let n_cand = env("MB_BENCH_CANDIDATES", 20_000) as usize;
    let n_vol = env("MB_BENCH_VOLUNTEERS", 5_000) as usize;
    let seed = env("MB_BENCH_SEED", 20_240_601);
    let runs = env("MB_BENCH_RUNS", 5).max(1);
    let certify_full = env("MB_BENCH_CERTIFY", 1) != 0;
    let shops_per_platform = env("MB_BENCH_SHOPS_PER_PLATFORM", 0) as usize;
    let explicit = env("MB_BENCH_EXPLICIT_CANDIDATES", 4_000) as usize;

    let p = instance(n_cand, n_vol, seed, shops_per_platform);
    let slots: u64 = p.quotas.iter().map(|q| u64::from(q.remaining)).sum();
    let capacity: u64 = p
        .volunteers
        .iter()
        .map(|v| u64::from(v.free_capacity))
        .sum();
    let mut shops: HashMap<&str, usize> = HashMap::new();
    for c in &p.candidates {
        *shops.entry(&c.shop).or_default() += 1;
    }
    println!(
        "instance: seed {seed}, {} candidates in {} shops (largest {} listings), {} volunteers \
         (free capacity {capacity}), {} quotas ({slots} slots)",
        p.candidates.len(),
        shops.len(),
        shops.values().max().unwrap_or(&0),
        p.volunteers.len(),
        p.quotas.len(),
    );

    let mut times = Vec::new();
    let mut result = None;
    for _ in 0..runs {
        let start = Instant::now();
        let a = solve(&p).expect("the benchmark instance is well formed");
        times.push(start.elapsed());
        result = Some(a);
    }
    let a = result.expect("at least one run");
    times.sort();
    let broken = validate(&p, &a.pairs);
    println!(
        "engine: median {} of {runs} runs (min {}, max {}); {}; {} rounds, {} exact shops, \
         {} placements repaired, last model {} nodes / {} arcs, {} pivots; violations: {}",
        secs(times[times.len() / 2]),
        secs(times[0]),
        secs(times[times.len() - 1]),
        show(&a.objective),
        a.stats.rounds,
        a.stats.exact_shops,
        a.stats.repaired,
        a.stats.nodes,
        a.stats.arcs,
        a.stats.pivots,
        broken.len(),
    );
    let unfilled: u32 = a.unfilled.iter().map(|u| u.unfilled).sum();
    let mut by_reason: HashMap<String, u32> = HashMap::new();
    for u in &a.unfilled {
        for r in &u.reasons {
            *by_reason.entry(format!("{:?}", r.reason)).or_default() += r.slots;
        }
    }
    let mut reasons: Vec<_> = by_reason.into_iter().collect();
    reasons.sort();
    println!("unfilled slots: {unfilled} {reasons:?}");

    let start = Instant::now();
    let g = greedy(&p);
    let g_time = start.elapsed();
    let go = objective(&p, &g);
    println!(
        "greedy baseline: {}; {}; violations: {}",
        secs(g_time),
        show(&go),
        validate(&p, &g).len()
    );
    println!(
        "engine over greedy: {:+} slots, {:+} risk",
        a.objective.tasks as i64 - go.tasks as i64,
        a.objective.risk as i64 - go.risk as i64
    );

    if certify_full {
        let start = Instant::now();
        let proof = certify(&p, &a.pairs).expect("the benchmark instance is well formed");
        println!(
            "reference 1, certificate on the full explicit model: {}; {} residual arcs scanned; \
             valid: {}, optimal: {} => exact optimum {}, gap {}",
            secs(start.elapsed()),
            proof.arcs_scanned,
            proof.valid,
            proof.optimal,
            if proof.optimal {
                show(&a.objective)
            } else {
                "unknown".to_string()
            },
            if proof.optimal { "none" } else { "SOME" },
        );
    }
    if explicit > 0 {
        let small = instance(explicit, explicit / 4, seed, shops_per_platform);
        let start = Instant::now();
        let engine = solve(&small).expect("well formed");
        let engine_time = start.elapsed();
        let start = Instant::now();
        let (pairs, ro) = solve_explicit(&small).expect("well formed");
        println!(
            "reference 2, explicit model solved from scratch on {} candidates / {} volunteers: \
             {}; {}; violations: {}; engine there: {}; {}",
            small.candidates.len(),
            small.volunteers.len(),
            secs(start.elapsed()),
            show(&ro),
            validate(&small, &pairs).len(),
            secs(engine_time),
            show(&engine.objective),
        );
        let gap = (
            ro.tasks as i64 - engine.objective.tasks as i64,
            ro.risk as i64 - engine.objective.risk as i64,
            engine.objective.load_squares as i128 - ro.load_squares as i128,
        );
        println!(
            "gap there (reference minus engine in tasks and risk, engine minus reference in \
             load squares): {gap:?} {}",
            if gap == (0, 0, 0) { "none" } else { "GAP" }
        );
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average: {}", load.trim());
}
