// Command libp2p-tls runs go-libp2p's TLS identity code for the tests of the
// QUIC transport, whose node certificates follow libp2p's TLS handshake
// specification:
//
//	libp2p-tls cert <secp256k1 private key, hex>
//	    prints the certificate go-libp2p makes for that key (DER, hex)
//	libp2p-tls verify <certificate DER, hex>
//	    prints the key type and the public key go-libp2p reads from the
//	    certificate (compressed, hex), or fails with go-libp2p's error
package main

import (
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"os"

	"github.com/libp2p/go-libp2p/core/crypto"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
)

func main() {
	if len(os.Args) != 3 {
		fail(fmt.Errorf("usage: libp2p-tls cert|verify <hex>"))
	}
	input, err := hex.DecodeString(os.Args[2])
	if err != nil {
		fail(err)
	}
	switch os.Args[1] {
	case "cert":
		key, err := crypto.UnmarshalSecp256k1PrivateKey(input)
		if err != nil {
			fail(err)
		}
		identity, err := libp2ptls.NewIdentity(key)
		if err != nil {
			fail(err)
		}
		config, _ := identity.ConfigForPeer("")
		fmt.Println(hex.EncodeToString(config.Certificates[0].Certificate[0]))
	case "verify":
		cert, err := x509.ParseCertificate(input)
		if err != nil {
			fail(err)
		}
		key, err := libp2ptls.PubKeyFromCertChain([]*x509.Certificate{cert})
		if err != nil {
			fail(err)
		}
		raw, err := key.Raw()
		if err != nil {
			fail(err)
		}
		fmt.Println(key.Type(), hex.EncodeToString(raw))
	default:
		fail(fmt.Errorf("unknown command %q", os.Args[1]))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
