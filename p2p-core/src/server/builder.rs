//! [`ServerBuilder`]: one place that composes a server from its stages.

use std::sync::Arc;

use tokio::sync::broadcast;

use tower::layer::util::{Identity, Stack};
use tower::{BoxError, Layer, ServiceBuilder};
use tracing::Instrument;

use super::connection::Stages;

use super::supervisor::Supervisor;
use super::{HelloStack, NodeInfo, Server, ServerError, SessionStack, SetupStack, EVENT_BUFFER};
use crate::base::{Hello, BASE_PROTOCOL_VERSION};

use crate::capability::OfferedProtocols;
use crate::config::Config;
use crate::peer::PeerEvent;

use crate::enode::Enode;
use crate::identity::NodeKey;
use crate::layers::filter::{
    FilterError, NetRestrict, PeerFilterConfig, PeerFilterLayer, SubnetLimits,
};
use crate::layers::pending::{PendingConfig, PendingLimitLayer};
use crate::layers::throttle::{InboundThrottleLayer, ThrottleConfig};
use crate::network::{FirstBytes, NetListener, Network, TcpNetwork};
use crate::pipeline::{HelloStage, MsgConn};
use crate::protocol::Protocol;
use crate::session::{SessionConfig, SessionService};

/// The encryption stage of a builder that has none yet: [`ServerBuilder::start`]
/// needs one, given with [`ServerBuilder::encryption`].
#[derive(Clone, Copy, Debug, Default)]
pub struct NoEncryption;

/// Which built-in setup layers a server runs.
#[derive(Clone, Copy, Debug)]
struct BuiltIns {
    peer_filter: bool,
    inbound_throttle: bool,
    pending_limit: bool,
}

/// Composes a server; made by [`Server::builder`].
///
/// ```text
/// setup stack     PeerFilter          netrestrict, per-subnet caps   } built in, outermost first;
///                 InboundThrottle     one attempt per IP per 30 s    } each can be removed
///                 PendingLimit        max_pending_peers handshakes   }
///                 setup_layer(..)     yours, first added outermost
///                 encryption(..)      RLPx, QUIC, plaintext, ...
/// checkpoint 1    ourselves, already connected, too many peers
/// Hello stack     hello_layer(..)     yours, first added outermost
///                 HelloStage          Hello both ways, capability matching
/// checkpoint 2    a capability in common
/// session stack   session_layer(..)   yours, first added outermost
///                 SessionService      base protocol and multiplexer
/// ```
///
/// The built-in layers sit outside yours so that a connection they refuse
/// costs nothing further: the peer filter runs before a byte is read, the
/// throttle records only addresses the filter let through, and the pending
/// limit bounds the inbound handshakes in progress, dropping the oldest for
/// a newcomer rather than queueing it (see
/// [`layers::pending`](crate::layers::pending)). The handshake
/// deadline (`Config::handshake_timeout`) covers the setup and Hello stacks
/// together; the session stack has no deadline, as a session lives for
/// hours.
///
/// ```no_run
/// # use std::sync::Arc;
/// # use p2p_core::server::SetupStack;
/// # use p2p_core::{MsgConn, NodeKey, Server, ServerError};
/// # async fn start<C, T>(rlpx: impl FnOnce(Arc<NodeKey>) -> T) -> Result<Server, ServerError>
/// # where C: MsgConn + 'static, T: SetupStack<tokio::net::TcpStream, C> {
/// let server = Server::builder(NodeKey::random())
///     .encryption(rlpx) // p2p_rlpx::RlpxTransport::new, for one
///     .without_inbound_throttle()
///     .start()
///     .await?;
/// # Ok(server)
/// # }
/// ```
#[must_use = "a builder does nothing until started"]
pub struct ServerBuilder<
    N = TcpNetwork,
    T = NoEncryption,
    SL = Identity,
    HL = Identity,
    L = Identity,
> {
    key: Arc<NodeKey>,
    config: Config,
    network: N,
    encryption: T,
    setup_layers: SL,
    hello_layers: HL,
    session_layers: L,
    protocols: Vec<Arc<dyn Protocol>>,
    built_ins: BuiltIns,
}

impl ServerBuilder {
    pub(super) fn new(key: NodeKey) -> Self {
        ServerBuilder {
            key: Arc::new(key),
            config: Config::default(),
            network: TcpNetwork::new(),
            encryption: NoEncryption,
            setup_layers: Identity::new(),
            hello_layers: Identity::new(),
            session_layers: Identity::new(),
            protocols: Vec::new(),
            built_ins: BuiltIns {
                peer_filter: true,
                inbound_throttle: true,
                pending_limit: true,
            },
        }
    }
}

impl<N, T, SL, HL, L> ServerBuilder<N, T, SL, HL, L> {
    /// The configuration (limits, timeouts, static and trusted nodes, the
    /// listen address). Its private key, if it names one, must be the
    /// builder's: [`ServerBuilder::start`] fails otherwise.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Offers `protocol`; call once per capability version.
    pub fn protocol(mut self, protocol: impl Protocol) -> Self {
        self.protocols.push(Arc::new(protocol));
        self
    }

    /// Offers each of `protocols`.
    pub fn protocols(mut self, protocols: impl IntoIterator<Item = Arc<dyn Protocol>>) -> Self {
        self.protocols.extend(protocols);
        self
    }

    /// Listens and dials through `network` instead of TCP: a
    /// [`MemNetwork`](crate::network::MemNetwork) runs many servers in one
    /// process.
    pub fn network<N2: Network>(self, network: N2) -> ServerBuilder<N2, T, SL, HL, L> {
        ServerBuilder {
            key: self.key,
            config: self.config,
            network,
            encryption: self.encryption,
            setup_layers: self.setup_layers,
            hello_layers: self.hello_layers,
            session_layers: self.session_layers,
            protocols: self.protocols,
            built_ins: self.built_ins,
        }
    }

    /// The encryption stage, made from the node key: for RLPx,
    /// `.encryption(p2p_rlpx::RlpxTransport::new)`. The key is the one given
    /// to [`Server::builder`], so the stage and the Hello cannot disagree on
    /// who we are.
    pub fn encryption<T2>(
        self,
        make: impl FnOnce(Arc<NodeKey>) -> T2,
    ) -> ServerBuilder<N, T2, SL, HL, L> {
        ServerBuilder {
            encryption: make(self.key.clone()),
            key: self.key,
            config: self.config,
            network: self.network,
            setup_layers: self.setup_layers,
            hello_layers: self.hello_layers,
            session_layers: self.session_layers,
            protocols: self.protocols,
            built_ins: self.built_ins,
        }
    }

    /// The whole transport at once: where connections come from and the
    /// stage that authenticates them, both made from the node key. A
    /// transport whose handshake runs inside its network (QUIC's TLS) needs
    /// the key in both, and gets it here from the one given to
    /// [`Server::builder`]. RLPx over TCP is
    /// `.transport(|key| (TcpNetwork::new(), RlpxTransport::new(key)))`.
    pub fn transport<N2, T2>(
        self,
        make: impl FnOnce(Arc<NodeKey>) -> (N2, T2),
    ) -> ServerBuilder<N2, T2, SL, HL, L> {
        let (network, encryption) = make(self.key.clone());
        ServerBuilder {
            encryption,
            network,
            key: self.key,
            config: self.config,
            setup_layers: self.setup_layers,
            hello_layers: self.hello_layers,
            session_layers: self.session_layers,
            protocols: self.protocols,
            built_ins: self.built_ins,
        }
    }

    /// Adds `layer` to the setup stack, inside the built-in layers and
    /// outside the encryption stage and the layers added after it.
    pub fn setup_layer<L2>(self, layer: L2) -> ServerBuilder<N, T, Stack<L2, SL>, HL, L> {
        ServerBuilder {
            setup_layers: Stack::new(layer, self.setup_layers),
            key: self.key,
            config: self.config,
            network: self.network,
            encryption: self.encryption,
            hello_layers: self.hello_layers,
            session_layers: self.session_layers,
            protocols: self.protocols,
            built_ins: self.built_ins,
        }
    }

    /// Adds `layer` around the Hello stage (outside the layers added after
    /// it). A layer that refuses a peer after the exchange sends the
    /// Disconnect with [`Negotiated::refuse`](crate::pipeline::Negotiated::refuse).
    pub fn hello_layer<L2>(self, layer: L2) -> ServerBuilder<N, T, SL, Stack<L2, HL>, L> {
        ServerBuilder {
            hello_layers: Stack::new(layer, self.hello_layers),
            key: self.key,
            config: self.config,
            network: self.network,
            encryption: self.encryption,
            setup_layers: self.setup_layers,
            session_layers: self.session_layers,
            protocols: self.protocols,
            built_ins: self.built_ins,
        }
    }

    /// Adds `layer` around the session stage (outside the layers added
    /// after it). A layer that ignores its inner service replaces the stage.
    pub fn session_layer<L2>(self, layer: L2) -> ServerBuilder<N, T, SL, HL, Stack<L2, L>> {
        ServerBuilder {
            session_layers: Stack::new(layer, self.session_layers),
            key: self.key,
            config: self.config,
            network: self.network,
            encryption: self.encryption,
            setup_layers: self.setup_layers,
            hello_layers: self.hello_layers,
            protocols: self.protocols,
            built_ins: self.built_ins,
        }
    }

    /// Removes the built-in peer filter (the config's netrestrict list and
    /// subnet limits then apply to nothing; dials still honour netrestrict).
    pub fn without_peer_filter(mut self) -> Self {
        self.built_ins.peer_filter = false;
        self
    }

    /// Removes the built-in inbound throttle.
    pub fn without_inbound_throttle(mut self) -> Self {
        self.built_ins.inbound_throttle = false;
        self
    }

    /// Removes the built-in limit of `max_pending_peers` inbound handshakes
    /// at once (to put a [`PendingLimitLayer`] with other per-address caps
    /// in its place with [`setup_layer`](ServerBuilder::setup_layer), say).
    pub fn without_pending_limit(mut self) -> Self {
        self.built_ins.pending_limit = false;
        self
    }

    /// Binds the listener (if the config has a listen address), starts the
    /// supervisor and returns the handle.
    ///
    /// Fails when the config is invalid or names another key, or the listen
    /// address cannot be bound.
    pub async fn start<C>(self) -> Result<Server, ServerError>
    where
        N: Network,
        C: MsgConn + 'static,
        SL: Layer<T>,
        SL::Service: SetupStack<N::Io, C>,
        HL: Layer<HelloStage>,
        HL::Service: HelloStack<C>,
        L: Layer<SessionService>,
        L::Service: SessionStack<C>,
    {
        let config = self.checked_config()?;
        let listener = match config.listen_addr {
            Some(addr) => Some(
                self.network
                    .bind(addr)
                    .await
                    .map_err(|source| ServerError::Listen { addr, source })?,
            ),
            None => None,
        };
        let listen_addr = listener.as_ref().and_then(|l| l.local_addr().ok());
        let offered = OfferedProtocols::new(self.protocols);
        let node_info = Arc::new(node_info(&self.key, &config, &offered, listen_addr));
        let hello = Hello {
            protocol_version: BASE_PROTOCOL_VERSION,
            client_id: config.client_id.clone(),
            capabilities: offered.capabilities(),
            listen_port: listen_addr.map_or(0, |a| a.port()),
            id: self.key.id(),
        };
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let stages = Stages {
            setup: built_in_setup::<N::Io, C, _>(
                &config,
                self.built_ins,
                self.setup_layers.layer(self.encryption),
            ),
            hello: self.hello_layers.layer(HelloStage::new(hello, offered)),
            session: self.session_layers.layer(session_service(&config, &events)),
        };
        let (supervisor, commands, candidate_sources, stats) =
            Supervisor::new(self.key.id(), self.network, stages, config, events.clone());
        tokio::spawn(
            supervisor
                .run(listener)
                .instrument(tracing::info_span!("p2p")),
        );
        Ok(Server {
            commands,
            candidate_sources,
            events,
            node_info,
            stats,
        })
    }

    /// The config, validated, with no key other than the builder's.
    fn checked_config(&self) -> Result<Config, ServerError> {
        self.config.validate()?;
        if let Some(key) = &self.config.private_key {
            if key.id() != self.key.id() {
                return Err(ServerError::KeyMismatch { config: key.id() });
            }
        }
        let mut config = self.config.clone();
        config.private_key = Some((*self.key).clone());
        Ok(config)
    }
}

/// The built-in session stage, configured from `config`.
fn session_service(config: &Config, events: &broadcast::Sender<PeerEvent>) -> SessionService {
    SessionService::new(SessionConfig {
        msg_events: config.enable_msg_events.then(|| events.clone()),
        ping_interval: config.ping_interval,
        read_timeout: config.frame_read_timeout,
        write_timeout: config.frame_write_timeout,
        ..SessionConfig::default()
    })
}

/// What the node announces of itself.
fn node_info(
    key: &NodeKey,
    config: &Config,
    offered: &OfferedProtocols,
    listen_addr: Option<std::net::SocketAddr>,
) -> NodeInfo {
    let enode = listen_addr.map(|addr| {
        let ip = if addr.ip().is_unspecified() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            addr.ip()
        };
        Enode::new(key.id(), ip, addr.port(), addr.port())
    });
    NodeInfo {
        id: key.id(),
        client_id: config.client_id.clone(),
        listen_addr,
        capabilities: offered.capabilities(),
        enode,
    }
}

/// The built-in setup layers around `inner`, outermost first; a removed one
/// stays in place as a pass-through, so that the stack keeps one type
/// whichever are on.
fn built_in_setup<Io, C, S>(config: &Config, on: BuiltIns, inner: S) -> impl SetupStack<Io, C>
where
    Io: FirstBytes + Send + 'static,
    C: Send + 'static,
    S: SetupStack<Io, C>,
{
    let filter = if on.peer_filter {
        PeerFilterConfig {
            netrestrict: NetRestrict::new(config.net_restrict.iter().copied()),
            subnets: config.subnet_limits,
        }
    } else {
        PeerFilterConfig {
            netrestrict: NetRestrict::default(),
            subnets: SubnetLimits::UNLIMITED,
        }
    };
    let throttle = if on.inbound_throttle {
        config.inbound_throttle
    } else {
        ThrottleConfig {
            window: std::time::Duration::ZERO,
            ..config.inbound_throttle
        }
    };
    let pending = if on.pending_limit {
        PendingConfig {
            max: config.max_pending_peers,
            exempt_loopback: config.subnet_limits.exempt_loopback,
            ..PendingConfig::default()
        }
    } else {
        PendingConfig::UNLIMITED
    };
    ServiceBuilder::new()
        .map_err(setup_error::<S::Error>)
        .layer(PeerFilterLayer::new(filter))
        .layer(InboundThrottleLayer::new(throttle))
        .layer(PendingLimitLayer::new(pending))
        .service(inner)
}

/// One error for the setup stack: a refusal by a built-in layer, or the
/// error of the stack inside them, boxed as it is (so that
/// [`StageError::find`](crate::pipeline::StageError::find) reaches the
/// transport's own type).
fn setup_error<E: Into<BoxError>>(err: FilterError<FilterError<FilterError<E>>>) -> BoxError {
    match err.flatten().flatten() {
        FilterError::Refused(refused) => Box::new(refused),
        FilterError::Inner(err) => err.into(),
    }
}
