//! The rate limit: token buckets, the rate-limited connection and its
//! layer.

use std::convert::Infallible;

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use p2p_core::base::{ping_msg, DisconnectReason, DISCONNECT, PING};
use p2p_core::layers::rate_limit::*;
use p2p_core::testing::{mem_pair, MemConn, MemConnClosed};
use p2p_core::{Authenticated, ConnGuards, Connecting, Direction, Msg, MsgConn, NodeKey};
use tokio::time::Instant as TokioInstant;
use tower::{ServiceBuilder, ServiceExt};

const MS: Duration = Duration::from_millis(1);

fn pair() -> (MemConn, MemConn) {
    mem_pair(NodeKey::random().id(), NodeKey::random().id())
}

fn msg(code: u64, len: usize) -> Msg {
    Msg::new(code, vec![code as u8; len])
}

fn messages_only(per_second: u64, burst: u64, policy: RateLimitPolicy) -> RateLimitConfig {
    RateLimitConfig {
        messages: Some(Rate::new(per_second, burst)),
        bytes: None,
        policy,
    }
}

// --- TokenBucket with a fake clock ---

#[test]
fn bucket_starts_full_and_refills_at_rate() {
    let t0 = Instant::now();
    let mut bucket = TokenBucket::new(Rate::new(10, 5), t0);
    for _ in 0..5 {
        assert_eq!(bucket.try_take(1, t0), Ok(()));
    }
    assert_eq!(bucket.try_take(1, t0), Err(100 * MS));
    assert_eq!(bucket.try_take(1, t0 + 99 * MS), Err(MS));
    assert_eq!(bucket.try_take(1, t0 + 100 * MS), Ok(()));
    assert_eq!(bucket.tokens(t0 + 100 * MS), 0);
    assert_eq!(bucket.tokens(t0 + 350 * MS), 2);
}

#[test]
fn bucket_refill_stops_at_burst() {
    let t0 = Instant::now();
    let mut bucket = TokenBucket::new(Rate::new(10, 5), t0);
    bucket.take(5, t0);
    assert_eq!(bucket.tokens(t0 + Duration::from_secs(3600)), 5);
    let later = t0 + Duration::from_secs(3600);
    assert_eq!(bucket.try_take(5, later), Ok(()));
    assert_eq!(bucket.try_take(1, later), Err(100 * MS));
}

#[test]
fn bucket_fractional_rate_waits_exactly() {
    let t0 = Instant::now();
    let mut bucket = TokenBucket::new(Rate::new(3, 3), t0);
    assert_eq!(bucket.try_take(3, t0), Ok(()));
    // One token takes a third of a second, rounded up to the nanosecond.
    let wait = Duration::from_nanos(333_333_334);
    assert_eq!(bucket.wait_time(1, t0), wait);
    assert_eq!(
        bucket.wait_time(1, t0 + wait - Duration::from_nanos(1)),
        Duration::from_nanos(1)
    );
    // Refilled in a thousand small steps, exactly: no rounding drift.
    for step in 1..1000 {
        bucket.tokens(t0 + step * MS);
    }
    let t1 = t0 + Duration::from_secs(1);
    assert_eq!(
        bucket.wait_time(3, t1 - Duration::from_nanos(1)),
        Duration::from_nanos(1)
    );
    assert_eq!(bucket.try_take(3, t1), Ok(()));
}

#[test]
fn bucket_cost_over_capacity_goes_into_debt() {
    let t0 = Instant::now();
    let mut bucket = TokenBucket::new(Rate::new(100, 100), t0);
    // Not refused forever: admitted when full...
    assert_eq!(bucket.try_take(250, t0), Ok(()));
    assert_eq!(bucket.tokens(t0), -150);
    // ...and paid for: the next token needs 151 tokens of refill.
    assert_eq!(bucket.wait_time(1, t0), 1510 * MS);
    // Once partly refilled it must wait for a full bucket again.
    assert_eq!(
        bucket.try_take(250, t0 + Duration::from_secs(2)),
        Err(500 * MS)
    );
    assert_eq!(
        bucket.try_take(250, t0 + Duration::from_millis(2500)),
        Ok(())
    );
}

#[test]
fn bucket_clock_going_backwards_refills_nothing() {
    let t0 = Instant::now() + Duration::from_secs(10);
    let mut bucket = TokenBucket::new(Rate::new(10, 5), t0);
    bucket.take(5, t0);
    assert_eq!(bucket.tokens(t0 - Duration::from_secs(5)), 0);
    // The earlier reading did not move the reference point back.
    assert_eq!(bucket.tokens(t0 + 200 * MS), 2);
}

#[test]
fn bucket_zero_rate_and_burst_are_raised_to_one() {
    let t0 = Instant::now();
    let mut bucket = TokenBucket::new(Rate::new(0, 0), t0);
    assert_eq!(bucket.rate(), Rate::new(1, 1));
    assert_eq!(bucket.try_take(1, t0), Ok(()));
    assert_eq!(bucket.try_take(1, t0), Err(Duration::from_secs(1)));
}

#[test]
fn bucket_extreme_values_do_not_overflow() {
    let t0 = Instant::now();
    let mut bucket = TokenBucket::new(Rate::new(u64::MAX, u64::MAX), t0);
    bucket.take(u64::MAX, t0);
    bucket.take(u64::MAX, t0);
    assert!(bucket.tokens(t0) < 0);
    assert_eq!(bucket.tokens(t0 + Duration::from_secs(1_000_000)), i64::MAX);
    let mut slow = TokenBucket::new(Rate::new(1, u64::MAX), t0);
    slow.take(u64::MAX, t0);
    assert_eq!(slow.wait_time(1, t0), Duration::from_secs(1));
    assert_eq!(slow.wait_time(u64::MAX, t0), Duration::from_nanos(u64::MAX));
}

#[test]
fn config_toml_defaults_and_policy_names() {
    let config: RateLimitConfig = toml::from_str("").unwrap();
    assert_eq!(config, RateLimitConfig::default());
    let config: RateLimitConfig =
        toml::from_str("policy = \"disconnect\"\nmessages = { per_second = 5, burst = 10 }\n")
            .unwrap();
    assert_eq!(config.policy, RateLimitPolicy::Disconnect);
    assert_eq!(config.messages, Some(Rate::new(5, 10)));
    assert_eq!(config.bytes, RateLimitConfig::default().bytes);
}

#[test]
fn exceeded_rate_maps_to_subprotocol_error() {
    let err: RateLimitError<MemConnClosed> = RateLimitError::RateExceeded {
        kind: LimitKind::Messages,
        per_second: 1,
        burst: 1,
        code: 0x10,
    };
    assert_eq!(
        err.disconnect_reason(),
        Some(DisconnectReason::SubprotocolError)
    );
    assert!(err.to_string().contains("1 messages/s"));
    assert_eq!(
        RateLimitError::Conn(MemConnClosed).disconnect_reason(),
        None
    );
}

// --- RateLimitedConn over an in-memory connection, on a paused clock ---

#[tokio::test(start_paused = true)]
async fn delay_holds_next_message_for_refill_time_and_loses_nothing() {
    let (ours, mut theirs) = pair();
    let mut conn = RateLimitedConn::new(ours, messages_only(10, 5, RateLimitPolicy::Delay));
    for i in 0..8 {
        theirs.send(msg(0x10 + i, 3)).await.unwrap();
    }
    drop(theirs);
    let start = TokioInstant::now();
    let mut arrivals = Vec::new();
    while let Some(read) = conn.next().await {
        arrivals.push((read.unwrap().code, start.elapsed()));
    }
    let expected: Vec<_> = (0..8u64)
        .map(|i| {
            let at = if i < 5 {
                Duration::ZERO
            } else {
                (i - 4) as u32 * 100 * MS
            };
            (0x10 + i, at)
        })
        .collect();
    assert_eq!(arrivals, expected);
    assert!(!conn.is_delaying());
}

#[tokio::test(start_paused = true)]
async fn delay_by_bytes_pays_for_a_large_message() {
    let (ours, mut theirs) = pair();
    let config = RateLimitConfig {
        messages: None,
        bytes: Some(Rate::new(1000, 1000)),
        policy: RateLimitPolicy::Delay,
    };
    let mut conn = RateLimitedConn::new(ours, config);
    theirs.send(msg(0x10, 1500)).await.unwrap();
    theirs.send(msg(0x11, 100)).await.unwrap();
    let start = TokioInstant::now();
    assert_eq!(conn.next().await.unwrap().unwrap().payload.len(), 1500);
    assert_eq!(start.elapsed(), Duration::ZERO);
    // 500 bytes of debt plus 100 bytes at 1000 bytes/s.
    assert_eq!(conn.next().await.unwrap().unwrap().code, 0x11);
    assert_eq!(start.elapsed(), 600 * MS);
}

#[tokio::test(start_paused = true)]
async fn delay_does_not_hold_back_a_disconnect() {
    let (ours, mut theirs) = pair();
    let mut conn = RateLimitedConn::new(ours, messages_only(1, 1, RateLimitPolicy::Delay));
    theirs.send(msg(0x10, 1)).await.unwrap();
    theirs.send(msg(0x11, 1)).await.unwrap();
    theirs
        .send(DisconnectReason::TooManyPeers.to_msg())
        .await
        .unwrap();
    let start = TokioInstant::now();
    assert_eq!(conn.next().await.unwrap().unwrap().code, 0x10);
    // 0x11 waits for a token; the Disconnect behind it overtakes it.
    let disconnect = conn.next().await.unwrap().unwrap();
    assert_eq!(disconnect.code, DISCONNECT);
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert!(conn.is_delaying());
    // The held message still comes when its wait is over; the debt the
    // Disconnect ran up is paid by the next message.
    assert_eq!(conn.next().await.unwrap().unwrap().code, 0x11);
    assert_eq!(start.elapsed(), Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn delay_limits_ping_like_other_messages() {
    let (ours, mut theirs) = pair();
    let mut conn = RateLimitedConn::new(ours, messages_only(10, 1, RateLimitPolicy::Delay));
    theirs.send(ping_msg()).await.unwrap();
    theirs.send(ping_msg()).await.unwrap();
    let start = TokioInstant::now();
    assert_eq!(conn.next().await.unwrap().unwrap().code, PING);
    assert_eq!(conn.next().await.unwrap().unwrap().code, PING);
    assert_eq!(start.elapsed(), 100 * MS);
}

#[tokio::test(start_paused = true)]
async fn delay_stops_reading_while_waiting() {
    let (ours, mut theirs) = pair();
    let mut conn = RateLimitedConn::new(ours, messages_only(1, 1, RateLimitPolicy::Delay));
    for i in 0..4 {
        theirs.send(msg(0x10 + i, 1)).await.unwrap();
    }
    assert_eq!(conn.next().await.unwrap().unwrap().code, 0x10);
    // Poll once without letting time pass: 0x11 is held, 0x12 read
    // ahead, 0x13 left in the connection.
    assert!(futures::poll!(conn.next()).is_pending());
    assert!(conn.is_delaying());
    assert_eq!(conn.get_mut().next().await.unwrap().unwrap().code, 0x13);
    assert_eq!(conn.next().await.unwrap().unwrap().code, 0x11);
    assert_eq!(conn.next().await.unwrap().unwrap().code, 0x12);
}

#[tokio::test(start_paused = true)]
async fn disconnect_policy_fails_the_read_then_ends() {
    let (ours, mut theirs) = pair();
    let mut conn = RateLimitedConn::new(ours, messages_only(10, 2, RateLimitPolicy::Disconnect));
    for i in 0..4 {
        theirs.send(msg(0x10 + i, 1)).await.unwrap();
    }
    assert_eq!(conn.next().await.unwrap().unwrap().code, 0x10);
    assert_eq!(conn.next().await.unwrap().unwrap().code, 0x11);
    let err = conn.next().await.unwrap().unwrap_err();
    assert!(matches!(
        err,
        RateLimitError::RateExceeded {
            kind: LimitKind::Messages,
            per_second: 10,
            burst: 2,
            code: 0x12,
        }
    ));
    assert_eq!(err.disconnect_reason(), Some(RATE_EXCEEDED_REASON));
    assert!(conn.next().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn disconnect_policy_passes_a_disconnect_over_the_limit() {
    let (ours, mut theirs) = pair();
    let mut conn = RateLimitedConn::new(
        ours,
        RateLimitConfig {
            messages: Some(Rate::new(1, 1)),
            bytes: Some(Rate::new(1, 1)),
            policy: RateLimitPolicy::Disconnect,
        },
    );
    theirs.send(msg(0x10, 0)).await.unwrap();
    theirs
        .send(DisconnectReason::ClientQuitting.to_msg())
        .await
        .unwrap();
    assert_eq!(conn.next().await.unwrap().unwrap().code, 0x10);
    assert_eq!(conn.next().await.unwrap().unwrap().code, DISCONNECT);
}

#[tokio::test(start_paused = true)]
async fn disconnect_policy_reports_the_bytes_limit() {
    let (ours, mut theirs) = pair();
    let config = RateLimitConfig {
        messages: Some(Rate::new(100, 100)),
        bytes: Some(Rate::new(100, 200)),
        policy: RateLimitPolicy::Disconnect,
    };
    let mut conn = RateLimitedConn::new(ours, config);
    theirs.send(msg(0x10, 150)).await.unwrap();
    theirs.send(msg(0x11, 100)).await.unwrap();
    assert!(conn.next().await.unwrap().is_ok());
    let err = conn.next().await.unwrap().unwrap_err();
    assert!(matches!(
        err,
        RateLimitError::RateExceeded {
            kind: LimitKind::Bytes,
            code: 0x11,
            ..
        }
    ));
}

#[tokio::test(start_paused = true)]
async fn outbound_is_not_limited() {
    let (ours, mut theirs) = pair();
    let mut conn = RateLimitedConn::new(
        ours,
        RateLimitConfig {
            messages: Some(Rate::new(1, 1)),
            bytes: Some(Rate::new(1, 1)),
            policy: RateLimitPolicy::Disconnect,
        },
    );
    let start = TokioInstant::now();
    for i in 0..20 {
        conn.send(msg(0x10 + i, 100)).await.unwrap();
    }
    for i in 0..20 {
        assert_eq!(theirs.next().await.unwrap().unwrap().code, 0x10 + i);
    }
    assert_eq!(start.elapsed(), Duration::ZERO);
    // Sending spent no inbound tokens.
    theirs.send(msg(0x10, 1)).await.unwrap();
    assert!(conn.next().await.unwrap().is_ok());
}

#[tokio::test(start_paused = true)]
async fn connection_errors_and_end_pass_through() {
    let (ours, theirs) = pair();
    let mut conn = RateLimitedConn::new(ours, RateLimitConfig::default());
    drop(theirs);
    assert!(conn.next().await.is_none());
    assert!(conn.next().await.is_none());
    assert!(matches!(
        conn.send(ping_msg()).await,
        Err(RateLimitError::Conn(MemConnClosed))
    ));
}

#[tokio::test(start_paused = true)]
async fn layer_wraps_the_authenticated_connection() {
    let (ours, mut theirs) = pair();
    let remote_id = ours.remote_id();
    let mut ours = Some(ours);
    let setup = ServiceBuilder::new()
        .layer(RateLimitLayer::new(messages_only(
            1,
            1,
            RateLimitPolicy::Disconnect,
        )))
        .service_fn(move |c: Connecting<()>| {
            let conn = ours.take().expect("called once");
            async move {
                let mut guards = ConnGuards::default();
                guards.push(());
                Ok::<_, Infallible>(Authenticated {
                    conn,
                    remote_addr: c.remote_addr,
                    direction: c.direction,
                    guards,
                })
            }
        });
    let remote = "192.0.2.1:30303".parse().unwrap();
    let mut auth = setup
        .oneshot(Connecting::inbound((), remote))
        .await
        .unwrap();
    assert_eq!(auth.remote_addr, remote);
    assert_eq!(auth.direction, Direction::Inbound);
    assert_eq!(auth.guards.len(), 1);
    assert_eq!(auth.conn.remote_id(), remote_id);
    theirs.send(msg(0x10, 1)).await.unwrap();
    theirs.send(msg(0x10, 1)).await.unwrap();
    assert!(auth.conn.next().await.unwrap().is_ok());
    assert!(auth.conn.next().await.unwrap().is_err());
}
