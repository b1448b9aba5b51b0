//! Connections that end before their session: each counted by stage and
//! reason in the metrics, and summed up in the log once a minute.
//!
//! A node under a flood of bad connections ends thousands a second; one
//! log line each would drown the log and cost more than the connections
//! themselves, so each is logged at debug level only, and an info line a
//! minute says how many ended and why. The metric labels come from closed
//! sets (stage names, refusal kinds, disconnect reasons, error variant
//! names), never from peer-controlled text.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use metrics::SharedString;
use tokio::sync::watch;
use tracing::{debug, info};

use super::connection::closed;
use crate::layers::filter::Refused;
use crate::layers::metrics::{connection_direction, reason_label, CONNECTIONS_ENDED_EARLY};
use crate::pipeline::{ConnectionEnd, Direction, HandshakeTimeout};

/// How often the log sums up the connections that ended early.
pub(super) const SUMMARY_INTERVAL: Duration = Duration::from_secs(60);

/// Counts of connections that ended before their session, by stage and
/// reason, since the last summary.
#[derive(Debug)]
pub(super) struct EarlyEnds {
    instance: SharedString,
    /// The server's counts since it started, which [`Server::stats`]
    /// reads.
    ///
    /// [`Server::stats`]: super::Server::stats
    stats: std::sync::Arc<super::stats::StatsCounters>,
    counts: Mutex<BTreeMap<(&'static str, String), u64>>,
}

impl EarlyEnds {
    /// Counts under the metrics `instance` label.
    pub fn new(instance: &str, stats: std::sync::Arc<super::stats::StatsCounters>) -> Self {
        EarlyEnds {
            instance: SharedString::from(instance.to_owned()),
            stats,
            counts: Mutex::new(BTreeMap::new()),
        }
    }

    /// Counts and logs (at debug level) one connection that ended before
    /// its session.
    pub fn record(&self, direction: Direction, end: &ConnectionEnd) {
        debug!(
            stage = %end.stage,
            side = ?end.side,
            reason = ?end.reason,
            error = end.error.as_ref().map(tracing::field::display),
            "connection ended before its session"
        );
        let reason = reason_of(end);
        metrics::counter!(
            CONNECTIONS_ENDED_EARLY,
            "instance" => self.instance.clone(),
            "direction" => connection_direction(direction),
            "stage" => end.stage.name(),
            "reason" => reason.clone(),
        )
        .increment(1);
        self.stats
            .ended_early(direction, end.stage.name(), reason.clone());
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        *counts.entry((end.stage.name(), reason)).or_default() += 1;
    }

    /// The counts since the last call, most frequent first.
    pub fn take(&self) -> Vec<(&'static str, String, u64)> {
        let counts =
            std::mem::take(&mut *self.counts.lock().unwrap_or_else(PoisonError::into_inner));
        let mut counts: Vec<_> = counts
            .into_iter()
            .map(|((stage, reason), n)| (stage, reason, n))
            .collect();
        counts.sort_by_key(|c| std::cmp::Reverse(c.2));
        counts
    }

    /// Logs a summary every [`SUMMARY_INTERVAL`] in which a connection
    /// ended early, until the server closes.
    pub async fn summarise(&self, closing: watch::Receiver<bool>) {
        let every = async {
            loop {
                tokio::time::sleep(SUMMARY_INTERVAL).await;
                let counts = self.take();
                if counts.is_empty() {
                    continue;
                }
                let total: u64 = counts.iter().map(|c| c.2).sum();
                let by_reason = counts
                    .iter()
                    .map(|(stage, reason, n)| format!("{stage}/{reason} {n}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                info!(total, %by_reason, "connections ended before their session in the last minute");
            }
        };
        tokio::select! {
            _ = every => {}
            _ = closed(closing) => {}
        }
    }
}

/// The `reason` label of a connection that ended early: a built-in
/// layer's refusal, the disconnect reason, a timeout, or the name of the
/// error's variant.
pub(super) fn reason_of(end: &ConnectionEnd) -> String {
    let error = end.error.as_ref();
    if let Some(refused) = error.and_then(|e| e.find::<Refused>()) {
        return refused.kind().to_owned();
    }
    if let Some(reason) = end.reason {
        // The specification's name, as a label: `too_many_peers`.
        return reason.name().replace(' ', "_");
    }
    if error.and_then(|e| e.find::<HandshakeTimeout>()).is_some() {
        return "timeout".to_owned();
    }
    match error {
        Some(error) => reason_label(&error.get()),
        None => "other".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::DisconnectReason;
    use crate::pipeline::{Side, Stage, StageError};

    #[test]
    fn reasons_name_the_refusal_the_disconnect_the_timeout_or_the_error() {
        let failed = |stage, err: tower::BoxError| {
            ConnectionEnd::failed(stage, Side::Local, StageError::new(err))
        };
        let evicted = failed(Stage::Setup, Box::new(Refused::Evicted));
        assert_eq!(reason_of(&evicted), "evicted");
        let full = ConnectionEnd::local(Stage::Admission, DisconnectReason::TooManyPeers);
        assert_eq!(reason_of(&full), "too_many_peers");
        let late = failed(
            Stage::Hello,
            Box::new(HandshakeTimeout(Duration::from_secs(5))),
        );
        assert_eq!(reason_of(&late), "timeout");
        let io = failed(Stage::Setup, Box::new(std::io::Error::other("reset")));
        assert_eq!(reason_of(&io), "Custom");
    }

    #[test]
    fn counts_are_taken_most_frequent_first_and_reset() {
        let ends = EarlyEnds::new("test", Default::default());
        let full = ConnectionEnd::local(Stage::Admission, DisconnectReason::TooManyPeers);
        let useless = ConnectionEnd::local(Stage::Checkpoint, DisconnectReason::UselessPeer);
        ends.record(Direction::Inbound, &useless);
        for _ in 0..3 {
            ends.record(Direction::Inbound, &full);
        }
        assert_eq!(
            ends.take(),
            vec![
                ("admission", "too_many_peers".to_owned(), 3),
                ("checkpoint", "useless_peer".to_owned(), 1)
            ]
        );
        assert!(ends.take().is_empty());
    }
}
