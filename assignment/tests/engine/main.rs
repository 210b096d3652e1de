//! The engine against independent exact solvers (brute force, an ILP, the
//! explicit model), and the stories a coordinator would tell about it.

// Parallel arrays indexed by candidate or volunteer read best as index loops.
#![allow(clippy::needless_range_loop)]

mod medium;
mod small;
mod stories;
mod support;
