//! Instance generators and a brute-force solver that shares nothing with the
//! engine: it reads the rules straight off the strings of the problem.

use campaign_assignment::{Candidate, Objective, Pair, Problem, Quota, Volunteer};
use proptest::prelude::*;

pub const CATEGORIES: [&str; 3] = ["backpacks", "silk quilts", "power strips"];
pub const PLATFORMS: [&str; 3] = ["taobao", "jd", "pinduoduo"];
pub const SHOPS: [&str; 12] = [
    "shop-a", "shop-b", "shop-c", "shop-d", "shop-e", "shop-f", "shop-g", "shop-h", "shop-i",
    "shop-j", "shop-k", "shop-l",
];

fn subset(names: &'static [&'static str]) -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(prop::bool::weighted(0.8), names.len()).prop_map(move |keep| {
        names
            .iter()
            .zip(keep)
            .filter(|(_, k)| *k)
            .map(|(n, _)| n.to_string())
            .collect()
    })
}

/// Upper bounds on the sizes of a random instance.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub categories: usize,
    pub platforms: usize,
    pub shops: usize,
    pub candidates: (usize, usize),
    pub volunteers: (usize, usize),
    pub capacity: u32,
    pub risk: u32,
    /// Quota sizes are multiplied by this.
    pub quota_scale: u32,
    /// At most this many forbidden pairs.
    pub forbidden: usize,
}

pub const SMALL: Shape = Shape {
    categories: 3,
    platforms: 3,
    shops: 3,
    candidates: (1, 7),
    volunteers: (1, 4),
    capacity: 3,
    risk: 6,
    quota_scale: 1,
    forbidden: 3,
};

/// A random problem: 1..=`shape.categories` categories and so on, quotas
/// with and without nesting and price caps, a few forbidden pairs, and now
/// and then a forced pair (mostly a plausible one, sometimes any).
pub fn problem(shape: Shape) -> impl Strategy<Value = Problem> {
    (1..=shape.categories, 1..=shape.platforms, 1..=shape.shops)
        .prop_flat_map(move |(nc, np, ns)| sized(shape, nc, np, ns))
}

fn sized(shape: Shape, nc: usize, np: usize, ns: usize) -> impl Strategy<Value = Problem> {
    let cats: &'static [&'static str] = &CATEGORIES[..nc];
    let plats: &'static [&'static str] = &PLATFORMS[..np];
    let shops: &'static [&'static str] = &SHOPS[..ns];
    let cap = || prop::option::weighted(0.3, (3i64..=10).prop_map(|c| c * 10));
    let k = shape.quota_scale;
    let wide = prop::collection::vec(prop::option::weighted(0.7, (k..5 * k, cap())), nc);
    let narrow = prop::collection::vec(prop::option::weighted(0.4, (0..4 * k, cap())), nc * np);
    let candidate = (
        prop::sample::select(cats),
        prop::sample::select(plats),
        prop::sample::select(shops),
        1i64..=10,
        0..shape.risk,
    )
        .prop_map(|(category, platform, shop, price, risk)| Candidate {
            category: category.to_string(),
            platform: platform.to_string(),
            shop: shop.to_string(),
            price: price * 10,
            risk,
        });
    let volunteer = (
        subset(cats),
        subset(plats),
        prop_oneof![1 => Just(0), 9 => 1..=shape.capacity],
        0u32..3,
        4i64..=10,
        prop::collection::vec(prop::sample::select(shops), 0..2),
    )
        .prop_map(
            |(categories, platforms, free_capacity, current_load, cap, used_shops)| Volunteer {
                categories,
                platforms,
                free_capacity,
                current_load,
                spending_cap: cap * 10,
                used_shops: used_shops.iter().map(|s| s.to_string()).collect(),
            },
        );
    let index = || any::<prop::sample::Index>();
    (
        wide,
        narrow,
        prop::collection::vec(candidate, shape.candidates.0..=shape.candidates.1),
        prop::collection::vec(volunteer, shape.volunteers.0..=shape.volunteers.1),
        prop::collection::vec((index(), index()), 0..=shape.forbidden),
        prop::option::weighted(0.3, (index(), index(), prop::bool::weighted(0.8))),
    )
        .prop_map(
            move |(wide, narrow, candidates, volunteers, forbidden, forced)| {
                let mut quotas = Vec::new();
                for (c, q) in wide.iter().enumerate() {
                    if let Some((remaining, price_cap)) = q {
                        quotas.push(Quota {
                            category: cats[c].to_string(),
                            platform: None,
                            remaining: *remaining,
                            price_cap: *price_cap,
                        });
                    }
                }
                for (k, q) in narrow.iter().enumerate() {
                    if let Some((remaining, price_cap)) = q {
                        quotas.push(Quota {
                            category: cats[k / np].to_string(),
                            platform: Some(plats[k % np].to_string()),
                            remaining: *remaining,
                            price_cap: *price_cap,
                        });
                    }
                }
                let mut p = Problem {
                    quotas,
                    candidates,
                    volunteers,
                    forbidden: Vec::new(),
                    forced: Vec::new(),
                };
                let (nc, nv) = (p.candidates.len(), p.volunteers.len());
                let mut forbidden: Vec<Pair> = forbidden
                    .into_iter()
                    .map(|(c, v)| Pair::new(c.index(nc), v.index(nv)))
                    .collect();
                forbidden.sort_unstable();
                forbidden.dedup();
                p.forbidden = forbidden;
                if let Some((c, v, plausible)) = forced {
                    let allowed: Vec<Pair> = (0..nc)
                        .flat_map(|i| (0..nv).map(move |v| Pair::new(i, v)))
                        .filter(|f| {
                            quotas_of(&p, f.candidate).is_some()
                                && may_take(&p, f.candidate, f.volunteer)
                        })
                        .collect();
                    let pick = if plausible && !allowed.is_empty() {
                        allowed[c.index(allowed.len())]
                    } else {
                        Pair::new(c.index(nc), v.index(nv))
                    };
                    p.forced.push(pick);
                }
                p
            },
        )
}

/// The quotas candidate `i` counts against, or `None` if it is not eligible
/// by the quota rules (no quota applies, or its price is over a cap).
pub fn quotas_of(p: &Problem, i: usize) -> Option<Vec<usize>> {
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
    let within = applies
        .iter()
        .all(|&k| p.quotas[k].price_cap.is_none_or(|cap| c.price <= cap));
    (!applies.is_empty() && within).then_some(applies)
}

/// Whether volunteer `v` may take candidate `i`, capacity and other tasks
/// aside.
pub fn may_take(p: &Problem, i: usize, v: usize) -> bool {
    let (c, vol) = (&p.candidates[i], &p.volunteers[v]);
    vol.categories.contains(&c.category)
        && vol.platforms.contains(&c.platform)
        && c.price <= vol.spending_cap
        && !vol.used_shops.contains(&c.shop)
        && !p.forbidden.contains(&Pair::new(i, v))
}

pub fn score(p: &Problem, pairs: &[Pair]) -> Objective {
    let mut load: Vec<u64> = p
        .volunteers
        .iter()
        .map(|v| u64::from(v.current_load))
        .collect();
    let mut risk = 0;
    for pair in pairs {
        load[pair.volunteer] += 1;
        risk += u64::from(p.candidates[pair.candidate].risk);
    }
    Objective {
        tasks: pairs.len() as u64,
        risk,
        load_squares: load.iter().map(|&l| u128::from(l * l)).sum(),
    }
}

/// The best objective over every valid assignment that contains the forced
/// pairs, by exhaustive search; `None` if there is no such assignment. Also
/// a few of the valid assignments it met, for checks that need some.
pub fn brute_force(p: &Problem) -> (Option<Objective>, Vec<Vec<Pair>>) {
    struct Search<'a> {
        p: &'a Problem,
        quotas: Vec<Option<Vec<usize>>>,
        forced: Vec<Option<usize>>,
        used: Vec<u32>,
        quota_used: Vec<u32>,
        shops: Vec<Vec<&'a str>>,
        pairs: Vec<Pair>,
        best: Option<Objective>,
        samples: Vec<Vec<Pair>>,
    }
    impl<'a> Search<'a> {
        fn allowed(&self, i: usize, v: usize) -> bool {
            let Some(quotas) = &self.quotas[i] else {
                return false;
            };
            may_take(self.p, i, v)
                && self.used[v] < self.p.volunteers[v].free_capacity
                && !self.shops[v].contains(&self.p.candidates[i].shop.as_str())
                && quotas
                    .iter()
                    .all(|&q| self.quota_used[q] < self.p.quotas[q].remaining)
        }
        fn go(&mut self, i: usize) {
            if i == self.p.candidates.len() {
                let s = score(self.p, &self.pairs);
                if self.samples.len() < 6 || (s.tasks > 0 && self.samples.len() < 12) {
                    self.samples.push(self.pairs.clone());
                }
                if self.best.is_none_or(|b| s > b) {
                    self.best = Some(s);
                }
                return;
            }
            if self.forced[i].is_none() {
                self.go(i + 1);
            }
            for v in 0..self.p.volunteers.len() {
                if self.forced[i].is_some_and(|f| f != v) || !self.allowed(i, v) {
                    continue;
                }
                let quotas = self.quotas[i].clone().unwrap_or_default();
                self.used[v] += 1;
                for &q in &quotas {
                    self.quota_used[q] += 1;
                }
                self.shops[v].push(&self.p.candidates[i].shop);
                self.pairs.push(Pair::new(i, v));
                self.go(i + 1);
                self.pairs.pop();
                self.shops[v].pop();
                for &q in &quotas {
                    self.quota_used[q] -= 1;
                }
                self.used[v] -= 1;
            }
        }
    }
    let mut forced = vec![None; p.candidates.len()];
    for f in &p.forced {
        if forced[f.candidate].is_some() {
            return (None, Vec::new());
        }
        forced[f.candidate] = Some(f.volunteer);
    }
    let mut s = Search {
        p,
        quotas: (0..p.candidates.len()).map(|i| quotas_of(p, i)).collect(),
        forced,
        used: vec![0; p.volunteers.len()],
        quota_used: vec![0; p.quotas.len()],
        shops: vec![Vec::new(); p.volunteers.len()],
        pairs: Vec::new(),
        best: None,
        samples: Vec::new(),
    };
    s.go(0);
    (s.best, s.samples)
}
