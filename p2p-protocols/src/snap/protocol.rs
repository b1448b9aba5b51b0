//! The `snap/1` capability as a p2p-core plugin: one [`Snap`] value shared
//! by all peers, its [`Protocol`] for the server's capability matching, and a
//! [`SnapPeer`] handle per connected peer to request state from.
//!
//! Every request a peer sends is answered with [`serve`] from the
//! [`SnapHandler`]; every response is matched to the request with its id.
//! What a peer gets wrong in answering costs it reputation, with eth's
//! [`Misbehaviour`] penalties and [`Reputation`] limit; a response whose
//! content does not answer the request (codes that hash to nothing asked
//! for, accounts out of order) ends the peer at once with
//! `SubprotocolError`, as does a message that does not decode.
//!
//! # snap beside eth
//!
//! The spec makes `snap` a satellite of `eth`: a peer runs it only beside
//! eth, which negotiates the chain. By default ([`SnapConfig::require_eth`])
//! a peer whose connection does not run eth as well (eth is not among the
//! capabilities both sides share) is refused at once with `UselessPeer`, so
//! the server should offer `snap` together with [`Eth`]'s protocols. The
//! plugin does not wait for eth's Status handshake: a peer that fails it is
//! disconnected by eth, which ends its snap stream too.
//!
//! [`Eth`]: crate::eth::protocol::Eth

use std::sync::{Arc, Mutex};

use std::time::Duration;

use bytes::Bytes;
use p2p_core::protocol::{CapabilityConn, CapabilitySender, Protocol, ProtocolFuture};
use p2p_core::{Capability, CapabilityMessage, DisconnectReason, Peer, PeerId};
use primitive_types::H256;
use tokio::sync::broadcast;

use super::messages::{
    capability, keccak256, AccountRange, GetAccountRange, GetByteCodes, GetStorageRanges,
    GetTrieNodes, SnapMessage, StorageRanges, StorageSlot, TrieNodePathSet, ACCOUNT_RANGE,
    BYTE_CODES, MAX_BYTECODE_HASHES, MAX_STORAGE_ACCOUNTS, MAX_TRIE_NODE_PATHS, STORAGE_RANGES,
    TRIE_NODES, VERSION,
};
use super::serve::{serve, SnapHandler};
use crate::eth::tracker::{
    Misbehaviour, PendingGuard, Reputation, RequestError, RequestTracker, Response,
};
use crate::peers::{lock, PeerTable};

/// How long a request waits for its response by default (eth's default).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = crate::eth::protocol::DEFAULT_REQUEST_TIMEOUT;

/// Largest snap message accepted: go-ethereum's `maxMessageSize` for snap
/// (10 MiB), five times the largest response budget served.
pub const MAX_MESSAGE_SIZE: usize = 10 * 1024 * 1024;

/// How the snap capability runs.
#[derive(Clone, Debug)]
pub struct SnapConfig {
    /// How long a request waits for its response.
    pub request_timeout: Duration,
    /// Whether a peer must run eth on the same connection (see the
    /// [module documentation](self)); `true` by default.
    pub require_eth: bool,
}

impl Default for SnapConfig {
    fn default() -> Self {
        SnapConfig {
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            require_eth: true,
        }
    }
}

/// What happened to a snap peer.
#[derive(Clone, Debug)]
pub enum SnapEvent {
    /// The peer runs snap and takes requests.
    Ready(SnapPeer),
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
    config: SnapConfig,
    handler: Arc<dyn SnapHandler>,
    peers: PeerTable<PeerState>,
    events: broadcast::Sender<SnapEvent>,
}

/// The snap capability: hand [`Snap::protocol`] to the server (beside eth's
/// protocols), and use the handle to reach peers.
///
/// ```
/// use std::sync::Arc;
/// use primitive_types::H256;
/// use p2p_protocols::snap::{protocol::{Snap, SnapConfig}, MemorySnapState};
///
/// let state = Arc::new(MemorySnapState::new(H256::repeat_byte(1)));
/// let snap = Snap::new(SnapConfig::default(), state);
/// let protocol = snap.protocol(); // snap/1, for the server
/// assert_eq!(protocol.message_count(), 8);
/// assert!(snap.peers().is_empty());
/// ```
#[derive(Clone)]
pub struct Snap {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Snap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snap")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl Snap {
    /// The capability, serving from `handler`.
    pub fn new(config: SnapConfig, handler: Arc<dyn SnapHandler>) -> Self {
        Snap {
            shared: Arc::new(Shared {
                config,
                handler,
                peers: PeerTable::default(),
                events: broadcast::channel(256).0,
            }),
        }
    }

    /// The plugin, for the server.
    pub fn protocol(&self) -> Arc<dyn Protocol> {
        Arc::new(SnapProtocol {
            shared: self.shared.clone(),
        })
    }

    /// The peer with `id`, if it is ready.
    pub fn peer(&self, id: &PeerId) -> Option<SnapPeer> {
        self.shared.peers.get(id).map(|state| SnapPeer { state })
    }

    /// Every ready peer.
    pub fn peers(&self) -> Vec<SnapPeer> {
        self.shared
            .peers
            .all()
            .into_iter()
            .map(|state| SnapPeer { state })
            .collect()
    }

    /// Peer events from now on. A receiver that falls 256 events behind
    /// loses the oldest (see [`broadcast`]).
    pub fn subscribe(&self) -> broadcast::Receiver<SnapEvent> {
        self.shared.events.subscribe()
    }
}

struct SnapProtocol {
    shared: Arc<Shared>,
}

impl Protocol for SnapProtocol {
    fn capability(&self) -> Capability {
        capability()
    }

    fn message_count(&self) -> u64 {
        SnapMessage::count(VERSION)
    }

    fn run(&self, peer: Peer, conn: CapabilityConn) -> ProtocolFuture {
        Box::pin(run_peer(self.shared.clone(), peer, conn))
    }
}

/// Removes a ready peer from the table however its task ends.
struct Registration {
    shared: Arc<Shared>,
    peer: SnapPeer,
    reason: Option<DisconnectReason>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let state = &self.peer.state;
        self.shared.peers.remove_session(&state.peer.id(), state);
        lock(&state.tracker).close();
        let reason = self.reason.or(*lock(&state.fault));
        let _ = self.shared.events.send(SnapEvent::Gone {
            peer: state.peer.id(),
            reason,
        });
    }
}

async fn run_peer(
    shared: Arc<Shared>,
    peer: Peer,
    mut conn: CapabilityConn,
) -> Result<(), DisconnectReason> {
    let id = peer.id();
    if shared.config.require_eth
        && !peer
            .info()
            .shared
            .iter()
            .any(|cap| cap.capability.name == crate::eth::protocol::NAME)
    {
        tracing::debug!(peer = %id, "snap peer without eth");
        return Err(DisconnectReason::UselessPeer);
    }
    let snap_peer = SnapPeer {
        state: Arc::new(PeerState {
            peer,
            sender: conn.sender(),
            tracker: Mutex::new(RequestTracker::new(rand::random())),
            request_timeout: shared.config.request_timeout,
            fault: Mutex::new(None),
        }),
    };
    shared.peers.insert(id, snap_peer.state.clone());
    let mut registration = Registration {
        shared: shared.clone(),
        peer: snap_peer.clone(),
        reason: None,
    };
    let _ = shared.events.send(SnapEvent::Ready(snap_peer.clone()));

    let result = serve_peer(&shared, &snap_peer, &mut conn).await;
    if let Err(reason) = result {
        tracing::debug!(peer = %id, ?reason, "snap peer ended");
        registration.reason = Some(reason);
    }
    result
}

/// Reads the peer's messages until the session ends or the peer has to go:
/// requests are answered in order, responses go to their requesters.
async fn serve_peer(
    shared: &Shared,
    snap_peer: &SnapPeer,
    conn: &mut CapabilityConn,
) -> Result<(), DisconnectReason> {
    let id = snap_peer.id();
    while let Some(msg) = conn.recv().await {
        if msg.payload.len() > MAX_MESSAGE_SIZE {
            tracing::debug!(peer = %id, code = msg.code, len = msg.payload.len(), "snap message over the size limit");
            return Err(DisconnectReason::SubprotocolError);
        }
        let message =
            <SnapMessage as CapabilityMessage>::decode(VERSION, &msg).map_err(|error| {
                tracing::debug!(peer = %id, %error, "bad snap message");
                error.disconnect_reason()
            })?;
        if let Some(reply) = serve(shared.handler.as_ref(), &message) {
            conn.send(reply.to_msg())
                .await
                .map_err(DisconnectReason::from)?;
            continue;
        }
        let mut tracker = lock(&snap_peer.state.tracker);
        if let Err(misbehaviour) = tracker.resolve(message.request_id(), message) {
            tracing::debug!(peer = %id, %misbehaviour, "snap response refused");
            if let Some(reason) = tracker.penalise(&misbehaviour) {
                return Err(reason);
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Response checks.

/// What a snap response's content is checked against, beyond its kind and
/// item count.
#[derive(Clone, Debug)]
pub enum SnapCheck {
    /// An AccountRange from `origin`.
    Accounts {
        /// The request's starting hash.
        origin: H256,
    },
    /// StorageRanges, the first list from `origin`.
    Storage {
        /// The request's starting hash.
        origin: Option<H256>,
    },
    /// ByteCodes for these hashes.
    Codes(Vec<H256>),
    /// TrieNodes: asked for by path, so nothing to check by hash.
    Nodes,
}

impl Response for SnapMessage {
    type Check = SnapCheck;

    fn code(&self) -> u64 {
        SnapMessage::code(self)
    }

    fn items(&self) -> usize {
        response_items(self)
    }

    fn check(&self, check: &SnapCheck) -> Result<(), Misbehaviour> {
        match (check, self) {
            (SnapCheck::Accounts { origin }, SnapMessage::AccountRange(r)) => {
                check_account_range(*origin, r)
            }
            (SnapCheck::Storage { origin }, SnapMessage::StorageRanges(r)) => {
                check_storage_ranges(*origin, r)
            }
            (SnapCheck::Codes(hashes), SnapMessage::ByteCodes(r)) => {
                check_byte_codes(hashes, &r.codes)
            }
            _ => Ok(()),
        }
        .map_err(Misbehaviour::Mismatch)
    }
}

/// The items of a response that a request bounds.
fn response_items(message: &SnapMessage) -> usize {
    match message {
        SnapMessage::AccountRange(m) => m.accounts.len(),
        SnapMessage::StorageRanges(m) => m.slots.len(),
        SnapMessage::ByteCodes(m) => m.codes.len(),
        SnapMessage::TrieNodes(m) => m.nodes.len(),
        _ => 0,
    }
}

/// Checks that `response` is a range from `origin` on: account hashes
/// strictly increasing, the first at or past `origin`.
pub fn check_account_range(origin: H256, response: &AccountRange) -> Result<(), &'static str> {
    if response.accounts.first().is_some_and(|a| a.hash < origin) {
        return Err("accounts start before the origin");
    }
    if response.accounts.windows(2).any(|w| w[0].hash >= w[1].hash) {
        return Err("account hashes are not strictly increasing");
    }
    Ok(())
}

/// Checks that each list of `response` has strictly increasing slot hashes,
/// the first at or past `origin`. (That there are no more lists than
/// accounts asked for is the tracker's item count.)
pub fn check_storage_ranges(
    origin: Option<H256>,
    response: &StorageRanges,
) -> Result<(), &'static str> {
    let first_slot = response.slots.first().and_then(|slots| slots.first());
    if let (Some(origin), Some(slot)) = (origin, first_slot) {
        if slot.hash < origin {
            return Err("slots start before the origin");
        }
    }
    let increasing = |slots: &Vec<StorageSlot>| slots.windows(2).all(|w| w[0].hash < w[1].hash);
    if !response.slots.iter().all(increasing) {
        return Err("slot hashes are not strictly increasing");
    }
    Ok(())
}

/// Checks that every code hashes to one of `hashes`, in the order asked
/// (unknown codes may be left out, but nothing may be added or reordered).
pub fn check_byte_codes(hashes: &[H256], codes: &[Bytes]) -> Result<(), &'static str> {
    let mut asked = hashes.iter();
    for code in codes {
        let hash = keccak256(code);
        if !asked.any(|&h| h == hash) {
            return Err("a code not asked for, or out of order");
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Peers.

struct PeerState {
    peer: Peer,
    sender: CapabilitySender,
    tracker: Mutex<RequestTracker<SnapMessage>>,
    request_timeout: Duration,
    /// Why a requester had the peer disconnected, for the Gone event.
    fault: Mutex<Option<DisconnectReason>>,
}

impl PeerState {
    fn disconnect(&self, reason: DisconnectReason) {
        lock(&self.fault).get_or_insert(reason);
        self.peer.disconnect(reason);
    }
}

/// A connected snap peer. Cheap to clone.
#[derive(Clone)]
pub struct SnapPeer {
    state: Arc<PeerState>,
}

impl std::fmt::Debug for SnapPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapPeer").field("id", &self.id()).finish()
    }
}

impl SnapPeer {
    /// The peer's id.
    pub fn id(&self) -> PeerId {
        self.state.peer.id()
    }

    /// The p2p-core handle of the peer.
    pub fn peer(&self) -> &Peer {
        &self.state.peer
    }

    /// The peer's accumulated penalties.
    pub fn reputation(&self) -> Reputation {
        lock(&self.state.tracker).reputation()
    }

    async fn request(
        &self,
        expected: u64,
        max_items: usize,
        check: SnapCheck,
        build: impl FnOnce(u64) -> SnapMessage,
    ) -> Result<SnapMessage, RequestError> {
        let state = &*self.state;
        let (id, reply) = lock(&state.tracker).register(expected, max_items, check)?;
        let guard = PendingGuard {
            tracker: &state.tracker,
            id,
        };
        state
            .sender
            .send(build(id).to_msg())
            .await
            .map_err(|_| RequestError::PeerGone)?;
        match tokio::time::timeout(state.request_timeout, reply).await {
            Ok(Ok(Ok(response))) => Ok(response),
            Ok(Ok(Err(misbehaviour))) => Err(RequestError::BadResponse(misbehaviour)),
            Ok(Err(_)) => Err(RequestError::PeerGone),
            Err(_) => {
                drop(guard);
                let penalty = lock(&state.tracker).penalise(&Misbehaviour::Timeout(id));
                if let Some(reason) = penalty {
                    state.disconnect(reason);
                }
                Err(RequestError::Timeout)
            }
        }
    }

    /// Asks for the accounts of the state `root` from `origin` on, in hash
    /// order, up to the first at or past `limit` or about `response_bytes`
    /// (at least one if any exists; the server caps the budget at its own,
    /// 2 MiB for go-ethereum). An empty response without proof means the
    /// peer does not have the state.
    ///
    /// The accounts are checked to be strictly increasing from `origin`; the
    /// proof is returned for the caller to verify against `root`.
    pub async fn get_account_range(
        &self,
        root: H256,
        origin: H256,
        limit: H256,
        response_bytes: u64,
    ) -> Result<AccountRange, RequestError> {
        let response = self
            .request(
                ACCOUNT_RANGE,
                usize::MAX,
                SnapCheck::Accounts { origin },
                |request_id| {
                    GetAccountRange {
                        request_id,
                        root_hash: root,
                        starting_hash: origin,
                        limit_hash: limit,
                        response_bytes,
                    }
                    .into()
                },
            )
            .await?;
        let SnapMessage::AccountRange(range) = response else {
            unreachable!("the tracker checks the response code")
        };
        Ok(range)
    }

    /// Asks for the storage of `accounts` in the state `root`: one list of
    /// slots per account served, in the order asked, the first from `origin`
    /// to `limit` (`None` for the start and the end of the trie), the others
    /// whole, up to about `response_bytes`. The last list may be cut (the
    /// proof is then not empty). Accounts past [`MAX_STORAGE_ACCOUNTS`] are
    /// not asked for (the peer would disconnect us), as if cut by the size
    /// limit.
    ///
    /// The response is checked to hold no more lists than accounts asked
    /// for, each strictly increasing, the first from `origin`.
    pub async fn get_storage_ranges(
        &self,
        root: H256,
        mut accounts: Vec<H256>,
        origin: Option<H256>,
        limit: Option<H256>,
        response_bytes: u64,
    ) -> Result<StorageRanges, RequestError> {
        accounts.truncate(MAX_STORAGE_ACCOUNTS);
        let asked = accounts.len();
        let response = self
            .request(
                STORAGE_RANGES,
                asked,
                SnapCheck::Storage { origin },
                |request_id| {
                    GetStorageRanges {
                        request_id,
                        root_hash: root,
                        account_hashes: accounts,
                        starting_hash: origin,
                        limit_hash: limit,
                        response_bytes,
                    }
                    .into()
                },
            )
            .await?;
        let SnapMessage::StorageRanges(ranges) = response else {
            unreachable!("the tracker checks the response code")
        };
        Ok(ranges)
    }

    /// Asks for the codes with `hashes`, up to about `response_bytes`, and
    /// returns those served with their hashes, in the order asked. Hashes
    /// past [`MAX_BYTECODE_HASHES`] are not asked for (the peer would
    /// disconnect us), as if cut by the size limit.
    ///
    /// Every code is checked to hash to a hash asked for, in order.
    pub async fn get_byte_codes(
        &self,
        mut hashes: Vec<H256>,
        response_bytes: u64,
    ) -> Result<Vec<(H256, Bytes)>, RequestError> {
        hashes.truncate(MAX_BYTECODE_HASHES);
        let check = SnapCheck::Codes(hashes.clone());
        let response = self
            .request(BYTE_CODES, hashes.len(), check, |request_id| {
                GetByteCodes {
                    request_id,
                    hashes,
                    response_bytes,
                }
                .into()
            })
            .await?;
        let SnapMessage::ByteCodes(codes) = response else {
            unreachable!("the tracker checks the response code")
        };
        // Checked: each code hashes to a hash asked for.
        Ok(codes
            .codes
            .into_iter()
            .map(|code| (keccak256(&code), code))
            .collect())
    }

    /// Asks for the trie nodes at `paths` in the state `root`, up to about
    /// `response_bytes`; the nodes served come in the order asked, unknown
    /// ones left out. Paths past [`MAX_TRIE_NODE_PATHS`] (counting each set's
    /// account path) are not asked for, as if cut by the size limit.
    ///
    /// Nodes are asked for by path, not hash, so only their number is
    /// checked here; the caller checks each against the hash it expects.
    pub async fn get_trie_nodes(
        &self,
        root: H256,
        mut paths: Vec<TrieNodePathSet>,
        response_bytes: u64,
    ) -> Result<Vec<Bytes>, RequestError> {
        cap_paths(&mut paths);
        let nodes = paths.iter().map(TrieNodePathSet::node_count).sum();
        let response = self
            .request(TRIE_NODES, nodes, SnapCheck::Nodes, |request_id| {
                GetTrieNodes {
                    request_id,
                    root_hash: root,
                    paths,
                    response_bytes,
                }
                .into()
            })
            .await?;
        let SnapMessage::TrieNodes(nodes) = response else {
            unreachable!("the tracker checks the response code")
        };
        Ok(nodes.nodes)
    }
}

/// Cuts `paths` to [`MAX_TRIE_NODE_PATHS`] paths on the wire, cutting a set's
/// storage paths if it straddles the cap (a set needs room for its account
/// path and one storage path to be kept).
fn cap_paths(paths: &mut Vec<TrieNodePathSet>) {
    let mut room = MAX_TRIE_NODE_PATHS;
    for (index, set) in paths.iter_mut().enumerate() {
        if set.path_count() <= room {
            room -= set.path_count();
            continue;
        }
        let keep = if set.storage_paths.is_empty() || room < 2 {
            index
        } else {
            set.storage_paths.truncate(room - 1);
            index + 1
        };
        paths.truncate(keep);
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snap::messages::{AccountEntry, ByteCodes, SlimAccount};
    use crate::snap::serve::MemorySnapState;
    use p2p_core::base::Hello;
    use p2p_core::capability::{CapabilityTable, SharedCapability};
    use p2p_core::Direction;
    use p2p_core::{Msg, PeerInfo};
    use tokio::sync::mpsc;

    fn entry(byte: u8) -> AccountEntry {
        AccountEntry {
            hash: H256::repeat_byte(byte),
            account: SlimAccount::default(),
        }
    }

    fn slot(byte: u8) -> StorageSlot {
        StorageSlot {
            hash: H256::repeat_byte(byte),
            data: Bytes::from_static(&[1]),
        }
    }

    fn codes(id: u64, codes: &[&'static [u8]]) -> SnapMessage {
        SnapMessage::ByteCodes(ByteCodes {
            request_id: id,
            codes: codes.iter().map(|c| Bytes::from_static(c)).collect(),
        })
    }

    #[test]
    fn the_tracker_checks_snap_content() {
        let mut tracker = RequestTracker::<SnapMessage>::new(0);
        let hashes = vec![keccak256(b"a")];
        let (id, mut rx) = tracker
            .register(BYTE_CODES, 1, SnapCheck::Codes(hashes.clone()))
            .unwrap();
        assert_eq!(tracker.resolve(id, codes(id, &[b"a"])), Ok(()));
        assert_eq!(rx.try_recv().unwrap(), Ok(codes(id, &[b"a"])));
        let (id, mut rx) = tracker
            .register(BYTE_CODES, 1, SnapCheck::Codes(hashes))
            .unwrap();
        let mismatch = Misbehaviour::Mismatch("a code not asked for, or out of order");
        assert_eq!(
            tracker.resolve(id, codes(id, &[b"b"])),
            Err(mismatch.clone())
        );
        assert_eq!(rx.try_recv().unwrap(), Err(mismatch));
    }

    #[test]
    fn account_ranges_must_increase_from_the_origin() {
        let range = |bytes: &[u8]| AccountRange {
            accounts: bytes.iter().map(|b| entry(*b)).collect(),
            ..AccountRange::default()
        };
        let origin = H256::repeat_byte(2);
        assert_eq!(check_account_range(origin, &range(&[])), Ok(()));
        assert_eq!(check_account_range(origin, &range(&[2, 3, 9])), Ok(()));
        assert!(check_account_range(origin, &range(&[1, 3])).is_err());
        assert!(check_account_range(origin, &range(&[3, 3])).is_err());
        assert!(check_account_range(origin, &range(&[4, 3])).is_err());
    }

    #[test]
    fn storage_ranges_are_bounded_and_increasing() {
        let ranges = |lists: &[&[u8]]| StorageRanges {
            slots: lists
                .iter()
                .map(|l| l.iter().map(|b| slot(*b)).collect())
                .collect(),
            ..StorageRanges::default()
        };
        let origin = Some(H256::repeat_byte(5));
        assert_eq!(
            check_storage_ranges(origin, &ranges(&[&[5, 6], &[1]])),
            Ok(())
        );
        assert_eq!(check_storage_ranges(None, &ranges(&[&[], &[1]])), Ok(()));
        assert!(check_storage_ranges(origin, &ranges(&[&[4, 6]])).is_err());
        assert!(check_storage_ranges(None, &ranges(&[&[1], &[3, 2]])).is_err());
    }

    #[test]
    fn codes_must_hash_to_what_was_asked_in_order() {
        let (a, b, c) = (
            Bytes::from_static(b"a"),
            Bytes::from_static(b"b"),
            Bytes::from_static(b"c"),
        );
        let hashes = [keccak256(&a), H256::zero(), keccak256(&b)];
        assert_eq!(check_byte_codes(&hashes, &[a.clone(), b.clone()]), Ok(()));
        assert_eq!(check_byte_codes(&hashes, std::slice::from_ref(&b)), Ok(()));
        assert!(check_byte_codes(&hashes, &[b.clone(), a.clone()]).is_err());
        assert!(check_byte_codes(&hashes, &[c]).is_err());
        assert!(check_byte_codes(&hashes, &[a.clone(), a]).is_err());
    }

    #[test]
    fn path_sets_are_capped_on_the_wire() {
        let set = |storage: usize| TrieNodePathSet {
            account_path: Bytes::from_static(&[1]),
            storage_paths: vec![Bytes::from_static(&[2]); storage],
        };
        let count = |paths: &[TrieNodePathSet]| -> usize {
            paths.iter().map(TrieNodePathSet::path_count).sum()
        };
        let mut under = vec![set(0); MAX_TRIE_NODE_PATHS];
        cap_paths(&mut under);
        assert_eq!(under.len(), MAX_TRIE_NODE_PATHS);
        let mut straddling = vec![set(0); MAX_TRIE_NODE_PATHS - 10];
        straddling.push(set(20));
        straddling.push(set(0));
        cap_paths(&mut straddling);
        assert_eq!(straddling.len(), MAX_TRIE_NODE_PATHS - 9);
        assert_eq!(straddling.last().unwrap().storage_paths.len(), 9);
        assert_eq!(count(&straddling), MAX_TRIE_NODE_PATHS);
        let mut full = vec![set(0); MAX_TRIE_NODE_PATHS - 1];
        full.push(set(3));
        cap_paths(&mut full);
        assert_eq!(full.len(), MAX_TRIE_NODE_PATHS - 1);
    }

    fn info(id: PeerId, caps: &[(&str, u32, u64)]) -> Arc<PeerInfo> {
        let hello = Hello {
            protocol_version: 5,
            client_id: "test".into(),
            capabilities: caps.iter().map(|c| Capability::new(c.0, c.1)).collect(),
            listen_port: 0,
            id,
        };
        let mut offset = 0x10;
        let shared = caps
            .iter()
            .map(|&(name, version, length)| {
                let shared = SharedCapability {
                    capability: Capability::new(name, version),
                    offset,
                    length,
                };
                offset += length;
                shared
            })
            .collect();
        Arc::new(PeerInfo::new(
            &hello,
            "127.0.0.1:30303".parse().unwrap(),
            Direction::Inbound,
            CapabilityTable::new(shared),
        ))
    }

    /// The test's end of a running plugin: what the peer sends it, what it
    /// sends the peer, its disconnect requests, and its task.
    type Running = (
        mpsc::Sender<Msg>,
        mpsc::Receiver<Msg>,
        mpsc::Receiver<DisconnectReason>,
        tokio::task::JoinHandle<Result<(), DisconnectReason>>,
    );

    /// Runs `protocol` for a peer with capabilities `caps`.
    fn run(protocol: &Arc<dyn Protocol>, id: PeerId, caps: &[(&str, u32, u64)]) -> Running {
        let (in_tx, in_rx) = mpsc::channel(16);
        let (out_tx, out_rx) = mpsc::channel(16);
        let (dc_tx, dc_rx) = mpsc::channel(1);
        let shared = SharedCapability {
            capability: Capability::new(crate::snap::NAME, crate::snap::VERSION),
            offset: 0,
            length: SnapMessage::count(VERSION),
        };
        let conn = CapabilityConn::new(in_rx, out_tx, &shared);
        let task = tokio::spawn(protocol.run(Peer::new(info(id, caps), dc_tx), conn));
        (in_tx, out_rx, dc_rx, task)
    }

    const BOTH: &[(&str, u32, u64)] = &[("eth", 69, 18), ("snap", 1, 8)];

    #[tokio::test]
    async fn a_peer_without_eth_is_useless_unless_eth_is_not_required() {
        let state = Arc::new(MemorySnapState::new(H256::repeat_byte(1)));
        let snap = Snap::new(SnapConfig::default(), state.clone());
        let (_tx, _rx, _dc, task) = run(
            &snap.protocol(),
            p2p_core::NodeKey::random().id(),
            &[("snap", 1, 8)],
        );
        assert_eq!(task.await.unwrap(), Err(DisconnectReason::UselessPeer));
        assert!(snap.peers().is_empty());

        let config = SnapConfig {
            require_eth: false,
            ..SnapConfig::default()
        };
        let snap = Snap::new(config, state);
        let mut events = snap.subscribe();
        let id = p2p_core::NodeKey::random().id();
        let (tx, _rx, _dc, task) = run(&snap.protocol(), id, &[("snap", 1, 8)]);
        assert!(matches!(events.recv().await.unwrap(), SnapEvent::Ready(p) if p.id() == id));
        drop(tx);
        assert_eq!(task.await.unwrap(), Ok(()));
        assert!(matches!(
            events.recv().await.unwrap(),
            SnapEvent::Gone { peer, reason: None } if peer == id
        ));
    }

    #[tokio::test]
    async fn requests_are_served_and_bad_answers_end_the_peer() {
        let root = H256::repeat_byte(1);
        let mut state = MemorySnapState::new(root);
        for byte in 1..=9 {
            state.insert_account(H256::repeat_byte(byte), SlimAccount::default());
        }
        let snap = Snap::new(
            SnapConfig {
                request_timeout: Duration::from_millis(200),
                ..SnapConfig::default()
            },
            Arc::new(state),
        );
        let mut events = snap.subscribe();
        let id = p2p_core::NodeKey::random().id();
        let (tx, mut rx, mut dc, task) = run(&snap.protocol(), id, BOTH);
        let SnapEvent::Ready(peer) = events.recv().await.unwrap() else {
            panic!("ready first")
        };

        // The peer asks; we serve from the state.
        let ask = GetAccountRange {
            request_id: 42,
            root_hash: root,
            starting_hash: H256::repeat_byte(3),
            limit_hash: H256::repeat_byte(0xff),
            response_bytes: 1,
        };
        tx.send(SnapMessage::from(ask).to_msg()).await.unwrap();
        let answer = SnapMessage::from_msg(&rx.recv().await.unwrap()).unwrap();
        let SnapMessage::AccountRange(range) = answer else {
            panic!("an account range")
        };
        assert_eq!((range.request_id, range.accounts.len()), (42, 1));
        assert_eq!(range.accounts[0].hash, H256::repeat_byte(3));

        // We ask; a good answer comes back typed.
        let request = tokio::spawn({
            let peer = peer.clone();
            async move {
                peer.get_account_range(root, H256::repeat_byte(2), H256::repeat_byte(0xff), 100)
                    .await
            }
        });
        let SnapMessage::GetAccountRange(asked) =
            SnapMessage::from_msg(&rx.recv().await.unwrap()).unwrap()
        else {
            panic!("a request")
        };
        assert_eq!(asked.starting_hash, H256::repeat_byte(2));
        let good = AccountRange {
            request_id: asked.request_id,
            accounts: vec![entry(2), entry(5)],
            proof: vec![],
        };
        tx.send(SnapMessage::from(good.clone()).to_msg())
            .await
            .unwrap();
        assert_eq!(request.await.unwrap(), Ok(good));

        // Unanswered: a timeout, with a penalty.
        let result = peer.get_byte_codes(vec![H256::zero()], 100).await;
        assert_eq!(result, Err(RequestError::Timeout));
        assert!(peer.reputation().debt() > 0);
        rx.recv().await.unwrap();

        // Accounts out of order: the request fails and the peer is ended.
        let request = tokio::spawn({
            let peer = peer.clone();
            async move {
                peer.get_account_range(root, H256::zero(), H256::repeat_byte(0xff), 100)
                    .await
            }
        });
        let asked = SnapMessage::from_msg(&rx.recv().await.unwrap()).unwrap();
        let bad = AccountRange {
            request_id: asked.request_id(),
            accounts: vec![entry(5), entry(2)],
            proof: vec![],
        };
        tx.send(SnapMessage::from(bad).to_msg()).await.unwrap();
        assert!(matches!(
            request.await.unwrap(),
            Err(RequestError::BadResponse(Misbehaviour::Mismatch(_)))
        ));
        // The plugin ends the peer itself; the Gone event names the reason.
        assert_eq!(task.await.unwrap(), Err(DisconnectReason::SubprotocolError));
        drop((tx, dc.try_recv()));
        assert!(matches!(
            events.recv().await.unwrap(),
            SnapEvent::Gone {
                reason: Some(DisconnectReason::SubprotocolError),
                ..
            }
        ));
        assert_eq!(
            peer.get_byte_codes(vec![], 1).await,
            Err(RequestError::PeerGone)
        );
    }

    #[tokio::test]
    async fn garbage_and_unsolicited_responses_end_the_peer() {
        let snap = Snap::new(
            SnapConfig::default(),
            Arc::new(MemorySnapState::new(H256::zero())),
        );
        let (tx, _rx, _dc, task) = run(&snap.protocol(), p2p_core::NodeKey::random().id(), BOTH);
        tx.send(Msg::new(0, vec![0xc5, 0x01])).await.unwrap();
        assert_eq!(task.await.unwrap(), Err(DisconnectReason::SubprotocolError));

        let (tx, _rx, _dc, task) = run(&snap.protocol(), p2p_core::NodeKey::random().id(), BOTH);
        for _ in 0..4 {
            tx.send(codes(9, &[]).to_msg()).await.unwrap();
        }
        assert_eq!(task.await.unwrap(), Err(DisconnectReason::SubprotocolError));
    }
}
