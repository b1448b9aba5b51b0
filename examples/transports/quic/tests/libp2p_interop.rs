//! The node certificates against go-libp2p's own TLS identity code
//! (`interop/libp2p-tls`, built with the machine's Go from the pinned
//! go.mod): the scheme is libp2p's, so each side must read the other's
//! certificates, and tampered ones must fail on both.

use std::path::PathBuf;
use std::process::Command;

use p2p_core::NodeKey;
use quic_transport::identity::{peer_id, signed_key, CertError, NodeCertificate};

/// Builds the Go program once per test binary and returns its path.
fn program() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let source =
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../interop/libp2p-tls");
            let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("libp2p-tls");
            let status = Command::new("go")
                .args(["build", "-o"])
                .arg(&out)
                .arg(".")
                .current_dir(&source)
                .status()
                .expect("the go command (Go is needed for this interop test)");
            assert!(status.success(), "building interop/libp2p-tls failed");
            out
        })
        .clone()
}

/// Runs the program; its output line, or its error text.
fn run(command: &str, input: &[u8]) -> Result<String, String> {
    let output = Command::new(program())
        .arg(command)
        .arg(hex::encode(input))
        .output()
        .expect("runs");
    if output.status.success() {
        Ok(String::from_utf8(output.stdout).unwrap().trim().to_owned())
    } else {
        Err(String::from_utf8(output.stderr).unwrap())
    }
}

#[test]
fn our_certificates_name_the_node_to_go_libp2p() {
    for _ in 0..3 {
        let key = NodeKey::random();
        let cert = NodeCertificate::generate(&key).unwrap();
        let read = run("verify", &cert.cert).unwrap();
        assert_eq!(
            read,
            format!("Secp256k1 {}", hex::encode(key.public().serialize()))
        );
    }
}

#[test]
fn go_libp2p_certificates_name_the_node_to_us() {
    for _ in 0..3 {
        let key = NodeKey::random();
        let der = hex::decode(run("cert", &key.secret_bytes()).unwrap()).unwrap();
        assert_eq!(peer_id(&der).unwrap(), key.id());
    }
}

#[test]
fn a_stolen_extension_fails_on_both_sides() {
    // The node key signed another certificate key than this certificate's.
    let stolen = signed_key(&NodeKey::random(), b"another certificate's key");
    let cert = NodeCertificate::with_extension(Some(stolen)).unwrap();
    assert!(matches!(peer_id(&cert.cert), Err(CertError::Signature)));
    let err = run("verify", &cert.cert).unwrap_err();
    assert!(err.contains("signature"), "go-libp2p said: {err}");
}
