//! Latencies recorded by many tasks at once, read as percentiles.

use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;

/// A histogram of durations in microseconds, from 1 µs to 10 minutes at
/// three significant digits, shared by every task of a run.
pub struct Latencies(Mutex<Histogram<u64>>);

impl Default for Latencies {
    fn default() -> Self {
        let histogram = Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid bounds");
        Latencies(Mutex::new(histogram))
    }
}

impl Latencies {
    /// Records one duration (clamped to the histogram's range).
    pub fn record(&self, took: Duration) {
        let micros = (took.as_micros() as u64).clamp(1, 600_000_000);
        let mut histogram = self.0.lock().unwrap_or_else(|e| e.into_inner());
        histogram.saturating_record(micros);
    }

    /// How many durations were recorded.
    pub fn count(&self) -> u64 {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// The duration at quantile `q` (0 to 1), or zero when nothing was recorded.
    pub fn quantile(&self, q: f64) -> Duration {
        let histogram = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if histogram.is_empty() {
            return Duration::ZERO;
        }
        Duration::from_micros(histogram.value_at_quantile(q))
    }

    /// `p50 / p99 / max` in milliseconds, for a report.
    pub fn summary(&self) -> String {
        if self.count() == 0 {
            return "none".into();
        }
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        format!(
            "{:.2} / {:.2} / {:.1} ms",
            ms(self.quantile(0.5)),
            ms(self.quantile(0.99)),
            ms(self.quantile(1.0))
        )
    }
}
