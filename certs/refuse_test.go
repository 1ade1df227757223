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

func TestReloaderRefusesAPairThatWouldServeWorse(t *testing.T) {
	ca := newTestCA(t)
	now := time.Now()
	tests := []struct {
		name      string
		hosts     []string
		notBefore time.Time
		notAfter  time.Time
		wantInErr string
	}{
		{"An expired pair is refused.", loopbackHosts, now.Add(-2 * time.Hour), now.Add(-time.Hour), "expired at"},
		{"A pair not valid yet is refused.", loopbackHosts, now.Add(time.Hour), now.Add(2 * time.Hour), "not valid before"},
		{"A pair for another name is refused.", []string{"other.example"}, now.Add(-time.Hour), now.Add(time.Hour), `served name "localhost"`},
		{"A pair for fewer names is refused.", []string{"localhost"}, now.Add(-time.Hour), now.Add(time.Hour), `served name "127.0.0.1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			certPEM, keyPEM := issue(t, ca)
			if err := WriteServing(dir, ca.CertPEM, certPEM, keyPEM); err != nil {
				t.Fatal(err)
			}
			var hooked []error
			r := newReloader(t, dir, WithFailureHook(func(err error) { hooked = append(hooked, err) }))
			badCert, badKey, err := ca.issue(tt.hosts, tt.notBefore, tt.notAfter)
			if err != nil {
				t.Fatal(err)
			}
			if err := WriteServing(dir, ca.CertPEM, badCert, badKey); err != nil {
				t.Fatal(err)
			}
			r.reload()
			r.reload() // unchanged files are refused once

			cert, err := r.GetCertificate(nil)
			if err != nil {
				t.Fatal(err)
			}
			if want := parseCert(t, certPEM).SerialNumber; cert.Leaf.SerialNumber.Cmp(want) != 0 {
				t.Errorf("serving serial %x, want the pair in service %x", cert.Leaf.SerialNumber, want)
			}
			if err := r.Ready(); err != nil {
				t.Errorf("Ready = %v, want ready with the pair in service", err)
			}
			if r.Refusals() != 1 || r.Failures() != 0 {
				t.Errorf("Refusals, Failures = %d, %d, want 1, 0", r.Refusals(), r.Failures())
			}
			if len(hooked) != 1 || !strings.Contains(hooked[0].Error(), tt.wantInErr) || !strings.Contains(hooked[0].Error(), dir) {
				t.Errorf("failure hook got %v, want one error naming %s and containing %q", hooked, dir, tt.wantInErr)
			}
		})
	}
}

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
