//! The encryption stage of QUIC: completes the TLS handshake of a raw
//! connection, reads the proven node id from the peer's certificate and
//! opens the message stream.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use p2p_core::pipeline::Direction;
use p2p_core::{Authenticated, Connecting};
use rustls::pki_types::CertificateDer;
use tower::Service;

use crate::config::StreamMode;
use crate::conn::QuicConn;
use crate::error::{IdentityMismatch, QuicError};
use crate::identity;
use crate::network::{Pending, QuicIo};

/// The first byte of the message stream, written by the dialer that opens
/// it. QUIC announces a stream only when data is sent on it, and a header
/// also tells this stream from the streams other modes open.
pub(crate) const MESSAGE_STREAM: u8 = 0x00;

/// The QUIC application error code a connection is closed with when the
/// dialed node proved another identity.
pub const CLOSE_UNEXPECTED_IDENTITY: u32 = 0x10;

/// The QUIC encryption stage: `Service<Connecting<QuicIo>>` giving an
/// [`Authenticated`] [`QuicConn`], as `RlpxTransport` gives an RLPx one.
#[derive(Clone, Debug)]
pub struct QuicHandshake {
    max_message: usize,
    mode: StreamMode,
}

impl QuicHandshake {
    pub(crate) fn new(max_message: usize, mode: StreamMode) -> Self {
        QuicHandshake { max_message, mode }
    }
}

impl Service<Connecting<QuicIo>> for QuicHandshake {
    type Response = Authenticated<QuicConn>;
    type Error = QuicError;
    type Future = Pin<Box<dyn Future<Output = Result<Authenticated<QuicConn>, QuicError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), QuicError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Connecting<QuicIo>) -> Self::Future {
        let (max_message, mode) = (self.max_message, self.mode);
        Box::pin(async move {
            let connection = handshake(req.io).await?;
            let remote_id = remote_id(&connection)?;
            if let Some(expected) = req.expected {
                if expected != remote_id {
                    connection.close(CLOSE_UNEXPECTED_IDENTITY.into(), b"unexpected identity");
                    return Err(QuicError::UnexpectedIdentity(Box::new(IdentityMismatch {
                        expected,
                        actual: remote_id,
                    })));
                }
            }
            let (send, recv) = message_stream(&connection, req.direction).await?;
            Ok(Authenticated {
                conn: QuicConn::new(connection, send, recv, remote_id, max_message, mode),
                remote_addr: req.remote_addr,
                direction: req.direction,
                guards: req.guards,
            })
        })
    }
}

/// Runs the TLS handshake; the verifiers check the certificates in it.
async fn handshake(io: QuicIo) -> Result<quinn::Connection, QuicError> {
    Ok(match io.0 {
        Pending::Incoming(incoming) => (*incoming).accept()?.await?,
        Pending::Dialing(connecting) => connecting.await?,
    })
}

/// The node id the peer's certificate proves (the verifier accepted it, so
/// this cannot fail but for a connection without a certificate).
pub(crate) fn remote_id(connection: &quinn::Connection) -> Result<p2p_core::PeerId, QuicError> {
    let certs = connection
        .peer_identity()
        .and_then(|identity| identity.downcast::<Vec<CertificateDer<'static>>>().ok())
        .ok_or(identity::CertError::Malformed)?;
    let cert = certs.first().ok_or(identity::CertError::Malformed)?;
    Ok(identity::peer_id(cert)?)
}

/// Opens (dialer) or accepts (listener) the message stream.
async fn message_stream(
    connection: &quinn::Connection,
    direction: Direction,
) -> Result<(quinn::SendStream, quinn::RecvStream), QuicError> {
    match direction {
        Direction::Outbound => {
            let (mut send, recv) = connection.open_bi().await?;
            send.write_all(&[MESSAGE_STREAM])
                .await
                .map_err(|err| QuicError::Stream(err.into()))?;
            Ok((send, recv))
        }
        Direction::Inbound => {
            let (send, mut recv) = connection.accept_bi().await?;
            let mut header = [0u8; 1];
            recv.read_exact(&mut header)
                .await
                .map_err(|_| QuicError::NoStream)?;
            match header[0] {
                MESSAGE_STREAM => Ok((send, recv)),
                other => Err(QuicError::StreamHeader(other)),
            }
        }
    }
}
