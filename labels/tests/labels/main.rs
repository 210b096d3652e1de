//! The stories of sample-labels: codes people type and scan, and tracking numbers from real
//! carriers.

mod codes;
mod tracking;
