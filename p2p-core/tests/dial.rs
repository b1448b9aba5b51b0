//! The dial scheduler as pure state, driven by a fake clock.

use p2p_core::dial::*;
use p2p_core::{Direction, Enode, NodeAddr, PeerId};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const SECOND: Duration = Duration::from_secs(1);

fn id(n: u16) -> PeerId {
    let mut bytes = [0u8; 64];
    bytes[..2].copy_from_slice(&n.to_be_bytes());
    bytes[63] = 0xee;
    PeerId(bytes)
}

fn node(n: u16) -> Enode {
    let [a, b] = n.to_be_bytes();
    Enode::new(id(n), IpAddr::V4(Ipv4Addr::new(10, 0, a, b)), 30303, 30303)
}

/// Node 0 is ourselves.
fn config() -> DialConfig {
    DialConfig::default().with_self_id(id(0))
}

fn ids(dials: &[NodeAddr]) -> Vec<PeerId> {
    dials.iter().map(|e| e.id()).collect()
}

fn sorted(mut v: Vec<PeerId>) -> Vec<PeerId> {
    v.sort();
    v
}

#[test]
fn config_defaults_follow_go_ethereum() {
    let c = DialConfig::default();
    assert_eq!(c.max_active_dials, 16);
    assert_eq!(c.max_outbound, 16);
    assert_eq!(c.history_expiration, 35 * SECOND);
    assert_eq!(c.static_backoff, SECOND);
    assert_eq!(c.max_static_backoff, 300 * SECOND);
    assert_eq!(c.max_candidates, 256);
    assert_eq!(DialConfig::from_peers(50, 3), c);
    assert_eq!(DialConfig::from_peers(50, 0).max_outbound, 16);
    assert_eq!(DialConfig::from_peers(50, 2).max_outbound, 25);
    assert_eq!(DialConfig::from_peers(2, 3).max_outbound, 1);
    assert_eq!(DialConfig::from_peers(0, 3).max_outbound, 0);
    assert_eq!(
        DialConfig::from_peers(50, 3).with_self_id(id(7)).self_id,
        id(7)
    );
}

#[test]
fn active_dials_are_limited() {
    let t0 = Instant::now();
    let mut d = DialScheduler::new(config());
    for n in 1..=40 {
        d.add_static(node(n));
    }
    let first = d.poll_dials(t0);
    assert_eq!(first.len(), 16);
    assert_eq!(d.active_dial_count(), 16);
    assert!(d.poll_dials(t0).is_empty());
    // Nothing time-based can help while every slot is taken.
    assert_eq!(d.next_wakeup(), None);

    assert!(d.dial_finished(&first[0].id(), false, t0 + SECOND));
    let more = d.poll_dials(t0 + SECOND);
    assert_eq!(more.len(), 1);
    assert!(!ids(&first).contains(&more[0].id()));
    assert_eq!(d.active_dial_count(), 16);
}

#[test]
fn active_dial_limit_covers_dynamic_dials() {
    let t0 = Instant::now();
    let mut d = DialScheduler::new(DialConfig {
        max_active_dials: 3,
        ..config()
    });
    for n in 1..=10 {
        d.add_candidate(node(n), t0);
    }
    assert_eq!(ids(&d.poll_dials(t0)), vec![id(1), id(2), id(3)]);
    assert!(d.poll_dials(t0).is_empty());
    assert_eq!(d.candidate_count(), 7);
}

#[test]
fn dynamic_dials_respect_outbound_cap() {
    let t0 = Instant::now();
    let mut d = DialScheduler::new(DialConfig {
        max_outbound: 4,
        ..config()
    });
    for n in 1..=10 {
        assert!(d.add_candidate(node(n), t0));
    }
    let dials = d.poll_dials(t0);
    assert_eq!(ids(&dials), vec![id(1), id(2), id(3), id(4)]);
    assert_eq!(d.dial_kind(&id(1)), Some(DialKind::Dynamic));

    // A successful dial turns into an outbound peer: still 4 slots used.
    d.peer_added(id(1), Direction::Outbound, t0 + SECOND);
    assert!(d.poll_dials(t0 + SECOND).is_empty());
    d.dial_finished(&id(1), true, t0 + SECOND);
    assert!(d.poll_dials(t0 + SECOND).is_empty());
    assert_eq!(d.outbound_count(), 1);

    // A failed dial frees its slot.
    d.dial_finished(&id(2), false, t0 + 2 * SECOND);
    assert_eq!(ids(&d.poll_dials(t0 + 2 * SECOND)), vec![id(5)]);

    // So does a lost outbound peer.
    d.peer_removed(&id(1), t0 + 3 * SECOND);
    assert_eq!(ids(&d.poll_dials(t0 + 3 * SECOND)), vec![id(6)]);
}

#[test]
fn static_dials_ignore_outbound_cap() {
    let t0 = Instant::now();
    let mut d = DialScheduler::new(DialConfig {
        max_outbound: 1,
        ..config()
    });
    for n in 1..=3 {
        d.add_static(node(n));
    }
    d.add_candidate(node(10), t0);
    d.add_candidate(node(11), t0);
    let dials = d.poll_dials(t0);
    // All three statics, and one candidate for the single dynamic slot.
    assert_eq!(sorted(ids(&dials)), vec![id(1), id(2), id(3), id(10)]);
    assert_eq!(d.dial_kind(&id(2)), Some(DialKind::Static));
}

#[test]
fn connected_static_peers_use_outbound_slots() {
    let t0 = Instant::now();
    let mut d = DialScheduler::new(DialConfig {
        max_outbound: 2,
        ..config()
    });
    d.add_static(node(1));
    d.add_static(node(2));
    assert_eq!(d.poll_dials(t0).len(), 2);
    for n in [1, 2] {
        d.dial_finished(&id(n), true, t0);
        d.peer_added(id(n), Direction::Outbound, t0);
    }
    d.add_candidate(node(10), t0);
    assert!(d.poll_dials(t0).is_empty());
    d.peer_removed(&id(2), t0 + SECOND);
    assert_eq!(ids(&d.poll_dials(t0 + SECOND)), vec![id(10)]);
}

#[test]
fn static_nodes_come_first() {
    let t0 = Instant::now();
    let mut d = DialScheduler::new(DialConfig {
        max_active_dials: 2,
        ..config()
    });
    for n in 10..15 {
        d.add_candidate(node(n), t0);
    }
    for n in 1..=3 {
        d.add_static(node(n));
    }
    let dials = d.poll_dials(t0);
    assert_eq!(ids(&dials), vec![id(1), id(2)]);
    // The third static node gets the next free slot, before candidates.
    d.dial_finished(&id(1), true, t0);
    d.peer_added(id(1), Direction::Outbound, t0);
    assert_eq!(ids(&d.poll_dials(t0)), vec![id(3)]);
    d.dial_finished(&id(2), true, t0);
    d.peer_added(id(2), Direction::Outbound, t0);
    assert_eq!(ids(&d.poll_dials(t0)), vec![id(10)]);
}

#[test]
fn static_nodes_take_turns() {
    let t0 = Instant::now();
    let mut d = DialScheduler::new(DialConfig {
        max_active_dials: 1,
        static_backoff: Duration::ZERO,
        ..config()
    });
    for n in 1..=3 {
        d.add_static(node(n));
    }
    // With no backoff and one slot, failing nodes are dialed in turn.
    let mut order = Vec::new();
    for step in 0..6 {
        let now = t0 + step * SECOND;
        let dials = d.poll_dials(now);
        assert_eq!(dials.len(), 1);
        order.push(dials[0].id());
        d.dial_finished(&dials[0].id(), false, now);
    }
    assert_eq!(order, vec![id(1), id(2), id(3), id(1), id(2), id(3)]);
}

#[test]
fn never_dials_self() {
    let t0 = Instant::now();
    let mut d = DialScheduler::new(config());
    assert!(!d.add_static(node(0)));
    assert!(!d.add_candidate(node(0), t0));
    assert_eq!(d.static_count(), 0);
    assert_eq!(d.candidate_count(), 0);
    assert!(d.poll_dials(t0).is_empty());
    assert_eq!(d.next_wakeup(), None);
}

#[test]
fn never_dials_connected_peers() {
    let t0 = Instant::now();
    let mut d = DialScheduler::new(config());
    d.peer_added(id(1), Direction::Outbound, t0);
    assert!(!d.add_candidate(node(1), t0));

    // A candidate that connects (inbound) while queued is dropped.
    assert!(d.add_candidate(node(2), t0));
    d.peer_added(id(2), Direction::Inbound, t0);

    // A static node that is connected is not dialed.
    d.add_static(node(3));
    d.peer_added(id(3), Direction::Inbound, t0);

    assert!(d.poll_dials(t0).is_empty());
    assert_eq!(d.candidate_count(), 0);
    assert!(d.is_connected(&id(1)) && d.is_connected(&id(2)) && d.is_connected(&id(3)));
}

#[test]
fn never_dials_twice_at_once() {
    let t0 = Instant::now();
    let mut d = DialScheduler::new(config());
    d.add_candidate(node(1), t0);
    assert_eq!(ids(&d.poll_dials(t0)), vec![id(1)]);
    // Rediscovered while the dial runs: refused.
    assert!(!d.add_candidate(node(1), t0));
    // Made static while the dynamic dial runs: not dialed a second time.
    d.add_static(node(1));
    assert!(d.poll_dials(t0).is_empty());
    assert_eq!(
        d.active_dials().cloned().collect::<Vec<_>>(),
        vec![node(1).into()]
    );
}

#[test]
fn dynamic_history_blocks_redial_for_35s() {
    let t0 = Instant::now();
    let mut d = DialScheduler::new(config());
    d.add_candidate(node(1), t0);
    assert_eq!(ids(&d.poll_dials(t0)), vec![id(1)]);
    d.dial_finished(&id(1), false, t0 + 2 * SECOND);
    assert!(d.recently_dialed(&id(1), t0 + 2 * SECOND));

    // Rediscovered: queued, but waits for the history to expire.
    assert!(d.add_candidate(node(1), t0 + 3 * SECOND));
    assert!(d.poll_dials(t0 + 3 * SECOND).is_empty());
    assert_eq!(d.next_wakeup(), Some(t0 + 35 * SECOND));
    assert!(d.poll_dials(t0 + 34 * SECOND).is_empty());
    assert!(d
        .poll_dials(t0 + 35 * SECOND - Duration::from_millis(1))
        .is_empty());
    assert_eq!(ids(&d.poll_dials(t0 + 35 * SECOND)), vec![id(1)]);
    // The new dial starts a new history entry.
    assert!(d.recently_dialed(&id(1), t0 + 69 * SECOND));
    assert!(!d.recently_dialed(&id(1), t0 + 70 * SECOND));
}

#[test]
fn waiting_candidates_do_not_block_others() {
    let t0 = Instant::now();
    let mut d = DialScheduler::new(config());
    d.add_candidate(node(1), t0);
    d.poll_dials(t0);
    d.dial_finished(&id(1), false, t0);
    d.add_candidate(node(1), t0);
    d.add_candidate(node(2), t0);
    assert_eq!(ids(&d.poll_dials(t0 + SECOND)), vec![id(2)]);
    assert_eq!(d.candidate_count(), 1);
}

#[test]
fn static_backoff_doubles_up_to_max_and_resets_on_success() {
    let t0 = Instant::now();
    let mut d = DialScheduler::new(DialConfig {
        static_backoff: SECOND,
        max_static_backoff: 8 * SECOND,
        ..config()
    });
    d.add_static(node(1));
    let mut now = t0;
    assert_eq!(d.poll_dials(now).len(), 1);
    // Waits after successive failures: 1, 2, 4, 8, then capped at 8.
    for wait in [1, 2, 4, 8, 8, 8] {
        d.dial_finished(&id(1), false, now);
        let due = now + wait * SECOND;
        assert_eq!(d.static_retry_at(&id(1)), Some(due));
        assert_eq!(d.next_wakeup(), Some(due));
        assert!(d.poll_dials(due - Duration::from_millis(1)).is_empty());
        now = due;
        assert_eq!(ids(&d.poll_dials(now)), vec![id(1)]);
    }
    // A success resets the backoff: the next failure waits 1 s again.
    d.dial_finished(&id(1), true, now);
    d.peer_added(id(1), Direction::Outbound, now);
    d.peer_removed(&id(1), now + 100 * SECOND);
    now += 100 * SECOND;
    assert_eq!(ids(&d.poll_dials(now)), vec![id(1)]);
    d.dial_finished(&id(1), false, now);
    assert_eq!(d.static_retry_at(&id(1)), Some(now + SECOND));
}

#[test]
fn static_backoff_resets_when_node_dials_us() {
    let t0 = Instant::now();
    let mut d = DialScheduler::new(config());
    d.add_static(node(1));
    for step in 0..4 {
        let now = d.static_retry_at(&id(1)).unwrap_or(t0);
        assert_eq!(d.poll_dials(now).len(), 1, "step {step}");
        d.dial_finished(&id(1), false, now);
    }
    let now = d.static_retry_at(&id(1)).unwrap();
    d.peer_added(id(1), Direction::Inbound, now);
    d.peer_removed(&id(1), now + 100 * SECOND);
    let now = now + 100 * SECOND;
    assert_eq!(d.poll_dials(now).len(), 1);
    d.dial_finished(&id(1), false, now);
    assert_eq!(d.static_retry_at(&id(1)), Some(now + SECOND));
}

#[test]
fn failed_dial_of_connected_static_is_not_penalized() {
    let t0 = Instant::now();
    let mut d = DialScheduler::new(config());
    d.add_static(node(1));
    d.poll_dials(t0);
    // The node dialed us at the same time and won the race.
    d.peer_added(id(1), Direction::Inbound, t0);
    d.dial_finished(&id(1), false, t0);
    d.peer_removed(&id(1), t0 + 50 * SECOND);
    assert_eq!(d.poll_dials(t0 + 50 * SECOND).len(), 1);
    d.dial_finished(&id(1), false, t0 + 50 * SECOND);
    // Still the initial backoff.
    assert_eq!(d.static_retry_at(&id(1)), Some(t0 + 51 * SECOND));
}

#[test]
fn static_peer_is_redialed_after_disconnect() {
    let t0 = Instant::now();
    let mut d = DialScheduler::new(config());
    d.add_static(node(1));
    assert_eq!(d.poll_dials(t0).len(), 1);
    d.peer_added(id(1), Direction::Outbound, t0 + SECOND);
    d.dial_finished(&id(1), true, t0 + SECOND);

    // Dropped after 10 s: redialed 35 s after the last dial started.
    d.peer_removed(&id(1), t0 + 10 * SECOND);
    assert!(!d.is_connected(&id(1)));
    assert!(d.poll_dials(t0 + 10 * SECOND).is_empty());
    assert_eq!(d.next_wakeup(), Some(t0 + 35 * SECOND));
    assert!(d.poll_dials(t0 + 34 * SECOND).is_empty());
    assert_eq!(ids(&d.poll_dials(t0 + 35 * SECOND)), vec![id(1)]);

    // Dropped long after the dial: redialed at once.
    let t1 = t0 + 35 * SECOND;
    d.dial_finished(&id(1), true, t1);
    d.peer_added(id(1), Direction::Outbound, t1);
    d.peer_removed(&id(1), t1 + 3600 * SECOND);
    assert_eq!(ids(&d.poll_dials(t1 + 3600 * SECOND)), vec![id(1)]);
}

#[test]
fn static_peer_that_dialed_us_is_redialed_at_once() {
    let t0 = Instant::now();
    let mut d = DialScheduler::new(config());
    d.peer_added(id(1), Direction::Inbound, t0);
    d.add_static(node(1));
    assert!(d.poll_dials(t0).is_empty());
    d.peer_removed(&id(1), t0 + SECOND);
    assert_eq!(ids(&d.poll_dials(t0 + SECOND)), vec![id(1)]);
}

#[test]
fn removing_a_static_node_stops_its_dials() {
    let t0 = Instant::now();
    let mut d = DialScheduler::new(config());
    d.add_static(node(1));
    d.add_static(node(2));
    assert_eq!(d.poll_dials(t0).len(), 2);
    d.dial_finished(&id(1), false, t0);
    assert!(d.remove_static(&id(1)));
    assert!(!d.remove_static(&id(1)));
    assert!(!d.is_static(&id(1)));
    assert!(d.poll_dials(t0 + 10 * SECOND).is_empty());

    // Removed while its dial runs: the dial finishing brings nothing back.
    assert!(d.remove_static(&id(2)));
    d.dial_finished(&id(2), false, t0 + SECOND);
    assert!(d.poll_dials(t0 + 10 * SECOND).is_empty());
    assert_eq!(d.next_wakeup(), None);
    assert_eq!(d.static_count(), 0);
}

#[test]
fn readding_static_with_new_endpoint_clears_backoff() {
    let t0 = Instant::now();
    let mut d = DialScheduler::new(config());
    assert!(d.add_static(node(1)));
    d.poll_dials(t0);
    d.dial_finished(&id(1), false, t0);
    // Same endpoint: nothing changes.
    assert!(!d.add_static(node(1)));
    assert_eq!(d.static_retry_at(&id(1)), Some(t0 + SECOND));
    // New endpoint: dialed at once.
    let moved = Enode {
        tcp: 30304,
        ..node(1)
    };
    assert!(!d.add_static(moved));
    assert_eq!(d.poll_dials(t0), vec![NodeAddr::from(moved)]);
}

#[test]
fn candidate_queue_is_bounded_dropping_oldest() {
    let t0 = Instant::now();
    let mut d = DialScheduler::new(DialConfig {
        max_candidates: 3,
        ..config()
    });
    for n in 1..=5 {
        assert!(d.add_candidate(node(n), t0));
    }
    assert_eq!(d.candidate_count(), 3);
    // A duplicate keeps its place and takes the new endpoint.
    let moved = Enode {
        tcp: 4000,
        ..node(4)
    };
    assert!(d.add_candidate(moved, t0));
    assert_eq!(d.candidate_count(), 3);
    assert_eq!(
        d.poll_dials(t0),
        vec![node(3).into(), NodeAddr::from(moved), node(5).into()]
    );
}

#[test]
fn full_queue_drops_useless_candidates_first() {
    let t0 = Instant::now();
    let mut d = DialScheduler::new(DialConfig {
        max_candidates: 2,
        ..config()
    });
    d.add_candidate(node(1), t0);
    d.add_candidate(node(2), t0);
    d.peer_added(id(2), Direction::Inbound, t0);
    d.add_candidate(node(3), t0);
    assert_eq!(ids(&d.poll_dials(t0)), vec![id(1), id(3)]);
}

#[test]
fn zero_capacity_queue_takes_nothing() {
    let t0 = Instant::now();
    let mut d = DialScheduler::new(DialConfig {
        max_candidates: 0,
        ..config()
    });
    assert!(!d.add_candidate(node(1), t0));
    assert!(d.poll_dials(t0).is_empty());
}

#[test]
fn next_wakeup_reports_earliest_relevant_expiry() {
    let t0 = Instant::now();
    let mut d = DialScheduler::new(DialConfig {
        max_outbound: 1,
        ..config()
    });
    assert_eq!(d.next_wakeup(), None);

    // A candidate waiting for its history: wake at its expiry.
    d.add_candidate(node(1), t0);
    d.poll_dials(t0);
    d.dial_finished(&id(1), false, t0);
    // A history entry with no queued candidate wakes nobody.
    assert_eq!(d.next_wakeup(), None);
    d.add_candidate(node(1), t0 + SECOND);
    assert_eq!(d.next_wakeup(), Some(t0 + 35 * SECOND));

    // A failing static node with a nearer retry wins.
    d.add_static(node(2));
    d.poll_dials(t0 + 10 * SECOND);
    d.dial_finished(&id(2), false, t0 + 10 * SECOND);
    assert_eq!(d.next_wakeup(), Some(t0 + 11 * SECOND));

    // With the only outbound slot taken, the candidate's expiry is moot.
    d.remove_static(&id(2));
    d.peer_added(id(9), Direction::Outbound, t0 + 12 * SECOND);
    assert_eq!(d.next_wakeup(), None);
    d.peer_removed(&id(9), t0 + 13 * SECOND);
    assert_eq!(d.next_wakeup(), Some(t0 + 35 * SECOND));

    // A waiting static node that connected is no reason to wake.
    d.add_static(node(3));
    d.poll_dials(t0 + 14 * SECOND);
    d.dial_finished(&id(3), false, t0 + 14 * SECOND);
    assert_eq!(d.next_wakeup(), Some(t0 + 15 * SECOND));
    d.peer_added(id(3), Direction::Inbound, t0 + 14 * SECOND);
    assert_eq!(d.next_wakeup(), Some(t0 + 35 * SECOND));
}

#[test]
fn inbound_peers_are_connected_but_use_no_outbound_slot() {
    let t0 = Instant::now();
    let mut d = DialScheduler::new(DialConfig {
        max_outbound: 2,
        ..config()
    });
    for n in 1..=3 {
        assert!(d.peer_added(id(n), Direction::Inbound, t0));
    }
    assert!(!d.peer_added(id(1), Direction::Inbound, t0));
    assert_eq!(d.connected_count(), 3);
    assert_eq!(d.inbound_count(), 3);
    assert_eq!(d.outbound_count(), 0);
    assert!(d.is_connected(&id(2)));
    assert!(!d.add_candidate(node(2), t0));
    for n in 10..=12 {
        d.add_candidate(node(n), t0);
    }
    assert_eq!(ids(&d.poll_dials(t0)), vec![id(10), id(11)]);
}

#[test]
fn peer_added_before_dial_finished_is_counted_once() {
    let t0 = Instant::now();
    let mut d = DialScheduler::new(DialConfig {
        max_outbound: 2,
        ..config()
    });
    for n in 1..=3 {
        d.add_candidate(node(n), t0);
    }
    assert_eq!(d.poll_dials(t0).len(), 2);
    // Node 1's peer is registered while its dial is still running.
    d.peer_added(id(1), Direction::Outbound, t0);
    assert!(d.poll_dials(t0).is_empty());
    assert!(d.dial_finished(&id(1), true, t0));
    assert!(!d.dial_finished(&id(1), true, t0));
    assert!(d.poll_dials(t0).is_empty());
}

#[test]
fn unknown_events_are_ignored() {
    let t0 = Instant::now();
    let mut d = DialScheduler::new(config());
    assert!(!d.dial_finished(&id(1), false, t0));
    assert!(!d.peer_removed(&id(1), t0));
    assert!(!d.remove_static(&id(1)));
    assert!(d.poll_dials(t0).is_empty());
}

#[test]
fn huge_durations_do_not_panic() {
    let t0 = Instant::now();
    let mut d = DialScheduler::new(DialConfig {
        static_backoff: Duration::MAX,
        max_static_backoff: Duration::MAX,
        history_expiration: Duration::MAX,
        ..config()
    });
    d.add_static(node(1));
    d.add_candidate(node(2), t0);
    assert_eq!(d.poll_dials(t0).len(), 2);
    d.dial_finished(&id(1), false, t0);
    d.dial_finished(&id(2), false, t0);
    assert!(d.poll_dials(t0 + 1000 * SECOND).is_empty());
    assert!(d.next_wakeup().is_some_and(|t| t > t0));
}

/// Random events against the invariants every rule implies.
#[test]
fn random_events_keep_invariants() {
    for seed in 0..20 {
        let mut rng = StdRng::seed_from_u64(seed);
        let cfg = DialConfig {
            max_active_dials: rng.random_range(1..6),
            max_outbound: rng.random_range(0..5),
            max_candidates: rng.random_range(1..8),
            ..config()
        };
        let mut d = DialScheduler::new(cfg.clone());
        let t0 = Instant::now();
        let mut now = t0;
        let mut last_dynamic: HashMap<PeerId, Instant> = HashMap::new();
        for _ in 0..2000 {
            now += Duration::from_millis(rng.random_range(0..3000));
            let n = rng.random_range(0..12u16);
            match rng.random_range(0..7) {
                0 => {
                    d.add_static(node(n));
                }
                1 => {
                    d.remove_static(&id(n));
                }
                2 | 3 => {
                    d.add_candidate(node(n), now);
                }
                4 => {
                    let running: Vec<PeerId> = d.active_dials().map(|e| e.id()).collect();
                    if let Some(&done) = running.get(rng.random_range(0..running.len().max(1))) {
                        let ok = rng.random_bool(0.5);
                        d.dial_finished(&done, ok, now);
                        if ok && n != 0 {
                            d.peer_added(done, Direction::Outbound, now);
                        }
                    }
                }
                5 => {
                    if n != 0 {
                        d.peer_added(id(n), Direction::Inbound, now);
                    }
                }
                _ => {
                    d.peer_removed(&id(n), now);
                }
            }
            let before: Vec<PeerId> = d.active_dials().map(|e| e.id()).collect();
            let dials = d.poll_dials(now);
            for e in &dials {
                assert_ne!(e.id(), cfg.self_id);
                assert!(!before.contains(&e.id()), "dialed twice at once");
                assert!(!d.is_connected(&e.id()), "dialed a connected peer");
                if d.dial_kind(&e.id()) == Some(DialKind::Dynamic) {
                    if let Some(&last) = last_dynamic.get(&e.id()) {
                        assert!(now >= last + cfg.history_expiration, "history ignored");
                    }
                    last_dynamic.insert(e.id(), now);
                }
            }
            assert!(d.active_dial_count() <= cfg.max_active_dials);
            if dials
                .iter()
                .any(|e| d.dial_kind(&e.id()) == Some(DialKind::Dynamic))
            {
                assert!(d.outbound_count() + d.dynamic_dial_count() <= cfg.max_outbound);
            }
            if let Some(wake) = d.next_wakeup() {
                assert!(
                    wake > now,
                    "next_wakeup {wake:?} not after the poll at {now:?}"
                );
            }
        }
    }
}
