//! The crawl's progress line on a terminal: nodes found, checked and live,
//! and the rate at which they are checked. Hidden when standard error is not
//! a terminal; a summary line is written at the end either way.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use examples::crawl::{Checked, Crawl, CrawlStats};
use examples::nodeset::NodeSet;
use indicatif::{ProgressBar, ProgressStyle};

/// How often the line is redrawn.
const REDRAW_EVERY: Duration = Duration::from_millis(250);

/// A running progress line.
pub struct CrawlProgress {
    bar: ProgressBar,
    started: Instant,
    stats: Arc<CrawlStats>,
    ticker: tokio::task::JoinHandle<()>,
}

impl CrawlProgress {
    /// Runs `crawl` into `set` with a progress line.
    pub async fn run<N, L, LF, C, CF>(crawl: Crawl<N, L, C>, set: &mut NodeSet)
    where
        L: FnMut() -> LF,
        LF: Future<Output = Vec<N>>,
        C: Fn(N) -> CF,
        CF: Future<Output = Checked<N>>,
    {
        let stats = Arc::new(CrawlStats::default());
        let progress = CrawlProgress::start(stats.clone());
        crawl.run(set, &stats).await;
        progress.finish();
    }

    /// Starts redrawing the line from `stats`.
    fn start(stats: Arc<CrawlStats>) -> Self {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        let started = Instant::now();
        let ticker = tokio::spawn({
            let bar = bar.clone();
            let stats = stats.clone();
            async move {
                loop {
                    bar.set_message(line(&stats, started.elapsed()));
                    bar.tick();
                    tokio::time::sleep(REDRAW_EVERY).await;
                }
            }
        });
        CrawlProgress {
            bar,
            started,
            stats,
            ticker,
        }
    }

    /// Stops the line and prints the summary.
    fn finish(self) {
        self.ticker.abort();
        self.bar.finish_and_clear();
        eprintln!("{}", line(&self.stats, self.started.elapsed()));
    }
}

/// The progress in words.
fn line(stats: &CrawlStats, elapsed: Duration) -> String {
    let (found, checked, live) = stats.snapshot();
    let rate = checked as f64 / elapsed.as_secs_f64().max(0.001);
    format!("found {found}, checked {checked}, live {live} ({rate:.1} checked/s)")
}
