//! Tasks started at a steady rate for a while.

use std::future::Future;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

/// Starts `task(n)` (n = 0, 1, …) `per_second` times a second until
/// `until`, each on its own tokio task, and returns once all have ended;
/// returns how many were started. Ticks missed while the runtime was busy
/// are made up at once, so the count matches the rate asked for.
pub async fn spawn_at_rate<F>(
    per_second: u32,
    until: Instant,
    mut task: impl FnMut(u32) -> F,
) -> u32
where
    F: Future<Output = ()> + Send + 'static,
{
    if per_second == 0 {
        return 0;
    }
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / per_second);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = JoinSet::new();
    let mut started = 0;
    while Instant::now() < until {
        ticks.tick().await;
        tasks.spawn(task(started));
        started += 1;
        // Reap finished tasks as we go so the set stays small.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    started
}
