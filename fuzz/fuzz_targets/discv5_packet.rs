//! discv5 datagrams sent to a running node: our `Discv5Service` (the discv5
//! crate behind it) on a loopback socket, as a hostile sender reaches it.
//!
//! The discv5 crate keeps its packet decoder private, so the target goes
//! through the socket, the crate's real entry point: it sends the fuzz
//! datagram, then a message packet from a fresh node id, which a node without
//! a session answers with WHOAREYOU. Packets are handled in order, so the
//! answer shows the fuzz datagram was handled before the next input; a panic
//! in any of the node's tasks aborts the run. A node that stops answering
//! fails the run.
//!
//! The first input byte picks a mode:
//! - even `raw`: the rest is the datagram as it goes on the wire. The header
//!   is masked with the recipient's id, so random bytes rarely get past the
//!   protocol-id check;
//! - odd `masked`: the rest is the plaintext: a 16-byte masking IV, the flag,
//!   the 12-byte nonce, the authdata size, then authdata and message bytes.
//!   The harness masks the header with the node's id as a real sender does,
//!   so the authdata parsers behind it (WHOAREYOU, the handshake's signature,
//!   ephemeral key and node record) see fuzz-chosen content.
//!
//! The node's key is node B's of the discv5 wire test vectors, so the spec's
//! packets (the seeds) are addressed to it.
#![no_main]

use std::net::{SocketAddr, UdpSocket};
use std::sync::OnceLock;
use std::time::Duration;

use aes::cipher::{KeyIvInit, StreamCipher};
use libfuzzer_sys::fuzz_target;
use p2p_discovery::v5::{Discv5Config, Discv5Service};

const IV_LENGTH: usize = 16;
/// Message packets (flag 0) carry the sender's node id as their authdata.
const FLAG_MESSAGE: u8 = 0;
/// A WHOAREYOU answer is 63 bytes; a datagram of that size is the answer.
const WHOAREYOU_SIZE: usize = 63;
/// How long the node may take to answer before the run counts as a hang.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// Node B of the discv5 wire test vectors.
const NODE_B_KEY: &str = "66fb62bfbd66b9177a138c1e5cddbe4f7c30c343e94e68df8769459cb1cde628";

struct Harness {
    node: SocketAddr,
    node_id: [u8; 32],
    sender: UdpSocket,
    _runtime: tokio::runtime::Runtime,
    _service: Discv5Service,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let key = p2p_fuzz::node_key(NODE_B_KEY);
        let port = UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .expect("a free loopback port")
            .port();
        let node = SocketAddr::from(([127, 0, 0, 1], port));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let config = Discv5Config {
            listen: node,
            ..Discv5Config::default()
        };
        let service = runtime
            .block_on(Discv5Service::start(&key, config))
            .expect("discv5 starts on loopback");
        let node_id = service.local_enr().node_id().raw();
        let sender = UdpSocket::bind("127.0.0.1:0").expect("sender socket");
        sender.set_read_timeout(Some(ANSWER_TIMEOUT)).unwrap();
        Harness {
            node,
            node_id,
            sender,
            _runtime: runtime,
            _service: service,
        }
    })
}

/// Masks (or unmasks: it is a stream cipher) a header sent to `id`, as the
/// discv5 wire format does: AES-128-CTR, key the id's first 16 bytes.
fn mask(id: &[u8; 32], iv: [u8; 16], header: &mut [u8]) {
    let key: [u8; 16] = id[..16].try_into().expect("16 bytes");
    ctr::Ctr64BE::<aes::Aes128>::new(&key.into(), &iv.into()).apply_keystream(header);
}

/// `iv || static header || authdata`, masked for the recipient `node_id`.
fn seal(node_id: &[u8; 32], iv: [u8; 16], flag: u8, nonce: &[u8], authdata: &[u8]) -> Vec<u8> {
    let mut header = Vec::with_capacity(23 + authdata.len());
    header.extend_from_slice(b"discv5");
    header.extend_from_slice(&1u16.to_be_bytes());
    header.push(flag);
    header.extend_from_slice(nonce);
    header.extend_from_slice(&(authdata.len() as u16).to_be_bytes());
    header.extend_from_slice(authdata);
    mask(node_id, iv, &mut header);
    [&iv[..], &header].concat()
}

/// The masked mode: fuzz-chosen header fields, masked as a sender would.
fn masked(node_id: &[u8; 32], rest: &[u8]) -> Vec<u8> {
    let mut fields = [0u8; IV_LENGTH + 1 + 12 + 2];
    let n = fields.len().min(rest.len());
    fields[..n].copy_from_slice(&rest[..n]);
    let tail = &rest[n..];
    let iv: [u8; 16] = fields[..16].try_into().expect("16 bytes");
    let flag = fields[16];
    let nonce = &fields[17..29];
    let size = u16::from_be_bytes([fields[29], fields[30]]) as usize;
    let auth_end = size % (tail.len() + 1);
    let mut datagram = seal(node_id, iv, flag, nonce, &tail[..auth_end]);
    datagram.extend_from_slice(&tail[auth_end..]);
    datagram
}

/// The node id of the `counter`th unknown sender: a new one per input.
fn sender_id(counter: u64) -> [u8; 32] {
    let mut id = [0xee; 32];
    id[..8].copy_from_slice(&counter.to_be_bytes());
    id
}

/// A message packet from a node id never seen before, so the node has no
/// session with it and must answer WHOAREYOU.
fn unknown_sender_message(node_id: &[u8; 32], counter: u64) -> Vec<u8> {
    let src_id = sender_id(counter);
    let mut nonce = [0u8; 12];
    nonce[..8].copy_from_slice(&counter.to_be_bytes());
    let mut datagram = seal(node_id, [0x11; 16], FLAG_MESSAGE, &nonce, &src_id);
    // Some ciphertext: the node cannot decrypt it without a session.
    datagram.extend_from_slice(&[0x42; 32]);
    datagram
}

fuzz_target!(|data: &[u8]| {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let h = harness();
    let datagram = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        masked(&h.node_id, rest)
    };
    // A datagram over the UDP size cannot be sent; the node never sees one.
    let _ = h.sender.send_to(&datagram, h.node);

    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    h.sender
        .send_to(&unknown_sender_message(&h.node_id, n), h.node)
        .expect("send to loopback");
    let mut buf = [0u8; 1500];
    loop {
        match h.sender.recv_from(&mut buf) {
            // The fuzz datagram may itself have drawn an answer; wait for ours.
            Ok((len, _)) if len == WHOAREYOU_SIZE && answers(&buf[..len], n) => break,
            Ok(_) => continue,
            // libFuzzer's timers interrupt the wait; it is not an answer.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => panic!("the node stopped answering: {e}"),
        }
    }
});

/// Whether a WHOAREYOU answers message `counter`: its nonce is the request's.
fn answers(datagram: &[u8], counter: u64) -> bool {
    // WHOAREYOU is masked with the recipient's (our fresh sender's) id.
    let iv: [u8; 16] = datagram[..16].try_into().expect("16 bytes");
    let mut header = datagram[16..].to_vec();
    mask(&sender_id(counter), iv, &mut header);
    header[..6] == *b"discv5" && header[8] == 1 && header[9..17] == counter.to_be_bytes()
}
