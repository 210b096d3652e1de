//! What the server hands the engine: quotas, candidates, volunteers and the
//! coordinator's manual adjustments. Plain data; the server maps its rows to
//! these and keeps its own ids in vectors parallel to ours (candidates and
//! volunteers are named by their index everywhere in this crate).

use serde::{Deserialize, Serialize};

use crate::check::Violation;

/// One assignment problem: a campaign's open quotas, its candidate listings
/// and the volunteers who could buy them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub quotas: Vec<Quota>,
    pub candidates: Vec<Candidate>,
    pub volunteers: Vec<Volunteer>,
    /// Pairs the coordinator ruled out: this candidate never goes to this
    /// volunteer.
    #[serde(default)]
    pub forbidden: Vec<Pair>,
    /// Pairs the coordinator fixed: the assignment contains each of them and
    /// the rest is optimised around them. They must obey every rule
    /// together (checked by [`crate::solve`]).
    #[serde(default)]
    pub forced: Vec<Pair>,
}

/// A quota: `remaining` open slots for a category, or for a category on one
/// platform.
///
/// Nesting: a candidate of category `c` on platform `p` counts against the
/// `(c, Some(p))` quota if there is one and against the `(c, None)` quota if
/// there is one; it is eligible only if at least one of them exists and its
/// price is within the `price_cap` of each that exists. So a category with
/// only per-platform quotas takes nothing from other platforms. At most one
/// quota per `(category, platform)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    pub category: String,
    /// `None`: the category-wide quota.
    #[serde(default)]
    pub platform: Option<String>,
    /// Slots still open (target minus tasks already created).
    pub remaining: u32,
    /// The highest listed price (minor currency units) a lot may have.
    #[serde(default)]
    pub price_cap: Option<i64>,
}

/// A candidate listing: one buying task if assigned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    pub category: String,
    pub platform: String,
    /// The shop's id on its platform. One volunteer never gets two listings
    /// of one shop.
    pub shop: String,
    /// Listed price, minor currency units.
    pub price: i64,
    /// Risk points: the server's risk score as an integer (e.g. score x
    /// 1000). Higher is riskier, and riskier candidates are preferred.
    pub risk: u32,
}

/// A volunteer, as far as assignment cares.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volunteer {
    /// Categories they are willing to buy.
    pub categories: Vec<String>,
    /// Platforms they hold an account on.
    pub platforms: Vec<String>,
    /// How many new tasks they may get now.
    pub free_capacity: u32,
    /// Open tasks they already hold (for evenness only).
    pub current_load: u32,
    /// The most they pay for one task, minor currency units.
    pub spending_cap: i64,
    /// Shops where they already have a task in this campaign: none of their
    /// listings may go to them.
    #[serde(default)]
    pub used_shops: Vec<String>,
}

/// A candidate (index into [`Problem::candidates`]) given to a volunteer
/// (index into [`Problem::volunteers`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Pair {
    pub candidate: usize,
    pub volunteer: usize,
}

impl Pair {
    pub fn new(candidate: usize, volunteer: usize) -> Self {
        Self {
            candidate,
            volunteer,
        }
    }
}

/// Why [`crate::solve`] refused a problem. Nothing is assigned then.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProblemError {
    #[error("quotas {first} and {second} are for the same category and platform")]
    DuplicateQuota { first: usize, second: usize },
    #[error("{list} pair {index} names a candidate or volunteer that does not exist")]
    UnknownPairMember { list: &'static str, index: usize },
    #[error("the forced pairs break {} rule(s), first: {:?}", .0.len(), .0.first())]
    ForcedPairs(Vec<Violation>),
    #[error("the problem is beyond the engine's documented limits: {0}")]
    TooLarge(&'static str),
}
