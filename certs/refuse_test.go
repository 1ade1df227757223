package certs

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestReloaderPutsARefusedEarlyPairInServiceOnceItIsValid(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	certPEM, keyPEM := issue(t, ca)
	if err := WriteServing(dir, ca.CertPEM, certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	var loaded []*x509.Certificate
	r := newReloader(t, dir, WithLoadHook(func(c *x509.Certificate) { loaded = append(loaded, c) }))
	now := time.Now()
	earlyCert, earlyKey, err := ca.issue(loopbackHosts, now.Add(time.Minute), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteServing(dir, ca.CertPEM, earlyCert, earlyKey); err != nil {
		t.Fatal(err)
	}
	r.reload()
	if len(loaded) != 1 {
		t.Fatalf("loaded %d pairs, want only the first: the early pair is refused", len(loaded))
	}
	r.now = func() time.Time { return now.Add(2 * time.Minute) }
	r.reload()
	if len(loaded) != 2 || loaded[1].SerialNumber.Cmp(parseCert(t, earlyCert).SerialNumber) != 0 {
		t.Fatalf("loaded %d pairs, want the early pair once its time came", len(loaded))
	}
	if r.Refusals() != 1 {
		t.Errorf("Refusals = %d, want 1: a retry is not counted again", r.Refusals())
	}
}

func TestReloaderChecksConfiguredServedNames(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	certPEM, keyPEM, err := ca.Issue([]string{"other.example"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteServing(dir, ca.CertPEM, certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	r := newReloader(t, dir, WithServedNames("gracekeeper.gracekeeper.svc"))
	if err := r.Ready(); err == nil || !strings.Contains(err.Error(), `served name "gracekeeper.gracekeeper.svc"`) {
		t.Errorf("Ready = %v, want the first pair refused for the configured name", err)
	}
	if r.Refusals() != 1 {
		t.Errorf("Refusals = %d, want 1", r.Refusals())
	}
	certPEM, keyPEM, err = ca.Issue([]string{"gracekeeper.gracekeeper.svc"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteServing(dir, ca.CertPEM, certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	r.reload()
	if err := r.Ready(); err != nil {
		t.Errorf("Ready = %v after a pair for the served name", err)
	}
}

func TestReadyFailsWhenTheServedCertificateExpires(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	certPEM, keyPEM := issue(t, ca)
	if err := WriteServing(dir, ca.CertPEM, certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	r := newReloader(t, dir)
	if err := r.Ready(); err != nil {
		t.Fatal(err)
	}
	r.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	if err := r.Ready(); err == nil || !strings.Contains(err.Error(), "expired at") {
		t.Errorf("Ready = %v once the served certificate expired, want an error saying so", err)
	}
}

func TestClientCAsReloadAndKeepTheLastGoodBundle(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "ca.crt")
	c, err := NewClientCAs(file, testLogger(t), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Ready(); err == nil || !strings.Contains(err.Error(), file) {
		t.Errorf("Ready = %v with no file, want an error naming %s", err, file)
	}
	ca := newTestCA(t)
	clientPEM, clientKey, err := ca.IssueClient("kube-apiserver", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(clientPEM, clientKey)
	if err != nil {
		t.Fatal(err)
	}
	verify := func() error {
		_, err := pair.Leaf.Verify(x509.VerifyOptions{Roots: c.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		return err
	}
	if verify() == nil {
		t.Error("a client certificate verified against the empty pool")
	}
	if err := os.WriteFile(file, ca.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	c.reload()
	if err := c.Ready(); err != nil {
		t.Errorf("Ready = %v after the bundle appeared", err)
	}
	if err := verify(); err != nil {
		t.Errorf("the client certificate does not verify: %v", err)
	}
	if err := os.WriteFile(file, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.reload()
	if err := verify(); err != nil || c.Failures() != 2 {
		t.Errorf("after a bad bundle: verify = %v, Failures = %d; want the last good bundle kept and 2 failures (missing, garbage)", err, c.Failures())
	}
}

// A pair in service that has expired serves no one, so the names it was for
// must not keep out a pair that is valid now: the renewal may be for other
// names (a renamed Service, a fixed typo).
func TestReloaderReplacesAnExpiredPairWithAValidOneForOtherNames(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	now := time.Now()
	expiredCert, expiredKey, err := ca.issue(loopbackHosts, now.Add(-2*time.Hour), now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteServing(dir, ca.CertPEM, expiredCert, expiredKey); err != nil {
		t.Fatal(err)
	}
	r := newReloader(t, dir)
	if err := r.Ready(); err == nil {
		t.Fatal("Ready = nil with an expired pair in service")
	}
	renewedCert, renewedKey, err := ca.Issue([]string{"gracekeeper.gracekeeper.svc"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteServing(dir, ca.CertPEM, renewedCert, renewedKey); err != nil {
		t.Fatal(err)
	}
	r.reload()
	if err := r.Ready(); err != nil {
		t.Errorf("Ready = %v, want the valid pair in service in place of the expired one", err)
	}
	if r.Refusals() != 0 {
		t.Errorf("Refusals = %d, want 0", r.Refusals())
	}
}

// A bundle in which no certificate is valid now verifies no caller: it must
// not replace one that does, and a bundle in use that has expired fails
// readiness, as the serving pair does.
func TestClientCAsRefuseABundleThatVerifiesNoOneNow(t *testing.T) {
	file := filepath.Join(t.TempDir(), "ca.crt")
	ca := newTestCA(t) // valid for a day
	if err := os.WriteFile(file, ca.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := NewClientCAs(file, testLogger(t), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	clientPEM, _, err := ca.IssueClient("kube-apiserver", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	client := parseCert(t, clientPEM)
	shortCA, err := GenerateCA("short-lived CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, shortCA.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	c.now = func() time.Time { return now.Add(2 * time.Hour) } // the short-lived CA has expired
	c.reload()
	if _, err := client.Verify(x509.VerifyOptions{Roots: c.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("the bundle in use no longer verifies its callers: %v; want the expired bundle refused", err)
	}
	if c.Failures() != 1 {
		t.Errorf("Failures = %d, want 1 for the refused bundle", c.Failures())
	}
	if err := c.Ready(); err != nil {
		t.Errorf("Ready = %v, want nil: the bundle in use is valid", err)
	}
	c.now = func() time.Time { return now.Add(48 * time.Hour) } // the bundle in use has expired too
	if err := c.Ready(); err == nil || !strings.Contains(err.Error(), "valid now") {
		t.Errorf("Ready = %v once the bundle in use expired, want an error saying no CA in it is valid now", err)
	}
}

func TestClientCAsPutARefusedEarlyBundleInServiceOnceItIsValid(t *testing.T) {
	file := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(file, newTestCA(t).CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := NewClientCAs(file, testLogger(t), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	next := newTestCA(t)
	if err := os.WriteFile(file, next.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	c.now = func() time.Time { return now.Add(-time.Hour) } // before the next CA's notBefore
	c.reload()
	clientPEM, _, err := next.IssueClient("kube-apiserver", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	verify := func() error {
		_, err := parseCert(t, clientPEM).Verify(x509.VerifyOptions{Roots: c.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		return err
	}
	if verify() == nil {
		t.Fatal("a bundle not valid yet was put in service")
	}
	c.now = time.Now
	c.reload()
	if err := verify(); err != nil {
		t.Errorf("the early bundle is not in service once valid: %v", err)
	}
	if c.Failures() != 1 {
		t.Errorf("Failures = %d, want 1: a retry is not counted again", c.Failures())
	}
}

// Every certificate of tls.crt is sent to callers, who parse and verify the
// whole chain: a malformed or expired one after a good leaf fails every
// handshake as surely as a bad leaf.
func TestReloaderRefusesAPairWhoseChainCallersCannotVerify(t *testing.T) {
	ca := newTestCA(t)
	now := time.Now()
	expired, _, err := ca.issue(loopbackHosts, now.Add(-2*time.Hour), now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		chain              []byte
		failures, refusals uint64
	}{
		"A malformed certificate after the leaf": {[]byte("-----BEGIN CERTIFICATE-----\nZ2FyYmFnZQ==\n-----END CERTIFICATE-----\n"), 1, 0},
		"An expired certificate after the leaf":  {expired, 0, 1},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			certPEM, keyPEM := issue(t, ca)
			if err := WriteServing(dir, ca.CertPEM, certPEM, keyPEM); err != nil {
				t.Fatal(err)
			}
			r := newReloader(t, dir)
			served := r.current.Load()
			certPEM, keyPEM = issue(t, ca)
			if err := WriteServing(dir, ca.CertPEM, append(certPEM, tt.chain...), keyPEM); err != nil {
				t.Fatal(err)
			}
			r.reload()
			if r.current.Load() != served {
				t.Error("the pair with the bad chain replaced the pair in service")
			}
			if r.Failures() != tt.failures || r.Refusals() != tt.refusals {
				t.Errorf("Failures = %d, Refusals = %d; want %d, %d", r.Failures(), r.Refusals(), tt.failures, tt.refusals)
			}
		})
	}
}
