//! The base protocol every RLPx connection speaks before and beside its
//! capabilities (`rlpx.md`, "p2p Capability"): Hello, Disconnect, Ping and Pong.

use std::fmt;

use bytes::Bytes;
use rlp::{DecoderError, Rlp, RlpStream};

use crate::identity::PeerId;
use crate::msg::Msg;

/// The base protocol version we speak. Version 5 turns on snappy compression
/// when both sides announce it.
pub const BASE_PROTOCOL_VERSION: u64 = 5;
/// The first base protocol version that compresses message data with snappy.
pub const SNAPPY_PROTOCOL_VERSION: u64 = 5;
/// Codes `0x00..0x10` are reserved for the base protocol; capabilities start here.
pub const BASE_PROTOCOL_LENGTH: u64 = 0x10;
/// The largest base protocol message we accept (as go-ethereum): a Hello with
/// dozens of capabilities fits with room to spare, while a peer cannot make us
/// parse megabytes before it has even been admitted.
pub const BASE_PROTOCOL_MAX_MSG_SIZE: usize = 2 * 1024;

/// Code of the Hello message.
pub const HELLO: u64 = 0x00;
/// Code of the Disconnect message.
pub const DISCONNECT: u64 = 0x01;
/// Code of the Ping message.
pub const PING: u64 = 0x02;
/// Code of the Pong message.
pub const PONG: u64 = 0x03;

/// Why a connection ends, as carried by the Disconnect message.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisconnectReason {
    /// 0x00: disconnect requested.
    Requested,
    /// 0x01: TCP subsystem error.
    TcpSubsystemError,
    /// 0x02: breach of protocol, e.g. a malformed message or a bad RLP encoding.
    ProtocolError,
    /// 0x03: useless peer (no capability in common).
    UselessPeer,
    /// 0x04: too many peers.
    TooManyPeers,
    /// 0x05: already connected.
    AlreadyConnected,
    /// 0x06: incompatible p2p protocol version.
    IncompatibleVersion,
    /// 0x07: null node identity received (invalid identity).
    InvalidIdentity,
    /// 0x08: client quitting.
    ClientQuitting,
    /// 0x09: unexpected identity in the handshake.
    UnexpectedIdentity,
    /// 0x0a: identity is the same as this node's (connected to ourselves).
    ConnectedToSelf,
    /// 0x0b: ping timeout.
    PingTimeout,
    /// 0x10: some other reason specific to a subprotocol.
    SubprotocolError,
    /// A code the specification does not define, kept as it came.
    Unknown(u8),
}

impl DisconnectReason {
    /// The wire code.
    pub fn code(self) -> u8 {
        use DisconnectReason::*;
        match self {
            Requested => 0x00,
            TcpSubsystemError => 0x01,
            ProtocolError => 0x02,
            UselessPeer => 0x03,
            TooManyPeers => 0x04,
            AlreadyConnected => 0x05,
            IncompatibleVersion => 0x06,
            InvalidIdentity => 0x07,
            ClientQuitting => 0x08,
            UnexpectedIdentity => 0x09,
            ConnectedToSelf => 0x0a,
            PingTimeout => 0x0b,
            SubprotocolError => 0x10,
            Unknown(code) => code,
        }
    }

    /// The reason for a wire code; undefined codes become [`DisconnectReason::Unknown`].
    pub fn from_code(code: u8) -> Self {
        use DisconnectReason::*;
        match code {
            0x00 => Requested,
            0x01 => TcpSubsystemError,
            0x02 => ProtocolError,
            0x03 => UselessPeer,
            0x04 => TooManyPeers,
            0x05 => AlreadyConnected,
            0x06 => IncompatibleVersion,
            0x07 => InvalidIdentity,
            0x08 => ClientQuitting,
            0x09 => UnexpectedIdentity,
            0x0a => ConnectedToSelf,
            0x0b => PingTimeout,
            0x10 => SubprotocolError,
            other => Unknown(other),
        }
    }

    /// The name the specification gives the reason.
    pub fn name(self) -> &'static str {
        use DisconnectReason::*;
        match self {
            Requested => "disconnect requested",
            TcpSubsystemError => "network error",
            ProtocolError => "breach of protocol",
            UselessPeer => "useless peer",
            TooManyPeers => "too many peers",
            AlreadyConnected => "already connected",
            IncompatibleVersion => "incompatible p2p protocol version",
            InvalidIdentity => "invalid node identity",
            ClientQuitting => "client quitting",
            UnexpectedIdentity => "unexpected identity",
            ConnectedToSelf => "connected to self",
            PingTimeout => "read timeout",
            SubprotocolError => "subprotocol error",
            Unknown(_) => "unknown disconnect reason",
        }
    }

    /// The Disconnect message carrying this reason, as the spec writes it:
    /// a one-element list.
    pub fn to_msg(self) -> Msg {
        let mut s = RlpStream::new_list(1);
        s.append(&self.code());
        Msg::new(DISCONNECT, s.out().freeze())
    }

    /// Reads the reason from a Disconnect payload.
    ///
    /// Liberal where clients differ: the spec's one-element list `[reason]`, a bare
    /// integer (as ethereumjs sends it), and an empty payload or empty list (taken
    /// as [`DisconnectReason::Requested`]) are all accepted.
    pub fn decode_payload(payload: &[u8]) -> Result<Self, DecoderError> {
        if payload.is_empty() {
            return Ok(DisconnectReason::Requested);
        }
        let rlp = Rlp::new(payload);
        let item = if rlp.is_list() {
            if rlp.item_count()? == 0 {
                return Ok(DisconnectReason::Requested);
            }
            rlp.at(0)?
        } else {
            rlp
        };
        Ok(DisconnectReason::from_code(item.as_val::<u8>()?))
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:#04x})", self.name(), self.code())
    }
}

impl fmt::Debug for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A capability: a subprotocol name and version, such as `eth/68`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Capability {
    /// The name, by convention at most eight ASCII characters.
    pub name: String,
    /// The version.
    pub version: u32,
}

impl Capability {
    /// A capability from its name and version.
    pub fn new(name: impl Into<String>, version: u32) -> Self {
        Capability {
            name: name.into(),
            version,
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.name, self.version)
    }
}

impl fmt::Debug for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl rlp::Encodable for Capability {
    fn rlp_append(&self, s: &mut RlpStream) {
        s.begin_list(2);
        s.append(&self.name.as_str());
        s.append(&self.version);
    }
}

impl rlp::Decodable for Capability {
    fn decode(rlp: &Rlp<'_>) -> Result<Self, DecoderError> {
        // Extra elements are allowed for forward compatibility (EIP-8).
        let name_bytes = rlp.at(0)?.data()?;
        let name = std::str::from_utf8(name_bytes)
            .map_err(|_| DecoderError::Custom("capability name is not UTF-8"))?;
        Ok(Capability {
            name: name.to_owned(),
            version: rlp.val_at(1)?,
        })
    }
}

/// The Hello message, the first message each side sends after the encryption
/// handshake.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Hello {
    /// The base protocol version (5 today).
    pub protocol_version: u64,
    /// Free-form client name, such as `Geth/v1.14.0/linux-amd64/go1.22`.
    pub client_id: String,
    /// The capabilities this side offers.
    pub capabilities: Vec<Capability>,
    /// The TCP port the sender listens on, 0 if none.
    pub listen_port: u16,
    /// The sender's public key; must equal the key the encryption handshake
    /// authenticated.
    pub id: PeerId,
}

impl Hello {
    /// Whether both Hellos allow snappy compression.
    pub fn snappy_with(&self, remote: &Hello) -> bool {
        self.protocol_version >= SNAPPY_PROTOCOL_VERSION
            && remote.protocol_version >= SNAPPY_PROTOCOL_VERSION
    }

    /// This Hello as a message.
    pub fn to_msg(&self) -> Msg {
        Msg::encode(HELLO, self)
    }

    /// Decodes a Hello payload, refusing one over
    /// [`BASE_PROTOCOL_MAX_MSG_SIZE`].
    pub fn decode_payload(payload: &[u8]) -> Result<Self, DecoderError> {
        if payload.len() > BASE_PROTOCOL_MAX_MSG_SIZE {
            return Err(DecoderError::Custom("hello message too large"));
        }
        rlp::decode(payload)
    }
}

impl rlp::Encodable for Hello {
    fn rlp_append(&self, s: &mut RlpStream) {
        s.begin_list(5);
        s.append(&self.protocol_version);
        s.append(&self.client_id.as_str());
        s.append_list(&self.capabilities);
        s.append(&self.listen_port);
        s.append(&self.id.0.as_slice());
    }
}

impl rlp::Decodable for Hello {
    fn decode(rlp: &Rlp<'_>) -> Result<Self, DecoderError> {
        if !rlp.is_list() {
            return Err(DecoderError::RlpExpectedToBeList);
        }
        // Extra trailing elements are ignored (EIP-8 forward compatibility).
        let client_id = String::from_utf8_lossy(rlp.at(1)?.data()?).into_owned();
        let id = PeerId::from_slice(rlp.at(4)?.data()?)
            .ok_or(DecoderError::Custom("hello node id is not 64 bytes"))?;
        Ok(Hello {
            protocol_version: rlp.val_at(0)?,
            client_id,
            capabilities: rlp.list_at(2)?,
            listen_port: rlp.val_at(3)?,
            id,
        })
    }
}

/// The Ping message (its payload is the empty list).
pub fn ping_msg() -> Msg {
    Msg::new(PING, Bytes::from_static(&[rlp::EMPTY_LIST_RLP[0]]))
}

/// The Pong message (its payload is the empty list).
pub fn pong_msg() -> Msg {
    Msg::new(PONG, Bytes::from_static(&[rlp::EMPTY_LIST_RLP[0]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_round_trips_with_its_code_and_name() {
        let codes = (0x00..=0x0b).chain([0x10]);
        for code in codes {
            let reason = DisconnectReason::from_code(code);
            assert!(!matches!(reason, DisconnectReason::Unknown(_)), "{code}");
            assert_ne!(reason.name(), "unknown disconnect reason");
            assert_eq!(reason.code(), code);
            let msg = reason.to_msg();
            assert_eq!(msg.code, DISCONNECT);
            assert_eq!(DisconnectReason::decode_payload(&msg.payload), Ok(reason));
        }
        assert_eq!(
            DisconnectReason::from_code(0x0c),
            DisconnectReason::Unknown(0x0c)
        );
    }

    #[test]
    fn disconnect_is_read_liberally() {
        // [0x04], the spec's form.
        assert_eq!(
            DisconnectReason::decode_payload(&[0xc1, 0x04]),
            Ok(DisconnectReason::TooManyPeers)
        );
        // A bare integer, as ethereumjs sends it.
        assert_eq!(
            DisconnectReason::decode_payload(&[0x04]),
            Ok(DisconnectReason::TooManyPeers)
        );
        // Reason 0 is the empty string in RLP.
        assert_eq!(
            DisconnectReason::decode_payload(&[0x80]),
            Ok(DisconnectReason::Requested)
        );
        assert_eq!(
            DisconnectReason::decode_payload(&[0xc0]),
            Ok(DisconnectReason::Requested)
        );
        assert_eq!(
            DisconnectReason::decode_payload(&[]),
            Ok(DisconnectReason::Requested)
        );
        // A list where the integer should be, and a reason wider than a byte.
        assert!(DisconnectReason::decode_payload(&[0xc1, 0xc0]).is_err());
        assert!(DisconnectReason::decode_payload(&[0x82, 0x01, 0x00]).is_err());
    }

    #[test]
    fn forward_compatible_hello_from_eip8_is_accepted() {
        let vectors: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../testdata/eip8.json"
            ))
            .unwrap(),
        )
        .unwrap();
        let payload = hex::decode(vectors["devp2p_hello"]["rlp"].as_str().unwrap()).unwrap();
        let hello = Hello::decode_payload(&payload).unwrap();
        // EIP-8's prose says version 22; its bytes say 0x37 (55). The bytes rule.
        assert_eq!(hello.protocol_version, 55);
        assert_eq!(hello.client_id, "kneth/v0.91/plan9");
        assert_eq!(
            hello.capabilities,
            vec![Capability::new("eth", 61), Capability::new("mork", 22)]
        );
        assert_eq!(hello.listen_port, 9999);
    }

    #[test]
    fn hello_round_trips() {
        let hello = Hello {
            protocol_version: BASE_PROTOCOL_VERSION,
            client_id: "p2p-core/test".into(),
            capabilities: vec![Capability::new("eth", 68), Capability::new("snap", 1)],
            listen_port: 30303,
            id: PeerId([7; 64]),
        };
        let msg = hello.to_msg();
        assert_eq!(msg.code, HELLO);
        assert_eq!(Hello::decode_payload(&msg.payload).unwrap(), hello);
        assert!(hello.snappy_with(&hello));
        let old = Hello {
            protocol_version: 4,
            ..hello.clone()
        };
        assert!(!hello.snappy_with(&old));
    }

    #[test]
    fn oversized_or_malformed_hello_is_refused() {
        assert!(Hello::decode_payload(&vec![0xc0; BASE_PROTOCOL_MAX_MSG_SIZE + 1]).is_err());
        assert!(Hello::decode_payload(&[0x05]).is_err());
        // A node id of 63 bytes.
        let mut s = RlpStream::new_list(5);
        s.append(&5u64)
            .append(&"x")
            .begin_list(0)
            .append(&0u16)
            .append(&[1u8; 63].as_slice());
        assert!(Hello::decode_payload(&s.out()).is_err());
    }
}
