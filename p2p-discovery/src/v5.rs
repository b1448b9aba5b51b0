//! Discovery v5, through the well-kept `discv5` crate, behind the same
//! interface as discovery v4: a stream of dial candidates
//! ([`Discv5Service::random_nodes`]) that the server mixes with its other
//! sources.
//!
//! # Its own UDP port
//!
//! go-ethereum runs v4 and v5 on one UDP port: its v4 reader hands every
//! packet it cannot decode to the v5 reader. The `discv5` crate binds its
//! socket itself and offers no way to feed it datagrams received elsewhere, so
//! sharing a port would mean forking the crate or running a second socket with
//! `SO_REUSEPORT`, where the kernel spreads datagrams between the two sockets
//! by hash and each protocol would lose a share of its packets. Neither is
//! sound, so v5 listens on a port of its own (reth does the same). Its record
//! (its own ENR, signed by the same key) names that port in `udp`, the RLPx
//! port in `tcp`, and, if configured, the `eth` fork id; the v4 service keeps
//! its own record for its own port.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use discv5::{ConfigBuilder, Discv5, ListenConfig};
use enr::{CombinedKey, EnrPublicKey};
use futures::stream::Stream;
use p2p_core::record::ForkId;
use p2p_core::{Enode, NodeAddr, NodeKey, PeerId};
use tracing::debug;

/// A node record as discovery v5 handles it (any identity scheme the crate
/// knows; devp2p nodes use "v4", secp256k1).
pub type Enr = discv5::Enr;

/// Why the v5 service could not start or answer.
#[derive(Debug, thiserror::Error)]
pub enum Discv5Error {
    /// The key or record could not be built.
    #[error("invalid key or record: {0}")]
    Record(String),
    /// The socket could not be bound.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The crate refused to start.
    #[error("discv5: {0}")]
    Start(String),
    /// A lookup failed (the service stopped, typically).
    #[error("query failed: {0}")]
    Query(String),
    /// A request to one node failed: no answer in time, or not the answer
    /// asked for.
    #[error("request failed: {0}")]
    Request(String),
}

/// Settings of a [`Discv5Service`].
#[derive(Debug, Clone)]
pub struct Discv5Config {
    /// The UDP address to listen on. Port 0 picks a free port (found by
    /// binding and releasing a socket, as the crate cannot report the port
    /// it bound).
    pub listen: SocketAddr,
    /// The IP address to advertise; `None` advertises the listen address
    /// unless it is unspecified, in which case the crate learns it from
    /// peers' PONGs.
    pub advertised_ip: Option<IpAddr>,
    /// The RLPx (TCP) port to advertise; 0 for none.
    pub tcp_port: u16,
    /// The QUIC port to advertise (the `quic` / `quic6` key), if the node
    /// also speaks devp2p over QUIC.
    pub quic_port: Option<u16>,
    /// The `eth` fork id to advertise, if any.
    pub fork_id: Option<ForkId>,
    /// Nodes to start from, as records (v5 needs a node's record, not only
    /// its address, to contact it).
    pub bootnodes: Vec<Enr>,
    /// How long one request waits for its answer.
    pub request_timeout: Duration,
    /// How long after a node enters the table it is first pinged, and how
    /// often after that. The crate's default of five minutes leaves a node
    /// that contacted us unchecked for that long; go-ethereum revalidates new
    /// entries within seconds, and its conformance suite waits one minute
    /// for us to ping the nodes that introduced themselves.
    pub ping_interval: Duration,
}

impl Default for Discv5Config {
    fn default() -> Self {
        Discv5Config {
            listen: SocketAddr::from(([0, 0, 0, 0], 9000)),
            advertised_ip: None,
            tcp_port: 0,
            quic_port: None,
            fork_id: None,
            bootnodes: Vec::new(),
            request_timeout: Duration::from_secs(1),
            ping_interval: Duration::from_secs(20),
        }
    }
}

/// A running discovery v5 node.
pub struct Discv5Service {
    /// Shared with the candidate streams, which start lookups through it;
    /// locked only to start one (the crate hands back a future that owns
    /// what it needs) or to stop the service.
    inner: Arc<Mutex<Discv5>>,
    local_addr: SocketAddr,
}

impl std::fmt::Debug for Discv5Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discv5Service")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

/// The `discv5` crate's form of our node key.
fn combined_key(key: &NodeKey) -> Result<CombinedKey, Discv5Error> {
    let mut secret = key.secret_bytes();
    CombinedKey::secp256k1_from_bytes(&mut secret).map_err(|e| Discv5Error::Record(e.to_string()))
}

/// The devp2p identity of a record, if it uses the secp256k1 ("v4") scheme.
pub fn peer_id(enr: &Enr) -> Option<PeerId> {
    PeerId::from_slice(&enr.public_key().encode_uncompressed())
}

/// The `enode://` form of a record with an IP address and a TCP port: what
/// the dialer needs. IPv4 is preferred when the record has both.
pub fn enode(enr: &Enr) -> Option<Enode> {
    let id = peer_id(enr)?;
    if let (Some(ip), Some(tcp)) = (enr.ip4(), enr.tcp4()) {
        return Some(Enode::new(id, ip.into(), tcp, enr.udp4().unwrap_or(0)));
    }
    let (ip, tcp) = (enr.ip6()?, enr.tcp6()?);
    Some(Enode::new(id, ip.into(), tcp, enr.udp6().unwrap_or(0)))
}

/// A record as the server dials it: the devp2p form of the record, which
/// each transport reads its own port from. `None` for a record without a
/// devp2p identity or an IP address, or with neither a TCP nor a QUIC port
/// (nothing to dial).
pub fn node_addr(enr: &Enr) -> Option<NodeAddr> {
    peer_id(enr)?;
    let has_port = enr.tcp4().is_some()
        || enr.tcp6().is_some()
        || [p2p_core::record::QUIC_KEY, p2p_core::record::QUIC6_KEY]
            .iter()
            .any(|key| enr.get_raw_rlp(key).is_some());
    if !has_port {
        return None;
    }
    // The discv5 crate's record type is generic over its key; ours is the
    // secp256k1 one. The text form carries the signed record unchanged.
    let record = enr
        .to_base64()
        .parse::<p2p_core::record::NodeRecord>()
        .ok()?;
    NodeAddr::from_record(record)
}

impl Discv5Service {
    /// Builds our record, binds the socket and starts the service. Must be
    /// called inside a tokio runtime.
    pub async fn start(key: &NodeKey, config: Discv5Config) -> Result<Self, Discv5Error> {
        let mut listen = config.listen;
        if listen.port() == 0 {
            let probe = UdpSocket::bind(listen)?;
            listen.set_port(probe.local_addr()?.port());
        }
        let enr_key = combined_key(key)?;
        let advertised = config
            .advertised_ip
            .or((!listen.ip().is_unspecified()).then_some(listen.ip()));
        let mut builder = enr::Enr::builder();
        match advertised {
            Some(IpAddr::V4(ip)) => {
                builder.ip4(ip).udp4(listen.port());
                if config.tcp_port != 0 {
                    builder.tcp4(config.tcp_port);
                }
                if let Some(quic) = config.quic_port {
                    builder.add_value(p2p_core::record::QUIC_KEY, &quic);
                }
            }
            Some(IpAddr::V6(ip)) => {
                builder.ip6(ip).udp6(listen.port());
                if config.tcp_port != 0 {
                    builder.tcp6(config.tcp_port);
                }
                if let Some(quic) = config.quic_port {
                    builder.add_value(p2p_core::record::QUIC6_KEY, &quic);
                }
            }
            None => {}
        }
        if let Some(fork_id) = config.fork_id {
            builder.add_value_rlp(
                p2p_core::record::ETH_KEY,
                p2p_core::record::eth_entry(&fork_id),
            );
        }
        let local_enr = builder
            .build(&enr_key)
            .map_err(|e| Discv5Error::Record(e.to_string()))?;
        let listen_config = ListenConfig::from_ip(listen.ip(), listen.port());
        let crate_config = ConfigBuilder::new(listen_config)
            .request_timeout(config.request_timeout)
            .ping_interval(config.ping_interval)
            .build();
        let mut inner = Discv5::new(local_enr, enr_key, crate_config)
            .map_err(|e| Discv5Error::Start(e.to_string()))?;
        for enr in config.bootnodes {
            if let Err(e) = inner.add_enr(enr) {
                debug!(target: "discv5", "bootnode not added: {e}");
            }
        }
        inner
            .start()
            .await
            .map_err(|e| Discv5Error::Start(format!("{e:?}")))?;
        Ok(Discv5Service {
            inner: Arc::new(Mutex::new(inner)),
            local_addr: listen,
        })
    }

    /// The UDP address the service listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Our current record.
    pub fn local_enr(&self) -> Enr {
        lock(&self.inner).local_enr()
    }

    /// Adds a node's record to the table, as a bootnode.
    pub fn add_enr(&self, enr: Enr) -> Result<(), Discv5Error> {
        lock(&self.inner)
            .add_enr(enr)
            .map_err(|e| Discv5Error::Record(e.to_string()))
    }

    /// The records in the routing table.
    pub fn table_entries(&self) -> Vec<Enr> {
        lock(&self.inner).table_entries_enr()
    }

    /// An iterative lookup for `target`: the closest records found.
    pub async fn lookup(&self, target: enr::NodeId) -> Result<Vec<Enr>, Discv5Error> {
        let lookup = lock(&self.inner).find_node(target);
        lookup.await.map_err(|e| Discv5Error::Query(e.to_string()))
    }

    /// Pings the node of `enr` and waits for its PONG; returns the sequence
    /// number of the node's current record, which it carries.
    pub async fn ping(&self, enr: Enr) -> Result<u64, Discv5Error> {
        let ping = lock(&self.inner).send_ping(enr);
        let pong = ping
            .await
            .map_err(|e| Discv5Error::Request(e.to_string()))?;
        Ok(pong.enr_seq)
    }

    /// Asks the node of `enr` for the records in its table at the given log
    /// distances from itself (a FINDNODE); distance 0 is its own record.
    /// Nodes answer with at most 16 records, from the distances in the
    /// order given (go-ethereum) or from the smallest (the `discv5` crate).
    pub async fn find_node(&self, enr: Enr, distances: Vec<u64>) -> Result<Vec<Enr>, Discv5Error> {
        let ask = lock(&self.inner).find_node_designated_peer(enr, distances);
        ask.await.map_err(|e| Discv5Error::Request(e.to_string()))
    }

    /// Asks the node of `enr` for its current record: a FINDNODE at distance
    /// zero, which the node answers with its own record only.
    pub async fn request_enr(&self, enr: Enr) -> Result<Enr, Discv5Error> {
        let id = enr.node_id();
        self.find_node(enr, vec![0])
            .await?
            .into_iter()
            .find(|record| record.node_id() == id)
            .ok_or_else(|| Discv5Error::Request("the node did not send its own record".into()))
    }

    /// An endless stream of dial candidates found by lookups for random
    /// targets, and the routing table's entries: records with an IP, a TCP
    /// or QUIC port and a devp2p identity ([`node_addr`]), so a transport
    /// finds its own port in them. Like
    /// [`crate::v4::service::Discv4Handle::random_nodes`] (see
    /// [`crate::walk::random_walk`]), it works only while polled. It ends
    /// when the service stops.
    pub fn random_nodes(&self) -> impl Stream<Item = NodeAddr> + Send + 'static {
        let inner = self.inner.clone();
        crate::walk::random_walk(move || {
            let inner = inner.clone();
            // With an empty table there is nobody to ask (the crate would
            // say so in a warning each round): an empty round, and the walk
            // backs off until someone contacts us or a bootnode answers.
            let lookup = {
                let service = lock(&inner);
                (!service.table_entries_id().is_empty())
                    .then(|| service.find_node(enr::NodeId::random()))
            };
            async move {
                let Some(lookup) = lookup else {
                    return Some(Vec::new());
                };
                match lookup.await {
                    // v5 asks each node for the nodes at a few log distances
                    // from it, so in a small network a random target can
                    // miss nodes for many rounds; the table holds every node
                    // that answered or contacted us, so it is offered too.
                    Ok(found) => {
                        let table = lock(&inner).table_entries_enr();
                        Some(found.iter().chain(&table).filter_map(node_addr).collect())
                    }
                    // Not started (any more): the service is gone.
                    Err(discv5::QueryError::ServiceNotStarted) => None,
                    Err(e) => {
                        debug!(target: "discv5", "random lookup failed: {e}");
                        Some(Vec::new())
                    }
                }
            }
        })
    }

    /// Advertises `fork_id` in our record's `eth` entry, as a node does when
    /// its head crosses a fork: the record is re-signed with the next
    /// sequence number, which the crate's pings carry to our peers. Returns
    /// whether the record changed.
    pub fn set_fork_id(&self, fork_id: ForkId) -> Result<bool, Discv5Error> {
        let entry = p2p_core::record::eth_entry(&fork_id);
        let service = lock(&self.inner);
        if service
            .local_enr()
            .get_raw_rlp(p2p_core::record::ETH_KEY)
            .is_some_and(|current| current == entry.as_ref())
        {
            return Ok(false);
        }
        service
            .enr_insert(p2p_core::record::ETH_KEY, &EncodedRlp(&entry))
            .map_err(|e| Discv5Error::Record(e.to_string()))?;
        Ok(true)
    }

    /// Stops the service (its socket closes; the candidate streams end).
    pub fn shutdown(&self) {
        lock(&self.inner).shutdown();
    }
}

/// RLP already encoded, handed to the discv5 crate as is.
struct EncodedRlp<'a>(&'a [u8]);

impl alloy_rlp::Encodable for EncodedRlp<'_> {
    fn encode(&self, out: &mut dyn alloy_rlp::BufMut) {
        out.put_slice(self.0);
    }

    fn length(&self) -> usize {
        self.0.len()
    }
}

/// Locks the service; a panic elsewhere while it was locked leaves nothing
/// half-changed in it that matters here, so a poisoned lock is used as is.
fn lock(inner: &Mutex<Discv5>) -> std::sync::MutexGuard<'_, Discv5> {
    inner.lock().unwrap_or_else(|e| e.into_inner())
}
