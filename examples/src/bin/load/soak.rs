//! `soak`: peers join, exchange and leave at random for a long while; once
//! they have all left, the target must be back where it started: descriptors
//! exactly, memory within 5 % (or [`RSS_SLACK`]) and runtime tasks within 5 %.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use examples::process::{self, Usage};
use p2p_core::Enode;
use rand::Rng;

use crate::honest;
use crate::latency::Latencies;
use crate::probe;
use crate::rate::spawn_at_rate;
use crate::report::{mib, Report};
use crate::scenarios::{Failures, Params, HANDSHAKE_LIMIT, SETTLE};
use crate::sources;
use crate::targets::Target;

/// Longest a soak peer stays; lives are uniform from 1 s up to this.
const MAX_LIFE: Duration = Duration::from_secs(20);
/// Longest pause between a soak peer's requests; pauses are uniform up to it.
const MAX_PAUSE: Duration = Duration::from_secs(2);
/// How often the target is read while the soak runs, for the peaks.
const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// How far memory and tasks may stay above their start once the peers left.
const TOLERANCE: f64 = 0.05;
/// Memory may also stay this far above its start, whatever the percentage:
/// on a node of 16 MiB, 5 % is under a megabyte, less than what maps and
/// the allocator keep after a peak of concurrency higher than the warm-up's
/// (capacity kept is not a leak; it does not grow with the hours). Over the
/// 600 peers of a minute's soak this still catches a leak of 4 KiB a peer,
/// and over an hour's soak much less.
const RSS_SLACK: u64 = 2 * 1024 * 1024;
/// Longest warm-up wave before the soak proper.
const MAX_WARM_UP: Duration = Duration::from_secs(120);
/// Runtime tasks on our node's Prometheus endpoint.
const TASKS_METRIC: &str = "process_runtime_alive_tasks";

/// One reading of the target: `/proc` and, where it serves them, its tasks.
#[derive(Clone, Copy, Default)]
struct Reading {
    usage: Usage,
    tasks: Option<f64>,
}

fn read(target: &Target) -> Reading {
    Reading {
        usage: process::usage(target.pid).unwrap_or_default(),
        tasks: target
            .metrics
            .and_then(|addr| probe::scrape(addr, TASKS_METRIC)),
    }
}

/// The largest of each counter over the readings.
#[derive(Default)]
struct Peaks {
    rss: u64,
    fds: u64,
    tasks: f64,
}

impl Peaks {
    fn add(&mut self, r: &Reading) {
        self.rss = self.rss.max(r.usage.rss);
        self.fds = self.fds.max(r.usage.fds);
        self.tasks = self.tasks.max(r.tasks.unwrap_or(0.0));
    }
}

/// `after` against `start` as a signed percentage.
fn change(start: f64, after: f64) -> f64 {
    (after / start.max(1.0) - 1.0) * 100.0
}

/// One soak peer: joins, sends a request after each pause of up to
/// [`MAX_PAUSE`] for a life of up to [`MAX_LIFE`], then leaves with a
/// goodbye or, half the time, just closes.
async fn peer(target: Enode, stats: &Stats) {
    let (life, goodbye) = {
        let mut rng = rand::rng();
        (
            Duration::from_secs(1) + MAX_LIFE.mul_f64(rng.random::<f64>()),
            rng.random::<bool>(),
        )
    };
    let started = Instant::now();
    let mut peer = match honest::connect(&target, sources::HONEST.next(), HANDSHAKE_LIMIT).await {
        Ok(peer) => peer,
        Err(e) => return stats.refused.add(&e),
    };
    stats.joined.fetch_add(1, Ordering::Relaxed);
    while started.elapsed() < life {
        let pause = MAX_PAUSE.mul_f64(rand::random::<f64>());
        tokio::time::sleep(pause).await;
        match peer.round_trip().await {
            Ok(took) => stats.requests.record(took),
            Err(e) => return stats.dropped.add(&e),
        }
    }
    if goodbye {
        peer.leave().await;
    }
}

#[derive(Default)]
struct Stats {
    joined: AtomicU64,
    requests: Latencies,
    refused: Failures,
    dropped: Failures,
}

/// Peers joining at `per_second` for `span` (each living up to
/// [`MAX_LIFE`]); returns how many started once the last has left.
async fn wave(target: Enode, stats: &Arc<Stats>, per_second: u32, span: Duration) -> u32 {
    spawn_at_rate(per_second, Instant::now() + span, |_| {
        let stats = stats.clone();
        async move { peer(target, &stats).await }
    })
    .await
}

/// `soak`: about `soak_peers` peers at a time for `soak`, each living up to
/// [`MAX_LIFE`]; then all leave and the target is read again after
/// `recovery`.
///
/// The start it is compared against is the target warmed up: a first wave
/// of peers (a fifth of `soak`, at most [`MAX_WARM_UP`]) has come and gone
/// and `recovery` has passed. What a node sets up once on first use (thread
/// caches, allocator arenas, metric series) is not a leak; what grows with
/// the hours is, and a second, longer wave must not leave it behind.
pub async fn soak(target: &Target, p: &Params) -> Report {
    let mut report = Report::default();
    tokio::time::sleep(SETTLE).await;
    let cold = read(target);
    // Peers live (1 s + MAX_LIFE) / 2 on average: joining at this rate keeps
    // about `soak_peers` of them.
    let mean_life = (Duration::from_secs(1) + MAX_LIFE) / 2;
    let per_second = (p.soak_peers as f64 / mean_life.as_secs_f64()).ceil() as u32;
    // Long enough for the first peers to leave, so that the warm-up reaches
    // the soak's concurrency.
    let warm_up = (p.soak / 5).clamp(MAX_LIFE, MAX_WARM_UP);
    let warm_stats = Arc::new(Stats::default());
    wave(target.enode, &warm_stats, per_second, warm_up).await;
    tokio::time::sleep(p.recovery).await;
    let start = read(target);

    let stats = Arc::new(Stats::default());
    let until = Instant::now() + p.soak;
    let sampler = async {
        let mut peaks = Peaks::default();
        while Instant::now() < until {
            tokio::time::sleep(SAMPLE_EVERY).await;
            peaks.add(&read(target));
        }
        peaks
    };
    let (peaks, started) = tokio::join!(sampler, wave(target.enode, &stats, per_second, p.soak));
    let ran = p.soak;
    tokio::time::sleep(p.recovery).await;
    let after = read(target);
    for (kind, failures) in [
        ("refused", &warm_stats.refused),
        ("dropped", &warm_stats.dropped),
    ] {
        report.must_be_zero(
            &format!("warm-up: honest peers {kind} (target 0)"),
            failures.total(),
            failures.describe(),
        );
    }
    report.row(
        "RSS cold / warmed up",
        format!("{} / {}", mib(cold.usage.rss), mib(start.usage.rss)),
    );
    report.row(
        "ran for (after the warm-up)",
        format!("{} s", ran.as_secs()),
    );
    report.row("peers joined a second", per_second);
    report.row(
        "peers started / joined",
        format!("{started} / {}", stats.joined.load(Ordering::Relaxed)),
    );
    report.row("requests answered", stats.requests.count());
    report.row("request p50 / p99 / max", stats.requests.summary());
    report.must_be_zero(
        "honest peers refused (target 0)",
        stats.refused.total(),
        stats.refused.describe(),
    );
    report.must_be_zero(
        "honest peers dropped (target 0)",
        stats.dropped.total(),
        stats.dropped.describe(),
    );
    let recovery = p.recovery.as_secs();
    report.row(
        format!("RSS warmed up / peak / {recovery} s after the last left"),
        format!(
            "{} / {} / {} ({:+.1} %)",
            mib(start.usage.rss),
            mib(peaks.rss),
            mib(after.usage.rss),
            change(start.usage.rss as f64, after.usage.rss as f64)
        ),
    );
    let allowed = (start.usage.rss as f64 * TOLERANCE).max(RSS_SLACK as f64);
    let rss_over = after.usage.rss as f64 > start.usage.rss as f64 + allowed;
    report.must_be_zero(
        "RSS more than 5 % (or 2 MiB) over its start (target no)",
        rss_over as u64,
        if rss_over { "yes" } else { "no" },
    );
    report.row(
        format!("fds warmed up / peak / {recovery} s after"),
        format!("{} / {} / {}", start.usage.fds, peaks.fds, after.usage.fds),
    );
    report.must_be_zero(
        "fds not back to their start (target 0)",
        after.usage.fds.abs_diff(start.usage.fds),
        after.usage.fds as i64 - start.usage.fds as i64,
    );
    match (start.tasks, after.tasks) {
        (Some(before), Some(now)) => {
            report.row(
                format!("runtime tasks warmed up / peak / {recovery} s after"),
                format!("{before} / {} / {now}", peaks.tasks),
            );
            let over = now > before * (1.0 + TOLERANCE);
            report.must_be_zero(
                "runtime tasks more than 5 % over their start (target no)",
                over as u64,
                if over { "yes" } else { "no" },
            );
        }
        _ => report.row("runtime tasks", "– (no metrics endpoint)"),
    }
    report.row(
        "threads cold / warmed up / after",
        format!(
            "{} / {} / {}",
            cold.usage.threads, start.usage.threads, after.usage.threads
        ),
    );
    report
}
