package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var loopbackHosts = []string{"127.0.0.1", "localhost"}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil))
}

func issue(t *testing.T, ca *CA) (certPEM, keyPEM []byte) {
	t.Helper()
	certPEM, keyPEM, err := ca.Issue(loopbackHosts, time.Hour)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	return certPEM, keyPEM
}

func newReloader(t *testing.T, dir string, opts ...Option) *Reloader {
	t.Helper()
	r, err := NewReloader(dir, testLogger(t), opts...)
	if err != nil {
		t.Fatalf("NewReloader: %v", err)
	}
	return r
}

// serveTLS serves HTTPS on a loopback port with the reloader's certificates.
func serveTLS(t *testing.T, r *Reloader) string {
	t.Helper()
	listener, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{GetCertificate: r.GetCertificate})
	if err != nil {
		t.Fatal(err)
	}
	server := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }),
		ReadHeaderTimeout: 5 * time.Second,
		// Failed handshakes are what the tests count; the server's log adds nothing.
		ErrorLog: slog.NewLogLogger(slog.DiscardHandler, slog.LevelError),
	}
	go server.Serve(listener)
	t.Cleanup(func() { server.Close() })
	return listener.Addr().String()
}

// servedSerial completes a verified handshake and returns the served serial.
func servedSerial(addr string, roots *x509.CertPool) (*big.Int, error) {
	dialer := &tls.Dialer{
		NetDialer: &net.Dialer{Timeout: time.Second},
		Config:    &tls.Config{RootCAs: roots},
	}
	conn, err := dialer.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber, nil
}

func TestReloaderServesGeneratedCertificateOverTLS(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t)
	certPEM, keyPEM := issue(t, ca)
	if err := WriteServing(dir, ca.CertPEM, certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	r := newReloader(t, dir)
	if err := r.Ready(); err != nil {
		t.Errorf("Ready: %v", err)
	}
	if want := parseCert(t, certPEM).NotAfter; !r.NotAfter().Equal(want) {
		t.Errorf("NotAfter = %s, want %s", r.NotAfter(), want)
	}

	addr := serveTLS(t, r)
	client := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: caPool(t, ca.CertPEM)}},
	}
	defer client.CloseIdleConnections()
	for _, host := range []string{addr, strings.Replace(addr, "127.0.0.1", "localhost", 1)} {
		resp, err := client.Get("https://" + host + "/")
		if err != nil {
			t.Fatalf("GET https://%s: %v", host, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "ok" {
			t.Errorf("GET https://%s = %q, want ok", host, body)
		}
	}
}

// writeKubeletVersion lays out one timestamped directory of a Secret volume.
func writeKubeletVersion(t *testing.T, dir, version string, certPEM, keyPEM []byte) {
	t.Helper()
	if err := os.Mkdir(filepath.Join(dir, version), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, version, CertFile), certPEM)
	writeFile(t, filepath.Join(dir, version, KeyFile), keyPEM)
}

// swapKubeletData points ..data at version the way the kubelet does: a new
// symlink renamed over the old one, so readers never see a missing link.
func swapKubeletData(t *testing.T, dir, version string) {
	t.Helper()
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(version, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, kubeletDataLink)); err != nil {
		t.Fatal(err)
	}
}

func TestReloaderFollowsKubeletSecretUpdateWithoutFailingAHandshake(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t)
	roots := caPool(t, ca.CertPEM)
	oldCert, oldKey := issue(t, ca)
	writeKubeletVersion(t, dir, "..2026_a", oldCert, oldKey)
	swapKubeletData(t, dir, "..2026_a")
	for _, name := range []string{CertFile, KeyFile} {
		if err := os.Symlink(filepath.Join(kubeletDataLink, name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}

	// A resync far in the future proves the file events drive the reload.
	r := newReloader(t, dir, WithResyncInterval(time.Hour))
	ctx, cancel := context.WithCancel(t.Context())
	running := make(chan struct{})
	go func() { r.Run(ctx); close(running) }()
	defer func() { cancel(); <-running }()
	addr := serveTLS(t, r)

	var handshakes, failures atomic.Int64
	var firstFailure atomic.Pointer[error]
	stop := make(chan struct{})
	var clients sync.WaitGroup
	clients.Go(func() {
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			select {
			case <-stop:
				return
			default:
			}
			handshakes.Add(1)
			if _, err := servedSerial(addr, roots); err != nil {
				failures.Add(1)
				firstFailure.CompareAndSwap(nil, &err)
			}
		}
	})

	newCert, newKey := issue(t, ca)
	newSerial := parseCert(t, newCert).SerialNumber
	writeKubeletVersion(t, dir, "..2026_b", newCert, newKey)
	swapKubeletData(t, dir, "..2026_b")
	if err := os.RemoveAll(filepath.Join(dir, "..2026_a")); err != nil {
		t.Fatal(err)
	}

	var served *big.Int
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if serial, err := servedSerial(addr, roots); err == nil && serial.Cmp(newSerial) == 0 {
			served = serial
			break
		}
	}
	close(stop)
	clients.Wait()

	if served == nil {
		t.Errorf("the new certificate (serial %x) was not served within 3s of the swap", newSerial)
	}
	if n := failures.Load(); n > 0 {
		t.Errorf("%d of %d handshakes failed during rotation, first: %v", n, handshakes.Load(), *firstFailure.Load())
	}
	if handshakes.Load() == 0 {
		t.Error("no handshake ran during rotation")
	}
	if r.Failures() != 0 {
		t.Errorf("Failures = %d, want 0 for a clean rotation", r.Failures())
	}
}

func TestReloaderKeepsServingTheOldPairWhenTheNewFilesAreBad(t *testing.T) {
	ca := newTestCA(t)
	otherCert, _ := issue(t, ca)
	_, otherKey := issue(t, ca)
	goodCert, _ := issue(t, ca)
	now := time.Now()
	pair := func(hosts []string, notBefore, notAfter time.Time) (certPEM, keyPEM []byte) {
		certPEM, keyPEM, err := ca.issue(hosts, notBefore, notAfter)
		if err != nil {
			t.Fatal(err)
		}
		return certPEM, keyPEM
	}
	expiredCert, expiredKey := pair(loopbackHosts, now.Add(-2*time.Hour), now.Add(-time.Hour))
	earlyCert, earlyKey := pair(loopbackHosts, now.Add(time.Hour), now.Add(2*time.Hour))
	elsewhereCert, elsewhereKey := pair([]string{"other.example"}, now.Add(-time.Hour), now.Add(time.Hour))
	narrowerCert, narrowerKey := pair([]string{"localhost"}, now.Add(-time.Hour), now.Add(time.Hour))

	tests := []struct {
		name      string
		certPEM   []byte
		keyPEM    []byte
		wantInErr string
		// refused pairs load but would serve worse: Refusals counts them.
		refused bool
	}{
		{"A garbage certificate is rejected.", []byte("garbage"), otherKey, "failed to find any PEM data", false},
		{"A certificate with another certificate's key is rejected.", otherCert, otherKey, "does not match", false},
		{"A certificate cut off halfway is rejected.", goodCert[:len(goodCert)/2], otherKey, "failed to find", false},
		{"An empty key is rejected.", otherCert, nil, "failed to find any PEM data in key", false},
		{"An expired pair is refused.", expiredCert, expiredKey, "expired at", true},
		{"A pair not valid yet is refused.", earlyCert, earlyKey, "not valid before", true},
		{"A pair for another name is refused.", elsewhereCert, elsewhereKey, `served name "localhost"`, true},
		{"A pair for fewer names is refused.", narrowerCert, narrowerKey, `served name "127.0.0.1"`, true},
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
			if err := WriteServing(dir, ca.CertPEM, tt.certPEM, tt.keyPEM); err != nil {
				t.Fatal(err)
			}

			r.reload()
			r.reload() // unchanged bad files are counted once, not on every resync

			cert, err := r.GetCertificate(nil)
			if err != nil {
				t.Fatalf("GetCertificate: %v", err)
			}
			if want := parseCert(t, certPEM).SerialNumber; cert.Leaf.SerialNumber.Cmp(want) != 0 {
				t.Errorf("serving serial %x, want the old pair's %x", cert.Leaf.SerialNumber, want)
			}
			if err := r.Ready(); err != nil {
				t.Errorf("Ready: %v, want ready with the old pair", err)
			}
			if failed, refused := r.Failures(), r.Refusals(); tt.refused && (failed != 0 || refused != 1) || !tt.refused && (failed != 1 || refused != 0) {
				t.Errorf("Failures, Refusals = %d, %d, want one counted as refused: %v", failed, refused, tt.refused)
			}
			if len(hooked) != 1 || !strings.Contains(hooked[0].Error(), tt.wantInErr) || !strings.Contains(hooked[0].Error(), dir) {
				t.Errorf("failure hook got %v, want one error naming %s and containing %q", hooked, dir, tt.wantInErr)
			}
		})
	}
}

func TestReloaderPicksUpAPairThatAppearsLater(t *testing.T) {
	dir := t.TempDir()
	r := newReloader(t, dir)
	if _, err := r.GetCertificate(nil); err == nil {
		t.Error("GetCertificate succeeded with no files")
	}
	ca := newTestCA(t)
	certPEM, keyPEM := issue(t, ca)
	if err := WriteServing(dir, ca.CertPEM, certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	r.reload()
	if err := r.Ready(); err != nil {
		t.Errorf("Ready after the pair appeared: %v", err)
	}
	if r.Failures() != 1 {
		t.Errorf("Failures = %d, want 1 for the initial missing pair", r.Failures())
	}
}

func TestReadyExplainsWhyNoUsableCertificateIsLoaded(t *testing.T) {
	ca := newTestCA(t)
	now := time.Now()
	tests := []struct {
		name      string
		notBefore time.Time
		notAfter  time.Time
		noFiles   bool
		wantErr   string
	}{
		{name: "An empty directory is not ready.", noFiles: true, wantErr: "no certificate loaded from"},
		{name: "An expired certificate is not ready.", notBefore: now.Add(-2 * time.Hour), notAfter: now.Add(-time.Hour), wantErr: "expired at"},
		{name: "A certificate not valid yet is not ready.", notBefore: now.Add(time.Hour), notAfter: now.Add(2 * time.Hour), wantErr: "not valid before"},
		{name: "A certificate within its validity is ready.", notBefore: now.Add(-time.Hour), notAfter: now.Add(time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if !tt.noFiles {
				certPEM, keyPEM, err := ca.issue(loopbackHosts, tt.notBefore, tt.notAfter)
				if err != nil {
					t.Fatal(err)
				}
				if err := WriteServing(dir, ca.CertPEM, certPEM, keyPEM); err != nil {
					t.Fatal(err)
				}
			}
			err := newReloader(t, dir).Ready()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Ready: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), dir)):
				t.Errorf("Ready = %v, want an error naming %s and containing %q", err, dir, tt.wantErr)
			}
		})
	}
}

func TestNewReloaderRejectsADirectoryThatDoesNotExist(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	_, err := NewReloader(missing, nil)
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("NewReloader(%s) error = %v, want not exist", missing, err)
	}
	if _, err := NewReloader("", nil); err == nil {
		t.Error("NewReloader with no directory succeeded")
	}
}
