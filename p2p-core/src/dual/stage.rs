//! The encryption stage of a [`DualNetwork`](super::DualNetwork): each raw
//! connection to its own transport's stage.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::future::Either;
use tower::{BoxError, Service, ServiceExt};

use super::conn::EitherConn;
use crate::pipeline::{Authenticated, Connecting};

/// Two encryption stages as one: `Connecting<Either<IoA, IoB>>` in,
/// `Authenticated<EitherConn<CA, CB>>` out. Errors are boxed with their
/// types intact, so [`StageError::find`](crate::StageError::find) still
/// reaches the transport's own error.
#[derive(Clone, Debug)]
pub struct DualStage<A, B> {
    first: A,
    second: B,
}

impl<A, B> DualStage<A, B> {
    /// `first` for the first network's connections, `second` for the
    /// second's.
    pub fn new(first: A, second: B) -> Self {
        DualStage { first, second }
    }
}

type StageFuture<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>>;

impl<A, B, IoA, IoB, CA, CB> Service<Connecting<Either<IoA, IoB>>> for DualStage<A, B>
where
    A: Service<Connecting<IoA>, Response = Authenticated<CA>> + Clone + Send + 'static,
    A::Error: Into<BoxError>,
    A::Future: Send,
    B: Service<Connecting<IoB>, Response = Authenticated<CB>> + Clone + Send + 'static,
    B::Error: Into<BoxError>,
    B::Future: Send,
    IoA: Send + 'static,
    IoB: Send + 'static,
    CA: Send + 'static,
    CB: Send + 'static,
{
    type Response = Authenticated<EitherConn<CA, CB>>;
    type Error = BoxError;
    type Future = StageFuture<Self::Response>;

    /// Always ready: each call readies its own stage (a clone), so a busy
    /// stage of one transport does not hold the other's connections.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Connecting<Either<IoA, IoB>>) -> Self::Future {
        let (io, req) = req.swap_io(());
        match io {
            Either::Left(io) => {
                authenticate(self.first.clone(), req.swap_io(io).1, EitherConn::First)
            }
            Either::Right(io) => {
                authenticate(self.second.clone(), req.swap_io(io).1, EitherConn::Second)
            }
        }
    }
}

/// Runs `stage` on `req` and wraps the connection it gives with `wrap`.
fn authenticate<S, Io, C, D>(
    stage: S,
    req: Connecting<Io>,
    wrap: fn(C) -> D,
) -> StageFuture<Authenticated<D>>
where
    S: Service<Connecting<Io>, Response = Authenticated<C>> + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
    Io: Send + 'static,
    C: 'static,
    D: 'static,
{
    Box::pin(async move {
        let done = stage.oneshot(req).await.map_err(Into::into)?;
        Ok(done.map_conn(wrap))
    })
}
