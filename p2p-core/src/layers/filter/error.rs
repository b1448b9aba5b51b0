//! What a filtering layer refuses with, and its future.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use ipnet::IpNet;
use pin_project::pin_project;

/// Why a layer of the setup pipeline refused a connection.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The address is outside every network of the configured netrestrict list.
    #[error("{ip} is outside the networks allowed by netrestrict")]
    NetRestrict {
        /// The remote address (IPv4-mapped addresses as IPv4).
        ip: IpAddr,
    },
    /// The remote's subnet already holds as many connections as allowed.
    #[error("subnet {subnet} already holds its limit of {limit} connections")]
    SubnetFull {
        /// The /24 or /64 the remote belongs to.
        subnet: IpNet,
        /// The configured limit for that subnet.
        limit: usize,
    },
    /// The remote already tried to connect within the inbound throttle window.
    #[error("{ip} tried to connect again within the inbound throttle window")]
    Throttled {
        /// The remote address (IPv4-mapped addresses as IPv4).
        ip: IpAddr,
    },
    /// The remote address already has as many handshakes in progress as
    /// allowed.
    #[error("{ip} already has its limit of {limit} handshakes in progress")]
    PendingPerIp {
        /// The remote address (IPv4-mapped addresses as IPv4).
        ip: IpAddr,
        /// The configured limit.
        limit: usize,
    },
    /// The remote's subnet already has as many handshakes in progress as
    /// allowed.
    #[error("subnet {subnet} already has its limit of {limit} handshakes in progress")]
    PendingPerSubnet {
        /// The /24 or /64 the remote belongs to.
        subnet: IpNet,
        /// The configured limit.
        limit: usize,
    },
    /// The handshake was dropped for a newer connection: the table of
    /// handshakes in progress was full and this was its oldest entry.
    #[error("dropped for a newer connection: too many handshakes in progress")]
    Evicted,
}

impl Refused {
    /// A short name of the kind of refusal, for logs and metric labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Refused::NetRestrict { .. } => "netrestrict",
            Refused::SubnetFull { .. } => "subnet_full",
            Refused::Throttled { .. } => "throttled",
            Refused::PendingPerIp { .. } => "pending_per_ip",
            Refused::PendingPerSubnet { .. } => "pending_per_subnet",
            Refused::Evicted => "evicted",
        }
    }
}

/// The error of a filtering layer: either the layer refused the connection
/// (and the wrapped service never saw it), or the wrapped service failed.
///
/// A wrapper enum rather than a `From<Refused>` bound on the inner error, so
/// that any service can be filtered unchanged and the caller can tell a cheap
/// policy refusal (nothing to log loudly, no Disconnect to send: not a byte was
/// exchanged) from a real failure further down. Stacking two filtering layers
/// nests the type; [`FilterError::flatten`] undoes that.
#[derive(Debug, thiserror::Error)]
pub enum FilterError<E> {
    /// The layer refused the connection before the wrapped service saw it.
    // Not `#[source]`: the reason is already in the message, and error-chain
    // printers would otherwise repeat it.
    #[error("connection refused: {0}")]
    Refused(Refused),
    /// The wrapped service failed.
    #[error(transparent)]
    Inner(E),
}

impl<E> FilterError<E> {
    /// The refusal, if this is one.
    pub fn refused(&self) -> Option<&Refused> {
        match self {
            FilterError::Refused(reason) => Some(reason),
            FilterError::Inner(_) => None,
        }
    }

    /// The wrapped service's error, if this is one.
    pub fn into_inner(self) -> Option<E> {
        match self {
            FilterError::Refused(_) => None,
            FilterError::Inner(err) => Some(err),
        }
    }
}

impl<E> FilterError<FilterError<E>> {
    /// Merges the errors of two stacked filtering layers into one level, e.g.
    /// `ServiceBuilder::new().map_err(FilterError::flatten).layer(filter).layer(throttle)`.
    pub fn flatten(self) -> FilterError<E> {
        match self {
            FilterError::Refused(reason) | FilterError::Inner(FilterError::Refused(reason)) => {
                FilterError::Refused(reason)
            }
            FilterError::Inner(FilterError::Inner(err)) => FilterError::Inner(err),
        }
    }
}

impl<E> From<Refused> for FilterError<E> {
    fn from(reason: Refused) -> Self {
        FilterError::Refused(reason)
    }
}

/// The future of a filtering layer: an immediate refusal, or the wrapped
/// service's future with its error wrapped in [`FilterError::Inner`].
#[pin_project]
#[derive(Debug)]
pub struct ResponseFuture<F> {
    #[pin]
    state: State<F>,
}

#[pin_project(project = StateProj)]
#[derive(Debug)]
enum State<F> {
    // An `Option` so the reason can be moved out on the one poll that
    // completes the future.
    Refused(Option<Refused>),
    Inner(#[pin] F),
}

impl<F> ResponseFuture<F> {
    /// A future that fails at once with `reason`.
    pub fn refused(reason: Refused) -> Self {
        ResponseFuture {
            state: State::Refused(Some(reason)),
        }
    }

    /// A future that resolves as `future` does.
    pub fn inner(future: F) -> Self {
        ResponseFuture {
            state: State::Inner(future),
        }
    }
}

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, FilterError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Refused(reason) => Poll::Ready(Err(FilterError::Refused(
                reason
                    .take()
                    .expect("ResponseFuture polled after completion"),
            ))),
            StateProj::Inner(future) => future.poll(cx).map_err(FilterError::Inner),
        }
    }
}
