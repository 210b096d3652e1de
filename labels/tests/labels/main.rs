//! The stories of sample-labels: codes people type and scan, tracking numbers from real carriers,
//! and labels read back the way a scanner, an XML parser and a PDF reader read them.

mod codes;
mod render;
mod support;
mod tracking;
