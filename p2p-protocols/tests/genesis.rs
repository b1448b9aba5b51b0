//! Genesis files as `geth init` reads them: the hash and fork id must come
//! out as go-ethereum computes them, or no peer of the chain will talk to us.
//!
//! `data/ethtest-genesis.json` is the genesis of the test chain go-ethereum's
//! `devp2p rlpx eth-test` suite ships (go-ethereum v1.17.10,
//! `cmd/devp2p/internal/ethtest/testdata`); its hash and state root are what
//! `geth init` printed for it.

use p2p_protocols::eth::genesis::Genesis;
use p2p_protocols::forkid::ForkId;
use primitive_types::H256;

fn h256(hex: &str) -> H256 {
    let bytes: Vec<u8> = (0..64)
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    H256::from_slice(&bytes)
}

fn ethtest_genesis() -> Genesis {
    Genesis::from_json(include_bytes!("data/ethtest-genesis.json")).unwrap()
}

#[test]
fn ethtest_genesis_state_root_and_hash_match_geth() {
    let genesis = ethtest_genesis();
    assert_eq!(genesis.alloc.len(), 34);
    assert_eq!(
        genesis.state_root(),
        h256("633b0d275a5fbc4a1fd106d1f90a0bfec5c97481689be3dcb742c23ce45ca1da")
    );
    let header = genesis.header().unwrap();
    // London and Shanghai are active at genesis, Cancun (time 60) is not.
    assert!(header.base_fee_per_gas.is_some() && header.withdrawals_root.is_some());
    assert_eq!(header.blob_gas_used, None);
    assert_eq!(
        header.hash(),
        h256("1518c33dab6ed4dbb2d0c48239ac2f00acc0e28dc43660bb745a0f127552024c")
    );
}

#[test]
fn ethtest_chain_spec_has_its_chain_id_and_time_forks() {
    let genesis = ethtest_genesis();
    let spec = genesis.chain_spec().unwrap();
    assert_eq!(spec.network_id, 3_503_995_874_084_926);
    let forks = genesis.forks().unwrap();
    // Every block fork is at 0 and Shanghai at the genesis time: none count.
    assert!(forks.block_forks().is_empty());
    assert_eq!(forks.time_forks(), &[60, 120, 180, 240, 300, 360]);
    // Before Cancun the id is the genesis checksum with Cancun next.
    let at_genesis = forks.fork_id(0, 0);
    assert_eq!(at_genesis.next, 60);
    let after_all = forks.fork_id(600, 6000);
    assert_eq!(after_all.next, 0);
    assert_ne!(at_genesis.hash, after_all.hash);
    let _: ForkId = after_all;
}

#[test]
fn genesis_without_chain_id_or_with_bad_numbers_is_refused() {
    let no_id = Genesis::from_json(br#"{"config": {}, "alloc": {}}"#).unwrap();
    assert!(no_id.chain_spec().is_err());
    assert!(Genesis::from_json(br#"{"config": {"chainId": 1}, "gasLimit": "0xzz"}"#).is_err());
    assert!(Genesis::from_json(
        br#"{"config": {"chainId": 1}, "alloc": {"0x01": {"storage": {"0x01": "0x123456789012345678901234567890123456789012345678901234567890123456"}}}}"#
    )
    .is_err());
}
