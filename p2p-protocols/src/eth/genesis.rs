//! A chain's genesis file, the JSON that `geth init` takes: what a node of a
//! private or test network needs to agree with its peers on the genesis hash,
//! the network id and the fork id.
//!
//! The genesis header is built the way go-ethereum builds it (`Genesis.ToBlock`):
//! the state root is the Merkle-Patricia root of the allocation, and the
//! fields of forks active at genesis get their defaults (London's initial
//! base fee, Shanghai's empty withdrawals root, Cancun's zero blob gas and
//! beacon root, Prague's empty requests hash, Amsterdam's empty block access
//! list hash). The fork schedule comes from every `…Block` and `…Time` field
//! of the configuration, as go-ethereum's fork id does.
//!
//! ```
//! use p2p_protocols::eth::genesis::Genesis;
//!
//! let genesis: Genesis = serde_json::from_str(r#"{
//!     "config": { "chainId": 1337, "londonBlock": 0, "shanghaiTime": 0 },
//!     "gasLimit": "0x1c9c380",
//!     "difficulty": "0x0",
//!     "alloc": { "0x00000000000000000000000000000000000000aa": { "balance": "1000" } }
//! }"#).unwrap();
//! let spec = genesis.chain_spec().unwrap();
//! assert_eq!(spec.network_id, 1337);
//! assert_eq!(spec.genesis(), genesis.header().unwrap().hash());
//! ```

use std::collections::BTreeMap;

use alloy_trie::root::{state_root_unhashed, storage_root_unhashed};
use alloy_trie::TrieAccount;
use bytes::Bytes;
use primitive_types::{H160, H256, U256};
use serde::de::{self, Deserializer};
use serde::Deserialize;

use super::handshake::ChainSpec;
use super::types::{keccak256, Address, BlockHeader, EMPTY_OMMERS_HASH, EMPTY_ROOT_HASH};
use crate::forkid::ChainForks;

/// Why a genesis file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum GenesisError {
    /// The file is not JSON of the expected shape.
    #[error("genesis JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The configuration has no chain id.
    #[error("genesis config has no chainId")]
    NoChainId,
}

/// London's initial base fee (EIP-1559), for a genesis that gives none.
const INITIAL_BASE_FEE: u64 = 1_000_000_000;
/// go-ethereum's gas limit for a genesis that gives none.
const DEFAULT_GAS_LIMIT: u64 = 4_712_388;
/// go-ethereum's difficulty for a proof-of-work genesis that gives none.
const DEFAULT_DIFFICULTY: u64 = 131_072;
/// sha256 of nothing: the requests hash of a block without requests (EIP-7685).
pub const EMPTY_REQUESTS_HASH: H256 = H256([
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
]);

/// A genesis file: the chain configuration and the genesis block's fields.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Genesis {
    /// The chain configuration: chain id and fork schedule.
    pub config: ChainConfig,
    /// Proof-of-work nonce.
    #[serde(default, deserialize_with = "quantity")]
    pub nonce: u64,
    /// Unix time of the genesis block.
    #[serde(default, deserialize_with = "quantity")]
    pub timestamp: u64,
    /// Extra data.
    #[serde(default, deserialize_with = "hex_bytes")]
    pub extra_data: Vec<u8>,
    /// Gas limit; 0 means go-ethereum's default.
    #[serde(default, deserialize_with = "quantity")]
    pub gas_limit: u64,
    /// Difficulty; absent means go-ethereum's default for the chain kind.
    #[serde(default, deserialize_with = "opt_big")]
    pub difficulty: Option<U256>,
    /// Mix digest.
    #[serde(default, alias = "mixhash", deserialize_with = "opt_h256")]
    pub mix_hash: Option<H256>,
    /// Beneficiary.
    #[serde(default, deserialize_with = "opt_address")]
    pub coinbase: Option<Address>,
    /// Block number (0 for a real genesis).
    #[serde(default, deserialize_with = "quantity")]
    pub number: u64,
    /// Gas used.
    #[serde(default, deserialize_with = "quantity")]
    pub gas_used: u64,
    /// Parent hash (zero for a real genesis).
    #[serde(default, deserialize_with = "opt_h256")]
    pub parent_hash: Option<H256>,
    /// Base fee; London's initial fee when London is active and none is given.
    #[serde(default, deserialize_with = "opt_big")]
    pub base_fee_per_gas: Option<U256>,
    /// Excess blob gas (Cancun).
    #[serde(default, deserialize_with = "opt_quantity")]
    pub excess_blob_gas: Option<u64>,
    /// Blob gas used (Cancun).
    #[serde(default, deserialize_with = "opt_quantity")]
    pub blob_gas_used: Option<u64>,
    /// Slot number (Amsterdam).
    #[serde(default, deserialize_with = "opt_quantity")]
    pub slot_number: Option<u64>,
    /// The accounts in the genesis state.
    #[serde(default)]
    pub alloc: BTreeMap<AllocAddress, GenesisAccount>,
}

/// An account address as an allocation key (with or without `0x`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct AllocAddress(pub Address);

impl<'de> Deserialize<'de> for AllocAddress {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_fixed::<20>(&s)
            .map(|b| AllocAddress(H160(b)))
            .map_err(de::Error::custom)
    }
}

/// An account of the genesis state.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct GenesisAccount {
    /// Balance in wei.
    #[serde(default, deserialize_with = "big")]
    pub balance: U256,
    /// Nonce.
    #[serde(default, deserialize_with = "quantity")]
    pub nonce: u64,
    /// Contract code.
    #[serde(default, deserialize_with = "hex_bytes")]
    pub code: Vec<u8>,
    /// Storage slots, 32-byte key to 32-byte value.
    #[serde(default, deserialize_with = "storage")]
    pub storage: BTreeMap<H256, H256>,
}

/// The part of go-ethereum's chain configuration the network layer needs:
/// the chain id and every fork's activation block or time.
#[derive(Clone, Debug, Default)]
pub struct ChainConfig {
    /// EIP-155 chain id (also the network id, unless told otherwise).
    pub chain_id: Option<u64>,
    /// Every `…Block` field, by name (`londonBlock`, …).
    pub block_forks: BTreeMap<String, u64>,
    /// Every `…Time` field, by name (`shanghaiTime`, …).
    pub time_forks: BTreeMap<String, u64>,
    /// Whether the chain is proof-of-work from genesis (has `ethash`).
    pub ethash: bool,
}

impl<'de> Deserialize<'de> for ChainConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Forks are found by their name's ending, as go-ethereum's fork id
        // finds them: a fork this code has never heard of still counts.
        let fields = BTreeMap::<String, serde_json::Value>::deserialize(d)?;
        let mut config = ChainConfig::default();
        for (name, value) in fields {
            let number = || quantity_value(&value).map_err(de::Error::custom);
            if name == "chainId" {
                config.chain_id = Some(number()?);
            } else if name == "ethash" {
                config.ethash = !value.is_null();
            } else if value.is_null() {
                continue;
            } else if name.ends_with("Block") {
                config.block_forks.insert(name, number()?);
            } else if name.ends_with("Time") {
                config.time_forks.insert(name, number()?);
            }
        }
        Ok(config)
    }
}

impl ChainConfig {
    /// Whether the fork named `block_name` or `time_name` is active at the
    /// genesis block (number `number`, time `time`).
    fn active(&self, block_name: &str, time_name: &str, number: u64, time: u64) -> bool {
        let by_block = self
            .block_forks
            .get(block_name)
            .is_some_and(|&b| b <= number);
        let by_time = self.time_forks.get(time_name).is_some_and(|&t| t <= time);
        by_block || by_time
    }
}

impl Genesis {
    /// Reads a genesis file's JSON.
    pub fn from_json(json: &[u8]) -> Result<Self, GenesisError> {
        Ok(serde_json::from_slice(json)?)
    }

    /// The root of the genesis state trie.
    pub fn state_root(&self) -> H256 {
        let accounts = self.alloc.iter().map(|(address, account)| {
            let storage = account
                .storage
                .iter()
                // A zero value is an empty slot: not in the trie.
                .filter(|(_, value)| !value.is_zero())
                .map(|(key, value)| (key.0.into(), alloy_primitives::U256::from_be_bytes(value.0)));
            let trie_account = TrieAccount {
                nonce: account.nonce,
                balance: alloy_primitives::U256::from_be_bytes(account.balance.to_big_endian()),
                storage_root: storage_root_unhashed(storage),
                code_hash: keccak256(&account.code).0.into(),
            };
            (alloy_primitives::Address::from(address.0 .0), trie_account)
        });
        H256(state_root_unhashed(accounts).0)
    }

    /// The genesis block header, as go-ethereum builds it.
    pub fn header(&self) -> Result<BlockHeader, GenesisError> {
        let config = &self.config;
        let (number, time) = (self.number, self.timestamp);
        let difficulty = match self.difficulty {
            Some(d) => d,
            None if !config.ethash => U256::zero(),
            None if self.mix_hash.unwrap_or_default().is_zero() => U256::from(DEFAULT_DIFFICULTY),
            None => U256::zero(),
        };
        let mut header = BlockHeader {
            parent_hash: self.parent_hash.unwrap_or_default(),
            ommers_hash: EMPTY_OMMERS_HASH,
            beneficiary: self.coinbase.unwrap_or_default(),
            state_root: self.state_root(),
            transactions_root: EMPTY_ROOT_HASH,
            receipts_root: EMPTY_ROOT_HASH,
            difficulty,
            number,
            gas_limit: if self.gas_limit == 0 {
                DEFAULT_GAS_LIMIT
            } else {
                self.gas_limit
            },
            gas_used: self.gas_used,
            timestamp: time,
            extra_data: Bytes::copy_from_slice(&self.extra_data),
            mix_hash: self.mix_hash.unwrap_or_default(),
            nonce: self.nonce.to_be_bytes(),
            ..BlockHeader::default()
        };
        if config.active("londonBlock", "", number, time) {
            header.base_fee_per_gas = Some(
                self.base_fee_per_gas
                    .unwrap_or(U256::from(INITIAL_BASE_FEE)),
            );
        }
        if config.active("", "shanghaiTime", number, time) {
            header.withdrawals_root = Some(EMPTY_ROOT_HASH);
        }
        if config.active("", "cancunTime", number, time) {
            header.blob_gas_used = Some(self.blob_gas_used.unwrap_or(0));
            header.excess_blob_gas = Some(self.excess_blob_gas.unwrap_or(0));
            header.parent_beacon_block_root = Some(H256::zero());
        }
        if config.active("", "pragueTime", number, time) {
            header.requests_hash = Some(EMPTY_REQUESTS_HASH);
        }
        if config.active("", "amsterdamTime", number, time) {
            // The hash of an empty access list: keccak of the RLP empty list.
            header.block_access_list_hash = Some(EMPTY_OMMERS_HASH);
            header.slot_number = Some(self.slot_number.unwrap_or(0));
        }
        Ok(header)
    }

    /// The fork schedule, for fork ids (EIP-2124).
    pub fn forks(&self) -> Result<ChainForks, GenesisError> {
        let header = self.header()?;
        Ok(ChainForks::new(
            header.hash().0,
            self.timestamp,
            self.config.block_forks.values().copied(),
            self.config.time_forks.values().copied(),
        ))
    }

    /// What the eth handshake needs: the network id (the chain id) and the
    /// fork schedule with the genesis hash.
    pub fn chain_spec(&self) -> Result<ChainSpec, GenesisError> {
        let chain_id = self.config.chain_id.ok_or(GenesisError::NoChainId)?;
        Ok(ChainSpec::new(chain_id, self.forks()?))
    }
}

/// `0x`-prefixed hex, or decimal, or a JSON number.
fn quantity_value(value: &serde_json::Value) -> Result<u64, String> {
    match value {
        serde_json::Value::Number(n) => n.as_u64().ok_or_else(|| format!("not a u64: {n}")),
        serde_json::Value::String(s) => parse_u64(s),
        other => Err(format!("not a quantity: {other}")),
    }
}

fn parse_u64(s: &str) -> Result<u64, String> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    }
    .map_err(|e| format!("{s:?}: {e}"))
}

fn parse_big(s: &str) -> Result<U256, String> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => U256::from_str_radix(hex, 16).map_err(|e| format!("{s:?}: {e}")),
        None => U256::from_dec_str(s).map_err(|e| format!("{s:?}: {e}")),
    }
}

fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    hex::decode(s.strip_prefix("0x").unwrap_or(s)).map_err(|e| format!("{s:?}: {e}"))
}

/// Hex of at most `N` bytes, right-aligned (go-ethereum accepts short
/// storage keys and values).
fn parse_fixed<const N: usize>(s: &str) -> Result<[u8; N], String> {
    let bytes = parse_hex(s)?;
    if bytes.len() > N {
        return Err(format!("{s:?} is longer than {N} bytes"));
    }
    let mut out = [0u8; N];
    out[N - bytes.len()..].copy_from_slice(&bytes);
    Ok(out)
}

fn quantity<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ok(opt_quantity(d)?.unwrap_or(0))
}

fn opt_quantity<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(d)?;
    value
        .filter(|v| !v.is_null())
        .map(|v| quantity_value(&v))
        .transpose()
        .map_err(de::Error::custom)
}

fn big<'de, D: Deserializer<'de>>(d: D) -> Result<U256, D::Error> {
    Ok(opt_big(d)?.unwrap_or_default())
}

fn opt_big<'de, D: Deserializer<'de>>(d: D) -> Result<Option<U256>, D::Error> {
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => parse_big(&s).map(Some).map_err(de::Error::custom),
        Some(serde_json::Value::Number(n)) => n
            .as_u64()
            .map(|n| Some(U256::from(n)))
            .ok_or_else(|| de::Error::custom(format!("not a whole number: {n}"))),
        Some(other) => Err(de::Error::custom(format!("not a number: {other}"))),
    }
}

fn hex_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(Vec::new()),
        Some(s) => parse_hex(&s).map_err(de::Error::custom),
    }
}

fn opt_h256<'de, D: Deserializer<'de>>(d: D) -> Result<Option<H256>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(|s| parse_fixed::<32>(&s).map(H256))
        .transpose()
        .map_err(de::Error::custom)
}

fn opt_address<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Address>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(|s| parse_fixed::<20>(&s).map(H160))
        .transpose()
        .map_err(de::Error::custom)
}

fn storage<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<H256, H256>, D::Error> {
    let raw = Option::<BTreeMap<String, String>>::deserialize(d)?.unwrap_or_default();
    raw.iter()
        .map(|(k, v)| Ok((H256(parse_fixed(k)?), H256(parse_fixed(v)?))))
        .collect::<Result<_, String>>()
        .map_err(de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A genesis with no accounts has the empty trie as its state (a real
    /// allocation is checked against go-ethereum in `tests/genesis.rs`).
    #[test]
    fn empty_alloc_has_the_empty_state_root() {
        let genesis = Genesis::default();
        assert_eq!(genesis.state_root(), EMPTY_ROOT_HASH);
    }

    #[test]
    fn quantities_take_hex_decimal_and_numbers() {
        assert_eq!(quantity_value(&serde_json::json!("0x10")), Ok(16));
        assert_eq!(quantity_value(&serde_json::json!("16")), Ok(16));
        assert_eq!(quantity_value(&serde_json::json!(16)), Ok(16));
        assert!(quantity_value(&serde_json::json!("0xg")).is_err());
        assert!(quantity_value(&serde_json::json!(-1)).is_err());
    }

    #[test]
    fn empty_requests_hash_is_sha256_of_nothing() {
        use sha2::Digest;
        assert_eq!(
            sha2::Sha256::digest([]).as_slice(),
            EMPTY_REQUESTS_HASH.as_bytes()
        );
    }
}
