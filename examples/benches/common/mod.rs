//! What the benchmarks of this crate share.

use std::time::Duration;

use criterion::Criterion;

/// 30 samples after 1 s of warm-up over 3 s of measurement: whole-stack
/// requests take milliseconds, so this is enough samples for a stable
/// median while a run stays short.
pub fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}
