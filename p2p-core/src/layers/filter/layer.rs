//! The peer filter's configuration, layer and service.

use std::net::IpAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use serde::{Deserialize, Serialize};
use tower::{Layer, Service};

use super::{
    subnet_of, FilterError, NetRestrict, Refused, ResponseFuture, SubnetCounter, SubnetLimits,
    SubnetSlot,
};
use crate::pipeline::Connecting;

/// Configuration of the peer filter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PeerFilterConfig {
    /// The networks peers must be in; empty (the default) admits all.
    pub netrestrict: NetRestrict,
    /// Connections per subnet.
    pub subnets: SubnetLimits,
}

/// Applies [`PeerFilter`] to a setup pipeline.
///
/// Clones, and every service the layer builds, share one [`SubnetCounter`].
#[derive(Clone, Debug)]
pub struct PeerFilterLayer {
    netrestrict: Arc<NetRestrict>,
    counter: SubnetCounter,
}

impl PeerFilterLayer {
    /// A layer with a fresh subnet counter.
    pub fn new(config: PeerFilterConfig) -> Self {
        PeerFilterLayer {
            netrestrict: Arc::new(config.netrestrict),
            counter: SubnetCounter::new(config.subnets),
        }
    }

    /// The shared subnet counter (for metrics, or to count connections made
    /// outside the pipeline).
    pub fn counter(&self) -> &SubnetCounter {
        &self.counter
    }
}

impl<S> Layer<S> for PeerFilterLayer {
    type Service = PeerFilter<S>;

    fn layer(&self, inner: S) -> PeerFilter<S> {
        PeerFilter {
            inner,
            netrestrict: Arc::clone(&self.netrestrict),
            counter: self.counter.clone(),
        }
    }
}

/// Refuses connections outside the netrestrict list or from a full subnet
/// before the wrapped service reads a byte; admitted connections carry their
/// [`SubnetSlot`] in [`Connecting::guards`].
///
/// `poll_ready` is the wrapped service's. A refusal does not use the readiness
/// it obtained; tower keeps it for the next call, so nothing leaks (a
/// `ConcurrencyLimit` permit, say, serves the next connection).
#[derive(Clone, Debug)]
pub struct PeerFilter<S> {
    inner: S,
    netrestrict: Arc<NetRestrict>,
    counter: SubnetCounter,
}

impl<S> PeerFilter<S> {
    /// Wraps `inner` with a fresh subnet counter.
    pub fn new(inner: S, config: PeerFilterConfig) -> Self {
        PeerFilterLayer::new(config).layer(inner)
    }

    /// The shared subnet counter.
    pub fn counter(&self) -> &SubnetCounter {
        &self.counter
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the wrapped service.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// Runs both checks; on success, the slot to keep for the connection.
    fn admit(&self, ip: IpAddr) -> Result<SubnetSlot, Refused> {
        let ip = ip.to_canonical();
        if !self.netrestrict.allows(ip) {
            return Err(Refused::NetRestrict { ip });
        }
        self.counter.try_acquire(ip).ok_or_else(|| {
            let limits = self.counter.limits();
            Refused::SubnetFull {
                subnet: subnet_of(ip),
                limit: if ip.is_ipv4() {
                    limits.max_per_ipv4_24
                } else {
                    limits.max_per_ipv6_64
                },
            }
        })
    }
}

impl<S, Io> Service<Connecting<Io>> for PeerFilter<S>
where
    S: Service<Connecting<Io>>,
{
    type Response = S::Response;
    type Error = FilterError<S::Error>;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(FilterError::Inner)
    }

    fn call(&mut self, mut conn: Connecting<Io>) -> Self::Future {
        match self.admit(conn.remote_addr.ip()) {
            Ok(slot) => {
                // An uncounted slot holds nothing worth boxing.
                if slot.subnet().is_some() {
                    conn.guards.push(slot);
                }
                ResponseFuture::inner(self.inner.call(conn))
            }
            Err(reason) => {
                tracing::debug!(
                    remote = %conn.remote_addr,
                    direction = ?conn.direction,
                    %reason,
                    "peer filter refused connection"
                );
                ResponseFuture::refused(reason)
            }
        }
    }
}
