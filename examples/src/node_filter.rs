//! Filters over a node set, written as go-ethereum's `devp2p nodeset
//! filter` takes them: single-dash words, some followed by one argument,
//! all of which a node must pass.
//!
//! | filter | keeps a node |
//! |---|---|
//! | `-limit N` | among the N with the best score (applied last) |
//! | `-ip CIDR` | whose address is in the range |
//! | `-min-age DURATION` | that has answered for at least that long |
//! | `-eth-network NAME` | whose `eth` entry names a fork of that network |
//! | `-les-server` | with a `les` entry |
//! | `-snap` | with a `snap` entry |
//! | `-dialable` | with a TCP or QUIC port |
//!
//! ```
//! use examples::node_filter::Filters;
//! use examples::nodeset::NodeSet;
//!
//! let filters = Filters::parse(&["-dialable", "-limit", "10"]).unwrap();
//! assert!(filters.apply(&NodeSet::new()).is_empty());
//! assert!(Filters::parse(&["-ip"]).is_err());
//! ```

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;
use p2p_core::record::{self, NodeRecord};
use p2p_protocols::eth::networks::Network;
use p2p_protocols::forkid;

use crate::nodeset::{NodeEntry, NodeSet};

/// One test a node must pass.
#[derive(Clone, Debug)]
enum Filter {
    Ip(IpNet),
    MinAge(Duration),
    EthNetwork(Box<forkid::Filter>),
    Entry(&'static str),
    Dialable,
}

/// Parsed filters: the tests, and the limit if one was given.
#[derive(Clone, Debug, Default)]
pub struct Filters {
    tests: Vec<Filter>,
    limit: Option<usize>,
}

impl Filters {
    /// Reads filter words (`-ip 10.0.0.0/8 -snap -limit 20`). The error
    /// names the word at fault.
    pub fn parse<S: AsRef<str>>(args: &[S]) -> Result<Filters, String> {
        let mut filters = Filters::default();
        let mut words = args.iter().map(AsRef::as_ref);
        while let Some(word) = words.next() {
            let mut value = || {
                words
                    .next()
                    .ok_or_else(|| format!("filter {word:?} wants 1 argument, have 0"))
            };
            let test = match word {
                "-limit" => {
                    let n = value()?;
                    let n: i64 = n.parse().map_err(|_| format!("invalid -limit {n:?}"))?;
                    // A negative limit is no limit, as in go-ethereum.
                    filters.limit = usize::try_from(n).ok();
                    continue;
                }
                "-ip" => {
                    let range = value()?;
                    Filter::Ip(range.parse().map_err(|e| format!("-ip {range:?}: {e}"))?)
                }
                "-min-age" => {
                    let age = value()?;
                    Filter::MinAge(
                        humantime::parse_duration(age)
                            .map_err(|e| format!("-min-age {age:?}: {e}"))?,
                    )
                }
                "-eth-network" => {
                    let name = value()?;
                    let network = Network::by_name(name)
                        .ok_or_else(|| format!("-eth-network: unknown network {name:?}"))?;
                    Filter::EthNetwork(Box::new(forkid::Filter::new(network.spec.forks())))
                }
                "-les-server" => Filter::Entry("les"),
                "-snap" => Filter::Entry("snap"),
                "-dialable" => Filter::Dialable,
                other => return Err(format!("invalid filter {other:?}")),
            };
            filters.tests.push(test);
        }
        Ok(filters)
    }

    /// The nodes of `set` that pass every test; with a limit, only that
    /// many of them, the best scores first (ties by id, so the result does
    /// not vary between runs).
    pub fn apply(&self, set: &NodeSet) -> NodeSet {
        let mut kept: Vec<&NodeEntry> = set
            .entries()
            .filter(|entry| self.tests.iter().all(|test| test.keeps(entry)))
            .collect();
        if let Some(limit) = self.limit {
            // `entries` is in id order and the sort is stable.
            kept.sort_by_key(|entry| std::cmp::Reverse(entry.score));
            kept.truncate(limit);
        }
        let mut result = NodeSet::new();
        for entry in kept {
            result.insert(entry.clone());
        }
        result
    }
}

impl Filter {
    fn keeps(&self, entry: &NodeEntry) -> bool {
        let record = &entry.record;
        match self {
            Filter::Ip(range) => preferred_ip(record).is_some_and(|ip| range.contains(&ip)),
            Filter::MinAge(age) => entry.last_response.since(&entry.first_response) >= *age,
            // go-ethereum's static filter: the chain as seen from genesis,
            // so any fork of the network's past or future passes.
            Filter::EthNetwork(filter) => {
                record::eth_fork_id(record).is_some_and(|id| filter.validate(0, 0, id).is_ok())
            }
            Filter::Entry(key) => record.get_raw_rlp(key).is_some(),
            Filter::Dialable => {
                let port = |key: &[u8]| {
                    record
                        .get_raw_rlp(key)
                        .and_then(|raw| rlp::decode::<u16>(raw).ok())
                        .is_some_and(|port| port != 0)
                };
                [&b"tcp"[..], b"tcp6", record::QUIC_KEY, record::QUIC6_KEY]
                    .into_iter()
                    .any(port)
            }
        }
    }
}

/// The address a node is reached at when its record has both an IPv4 and
/// an IPv6 one: the more global of the two, IPv4 on a tie (as go-ethereum
/// chooses).
fn preferred_ip(record: &NodeRecord) -> Option<IpAddr> {
    fn reach(ip: IpAddr) -> u8 {
        let private = match ip {
            IpAddr::V4(v4) => v4.is_private() || v4.is_link_local(),
            IpAddr::V6(v6) => (v6.segments()[0] & 0xfe00) == 0xfc00,
        };
        let link_local = match ip {
            IpAddr::V4(v4) => v4.is_link_local(),
            IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
        };
        match () {
            _ if ip.is_unspecified() => 0,
            _ if ip.is_loopback() => 1,
            _ if link_local => 2,
            _ if private => 3,
            _ => 4,
        }
    }
    let v4 = record.ip4().map(IpAddr::V4);
    let v6 = record.ip6().map(IpAddr::V6);
    match (v4, v6) {
        (Some(a), Some(b)) if reach(b) > reach(a) => Some(b),
        (Some(a), _) => Some(a),
        (None, b) => b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nodeset::Timestamp;
    use p2p_core::record::{eth_entry, ForkId};
    use p2p_core::NodeKey;

    fn entry(ip: [u8; 4], tcp: Option<u16>, score: i64, extra: &[(&str, Vec<u8>)]) -> NodeEntry {
        let key = NodeKey::random();
        let mut builder = enr::Enr::builder();
        builder.ip4(ip.into()).udp4(30303);
        if let Some(tcp) = tcp {
            builder.tcp4(tcp);
        }
        for (k, v) in extra {
            builder.add_value_rlp(*k, v.clone().into());
        }
        let record = builder.build(key.secret()).unwrap();
        let mut entry = NodeEntry::new(record);
        entry.score = score;
        entry
    }

    fn set(entries: Vec<NodeEntry>) -> NodeSet {
        let mut set = NodeSet::new();
        for e in entries {
            set.insert(e);
        }
        set
    }

    fn ids(set: &NodeSet) -> Vec<i64> {
        let mut scores: Vec<i64> = set.entries().map(|e| e.score).collect();
        scores.sort();
        scores
    }

    #[test]
    fn each_filter_keeps_what_it_names() {
        let mainnet_fork = eth_entry(&ForkId {
            hash: [0xfc, 0x64, 0xec, 0x04],
            next: 1_150_000,
        })
        .to_vec();
        let other_fork = eth_entry(&ForkId {
            hash: [1, 2, 3, 4],
            next: 0,
        })
        .to_vec();
        let empty_list = vec![0xc0];
        let mut old = entry([10, 0, 0, 1], Some(30303), 1, &[("eth", mainnet_fork)]);
        old.first_response = Timestamp::now();
        old.last_response = Timestamp::now();
        let all = set(vec![
            old,
            entry([10, 0, 0, 2], None, 2, &[("snap", empty_list.clone())]),
            entry([192, 168, 1, 1], Some(0), 3, &[("eth", other_fork)]),
            entry([192, 168, 1, 2], Some(1), 4, &[("les", empty_list)]),
        ]);
        let kept = |words: &[&str]| ids(&Filters::parse(words).unwrap().apply(&all));
        assert_eq!(kept(&["-ip", "10.0.0.0/8"]), [1, 2]);
        assert_eq!(kept(&["-ip", "192.168.1.2/32"]), [4]);
        assert_eq!(kept(&["-dialable"]), [1, 4]);
        assert_eq!(kept(&["-snap"]), [2]);
        assert_eq!(kept(&["-les-server"]), [4]);
        assert_eq!(kept(&["-eth-network", "mainnet"]), [1]);
        assert_eq!(kept(&["-eth-network", "sepolia"]), Vec::<i64>::new());
        assert_eq!(kept(&["-min-age", "0s"]), [1, 2, 3, 4]);
        assert_eq!(kept(&["-min-age", "1h"]), Vec::<i64>::new());
        assert_eq!(kept(&["-limit", "2"]), [3, 4]);
        assert_eq!(kept(&["-limit", "-1"]), [1, 2, 3, 4]);
        assert_eq!(
            kept(&["-dialable", "-limit", "1", "-ip", "10.0.0.0/8"]),
            [1]
        );
    }

    #[test]
    fn bad_filters_are_named() {
        let err = |words: &[&str]| Filters::parse(words).unwrap_err();
        assert_eq!(err(&["-fast"]), "invalid filter \"-fast\"");
        assert_eq!(err(&["-ip"]), "filter \"-ip\" wants 1 argument, have 0");
        assert!(err(&["-ip", "ten"]).starts_with("-ip \"ten\""));
        assert_eq!(err(&["-limit", "x"]), "invalid -limit \"x\"");
        assert!(err(&["-eth-network", "goerli"]).contains("goerli"));
        assert!(err(&["-min-age", "soon"]).starts_with("-min-age"));
    }
}
