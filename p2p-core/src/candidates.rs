//! Mixing the candidate streams of several discovery mechanisms fairly.
//!
//! Each source of dial candidates (discovery v4, v5, a DNS tree, a static
//! list) is a [`Stream`] of nodes. [`FairMix`] merges any number of them into
//! one stream that takes from each in turn: a source that always has nodes
//! ready (a DNS tree read from a cache) cannot crowd out one that finds nodes
//! slowly (a lookup waiting on the network). Sources can be added while the
//! mix is being read, through a [`FairMixAdder`].

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::channel::mpsc;
use futures::stream::{BoxStream, Stream, StreamExt};

/// A stream that takes items from its sources in turn; see the module
/// documentation. It ends when every source has ended and every
/// [`FairMixAdder`] is dropped.
pub struct FairMix<T> {
    sources: Vec<BoxStream<'static, T>>,
    /// The source polled first next time: the one after the last to yield.
    next: usize,
    new_sources: mpsc::UnboundedReceiver<BoxStream<'static, T>>,
    adders_gone: bool,
}

/// Adds sources to a [`FairMix`]; cheap to clone.
pub struct FairMixAdder<T> {
    tx: mpsc::UnboundedSender<BoxStream<'static, T>>,
}

impl<T> Clone for FairMixAdder<T> {
    fn clone(&self) -> Self {
        FairMixAdder {
            tx: self.tx.clone(),
        }
    }
}

impl<T> std::fmt::Debug for FairMixAdder<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FairMixAdder").finish_non_exhaustive()
    }
}

impl<T: 'static> FairMixAdder<T> {
    /// Adds `source` to the mix. Returns `false` if the mix is gone.
    pub fn add<S>(&self, source: S) -> bool
    where
        S: Stream<Item = T> + Send + 'static,
    {
        self.tx.unbounded_send(source.boxed()).is_ok()
    }
}

impl<T> std::fmt::Debug for FairMix<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FairMix")
            .field("sources", &self.sources.len())
            .finish_non_exhaustive()
    }
}

impl<T> FairMix<T> {
    /// An empty mix and the adder that feeds it.
    pub fn new() -> (FairMix<T>, FairMixAdder<T>) {
        let (tx, new_sources) = mpsc::unbounded();
        let mix = FairMix {
            sources: Vec::new(),
            next: 0,
            new_sources,
            adders_gone: false,
        };
        (mix, FairMixAdder { tx })
    }

    /// The number of sources that have not ended (as of the last poll).
    pub fn source_count(&self) -> usize {
        self.sources.len()
    }
}

impl<T> Stream for FairMix<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = &mut *self;
        while !this.adders_gone {
            match this.new_sources.poll_next_unpin(cx) {
                Poll::Ready(Some(source)) => this.sources.push(source),
                Poll::Ready(None) => this.adders_gone = true,
                Poll::Pending => break,
            }
        }
        let mut tried = 0;
        while tried < this.sources.len() {
            let index = this.next % this.sources.len();
            match this.sources[index].poll_next_unpin(cx) {
                Poll::Ready(Some(item)) => {
                    this.next = index + 1;
                    return Poll::Ready(Some(item));
                }
                Poll::Ready(None) => {
                    // The source after it moves into its place: poll that
                    // index again, without counting a try.
                    drop(this.sources.remove(index));
                    this.next = index;
                }
                Poll::Pending => {
                    this.next = index + 1;
                    tried += 1;
                }
            }
        }
        if this.sources.is_empty() && this.adders_gone {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::stream;

    #[tokio::test]
    async fn takes_from_each_source_in_turn() {
        let (mut mix, adder) = FairMix::new();
        assert!(adder.add(stream::repeat('a')));
        assert!(adder.add(stream::repeat('b')));
        assert!(adder.add(stream::iter(['c', 'c'])));
        let first: String = (&mut mix).take(9).collect().await;
        // The finite source is used up in its turns, then the others
        // alternate.
        assert_eq!(first, "abcabcaba");
        assert_eq!(mix.source_count(), 2);
    }

    #[tokio::test]
    async fn a_slow_source_gets_its_items_through() {
        let (mut mix, adder) = FairMix::new();
        let (mut slow_tx, slow_rx) = mpsc::unbounded::<u32>();
        adder.add(stream::repeat(0u32));
        adder.add(slow_rx);
        assert_eq!(mix.next().await, Some(0));
        slow_tx.start_send(7).unwrap();
        // The busy source yielded last; the slow one is next in turn.
        assert_eq!(mix.next().await, Some(7));
        assert_eq!(mix.next().await, Some(0));
    }

    #[tokio::test]
    async fn ends_when_all_sources_and_adders_are_gone() {
        let (mix, adder) = FairMix::new();
        adder.add(stream::iter([1, 2]));
        let late = adder.clone();
        drop(adder);
        late.add(stream::iter([3]));
        drop(late);
        let all: Vec<i32> = mix.collect().await;
        assert_eq!(all, vec![1, 3, 2]);
    }
}
