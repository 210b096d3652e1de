//! The custody log's stories: the Merkle tree against the RFC's own
//! recursive definitions, every classic tampering with the database and how
//! it is reported, sample chain proofs, the frozen encodings, and a long log.

mod chain;
mod golden;
mod merkle;
mod scale;
mod support;
mod tampering;
