package certs

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func newTestCA(t *testing.T) *CA {
	t.Helper()
	ca, err := GenerateCA("test CA", 24*time.Hour)
	if err != nil {
		t.Fatalf("GenerateCA: %v", err)
	}
	return ca
}

func parseCert(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(certPEM)
	if block == nil {
		t.Fatalf("no PEM block in %q", certPEM)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("parse certificate: %v", err)
	}
	return cert
}

func caPool(t *testing.T, caPEM []byte) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("no CA certificate in %q", caPEM)
	}
	return pool
}

func TestIssuedCertificateIsTrustedForEachHostAndOnlyForServing(t *testing.T) {
	ca := newTestCA(t)
	if !ca.Cert.IsCA || !ca.Cert.BasicConstraintsValid || ca.Cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Fatalf("CA certificate cannot sign: IsCA=%v BasicConstraintsValid=%v KeyUsage=%v",
			ca.Cert.IsCA, ca.Cert.BasicConstraintsValid, ca.Cert.KeyUsage)
	}
	certPEM, _, err := ca.Issue([]string{"gracekeeper.gracekeeper-system.svc", "127.0.0.1", "::1"}, time.Hour)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	leaf := parseCert(t, certPEM)
	pool := caPool(t, ca.CertPEM)

	tests := []struct {
		name    string
		opts    x509.VerifyOptions
		trusted bool
	}{
		{"A server certificate is trusted for its DNS name.",
			x509.VerifyOptions{DNSName: "gracekeeper.gracekeeper-system.svc"}, true},
		{"A server certificate is trusted for its IPv4 address.",
			x509.VerifyOptions{DNSName: "127.0.0.1"}, true},
		{"A server certificate is trusted for its IPv6 address.",
			x509.VerifyOptions{DNSName: "::1"}, true},
		{"A server certificate is not trusted for another name.",
			x509.VerifyOptions{DNSName: "evil.example.com"}, false},
		{"A server certificate is not trusted for client authentication.",
			x509.VerifyOptions{KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Roots = pool
			_, err := leaf.Verify(tt.opts)
			if tt.trusted && err != nil {
				t.Errorf("Verify: %v", err)
			}
			if !tt.trusted && err == nil {
				t.Error("Verify succeeded, want an error")
			}
		})
	}
}

func TestIssuedCertificatesHaveDistinctSerials(t *testing.T) {
	ca := newTestCA(t)
	first, _, err := ca.Issue([]string{"localhost"}, time.Hour)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	second, _, err := ca.Issue([]string{"localhost"}, time.Hour)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	if a, b := parseCert(t, first).SerialNumber, parseCert(t, second).SerialNumber; a.Cmp(b) == 0 {
		t.Errorf("both certificates have serial %x", a)
	}
}

func TestIssuedCertificateNeverOutlivesItsCA(t *testing.T) {
	ca := newTestCA(t)
	certPEM, _, err := ca.Issue([]string{"localhost"}, 365*24*time.Hour)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	if got := parseCert(t, certPEM).NotAfter; !got.Equal(ca.Cert.NotAfter) {
		t.Errorf("NotAfter = %s, want the CA's %s", got, ca.Cert.NotAfter)
	}
}

func TestIssueRejectsBadRequests(t *testing.T) {
	ca := newTestCA(t)
	tests := []struct {
		name     string
		hosts    []string
		validFor time.Duration
		wantErr  string
	}{
		{"A certificate without hosts is refused.", nil, time.Hour, "at least one host"},
		{"An empty host is refused.", []string{"localhost", ""}, time.Hour, `invalid host ""`},
		{"A host with spaces is refused.", []string{" localhost"}, time.Hour, `invalid host " localhost"`},
		{"A zero validity is refused.", []string{"localhost"}, 0, "must be positive"},
		{"A negative validity is refused.", []string{"localhost"}, -time.Hour, "must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ca.Issue(tt.hosts, tt.validFor)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Issue error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestLoadCAIssuesCertificatesTheWrittenCATrusts(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t)
	if err := ca.Write(dir); err != nil {
		t.Fatalf("Write: %v", err)
	}
	info, err := os.Stat(filepath.Join(dir, CAKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("%s mode = %v, want 0600", CAKeyFile, perm)
	}

	loaded, err := LoadCA(dir)
	if err != nil {
		t.Fatalf("LoadCA: %v", err)
	}
	certPEM, _, err := loaded.Issue([]string{"localhost"}, time.Hour)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	if _, err := parseCert(t, certPEM).Verify(x509.VerifyOptions{Roots: caPool(t, ca.CertPEM), DNSName: "localhost"}); err != nil {
		t.Errorf("certificate from the loaded CA is not trusted by the original CA: %v", err)
	}
}

func TestLoadCARejectsFilesThatAreNotAUsableCA(t *testing.T) {
	ca := newTestCA(t)
	other := newTestCA(t)
	leafPEM, leafKeyPEM, err := ca.Issue([]string{"localhost"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		write   func(t *testing.T, dir string)
		wantErr string
	}{
		{"A directory without CA files is refused.", func(*testing.T, string) {}, "no such file"},
		{"A CA key that belongs to another CA is refused.", func(t *testing.T, dir string) {
			writeCAFiles(t, dir, ca, other.Key)
		}, "key does not match"},
		{"A serving certificate is not accepted as a CA.", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, CACertFile), leafPEM)
			writeFile(t, filepath.Join(dir, CAKeyFile), leafKeyPEM)
		}, "is not a CA"},
		{"A garbage CA key is refused.", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, CACertFile), ca.CertPEM)
			writeFile(t, filepath.Join(dir, CAKeyFile), []byte("not a key"))
		}, "no PEM block"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.write(t, dir)
			_, err := LoadCA(dir)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("LoadCA error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func writeCAFiles(t *testing.T, dir string, ca *CA, key crypto.Signer) {
	t.Helper()
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, CACertFile), ca.CertPEM)
	writeFile(t, filepath.Join(dir, CAKeyFile), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestWriteServingReplacesFilesAndProtectsTheKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "serving")
	ca := newTestCA(t)
	for range 2 { // the second run replaces the files of the first
		certPEM, keyPEM, err := ca.Issue([]string{"localhost"}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if err := WriteServing(dir, ca.CertPEM, certPEM, keyPEM); err != nil {
			t.Fatalf("WriteServing: %v", err)
		}
		for name, want := range map[string][]byte{CACertFile: ca.CertPEM, CertFile: certPEM, KeyFile: keyPEM} {
			got, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil || string(got) != string(want) {
				t.Errorf("%s = %q (%v), want what was written", name, got, err)
			}
		}
	}
	info, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("%s mode = %v, want 0600", KeyFile, perm)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 {
		t.Errorf("directory holds %d entries, want only the 3 files and no temporary leftovers: %v", len(entries), entries)
	}
}
