//! The datagram socket discovery runs on.
//!
//! Discovery needs only "send one datagram" and "receive one datagram", so the
//! service is generic over this small trait instead of being tied to
//! [`tokio::net::UdpSocket`]. That lets tests wrap a real socket to drop or
//! count packets ([`crate::testing`]) and lets an embedding application hand in
//! a socket it configured itself (buffer sizes, `SO_REUSEPORT`, ...).

use std::future::Future;
use std::io;
use std::net::SocketAddr;

/// A connectionless datagram socket, as UDP is.
///
/// Both methods take `&self`: the discovery task receives and sends from the
/// same socket without exclusive access, as a UDP socket allows.
pub trait DatagramSocket: Send + Sync + 'static {
    /// Sends `datagram` to `target`; returns the number of bytes sent.
    fn send_to(
        &self,
        datagram: &[u8],
        target: SocketAddr,
    ) -> impl Future<Output = io::Result<usize>> + Send;

    /// Receives one datagram into `buf`; returns its length and sender. A
    /// datagram longer than `buf` is truncated, as with UDP.
    fn recv_from(
        &self,
        buf: &mut [u8],
    ) -> impl Future<Output = io::Result<(usize, SocketAddr)>> + Send;

    /// The address the socket is bound to.
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

impl DatagramSocket for tokio::net::UdpSocket {
    fn send_to(
        &self,
        datagram: &[u8],
        target: SocketAddr,
    ) -> impl Future<Output = io::Result<usize>> + Send {
        tokio::net::UdpSocket::send_to(self, datagram, target)
    }

    fn recv_from(
        &self,
        buf: &mut [u8],
    ) -> impl Future<Output = io::Result<(usize, SocketAddr)>> + Send {
        tokio::net::UdpSocket::recv_from(self, buf)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        tokio::net::UdpSocket::local_addr(self)
    }
}
