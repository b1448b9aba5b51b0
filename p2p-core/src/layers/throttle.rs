//! The inbound throttle layer.
