//! The transport's settings and the TLS and QUIC configurations made from
//! them and the node key.

use std::sync::Arc;
use std::time::Duration;

use p2p_core::NodeKey;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};

use crate::identity::NodeCertificate;
use crate::verify::NodeCertVerifier;

/// The ALPN protocol name: what follows the handshake is devp2p, and a QUIC
/// peer speaking anything else (libp2p, HTTP/3) fails the handshake instead
/// of misreading our streams.
pub const ALPN: &[u8] = b"devp2p";

/// The name a dialer puts in its TLS ClientHello. Node certificates carry no
/// name and the verifier checks none; rustls needs one all the same.
pub const SERVER_NAME: &str = "devp2p";

/// go-ethereum's limit for one message's data after decompression (16 MiB),
/// the same as RLPx's here, so a message that fits one transport fits the
/// other.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;

/// How long a connection may stay silent before QUIC drops it. The base
/// protocol pings every 15 s, so a live peer is never idle this long; a
/// vanished one (no close, no reset: the UDP path just went quiet) is
/// noticed within it.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Streams a peer may open per connection in the per-capability mode: one
/// per capability it shares with us and sends on. No devp2p node offers
/// anywhere near this many capabilities; the limit is what stops a peer from
/// making us track streams without bound.
pub const MAX_CAPABILITY_STREAMS: u32 = 32;

/// How the capabilities share the connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StreamMode {
    /// Every message on one bidirectional stream, in order, as over RLPx.
    #[default]
    OneStream,
    /// The base protocol on one stream, each capability on a stream of its
    /// own, so a large message of one capability does not hold back
    /// another's (no head-of-line blocking between them).
    PerCapability,
}

/// The congestion controller each connection runs. On a path that drops
/// packets at random (not from congestion), the loss-based ones shrink the
/// window at every loss and a transfer slows to a crawl: across the
/// transport bench's emulated path (50 ms round trip, 1 % loss each way)
/// a 1 MiB response took about 3 s with [`Cubic`](Congestion::Cubic) and
/// about a quarter of a second with [`Bbr`](Congestion::Bbr), as RLPx did
/// over Linux TCP with the same two controllers (BENCHMARKS.md, "Across a
/// lossy path").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Congestion {
    /// CUBIC (RFC 9438), quinn's default and the usual choice of TCP
    /// stacks: stable and fair to other flows.
    #[default]
    Cubic,
    /// NewReno (RFC 9002's reference controller).
    NewReno,
    /// BBR, which paces to the measured bottleneck rate and round trip
    /// and does not take a random loss for congestion. quinn marks its BBR
    /// experimental, and BBR (v1) is known to take more than its share
    /// from loss-based flows beside it.
    Bbr,
}

/// Settings of the QUIC transport.
#[derive(Clone, Debug)]
pub struct QuicConfig {
    /// Longest message accepted (its data after decompression), and sent.
    pub max_message_size: usize,
    /// See [`DEFAULT_IDLE_TIMEOUT`].
    pub idle_timeout: Duration,
    /// How capabilities share the connection.
    pub streams: StreamMode,
    /// The congestion controller.
    pub congestion: Congestion,
}

impl Default for QuicConfig {
    fn default() -> Self {
        QuicConfig {
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            streams: StreamMode::default(),
            congestion: Congestion::default(),
        }
    }
}

/// Why the transport could not be configured.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The certificate could not be made.
    #[error("certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    /// rustls refused the configuration.
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
    /// quinn refused the TLS configuration.
    #[error("QUIC TLS: {0}")]
    Quic(String),
}

/// The QUIC server and client configurations of a node: a fresh
/// certificate for its key, the node-key verifiers, TLS 1.3 only, the ALPN
/// and the limits.
pub fn endpoint_configs(
    key: &NodeKey,
    config: &QuicConfig,
) -> Result<(quinn::ServerConfig, quinn::ClientConfig), ConfigError> {
    configs_with(NodeCertificate::generate(key)?, config)
}

/// The configurations of [`endpoint_configs`] presenting `cert`, whatever
/// it holds: for an endpoint of one's own (a tool, a test that plays a
/// misbehaving peer).
pub fn configs_with(
    cert: NodeCertificate,
    config: &QuicConfig,
) -> Result<(quinn::ServerConfig, quinn::ClientConfig), ConfigError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = NodeCertVerifier::new();
    // Given as a resolver rather than with `with_single_cert`, whose
    // consistency check parses the certificate with webpki, which refuses
    // the critical node key extension.
    let signing_key = provider.key_provider.load_private_key(cert.key)?;
    let certified = Arc::new(rustls::sign::CertifiedKey::new(
        vec![cert.cert],
        signing_key,
    ));
    let resolver = Arc::new(rustls::sign::SingleCertAndKey::from(certified));

    let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier.clone())
        .with_cert_resolver(resolver.clone());
    server.alpn_protocols = vec![ALPN.to_vec()];
    let server =
        QuicServerConfig::try_from(server).map_err(|e| ConfigError::Quic(e.to_string()))?;

    let mut client = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_cert_resolver(resolver);
    client.alpn_protocols = vec![ALPN.to_vec()];
    let client =
        QuicClientConfig::try_from(client).map_err(|e| ConfigError::Quic(e.to_string()))?;

    let transport = Arc::new(transport_config(config));
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(server));
    server.transport_config(transport.clone());
    let mut client = quinn::ClientConfig::new(Arc::new(client));
    client.transport_config(transport);
    Ok((server, client))
}

fn transport_config(config: &QuicConfig) -> quinn::TransportConfig {
    let mut transport = quinn::TransportConfig::default();
    // The dialer opens the one message stream (or the base protocol's);
    // nobody needs a second bidirectional stream.
    transport.max_concurrent_bidi_streams(1u32.into());
    let uni = match config.streams {
        StreamMode::OneStream => 0,
        StreamMode::PerCapability => MAX_CAPABILITY_STREAMS,
    };
    transport.max_concurrent_uni_streams(uni.into());
    transport.max_idle_timeout(Some(
        config
            .idle_timeout
            .try_into()
            .unwrap_or(quinn::IdleTimeout::from(quinn::VarInt::MAX)),
    ));
    let controller: Arc<dyn quinn::congestion::ControllerFactory + Send + Sync> =
        match config.congestion {
            Congestion::Cubic => Arc::new(quinn::congestion::CubicConfig::default()),
            Congestion::NewReno => Arc::new(quinn::congestion::NewRenoConfig::default()),
            Congestion::Bbr => Arc::new(quinn::congestion::BbrConfig::default()),
        };
    transport.congestion_controller_factory(controller);
    transport
}
