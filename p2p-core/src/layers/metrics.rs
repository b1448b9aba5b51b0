//! Connection metrics through the [`metrics`] facade: messages and bytes per
//! direction and message, handshake durations and failures, and peer counts.
//!
//! Nothing here installs a recorder: the application picks an exporter
//! (Prometheus, StatsD, ...) and installs it; without one every call is a
//! no-op. The metrics are per server instance rather than per process: every
//! metric carries an `instance` label, the name given to [`MetricsLayer`] (a
//! node id prefix, a user string), so several servers in one process report
//! separately.
//!
//! [`MetricsLayer`] goes into the setup stack around the transport:
//!
//! ```text
//! ServiceBuilder::new()
//!     .layer(MetricsLayer::new("node-a").with_protocols(&protocols))
//!     .service(RlpxTransport::new(key))
//! ```
//!
//! Place it directly around the transport, inside the peer filter and the
//! throttle: then a handshake failure is a failure of the transport, not a
//! policy refusal.
//!
//! # Metrics
//!
//! | name | kind | labels |
//! | --- | --- | --- |
//! | [`MESSAGES`] | counter | `instance`, `direction` (`ingress`, `egress`), `protocol`, `code` |
//! | [`MESSAGE_BYTES`] | counter | the same |
//! | [`HANDSHAKE_DURATION`] | histogram, seconds | `instance`, `direction` (`inbound`, `outbound`) |
//! | [`HANDSHAKE_FAILURES`] | counter | `instance`, `direction`, `reason` |
//! | [`PEERS`] | gauge | `instance`, `direction` (`inbound`, `outbound`) |
//!
//! Message flow is `ingress`/`egress` and connection direction is
//! `inbound`/`outbound`, so the two `direction` labels cannot be confused.
//!
//! # Message labels
//!
//! `protocol` and `code` name the message as an operator thinks of it:
//! base-protocol messages (codes below 0x10) are `protocol="p2p"` with their
//! code; a message of a shared capability is `protocol="eth/68"` with its code
//! relative to the capability (`code="3"` is eth's GetBlockHeaders whatever
//! the capability's offset on the connection). The capabilities are learned
//! by reading the remote's Hello as it passes, matched against the list given
//! to [`MetricsLayer::with_offered`] (the same matching the server does), or
//! set explicitly with [`MeteredConn::set_capabilities`]. Codes no capability
//! owns are `protocol="unknown"` with the connection-level code, and codes
//! from [`MAX_UNKNOWN_CODE`] up share `code="other"`: a peer chooses the codes
//! it sends, and must not be able to create unbounded label values.
//!
//! Bytes are payload bytes as the transport yields and takes them: before
//! compression on the way out, after decompression on the way in. Framing,
//! MACs and padding are not counted.
//!
//! # Handshake failures
//!
//! The `reason` label is the name of the inner error's variant (the leading
//! identifier of its `Debug` output: `HandshakeTimeout`, `Io`, `Ecies` for
//! `RlpxError`), not its `Display`: messages embed addresses, sizes and OS
//! error text, which would make a new time series per failure. A handshake
//! abandoned before it finished (the server's setup timeout, the server
//! stopping) is counted with reason [`CANCELLED_REASON`].

use std::collections::HashMap;
use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use futures::{Sink, Stream};
use metrics::{Counter, Label, SharedString, Unit};
use pin_project::{pin_project, pinned_drop};
use tower::{Layer, Service};

use crate::base::{Capability, Hello, BASE_PROTOCOL_LENGTH, HELLO};
use crate::capability::{match_capabilities, owner, SharedCapability};
use crate::identity::PeerId;
use crate::msg::Msg;
use crate::protocol::Protocol;
use crate::transport::{Authenticated, Connecting, Direction, MsgConn};

/// Counter of messages, labelled `instance`, `direction`, `protocol`, `code`.
pub const MESSAGES: &str = "p2p_messages_total";
/// Counter of payload bytes, with the labels of [`MESSAGES`].
pub const MESSAGE_BYTES: &str = "p2p_message_bytes_total";
/// Histogram of successful transport handshake durations in seconds,
/// labelled `instance`, `direction`.
pub const HANDSHAKE_DURATION: &str = "p2p_handshake_duration_seconds";
/// Counter of failed transport handshakes, labelled `instance`, `direction`,
/// `reason`.
pub const HANDSHAKE_FAILURES: &str = "p2p_handshake_failures_total";
/// Gauge of connected peers, labelled `instance`, `direction`.
pub const PEERS: &str = "p2p_peers";

/// The `protocol` label of base-protocol messages.
pub const BASE_PROTOCOL_LABEL: &str = "p2p";
/// The `protocol` label of messages no known capability owns.
pub const UNKNOWN_PROTOCOL_LABEL: &str = "unknown";
/// Unowned codes from this one up are all labelled `code="other"`.
pub const MAX_UNKNOWN_CODE: u64 = 0x100;
/// The `reason` of a handshake abandoned before it finished.
pub const CANCELLED_REASON: &str = "cancelled";

/// The `reason` label's longest value; a hand-written `Debug` could start
/// with a long identifier.
const MAX_REASON_LEN: usize = 48;
/// The cache key standing for every unowned code from [`MAX_UNKNOWN_CODE`]
/// up; no capability can own it (its range would end past `u64::MAX`).
const OTHER_CODE_KEY: u64 = u64::MAX;

/// Registers the descriptions and units of these metrics with the current
/// recorder. Optional: exporters that show help text use them.
pub fn describe() {
    metrics::describe_counter!(
        MESSAGES,
        Unit::Count,
        "devp2p messages, by direction and message"
    );
    metrics::describe_counter!(
        MESSAGE_BYTES,
        Unit::Bytes,
        "devp2p message payload bytes (uncompressed), by direction and message"
    );
    metrics::describe_histogram!(
        HANDSHAKE_DURATION,
        Unit::Seconds,
        "duration of successful transport handshakes"
    );
    metrics::describe_counter!(
        HANDSHAKE_FAILURES,
        Unit::Count,
        "failed or abandoned transport handshakes, by reason"
    );
    metrics::describe_gauge!(
        PEERS,
        Unit::Count,
        "connected peers, by connection direction"
    );
}

/// The `instance` label a server reports under by default: the first eight
/// bytes of its node's id in hex. Use it for a [`MetricsLayer`] in the
/// server's transport stack so that all of one node's metrics line up.
pub fn instance_label(id: &crate::identity::PeerId) -> String {
    hex::encode(&id.as_bytes()[..8])
}

/// Sets the peer gauges of `instance`: how many inbound and outbound peers
/// are connected. Meant to be called by the server whenever its peer set
/// changes.
pub fn record_peers(instance: &str, inbound: usize, outbound: usize) {
    let instance = SharedString::from(instance.to_owned());
    metrics::gauge!(PEERS, "instance" => instance.clone(), "direction" => "inbound")
        .set(inbound as f64);
    metrics::gauge!(PEERS, "instance" => instance, "direction" => "outbound").set(outbound as f64);
}

/// The `direction` label of a connection.
fn connection_direction(direction: Direction) -> &'static str {
    match direction {
        Direction::Inbound => "inbound",
        Direction::Outbound => "outbound",
    }
}

/// The `reason` label of a handshake error: the leading identifier of its
/// `Debug` output, the variant name of a derived `Debug` enum.
fn reason_label(err: &impl Debug) -> String {
    let text = format!("{err:?}");
    let name: String = text
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(MAX_REASON_LEN)
        .collect();
    if name.is_empty() {
        "other".to_owned()
    } else {
        name
    }
}

/// The settings every connection of one layer shares.
#[derive(Clone, Debug)]
struct Settings {
    /// Shared, so that labelling each connection costs no allocation.
    instance: SharedString,
    /// Our capabilities and how many codes each uses, to match against the
    /// remote's Hello.
    offered: Arc<[(Capability, u64)]>,
}

/// Adds metrics to a setup pipeline: records handshake durations and
/// failures, and wraps each connection in a [`MeteredConn`].
///
/// Clones share the instance name and the capability list.
#[derive(Clone, Debug)]
pub struct MetricsLayer {
    settings: Settings,
}

impl MetricsLayer {
    /// A layer reporting under `instance`, labelling capability messages by
    /// code only until [`MetricsLayer::with_offered`] says what we offer.
    pub fn new(instance: impl Into<String>) -> Self {
        MetricsLayer {
            settings: Settings {
                instance: SharedString::from(Arc::<str>::from(instance.into())),
                offered: Arc::from([]),
            },
        }
    }

    /// Sets the capabilities we offer, with the number of message codes of
    /// each, as the server matches them: then capability messages are
    /// labelled with their capability.
    pub fn with_offered(mut self, offered: impl IntoIterator<Item = (Capability, u64)>) -> Self {
        self.settings.offered = offered.into_iter().collect();
        self
    }

    /// [`MetricsLayer::with_offered`] with the capabilities of `protocols`,
    /// the list given to the server.
    pub fn with_protocols(self, protocols: &[Arc<dyn Protocol>]) -> Self {
        self.with_offered(
            protocols
                .iter()
                .map(|p| (p.capability(), p.message_count())),
        )
    }

    /// The `instance` label.
    pub fn instance(&self) -> &str {
        &self.settings.instance
    }
}

impl<S> Layer<S> for MetricsLayer {
    type Service = Metrics<S>;

    fn layer(&self, inner: S) -> Metrics<S> {
        Metrics {
            inner,
            settings: self.settings.clone(),
        }
    }
}

/// A setup service with metrics: see [`MetricsLayer`].
///
/// Readiness and errors are the wrapped service's.
#[derive(Clone, Debug)]
pub struct Metrics<S> {
    inner: S,
    settings: Settings,
}

impl<S> Metrics<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the wrapped service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, Io, C> Service<Connecting<Io>> for Metrics<S>
where
    S: Service<Connecting<Io>, Response = Authenticated<C>>,
    S::Error: Debug,
    C: MsgConn,
{
    type Response = Authenticated<MeteredConn<C>>;
    type Error = S::Error;
    type Future = MetricsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, conn: Connecting<Io>) -> Self::Future {
        let direction = conn.direction;
        MetricsFuture {
            // Started before the inner call: a service doing work in `call`
            // is timed too.
            started: tokio::time::Instant::now(),
            inner: self.inner.call(conn),
            direction,
            settings: self.settings.clone(),
            finished: false,
        }
    }
}

/// The future of [`Metrics`]: the wrapped service's, timed, with the
/// connection of its response wrapped.
#[pin_project(PinnedDrop)]
#[derive(Debug)]
pub struct MetricsFuture<F> {
    #[pin]
    inner: F,
    started: tokio::time::Instant,
    direction: Direction,
    settings: Settings,
    /// Whether the outcome was recorded; if not when dropped, the handshake
    /// was abandoned.
    finished: bool,
}

impl<F> MetricsFuture<F> {
    fn record_failure(settings: &Settings, direction: Direction, reason: String) {
        metrics::counter!(
            HANDSHAKE_FAILURES,
            "instance" => settings.instance.clone(),
            "direction" => connection_direction(direction),
            "reason" => reason,
        )
        .increment(1);
    }
}

impl<F, C, E> Future for MetricsFuture<F>
where
    F: Future<Output = Result<Authenticated<C>, E>>,
    E: Debug,
    C: MsgConn,
{
    type Output = Result<Authenticated<MeteredConn<C>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        *this.finished = true;
        match result {
            Ok(Authenticated {
                conn,
                remote_addr,
                direction,
                guards,
            }) => {
                metrics::histogram!(
                    HANDSHAKE_DURATION,
                    "instance" => this.settings.instance.clone(),
                    "direction" => connection_direction(*this.direction),
                )
                .record(this.started.elapsed().as_secs_f64());
                Poll::Ready(Ok(Authenticated {
                    conn: MeteredConn::with_settings(conn, this.settings.clone()),
                    remote_addr,
                    direction,
                    guards,
                }))
            }
            Err(err) => {
                Self::record_failure(this.settings, *this.direction, reason_label(&err));
                Poll::Ready(Err(err))
            }
        }
    }
}

#[pinned_drop]
impl<F> PinnedDrop for MetricsFuture<F> {
    fn drop(self: Pin<&mut Self>) {
        let this = self.project();
        if !*this.finished {
            Self::record_failure(this.settings, *this.direction, CANCELLED_REASON.to_owned());
        }
    }
}

/// The two counters of one label set.
#[derive(Clone, Debug)]
struct MsgCounters {
    messages: Counter,
    bytes: Counter,
}

/// Which way a message went.
#[derive(Clone, Copy, Debug)]
enum Flow {
    Ingress,
    Egress,
}

impl Flow {
    fn label(self) -> &'static str {
        match self {
            Flow::Ingress => "ingress",
            Flow::Egress => "egress",
        }
    }
}

/// A [`MsgConn`] counting the messages and bytes it carries each way. See the
/// [module documentation](crate::layers::metrics) for the labels.
///
/// Counter handles are registered once per label set and cached, so counting
/// a message costs a map lookup and two atomic adds, not a registration with
/// the recorder. The handles belong to the recorder current when a label set
/// is first seen.
#[pin_project]
#[derive(Debug)]
pub struct MeteredConn<C> {
    #[pin]
    inner: C,
    settings: Settings,
    shared: Vec<SharedCapability>,
    /// Whether `shared` is settled (by the remote's first Hello or by
    /// [`MeteredConn::set_capabilities`]): then a Hello does not change it.
    fixed: bool,
    /// Counters by connection-level code ([`OTHER_CODE_KEY`] for the codes
    /// labelled `other`); bounded by the codes the labels can tell apart.
    ingress: HashMap<u64, MsgCounters>,
    egress: HashMap<u64, MsgCounters>,
}

impl<C> MeteredConn<C> {
    /// Wraps `inner`, reporting under `instance`. Capability messages are
    /// labelled by connection-level code until
    /// [`MeteredConn::set_capabilities`] is called.
    pub fn new(inner: C, instance: impl Into<String>) -> Self {
        let settings = MetricsLayer::new(instance).settings;
        MeteredConn::with_settings(inner, settings)
    }

    fn with_settings(inner: C, settings: Settings) -> Self {
        MeteredConn {
            inner,
            settings,
            shared: Vec::new(),
            fixed: false,
            ingress: HashMap::new(),
            egress: HashMap::new(),
        }
    }

    /// Labels the messages of `shared` with their capability from now on,
    /// and stops the remote's Hello from changing that.
    pub fn set_capabilities(&mut self, shared: Vec<SharedCapability>) {
        self.fixed = true;
        self.shared = shared;
        // Cached handles carry the old labels.
        self.ingress.clear();
        self.egress.clear();
    }

    /// The capabilities messages are labelled with.
    pub fn capabilities(&self) -> &[SharedCapability] {
        &self.shared
    }

    /// The `instance` label.
    pub fn instance(&self) -> &str {
        &self.settings.instance
    }

    /// The wrapped connection.
    pub fn get_ref(&self) -> &C {
        &self.inner
    }

    /// The wrapped connection, mutably. What passes through it directly is
    /// not counted.
    pub fn get_mut(&mut self) -> &mut C {
        &mut self.inner
    }

    /// Unwraps the connection.
    pub fn into_inner(self) -> C {
        self.inner
    }
}

/// Counts one message of `len` payload bytes with connection-level `code`,
/// registering its counters on first sight.
fn count(
    settings: &Settings,
    shared: &[SharedCapability],
    cache: &mut HashMap<u64, MsgCounters>,
    flow: Flow,
    code: u64,
    len: usize,
) {
    let len = len as u64;
    if let Some(counters) = cache.get(&code) {
        counters.messages.increment(1);
        counters.bytes.increment(len);
        return;
    }
    let (key, protocol, code_label) = labels(shared, code);
    let counters = cache.entry(key).or_insert_with(|| {
        let labels = vec![
            Label::new("instance", settings.instance.clone()),
            Label::from_static_parts("direction", flow.label()),
            Label::new("protocol", protocol),
            Label::new("code", code_label),
        ];
        MsgCounters {
            messages: metrics::counter!(MESSAGES, labels.clone()),
            bytes: metrics::counter!(MESSAGE_BYTES, labels),
        }
    });
    counters.messages.increment(1);
    counters.bytes.increment(len);
}

/// The cache key and the `protocol` and `code` labels of connection-level
/// `code`.
fn labels(shared: &[SharedCapability], code: u64) -> (u64, SharedString, SharedString) {
    if code < BASE_PROTOCOL_LENGTH {
        return (
            code,
            SharedString::const_str(BASE_PROTOCOL_LABEL),
            SharedString::from(code.to_string()),
        );
    }
    if let Some((_, cap)) = owner(shared, code) {
        return (
            code,
            SharedString::from(cap.capability.to_string()),
            SharedString::from((code - cap.offset).to_string()),
        );
    }
    let unknown = SharedString::const_str(UNKNOWN_PROTOCOL_LABEL);
    if code < MAX_UNKNOWN_CODE {
        (code, unknown, SharedString::from(code.to_string()))
    } else {
        (OTHER_CODE_KEY, unknown, SharedString::const_str("other"))
    }
}

impl<C: MsgConn> Stream for MeteredConn<C> {
    type Item = Result<Msg, C::ConnError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        let item = ready!(this.inner.as_mut().poll_next(cx));
        if let Some(Ok(msg)) = &item {
            count(
                this.settings,
                this.shared,
                this.ingress,
                Flow::Ingress,
                msg.code,
                msg.payload.len(),
            );
            // Learn the capabilities from the remote's Hello, as the server
            // will match them; a Hello that does not decode is left to the
            // Hello exchange to reject.
            if msg.code == HELLO && !*this.fixed && !this.settings.offered.is_empty() {
                if let Ok(hello) = Hello::decode_payload(&msg.payload) {
                    *this.shared = match_capabilities(&this.settings.offered, &hello.capabilities);
                    // Only the first Hello counts (a second one ends the
                    // session anyway).
                    *this.fixed = true;
                    // Cached handles carry the old labels.
                    this.ingress.clear();
                    this.egress.clear();
                }
            }
        }
        Poll::Ready(item)
    }
}

impl<C: MsgConn> Sink<Msg> for MeteredConn<C> {
    type Error = C::ConnError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.project().inner.poll_ready(cx)
    }

    fn start_send(self: Pin<&mut Self>, msg: Msg) -> Result<(), Self::Error> {
        let this = self.project();
        // Only a message the connection accepted is counted; its code and
        // size are taken first because the sink takes it by value.
        let (code, len) = (msg.code, msg.payload.len());
        this.inner.start_send(msg)?;
        count(
            this.settings,
            this.shared,
            this.egress,
            Flow::Egress,
            code,
            len,
        );
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.project().inner.poll_close(cx)
    }
}

impl<C: MsgConn> MsgConn for MeteredConn<C> {
    type ConnError = C::ConnError;

    fn set_snappy(&mut self, enabled: bool) {
        self.inner.set_snappy(enabled);
    }

    fn remote_id(&self) -> PeerId {
        self.inner.remote_id()
    }

    fn disconnect_reason_for(err: &Self::ConnError) -> Option<crate::base::DisconnectReason> {
        C::disconnect_reason_for(err)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::{SinkExt, StreamExt};
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use metrics_util::{CompositeKey, MetricKind};
    use tower::{ServiceBuilder, ServiceExt};

    use super::*;
    use crate::base::{ping_msg, BASE_PROTOCOL_VERSION};
    use crate::identity::NodeKey;
    use crate::testing::{mem_pair, MemConn};
    use crate::transport::ConnGuards;

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

    fn hello(key: &NodeKey, caps: &[(&str, u32)]) -> Msg {
        Hello {
            protocol_version: BASE_PROTOCOL_VERSION,
            client_id: "test".into(),
            capabilities: caps.iter().map(|(n, v)| Capability::new(*n, *v)).collect(),
            listen_port: 0,
            id: key.id(),
        }
        .to_msg()
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
            let layer = MetricsLayer::new("node-a").with_offered([
                (Capability::new("eth", 68), 17),
                (Capability::new("snap", 1), 8),
            ]);
            let mut auth = ServiceBuilder::new()
                .layer(layer)
                .service(transport(ours, Duration::ZERO))
                .oneshot(inbound())
                .await
                .unwrap();
            let conn = &mut auth.conn;
            // The Hellos: the remote shares eth/68 and snap/1, so eth is at
            // 0x10..0x21 and snap at 0x21..0x29.
            conn.send(hello(&NodeKey::random(), &[("eth", 68), ("snap", 1)]))
                .await
                .unwrap();
            theirs
                .send(hello(&NodeKey::random(), &[("eth", 68), ("snap", 1)]))
                .await
                .unwrap();
            assert_eq!(conn.next().await.unwrap().unwrap().code, HELLO);
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
        let (hellos, _) = messages(&snap, "node-a", "ingress", "p2p", "0").unwrap();
        assert_eq!(hellos, 1);
        assert_eq!(
            messages(&snap, "node-a", "egress", "p2p", "0").unwrap().0,
            1
        );
        // Nothing counted under a direction it did not take.
        assert_eq!(messages(&snap, "node-a", "egress", "eth/68", "3"), None);
        assert_eq!(messages(&snap, "node-a", "ingress", "eth/68", "4"), None);
    }

    #[test]
    fn unmatched_codes_are_labelled_unknown_with_bounded_values() {
        let ((), snap) = recorded(|| async {
            let (ours, mut theirs) = pair();
            // No offered capabilities: nothing can be matched.
            let mut conn = MeteredConn::new(ours, "node-a");
            theirs
                .send(hello(&NodeKey::random(), &[("eth", 68)]))
                .await
                .unwrap();
            for code in [0x20, 0x20, 0x1000, 0xffff_ffff, u64::MAX] {
                theirs.send(Msg::new(code, vec![0; 2])).await.unwrap();
            }
            for _ in 0..6 {
                conn.next().await.unwrap().unwrap();
            }
            assert!(conn.capabilities().is_empty());
            // At most one cached entry for all the large codes.
            assert_eq!(conn.ingress.len(), 3);
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

    #[test]
    fn set_capabilities_relabels_and_overrides_the_hello() {
        let ((), snap) = recorded(|| async {
            let (ours, mut theirs) = pair();
            let mut conn = MeteredConn::with_settings(
                ours,
                MetricsLayer::new("x")
                    .with_offered([(Capability::new("eth", 68), 17)])
                    .settings,
            );
            theirs.send(Msg::new(0x10, vec![])).await.unwrap();
            conn.next().await.unwrap().unwrap();
            conn.set_capabilities(vec![SharedCapability {
                capability: Capability::new("les", 4),
                offset: 0x10,
                length: 20,
            }]);
            theirs
                .send(hello(&NodeKey::random(), &[("eth", 68)]))
                .await
                .unwrap();
            theirs.send(Msg::new(0x10, vec![])).await.unwrap();
            conn.next().await.unwrap().unwrap();
            conn.next().await.unwrap().unwrap();
            assert_eq!(conn.capabilities()[0].capability, Capability::new("les", 4));
        });
        assert_eq!(
            messages(&snap, "x", "ingress", "unknown", "16"),
            Some((1, 0))
        );
        assert_eq!(messages(&snap, "x", "ingress", "les/4", "0"), Some((1, 0)));
        assert_eq!(messages(&snap, "x", "ingress", "eth/68", "0"), None);
    }

    #[test]
    fn two_instances_stay_separate() {
        let ((), snap) = recorded(|| async {
            let (a, mut a_remote) = pair();
            let (b, mut b_remote) = pair();
            let mut a = MeteredConn::new(a, "node-a");
            let mut b = MeteredConn::new(b, "node-b");
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
            assert_eq!(auth.conn.instance(), "node-a");
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
            let abandoned =
                tokio::time::timeout(Duration::from_secs(5), slow.oneshot(inbound())).await;
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
                    Error: std::fmt::Display + Send,
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
}
