//! Request ids (eth/66 and later) and the per-peer bookkeeping that matches
//! responses to requests.
//!
//! Every request we send gets a fresh id and a slot here; the response with
//! that id fills the slot and wakes the requester. What a peer can get wrong
//! is each a [`Misbehaviour`] with a penalty: answering nothing in time,
//! answering a request never made (or twice), answering with another message
//! than the one asked for, or with more items than asked for. Penalties add
//! up in a [`Reputation`]; a peer that reaches [`Reputation::LIMIT`] is
//! disconnected. Good answers pay a little of the debt back, so a peer that
//! is merely slow now and then is kept.

use std::collections::HashMap;

use p2p_core::DisconnectReason;
use tokio::sync::oneshot;

use super::messages::{code, EthMessage, GetBlockHeaders};
use super::types::{BlockHeader, HashOrNumber};

/// Most requests in flight to one peer at once; a caller beyond it gets
/// [`RequestError::TooManyInFlight`] instead of growing the table.
pub const MAX_IN_FLIGHT: usize = 64;

/// Why a request got no typed response.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// No response within the timeout.
    #[error("the peer did not answer in time")]
    Timeout,
    /// The session ended first.
    #[error("the peer is gone")]
    PeerGone,
    /// [`MAX_IN_FLIGHT`] requests are already waiting on this peer.
    #[error("too many requests in flight to this peer")]
    TooManyInFlight,
    /// The peer answered, but not acceptably (it has been penalised).
    #[error("bad response: {0}")]
    BadResponse(Misbehaviour),
    /// The negotiated eth version has no such request.
    #[error("eth/{version} has no such request")]
    Unsupported {
        /// The negotiated version.
        version: u32,
    },
}

/// Something a peer did wrong in answering requests.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Misbehaviour {
    /// A request went unanswered past its timeout.
    #[error("request {0} timed out")]
    Timeout(u64),
    /// A response to no pending request: never asked, already answered, or
    /// answered after its timeout.
    #[error("unsolicited response {code:#04x} with id {id}")]
    Unsolicited {
        /// The response's code.
        code: u64,
        /// Its request id.
        id: u64,
    },
    /// A response of another kind than the request with its id.
    #[error("response {got:#04x} to a request expecting {expected:#04x}")]
    WrongKind {
        /// The response code expected.
        expected: u64,
        /// The code received.
        got: u64,
    },
    /// More items than asked for.
    #[error("{got} items in a response to a request for at most {asked}")]
    TooManyItems {
        /// Most items the request allowed.
        asked: usize,
        /// Items received.
        got: usize,
    },
    /// A response whose content does not answer its request (headers that
    /// do not follow the query, codes that hash to nothing asked for...).
    #[error("response does not answer the request: {0}")]
    Mismatch(&'static str),
}

impl Misbehaviour {
    /// The penalty: a breach of the request protocol costs the whole
    /// allowance at once, an unsolicited response a quarter of it, a timeout
    /// a tenth (slow peers are not hostile peers).
    pub fn penalty(&self) -> u32 {
        match self {
            Misbehaviour::Timeout(_) => Reputation::LIMIT / 10,
            Misbehaviour::Unsolicited { .. } => Reputation::LIMIT / 4,
            Misbehaviour::WrongKind { .. }
            | Misbehaviour::TooManyItems { .. }
            | Misbehaviour::Mismatch(_) => Reputation::LIMIT,
        }
    }

    /// The reason a peer is disconnected with when this pushed it over the
    /// limit: a peer that only times out is useless, one that answers wrongly
    /// breaks the protocol.
    pub fn disconnect_reason(&self) -> DisconnectReason {
        match self {
            Misbehaviour::Timeout(_) => DisconnectReason::UselessPeer,
            _ => DisconnectReason::SubprotocolError,
        }
    }
}

/// Accumulated penalties of one peer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reputation {
    debt: u32,
}

impl Reputation {
    /// The debt at which a peer is disconnected.
    pub const LIMIT: u32 = 100;
    /// What a good response pays back.
    pub const CREDIT: u32 = 2;

    /// Adds `misbehaviour`'s penalty; `true` when the limit is reached.
    pub fn penalise(&mut self, misbehaviour: &Misbehaviour) -> bool {
        self.debt = self.debt.saturating_add(misbehaviour.penalty());
        self.debt >= Self::LIMIT
    }

    /// Records a good response.
    pub fn reward(&mut self) {
        self.debt = self.debt.saturating_sub(Self::CREDIT);
    }

    /// The current debt.
    pub fn debt(&self) -> u32 {
        self.debt
    }
}

/// A capability's response message, as a [`RequestTracker`] matches it to
/// its request.
pub trait Response: Sized + Send + 'static {
    /// What a request keeps to check its response's content against (eth:
    /// the header query of a GetBlockHeaders).
    type Check: Send;
    /// The message code.
    fn code(&self) -> u64;
    /// How many items it holds, of those a request bounds.
    fn items(&self) -> usize;
    /// Checks that the content answers the request (beyond kind and count).
    fn check(&self, check: &Self::Check) -> Result<(), Misbehaviour>;
}

impl Response for EthMessage {
    type Check = Option<GetBlockHeaders>;

    fn code(&self) -> u64 {
        EthMessage::code(self)
    }

    fn items(&self) -> usize {
        response_items(self)
    }

    fn check(&self, query: &Option<GetBlockHeaders>) -> Result<(), Misbehaviour> {
        match (query, self) {
            (Some(query), EthMessage::BlockHeaders(res)) => {
                check_headers(query, &res.headers).map_err(Misbehaviour::Mismatch)
            }
            _ => Ok(()),
        }
    }
}

/// Forgets a request if its caller stops waiting (timeout or dropped
/// future), so the tracker never holds requests nobody waits for. Made by
/// the requesting future right after [`RequestTracker::register`].
pub(crate) struct PendingGuard<'a, M: Response> {
    /// The tracker the request is registered with.
    pub(crate) tracker: &'a std::sync::Mutex<RequestTracker<M>>,
    /// The request's id.
    pub(crate) id: u64,
}

impl<M: Response> Drop for PendingGuard<'_, M> {
    fn drop(&mut self) {
        crate::peers::lock(self.tracker).cancel(self.id);
    }
}

/// What a requester gets: the response, or why it was refused.
pub type Reply<M> = Result<M, Misbehaviour>;

/// What a pending request expects of its response.
struct Pending<M: Response> {
    /// The response code.
    expected: u64,
    /// Most items the response may hold.
    max_items: usize,
    /// What to check the content against.
    check: M::Check,
    /// Where the response goes.
    reply: oneshot::Sender<Reply<M>>,
}

/// Pending requests to one peer, and its reputation.
pub struct RequestTracker<M: Response = EthMessage> {
    next_id: u64,
    pending: HashMap<u64, Pending<M>>,
    reputation: Reputation,
    closed: bool,
}

impl<M: Response> std::fmt::Debug for RequestTracker<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestTracker")
            .field("next_id", &self.next_id)
            .field("in_flight", &self.pending.len())
            .field("reputation", &self.reputation)
            .field("closed", &self.closed)
            .finish()
    }
}

impl<M: Response> RequestTracker<M> {
    /// An empty tracker whose ids start at `first_id` (random in practice, so
    /// that a response meant for an earlier session never matches).
    pub fn new(first_id: u64) -> Self {
        RequestTracker {
            next_id: first_id,
            pending: HashMap::new(),
            reputation: Reputation::default(),
            closed: false,
        }
    }

    /// Reserves an id for a request whose response has code `expected`, at
    /// most `max_items` items, and content that passes `check`.
    pub fn register(
        &mut self,
        expected: u64,
        max_items: usize,
        check: M::Check,
    ) -> Result<(u64, oneshot::Receiver<Reply<M>>), RequestError> {
        if self.closed {
            return Err(RequestError::PeerGone);
        }
        if self.pending.len() >= MAX_IN_FLIGHT {
            return Err(RequestError::TooManyInFlight);
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let (reply, rx) = oneshot::channel();
        self.pending.insert(
            id,
            Pending {
                expected,
                max_items,
                check,
                reply,
            },
        );
        Ok((id, rx))
    }

    /// Forgets request `id` (its requester gave up or timed out).
    pub fn cancel(&mut self, id: u64) -> bool {
        self.pending.remove(&id).is_some()
    }

    /// Fails every pending request and refuses new ones: the peer is gone.
    pub fn close(&mut self) {
        self.closed = true;
        self.pending.clear();
    }

    /// How many requests are pending.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// The peer's reputation.
    pub fn reputation(&self) -> Reputation {
        self.reputation
    }

    /// Penalises the peer; `Some(reason)` when it must go.
    pub fn penalise(&mut self, misbehaviour: &Misbehaviour) -> Option<DisconnectReason> {
        self.reputation
            .penalise(misbehaviour)
            .then(|| misbehaviour.disconnect_reason())
    }

    /// Matches `response` (with request id `id`) to its request and hands it
    /// over. A response that does not fit is returned as the misbehaviour it
    /// is, and its requester is told; the caller penalises the peer with it.
    pub fn resolve(&mut self, id: u64, response: M) -> Result<(), Misbehaviour> {
        let got = response.code();
        let Some(pending) = self.pending.remove(&id) else {
            return Err(Misbehaviour::Unsolicited { code: got, id });
        };
        let items = response.items();
        let verdict = if pending.expected != got {
            Err(Misbehaviour::WrongKind {
                expected: pending.expected,
                got,
            })
        } else if items > pending.max_items {
            Err(Misbehaviour::TooManyItems {
                asked: pending.max_items,
                got: items,
            })
        } else {
            response.check(&pending.check)
        };
        if let Err(misbehaviour) = verdict {
            let _ = pending.reply.send(Err(misbehaviour.clone()));
            return Err(misbehaviour);
        }
        self.reputation.reward();
        // The requester may have given up in between; nothing to do then.
        let _ = pending.reply.send(Ok(response));
        Ok(())
    }
}

/// The request id of a response message, if it is one.
pub fn response_id(message: &EthMessage) -> Option<u64> {
    match message {
        EthMessage::BlockHeaders(r) => Some(r.request_id),
        EthMessage::BlockBodies(r) => Some(r.request_id),
        EthMessage::PooledTransactions(r) => Some(r.request_id),
        EthMessage::Receipts68(r) => Some(r.request_id),
        EthMessage::Receipts69(r) => Some(r.request_id),
        EthMessage::Receipts70(r) => Some(r.request_id),
        EthMessage::BlockAccessLists(r) => Some(r.request_id),
        _ => None,
    }
}

fn response_items(message: &EthMessage) -> usize {
    match message {
        EthMessage::BlockHeaders(r) => r.headers.len(),
        EthMessage::BlockBodies(r) => r.bodies.len(),
        EthMessage::PooledTransactions(r) => r.transactions.len(),
        EthMessage::Receipts68(r) => r.receipts.len(),
        EthMessage::Receipts69(r) => r.receipts.len(),
        EthMessage::Receipts70(r) => r.receipts.len(),
        EthMessage::BlockAccessLists(r) => r.lists.len(),
        _ => 0,
    }
}

/// The response code answering request code `request`.
pub fn response_code(request: u64) -> Option<u64> {
    match request {
        code::GET_BLOCK_HEADERS => Some(code::BLOCK_HEADERS),
        code::GET_BLOCK_BODIES => Some(code::BLOCK_BODIES),
        code::GET_POOLED_TRANSACTIONS => Some(code::POOLED_TRANSACTIONS),
        code::GET_RECEIPTS => Some(code::RECEIPTS),
        code::GET_BLOCK_ACCESS_LISTS => Some(code::BLOCK_ACCESS_LISTS),
        _ => None,
    }
}

/// Checks that `headers` answer `query`: the first is the block asked for
/// (by number, or by hash), and each next one is `skip + 1` blocks further
/// in the query's direction. Fewer headers than asked is fine (the peer may
/// not have them).
pub fn check_headers(query: &GetBlockHeaders, headers: &[BlockHeader]) -> Result<(), &'static str> {
    let Some(first) = headers.first() else {
        return Ok(());
    };
    match query.start {
        HashOrNumber::Number(n) if first.number != n => {
            return Err("first header is not the block asked for")
        }
        HashOrNumber::Hash(h) if first.hash() != h => {
            return Err("first header is not the block asked for")
        }
        _ => {}
    }
    let step = query.skip.checked_add(1).ok_or("skip overflows")?;
    for pair in headers.windows(2) {
        let expected = if query.reverse {
            pair[0].number.checked_sub(step)
        } else {
            pair[0].number.checked_add(step)
        };
        if expected != Some(pair[1].number) {
            return Err("headers are not spaced as asked");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eth::messages::{BlockBodies, BlockHeaders};

    fn headers(numbers: &[u64]) -> Vec<BlockHeader> {
        numbers
            .iter()
            .map(|n| BlockHeader {
                number: *n,
                ..BlockHeader::default()
            })
            .collect()
    }

    fn query(start: u64, limit: u64, skip: u64, reverse: bool) -> GetBlockHeaders {
        GetBlockHeaders {
            request_id: 0,
            start: HashOrNumber::Number(start),
            limit,
            skip,
            reverse,
        }
    }

    fn header_response(id: u64, numbers: &[u64]) -> EthMessage {
        EthMessage::BlockHeaders(BlockHeaders {
            request_id: id,
            headers: headers(numbers),
        })
    }

    #[test]
    fn a_matching_response_reaches_its_requester() {
        let mut tracker = RequestTracker::<EthMessage>::new(7);
        let (id, mut rx) = tracker
            .register(code::BLOCK_HEADERS, 3, Some(query(10, 3, 1, false)))
            .unwrap();
        assert_eq!(id, 7);
        assert_eq!(
            tracker.resolve(id, header_response(id, &[10, 12, 14])),
            Ok(())
        );
        assert_eq!(
            rx.try_recv().unwrap(),
            Ok(header_response(id, &[10, 12, 14]))
        );
        assert_eq!(tracker.in_flight(), 0);
    }

    #[test]
    fn duplicates_unsolicited_and_wrong_kinds_are_misbehaviour() {
        let mut tracker = RequestTracker::<EthMessage>::new(0);
        let (id, _rx) = tracker.register(code::BLOCK_HEADERS, 1, None).unwrap();
        tracker.resolve(id, header_response(id, &[1])).unwrap();
        // The same response again: nothing is waiting for it any more.
        assert_eq!(
            tracker.resolve(id, header_response(id, &[1])),
            Err(Misbehaviour::Unsolicited {
                code: code::BLOCK_HEADERS,
                id
            })
        );
        let (id, _rx) = tracker.register(code::BLOCK_HEADERS, 1, None).unwrap();
        let bodies = EthMessage::BlockBodies(BlockBodies {
            request_id: id,
            bodies: vec![],
        });
        assert_eq!(
            tracker.resolve(id, bodies),
            Err(Misbehaviour::WrongKind {
                expected: code::BLOCK_HEADERS,
                got: code::BLOCK_BODIES
            })
        );
        let (id, _rx) = tracker.register(code::BLOCK_HEADERS, 2, None).unwrap();
        assert_eq!(
            tracker.resolve(id, header_response(id, &[1, 2, 3])),
            Err(Misbehaviour::TooManyItems { asked: 2, got: 3 })
        );
    }

    #[test]
    fn headers_must_follow_the_query() {
        let q = query(100, 4, 2, true);
        assert_eq!(check_headers(&q, &headers(&[100, 97, 94])), Ok(()));
        assert_eq!(check_headers(&q, &headers(&[])), Ok(()));
        assert!(check_headers(&q, &headers(&[99])).is_err());
        assert!(check_headers(&q, &headers(&[100, 98])).is_err());
        // Going below genesis is not a valid step either.
        assert!(check_headers(&query(2, 3, 4, true), &headers(&[2, 0])).is_err());
        let by_hash = GetBlockHeaders {
            start: HashOrNumber::Hash(headers(&[5])[0].hash()),
            ..query(0, 2, 0, false)
        };
        assert_eq!(check_headers(&by_hash, &headers(&[5, 6])), Ok(()));
        assert!(check_headers(&by_hash, &headers(&[6, 7])).is_err());
    }

    #[test]
    fn the_in_flight_table_is_bounded_and_cancel_frees_slots() {
        let mut tracker = RequestTracker::<EthMessage>::new(u64::MAX - 1);
        let ids: Vec<u64> = (0..MAX_IN_FLIGHT)
            .map(|_| tracker.register(code::BLOCK_BODIES, 1, None).unwrap().0)
            .collect();
        // Ids wrap around instead of overflowing.
        assert_eq!(&ids[..3], &[u64::MAX - 1, u64::MAX, 0]);
        assert_eq!(
            tracker.register(code::BLOCK_BODIES, 1, None).unwrap_err(),
            RequestError::TooManyInFlight
        );
        assert!(tracker.cancel(ids[0]));
        assert!(!tracker.cancel(ids[0]));
        assert!(tracker.register(code::BLOCK_BODIES, 1, None).is_ok());
    }

    #[test]
    fn reputation_disconnects_at_the_limit_and_good_answers_pay_back() {
        let mut tracker = RequestTracker::<EthMessage>::new(0);
        for i in 0..9 {
            assert_eq!(tracker.penalise(&Misbehaviour::Timeout(i)), None);
        }
        // A good response pays some debt back, so the tenth timeout is not
        // yet fatal.
        let (id, _rx) = tracker.register(code::BLOCK_HEADERS, 1, None).unwrap();
        tracker.resolve(id, header_response(id, &[])).unwrap();
        assert_eq!(tracker.penalise(&Misbehaviour::Timeout(9)), None);
        assert_eq!(
            tracker.penalise(&Misbehaviour::Timeout(10)),
            Some(DisconnectReason::UselessPeer)
        );
        let mut tracker = RequestTracker::<EthMessage>::new(0);
        assert_eq!(
            tracker.penalise(&Misbehaviour::TooManyItems { asked: 1, got: 2 }),
            Some(DisconnectReason::SubprotocolError)
        );
        let mut tracker = RequestTracker::<EthMessage>::new(0);
        let unsolicited = Misbehaviour::Unsolicited { code: 4, id: 1 };
        assert_eq!(tracker.penalise(&unsolicited), None);
        assert_eq!(tracker.penalise(&unsolicited), None);
        assert_eq!(tracker.penalise(&unsolicited), None);
        assert_eq!(
            tracker.penalise(&unsolicited),
            Some(DisconnectReason::SubprotocolError)
        );
    }
}
