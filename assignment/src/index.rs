//! The problem with its strings interned and its rules precomputed: which
//! quotas a candidate counts against, whether it is within their price caps,
//! and whether a volunteer may take it. One definition of the rules, shared
//! by the engine, `validate` and the reference model.

use std::collections::{HashMap, HashSet};

use crate::problem::{Problem, ProblemError};

/// Limits that keep every sum in the flow model far from overflow (see
/// `flow::Cost`): risk sums stay below 2^26 * 2^32 = 2^58, and evenness
/// costs per unit below 2^26.
pub(crate) const MAX_ITEMS: usize = 1 << 26;
pub(crate) const MAX_LOAD: u64 = 1 << 24;

pub(crate) struct Index<'p> {
    pub p: &'p Problem,
    pub cand_cat: Vec<u32>,
    pub cand_plat: Vec<u32>,
    pub cand_shop: Vec<u32>,
    /// Sorted, deduplicated ids.
    pub vol_cats: Vec<Vec<u32>>,
    pub vol_plats: Vec<Vec<u32>>,
    pub vol_used: Vec<Vec<u32>>,
    /// The category-wide and the per-platform quota a candidate counts
    /// against (either may be absent).
    pub cand_wide: Vec<Option<u32>>,
    pub cand_narrow: Vec<Option<u32>>,
    /// At least one quota applies and the price is within each one's cap.
    pub cand_in_quota: Vec<bool>,
    pub forbidden: HashSet<(u32, u32)>,
    /// Candidates named in a forbidden pair.
    pub has_forbidden: Vec<bool>,
    pub shop_count: usize,
}

#[derive(Default)]
struct Interner<'p> {
    ids: HashMap<&'p str, u32>,
}

impl<'p> Interner<'p> {
    fn id(&mut self, s: &'p str) -> u32 {
        let next = self.ids.len() as u32;
        *self.ids.entry(s).or_insert(next)
    }
    fn get(&self, s: &str) -> Option<u32> {
        self.ids.get(s).copied()
    }
}

fn sorted(mut v: Vec<u32>) -> Vec<u32> {
    v.sort_unstable();
    v.dedup();
    v
}

/// The size limits the flow model needs (not the rules of the problem).
pub(crate) fn check_limits(p: &Problem) -> Result<(), ProblemError> {
    if p.candidates.len() > MAX_ITEMS || p.volunteers.len() > MAX_ITEMS {
        return Err(ProblemError::TooLarge(
            "more than 2^26 candidates or volunteers",
        ));
    }
    if p.volunteers
        .iter()
        .any(|v| u64::from(v.current_load) + u64::from(v.free_capacity) > MAX_LOAD)
    {
        return Err(ProblemError::TooLarge(
            "a volunteer's load plus free capacity above 2^24",
        ));
    }
    Ok(())
}

impl<'p> Index<'p> {
    /// Interns the problem; refuses duplicate quotas and pairs naming
    /// nobody.
    pub fn new(p: &'p Problem) -> Result<Self, ProblemError> {
        for (list, pairs) in [("forbidden", &p.forbidden), ("forced", &p.forced)] {
            if let Some(index) = pairs.iter().position(|pair| {
                pair.candidate >= p.candidates.len() || pair.volunteer >= p.volunteers.len()
            }) {
                return Err(ProblemError::UnknownPairMember { list, index });
            }
        }

        let mut cats = Interner::default();
        let mut plats = Interner::default();
        let mut shops = Interner::default();
        let mut quota_of: HashMap<(u32, Option<u32>), u32> = HashMap::new();
        for (q, quota) in p.quotas.iter().enumerate() {
            let key = (
                cats.id(&quota.category),
                quota.platform.as_deref().map(|s| plats.id(s)),
            );
            if let Some(&first) = quota_of.get(&key) {
                return Err(ProblemError::DuplicateQuota {
                    first: first as usize,
                    second: q,
                });
            }
            quota_of.insert(key, q as u32);
        }
        let n = p.candidates.len();
        let mut ix = Index {
            p,
            cand_cat: Vec::with_capacity(n),
            cand_plat: Vec::with_capacity(n),
            cand_shop: Vec::with_capacity(n),
            vol_cats: Vec::with_capacity(p.volunteers.len()),
            vol_plats: Vec::with_capacity(p.volunteers.len()),
            vol_used: Vec::with_capacity(p.volunteers.len()),
            cand_wide: Vec::with_capacity(n),
            cand_narrow: Vec::with_capacity(n),
            cand_in_quota: Vec::with_capacity(n),
            forbidden: p
                .forbidden
                .iter()
                .map(|f| (f.candidate as u32, f.volunteer as u32))
                .collect(),
            has_forbidden: vec![false; n],
            shop_count: 0,
        };
        for f in &p.forbidden {
            ix.has_forbidden[f.candidate] = true;
        }
        for c in &p.candidates {
            let (cat, plat) = (cats.id(&c.category), plats.id(&c.platform));
            ix.cand_cat.push(cat);
            ix.cand_plat.push(plat);
            ix.cand_shop.push(shops.id(&c.shop));
            let wide = quota_of.get(&(cat, None)).copied();
            let narrow = quota_of.get(&(cat, Some(plat))).copied();
            let within = |q: Option<u32>| {
                q.is_none_or(|q| {
                    p.quotas[q as usize]
                        .price_cap
                        .is_none_or(|cap| c.price <= cap)
                })
            };
            ix.cand_in_quota
                .push((wide.is_some() || narrow.is_some()) && within(wide) && within(narrow));
            ix.cand_wide.push(wide);
            ix.cand_narrow.push(narrow);
        }
        for v in &p.volunteers {
            // Names nobody else uses can never match: leave them out.
            ix.vol_cats.push(sorted(
                v.categories.iter().filter_map(|s| cats.get(s)).collect(),
            ));
            ix.vol_plats.push(sorted(
                v.platforms.iter().filter_map(|s| plats.get(s)).collect(),
            ));
            ix.vol_used.push(sorted(
                v.used_shops.iter().filter_map(|s| shops.get(s)).collect(),
            ));
        }
        ix.shop_count = shops.ids.len();
        Ok(ix)
    }

    /// The quotas candidate `i` counts against.
    pub fn quotas_of(&self, i: usize) -> impl Iterator<Item = usize> {
        self.cand_wide[i]
            .into_iter()
            .chain(self.cand_narrow[i])
            .map(|q| q as usize)
    }

    pub fn has_category(&self, i: usize, v: usize) -> bool {
        self.vol_cats[v].binary_search(&self.cand_cat[i]).is_ok()
    }

    pub fn has_platform(&self, i: usize, v: usize) -> bool {
        self.vol_plats[v].binary_search(&self.cand_plat[i]).is_ok()
    }

    pub fn affordable(&self, i: usize, v: usize) -> bool {
        self.p.candidates[i].price <= self.p.volunteers[v].spending_cap
    }

    pub fn shop_used(&self, i: usize, v: usize) -> bool {
        self.vol_used[v].binary_search(&self.cand_shop[i]).is_ok()
    }

    pub fn is_forbidden(&self, i: usize, v: usize) -> bool {
        self.has_forbidden[i] && self.forbidden.contains(&(i as u32, v as u32))
    }

    /// Whether volunteer `v` may take candidate `i` on its own: category,
    /// platform, spending cap, used shops, forbidden pairs. (Capacity, the
    /// shop rule between new tasks and quotas depend on the rest of the
    /// assignment.)
    pub fn may_take(&self, i: usize, v: usize) -> bool {
        self.has_category(i, v)
            && self.has_platform(i, v)
            && self.affordable(i, v)
            && !self.shop_used(i, v)
            && !self.is_forbidden(i, v)
    }
}
