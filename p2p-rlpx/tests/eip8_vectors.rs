//! The RLPx handshake test vectors of EIP-8 (`testdata/eip8.json`).

use p2p_core::{NodeKey, PeerId};
use p2p_rlpx::handshake::{decode_ack, decode_auth, HandshakeTranscript, Role};
use secp256k1::SecretKey;
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/eip8.json");
    let text = std::fs::read_to_string(path).expect("testdata/eip8.json present");
    serde_json::from_str::<Value>(&text).unwrap()["rlpx_handshake"].clone()
}

fn bytes(v: &Value, name: &str) -> Vec<u8> {
    hex::decode(v[name].as_str().unwrap_or_else(|| panic!("{name} missing"))).unwrap()
}

fn array32(v: &Value, name: &str) -> [u8; 32] {
    bytes(v, name).try_into().unwrap()
}

fn key(v: &Value, name: &str) -> NodeKey {
    NodeKey::from_bytes(array32(v, name)).unwrap()
}

#[test]
fn b_reads_auth1_auth2_auth3() {
    let v = vectors();
    let key_a = key(&v, "static_key_a");
    let key_b = key(&v, "static_key_b");
    let ephemeral_a = PeerId::from_secret_key(
        &SecretKey::from_secret_bytes(array32(&v, "ephemeral_key_a")).unwrap(),
    );
    let nonce_a = array32(&v, "nonce_a");

    for (name, eip8, version) in [
        ("auth1_legacy", false, 4),
        ("auth2_eip8_v4", true, 4),
        ("auth3_eip8_v56_extra", true, 56),
    ] {
        let auth = decode_auth(&key_b, &bytes(&v, name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            PeerId::from_public_key(&auth.initiator),
            key_a.id(),
            "{name}"
        );
        assert_eq!(
            PeerId::from_public_key(&auth.initiator_ephemeral),
            ephemeral_a,
            "{name}"
        );
        assert_eq!(auth.nonce, nonce_a, "{name}");
        assert_eq!(auth.eip8, eip8, "{name}");
        assert_eq!(auth.version, version, "{name}");
        // Only B can read it.
        assert!(decode_auth(&key_a, &bytes(&v, name)).is_err(), "{name}");
    }
}

#[test]
fn a_reads_ack1_ack2_ack3() {
    let v = vectors();
    let key_a = key(&v, "static_key_a");
    let ephemeral_b = PeerId::from_secret_key(
        &SecretKey::from_secret_bytes(array32(&v, "ephemeral_key_b")).unwrap(),
    );
    let nonce_b = array32(&v, "nonce_b");

    for (name, eip8, version) in [
        ("ack1_legacy", false, 4),
        ("ack2_eip8_v4", true, 4),
        ("ack3_eip8_v57_extra", true, 57),
    ] {
        let ack = decode_ack(&key_a, &bytes(&v, name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            PeerId::from_public_key(&ack.recipient_ephemeral),
            ephemeral_b,
            "{name}"
        );
        assert_eq!(ack.nonce, nonce_b, "{name}");
        assert_eq!(ack.eip8, eip8, "{name}");
        assert_eq!(ack.version, version, "{name}");
    }
}

#[test]
fn secrets_of_auth2_ack2_as_derived_by_b() {
    let v = vectors();
    let key_b = key(&v, "static_key_b");
    let auth_wire = bytes(&v, "auth2_eip8_v4");
    let ack_wire = bytes(&v, "ack2_eip8_v4");
    let auth = decode_auth(&key_b, &auth_wire).unwrap();
    let ephemeral_b = SecretKey::from_secret_bytes(array32(&v, "ephemeral_key_b")).unwrap();

    let secrets = HandshakeTranscript {
        role: Role::Recipient,
        ephemeral: &ephemeral_b,
        remote_ephemeral: &auth.initiator_ephemeral,
        initiator_nonce: &auth.nonce,
        recipient_nonce: &array32(&v, "nonce_b"),
        auth: &auth_wire,
        ack: &ack_wire,
        remote_id: PeerId::from_public_key(&auth.initiator),
    }
    .secrets();

    let expected = &v["auth2_ack2_secrets"];
    assert_eq!(secrets.aes_secret, array32(expected, "aes_secret"));
    assert_eq!(secrets.mac_secret, array32(expected, "mac_secret"));
    let mut ingress = secrets.ingress_mac.clone();
    ingress.update(b"foo");
    assert_eq!(ingress.digest(), array32(expected, "ingress_mac_of_foo"));
}
