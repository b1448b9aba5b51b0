//! The Status handshake: each side sends its Status first, then checks the
//! other's against its own chain before any other eth message flows.

use std::time::Duration;

use p2p_core::protocol::CapabilityConn;
use p2p_core::DisconnectReason;
use primitive_types::{H256, U256};

use super::messages::{code, BlockRange, EthMessage, Status, StatusHead};
use super::EthVersion;
use crate::codec::MessageError;
use crate::forkid::{ChainForks, Filter, ForkIdError};

/// How long a peer has to send its Status after ours: go-ethereum's
/// `handshakeTimeout`, and ethereumjs ends a session whose Status exchange is
/// not done 5 s after Hello.
pub const STATUS_TIMEOUT: Duration = Duration::from_secs(5);

/// What identifies a chain: the network id, the genesis and the fork
/// schedule. Fixed for the life of a node.
#[derive(Clone, Debug)]
pub struct ChainSpec {
    /// The network id sent in Status.
    pub network_id: u64,
    /// The fork schedule, which holds the genesis hash.
    forks: ChainForks,
    filter: Filter,
}

impl ChainSpec {
    /// A chain with network id `network_id` and fork schedule `forks`.
    pub fn new(network_id: u64, forks: ChainForks) -> Self {
        let filter = Filter::new(&forks);
        ChainSpec {
            network_id,
            forks,
            filter,
        }
    }

    /// The genesis hash.
    pub fn genesis(&self) -> H256 {
        H256(*self.forks.genesis_hash())
    }

    /// The fork schedule.
    pub fn forks(&self) -> &ChainForks {
        &self.forks
    }

    /// Our Status for `version` with the chain at `head`.
    pub fn status(&self, version: EthVersion, head: &ChainHead) -> Status {
        Status {
            version: version.number(),
            network_id: self.network_id,
            genesis: self.genesis(),
            fork_id: self.forks.fork_id(head.number, head.timestamp),
            head: match version {
                EthVersion::Eth68 => StatusHead::TotalDifficulty {
                    total_difficulty: head.total_difficulty,
                    best_hash: head.hash,
                },
                _ => StatusHead::Range(head.range()),
            },
        }
    }

    /// Checks a peer's Status against ours, in go-ethereum's order: version,
    /// network, genesis, fork id.
    pub fn validate(
        &self,
        version: EthVersion,
        head: &ChainHead,
        remote: &Status,
    ) -> Result<(), StatusError> {
        if remote.version != version.number() {
            return Err(StatusError::VersionMismatch {
                ours: version.number(),
                theirs: remote.version,
            });
        }
        if remote.network_id != self.network_id {
            return Err(StatusError::NetworkMismatch {
                ours: self.network_id,
                theirs: remote.network_id,
            });
        }
        if remote.genesis != self.genesis() {
            return Err(StatusError::GenesisMismatch {
                ours: self.genesis(),
                theirs: remote.genesis,
            });
        }
        self.filter
            .validate(head.number, head.timestamp, remote.fork_id)
            .map_err(StatusError::ForkId)?;
        if let StatusHead::Range(range) = remote.head {
            check_range(&range)?;
        }
        Ok(())
    }
}

/// Fails for a block range whose earliest block is after its latest.
pub fn check_range(range: &BlockRange) -> Result<(), StatusError> {
    if range.earliest > range.latest {
        return Err(StatusError::InvalidRange {
            earliest: range.earliest,
            latest: range.latest,
        });
    }
    Ok(())
}

/// Where the local chain stands, as Status and fork-id checks need it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ChainHead {
    /// Head block number.
    pub number: u64,
    /// Head block hash.
    pub hash: H256,
    /// Head block timestamp (time forks are checked against it).
    pub timestamp: u64,
    /// Total difficulty at the head (eth/68).
    pub total_difficulty: U256,
    /// Earliest block whose bodies and receipts are served (eth/69).
    pub earliest: u64,
}

impl ChainHead {
    /// The range of served blocks (eth/69).
    pub fn range(&self) -> BlockRange {
        BlockRange {
            earliest: self.earliest,
            latest: self.number,
            latest_hash: self.hash,
        }
    }
}

/// Why a Status handshake failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    /// The peer's Status names another version than the one negotiated.
    #[error("status version {theirs}, negotiated {ours}")]
    VersionMismatch {
        /// The negotiated version.
        ours: u32,
        /// The version in the peer's Status.
        theirs: u32,
    },
    /// Another network.
    #[error("network id {theirs}, ours is {ours}")]
    NetworkMismatch {
        /// Our network id.
        ours: u64,
        /// Theirs.
        theirs: u64,
    },
    /// Another genesis block.
    #[error("genesis {theirs:?}, ours is {ours:?}")]
    GenesisMismatch {
        /// Our genesis hash.
        ours: H256,
        /// Theirs.
        theirs: H256,
    },
    /// The fork id fails EIP-2124 validation.
    #[error("fork id rejected: {0}")]
    ForkId(ForkIdError),
    /// An eth/69 block range with earliest after latest.
    #[error("block range {earliest}..{latest} is empty")]
    InvalidRange {
        /// Earliest block claimed.
        earliest: u64,
        /// Latest block claimed.
        latest: u64,
    },
    /// No Status within [`STATUS_TIMEOUT`].
    #[error("no status within the handshake deadline")]
    Timeout,
    /// The first message was not a Status.
    #[error("message {0:#04x} before status")]
    NotStatus(u64),
    /// The Status did not decode.
    #[error("malformed status: {0}")]
    Malformed(MessageError),
    /// The session ended during the handshake.
    #[error("the session ended during the handshake")]
    Closed,
}

impl StatusError {
    /// The reason the peer is disconnected with.
    ///
    /// Every refusal of a Status is `SubprotocolError`, as go-ethereum and
    /// ethereumjs send it (go-ethereum for any failed handshake, ethereumjs
    /// for a version, network, genesis or fork id mismatch), so peers of
    /// either read our refusal the way they read their own. A missing Status
    /// is `PingTimeout` (0x0b, "timeout on receiving a message"), which is
    /// what ethereumjs sends when its 5 s Status deadline passes.
    pub fn disconnect_reason(&self) -> DisconnectReason {
        match self {
            StatusError::Timeout => DisconnectReason::PingTimeout,
            StatusError::Closed => DisconnectReason::Requested,
            _ => DisconnectReason::SubprotocolError,
        }
    }
}

/// Sends `ours`, then waits up to `timeout` for the peer's Status and checks
/// it. Returns the peer's Status.
pub async fn exchange_status(
    conn: &mut CapabilityConn,
    version: EthVersion,
    spec: &ChainSpec,
    head: &ChainHead,
    timeout: Duration,
) -> Result<Status, StatusError> {
    let ours = spec.status(version, head);
    conn.send(EthMessage::Status(ours).to_msg())
        .await
        .map_err(|_| StatusError::Closed)?;
    let msg = tokio::time::timeout(timeout, conn.recv())
        .await
        .map_err(|_| StatusError::Timeout)?
        .ok_or(StatusError::Closed)?;
    if msg.code != code::STATUS {
        return Err(StatusError::NotStatus(msg.code));
    }
    let remote = match EthMessage::decode(version, msg.code, &msg.payload) {
        Ok(EthMessage::Status(status)) => status,
        Ok(_) => unreachable!("code 0 decodes to a Status"),
        Err(e) => return Err(StatusError::Malformed(e)),
    };
    spec.validate(version, head, &remote)?;
    Ok(remote)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forkid::mainnet;

    fn spec() -> ChainSpec {
        ChainSpec::new(1, mainnet::petersburg())
    }

    fn head(number: u64) -> ChainHead {
        ChainHead {
            number,
            ..ChainHead::default()
        }
    }

    #[test]
    fn our_own_status_passes_and_each_mismatch_has_its_reason() {
        let spec = spec();
        for version in EthVersion::ALL {
            let ours = spec.status(version, &head(0));
            assert_eq!(spec.validate(version, &head(0), &ours), Ok(()));

            let mut other = ours;
            other.network_id = 5;
            let err = spec.validate(version, &head(0), &other).unwrap_err();
            assert_eq!(err.disconnect_reason(), DisconnectReason::SubprotocolError);

            let mut other = ours;
            other.genesis = H256::repeat_byte(1);
            let err = spec.validate(version, &head(0), &other).unwrap_err();
            assert!(matches!(err, StatusError::GenesisMismatch { .. }));
            assert_eq!(err.disconnect_reason(), DisconnectReason::SubprotocolError);

            // A peer at our genesis state announcing a next fork other than
            // the one we applied after it: its software is stale.
            let mut other = ours;
            other.fork_id.next = 1;
            let err = spec
                .validate(version, &head(2_000_000), &other)
                .unwrap_err();
            assert_eq!(err, StatusError::ForkId(ForkIdError::RemoteStale));
            assert_eq!(err.disconnect_reason(), DisconnectReason::SubprotocolError);

            let mut other = ours;
            other.version = 67;
            let err = spec.validate(version, &head(0), &other).unwrap_err();
            assert_eq!(err.disconnect_reason(), DisconnectReason::SubprotocolError);
        }
        // eth/68's frontier fork id, as EIP-2124 gives it.
        let status = spec.status(EthVersion::Eth68, &head(0));
        assert_eq!(status.fork_id.hash, [0xfc, 0x64, 0xec, 0x04]);
        assert_eq!(status.fork_id.next, 1_150_000);
    }

    #[test]
    fn an_empty_block_range_is_refused() {
        let spec = spec();
        let mut status = spec.status(EthVersion::Eth69, &head(0));
        status.head = StatusHead::Range(BlockRange {
            earliest: 10,
            latest: 9,
            latest_hash: H256::zero(),
        });
        assert!(matches!(
            spec.validate(EthVersion::Eth69, &head(0), &status),
            Err(StatusError::InvalidRange { .. })
        ));
    }
}
