//! The `eth` capability (`caps/eth.md`), versions 68 to 71.

pub mod chain;
pub mod genesis;
pub mod handler;
pub mod handshake;
pub mod messages;
pub mod networks;
pub mod protocol;
pub mod roots;
pub mod tracker;
pub mod types;

/// An eth protocol version this crate speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum EthVersion {
    /// eth/68 (EIP-5793): typed transaction announcements.
    Eth68 = 68,
    /// eth/69 (EIP-7642): no total difficulty, block ranges, receipts
    /// without bloom.
    Eth69 = 69,
    /// eth/70 (EIP-7975): a block's receipts may be sent in parts, so that
    /// blocks whose receipts exceed a message can be fetched.
    Eth70 = 70,
    /// eth/71 (EIP-8159): block access lists (EIP-7928) on request.
    Eth71 = 71,
}

impl EthVersion {
    /// Every version, oldest first.
    pub const ALL: [EthVersion; 4] = [
        EthVersion::Eth68,
        EthVersion::Eth69,
        EthVersion::Eth70,
        EthVersion::Eth71,
    ];

    /// The version with number `version`, if spoken here.
    pub fn from_number(version: u32) -> Option<Self> {
        match version {
            68 => Some(EthVersion::Eth68),
            69 => Some(EthVersion::Eth69),
            70 => Some(EthVersion::Eth70),
            71 => Some(EthVersion::Eth71),
            _ => None,
        }
    }

    /// The version number.
    pub fn number(self) -> u32 {
        self as u32
    }

    /// How many message codes the version uses: eth/68 ends at Receipts
    /// (0x10), eth/69 adds BlockRangeUpdate (0x11), eth/70 changes messages
    /// but adds none, eth/71 adds the access list pair (0x12, 0x13).
    pub fn message_count(self) -> u64 {
        match self {
            EthVersion::Eth68 => 17,
            EthVersion::Eth69 | EthVersion::Eth70 => 18,
            EthVersion::Eth71 => 20,
        }
    }

    /// Whether Status carries a block range instead of the total
    /// difficulty, and BlockRangeUpdate exists (eth/69 on).
    pub fn has_block_range(self) -> bool {
        self >= EthVersion::Eth69
    }

    /// Whether receipts may come in parts (eth/70 on).
    pub fn has_partial_receipts(self) -> bool {
        self >= EthVersion::Eth70
    }

    /// Whether block access lists can be asked for (eth/71 on).
    pub fn has_block_access_lists(self) -> bool {
        self >= EthVersion::Eth71
    }
}
