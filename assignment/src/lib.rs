//! The exact task-assignment engine of mystery-buyer campaigns.
//!
//! Given a campaign's open quotas, its candidate listings and its
//! volunteers, [`solve`] returns an assignment that obeys every hard rule and
//! is optimal for, in this order: the most tasks (filled quota slots); among
//! those, the most total risk; among those, the most even load (the
//! smallest sum over volunteers of `(current_load + new)^2`, see
//! [`Objective`]). [`validate`] checks any assignment against the rules and
//! [`objective`] scores it, so a coordinator's hand edits go through the same
//! checks as the engine's output.
//!
//! This crate is pure: no IO, no clock, no async runtime, no database, no
//! floating point in anything that decides the answer.
//!
//! # The rules
//! Each candidate to at most one volunteer; a volunteer gets at most
//! `free_capacity` new tasks, only in their categories, on their platforms,
//! at a price within their spending cap; never two listings of one shop, nor
//! a listing of a shop in their `used_shops`; never a forbidden pair; always
//! the forced pairs; no quota exceeded, at either level of nesting (see
//! [`Quota`]).
//!
//! # The algorithm
//! The problem is a min-cost flow: source -> category quota -> platform
//! quota -> candidate -> (volunteer, shop) -> volunteer -> sink, with the
//! k-th new task of a volunteer with load L costing 2(L + k) - 1 (these sum
//! to `(L + n)^2 - L^2`, so the convex arcs price evenness exactly). Each
//! candidate arc costs `(-1, -risk, 0)` and each volunteer unit
//! `(0, 0, 2(L + k) - 1)`; costs are integer triples compared
//! lexicographically, so a minimum-cost circulation (with an arc sink ->
//! source) is exactly the lexicographic optimum: most tasks, then most risk,
//! then least `load_squares`. It is solved by the primal network simplex
//! (`flow.rs`).
//!
//! Written out, the model has an arc per allowed (candidate, volunteer)
//! pair: ten million and more for a big campaign. So the engine
//! (`engine.rs`) works in rounds:
//!
//! 1. **Relax.** Drop the shop rule (and used shops and forbidden pairs) for
//!    every shop not yet marked exact. Then who may take a candidate depends
//!    only on its (category, platform) class and its price, so each class
//!    becomes a chain of spending-cap levels: a candidate enters at the
//!    lowest level whose cap covers its price, flow only climbs, and each
//!    volunteer hangs at its own cap's level (levels exist only where
//!    candidates enter). Arcs: O(candidates + volunteers x classes). Shops marked exact keep their rules: their own
//!    chains, hung on (volunteer, shop) nodes of capacity 1 that exist only
//!    where the shop is not used, and one arc per allowed volunteer for their
//!    candidates named in forbidden pairs. Every real assignment is a flow of
//!    this model with the same cost, so its optimum bounds the real optimum
//!    from above.
//! 2. **Realise.** The objective depends only on which candidates are chosen
//!    and how many tasks each volunteer gets. Decompose the chain flows into
//!    candidate -> volunteer placements, then move any placement that breaks
//!    a shop rule along augmenting paths of the bipartite flow problem
//!    "these candidates, these loads, (volunteer, shop) capacity 1". If all
//!    are placed, the assignment is real and reaches the upper bound: it is
//!    optimal.
//! 3. **Refine.** Otherwise that flow problem has no perfect solution
//!    (max-flow/min-cut: the searches were exhaustive), and the shops of the
//!    candidates that could not be placed are marked exact; back to 1. Each
//!    round marks at least one new shop, and with every shop exact the
//!    model is the full problem (realised without conflicts), so the loop
//!    ends, with the optimum.
//!
//! [`reference::solve_explicit`] solves the explicit model directly (small
//! instances) and [`reference::certify`] proves an assignment optimal on the
//! explicit model of any size (no negative cycle in its residual graph);
//! tests compare the engine with both, with brute force and with an ILP
//! solver.
//!
//! # Limits and determinism
//! At most 2^26 candidates and 2^26 volunteers, and `current_load +
//! free_capacity` at most 2^24 per volunteer ([`ProblemError::TooLarge`]
//! otherwise): that keeps every sum of costs far inside `i64`. The same
//! problem always gives the same answer (no randomness, no iteration over
//! hash order that could change it).

// Parallel arrays indexed by candidate or volunteer read best as index loops.
#![allow(clippy::needless_range_loop)]

mod check;
mod engine;
mod explain;
mod flow;
mod index;
mod problem;
pub mod reference;

pub use check::{Objective, Violation, objective, validate};
pub use engine::{Assignment, Stats, solve};
pub use explain::{ReasonCount, Unfilled, UnfilledReason};
pub use problem::{Candidate, Pair, Problem, ProblemError, Quota, Volunteer};
