//! The message half of the metrics: [`MeteredConn`] counts what a peer's
//! connection carries each way.

use std::collections::HashMap;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures::{Sink, Stream};
use metrics::{Counter, Label, SharedString};
use pin_project::pin_project;

use super::{
    BASE_PROTOCOL_LABEL, MAX_UNKNOWN_CODE, MESSAGES, MESSAGE_BYTES, OTHER_CODE_KEY,
    UNKNOWN_PROTOCOL_LABEL,
};
use crate::base::BASE_PROTOCOL_LENGTH;
use crate::capability::CapabilityTable;
use crate::identity::PeerId;
use crate::msg::Msg;
use crate::pipeline::MsgConn;

/// The two counters of one label set.
#[derive(Clone, Debug)]
pub(super) struct MsgCounters {
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
    instance: SharedString,
    shared: CapabilityTable,
    /// Counters by connection-level code ([`OTHER_CODE_KEY`] for the codes
    /// labelled `other`); bounded by the codes the labels can tell apart.
    pub(super) ingress: HashMap<u64, MsgCounters>,
    egress: HashMap<u64, MsgCounters>,
}

impl<C> MeteredConn<C> {
    /// Wraps `inner`, reporting under `instance` and labelling the messages
    /// of the capabilities in `shared` with their capability.
    pub fn new(inner: C, instance: impl Into<String>, shared: CapabilityTable) -> Self {
        let instance = SharedString::from(std::sync::Arc::<str>::from(instance.into()));
        MeteredConn::labelled(inner, instance, shared)
    }

    pub(super) fn labelled(inner: C, instance: SharedString, shared: CapabilityTable) -> Self {
        MeteredConn {
            inner,
            instance,
            shared,
            ingress: HashMap::new(),
            egress: HashMap::new(),
        }
    }

    /// The capabilities messages are labelled with.
    pub fn capabilities(&self) -> &CapabilityTable {
        &self.shared
    }

    /// The `instance` label.
    pub fn instance(&self) -> &str {
        &self.instance
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
    instance: &SharedString,
    shared: &CapabilityTable,
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
            Label::new("instance", instance.clone()),
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
fn labels(shared: &CapabilityTable, code: u64) -> (u64, SharedString, SharedString) {
    if code < BASE_PROTOCOL_LENGTH {
        return (
            code,
            SharedString::const_str(BASE_PROTOCOL_LABEL),
            SharedString::from(code.to_string()),
        );
    }
    if let Some((_, cap)) = shared.owner(code) {
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
                this.instance,
                this.shared,
                this.ingress,
                Flow::Ingress,
                msg.code,
                msg.payload.len(),
            );
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
            this.instance,
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

    fn set_capabilities(&mut self, table: &crate::capability::CapabilityTable) {
        self.inner.set_capabilities(table);
    }

    fn remote_id(&self) -> PeerId {
        self.inner.remote_id()
    }

    fn disconnect_reason_for(err: &Self::ConnError) -> Option<crate::base::DisconnectReason> {
        C::disconnect_reason_for(err)
    }
}
