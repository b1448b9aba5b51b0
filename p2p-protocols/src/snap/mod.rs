//! The `snap/1` capability (`caps/snap.md`): state snapshot exchange.
