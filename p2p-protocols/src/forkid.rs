//! EIP-2124 fork identifiers: computing the local [`ForkId`] and validating a
//! remote one.
//!
//! A fork id summarises a chain as `CRC32(genesis_hash || fork_1 || ...)` over
//! the forks already passed, plus the next fork still to come. Peers exchange
//! it (in the `eth` status message and in the ENR `eth` entry) and check it
//! with [`Filter`], which accepts peers that are merely out of sync and rejects
//! those on another chain or running stale software.
//!
//! Since Shanghai, forks are also scheduled by block timestamp. As in
//! go-ethereum, block forks and time forks are kept in two lists and the time
//! forks always come after the block forks in the checksum.

use thiserror::Error;

/// The fork id type, shared with `p2p_core::record` so that ids read from
/// node records and ids computed here are the same type.
pub use p2p_core::record::ForkId;

/// Values of a remote `next` at or above this are taken as Unix timestamps
/// rather than block numbers.
///
/// A fork id's `next` does not say which kind it is, yet rule 1a must compare
/// it with the local head block or the local head time. No real chain is near
/// block 10^9 (mainnet is in the tens of millions), while every time fork is
/// scheduled after 2001-09-09 (Unix time 10^9), so the cut is unambiguous.
/// go-ethereum makes the same kind of cut.
pub const TIMESTAMP_THRESHOLD: u64 = 1_000_000_000;

/// Why a remote fork id was rejected.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum ForkIdError {
    /// The remote checksum matches no local fork state (different genesis or
    /// a fork we do not know), or the remote announces a fork we have passed
    /// without applying it. Either the chains differ or our software is stale.
    #[error("local incompatible or needs update")]
    LocalIncompatibleOrStale,
    /// The remote is at one of our past fork states but announces a different
    /// next fork than the one we applied: its software is stale.
    #[error("remote needs update")]
    RemoteStale,
}

/// A chain's fork schedule, normalised as go-ethereum's `gatherForks` does:
/// each list sorted, duplicates collapsed (several forks at one block count
/// once), and forks active from genesis dropped (they are the genesis rule
/// set, not a fork).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainForks {
    genesis_hash: [u8; 32],
    genesis_time: u64,
    block_forks: Vec<u64>,
    time_forks: Vec<u64>,
}

impl ChainForks {
    /// The schedule of a chain with genesis `genesis_hash` and timestamp
    /// `genesis_time`. Forks may be given in any order and repeated; block
    /// forks at 0 and time forks at or before `genesis_time` are dropped.
    pub fn new(
        genesis_hash: [u8; 32],
        genesis_time: u64,
        block_forks: impl IntoIterator<Item = u64>,
        time_forks: impl IntoIterator<Item = u64>,
    ) -> Self {
        ChainForks {
            genesis_hash,
            genesis_time,
            block_forks: normalise(block_forks, 0),
            time_forks: normalise(time_forks, genesis_time),
        }
    }

    /// The genesis block hash.
    pub fn genesis_hash(&self) -> &[u8; 32] {
        &self.genesis_hash
    }

    /// The genesis block timestamp.
    pub fn genesis_time(&self) -> u64 {
        self.genesis_time
    }

    /// The block-number forks after genesis, ascending and distinct.
    pub fn block_forks(&self) -> &[u64] {
        &self.block_forks
    }

    /// The timestamp forks after genesis, ascending and distinct.
    pub fn time_forks(&self) -> &[u64] {
        &self.time_forks
    }

    /// All forks in checksum order: block forks, then time forks, each paired
    /// with whether it is a time fork (which decides what head it is compared
    /// with).
    fn forks(&self) -> impl Iterator<Item = (u64, bool)> + '_ {
        let blocks = self.block_forks.iter().map(|&f| (f, false));
        let times = self.time_forks.iter().map(|&f| (f, true));
        blocks.chain(times)
    }

    /// The local fork id at the given head.
    pub fn fork_id(&self, head_block: u64, head_time: u64) -> ForkId {
        fork_id(self, head_block, head_time)
    }
}

/// Sorts, deduplicates and drops forks at or before `genesis`.
fn normalise(forks: impl IntoIterator<Item = u64>, genesis: u64) -> Vec<u64> {
    let mut forks: Vec<u64> = forks.into_iter().filter(|&f| f > genesis).collect();
    forks.sort_unstable();
    forks.dedup();
    forks
}

/// Whether a fork is passed at the given head: block forks compare with the
/// head block, time forks with the head time.
fn passed(fork: u64, is_time: bool, head_block: u64, head_time: u64) -> bool {
    let head = if is_time { head_time } else { head_block };
    head >= fork
}

/// Folds a fork into a running checksum. Feeding CRC32 incrementally gives
/// `CRC32(genesis || fork_1 || ... || fork_n)`, the EIP's definition.
fn update(hasher: &mut crc32fast::Hasher, fork: u64) {
    // The EIP fixes 8-byte big-endian so every implementation agrees.
    hasher.update(&fork.to_be_bytes());
}

fn checksum(hasher: &crc32fast::Hasher) -> [u8; 4] {
    // `finalize` consumes the hasher; clone to keep folding later forks in.
    hasher.clone().finalize().to_be_bytes()
}

/// The EIP-2124 fork id of `chain` at the given head: the checksum of the
/// genesis hash and every passed fork, and the first fork not yet passed
/// (0 if none is known).
pub fn fork_id(chain: &ChainForks, head_block: u64, head_time: u64) -> ForkId {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&chain.genesis_hash);
    let mut next = 0;
    for (fork, is_time) in chain.forks() {
        if passed(fork, is_time, head_block, head_time) {
            update(&mut hasher, fork);
        } else {
            next = fork;
            break;
        }
    }
    ForkId {
        hash: checksum(&hasher),
        next,
    }
}

/// Validates remote fork ids against a local chain.
///
/// Built once per chain: it precomputes the checksum after each fork so a
/// check is a scan over a few dozen entries.
#[derive(Clone, Debug)]
pub struct Filter {
    /// `sums[i]` is the checksum after the first `i` forks (`sums[0]` is the
    /// genesis alone); one more entry than `forks`.
    sums: Vec<[u8; 4]>,
    /// The forks in checksum order, flagged `true` for time forks.
    forks: Vec<(u64, bool)>,
}

impl Filter {
    /// A filter for `chain`.
    pub fn new(chain: &ChainForks) -> Self {
        let forks: Vec<(u64, bool)> = chain.forks().collect();
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&chain.genesis_hash);
        let mut sums = Vec::with_capacity(forks.len() + 1);
        sums.push(checksum(&hasher));
        for &(fork, _) in &forks {
            update(&mut hasher, fork);
            sums.push(checksum(&hasher));
        }
        Filter { sums, forks }
    }

    /// Checks `remote` against the local chain at the given head, with the
    /// EIP's rules:
    ///
    /// 1. Same checksum as ours: accept, unless (1a) the remote's announced
    ///    next fork is one we have already passed without applying it, which
    ///    means the chains have split.
    /// 2. Checksum of one of our past states (remote is syncing): accept if
    ///    its next fork is the one we applied after that state, else the
    ///    remote is stale.
    /// 3. Checksum of one of our future states (we are syncing): accept.
    /// 4. Anything else: reject.
    pub fn validate(
        &self,
        head_block: u64,
        head_time: u64,
        remote: ForkId,
    ) -> Result<(), ForkIdError> {
        // Index of the local state: the number of forks passed. Forks are
        // ordered, so the first unpassed one ends the passed prefix.
        let current = self
            .forks
            .iter()
            .position(|&(fork, is_time)| !passed(fork, is_time, head_block, head_time))
            .unwrap_or(self.forks.len());

        // Rule 1.
        if self.sums[current] == remote.hash {
            // Rule 1a: the remote's next fork is behind our head. A `next`
            // cannot say whether it is a block or a time, hence the threshold.
            let remote_passed = remote.next > 0
                && (head_block >= remote.next
                    || (remote.next >= TIMESTAMP_THRESHOLD && head_time >= remote.next));
            return if remote_passed {
                Err(ForkIdError::LocalIncompatibleOrStale)
            } else {
                Ok(())
            };
        }
        // Rule 2: a past state of ours; the remote must announce the fork we
        // applied next, otherwise it would never follow us.
        if let Some(j) = self.sums[..current].iter().position(|s| *s == remote.hash) {
            return if self.forks[j].0 == remote.next {
                Ok(())
            } else {
                Err(ForkIdError::RemoteStale)
            };
        }
        // Rule 3: a future state of ours; we will get there by syncing, so
        // its announced next fork does not matter yet.
        if self.sums[current + 1..].contains(&remote.hash) {
            return Ok(());
        }
        // Rule 4.
        Err(ForkIdError::LocalIncompatibleOrStale)
    }
}

/// Validates `remote` against `local` at the given head; see
/// [`Filter::validate`]. Build a [`Filter`] instead when checking many peers.
pub fn validate(
    local: &ChainForks,
    head_block: u64,
    head_time: u64,
    remote: ForkId,
) -> Result<(), ForkIdError> {
    Filter::new(local).validate(head_block, head_time, remote)
}

/// Ethereum mainnet's genesis and fork blocks as EIP-2124 lists them (its
/// test cases stop at the Petersburg fork, the latest when it was written).
pub mod mainnet {
    use super::ChainForks;

    /// Mainnet's genesis hash,
    /// `d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3`
    /// (EIP-2124: `CRC32` of it is the Frontier fork hash `0xfc64ec04`).
    pub const GENESIS_HASH: [u8; 32] = [
        0xd4, 0xe5, 0x67, 0x40, 0xf8, 0x76, 0xae, 0xf8, 0xc0, 0x10, 0xb8, 0x6a, 0x40, 0xd5, 0xf5,
        0x67, 0x45, 0xa1, 0x18, 0xd0, 0x90, 0x6a, 0x34, 0xe6, 0x9a, 0xec, 0x8c, 0x0d, 0xb1, 0xcb,
        0x8f, 0xa3,
    ];

    /// Mainnet's fork blocks up to Petersburg, from EIP-2124's mainnet test
    /// cases ("First Homestead block" 1150000, ...). Spurious Dragon is two
    /// forks (EIP-155, EIP-158) and Constantinople/Petersburg share a block;
    /// both are listed twice on purpose, as in the chain config, to be
    /// collapsed by [`ChainForks::new`].
    pub const PETERSBURG_BLOCK_FORKS: [u64; 8] = [
        1_150_000, // Homestead
        1_920_000, // DAO
        2_463_000, // Tangerine Whistle (EIP-150)
        2_675_000, // Spurious Dragon (EIP-155)
        2_675_000, // Spurious Dragon (EIP-158)
        4_370_000, // Byzantium
        7_280_000, // Constantinople
        7_280_000, // Petersburg
    ];

    /// Mainnet's schedule as EIP-2124 knew it: block forks to Petersburg, no
    /// time forks.
    pub fn petersburg() -> ChainForks {
        ChainForks::new(GENESIS_HASH, 0, PETERSBURG_BLOCK_FORKS, [])
    }

    /// Every mainnet block fork, Homestead to Gray Glacier. The difficulty
    /// bomb delays (Muir Glacier, Arrow Glacier, Gray Glacier) change no rule
    /// a peer sees, yet they are forks of the chain config and so part of
    /// the checksum: a schedule without them computes fork ids no mainnet
    /// peer agrees with.
    pub const BLOCK_FORKS: [u64; 12] = [
        1_150_000,  // Homestead
        1_920_000,  // DAO
        2_463_000,  // Tangerine Whistle
        2_675_000,  // Spurious Dragon
        4_370_000,  // Byzantium
        7_280_000,  // Constantinople and Petersburg
        9_069_000,  // Istanbul
        9_200_000,  // Muir Glacier
        12_244_000, // Berlin
        12_965_000, // London
        13_773_000, // Arrow Glacier
        15_050_000, // Gray Glacier
    ];

    /// Every mainnet time fork so far: Shanghai, Cancun, Prague, Osaka and
    /// the two blob-parameter-only forks after it (BPO1, BPO2). The merge
    /// (Paris) is not a fork-id fork on mainnet.
    pub const TIME_FORKS: [u64; 6] = [
        1_681_338_455, // Shanghai
        1_710_338_135, // Cancun
        1_746_612_311, // Prague
        1_764_798_551, // Osaka
        1_765_290_071, // BPO1
        1_767_747_671, // BPO2
    ];

    /// Mainnet's schedule today.
    pub fn chain() -> ChainForks {
        ChainForks::new(GENESIS_HASH, 0, BLOCK_FORKS, TIME_FORKS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(hash: u32, next: u64) -> ForkId {
        ForkId {
            hash: hash.to_be_bytes(),
            next,
        }
    }

    /// `checksum || fork` from a known checksum, for the EIP's "unknown
    /// future fork" ids (go-ethereum's `checksumUpdate`).
    fn extend(hash: u32, fork: u64) -> u32 {
        let mut hasher = crc32fast::Hasher::new_with_initial(hash);
        hasher.update(&fork.to_be_bytes());
        hasher.finalize()
    }

    /// The fork ids mainnet peers announce today, as go-ethereum's tests
    /// and the fork announcements list them.
    #[test]
    fn mainnet_time_fork_ids() {
        let chain = mainnet::chain();
        let last_block = 22_000_000;
        let cases = [
            (1_681_338_455, id(0xdce96c2d, 1_710_338_135)), // Shanghai
            (1_710_338_135, id(0x9f3d2254, 1_746_612_311)), // Cancun
            (1_746_612_310, id(0x9f3d2254, 1_746_612_311)),
            (1_746_612_311, id(0xc376cf8b, 1_764_798_551)), // Prague
            (1_764_798_551, id(0x5167e2a6, 1_765_290_071)), // Osaka
            (1_765_290_071, id(0xcba2a1c0, 1_767_747_671)), // BPO1
            (1_767_747_671, id(0x07c9462e, 0)),             // BPO2
            (2_000_000_000, id(0x07c9462e, 0)),
        ];
        for (time, want) in cases {
            assert_eq!(fork_id(&chain, last_block, time), want, "time {time}");
        }
        assert_eq!(fork_id(&chain, 0, 0), id(0xfc64ec04, 1_150_000));
        // A node at the head accepts an unsynced one (it is at a past state
        // of ours with the right next fork) and one still at Prague.
        let filter = Filter::new(&chain);
        let now = 1_780_000_000;
        assert_eq!(
            filter.validate(last_block, now, id(0xfc64ec04, 1_150_000)),
            Ok(())
        );
        assert_eq!(
            filter.validate(last_block, now, id(0xc376cf8b, 1_764_798_551)),
            Ok(())
        );
        assert_eq!(
            filter.validate(last_block, now, id(0xc376cf8b, 0)),
            Err(ForkIdError::RemoteStale)
        );
    }

    #[test]
    fn genesis_hash_constant_matches_hex() {
        let hex = "d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3";
        assert_eq!(hex::decode(hex).unwrap(), mainnet::GENESIS_HASH);
    }

    /// EIP-2124 specification examples: forkhash0..2 for mainnet.
    #[test]
    fn eip_spec_example_hashes() {
        let chain = mainnet::petersburg();
        assert_eq!(fork_id(&chain, 0, 0).hash, 0xfc64ec04u32.to_be_bytes());
        assert_eq!(
            fork_id(&chain, 1_150_000, 0).hash,
            0x97c2c34cu32.to_be_bytes()
        );
        assert_eq!(
            fork_id(&chain, 1_920_000, 0).hash,
            0x91d1f948u32.to_be_bytes()
        );
    }

    /// EIP-2124 "Test Cases", mainnet fork ids for each head.
    #[test]
    fn eip_mainnet_fork_ids() {
        let chain = mainnet::petersburg();
        let cases = [
            (0, id(0xfc64ec04, 1150000)),       // Unsynced
            (1149999, id(0xfc64ec04, 1150000)), // Last Frontier block
            (1150000, id(0x97c2c34c, 1920000)), // First Homestead block
            (1919999, id(0x97c2c34c, 1920000)), // Last Homestead block
            (1920000, id(0x91d1f948, 2463000)), // First DAO block
            (2462999, id(0x91d1f948, 2463000)), // Last DAO block
            (2463000, id(0x7a64da13, 2675000)), // First Tangerine block
            (2674999, id(0x7a64da13, 2675000)), // Last Tangerine block
            (2675000, id(0x3edd5b10, 4370000)), // First Spurious block
            (4369999, id(0x3edd5b10, 4370000)), // Last Spurious block
            (4370000, id(0xa00bc324, 7280000)), // First Byzantium block
            (7279999, id(0xa00bc324, 7280000)), // Last Byzantium block
            (7280000, id(0x668db0af, 0)),       // First Constantinople/Petersburg block
            (7987396, id(0x668db0af, 0)),       // Today Petersburg block
        ];
        for (head, want) in cases {
            assert_eq!(fork_id(&chain, head, 0), want, "head {head}");
            assert_eq!(chain.fork_id(head, 0), want, "head {head}");
        }
    }

    /// EIP-2124 "Test Cases", mainnet validation: head, remote id, verdict.
    #[test]
    fn eip_mainnet_validation() {
        use ForkIdError::*;
        let filter = Filter::new(&mainnet::petersburg());
        let cases: [(u64, ForkId, Result<(), ForkIdError>); 13] = [
            // Local Petersburg, remote the same, no future fork.
            (7987396, id(0x668db0af, 0), Ok(())),
            // Local Petersburg, remote the same plus an uncertain next fork.
            (7987396, id(0x668db0af, u64::MAX), Ok(())),
            // Local Byzantium (aware of Petersburg), remote Byzantium unaware.
            (7279999, id(0xa00bc324, 0), Ok(())),
            // Local Byzantium, remote Byzantium aware of Petersburg.
            (7279999, id(0xa00bc324, 7280000), Ok(())),
            // Local Byzantium, remote Byzantium aware of a random fork.
            (7279999, id(0xa00bc324, u64::MAX), Ok(())),
            // Local Petersburg, remote Byzantium + Petersburg: out of sync.
            // The stored EIP draft prints hash 0x668db0af here, a typo that
            // go-ethereum's TestValidation (and the final EIP) fix to
            // 0xa00bc324: with 0x668db0af rule 1a rejects, as it must.
            (7987396, id(0xa00bc324, 7280000), Ok(())),
            // Local Petersburg, remote Spurious + Byzantium: out of sync.
            (7987396, id(0x3edd5b10, 4370000), Ok(())),
            // Local Byzantium, remote Petersburg: local out of sync.
            (7279999, id(0x668db0af, 0), Ok(())),
            // Local Spurious, remote Byzantium unaware of Petersburg.
            (4369999, id(0xa00bc324, 0), Ok(())),
            // Local Petersburg, remote Byzantium unaware of more forks.
            (7987396, id(0xa00bc324, 0), Err(RemoteStale)),
            // Local Petersburg, remote Petersburg + 0xffffffff: local stale.
            (7987396, id(0x5cddc0e1, 0), Err(LocalIncompatibleOrStale)),
            // Local Byzantium, remote Petersburg + 0xffffffff: local stale.
            (7279999, id(0x5cddc0e1, 0), Err(LocalIncompatibleOrStale)),
            // Local mainnet Petersburg, remote Rinkeby Petersburg.
            (7987396, id(0xafec6b27, 0), Err(LocalIncompatibleOrStale)),
        ];
        for (head, remote, want) in cases {
            assert_eq!(filter.validate(head, 0, remote), want, "{head} {remote:?}");
            assert_eq!(validate(&mainnet::petersburg(), head, 0, remote), want);
        }
    }

    /// The EIP's "Petersburg + 0xffffffff" id is our Petersburg checksum
    /// extended with fork 0xffffffff.
    #[test]
    fn eip_unknown_fork_hash_is_extension() {
        assert_eq!(extend(0x668db0af, 0xffff_ffff), 0x5cddc0e1);
    }

    /// Rule 1a, go-ethereum TestValidation (core/forkid/forkid_test.go): the
    /// remote announces a fork at a block we already passed.
    #[test]
    fn rule_1a_remote_fork_already_passed_locally() {
        let filter = Filter::new(&mainnet::petersburg());
        // Remote Byzantium announcing a fork at 7279999, before Petersburg.
        assert_eq!(
            filter.validate(7279999, 0, id(0xa00bc324, 7279999)),
            Err(ForkIdError::LocalIncompatibleOrStale)
        );
        // Exactly on Petersburg, remote Byzantium aware of it: remote syncing.
        assert_eq!(filter.validate(7280000, 0, id(0xa00bc324, 7280000)), Ok(()));
        // Petersburg far in the future, remote announces a fork we passed.
        assert_eq!(
            filter.validate(88888888, 0, id(0x668db0af, 88888888)),
            Err(ForkIdError::LocalIncompatibleOrStale)
        );
    }

    /// EIP-2124 test vectors for the RLP form (`RLP([FORK_HASH, FORK_NEXT])`).
    #[test]
    fn eip_rlp_encoding() {
        let cases = [
            (id(0, 0), "c6840000000080"),
            (id(0xdeadbeef, 0xbaddcafe), "ca84deadbeef84baddcafe"),
            (id(u32::MAX, u64::MAX), "ce84ffffffff88ffffffffffffffff"),
        ];
        for (fid, want) in cases {
            let bytes = rlp::encode(&fid);
            assert_eq!(hex::encode(&bytes), want);
            assert_eq!(rlp::decode::<ForkId>(&bytes).unwrap(), fid);
        }
    }

    #[test]
    fn gather_sorts_dedups_and_skips_genesis() {
        let chain = ChainForks::new([0; 32], 100, [5, 0, 3, 5, 0], [300, 100, 50, 200, 300]);
        assert_eq!(chain.block_forks(), &[3, 5]);
        // Time forks at or before the genesis time are the genesis rule set.
        assert_eq!(chain.time_forks(), &[200, 300]);
        assert_eq!(chain.genesis_time(), 100);
        assert_eq!(chain.genesis_hash(), &[0; 32]);
    }

    /// A time fork at the genesis time is not a fork: the id is the genesis
    /// checksum and the next fork is the following time fork (mirrors
    /// go-ethereum's TestTimeBasedForkInGenesis, with made-up values).
    #[test]
    fn time_fork_at_genesis_is_not_a_fork() {
        let genesis = [7u8; 32];
        let t = 1_690_475_657;
        let genesis_only = crc32fast::hash(&genesis).to_be_bytes();
        for shanghai in [t - 1, t] {
            let chain = ChainForks::new(genesis, t, [0], [shanghai, t + 1]);
            let want = ForkId {
                hash: genesis_only,
                next: t + 1,
            };
            assert_eq!(fork_id(&chain, 0, t), want);
        }
    }

    /// Time forks come after all block forks, whatever their values.
    #[test]
    fn time_forks_follow_block_forks() {
        let genesis = [1u8; 32];
        let chain = ChainForks::new(genesis, 0, [10, 20], [1_500_000_000]);
        let g = crc32fast::hash(&genesis);
        // Time passed but block 20 not: the time fork is not yet applied.
        assert_eq!(
            fork_id(&chain, 15, 1_600_000_000),
            id(extend(g, 10), 20),
            "block forks first"
        );
        assert_eq!(
            fork_id(&chain, 20, 1_499_999_999),
            id(extend(extend(g, 10), 20), 1_500_000_000)
        );
        assert_eq!(
            fork_id(&chain, 20, 1_500_000_000),
            id(extend(extend(extend(g, 10), 20), 1_500_000_000), 0)
        );
    }

    /// Mainnet through Cancun. Blocks after Petersburg and the Shanghai and
    /// Cancun times, and all expected ids, are from go-ethereum's
    /// core/forkid/forkid_test.go (TestCreation, mainnet, post-Cancun
    /// versions of the file).
    fn mainnet_cancun() -> ChainForks {
        let later_blocks = [
            9_069_000,  // Istanbul
            9_200_000,  // Muir Glacier
            12_244_000, // Berlin
            12_965_000, // London
            13_773_000, // Arrow Glacier
            15_050_000, // Gray Glacier
        ];
        let blocks = mainnet::PETERSBURG_BLOCK_FORKS
            .into_iter()
            .chain(later_blocks);
        ChainForks::new(
            mainnet::GENESIS_HASH,
            0,
            blocks,
            [1_681_338_455, 1_710_338_135], // Shanghai, Cancun
        )
    }

    #[test]
    fn geth_mainnet_time_fork_ids() {
        let chain = mainnet_cancun();
        let cases = [
            (7280000, 0, id(0x668db0af, 9069000)),
            (9069000, 0, id(0x879d6e30, 9200000)),
            (12965000, 0, id(0xb715077d, 13773000)),
            (13773000, 0, id(0x20c327fc, 15050000)),
            (15050000, 0, id(0xf0afd0e3, 1681338455)),
            (20000000, 1681338454, id(0xf0afd0e3, 1681338455)), // Last Gray Glacier
            (20000000, 1681338455, id(0xdce96c2d, 1710338135)), // First Shanghai
            (30000000, 1710338134, id(0xdce96c2d, 1710338135)), // Last Shanghai
            (30000000, 1710338135, id(0x9f3d2254, 0)),          // First Cancun
        ];
        for (block, time, want) in cases {
            assert_eq!(fork_id(&chain, block, time), want, "{block} {time}");
        }
    }

    /// Validation across the block-to-time transition; cases from
    /// go-ethereum's TestValidation that hold for a Cancun-capped schedule.
    #[test]
    fn geth_mainnet_time_fork_validation() {
        use ForkIdError::*;
        let filter = Filter::new(&mainnet_cancun());
        let cases: [(u64, u64, ForkId, Result<(), ForkIdError>); 12] = [
            // Local Gray Glacier, remote the same, various nexts.
            (15050000, 0, id(0xf0afd0e3, 0), Ok(())),
            (15050000, 0, id(0xf0afd0e3, 1681338455), Ok(())),
            // Local Shanghai, remote Gray Glacier aware of Shanghai: syncing.
            (20000000, 1681338455, id(0xf0afd0e3, 1681338455), Ok(())),
            // Local Shanghai, remote Arrow Glacier aware of Gray Glacier.
            (20000000, 1681338455, id(0x20c327fc, 15050000), Ok(())),
            // Local Gray Glacier, remote Shanghai: local syncing.
            (15050000, 0, id(0xdce96c2d, 0), Ok(())),
            // Local Shanghai, remote Gray Glacier unaware of Shanghai.
            (20000000, 1681338455, id(0xf0afd0e3, 0), Err(RemoteStale)),
            // Remote Shanghai + unknown fork: local stale.
            (
                15050000,
                0,
                id(extend(0xdce96c2d, u64::MAX), 0),
                Err(LocalIncompatibleOrStale),
            ),
            // Remote Gray Glacier announcing a time fork we passed (rule 1a by
            // time; the head block alone is below it).
            (
                888888888,
                1660000000,
                id(0xf0afd0e3, 1660000000),
                Err(LocalIncompatibleOrStale),
            ),
            // Same, announced one second before our head time.
            (
                19999999,
                1667999999,
                id(0xf0afd0e3, 1667999999),
                Err(LocalIncompatibleOrStale),
            ),
            // Local Shanghai, remote the same aware of Cancun.
            (20000000, 1668000000, id(0xdce96c2d, 1710338135), Ok(())),
            // Local Cancun, remote Shanghai unaware of Cancun.
            (21000000, 1710338135, id(0xdce96c2d, 0), Err(RemoteStale)),
            // Unknown checksum.
            (
                20000000,
                1681338455,
                id(0x12345678, 0),
                Err(LocalIncompatibleOrStale),
            ),
        ];
        for (block, time, remote, want) in cases {
            assert_eq!(
                filter.validate(block, time, remote),
                want,
                "{block} {time} {remote:?}"
            );
        }
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            ForkIdError::LocalIncompatibleOrStale.to_string(),
            "local incompatible or needs update"
        );
        assert_eq!(ForkIdError::RemoteStale.to_string(), "remote needs update");
    }
}
