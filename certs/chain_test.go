package certs

import (
	"bytes"
	"crypto/x509"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAPairFromAnotherCAIsRefused: the webhook configurations carry the CA
// of ca.crt; a pair that does not chain to it would fail every handshake of
// the API server while /readyz said ready.
func TestAPairFromAnotherCAIsRefused(t *testing.T) {
	ca, other := newTestCA(t), newTestCA(t)
	dir := t.TempDir()
	certPEM, keyPEM := issue(t, ca)
	if err := WriteServing(dir, ca.CertPEM, certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	r, err := NewReloader(dir, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, r)
	trusted := x509.NewCertPool()
	trusted.AddCert(parseCert(t, ca.CertPEM))
	served, err := servedSerial(addr, trusted)
	if err != nil {
		t.Fatalf("a caller that trusts ca.crt: %v", err)
	}

	// Another CA's pair dropped in, ca.crt left as the webhook configurations have it.
	otherCert, otherKey := issue(t, other)
	if err := os.WriteFile(filepath.Join(dir, KeyFile), otherKey, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, CertFile), otherCert, 0o644); err != nil {
		t.Fatal(err)
	}
	r.reload()
	if r.Refusals() != 1 {
		t.Errorf("Refusals = %d, want 1", r.Refusals())
	}
	if !strings.Contains(logs.String(), "refused a new certificate") || !strings.Contains(logs.String(), "does not chain to the CA bundle in ca.crt") {
		t.Errorf("log lacks the refusal and its reason:\n%s", logs.String())
	}
	if got, err := servedSerial(addr, trusted); err != nil || got.Cmp(served) != 0 {
		t.Errorf("after the other CA's pair: serial %v, %v; want the first pair still served to callers that trust ca.crt", got, err)
	}
	if err := r.Ready(); err != nil {
		t.Errorf("Ready = %v, want ready: the pair in service still chains to ca.crt", err)
	}

	// The same pair with its own CA in ca.crt is what a CA rotation looks like.
	if err := WriteServing(dir, other.CertPEM, otherCert, otherKey); err != nil {
		t.Fatal(err)
	}
	r.reload()
	if err := r.Ready(); err != nil {
		t.Errorf("Ready = %v after the pair came with its CA", err)
	}
}

// TestReadyFailsWhenTheCABundleNoLongerVerifiesThePairInService: readiness
// says whether a caller that trusts ca.crt can complete a handshake.
func TestReadyFailsWhenTheCABundleNoLongerVerifiesThePairInService(t *testing.T) {
	ca, other := newTestCA(t), newTestCA(t)
	dir := t.TempDir()
	certPEM, keyPEM := issue(t, ca)
	if err := WriteServing(dir, ca.CertPEM, certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	r := newReloader(t, dir)
	if err := r.Ready(); err != nil {
		t.Fatalf("Ready = %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, CACertFile), other.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	r.reload()
	if err := r.Ready(); err == nil || !strings.Contains(err.Error(), "does not chain to the CA bundle in ca.crt") {
		t.Errorf("Ready = %v, want not ready: callers trusting the new ca.crt cannot verify the pair in service", err)
	}
	// A bundle of both CAs, as during a rotation, verifies it again.
	if err := os.WriteFile(filepath.Join(dir, CACertFile), append(append([]byte{}, other.CertPEM...), ca.CertPEM...), 0o644); err != nil {
		t.Fatal(err)
	}
	r.reload()
	if err := r.Ready(); err != nil {
		t.Errorf("Ready = %v with a bundle of both CAs", err)
	}
}

func TestWithoutCABundleAnyValidPairIsUsed(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	certPEM, keyPEM := issue(t, ca)
	for name, data := range map[string][]byte{CertFile: certPEM, KeyFile: keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := newReloader(t, dir).Ready(); err != nil {
		t.Errorf("Ready = %v without ca.crt (a provided Secret may have none)", err)
	}
}
