//! The loads, each measured against one target.
//!
//! - `hold`: many peers connect as fast as the target lets them, hold on
//!   (idle, then each sending a request every few seconds) and leave;
//! - `churn`: peers connect, make one request and leave, at a fixed rate;
//! - `stall`: silent, half-authenticated and slowloris connections held
//!   open while honest peers keep connecting;
//! - `garbage`: connections sending garbage open and close at a high rate
//!   while one healthy peer measures its round trips;
//! - `burst`: thousands of connections opened at once, counting what the
//!   kernel's accept queue lost;
//! - `soak` (in `soak.rs`): peers joining, exchanging and leaving at random
//!   for a long while, the target then back where it started.
//!
//! Every scenario but `hold` also runs an honest probe: fresh peers from
//! their own addresses connecting a few times a second, whose handshakes
//! must all succeed.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use examples::process::{self, Usage};
use p2p_core::Enode;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use crate::honest::{self, PeerError};
use crate::hostile::{self, Hostile, HostileStats};
use crate::latency::Latencies;
use crate::rate::spawn_at_rate;
use crate::report::{mib, ms, Report};
use crate::sources;
use crate::targets::Target;

/// How long an honest handshake (TCP, RLPx, Hello, Status) may take before
/// the load counts it as refused.
pub const HANDSHAKE_LIMIT: Duration = Duration::from_secs(10);
/// Handshakes the `hold` scenario runs at once: enough to keep a target's
/// cores busy, few enough that the load's own queueing stays out of the
/// measured handshake times.
const CONCURRENT_HANDSHAKES: usize = 64;
/// Time for the target to settle between phases.
pub const SETTLE: Duration = Duration::from_secs(5);

/// What the scenarios are asked to do.
#[derive(Clone, Debug)]
pub struct Params {
    /// `hold`: peers to connect.
    pub peers: usize,
    /// `hold`: how often each held peer sends a request.
    pub request_every: Duration,
    /// `hold`: how long peers are held streaming requests.
    pub hold: Duration,
    /// `hold`: how long after the peers left RSS is read again.
    pub recovery: Duration,
    /// `churn`: connection attempts a second.
    pub attempts: u32,
    /// `churn`: how many source addresses the attempts cycle through.
    pub churn_addresses: u32,
    /// `churn`, `stall`, `garbage`: how long each runs.
    pub duration: Duration,
    /// `stall`: hostile connections held open (a third each silent,
    /// half-auth and slowloris).
    pub stalled: usize,
    /// Honest probe handshakes a second.
    pub probe_rate: u32,
    /// `garbage`: garbage connections a second.
    pub garbage: u32,
    /// `burst`: connections opened at once.
    pub burst: usize,
    /// `soak`: how long peers keep joining and leaving.
    pub soak: Duration,
    /// `soak`: about how many peers are connected at a time.
    pub soak_peers: usize,
}

/// Failures counted by kind.
#[derive(Default)]
pub struct Failures(Mutex<BTreeMap<String, u64>>);

impl Failures {
    pub fn add(&self, error: &PeerError) {
        *self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(error.kind())
            .or_default() += 1;
    }

    pub fn total(&self) -> u64 {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .sum()
    }

    pub fn describe(&self) -> String {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.is_empty() {
            return "0".into();
        }
        let total: u64 = map.values().sum();
        let kinds: Vec<String> = map.iter().map(|(k, n)| format!("{n} {k}")).collect();
        format!("{total} ({})", kinds.join(", "))
    }
}

/// The target's counters now (zeros if it has exited).
fn usage(target: &Target) -> Usage {
    process::usage(target.pid).unwrap_or_default()
}

/// CPU time per event in milliseconds.
fn per(cpu: Duration, count: u64) -> String {
    if count == 0 {
        return "–".into();
    }
    format!("{:.3} ms", cpu.as_secs_f64() * 1e3 / count as f64)
}

/// Cores used over a span.
fn cores(cpu: Duration, over: Duration) -> String {
    format!("{:.2}", cpu.as_secs_f64() / over.as_secs_f64().max(1e-9))
}

/// Fresh honest peers connecting a few times a second: each connects,
/// makes one request and leaves.
#[derive(Default)]
struct Probe {
    handshakes: Latencies,
    failures: Failures,
}

impl Probe {
    async fn run(self: Arc<Self>, target: Enode, per_second: u32, until: Instant) {
        spawn_at_rate(per_second, until, |_| {
            let probe = self.clone();
            async move {
                let started = Instant::now();
                match honest::connect(&target, sources::HONEST.next(), HANDSHAKE_LIMIT).await {
                    Ok(mut peer) => {
                        probe.handshakes.record(started.elapsed());
                        match peer.round_trip().await {
                            Ok(_) => peer.leave().await,
                            Err(e) => probe.failures.add(&e),
                        }
                    }
                    Err(e) => probe.failures.add(&e),
                }
            }
        })
        .await;
    }

    fn report(&self, report: &mut Report) {
        report.row("honest probe: handshakes", self.handshakes.count());
        report.row(
            "honest probe: handshake p50 / p99 / max",
            self.handshakes.summary(),
        );
        report.must_be_zero(
            "honest probe: refused or dropped (target 0)",
            self.failures.total(),
            self.failures.describe(),
        );
    }
}

/// `hold`: `peers` connect (at most [`CONCURRENT_HANDSHAKES`] at once),
/// stay idle, then each sends a request every `request_every` for `hold`,
/// then all leave.
pub async fn hold(target: &Target, p: &Params) -> Report {
    let mut report = Report::default();
    let (base, own_base) = (usage(target), process::own());
    let (go_tx, go) = watch::channel(false);
    let (leave_tx, leave) = watch::channel(false);
    let permits = Arc::new(Semaphore::new(CONCURRENT_HANDSHAKES));
    let handshakes = Arc::new(Latencies::default());
    let requests = Arc::new(Latencies::default());
    let held = Arc::new(AtomicU64::new(0));
    let (refused, dropped) = (Arc::new(Failures::default()), Arc::new(Failures::default()));
    let ramp = Instant::now();
    let mut peers = JoinSet::new();
    for _ in 0..p.peers {
        let permit = permits.clone().acquire_owned().await.expect("never closed");
        let (target, go, leave) = (target.enode, go.clone(), leave.clone());
        let (handshakes, requests, held) = (handshakes.clone(), requests.clone(), held.clone());
        let (refused, dropped) = (refused.clone(), dropped.clone());
        let every = Some(p.request_every);
        peers.spawn(async move {
            let started = Instant::now();
            let peer = honest::connect(&target, sources::HONEST.next(), HANDSHAKE_LIMIT).await;
            drop(permit);
            match peer {
                Ok(peer) => {
                    handshakes.record(started.elapsed());
                    held.fetch_add(1, Ordering::Relaxed);
                    if let Err(e) = peer.run(every, &requests, go, leave).await {
                        dropped.add(&e);
                    }
                }
                Err(e) => refused.add(&e),
            }
        });
    }
    // Every handshake has ended once all permits are back.
    let _all = permits
        .acquire_many(CONCURRENT_HANDSHAKES as u32)
        .await
        .expect("never closed");
    let ramp_time = ramp.elapsed();
    let (ramped, own_ramped) = (usage(target), process::own());
    let connected = held.load(Ordering::Relaxed);
    report.row("peers asked", p.peers);
    report.row("peers connected", connected);
    report.must_be_zero("refused (target 0)", refused.total(), refused.describe());
    report.row(
        "handshakes/s (ramp)",
        format!("{:.0}", connected as f64 / ramp_time.as_secs_f64()),
    );
    report.row("handshake p50 / p99 / max", handshakes.summary());
    report.row(
        "target CPU per handshake",
        per(ramped.cpu.saturating_sub(base.cpu), connected),
    );
    report.row(
        "load CPU per handshake",
        per(own_ramped.cpu.saturating_sub(own_base.cpu), connected),
    );

    tokio::time::sleep(SETTLE).await;
    let idle = usage(target);
    let still = connected - dropped.total();
    report.row("RSS at start", mib(base.rss));
    report.row(format!("RSS with {still} idle peers"), mib(idle.rss));
    report.row(
        "RSS per idle peer (target ≤ 32 KiB)",
        format!(
            "{:.1} KiB",
            idle.rss.saturating_sub(base.rss) as f64 / 1024.0 / still.max(1) as f64
        ),
    );
    report.row(
        "threads start / with peers",
        format!("{} / {}", base.threads, idle.threads),
    );

    let _ = go_tx.send(true);
    let streaming = Instant::now();
    let before = usage(target);
    tokio::time::sleep(p.hold).await;
    let after = usage(target);
    let span = streaming.elapsed();
    report.row(
        format!("requests answered in {} s", p.hold.as_secs()),
        requests.count(),
    );
    report.row("request p50 / p99 / max", requests.summary());
    report.row(
        "target cores while streaming",
        cores(after.cpu.saturating_sub(before.cpu), span),
    );
    report.row("RSS while streaming", mib(after.rss));
    report.must_be_zero(
        "dropped while held (target 0)",
        dropped.total(),
        dropped.describe(),
    );

    let _ = leave_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(60), async {
        while peers.join_next().await.is_some() {}
    })
    .await;
    peers.abort_all();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let left = usage(target);
    report.row(
        "fds start / with peers / 1 s after leaving",
        format!("{} / {} / {}", base.fds, idle.fds, left.fds),
    );
    tokio::time::sleep(p.recovery).await;
    let recovered = usage(target);
    report.row(
        format!(
            "RSS {} s after leaving (target ≤ start + 20 %)",
            p.recovery.as_secs()
        ),
        format!(
            "{} ({:+.0} %)",
            mib(recovered.rss),
            (recovered.rss as f64 / base.rss.max(1) as f64 - 1.0) * 100.0
        ),
    );
    report.row("threads after", recovered.threads);
    report
}

/// `churn`: `attempts` a second, each connecting from one of
/// `churn_addresses` addresses, making one request and leaving, for
/// `duration`; the honest probe runs beside it.
pub async fn churn(target: &Target, p: &Params) -> Report {
    let mut report = Report::default();
    let base = usage(target);
    let started = Instant::now();
    let until = started + p.duration;
    let probe = Arc::new(Probe::default());
    let probing = tokio::spawn(probe.clone().run(target.enode, p.probe_rate, until));
    let handshakes = Arc::new(Latencies::default());
    let refused = Arc::new(Failures::default());
    let addresses = p.churn_addresses.max(1);
    let attempts = spawn_at_rate(p.attempts, until, |n| {
        let source = sources::CHURN.nth(n % addresses);
        let (target, handshakes, refused) = (target.enode, handshakes.clone(), refused.clone());
        async move {
            let at = Instant::now();
            match honest::connect(&target, source, HANDSHAKE_LIMIT).await {
                Ok(mut peer) => {
                    handshakes.record(at.elapsed());
                    if peer.round_trip().await.is_ok() {
                        peer.leave().await;
                    }
                }
                Err(e) => refused.add(&e),
            }
        }
    })
    .await;
    let _ = probing.await;
    let span = started.elapsed();
    let end = usage(target);
    let done = handshakes.count();
    report.row("attempts", attempts);
    report.row(
        "attempts/s made",
        format!("{:.0}", attempts as f64 / p.duration.as_secs_f64()),
    );
    report.row("handshakes completed", done);
    report.row(
        "handshakes/s",
        format!("{:.0}", done as f64 / span.as_secs_f64()),
    );
    report.row("not admitted", refused.describe());
    report.row("handshake p50 / p99 / max", handshakes.summary());
    let cpu = end.cpu.saturating_sub(base.cpu);
    report.row("target cores", cores(cpu, span));
    report.row("target CPU per attempt", per(cpu, attempts as u64));
    report.row("target CPU per completed handshake", per(cpu, done));
    report.row(
        "RSS at start / end",
        format!("{} / {}", mib(base.rss), mib(end.rss)),
    );
    probe.report(&mut report);
    report
}

/// `stall`: `stalled` hostile connections (a third silent, a third
/// half-auth, the rest slowloris) kept open for `duration`, re-opened as
/// the target closes them, while the honest probe connects.
pub async fn stall(target: &Target, p: &Params) -> Report {
    let mut report = Report::default();
    let base = usage(target);
    let started = Instant::now();
    let until = started + p.duration;
    let third = p.stalled / 3;
    let kinds = [
        (Hostile::Silent, third),
        (Hostile::HalfAuth, third),
        (Hostile::Slowloris, p.stalled - 2 * third),
    ];
    let mut holders = JoinSet::new();
    let mut stats = Vec::new();
    for (kind, count) in kinds {
        let counters = Arc::new(HostileStats::default());
        stats.push((kind, counters.clone()));
        holders.spawn(hostile::hold(kind, count, target.enode, until, counters));
    }
    tokio::time::sleep(SETTLE).await;
    let probe = Arc::new(Probe::default());
    probe.clone().run(target.enode, p.probe_rate, until).await;
    while holders.join_next().await.is_some() {}
    let span = started.elapsed();
    let end = usage(target);
    for (kind, counters) in &stats {
        report.row(
            format!("{kind:?}: opened / closed by target / mean life"),
            format!(
                "{} / {} / {}",
                counters.opened.load(Ordering::Relaxed),
                counters.closed_by_target.load(Ordering::Relaxed),
                ms(counters.mean_lifetime())
            ),
        );
    }
    report.row(
        "target cores",
        cores(end.cpu.saturating_sub(base.cpu), span),
    );
    probe.report(&mut report);
    report
}

/// `garbage`: `garbage` connections a second send 300 random bytes and
/// hang up, for `duration`, while one healthy peer sends a request every
/// 10 ms and the honest probe connects.
pub async fn garbage(target: &Target, p: &Params) -> Report {
    let mut report = Report::default();
    let mut healthy =
        match honest::connect(&target.enode, sources::HONEST.next(), HANDSHAKE_LIMIT).await {
            Ok(peer) => peer,
            Err(e) => {
                report.must_be_zero("healthy peer", 1, format!("could not connect: {e}"));
                return report;
            }
        };
    // The round trip with nothing else going on, for comparison.
    let quiet = Latencies::default();
    let mut failed = None;
    for _ in 0..500 {
        match healthy.round_trip().await {
            Ok(took) => quiet.record(took),
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    report.row(
        "healthy round trip, quiet: p50 / p99 / max",
        quiet.summary(),
    );

    let base = usage(target);
    let started = Instant::now();
    let until = started + p.duration;
    let counters = Arc::new(HostileStats::default());
    let churning = tokio::spawn(hostile::churn(
        Hostile::Garbage,
        p.garbage,
        target.enode,
        until,
        counters.clone(),
    ));
    let probe = Arc::new(Probe::default());
    let probing = tokio::spawn(probe.clone().run(target.enode, p.probe_rate, until));
    let loaded = Latencies::default();
    while failed.is_none() && Instant::now() < until {
        match healthy.round_trip().await {
            Ok(took) => loaded.record(took),
            Err(e) => failed = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = churning.await;
    let _ = probing.await;
    let span = started.elapsed();
    let end = usage(target);
    healthy.leave().await;
    let opened = counters.opened.load(Ordering::Relaxed);
    report.row(
        "garbage connections/s made",
        format!("{:.0}", opened as f64 / span.as_secs_f64()),
    );
    report.row(
        "garbage connects that failed",
        counters.connect_failed.load(Ordering::Relaxed),
    );
    report.row(
        "healthy round trip under churn: p50 / p99 / max (target p99 ≤ 20 ms)",
        loaded.summary(),
    );
    report.must_be_zero(
        "healthy peer dropped (target no)",
        u64::from(failed.is_some()),
        failed.map_or("no".to_string(), |e| e.to_string()),
    );
    report.row(
        "target cores",
        cores(end.cpu.saturating_sub(base.cpu), span),
    );
    probe.report(&mut report);
    report
}

/// A counter of the kernel's TCP extension statistics (`/proc/net/netstat`,
/// this network namespace), such as `ListenOverflows`.
fn tcp_ext(name: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/netstat").ok()?;
    let mut lines = text.lines().filter(|line| line.starts_with("TcpExt:"));
    let (names, values) = (lines.next()?, lines.next()?);
    let at = names.split_whitespace().position(|n| n == name)?;
    values.split_whitespace().nth(at)?.parse().ok()
}

/// How long a connect in the burst may take: past the kernel's SYN
/// retries of 1 s and 3 s, so a connection delayed by a dropped SYN still
/// counts as made (and shows in the connect times).
const BURST_CONNECT_LIMIT: Duration = Duration::from_secs(10);

/// `burst`: `burst` connections opened all at once, each from its own
/// address, sending nothing; counts those made, how long they took, and
/// the kernel's accept-queue overflows meanwhile.
pub async fn burst(target: &Target, p: &Params) -> Report {
    let mut report = Report::default();
    let (overflows, drops) = (tcp_ext("ListenOverflows"), tcp_ext("ListenDrops"));
    let connects = Arc::new(Latencies::default());
    let addr = target.enode.tcp_addr();
    let mut tasks = JoinSet::new();
    for _ in 0..p.burst {
        let connects = connects.clone();
        tasks.spawn(async move {
            let at = Instant::now();
            let made = tokio::time::timeout(
                BURST_CONNECT_LIMIT,
                sources::connect(sources::HOSTILE.next(), addr),
            )
            .await;
            match made {
                Ok(Ok(tcp)) => {
                    connects.record(at.elapsed());
                    Some(tcp)
                }
                _ => None,
            }
        });
    }
    let mut open = Vec::with_capacity(p.burst);
    while let Some(done) = tasks.join_next().await {
        if let Ok(Some(tcp)) = done {
            open.push(tcp);
        }
    }
    let delta = |before: Option<u64>, name: &str| match (before, tcp_ext(name)) {
        (Some(before), Some(after)) => after.saturating_sub(before).to_string(),
        _ => "unknown".to_string(),
    };
    report.row("connections opened at once", p.burst);
    report.row("connections made", open.len());
    report.row("connect p50 / p99 / max", connects.summary());
    report.row(
        "kernel ListenOverflows / ListenDrops (target 0)",
        format!(
            "{} / {}",
            delta(overflows, "ListenOverflows"),
            delta(drops, "ListenDrops")
        ),
    );
    let failed = (p.burst - open.len()) as u64;
    report.must_be_zero("connections not made", failed, failed);
    drop(open);
    report
}
