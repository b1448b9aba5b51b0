//! The two ends of a measured connection: each transport's halves for one
//! node, and a listening and a dialing node joined over loopback or over an
//! emulated path.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};

use p2p_core::capability::{CapabilityTable, SharedCapability};
use p2p_core::network::{NetListener, Network, TcpNetwork};
use p2p_core::server::SetupStack;
use p2p_core::{Capability, Connecting, Enode, Msg, MsgConn, NodeAddr, NodeKey};
use p2p_rlpx::RlpxTransport;
use quic_transport::{Congestion, QuicConfig, QuicHandshake, QuicNetwork, StreamMode};
use tokio::runtime::Runtime;
use tokio::sync::mpsc;
use tower::ServiceExt;

use crate::link::Link;

/// A transport's two halves for one node.
pub struct Transport<N, S> {
    network: N,
    stage: S,
    id: p2p_core::PeerId,
}

/// RLPx over TCP.
pub fn rlpx() -> Transport<TcpNetwork, RlpxTransport> {
    let key = Arc::new(NodeKey::random());
    Transport {
        network: TcpNetwork::new(),
        stage: RlpxTransport::new(key.clone()),
        id: key.id(),
    }
}

/// QUIC, every capability on one stream.
pub fn quic() -> Transport<QuicNetwork, QuicHandshake> {
    quic_streams(StreamMode::OneStream)
}

/// QUIC, a stream per capability.
pub fn quic_per_capability() -> Transport<QuicNetwork, QuicHandshake> {
    quic_streams(StreamMode::PerCapability)
}

/// QUIC, a stream per capability, with the BBR congestion controller.
pub fn quic_bbr() -> Transport<QuicNetwork, QuicHandshake> {
    quic_with(QuicConfig {
        streams: StreamMode::PerCapability,
        congestion: Congestion::Bbr,
        ..QuicConfig::default()
    })
}

fn quic_streams(streams: StreamMode) -> Transport<QuicNetwork, QuicHandshake> {
    quic_with(QuicConfig {
        streams,
        ..QuicConfig::default()
    })
}

fn quic_with(config: QuicConfig) -> Transport<QuicNetwork, QuicHandshake> {
    let key = Arc::new(NodeKey::random());
    let (network, stage) = quic_transport::transport(config).expect("config")(key.clone());
    Transport {
        network,
        stage,
        id: key.id(),
    }
}

/// Code of the one message of the `big/1` capability.
pub const BIG: u64 = 0x10;
/// Code of the one message of the `small/1` capability.
pub const SMALL: u64 = 0x11;

/// Two capabilities of one message each, `big/1` at [`BIG`] and `small/1`
/// at [`SMALL`], as a Hello would have matched them.
pub fn two_capabilities() -> CapabilityTable {
    CapabilityTable::new(vec![
        SharedCapability {
            capability: Capability::new("big", 1),
            offset: BIG,
            length: 1,
        },
        SharedCapability {
            capability: Capability::new("small", 1),
            offset: SMALL,
            length: 1,
        },
    ])
}

/// `size` random bytes.
pub fn payload(size: usize) -> bytes::Bytes {
    (0..size)
        .map(|_| rand::random::<u8>())
        .collect::<Vec<_>>()
        .into()
}

/// Two nodes of one transport: a server listening and a client dialing it,
/// on 127.0.0.1 or across an emulated [`Link`].
pub struct Endpoints<'l, N: Network, S> {
    client: Transport<N, S>,
    server: Transport<N, S>,
    listener: N::Listener,
    addr: SocketAddr,
    link: Option<&'l Link>,
}

impl<'l, N: Network, S> Endpoints<'l, N, S>
where
    N: Send,
    S: Send,
    N::Listener: Send,
{
    /// The two nodes on 127.0.0.1.
    pub fn loopback(rt: &Runtime, make: fn() -> Transport<N, S>) -> Self {
        Self::bind(rt, make, IpAddr::V4(Ipv4Addr::LOCALHOST), None)
    }

    /// The server in the link's server namespace, the client in its client
    /// namespace.
    pub fn across(rt: &Runtime, make: fn() -> Transport<N, S>, link: &'l Link) -> Self {
        Self::bind(rt, make, IpAddr::V4(Link::SERVER_IP), Some(link))
    }

    fn bind(
        rt: &Runtime,
        make: fn() -> Transport<N, S>,
        ip: IpAddr,
        link: Option<&'l Link>,
    ) -> Self {
        let (client, server) = (make(), make());
        let bind = || rt.block_on(server.network.bind(SocketAddr::new(ip, 0)));
        let listener = match link {
            Some(link) => link.server.run(bind),
            None => bind(),
        }
        .expect("bind");
        let addr = listener.local_addr().expect("bound");
        Endpoints {
            client,
            server,
            listener,
            addr,
            link,
        }
    }

    /// The server's listener.
    pub fn listener(&self) -> &N::Listener {
        &self.listener
    }

    /// The place the client's sockets belong in. Whatever dials runs
    /// through its [`ClientSide::run`].
    pub fn client_side(&self) -> ClientSide<'l> {
        ClientSide(self.link)
    }

    /// Dials the server from the client and runs both encryption stages:
    /// the two authenticated connections, the client's first. Must run
    /// inside [`ClientSide::run`].
    pub async fn connect<C>(&mut self) -> (C, C)
    where
        S: SetupStack<N::Io, C>,
    {
        let (server_id, addr) = (self.server.id, self.addr);
        let node = NodeAddr::from(Enode::new(server_id, addr.ip(), addr.port(), 0));
        let dial = async {
            let io = self
                .client
                .network
                .connect(&node, addr)
                .await
                .expect("dial");
            let stage = self.client.stage.clone();
            let done = stage
                .oneshot(Connecting::outbound(io, addr, server_id))
                .await;
            done.map_err(Into::into).expect("client handshake").conn
        };
        let accept = async {
            let (io, remote) = self.listener.accept().await.expect("accept");
            let stage = self.server.stage.clone();
            let done = stage.oneshot(Connecting::inbound(io, remote)).await;
            done.map_err(Into::into).expect("server handshake").conn
        };
        tokio::join!(dial, accept)
    }

    /// One connection, made from the client side.
    pub fn connect_blocking<C>(&mut self, rt: &Runtime) -> (C, C)
    where
        S: SetupStack<N::Io, C>,
        C: MsgConn + Send,
    {
        self.client_side().run(|| rt.block_on(self.connect()))
    }

    /// Makes `iters` connections one after another, each dropped once both
    /// ends are authenticated; returns how long that took.
    pub fn time_setups<C>(&mut self, rt: &Runtime, iters: u64) -> Duration
    where
        S: SetupStack<N::Io, C>,
        C: MsgConn + Send,
    {
        self.client_side().run(|| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    drop(self.connect::<C>().await);
                }
                start.elapsed()
            })
        })
    }
}

/// Tells both ends of a connection the [`two_capabilities`], as a Hello
/// would.
pub fn share_two_capabilities(rt: &Runtime, a: &mut impl MsgConn, b: &mut impl MsgConn) {
    let table = two_capabilities();
    // QUIC starts a writer task per capability here: inside the runtime.
    let _runtime = rt.enter();
    a.set_capabilities(&table);
    b.set_capabilities(&table);
}

/// Reads `messages` to their end on `rt`, reporting the code of each and
/// when it arrived.
pub fn report_arrivals<E: Send + 'static>(
    rt: &Runtime,
    mut messages: impl Stream<Item = Result<Msg, E>> + Send + Unpin + 'static,
) -> mpsc::UnboundedReceiver<(u64, Instant)> {
    let (arrived_tx, arrived) = mpsc::unbounded_channel();
    rt.spawn(async move {
        while let Some(Ok(msg)) = messages.next().await {
            if arrived_tx.send((msg.code, Instant::now())).is_err() {
                return;
            }
        }
    });
    arrived
}

/// Where a client's sockets belong: the link's client namespace, or the
/// bench's own.
#[derive(Clone, Copy)]
pub struct ClientSide<'l>(Option<&'l Link>);

impl ClientSide<'_> {
    /// Runs `f` where the client's sockets belong.
    pub fn run<R: Send>(self, f: impl FnOnce() -> R + Send) -> R {
        match self.0 {
            Some(link) => link.client.run(f),
            None => f(),
        }
    }
}
