//! The `eth` capability (`caps/eth.md`), versions 68 and 69.

pub mod chain;
pub mod genesis;
pub mod handler;
pub mod handshake;
pub mod messages;
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
}

impl EthVersion {
    /// Every version, oldest first.
    pub const ALL: [EthVersion; 2] = [EthVersion::Eth68, EthVersion::Eth69];

    /// The version with number `version`, if spoken here.
    pub fn from_number(version: u32) -> Option<Self> {
        match version {
            68 => Some(EthVersion::Eth68),
            69 => Some(EthVersion::Eth69),
            _ => None,
        }
    }

    /// The version number.
    pub fn number(self) -> u32 {
        self as u32
    }

    /// How many message codes the version uses: eth/68 ends at Receipts
    /// (0x10), eth/69 adds BlockRangeUpdate (0x11).
    pub fn message_count(self) -> u64 {
        match self {
            EthVersion::Eth68 => 17,
            EthVersion::Eth69 => 18,
        }
    }
}
