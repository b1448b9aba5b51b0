//! The rate limit's settings.

use serde::{Deserialize, Serialize};

use super::Rate;

/// What happens to a message that finds too few tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RateLimitPolicy {
    /// Hold it, and stop reading the connection, until the tokens have
    /// refilled: TCP back-pressure slows the peer down and nothing is lost.
    /// The default: an honest peer with a burst of traffic only slows down.
    #[default]
    Delay,
    /// Drop it and fail the read with [`RateLimitError::RateExceeded`](super::RateLimitError::RateExceeded), which
    /// ends the session.
    Disconnect,
}

/// Configuration of the inbound rate limit.
///
/// The defaults are ceilings against abuse, not traffic shaping: 1000
/// messages/s (burst 2000) and 16 MiB/s (burst 32 MiB, more than the largest
/// eth message go-ethereum accepts), delaying.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RateLimitConfig {
    /// The limit on messages; `None` for none.
    pub messages: Option<Rate>,
    /// The limit on payload bytes (decompressed); `None` for none.
    pub bytes: Option<Rate>,
    /// What to do with a message over the limit.
    pub policy: RateLimitPolicy,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            messages: Some(Rate::new(1_000, 2_000)),
            bytes: Some(Rate::new(16 << 20, 32 << 20)),
            policy: RateLimitPolicy::Delay,
        }
    }
}
