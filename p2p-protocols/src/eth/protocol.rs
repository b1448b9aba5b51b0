//! The eth capability as a p2p-core plugin: one [`Eth`] value shared by all
//! versions and peers, a [`Protocol`] per version for the server's
//! capability matching, and an [`EthPeer`] handle per connected peer to send
//! requests and announcements.

use std::sync::{Arc, Mutex};

use std::time::Duration;

use bytes::Bytes;
use p2p_core::protocol::{CapabilityConn, CapabilitySender, Protocol, ProtocolFuture, SendError};
use p2p_core::{Capability, CapabilityMessage, DisconnectReason, Msg, Peer, PeerId};
use primitive_types::H256;
use tokio::sync::broadcast;

use super::handler::{self, Announcement, EthHandler};
use super::handshake::{check_range, exchange_status, ChainSpec, StatusError, STATUS_TIMEOUT};
use super::messages::{
    code, limits, EthMessage, GetBlockHeaders, GetReceipts70, HashesRequest, Status,
};
use super::tracker::{
    response_id, Misbehaviour, PendingGuard, Reputation, RequestError, RequestTracker,
};
use super::types::{BlockBody, BlockHeader, HashOrNumber, Receipt, Transaction};
use super::EthVersion;
use crate::peers::{lock, PeerTable};

/// The capability's name.
pub const NAME: &str = "eth";

/// How long a request waits for its response by default: go-ethereum's
/// request timeouts are of this order, and an honest peer on any link
/// answers a 2 MiB response well within it.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How the eth capability runs.
#[derive(Clone, Debug)]
pub struct EthConfig {
    /// The chain we are on.
    pub spec: ChainSpec,
    /// The versions offered (the server picks the highest both sides have).
    pub versions: Vec<EthVersion>,
    /// How long a peer has to send its Status.
    pub status_timeout: Duration,
    /// How long a request waits for its response.
    pub request_timeout: Duration,
}

impl EthConfig {
    /// eth/68 to eth/71 on `spec`, with the default deadlines.
    pub fn new(spec: ChainSpec) -> Self {
        EthConfig {
            spec,
            versions: EthVersion::ALL.to_vec(),
            status_timeout: STATUS_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

/// What happened to an eth peer.
#[derive(Clone, Debug)]
pub enum EthEvent {
    /// The Status handshake succeeded; the peer takes requests.
    Ready(EthPeer),
    /// The handshake failed and the peer was disconnected.
    HandshakeFailed {
        /// The peer.
        peer: PeerId,
        /// Why.
        error: StatusError,
    },
    /// A peer that was ready left.
    Gone {
        /// The peer.
        peer: PeerId,
        /// Why we ended it, if we did; `None` when it ended on the other side
        /// or the session closed.
        reason: Option<DisconnectReason>,
    },
}

struct Shared {
    config: EthConfig,
    handler: Arc<dyn EthHandler>,
    peers: PeerTable<PeerState>,
    events: broadcast::Sender<EthEvent>,
}

/// The eth capability: hand [`Eth::protocols`] to the server, and use the
/// handle to reach peers.
///
/// ```
/// use std::sync::Arc;
/// use p2p_protocols::eth::{chain::MemoryChain, handshake::ChainSpec, protocol::{Eth, EthConfig}};
/// use p2p_protocols::forkid::mainnet;
///
/// let chain = Arc::new(MemoryChain::new(MemoryChain::mainnet_genesis()));
/// let eth = Eth::new(EthConfig::new(ChainSpec::new(1, mainnet::petersburg())), chain);
/// let protocols = eth.protocols(); // eth/68 to eth/71, for the server
/// assert_eq!(protocols.len(), 4);
/// assert!(eth.peers().is_empty());
/// ```
#[derive(Clone)]
pub struct Eth {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Eth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Eth")
            .field("versions", &self.shared.config.versions)
            .finish_non_exhaustive()
    }
}

impl Eth {
    /// The capability on `config`'s chain, serving from `handler`.
    pub fn new(config: EthConfig, handler: Arc<dyn EthHandler>) -> Self {
        Eth {
            shared: Arc::new(Shared {
                config,
                handler,
                peers: PeerTable::default(),
                events: broadcast::channel(256).0,
            }),
        }
    }

    /// One plugin per configured version, for the server.
    pub fn protocols(&self) -> Vec<Arc<dyn Protocol>> {
        self.shared
            .config
            .versions
            .iter()
            .map(|&version| {
                Arc::new(EthProtocol {
                    version,
                    shared: self.shared.clone(),
                }) as Arc<dyn Protocol>
            })
            .collect()
    }

    /// The peer with `id`, once its handshake is done.
    pub fn peer(&self, id: &PeerId) -> Option<EthPeer> {
        self.shared.peers.get(id).map(|state| EthPeer { state })
    }

    /// Every ready peer.
    pub fn peers(&self) -> Vec<EthPeer> {
        self.shared
            .peers
            .all()
            .into_iter()
            .map(|state| EthPeer { state })
            .collect()
    }

    /// Peer events from now on. A receiver that falls 256 events behind
    /// loses the oldest (see [`broadcast`]).
    pub fn subscribe(&self) -> broadcast::Receiver<EthEvent> {
        self.shared.events.subscribe()
    }

    /// Tells every eth/69 (or later) peer our current block range (BlockRangeUpdate);
    /// call it when the head moves (the spec asks for at most one update
    /// per 32 blocks or so).
    pub async fn announce_block_range(&self) {
        let range = self.shared.handler.head().range();
        for peer in self.peers() {
            if peer.version().has_block_range() {
                let _ = peer.announce(Announcement::BlockRange(range)).await;
            }
        }
    }
}

/// Most follow-up requests for the rest of one block's receipts (eth/70):
/// 64 messages of 10 MiB are far beyond any block's receipts, so a peer that
/// needs more is sending receipts without end.
const MAX_RECEIPT_CONTINUATIONS: usize = 64;

/// One version of eth, as the server sees it.
struct EthProtocol {
    version: EthVersion,
    shared: Arc<Shared>,
}

impl Protocol for EthProtocol {
    fn capability(&self) -> Capability {
        Capability::new(NAME, self.version.number())
    }

    fn message_count(&self) -> u64 {
        EthMessage::count(self.version.number())
    }

    fn run(&self, peer: Peer, conn: CapabilityConn) -> ProtocolFuture {
        Box::pin(run_peer(self.shared.clone(), self.version, peer, conn))
    }
}

/// Removes a ready peer from the table however its task ends.
struct Registration {
    shared: Arc<Shared>,
    eth_peer: EthPeer,
    reason: Option<DisconnectReason>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let id = self.eth_peer.id();
        self.shared.peers.remove_session(&id, &self.eth_peer.state);
        self.eth_peer.state.close();
        let _ = self.shared.events.send(EthEvent::Gone {
            peer: id,
            reason: self.reason,
        });
    }
}

async fn run_peer(
    shared: Arc<Shared>,
    version: EthVersion,
    peer: Peer,
    mut conn: CapabilityConn,
) -> Result<(), DisconnectReason> {
    let id = peer.id();
    let config = &shared.config;
    let head = shared.handler.head();
    let status = match exchange_status(
        &mut conn,
        version,
        &config.spec,
        &head,
        config.status_timeout,
    )
    .await
    {
        Ok(status) => status,
        Err(error) => {
            tracing::debug!(peer = %id, %error, "eth handshake failed");
            let reason = error.disconnect_reason();
            let _ = shared
                .events
                .send(EthEvent::HandshakeFailed { peer: id, error });
            return Err(reason);
        }
    };
    let eth_peer = EthPeer {
        state: Arc::new(PeerState {
            peer: peer.clone(),
            version,
            status,
            sender: conn.sender(),
            tracker: Mutex::new(RequestTracker::new(rand::random())),
            request_timeout: config.request_timeout,
        }),
    };
    shared.peers.insert(id, eth_peer.state.clone());
    let mut registration = Registration {
        shared: shared.clone(),
        eth_peer: eth_peer.clone(),
        reason: None,
    };
    let _ = shared.events.send(EthEvent::Ready(eth_peer.clone()));

    let result = serve_peer(&shared, &eth_peer, &mut conn).await;
    if let Err(reason) = result {
        tracing::debug!(peer = %id, ?reason, "eth peer ended");
        registration.reason = Some(reason);
    }
    result
}

/// Reads the peer's messages after the handshake until the session ends or
/// the peer has to go.
async fn serve_peer(
    shared: &Shared,
    eth_peer: &EthPeer,
    conn: &mut CapabilityConn,
) -> Result<(), DisconnectReason> {
    let version = eth_peer.version();
    let handler = shared.handler.as_ref();
    let id = eth_peer.id();
    while let Some(msg) = conn.recv().await {
        if msg.payload.len() > limits::MAX_MESSAGE_SIZE {
            tracing::debug!(peer = %id, code = msg.code, len = msg.payload.len(), "eth message over the size limit");
            return Err(DisconnectReason::SubprotocolError);
        }
        let message = match <EthMessage as CapabilityMessage>::decode(version.number(), &msg) {
            Ok(message) => message,
            Err(error) => {
                tracing::debug!(peer = %id, %error, "bad eth message");
                return Err(error.disconnect_reason());
            }
        };
        let reply = match message {
            EthMessage::Status(_) => {
                tracing::debug!(peer = %id, "second eth status");
                return Err(DisconnectReason::SubprotocolError);
            }
            EthMessage::GetBlockHeaders(query) => Some(handler::serve_headers(handler, &query)),
            EthMessage::GetBlockBodies(request) => Some(handler::serve_bodies(handler, &request)),
            EthMessage::GetReceipts(request) => {
                Some(handler::serve_receipts(handler, version, &request))
            }
            EthMessage::GetReceipts70(request) => {
                Some(handler::serve_receipts70(handler, &request))
            }
            EthMessage::GetBlockAccessLists(request) => {
                Some(handler::serve_block_access_lists(handler, &request))
            }
            EthMessage::GetPooledTransactions(request) => {
                Some(handler::serve_pooled_transactions(handler, &request))
            }
            EthMessage::NewBlockHashes(blocks) => {
                handler.on_announcement(id, Announcement::BlockHashes(blocks));
                None
            }
            EthMessage::NewBlock(block) => {
                handler.on_announcement(id, Announcement::NewBlock(block));
                None
            }
            EthMessage::Transactions(txs) => {
                handler.on_announcement(id, Announcement::Transactions(txs));
                None
            }
            EthMessage::NewPooledTransactionHashes(hashes) => {
                handler.on_announcement(id, Announcement::PooledTransactionHashes(hashes));
                None
            }
            EthMessage::BlockRangeUpdate(range) => {
                if let Err(error) = check_range(&range) {
                    tracing::debug!(peer = %id, %error, "bad block range update");
                    return Err(error.disconnect_reason());
                }
                handler.on_announcement(id, Announcement::BlockRange(range));
                None
            }
            response => {
                let request_id = response_id(&response).expect("every other message is a response");
                let mut tracker = lock(&eth_peer.state.tracker);
                if let Err(misbehaviour) = tracker.resolve(request_id, response) {
                    tracing::debug!(peer = %id, %misbehaviour, "eth response refused");
                    if let Some(reason) = tracker.penalise(&misbehaviour) {
                        return Err(reason);
                    }
                }
                None
            }
        };
        if let Some(reply) = reply {
            conn.send(reply).await.map_err(DisconnectReason::from)?;
        }
    }
    Ok(())
}

struct PeerState {
    peer: Peer,
    version: EthVersion,
    status: Status,
    sender: CapabilitySender,
    tracker: Mutex<RequestTracker>,
    request_timeout: Duration,
}

impl PeerState {
    /// Fails every pending request: their responses can no longer come.
    fn close(&self) {
        lock(&self.tracker).close();
    }
}

/// A connected eth peer that passed the Status handshake. Cheap to clone.
#[derive(Clone)]
pub struct EthPeer {
    state: Arc<PeerState>,
}

impl std::fmt::Debug for EthPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EthPeer")
            .field("id", &self.id())
            .field("version", &self.state.version)
            .finish()
    }
}

impl EthPeer {
    /// The peer's id.
    pub fn id(&self) -> PeerId {
        self.state.peer.id()
    }

    /// The eth version negotiated.
    pub fn version(&self) -> EthVersion {
        self.state.version
    }

    /// The peer's Status.
    pub fn status(&self) -> &Status {
        &self.state.status
    }

    /// The p2p-core handle of the peer.
    pub fn peer(&self) -> &Peer {
        &self.state.peer
    }

    /// The peer's accumulated penalties.
    pub fn reputation(&self) -> Reputation {
        lock(&self.state.tracker).reputation()
    }

    /// Tells the peer about blocks or transactions: the messages a node
    /// sends unasked. Requests go through the `get_*` methods (so that their
    /// responses are tracked) and the Status only through the handshake.
    /// Refuses what the negotiated version lacks (NewBlock and
    /// NewBlockHashes after eth/68, BlockRangeUpdate before eth/69).
    pub async fn announce(&self, announcement: Announcement) -> Result<(), SendError> {
        let message = match announcement {
            Announcement::BlockHashes(blocks) => EthMessage::NewBlockHashes(blocks),
            Announcement::NewBlock(block) => EthMessage::NewBlock(block),
            Announcement::Transactions(txs) => EthMessage::Transactions(txs),
            Announcement::PooledTransactionHashes(hashes) => {
                EthMessage::NewPooledTransactionHashes(hashes)
            }
            Announcement::BlockRange(range) => EthMessage::BlockRangeUpdate(range),
        };
        if !message.is_defined_in(self.version()) {
            return Err(SendError::CodeOutOfRange {
                code: message.code(),
                count: self.version().message_count(),
            });
        }
        self.state.sender.send(message.to_msg()).await
    }

    async fn request(
        &self,
        expected: u64,
        max_items: usize,
        query: Option<GetBlockHeaders>,
        build: impl FnOnce(u64) -> Msg,
    ) -> Result<EthMessage, RequestError> {
        let state = &*self.state;
        let (id, reply) = lock(&state.tracker).register(expected, max_items, query)?;
        let guard = PendingGuard {
            tracker: &state.tracker,
            id,
        };
        state
            .sender
            .send(build(id))
            .await
            .map_err(|_| RequestError::PeerGone)?;
        match tokio::time::timeout(state.request_timeout, reply).await {
            Ok(Ok(Ok(response))) => Ok(response),
            Ok(Ok(Err(misbehaviour))) => Err(RequestError::BadResponse(misbehaviour)),
            Ok(Err(_)) => Err(RequestError::PeerGone),
            Err(_) => {
                drop(guard);
                self.penalise(&Misbehaviour::Timeout(id));
                Err(RequestError::Timeout)
            }
        }
    }

    /// Asks for up to `limit` headers from `start`, every `skip + 1`-th, in
    /// descending order if `reverse` ([`limits::MAX_HEADERS_SERVE`] at most:
    /// no peer serves more). The headers returned are checked to answer the
    /// query.
    pub async fn get_block_headers(
        &self,
        start: HashOrNumber,
        limit: u64,
        skip: u64,
        reverse: bool,
    ) -> Result<Vec<BlockHeader>, RequestError> {
        let limit = limit.min(limits::MAX_HEADERS_SERVE as u64);
        let query = GetBlockHeaders {
            request_id: 0,
            start,
            limit,
            skip,
            reverse,
        };
        let response = self
            .request(code::BLOCK_HEADERS, limit as usize, Some(query), |id| {
                EthMessage::GetBlockHeaders(GetBlockHeaders {
                    request_id: id,
                    ..query
                })
                .to_msg()
            })
            .await?;
        match response {
            EthMessage::BlockHeaders(res) => Ok(res.headers),
            _ => unreachable!("the tracker checks the response code"),
        }
    }

    fn hashes_msg(
        request: fn(HashesRequest) -> EthMessage,
        hashes: Vec<H256>,
    ) -> impl FnOnce(u64) -> Msg {
        move |request_id| request(HashesRequest { request_id, hashes }).to_msg()
    }

    /// Asks for the bodies of `hashes` (in order; unknown ones are left out
    /// by the peer).
    pub async fn get_block_bodies(
        &self,
        hashes: Vec<H256>,
    ) -> Result<Vec<BlockBody>, RequestError> {
        let response = self
            .request(
                code::BLOCK_BODIES,
                hashes.len(),
                None,
                Self::hashes_msg(EthMessage::GetBlockBodies, hashes),
            )
            .await?;
        match response {
            EthMessage::BlockBodies(res) => Ok(res.bodies),
            _ => unreachable!("the tracker checks the response code"),
        }
    }

    /// Asks for the receipts of blocks `hashes`; the peer answers a prefix
    /// (stopping at a block it lacks, or at its size limits). eth/68
    /// receipts come with blooms; they are returned without (recompute
    /// with [`Receipt::bloom`]).
    ///
    /// Over eth/70 and later a block whose receipts do not fit one message
    /// comes in parts; the rest is asked for, from where the part ended,
    /// until the block is whole, so each list returned is a block's whole
    /// list. A continuation must bring at least one receipt, or the peer is
    /// refused.
    pub async fn get_receipts(&self, hashes: Vec<H256>) -> Result<Vec<Vec<Receipt>>, RequestError> {
        if !self.version().has_partial_receipts() {
            let response = self
                .request(
                    code::RECEIPTS,
                    hashes.len(),
                    None,
                    Self::hashes_msg(EthMessage::GetReceipts, hashes),
                )
                .await?;
            return match response {
                EthMessage::Receipts69(res) => Ok(res.receipts),
                EthMessage::Receipts68(res) => Ok(res
                    .receipts
                    .into_iter()
                    .map(|block| block.into_iter().map(|r| r.receipt).collect())
                    .collect()),
                _ => unreachable!("the tracker checks the response code"),
            };
        }
        let (mut blocks, mut incomplete) = self.get_receipts70(hashes.clone(), 0).await?;
        let mut continuations = 0;
        while incomplete {
            // No real block needs many: a message carries up to 10 MiB.
            continuations += 1;
            if continuations > MAX_RECEIPT_CONTINUATIONS {
                return Err(self.refuse(Misbehaviour::Mismatch("a block's receipts never end")));
            }
            // The last block is partial: ask for it again from where it
            // stopped, along with the blocks after it.
            let last = blocks.len() - 1;
            let done = blocks[last].len();
            let (more, more_incomplete) = self
                .get_receipts70(hashes[last..].to_vec(), done as u64)
                .await?;
            let mut more = more.into_iter();
            match more.next() {
                Some(rest) if !rest.is_empty() => blocks[last].extend(rest),
                _ => {
                    return Err(self.refuse(Misbehaviour::Mismatch(
                        "a receipts continuation brought no receipts",
                    )))
                }
            }
            blocks.extend(more);
            incomplete = more_incomplete;
        }
        Ok(blocks)
    }

    /// Charges the peer for `misbehaviour`, ending the session if that was
    /// one too many.
    fn penalise(&self, misbehaviour: &Misbehaviour) {
        if let Some(reason) = lock(&self.state.tracker).penalise(misbehaviour) {
            self.state.peer.disconnect(reason);
        }
    }

    /// Penalises a response the tracker could not judge by itself and says
    /// why it was refused.
    fn refuse(&self, misbehaviour: Misbehaviour) -> RequestError {
        self.penalise(&misbehaviour);
        RequestError::BadResponse(misbehaviour)
    }

    /// One eth/70 GetReceipts: the lists answered and whether the last is
    /// partial.
    async fn get_receipts70(
        &self,
        hashes: Vec<H256>,
        first_block_receipt_index: u64,
    ) -> Result<(Vec<Vec<Receipt>>, bool), RequestError> {
        let response = self
            .request(code::RECEIPTS, hashes.len(), None, move |request_id| {
                EthMessage::GetReceipts70(GetReceipts70 {
                    request_id,
                    first_block_receipt_index,
                    hashes,
                })
                .to_msg()
            })
            .await?;
        match response {
            EthMessage::Receipts70(res) => {
                if res.last_block_incomplete && res.receipts.is_empty() {
                    return Err(
                        self.refuse(Misbehaviour::Mismatch("no receipts, yet marked incomplete"))
                    );
                }
                Ok((res.receipts, res.last_block_incomplete))
            }
            _ => unreachable!("the tracker checks the response code"),
        }
    }

    /// Asks for the access lists of blocks `hashes` (eth/71, EIP-8159): one
    /// entry per block answered, in order, `None` where the peer has none.
    /// Check each against its header's `block_access_list_hash` (keccak256
    /// of the raw list). Fails with [`RequestError::Unsupported`] on a
    /// session of an earlier version.
    pub async fn get_block_access_lists(
        &self,
        hashes: Vec<H256>,
    ) -> Result<Vec<Option<Bytes>>, RequestError> {
        if !self.version().has_block_access_lists() {
            return Err(RequestError::Unsupported {
                version: self.version().number(),
            });
        }
        let response = self
            .request(
                code::BLOCK_ACCESS_LISTS,
                hashes.len(),
                None,
                Self::hashes_msg(EthMessage::GetBlockAccessLists, hashes),
            )
            .await?;
        match response {
            EthMessage::BlockAccessLists(res) => Ok(res.lists),
            _ => unreachable!("the tracker checks the response code"),
        }
    }

    /// Asks for pooled transactions by hash.
    pub async fn get_pooled_transactions(
        &self,
        hashes: Vec<H256>,
    ) -> Result<Vec<Transaction>, RequestError> {
        let response = self
            .request(
                code::POOLED_TRANSACTIONS,
                hashes.len(),
                None,
                Self::hashes_msg(EthMessage::GetPooledTransactions, hashes),
            )
            .await?;
        match response {
            EthMessage::PooledTransactions(res) => Ok(res.transactions),
            _ => unreachable!("the tracker checks the response code"),
        }
    }
}
