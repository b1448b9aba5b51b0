//! A token bucket, free of I/O.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// One token in the bucket's fixed-point unit: with this scale, one
/// nanosecond refills exactly `per_second` units, so refill and wait times
/// are computed without rounding.
const UNITS_PER_TOKEN: i128 = 1_000_000_000;

/// A sustained rate and the burst allowed above it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rate {
    /// Tokens refilled per second (messages or bytes). Zero is taken as one:
    /// a bucket that never refills would stall the peer forever.
    pub per_second: u64,
    /// The bucket's capacity: how many tokens a peer idle long enough may
    /// spend at once. Zero is taken as one, the least that admits anything.
    pub burst: u64,
}

impl Rate {
    /// `per_second` sustained, up to `burst` at once.
    pub const fn new(per_second: u64, burst: u64) -> Self {
        Rate { per_second, burst }
    }
}

/// A token bucket with an explicit clock, so that it can be tested without
/// waiting.
///
/// It starts full. A cost larger than the capacity is admitted once the bucket
/// is full and leaves it in debt, so that a single large message is neither
/// refused forever nor a way around the sustained rate. `now` is expected not
/// to go backwards; if it does, nothing refills until it has caught up.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    per_second: u64,
    capacity: u64,
    /// The content in `UNITS_PER_TOKEN`ths of a token; negative in debt.
    level: i128,
    /// When `level` was last brought up to date.
    last: Instant,
}

impl TokenBucket {
    /// A full bucket for `rate`, as of `now`.
    pub fn new(rate: Rate, now: Instant) -> Self {
        let capacity = rate.burst.max(1);
        TokenBucket {
            per_second: rate.per_second.max(1),
            capacity,
            level: i128::from(capacity) * UNITS_PER_TOKEN,
            last: now,
        }
    }

    /// The rate in effect (zeros raised to one).
    pub fn rate(&self) -> Rate {
        Rate::new(self.per_second, self.capacity)
    }

    /// The whole tokens available at `now`; negative while in debt.
    pub fn tokens(&mut self, now: Instant) -> i64 {
        self.refill(now);
        let whole = self.level.div_euclid(UNITS_PER_TOKEN);
        i64::try_from(whole).unwrap_or(if whole < 0 { i64::MIN } else { i64::MAX })
    }

    /// How long until `cost` can be taken: zero if it can be now.
    pub fn wait_time(&mut self, cost: u64, now: Instant) -> Duration {
        self.refill(now);
        let need = i128::from(cost.min(self.capacity)) * UNITS_PER_TOKEN;
        if self.level >= need {
            return Duration::ZERO;
        }
        let rate = i128::from(self.per_second);
        // Rounded up: waking a nanosecond early would find the bucket short.
        let nanos = (need - self.level + rate - 1) / rate;
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// Takes `cost` tokens if they are there at `now`; otherwise takes nothing
    /// and tells how long until they will be.
    pub fn try_take(&mut self, cost: u64, now: Instant) -> Result<(), Duration> {
        match self.wait_time(cost, now) {
            Duration::ZERO => {
                self.take(cost, now);
                Ok(())
            }
            wait => Err(wait),
        }
    }

    /// Takes `cost` tokens whether or not they are there, going into debt if
    /// needed.
    pub fn take(&mut self, cost: u64, now: Instant) {
        self.refill(now);
        self.level = self
            .level
            .saturating_sub(i128::from(cost) * UNITS_PER_TOKEN);
    }

    fn refill(&mut self, now: Instant) {
        let Some(elapsed) = now.checked_duration_since(self.last) else {
            return;
        };
        self.last = now;
        let full = i128::from(self.capacity) * UNITS_PER_TOKEN;
        if self.level >= full {
            return;
        }
        let rate = i128::from(self.per_second);
        // Compare times rather than multiply first: a long idle period times
        // a high rate could overflow even an i128.
        let to_full = (full - self.level + rate - 1) / rate;
        let elapsed = i128::try_from(elapsed.as_nanos()).unwrap_or(i128::MAX);
        self.level = if elapsed >= to_full {
            full
        } else {
            self.level + elapsed * rate
        };
    }
}
