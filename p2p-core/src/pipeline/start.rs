//! When a connection's handshake starts to cost work.
//!
//! A layer that limits handshakes in progress (the pending table) wants to
//! count only connections that make the node work: a peer that has
//! connected and sent nothing, or is trickling its first message a byte at
//! a time, costs a socket and a parked task, not a key agreement. Only the
//! encryption stage knows when its first message is complete, so it says
//! so through the [`StartSignal`] the connection carries: it calls
//! [`defer`](StartSignal::defer) when it takes the connection ("I will tell
//! you") and [`started`](StartSignal::started) when the work begins. A stage
//! that does neither is taken to start working with the peer's first bytes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

/// The stage's end of the signal, carried in
/// [`Connecting::start`](crate::Connecting::start). Without a layer
/// listening (the default), both calls do nothing.
#[derive(Clone, Debug, Default)]
pub struct StartSignal(Option<Arc<Shared>>);

/// The layer's end: learns whether and when the stage started working.
#[derive(Debug)]
pub struct StartWatch(Arc<Shared>);

#[derive(Debug, Default)]
struct Shared {
    deferred: AtomicBool,
    started: AtomicBool,
    notify: Notify,
}

impl StartSignal {
    /// A connected pair: the signal goes with the connection, the watch
    /// stays with the layer.
    pub fn pair() -> (StartSignal, StartWatch) {
        let shared = Arc::new(Shared::default());
        (StartSignal(Some(shared.clone())), StartWatch(shared))
    }

    /// Says that this stage will call [`started`](Self::started) itself,
    /// once its work begins. Call it before the first `.await` of the
    /// stage's future (in `Service::call`, say).
    pub fn defer(&self) {
        if let Some(shared) = &self.0 {
            shared.deferred.store(true, Ordering::Release);
        }
    }

    /// Says that the handshake's work begins now.
    pub fn started(&self) {
        if let Some(shared) = &self.0 {
            shared.started.store(true, Ordering::Release);
            shared.notify.notify_waiters();
        }
    }
}

impl StartWatch {
    /// Resolves when the work has started: at once if the stage did not
    /// [`defer`](StartSignal::defer) (its first bytes are its start), else
    /// when it signals [`started`](StartSignal::started). Poll it only after
    /// the stage's future has been polled once, so that a deferral is seen.
    pub async fn started(&self) {
        loop {
            let notified = self.0.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let shared = &self.0;
            if !shared.deferred.load(Ordering::Acquire) || shared.started.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_stage_that_does_not_defer_has_started() {
        let (_signal, watch) = StartSignal::pair();
        tokio::time::timeout(Duration::from_secs(1), watch.started())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_deferring_stage_starts_when_it_says_so() {
        let (signal, watch) = StartSignal::pair();
        signal.defer();
        let waiting = tokio::time::timeout(Duration::from_millis(20), watch.started()).await;
        assert!(waiting.is_err(), "started before the signal");
        let later = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            signal.started();
        });
        tokio::time::timeout(Duration::from_secs(1), watch.started())
            .await
            .unwrap();
        later.await.unwrap();
        // Once started, it stays started.
        tokio::time::timeout(Duration::from_secs(1), watch.started())
            .await
            .unwrap();
    }

    #[test]
    fn without_a_watch_the_signal_does_nothing() {
        let signal = StartSignal::default();
        signal.defer();
        signal.started();
    }
}
