//! The evidence-media stories: what a volunteer's file becomes, and what is refused.

mod support;

mod chat_logs;
mod hashes;
mod pictures;
mod refusals;
mod robustness;
