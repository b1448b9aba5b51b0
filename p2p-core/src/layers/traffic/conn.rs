//! [`CountedConn`]: a peer's connection counting what it carries into the
//! peer's counters.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use futures::{Sink, Stream};
use pin_project::{pin_project, pinned_drop};

use std::collections::HashMap;

use super::layer::{MessageKey, Shared};
use super::stats::Counters;
use crate::base::BASE_PROTOCOL_LENGTH;
use crate::capability::CapabilityTable;
use crate::identity::PeerId;
use crate::msg::Msg;
use crate::pipeline::MsgConn;

/// A [`MsgConn`] counting each message it yields or accepts. When it is
/// dropped, its counts join the layer's totals of ended connections.
#[pin_project(PinnedDrop)]
#[derive(Debug)]
pub struct CountedConn<C> {
    #[pin]
    inner: C,
    id: PeerId,
    counters: Arc<Counters>,
    shared: Arc<Shared>,
    /// The capabilities this connection runs, to name its messages.
    table: CapabilityTable,
    /// The counters of each connection-level code seen, so that counting a
    /// message takes no lock.
    by_code: HashMap<u64, Arc<Counters>>,
}

impl<C> CountedConn<C> {
    pub(super) fn new(inner: C, id: PeerId, table: CapabilityTable, shared: Arc<Shared>) -> Self {
        CountedConn {
            inner,
            id,
            counters: shared.open(id),
            shared,
            table,
            by_code: HashMap::new(),
        }
    }
}

/// The counters of connection-level `code` on a connection running `table`.
fn message_counters<'a>(
    by_code: &'a mut HashMap<u64, Arc<Counters>>,
    table: &CapabilityTable,
    shared: &Shared,
    code: u64,
) -> &'a Counters {
    // Unowned codes all count as one, so a peer cannot grow the map.
    let cache_key = if code < BASE_PROTOCOL_LENGTH || table.owner(code).is_some() {
        code
    } else {
        u64::MAX
    };
    by_code.entry(cache_key).or_insert_with(|| {
        let key = if code < BASE_PROTOCOL_LENGTH {
            MessageKey {
                protocol: "p2p".to_owned(),
                code,
            }
        } else if let Some((_, cap)) = table.owner(code) {
            MessageKey {
                protocol: cap.capability.to_string(),
                code: code - cap.offset,
            }
        } else {
            MessageKey {
                protocol: "unknown".to_owned(),
                code: 0,
            }
        };
        shared.message(key)
    })
}

#[pinned_drop]
impl<C> PinnedDrop for CountedConn<C> {
    fn drop(self: Pin<&mut Self>) {
        let this = self.project();
        this.shared.close(this.id, this.counters);
    }
}

impl<C: MsgConn> Stream for CountedConn<C> {
    type Item = Result<Msg, C::ConnError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        let item = ready!(this.inner.poll_next(cx));
        if let Some(Ok(msg)) = &item {
            this.counters.received(msg.payload.len());
            message_counters(this.by_code, this.table, this.shared, msg.code)
                .received(msg.payload.len());
        }
        Poll::Ready(item)
    }
}

impl<C: MsgConn> Sink<Msg> for CountedConn<C> {
    type Error = C::ConnError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.project().inner.poll_ready(cx)
    }

    fn start_send(self: Pin<&mut Self>, msg: Msg) -> Result<(), Self::Error> {
        let this = self.project();
        let (code, len) = (msg.code, msg.payload.len());
        this.inner.start_send(msg)?;
        this.counters.sent(len);
        message_counters(this.by_code, this.table, this.shared, code).sent(len);
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.project().inner.poll_close(cx)
    }
}

impl<C: MsgConn> MsgConn for CountedConn<C> {
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
