use super::*;
use crate::base::{Capability, Hello};
use crate::capability::{CapabilityTable, SharedCapability};
use crate::identity::NodeKey;

const LIMITS: Limits = Limits {
    max_peers: 10,
    max_inbound: 7,
    max_outbound: 3,
};

fn id() -> PeerId {
    NodeKey::random().id()
}

/// The info a Hello stage would give `id`, sharing one capability or none.
fn info(id: PeerId, direction: Direction, useful: bool) -> PeerInfo {
    let hello = Hello {
        protocol_version: 5,
        client_id: "remote".into(),
        capabilities: vec![Capability::new("eth", 68)],
        listen_port: 0,
        id,
    };
    let shared = if useful {
        vec![SharedCapability {
            capability: Capability::new("eth", 68),
            offset: 0x10,
            length: 17,
        }]
    } else {
        Vec::new()
    };
    PeerInfo::new(
        &hello,
        "192.0.2.1:30303".parse().unwrap(),
        direction,
        CapabilityTable::new(shared),
    )
}

fn reserve(set: &mut PeerSet, id: PeerId, direction: Direction) -> Result<u64, DisconnectReason> {
    set.reserve(id, direction, false, false, LIMITS)
        .map(|r| r.serial)
}

#[test]
fn ourselves_are_refused_first() {
    let local = id();
    let mut set = PeerSet::new(local);
    assert_eq!(
        set.reserve(local, Direction::Inbound, true, true, LIMITS)
            .unwrap_err(),
        DisconnectReason::ConnectedToSelf
    );
}

#[test]
fn reservations_count_against_the_limits_before_any_hello() {
    let mut set = PeerSet::new(id());
    for _ in 0..LIMITS.max_inbound {
        reserve(&mut set, id(), Direction::Inbound).unwrap();
    }
    // Nobody admitted yet, and still full for inbound.
    assert_eq!(set.peers().len(), 0);
    assert_eq!(
        reserve(&mut set, id(), Direction::Inbound),
        Err(DisconnectReason::TooManyPeers)
    );
    for _ in 0..LIMITS.max_outbound {
        reserve(&mut set, id(), Direction::Outbound).unwrap();
    }
    // 7 + 3 = max_peers: even a static dial is refused now.
    assert_eq!(
        set.reserve(id(), Direction::Outbound, false, true, LIMITS)
            .unwrap_err(),
        DisconnectReason::TooManyPeers
    );
    // A trusted peer is not.
    assert!(set
        .reserve(id(), Direction::Inbound, true, false, LIMITS)
        .is_ok());
    assert_eq!(set.len(), 11);
}

#[test]
fn static_dials_bypass_only_the_outbound_limit() {
    let mut set = PeerSet::new(id());
    for _ in 0..LIMITS.max_outbound {
        reserve(&mut set, id(), Direction::Outbound).unwrap();
    }
    assert_eq!(
        reserve(&mut set, id(), Direction::Outbound),
        Err(DisconnectReason::TooManyPeers)
    );
    assert!(set
        .reserve(id(), Direction::Outbound, false, true, LIMITS)
        .is_ok());
}

#[test]
fn a_duplicate_in_the_same_direction_is_refused_reserved_or_admitted() {
    let mut set = PeerSet::new(id());
    let peer = id();
    let serial = reserve(&mut set, peer, Direction::Inbound).unwrap();
    assert_eq!(
        reserve(&mut set, peer, Direction::Inbound),
        Err(DisconnectReason::AlreadyConnected)
    );
    set.admit(serial, info(peer, Direction::Inbound, true))
        .unwrap();
    assert_eq!(
        reserve(&mut set, peer, Direction::Inbound),
        Err(DisconnectReason::AlreadyConnected)
    );
}

#[test]
fn simultaneous_dials_keep_the_connection_the_lower_id_dialed() {
    let (low, high) = {
        let (a, b) = (id(), id());
        if a < b {
            (a, b)
        } else {
            (b, a)
        }
    };
    // We are the lower id: our dial wins over the peer's inbound connection.
    let mut ours = PeerSet::new(low);
    let inbound = reserve(&mut ours, high, Direction::Inbound).unwrap();
    let admitted = ours
        .admit(inbound, info(high, Direction::Inbound, true))
        .unwrap();
    let reservation = ours
        .reserve(high, Direction::Outbound, false, false, LIMITS)
        .unwrap();
    let stop = reservation
        .replaced
        .expect("replaces the admitted session")
        .stop;
    stop.unwrap()
        .send(DisconnectReason::AlreadyConnected)
        .unwrap();
    drop(admitted);
    // The replaced session's end changes nothing; the new one is admitted.
    assert!(ours.leave(&high, inbound).is_none());
    assert!(ours
        .admit(reservation.serial, info(high, Direction::Outbound, true))
        .is_ok());
    assert_eq!(ours.active_counts(), (0, 1));

    // The higher id keeps the connection the lower one dialed (inbound).
    let mut theirs = PeerSet::new(high);
    reserve(&mut theirs, low, Direction::Inbound).unwrap();
    assert_eq!(
        reserve(&mut theirs, low, Direction::Outbound),
        Err(DisconnectReason::AlreadyConnected)
    );
}

#[test]
fn a_superseded_reservation_is_refused_at_the_second_checkpoint() {
    let local = id();
    let peer = loop {
        let peer = id();
        if local < peer {
            break peer;
        }
    };
    let mut set = PeerSet::new(local);
    let inbound = reserve(&mut set, peer, Direction::Inbound).unwrap();
    let outbound = set
        .reserve(peer, Direction::Outbound, false, false, LIMITS)
        .unwrap();
    assert!(outbound.replaced.is_none(), "nothing was admitted yet");
    assert_eq!(
        set.admit(inbound, info(peer, Direction::Inbound, true))
            .unwrap_err(),
        DisconnectReason::AlreadyConnected
    );
    assert!(set
        .admit(outbound.serial, info(peer, Direction::Outbound, true))
        .is_ok());
}

#[test]
fn a_useless_peer_is_refused_and_frees_its_slot() {
    let mut set = PeerSet::new(id());
    let peer = id();
    let serial = reserve(&mut set, peer, Direction::Inbound).unwrap();
    assert_eq!(
        set.admit(serial, info(peer, Direction::Inbound, false))
            .unwrap_err(),
        DisconnectReason::UselessPeer
    );
    assert_eq!(set.len(), 0);
    assert!(set.leave(&peer, serial).is_none());
}

#[test]
fn leaving_frees_the_slot_and_says_what_the_dialer_knew() {
    let mut set = PeerSet::new(id());
    let (reserved, admitted) = (id(), id());
    let r = reserve(&mut set, reserved, Direction::Inbound).unwrap();
    let a = reserve(&mut set, admitted, Direction::Outbound).unwrap();
    let admission = set
        .admit(a, info(admitted, Direction::Outbound, true))
        .unwrap();
    assert!(!admission.info.trusted);
    assert_eq!(set.active_counts(), (0, 1));
    assert_eq!(set.peers().len(), 1);

    let left = set.leave(&reserved, r).unwrap();
    assert!(left.info.is_none() && !left.was_connected);
    let left = set.leave(&admitted, a).unwrap();
    assert_eq!(left.info.unwrap().id, admitted);
    assert!(left.was_connected);
    assert_eq!(set.active_counts(), (0, 0));
    assert_eq!(set.len(), 0);
}

#[test]
fn trusted_flag_comes_from_the_first_checkpoint() {
    let mut set = PeerSet::new(id());
    let peer = id();
    let serial = set
        .reserve(peer, Direction::Inbound, true, false, LIMITS)
        .unwrap()
        .serial;
    let admitted = set
        .admit(serial, info(peer, Direction::Inbound, true))
        .unwrap();
    assert!(admitted.info.trusted);
}

#[test]
fn stop_reaches_admitted_sessions_once() {
    let mut set = PeerSet::new(id());
    let peer = id();
    let serial = reserve(&mut set, peer, Direction::Inbound).unwrap();
    let mut admitted = set
        .admit(serial, info(peer, Direction::Inbound, true))
        .unwrap();
    set.stop(&peer, DisconnectReason::Requested);
    set.stop_all(DisconnectReason::ClientQuitting);
    assert_eq!(admitted.stop.try_recv(), Ok(DisconnectReason::Requested));
}
