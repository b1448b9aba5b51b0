use std::time::Duration;

use futures::{SinkExt, StreamExt};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::{CompositeKey, MetricKind};
use tower::{ServiceBuilder, ServiceExt};

use std::future::Future;
use std::sync::Arc;

use metrics::{SharedString, Unit};
use tower::{Layer, Service};

use super::*;
use crate::base::{ping_msg, Capability, DisconnectReason};
use crate::capability::{CapabilityTable, SharedCapability};
use crate::identity::NodeKey;
use crate::msg::Msg;
use crate::peer::PeerInfo;
use crate::pipeline::{
    Authenticated, ConnGuards, Connecting, ConnectionEnd, Direction, Established, MsgConn, Stage,
};
use crate::testing::{mem_pair, MemConn};

/// What a test recorded: one snapshot, since taking a snapshot of a
/// `DebuggingRecorder` resets its values.
type Recorded = Vec<(CompositeKey, Option<Unit>, Option<SharedString>, DebugValue)>;

/// Runs `test` on a current-thread runtime with paused time and a local
/// recorder, so no global recorder is installed and tests do not see
/// each other's metrics.
fn recorded<F: Future>(test: impl FnOnce() -> F) -> (F::Output, Recorded) {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let output = metrics::with_local_recorder(&recorder, || runtime.block_on(test()));
    (output, snapshotter.snapshot().into_vec())
}

/// The value of the metric `name` of `kind` whose labels are exactly
/// `labels`.
fn value<'a>(
    recorded: &'a Recorded,
    kind: MetricKind,
    name: &str,
    labels: &[(&str, &str)],
) -> Option<&'a DebugValue> {
    let mut wanted: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    wanted.sort();
    recorded.iter().find_map(|(key, _, _, value)| {
        let mut have: Vec<(String, String)> = key
            .key()
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()))
            .collect();
        have.sort();
        (key.kind() == kind && key.key().name() == name && have == wanted).then_some(value)
    })
}

fn counter(recorded: &Recorded, name: &str, labels: &[(&str, &str)]) -> Option<u64> {
    match value(recorded, MetricKind::Counter, name, labels)? {
        DebugValue::Counter(n) => Some(*n),
        other => panic!("{name} is {other:?}"),
    }
}

fn messages(
    recorded: &Recorded,
    instance: &str,
    direction: &str,
    protocol: &str,
    code: &str,
) -> Option<(u64, u64)> {
    let labels = [
        ("instance", instance),
        ("direction", direction),
        ("protocol", protocol),
        ("code", code),
    ];
    Some((
        counter(recorded, MESSAGES, &labels)?,
        counter(recorded, MESSAGE_BYTES, &labels)?,
    ))
}

fn pair() -> (MemConn, MemConn) {
    mem_pair(NodeKey::random().id(), NodeKey::random().id())
}

/// eth/68 at 0x10..0x21 and snap/1 at 0x21..0x29, as a remote offering
/// both would share them.
fn eth_and_snap() -> CapabilityTable {
    CapabilityTable::new(vec![
        SharedCapability {
            capability: Capability::new("eth", 68),
            offset: 0x10,
            length: 17,
        },
        SharedCapability {
            capability: Capability::new("snap", 1),
            offset: 0x21,
            length: 8,
        },
    ])
}

/// A setup service yielding `conn` once, authenticated, after `delay`.
fn transport(
    conn: MemConn,
    delay: Duration,
) -> impl Service<
    Connecting<()>,
    Response = Authenticated<MemConn>,
    Error = std::convert::Infallible,
    Future: Send,
> {
    let mut conn = Some(conn);
    tower::service_fn(move |c: Connecting<()>| {
        let conn = conn.take().expect("called once");
        async move {
            tokio::time::sleep(delay).await;
            Ok(Authenticated {
                conn,
                remote_addr: c.remote_addr,
                direction: c.direction,
                guards: ConnGuards::default(),
            })
        }
    })
}

fn inbound() -> Connecting<()> {
    Connecting::inbound((), "192.0.2.1:30303".parse().unwrap())
}

#[test]
fn counts_messages_and_bytes_by_direction_and_capability() {
    let ((), snap) = recorded(|| async {
        let (ours, mut theirs) = pair();
        let mut conn = MeteredConn::new(ours, "node-a", eth_and_snap());
        let conn = &mut conn;
        assert_eq!(conn.capabilities().len(), 2);

        theirs.send(Msg::new(0x13, vec![0; 5])).await.unwrap();
        theirs.send(Msg::new(0x13, vec![0; 7])).await.unwrap();
        theirs.send(ping_msg()).await.unwrap();
        theirs.send(Msg::new(0x22, vec![0; 100])).await.unwrap();
        for _ in 0..4 {
            conn.next().await.unwrap().unwrap();
        }
        conn.send(Msg::new(0x14, vec![0; 9])).await.unwrap();
        conn.send(Msg::new(0x14, vec![0; 1])).await.unwrap();
        conn.send(ping_msg()).await.unwrap();
    });
    assert_eq!(
        messages(&snap, "node-a", "ingress", "eth/68", "3"),
        Some((2, 12))
    );
    assert_eq!(
        messages(&snap, "node-a", "ingress", "snap/1", "1"),
        Some((1, 100))
    );
    assert_eq!(
        messages(&snap, "node-a", "ingress", "p2p", "2"),
        Some((1, 1))
    );
    assert_eq!(
        messages(&snap, "node-a", "egress", "eth/68", "4"),
        Some((2, 10))
    );
    assert_eq!(
        messages(&snap, "node-a", "egress", "p2p", "2"),
        Some((1, 1))
    );
    // Nothing counted under a direction it did not take.
    assert_eq!(messages(&snap, "node-a", "egress", "eth/68", "3"), None);
    assert_eq!(messages(&snap, "node-a", "ingress", "eth/68", "4"), None);
}

#[test]
fn unmatched_codes_are_labelled_unknown_with_bounded_values() {
    let ((), snap) = recorded(|| async {
        let (ours, mut theirs) = pair();
        // No shared capability: nothing can be labelled with one.
        let mut conn = MeteredConn::new(ours, "node-a", CapabilityTable::default());
        for code in [0x20, 0x20, 0x1000, 0xffff_ffff, u64::MAX] {
            theirs.send(Msg::new(code, vec![0; 2])).await.unwrap();
        }
        for _ in 0..5 {
            conn.next().await.unwrap().unwrap();
        }
        assert!(conn.capabilities().is_empty());
        // At most one cached entry for all the large codes.
        assert_eq!(conn.ingress.len(), 2);
    });
    assert_eq!(
        messages(&snap, "node-a", "ingress", "unknown", "32"),
        Some((2, 4))
    );
    assert_eq!(
        messages(&snap, "node-a", "ingress", "unknown", "other"),
        Some((3, 6))
    );
}

/// A peer sharing eth/68 and snap/1.
fn established(conn: MemConn) -> Established<MemConn> {
    let info = PeerInfo {
        id: NodeKey::random().id(),
        remote_addr: "192.0.2.1:30303".parse().unwrap(),
        direction: Direction::Inbound,
        client_id: "remote".into(),
        capabilities: vec![Capability::new("eth", 68), Capability::new("snap", 1)],
        shared: eth_and_snap(),
        listen_port: 0,
        trusted: false,
    };
    Established {
        conn,
        info: Arc::new(info),
        protocols: Vec::new(),
        stop: Box::pin(std::future::pending()),
    }
}

#[test]
fn in_the_session_stack_messages_are_labelled_by_the_peers_table() {
    let ((), snap) = recorded(|| async {
        let (ours, mut theirs) = pair();
        // A session that reads one message and ends.
        let session = tower::service_fn(|peer: Established<MeteredConn<MemConn>>| async move {
            let mut conn = peer.conn;
            assert_eq!(*conn.capabilities(), eth_and_snap());
            conn.next().await.unwrap().unwrap();
            Ok::<_, std::convert::Infallible>(ConnectionEnd::local(
                Stage::Session,
                DisconnectReason::Requested,
            ))
        });
        theirs.send(Msg::new(0x23, vec![0; 4])).await.unwrap();
        let end = MetricsLayer::new("x")
            .layer(session)
            .oneshot(established(ours))
            .await
            .unwrap();
        assert_eq!(end.reason, Some(DisconnectReason::Requested));
    });
    assert_eq!(messages(&snap, "x", "ingress", "snap/1", "2"), Some((1, 4)));
}

#[test]
fn two_instances_stay_separate() {
    let ((), snap) = recorded(|| async {
        let (a, mut a_remote) = pair();
        let (b, mut b_remote) = pair();
        let mut a = MeteredConn::new(a, "node-a", CapabilityTable::default());
        let mut b = MeteredConn::new(b, "node-b", CapabilityTable::default());
        a_remote.send(ping_msg()).await.unwrap();
        for _ in 0..3 {
            b_remote.send(ping_msg()).await.unwrap();
        }
        a.next().await.unwrap().unwrap();
        for _ in 0..3 {
            b.next().await.unwrap().unwrap();
        }
        b.send(ping_msg()).await.unwrap();
        record_peers("node-a", 3, 1);
        record_peers("node-b", 0, 7);
    });
    assert_eq!(
        messages(&snap, "node-a", "ingress", "p2p", "2"),
        Some((1, 1))
    );
    assert_eq!(
        messages(&snap, "node-b", "ingress", "p2p", "2"),
        Some((3, 3))
    );
    assert_eq!(messages(&snap, "node-a", "egress", "p2p", "2"), None);
    assert_eq!(
        messages(&snap, "node-b", "egress", "p2p", "2"),
        Some((1, 1))
    );
    let gauge = |instance, direction| match value(
        &snap,
        MetricKind::Gauge,
        PEERS,
        &[("instance", instance), ("direction", direction)],
    ) {
        Some(DebugValue::Gauge(v)) => v.0,
        other => panic!("{other:?}"),
    };
    assert_eq!(gauge("node-a", "inbound"), 3.0);
    assert_eq!(gauge("node-a", "outbound"), 1.0);
    assert_eq!(gauge("node-b", "inbound"), 0.0);
    assert_eq!(gauge("node-b", "outbound"), 7.0);
}

#[test]
fn handshake_duration_recorded() {
    let ((), snap) = recorded(|| async {
        let (ours, _theirs) = pair();
        let auth = MetricsLayer::new("node-a")
            .layer(transport(ours, Duration::from_millis(250)))
            .oneshot(inbound())
            .await
            .unwrap();
        assert_eq!(auth.direction, Direction::Inbound);
    });
    let labels = [("instance", "node-a"), ("direction", "inbound")];
    match value(&snap, MetricKind::Histogram, HANDSHAKE_DURATION, &labels) {
        Some(DebugValue::Histogram(values)) => {
            assert_eq!(values.iter().map(|v| v.0).collect::<Vec<_>>(), vec![0.25])
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        counter(
            &snap,
            HANDSHAKE_FAILURES,
            &[
                ("instance", "node-a"),
                ("direction", "inbound"),
                ("reason", "cancelled")
            ]
        ),
        None
    );
}

/// A transport error shaped like `RlpxError`.
#[derive(Debug, thiserror::Error)]
enum HandshakeError {
    #[error("handshake timed out")]
    Timeout,
    #[error("i/o: {0}")]
    Io(std::io::Error),
}

#[test]
fn handshake_failures_counted_by_reason() {
    let ((), snap) = recorded(|| async {
        let mut errors = vec![
            HandshakeError::Io(std::io::Error::other("connection reset by 192.0.2.1")),
            HandshakeError::Timeout,
            HandshakeError::Timeout,
        ];
        let failing = tower::service_fn(move |_: Connecting<()>| {
            let err = errors.pop().unwrap();
            async move { Err::<Authenticated<MemConn>, _>(err) }
        });
        let mut service = MetricsLayer::new("node-a").layer(failing);
        for _ in 0..3 {
            let dial = Connecting::outbound(
                (),
                "192.0.2.1:30303".parse().unwrap(),
                NodeKey::random().id(),
            );
            assert!(service.ready().await.unwrap().call(dial).await.is_err());
        }
        // A handshake abandoned half way (the server's setup timeout).
        let (ours, _theirs) = pair();
        let slow = MetricsLayer::new("node-a").layer(transport(ours, Duration::from_secs(60)));
        let abandoned = tokio::time::timeout(Duration::from_secs(5), slow.oneshot(inbound())).await;
        assert!(abandoned.is_err());
    });
    let failures = |direction, reason| {
        counter(
            &snap,
            HANDSHAKE_FAILURES,
            &[
                ("instance", "node-a"),
                ("direction", direction),
                ("reason", reason),
            ],
        )
    };
    assert_eq!(failures("outbound", "Timeout"), Some(2));
    assert_eq!(failures("outbound", "Io"), Some(1));
    assert_eq!(failures("inbound", CANCELLED_REASON), Some(1));
    assert_eq!(
        value(
            &snap,
            MetricKind::Histogram,
            HANDSHAKE_DURATION,
            &[("instance", "node-a"), ("direction", "outbound")]
        ),
        None
    );
}

#[test]
fn reason_label_is_the_variant_name() {
    assert_eq!(reason_label(&HandshakeError::Timeout), "Timeout");
    assert_eq!(
        reason_label(&HandshakeError::Io(std::io::Error::other("x"))),
        "Io"
    );
    assert_eq!(reason_label(&"quoted"), "other");
    assert_eq!(reason_label(&Some(3)), "Some");
    #[derive(Debug)]
    #[allow(dead_code)]
    struct AVeryLongNameThatGoesOnAndOnAndOnAndOnAndOnAndOnForever(u8);
    let long = reason_label(&AVeryLongNameThatGoesOnAndOnAndOnAndOnAndOnAndOnForever(1));
    assert_eq!(long.len(), MAX_REASON_LEN);
}

#[test]
fn describe_registers_units() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        describe();
        metrics::counter!(MESSAGE_BYTES, "instance" => "x").increment(1);
    });
    let (_, unit, description, _) = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .find(|(key, ..)| key.key().name() == MESSAGE_BYTES)
        .unwrap();
    assert_eq!(unit, Some(Unit::Bytes));
    assert!(description.is_some());
}

#[test]
fn both_layers_stack_into_a_server_transport() {
    use crate::layers::rate_limit::{RateLimitConfig, RateLimitLayer};
    // What the server asks of a transport stack (spelled out rather than
    // naming its trait, so this checks the layers, not the server's API).
    fn accepts<T, C>(_: &T)
    where
        T: Service<
                Connecting<tokio::net::TcpStream>,
                Response = Authenticated<C>,
                Future: Send,
                Error: Into<tower::BoxError> + Send,
            > + Clone
            + Send
            + 'static,
        C: MsgConn + 'static,
    {
    }
    let tcp_transport = tower::service_fn(|c: Connecting<tokio::net::TcpStream>| async move {
        let (conn, _) = mem_pair(NodeKey::random().id(), NodeKey::random().id());
        Ok::<_, std::convert::Infallible>(Authenticated {
            conn,
            remote_addr: c.remote_addr,
            direction: c.direction,
            guards: c.guards,
        })
    });
    let stack = ServiceBuilder::new()
        .layer(RateLimitLayer::new(RateLimitConfig::default()))
        .layer(MetricsLayer::new("node-a"))
        .service(tcp_transport);
    accepts(&stack);
}
