//! Turning repeated lookups into a stream of dial candidates.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::time::Duration;

use futures::stream::Stream;
use p2p_core::{NodeAddr, PeerId};
use tokio::time::Instant;

/// A node found again within this time is not yielded again: the dial
/// scheduler keeps its own history; this only spares it a flood of repeats
/// from a small network.
pub const REYIELD_AFTER: Duration = Duration::from_secs(60);
/// The longest pause between lookups that find nothing new.
pub const MAX_IDLE_WAIT: Duration = Duration::from_secs(30);
/// The first pause after a lookup that found nothing new; it doubles up to
/// [`MAX_IDLE_WAIT`] while lookups keep finding nothing.
pub const MIN_IDLE_WAIT: Duration = Duration::from_millis(500);

/// An endless stream of the nodes that repeated calls of `lookup` find, each
/// yielded at most once per [`REYIELD_AFTER`] and only if it has a port to
/// dial: a TCP port, or a record (whose ports the transports read). `lookup` returns `None` when its service is gone,
/// which ends the stream.
///
/// The stream runs a lookup only when polled with nothing buffered, so a
/// consumer that stops asking stops the lookups. When a lookup yields nothing
/// new, the next one waits, longer each time, instead of flooding a small
/// network with requests.
pub fn random_walk<F, Fut>(lookup: F) -> impl Stream<Item = NodeAddr> + Send + 'static
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Option<Vec<NodeAddr>>> + Send,
{
    struct Walk<F> {
        lookup: F,
        buffer: VecDeque<NodeAddr>,
        yielded: HashMap<PeerId, Instant>,
        idle_wait: Duration,
    }
    let walk = Walk {
        lookup,
        buffer: VecDeque::new(),
        yielded: HashMap::new(),
        idle_wait: Duration::ZERO,
    };
    futures::stream::unfold(walk, |mut walk| async move {
        loop {
            if let Some(node) = walk.buffer.pop_front() {
                return Some((node, walk));
            }
            if !walk.idle_wait.is_zero() {
                tokio::time::sleep(walk.idle_wait).await;
            }
            let found = (walk.lookup)().await?;
            let now = Instant::now();
            walk.yielded
                .retain(|_, at| now.duration_since(*at) < REYIELD_AFTER);
            for node in found {
                let dialable = node.tcp_addr().is_some() || node.record().is_some();
                if !dialable || walk.yielded.contains_key(&node.id()) {
                    continue;
                }
                walk.yielded.insert(node.id(), now);
                walk.buffer.push_back(node);
            }
            walk.idle_wait = if walk.buffer.is_empty() {
                (walk.idle_wait * 2).clamp(MIN_IDLE_WAIT, MAX_IDLE_WAIT)
            } else {
                Duration::ZERO
            };
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use p2p_core::NodeKey;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn node(tcp: u16) -> NodeAddr {
        p2p_core::Enode::new(NodeKey::random().id(), "127.0.0.1".parse().unwrap(), tcp, 1).into()
    }

    #[tokio::test(start_paused = true)]
    async fn yields_dialable_nodes_once_and_backs_off_when_nothing_is_new() {
        let a = node(30303);
        let b = node(30304);
        let undialable = node(0);
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let (a_found, b_found) = (a.clone(), b.clone());
        let stream = random_walk(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            let found = vec![
                a_found.clone(),
                b_found.clone(),
                undialable.clone(),
                a_found.clone(),
            ];
            async move { Some(found) }
        });
        let mut stream = std::pin::pin!(stream);
        assert_eq!(stream.next().await, Some(a));
        assert_eq!(stream.next().await, Some(b));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // Nothing new: the lookups go on, but spaced out. In 20 s of (paused,
        // auto-advancing) time, with waits of 0.5, 1, 2, 4, 8 s, ...
        let next = tokio::time::timeout(Duration::from_secs(20), stream.next()).await;
        assert!(next.is_err(), "nothing new must be yielded");
        let made = calls.load(Ordering::SeqCst);
        assert!((5..=7).contains(&made), "{made} lookups in 20 s");
        // After a minute the same nodes count as new again.
        tokio::time::sleep(REYIELD_AFTER).await;
        assert!(stream.next().await.is_some());
    }

    #[tokio::test]
    async fn ends_when_the_service_is_gone() {
        let stream = random_walk(|| async { None });
        assert_eq!(stream.collect::<Vec<_>>().await, Vec::new());
    }
}
