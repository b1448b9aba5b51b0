//! Middleware layers of the connection pipeline.

pub mod filter;
pub mod metrics;
pub mod pending;
pub mod rate_limit;
pub mod throttle;
pub mod traffic;
