//! The peer filter layer.
