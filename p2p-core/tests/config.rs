//! The server configuration: defaults, the builder's checks, and the TOML
//! form, errors located.

use ipnet::IpNet;
use p2p_core::config::*;
use p2p_core::layers::filter::SubnetLimits;
use p2p_core::{Enode, NodeKey};
use std::net::Ipv6Addr;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

fn enode(port: u16) -> Enode {
    Enode::new(
        NodeKey::random().id(),
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        port,
        port,
    )
}

fn toml_error(text: &str) -> (Option<usize>, Option<usize>, String) {
    match Config::from_toml_str(text) {
        Err(ConfigError::Toml {
            line,
            column,
            message,
            ..
        }) => (line, column, message),
        other => panic!("expected a TOML error, got {other:?}"),
    }
}

#[test]
fn defaults_match_go_ethereum() {
    let config = Config::default();
    assert!(config.private_key.is_none());
    assert_eq!(config.client_id, DEFAULT_CLIENT_ID);
    assert!(config.client_id.starts_with("devp2p-rs/v"));
    assert_eq!(config.listen_addr, Some("0.0.0.0:30303".parse().unwrap()));
    assert_eq!(config.max_peers, 50);
    // Not go-ethereum's 50: a table that evicts, not a queue of slots.
    assert_eq!(config.max_pending_peers, 1024);
    assert_eq!(config.dial_ratio, 3);
    assert!(config.static_nodes.is_empty());
    assert!(config.trusted_nodes.is_empty());
    assert!(config.net_restrict.is_empty());
    assert!(!config.no_dial);
    assert!(config.bootnodes.is_empty());
    assert_eq!(config.dial_timeout, Duration::from_secs(15));
    assert_eq!(config.handshake_timeout, Duration::from_secs(5));
    assert_eq!(config.frame_read_timeout, Duration::from_secs(30));
    assert_eq!(config.frame_write_timeout, Duration::from_secs(20));
    assert_eq!(config.ping_interval, Duration::from_secs(15));

    // The builder and an empty TOML file start from the same defaults.
    for other in [
        Config::builder().build().unwrap(),
        Config::from_toml_str("").unwrap(),
    ] {
        assert_eq!(format!("{other:?}"), format!("{config:?}"));
    }
}

#[test]
fn builder_round_trip() {
    let key = NodeKey::random();
    let (s, t, b) = (enode(1), enode(2), enode(3));
    let net: IpNet = "192.168.0.0/16".parse().unwrap();
    let addr: SocketAddr = "[::1]:4000".parse().unwrap();
    let config = Config::builder()
        .private_key(key.clone())
        .client_id("test/v1")
        .listen_addr(addr)
        .max_peers(10)
        .max_pending_peers(7)
        .dial_ratio(2)
        .static_nodes([s])
        .trusted_nodes(vec![t])
        .net_restrict([net])
        .no_dial(true)
        .bootnodes([b])
        .dial_timeout(Duration::from_secs(1))
        .handshake_timeout(Duration::from_secs(2))
        .frame_read_timeout(Duration::from_secs(3))
        .frame_write_timeout(Duration::from_secs(4))
        .ping_interval(Duration::from_millis(500))
        .build()
        .unwrap();
    assert_eq!(config.key().unwrap().id(), key.id());
    assert_eq!(config.client_id, "test/v1");
    assert_eq!(config.listen_addr, Some(addr));
    assert_eq!(config.max_peers, 10);
    assert_eq!(config.max_pending_peers, 7);
    assert_eq!(config.dial_ratio, 2);
    assert_eq!(config.static_nodes, vec![s]);
    assert_eq!(config.trusted_nodes, vec![t]);
    assert_eq!(config.net_restrict, vec![net]);
    assert!(config.no_dial);
    assert_eq!(config.bootnodes, vec![b]);
    assert_eq!(config.dial_timeout, Duration::from_secs(1));
    assert_eq!(config.handshake_timeout, Duration::from_secs(2));
    assert_eq!(config.frame_read_timeout, Duration::from_secs(3));
    assert_eq!(config.frame_write_timeout, Duration::from_secs(4));
    assert_eq!(config.ping_interval, Duration::from_millis(500));

    // Back through a builder unchanged, and `None` turns listening off.
    let again = ConfigBuilder::from(config.clone()).build().unwrap();
    assert_eq!(format!("{again:?}"), format!("{config:?}"));
    let quiet = ConfigBuilder::from(config)
        .listen_addr(None)
        .build()
        .unwrap();
    assert_eq!(quiet.listen_addr, None);
}

#[test]
fn builder_rejects_zero_durations() {
    type Set = fn(ConfigBuilder, Duration) -> ConfigBuilder;
    let cases: [(&str, Set); 5] = [
        ("dial_timeout", ConfigBuilder::dial_timeout),
        ("handshake_timeout", ConfigBuilder::handshake_timeout),
        ("frame_read_timeout", ConfigBuilder::frame_read_timeout),
        ("frame_write_timeout", ConfigBuilder::frame_write_timeout),
        ("ping_interval", ConfigBuilder::ping_interval),
    ];
    for (name, set) in cases {
        let err = set(Config::builder(), Duration::ZERO).build().unwrap_err();
        assert!(
            matches!(err, ConfigError::ZeroDuration { field } if field == name),
            "{name}: {err:?}"
        );
        assert_eq!(err.to_string(), format!("{name} must be greater than zero"));
    }
}

#[test]
fn zero_max_peers_is_allowed_and_zero_pending_means_default() {
    let config = Config::builder()
        .max_peers(0)
        .max_pending_peers(0)
        .build()
        .unwrap();
    assert_eq!(config.max_peers, 0);
    assert_eq!(config.max_pending_peers, DEFAULT_MAX_PENDING_PEERS);
}

#[test]
fn missing_key_is_reported_by_key() {
    let config = Config::builder().build().unwrap();
    let err = config.key().unwrap_err();
    assert!(matches!(err, ConfigError::MissingKey));
    assert!(err.to_string().contains("no private key"), "{err}");
}

fn limits(max_peers: usize, dial_ratio: usize) -> (usize, usize) {
    let config = Config {
        max_peers,
        dial_ratio,
        ..Config::default()
    };
    (config.max_outbound(), config.max_inbound())
}

#[test]
fn max_outbound_and_inbound_follow_go_ethereum() {
    assert_eq!(limits(50, 3), (16, 34));
    // At least one dial slot whenever peers are allowed at all.
    assert_eq!(limits(1, 3), (1, 0));
    assert_eq!(limits(2, 3), (1, 1));
    assert_eq!(limits(0, 3), (0, 0));
    assert_eq!(limits(10, 1), (10, 0));
    assert_eq!(limits(50, 2), (25, 25));
}

#[test]
fn dial_ratio_zero_means_default() {
    assert_eq!(limits(50, 0), limits(50, DEFAULT_DIAL_RATIO));
    let config = Config::builder().dial_ratio(0).build().unwrap();
    assert_eq!(config.dial_ratio, DEFAULT_DIAL_RATIO);
    let config = Config::from_toml_str("dial_ratio = 0").unwrap();
    assert_eq!(config.dial_ratio, DEFAULT_DIAL_RATIO);
}

#[test]
fn no_dial_leaves_every_slot_inbound() {
    let config = Config::builder().no_dial(true).build().unwrap();
    assert_eq!(config.max_outbound(), 0);
    assert_eq!(config.max_inbound(), 50);
}

#[test]
fn net_restrict_filters_ips() {
    let open = Config::default();
    assert!(open.allows_ip(IpAddr::V4(Ipv4Addr::new(8, 8, 8, 8))));
    let restricted = Config::builder()
        .net_restrict(["10.0.0.0/8".parse().unwrap()])
        .build()
        .unwrap();
    assert!(restricted.allows_ip(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3))));
    assert!(!restricted.allows_ip(IpAddr::V4(Ipv4Addr::new(11, 1, 2, 3))));
    let mapped = Ipv4Addr::new(10, 1, 2, 3).to_ipv6_mapped();
    assert!(restricted.allows_ip(IpAddr::V6(mapped)));
    assert!(!restricted.allows_ip(IpAddr::V6(Ipv6Addr::LOCALHOST)));
}

#[test]
fn toml_with_every_field_parses() {
    let key = NodeKey::random();
    let (s, t, b) = (enode(30303), enode(30304), enode(30305));
    let text = format!(
        r#"
private_key = "{key}"
client_id = "toml-node/v2"
listen_addr = "127.0.0.1:4444"
max_peers = 20
max_pending_peers = 5
dial_ratio = 4
static_nodes = ["{s}"]
trusted_nodes = ["{t}"]
net_restrict = ["10.0.0.0/8", "fd00::/8"]
no_dial = true
bootnodes = ["{b}"]
dial_timeout = "2s"
handshake_timeout = "1500ms"
frame_read_timeout = "1m"
frame_write_timeout = "10s"
ping_interval = "1m 30s"
enable_msg_events = true

[inbound_throttle]
window = "10s"
exempt_lan = false

[subnet_limits]
max_per_ipv4_24 = 2
"#,
        key = hex_secret(&key),
    );
    let config = Config::from_toml_str(&text).unwrap();
    assert_eq!(config.key().unwrap().id(), key.id());
    assert_eq!(config.client_id, "toml-node/v2");
    assert_eq!(config.listen_addr, Some("127.0.0.1:4444".parse().unwrap()));
    assert_eq!(config.max_peers, 20);
    assert_eq!(config.max_pending_peers, 5);
    assert_eq!(config.dial_ratio, 4);
    assert_eq!(config.static_nodes, vec![s]);
    assert_eq!(config.trusted_nodes, vec![t]);
    assert_eq!(
        config.net_restrict,
        vec![
            "10.0.0.0/8".parse::<IpNet>().unwrap(),
            "fd00::/8".parse().unwrap()
        ]
    );
    assert!(config.no_dial);
    assert!(config.enable_msg_events);
    assert_eq!(config.inbound_throttle.window, Duration::from_secs(10));
    assert!(!config.inbound_throttle.exempt_lan);
    assert!(
        config.inbound_throttle.exempt_loopback,
        "unset keys keep defaults"
    );
    assert_eq!(config.subnet_limits.max_per_ipv4_24, 2);
    assert_eq!(
        config.subnet_limits.max_per_ipv6_64,
        SubnetLimits::default().max_per_ipv6_64
    );
    assert_eq!(config.bootnodes, vec![b]);
    assert_eq!(config.dial_timeout, Duration::from_secs(2));
    assert_eq!(config.handshake_timeout, Duration::from_millis(1500));
    assert_eq!(config.frame_read_timeout, Duration::from_secs(60));
    assert_eq!(config.frame_write_timeout, Duration::from_secs(10));
    assert_eq!(config.ping_interval, Duration::from_secs(90));
}

fn hex_secret(key: &NodeKey) -> String {
    key.secret_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn toml_listen_addr_forms() {
    let parse = |v: &str| {
        Config::from_toml_str(&format!("listen_addr = {v:?}"))
            .unwrap()
            .listen_addr
    };
    assert_eq!(parse(""), None);
    assert_eq!(parse(":30305"), Some("0.0.0.0:30305".parse().unwrap()));
    assert_eq!(parse("[::]:1"), Some("[::]:1".parse().unwrap()));
    let (line, _, message) = toml_error("listen_addr = \"localhost:30303\"");
    assert_eq!(line, Some(1));
    assert!(message.contains("invalid listen_addr"), "{message}");
}

#[test]
fn toml_bad_enode_is_located() {
    let text = format!(
        "max_peers = 3\nstatic_nodes = [\"{}\", \"enode://abc@1.2.3.4:30303\"]\n",
        enode(1)
    );
    let (line, column, message) = toml_error(&text);
    assert_eq!((line, column), (Some(2), Some(16)));
    assert!(message.contains("invalid enode URL"), "{message}");
    assert!(message.contains("list entry 1"), "{message}");
    assert!(message.contains("invalid public key"), "{message}");
}

#[test]
fn toml_bad_cidr_is_reported() {
    let (line, column, message) = toml_error("net_restrict = [\"10.0.0.0/33\"]");
    assert_eq!((line, column), (Some(1), Some(16)));
    assert!(message.contains("invalid CIDR network"), "{message}");
    assert!(message.contains("10.0.0.0/33"), "{message}");
}

#[test]
fn toml_bad_duration_is_reported() {
    let (line, _, message) = toml_error("\n\ndial_timeout = \"fifteen\"");
    assert_eq!(line, Some(3));
    assert!(!message.is_empty());

    let err = Config::from_toml_str("ping_interval = \"0s\"").unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::ZeroDuration {
                field: "ping_interval"
            }
        ),
        "{err:?}"
    );
}

#[test]
fn toml_unknown_key_is_named() {
    let (line, column, message) = toml_error("max_peers = 5\nmax_peer = 5\n");
    assert_eq!((line, column), (Some(2), Some(1)));
    assert!(message.contains("max_peer`"), "{message}");
    let err = Config::from_toml_str("max_peer = 5")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("invalid configuration at line 1, column 1:"),
        "{err}"
    );
}

#[test]
fn toml_wrong_type_is_reported() {
    let (line, _, message) = toml_error("max_peers = -1");
    assert_eq!(line, Some(1));
    assert!(!message.is_empty());
}

#[test]
fn toml_both_keys_conflict() {
    let text = format!(
        "private_key = \"{}\"\nprivate_key_file = \"nodekey\"",
        hex_secret(&NodeKey::random())
    );
    let err = Config::from_toml_str(&text).unwrap_err();
    assert!(matches!(err, ConfigError::ConflictingKeys), "{err:?}");
    assert!(err.to_string().contains("private_key_file"), "{err}");
}

#[test]
fn toml_bad_private_key_does_not_leak_it() {
    let secret = "zz".repeat(32);
    let err = Config::from_toml_str(&format!("private_key = \"{secret}\"")).unwrap_err();
    assert!(matches!(err, ConfigError::InvalidKey(_)), "{err:?}");
    assert!(!err.to_string().contains(&secret), "{err}");
    assert!(!format!("{err:?}").contains(&secret), "{err:?}");
}

#[test]
fn config_file_debug_redacts_key() {
    let secret = hex_secret(&NodeKey::random());
    let file: ConfigFile = toml::from_str(&format!("private_key = \"{secret}\"")).unwrap();
    let debug = format!("{file:?}");
    assert!(!debug.contains(&secret), "{debug}");
    assert!(debug.contains("<redacted>"), "{debug}");
}

#[test]
fn toml_file_resolves_relative_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let key = NodeKey::random();
    p2p_core::keyfile::save(&dir.path().join("keys").join("nodekey"), &key).unwrap();
    let path = dir.path().join("p2p.toml");
    std::fs::write(
        &path,
        "private_key_file = \"keys/nodekey\"\nmax_peers = 9\n",
    )
    .unwrap();

    let config = Config::from_toml_file(&path).unwrap();
    assert_eq!(config.key().unwrap().id(), key.id());
    assert_eq!(config.max_peers, 9);

    // An absolute path is used as it is.
    let absolute = dir.path().join("keys").join("nodekey");
    let text = format!("private_key_file = {:?}", absolute.to_str().unwrap());
    let config = Config::from_toml_str(&text).unwrap();
    assert_eq!(config.key().unwrap().id(), key.id());
}

#[test]
fn toml_file_missing_key_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p2p.toml");
    std::fs::write(&path, "private_key_file = \"absent\"").unwrap();
    let err = Config::from_toml_file(&path).unwrap_err();
    assert!(matches!(err, ConfigError::KeyFile(_)), "{err:?}");
    assert!(err.to_string().contains("absent"), "{err}");
}

#[test]
fn toml_file_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p2p.toml");
    std::fs::write(&path, "bogus = 1").unwrap();
    let err = Config::from_toml_file(&path).unwrap_err();
    assert!(
        matches!(&err, ConfigError::Toml { file: Some(f), .. } if *f == path),
        "{err:?}"
    );
    assert!(err.to_string().contains("p2p.toml"), "{err}");
    assert!(err.to_string().contains("bogus"), "{err}");

    let missing = dir.path().join("missing.toml");
    let err = Config::from_toml_file(&missing).unwrap_err();
    assert!(matches!(err, ConfigError::Io { .. }), "{err:?}");
}
