//! DNS discovery (EIP-1459, devp2p `dnsdisc.md`): node lists published as a
//! signed merkle tree of DNS TXT records under one domain.
//!
//! A list is named by an `enrtree://<key>@<domain>` URL. The TXT record of
//! the domain itself holds the signed root; every other entry lives on a
//! subdomain named after the hash of its own text, so one signature over the
//! root authenticates the whole tree.
//!
//! [`tree`] is the pure part: parsing, printing and checking entries and URLs,
//! with no network access, so it can be tested against the EIP's example zone
//! and reused by any resolver.
//!
//! [`client`] is the network part: it resolves a tree's records through a
//! [`TxtResolver`](client::TxtResolver) (real DNS through `hickory-resolver`
//! by default), checks each against the root's signature and its hash, and
//! offers the nodes found as a stream of dial candidates
//! ([`DnsDiscovery::random_nodes`](client::DnsDiscovery::random_nodes)) or as
//! whole lists ([`DnsDiscovery::sync`](client::DnsDiscovery::sync)).
//!
//! ```no_run
//! # async fn run(server: p2p_core::Server) -> Result<(), Box<dyn std::error::Error>> {
//! use p2p_discovery::dns::client::{DnsConfig, DnsDiscovery};
//!
//! let url = "enrtree://AKA3AM6LPBYEUDMVNU3BSVQJ5AD45Y7YPOHJLEF6W26QOE4VTUDPE@all.mainnet.ethdisco.net"
//!     .parse()?;
//! let dns = DnsDiscovery::new(vec![url], DnsConfig::default())?;
//! server.add_candidate_source(dns.random_nodes());
//! # Ok(())
//! # }
//! ```

pub mod client;
pub mod publish;
pub mod tree;
