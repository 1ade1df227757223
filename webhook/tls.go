package webhook

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/gracekeeper/gracekeeper/certs"
)

// aeadCipherSuites are the TLS 1.2 suites offered: ECDHE key exchange with an
// AEAD cipher only, as Mozilla's intermediate profile. TLS 1.3 suites are not
// configurable and all AEAD. The API server (a Go client) offers all of them.
var aeadCipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// serverTLSConfig serves the reloader's pair over TLS 1.2 or newer. With
// clientCAs it requires a client certificate that the bundle in use at the
// handshake verifies, so a reloaded bundle applies to the next connection.
func serverTLSConfig(serving *certs.Reloader, clientCAs *certs.ClientCAs) *tls.Config {
	config := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   aeadCipherSuites,
		GetCertificate: serving.GetCertificate,
	}
	if clientCAs != nil {
		config.ClientAuth = tls.RequireAnyClientCert
		config.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the caller sent no client certificate")
			}
			intermediates := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				intermediates.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
				Roots:         clientCAs.Pool(),
				Intermediates: intermediates,
				KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
			})
			if err != nil {
				return fmt.Errorf("client certificate %q: %w", cs.PeerCertificates[0].Subject.CommonName, err)
			}
			return nil
		}
	}
	return config
}
