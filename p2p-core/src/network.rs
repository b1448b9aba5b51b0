//! Where connections come from: the server listens and dials through a
//! [`Network`]. [`TcpNetwork`] is the real one; [`MemNetwork`] connects
//! servers in one process through in-memory pipes, so whole networks of nodes
//! run in a test or a simulation without sockets (the transport on top, RLPx
//! say, is still the real thing).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};

use futures::future::Either;
use tokio::io::DuplexStream;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;

use crate::node_addr::NodeAddr;

/// Where connections come from: listening and dialing.
///
/// A network yields raw connections ([`Network::Io`]) to the encryption
/// stage, which alone needs to know what they are: a byte stream for RLPx
/// (`AsyncRead + AsyncWrite`), a QUIC connection still in its handshake for
/// a QUIC transport. The network also decides where a node is dialed
/// ([`Network::dial_addr`]), since each transport reads its own address from
/// the node's record.
pub trait Network: Clone + Send + Sync + 'static {
    /// One raw connection, as the encryption stage takes it.
    type Io: FirstBytes + Send + Unpin + 'static;
    /// A bound listener.
    type Listener: NetListener<Io = Self::Io>;

    /// Listens on `addr` (port 0: any free port).
    fn bind(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Listener>> + Send;

    /// Where this network reaches `node`, or `None` when nothing known of
    /// the node offers this transport. By default the TCP endpoint of the
    /// node's `enode://` form.
    fn dial_addr(&self, node: &NodeAddr) -> Option<SocketAddr> {
        node.tcp_addr()
    }

    /// Opens a connection to `node` at `addr`, the address
    /// [`dial_addr`](Network::dial_addr) chose. The node is passed along so
    /// that a transport whose handshake runs inside the connect (QUIC's TLS)
    /// knows whom it dials, and a network of several transports which one
    /// the address belongs to.
    fn connect(
        &self,
        node: &NodeAddr,
        addr: SocketAddr,
    ) -> impl Future<Output = io::Result<Self::Io>> + Send;
}

/// A raw connection that can say when its peer has sent something, without
/// consuming it.
///
/// The server holds an inbound connection that has sent nothing apart from
/// those whose handshake has begun (see
/// [`layers::pending`](crate::layers::pending)): a connection that only
/// holds a socket open costs no handshake work, and is the first to go when
/// room is needed.
pub trait FirstBytes {
    /// Resolves once the peer has sent its first bytes, closed the
    /// connection or broken it; the bytes stay to be read. A transport that
    /// cannot tell resolves at once.
    fn first_bytes(&self) -> impl Future<Output = ()> + Send + '_;
}

impl FirstBytes for TcpStream {
    async fn first_bytes(&self) {
        // Readable also on end of file and on error, which the handshake
        // then reads for itself.
        let _ = self.readable().await;
    }
}

impl FirstBytes for DuplexStream {
    // An in-memory pipe has no readiness to wait on without reading.
    async fn first_bytes(&self) {}
}

/// For tests and examples whose stages take no connection at all.
impl FirstBytes for () {
    async fn first_bytes(&self) {}
}

impl<A: FirstBytes, B: FirstBytes> FirstBytes for Either<A, B> {
    fn first_bytes(&self) -> impl Future<Output = ()> + Send + '_ {
        match self {
            Either::Left(a) => Either::Left(a.first_bytes()),
            Either::Right(b) => Either::Right(b.first_bytes()),
        }
    }
}

/// A listener of a [`Network`].
pub trait NetListener: Send + 'static {
    /// The byte stream of one connection.
    type Io;

    /// The address it listens on.
    fn local_addr(&self) -> io::Result<SocketAddr>;

    /// The next inbound connection and its remote address.
    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Io, SocketAddr)>> + Send;
}

/// Default length of the kernel's queue of connections not yet accepted.
///
/// A burst of connects (a crawler's sweep, an attacker's flood, peers
/// returning after a restart) lands in this queue before the accept loop
/// takes them; past its length the kernel drops or SYN-cookies them, and
/// they are lost without the node seeing them. go-ethereum's listener gets
/// Go's default, `net.core.somaxconn` (4,096 on current kernels); the
/// kernel caps whatever is asked at that value, so asking for more only
/// helps where it has been raised.
pub const DEFAULT_LISTEN_BACKLOG: u32 = 4096;

/// TCP: the network of real nodes.
#[derive(Clone, Copy, Debug)]
pub struct TcpNetwork {
    backlog: u32,
}

impl Default for TcpNetwork {
    fn default() -> Self {
        TcpNetwork::new()
    }
}

impl TcpNetwork {
    /// TCP with a listen backlog of [`DEFAULT_LISTEN_BACKLOG`].
    pub const fn new() -> Self {
        TcpNetwork {
            backlog: DEFAULT_LISTEN_BACKLOG,
        }
    }

    /// The same, listening with a queue of `backlog` connections not yet
    /// accepted (capped by the kernel's `net.core.somaxconn`).
    pub const fn with_listen_backlog(self, backlog: u32) -> Self {
        TcpNetwork { backlog }
    }

    /// The listen backlog asked for.
    pub const fn listen_backlog(&self) -> u32 {
        self.backlog
    }
}

impl Network for TcpNetwork {
    type Io = TcpStream;
    type Listener = TcpListener;

    async fn bind(&self, addr: SocketAddr) -> io::Result<TcpListener> {
        let socket = match addr {
            SocketAddr::V4(_) => TcpSocket::new_v4()?,
            SocketAddr::V6(_) => TcpSocket::new_v6()?,
        };
        // As `TcpListener::bind` does: a restarted node gets its port back
        // while connections of its previous run linger in TIME_WAIT.
        #[cfg(unix)]
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        socket.listen(self.backlog)
    }

    async fn connect(&self, _node: &NodeAddr, addr: SocketAddr) -> io::Result<TcpStream> {
        let tcp = TcpStream::connect(addr).await?;
        // Handshakes are small request/response exchanges: no Nagle delay.
        tcp.set_nodelay(true)?;
        Ok(tcp)
    }
}

impl NetListener for TcpListener {
    type Io = TcpStream;

    fn local_addr(&self) -> io::Result<SocketAddr> {
        TcpListener::local_addr(self)
    }

    async fn accept(&mut self) -> io::Result<(TcpStream, SocketAddr)> {
        let (tcp, addr) = TcpListener::accept(self).await?;
        tcp.set_nodelay(true)?;
        Ok((tcp, addr))
    }
}

/// Bytes an in-memory pipe buffers per direction, like a socket buffer.
pub const MEM_PIPE_BUFFER: usize = 256 * 1024;
/// Connections waiting to be accepted per in-memory listener (a backlog).
const MEM_BACKLOG: usize = 128;

/// An in-process network: listeners are registered by address, and a connect
/// hands the listener one end of an in-memory pipe. Clones share the network.
#[derive(Clone, Debug, Default)]
pub struct MemNetwork {
    state: Arc<Mutex<MemState>>,
}

#[derive(Debug, Default)]
struct MemState {
    listeners: HashMap<SocketAddr, mpsc::Sender<(DuplexStream, SocketAddr)>>,
    next_port: u16,
}

impl MemState {
    fn free_port(&mut self, ip: IpAddr) -> u16 {
        loop {
            self.next_port = self.next_port.wrapping_add(1).max(1024);
            if !self
                .listeners
                .contains_key(&SocketAddr::new(ip, self.next_port))
            {
                return self.next_port;
            }
        }
    }
}

impl MemNetwork {
    /// An empty network.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A listener on a [`MemNetwork`]; unregistered when dropped.
#[derive(Debug)]
pub struct MemListener {
    addr: SocketAddr,
    incoming: mpsc::Receiver<(DuplexStream, SocketAddr)>,
    network: MemNetwork,
}

impl Drop for MemListener {
    fn drop(&mut self) {
        self.network.lock().listeners.remove(&self.addr);
    }
}

impl Network for MemNetwork {
    type Io = DuplexStream;
    type Listener = MemListener;

    fn bind(&self, addr: SocketAddr) -> impl Future<Output = io::Result<MemListener>> + Send {
        let result = (|| {
            let mut state = self.lock();
            let ip = if addr.ip().is_unspecified() {
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            } else {
                addr.ip()
            };
            let port = match addr.port() {
                0 => state.free_port(ip),
                port => port,
            };
            let addr = SocketAddr::new(ip, port);
            if state.listeners.contains_key(&addr) {
                return Err(io::Error::from(io::ErrorKind::AddrInUse));
            }
            let (tx, incoming) = mpsc::channel(MEM_BACKLOG);
            state.listeners.insert(addr, tx);
            Ok(MemListener {
                addr,
                incoming,
                network: self.clone(),
            })
        })();
        std::future::ready(result)
    }

    fn connect(
        &self,
        _node: &NodeAddr,
        addr: SocketAddr,
    ) -> impl Future<Output = io::Result<DuplexStream>> + Send {
        let target = {
            let mut state = self.lock();
            let listener = state.listeners.get(&addr).cloned();
            let local = SocketAddr::new(
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                state.free_port(Ipv4Addr::LOCALHOST.into()),
            );
            listener.map(|tx| (tx, local))
        };
        async move {
            let (tx, local) =
                target.ok_or_else(|| io::Error::from(io::ErrorKind::ConnectionRefused))?;
            let (ours, theirs) = tokio::io::duplex(MEM_PIPE_BUFFER);
            tx.send((theirs, local))
                .await
                .map_err(|_| io::Error::from(io::ErrorKind::ConnectionRefused))?;
            Ok(ours)
        }
    }
}

impl NetListener for MemListener {
    type Io = DuplexStream;

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.addr)
    }

    async fn accept(&mut self) -> io::Result<(DuplexStream, SocketAddr)> {
        self.incoming
            .recv()
            .await
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_past_tokios_default_backlog_waits_in_the_queue() {
        // 1,500 connects while nothing accepts: past tokio's backlog of
        // 1,024 the kernel would drop the rest (or answer with SYN cookies
        // and then lose the connection); all must be in the queue.
        const BURST: usize = 1500;
        let net = TcpNetwork::new();
        let listener = net.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let dials: Vec<_> = (0..BURST)
            .map(|_| tokio::spawn(TcpStream::connect(addr)))
            .collect();
        let wait = std::time::Duration::from_secs(5);
        let mut clients = Vec::new();
        for dial in dials {
            let connected = tokio::time::timeout(wait, dial).await;
            clients.push(connected.expect("connected in 5 s").unwrap().unwrap());
        }
        let mut accepted = 0;
        while accepted < BURST {
            match tokio::time::timeout(wait, listener.accept()).await {
                Ok(Ok(_)) => accepted += 1,
                other => panic!("{accepted} of {BURST} accepted, then {other:?}"),
            }
        }
        assert_eq!(net.listen_backlog(), DEFAULT_LISTEN_BACKLOG);
    }

    #[tokio::test]
    async fn mem_network_connects_listeners_and_dialers() {
        let net = MemNetwork::new();
        let mut listener = net.bind("0.0.0.0:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        assert!(addr.ip().is_loopback() && addr.port() != 0);
        let node = NodeAddr::from(crate::Enode::new(
            crate::NodeKey::random().id(),
            addr.ip(),
            addr.port(),
            0,
        ));
        let mut client = net.connect(&node, addr).await.unwrap();
        let (mut server, remote) = listener.accept().await.unwrap();
        assert_ne!(remote, addr);
        client.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        server.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");

        // The address is taken while bound, free again once dropped.
        assert!(net.bind(addr).await.is_err());
        drop(listener);
        assert_eq!(
            net.connect(&node, addr).await.unwrap_err().kind(),
            io::ErrorKind::ConnectionRefused
        );
        assert!(net.bind(addr).await.is_ok());
    }
}
