//! Middleware layers of the connection pipeline.

pub mod filter;
pub mod throttle;
