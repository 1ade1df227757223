package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/gracekeeper/gracekeeper/certs"
	"github.com/gracekeeper/gracekeeper/policies"
	"github.com/gracekeeper/gracekeeper/policies/api/v1alpha1"
)

// servingDir is a certificate directory laid out as the kubelet mounts a
// Secret: the files are symlinks through ..data, which is swapped atomically.
type servingDir struct {
	t          *testing.T
	dir        string
	ca         *certs.CA
	generation int
}

func newServingDir(t *testing.T) *servingDir {
	t.Helper()
	ca, err := certs.GenerateCA("gracekeeper test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return &servingDir{t: t, dir: t.TempDir(), ca: ca}
}

// issue writes a new serving pair for 127.0.0.1 the way the kubelet updates
// a Secret volume, and returns its certificate.
func (d *servingDir) issue() *x509.Certificate {
	t := d.t
	t.Helper()
	certPEM, keyPEM, err := d.ca.Issue([]string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	d.generation++
	version := fmt.Sprintf("..2026_01_01_00_00_%02d.%d", d.generation, d.generation)
	must(t, os.Mkdir(filepath.Join(d.dir, version), 0o755))
	for name, data := range map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM, "ca.crt": d.ca.CertPEM} {
		must(t, os.WriteFile(filepath.Join(d.dir, version, name), data, 0o600))
	}
	old, _ := os.Readlink(filepath.Join(d.dir, "..data"))
	must(t, os.Symlink(version, filepath.Join(d.dir, "..data_tmp")))
	must(t, os.Rename(filepath.Join(d.dir, "..data_tmp"), filepath.Join(d.dir, "..data")))
	for _, name := range []string{"tls.crt", "tls.key", "ca.crt"} {
		if _, err := os.Lstat(filepath.Join(d.dir, name)); os.IsNotExist(err) {
			must(t, os.Symlink(filepath.Join("..data", name), filepath.Join(d.dir, name)))
		}
	}
	if old != "" {
		must(t, os.RemoveAll(filepath.Join(d.dir, old)))
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return pair.Leaf
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// running is a Server started by startServer.
type running struct {
	*Server
	cancel context.CancelFunc
	// stopped is closed when Run returns runErr.
	stopped chan struct{}
	runErr  error
	client  *http.Client
	logs    *syncBuffer
	// loaded receives the leaf of each serving pair put in service after New.
	loaded chan *x509.Certificate
}

// startServer runs a server on loopback ports with the certificates in dir.
// Each option is a func(*Config), which may change the configuration, or a
// func(*Server), called before Run (to replace the drain's clock).
func startServer(t *testing.T, d *servingDir, drainDelay time.Duration, options ...any) *running {
	t.Helper()
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	loaded := make(chan *x509.Certificate, 16)
	reloader, err := certs.NewReloader(d.dir, logger, certs.WithResyncInterval(500*time.Millisecond),
		certs.WithLoadHook(func(c *x509.Certificate) {
			select {
			case loaded <- c:
			default:
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	// The first pair, if any, is loaded: only later ones are news.
	select {
	case <-loaded:
	default:
	}
	cfg, err := v1alpha1.Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	engine, err := policies.New(cfg, testServerVersion)
	if err != nil {
		t.Fatal(err)
	}
	config := Config{
		Engine: engine, Certificates: reloader, Logger: logger,
		Listen: "127.0.0.1:0", ProbeListen: "127.0.0.1:0",
		DrainDelay: drainDelay, ShutdownTimeout: 5 * time.Second,
	}
	for _, option := range options {
		if configure, ok := option.(func(*Config)); ok {
			configure(&config)
		}
	}
	srv, err := New(config)
	if err != nil {
		t.Fatal(err)
	}
	for _, option := range options {
		if prepare, ok := option.(func(*Server)); ok {
			prepare(srv)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Server: srv, cancel: cancel, stopped: make(chan struct{}), logs: logs, loaded: loaded}
	t.Cleanup(func() { r.client.CloseIdleConnections() })
	go func() {
		r.runErr = srv.Run(ctx)
		close(r.stopped)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.stopped:
		case <-time.After(10 * time.Second):
			t.Error("server did not stop within 10s")
		}
	})
	roots := x509.NewCertPool()
	roots.AddCert(d.ca.Cert)
	r.client = &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots},
			// A handshake per request, so that every request sees the
			// certificate served at that moment.
			DisableKeepAlives: true,
		},
	}
	return r
}

func (r *running) url(path string) string { return "https://" + r.Addr().String() + path }

// probe gets a probe path and returns its status code and body.
func (r *running) probe(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + r.ProbeAddr().String() + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// mustBeReady checks /readyz passes: the pair is loaded before Run starts.
func (r *running) mustBeReady(t *testing.T) {
	t.Helper()
	if code, body := r.probe(t, "/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz = %d %q, want 200", code, body)
	}
}

// nextLoad waits until the server puts a new serving pair in service.
func (r *running) nextLoad(t *testing.T) *x509.Certificate {
	t.Helper()
	select {
	case cert := <-r.loaded:
		return cert
	case <-time.After(10 * time.Second):
		t.Fatal("no new certificate was put in service within 10s")
		return nil
	}
}

// postReview sends a pod review and checks the answer is the expected patch.
func (r *running) postReview(body []byte) (*http.Response, error) {
	resp, err := r.client.Post(r.url(PathMutateEnforce), "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var answer admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		return nil, fmt.Errorf("decode answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK || answer.Response == nil || !answer.Response.Allowed || !strings.Contains(string(answer.Response.Patch), "preStop") {
		return nil, fmt.Errorf("answer %d %+v, want 200 with a preStop patch", resp.StatusCode, answer.Response)
	}
	return resp, nil
}

func TestTheServerSpeaksHTTP11OverTLS12OrNewer(t *testing.T) {
	d := newServingDir(t)
	d.issue()
	r := startServer(t, d, 0)
	r.mustBeReady(t)

	resp, err := r.postReview(request{op: admissionv1.Create, resource: "pods", object: podYAML}.body(t))
	if err != nil {
		t.Fatal(err)
	}
	if resp.ProtoMajor != 1 || resp.ProtoMinor != 1 || resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Errorf("served %s over TLS %v, want HTTP/1.1 over TLS 1.2+", resp.Proto, resp.TLS)
	}

	h2 := r.client.Transport.(*http.Transport).TLSClientConfig.Clone()
	h2.NextProtos = []string{"h2"}
	if conn, err := tls.Dial("tcp", r.Addr().String(), h2); err == nil {
		if proto := conn.ConnectionState().NegotiatedProtocol; proto == "h2" {
			t.Errorf("the server negotiated HTTP/2")
		}
		conn.Close()
	}

	old := r.client.Transport.(*http.Transport).TLSClientConfig.Clone()
	old.MinVersion, old.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	if conn, err := tls.Dial("tcp", r.Addr().String(), old); err == nil {
		conn.Close()
		t.Errorf("a TLS 1.1 client completed a handshake")
	}
}

func TestProbesReportHealthReadinessAndMetrics(t *testing.T) {
	d := newServingDir(t)
	r := startServer(t, d, 0)

	if code, body := r.probe(t, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d %q without a certificate, want 200: the process is alive", code, body)
	}
	if code, body := r.probe(t, "/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "no certificate loaded") {
		t.Errorf("/readyz = %d %q without a certificate, want 503 saying none is loaded", code, body)
	}

	cert := d.issue()
	if loaded := r.nextLoad(t); loaded.SerialNumber.Cmp(cert.SerialNumber) != 0 {
		t.Fatalf("loaded serial %x, want the issued %x", loaded.SerialNumber, cert.SerialNumber)
	}
	r.mustBeReady(t)

	if _, err := r.postReview(request{op: admissionv1.Create, resource: "pods", object: podYAML}.body(t)); err != nil {
		t.Fatal(err)
	}
	_, metrics := r.probe(t, "/metrics")
	for _, want := range []string{
		fmt.Sprintf("gracekeeper_certificate_expiry_timestamp_seconds %g", float64(cert.NotAfter.Unix())),
		"gracekeeper_certificate_reload_failures_total ",
		"gracekeeper_certificate_refusals_total 0",
		"gracekeeper_inflight_review_bytes 0",
		`gracekeeper_findings_total{action="patched",mode="enforce",rule="prestop-hook"} 1`,
		"gracekeeper_internal_errors_total 0",
		`kubewebhook_mutating_webhook_review_duration_seconds_count{dry_run="false",mutated="true",operation="create",resource_kind="v1/Pod",resource_namespace="",success="true",webhook_id="mutate-enforce",webhook_version="v1"} 1`,
		"go_goroutines ",
		"process_start_time_seconds ",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestCertificateRotationFailsNoRequest(t *testing.T) {
	d := newServingDir(t)
	first := d.issue()
	r := startServer(t, d, 0)
	r.mustBeReady(t)
	body := request{op: admissionv1.Create, resource: "pods", object: podYAML}.body(t)

	var (
		sent, failed atomic.Int64
		firstErr     atomic.Value
		stop         = make(chan struct{})
		wg           sync.WaitGroup
		answered     = make(chan struct{}, 64)
	)
	const callers = 2
	for range callers {
		wg.Go(func() {
			deadline := time.Now().Add(20 * time.Second)
			for i := 0; i < 5000 && time.Now().Before(deadline); i++ {
				select {
				case <-stop:
					return
				default:
				}
				sent.Add(1)
				if _, err := r.postReview(body); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
				select {
				case answered <- struct{}{}:
				default:
				}
			}
		})
	}
	// awaitAnswers waits for n more answers.
	awaitAnswers := func(n int, what string) {
		t.Helper()
		timeout := time.After(20 * time.Second)
		for range n {
			select {
			case <-answered:
			case <-timeout:
				t.Fatalf("the load stopped before %s", what)
			}
		}
	}
	awaitAnswers(10, "10 reviews were answered with the first certificate")

	second := d.issue()
	servedSerial := func() string {
		conn, err := tls.Dial("tcp", r.Addr().String(), r.client.Transport.(*http.Transport).TLSClientConfig)
		if err != nil {
			t.Fatalf("handshake during rotation: %v", err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	if loaded := r.nextLoad(t); loaded.SerialNumber.Cmp(second.SerialNumber) != 0 {
		t.Fatalf("loaded serial %x, want the second %x", loaded.SerialNumber, second.SerialNumber)
	}
	if served := servedSerial(); served != second.SerialNumber.String() {
		t.Fatalf("served serial %s once loaded, want the second %s", served, second.SerialNumber)
	}
	for len(answered) > 0 {
		<-answered
	}
	// Each review has its own handshake: past the ones in flight, the
	// answers come with the new certificate.
	awaitAnswers(10+callers, "10 reviews were answered with the new certificate")
	close(stop)
	wg.Wait()

	if n := failed.Load(); n > 0 {
		t.Errorf("%d of %d reviews failed during the rotation; first: %v", n, sent.Load(), firstErr.Load())
	}
	if first.SerialNumber.Cmp(second.SerialNumber) == 0 {
		t.Fatal("the test issued the same serial twice")
	}
	t.Logf("%d reviews answered across the rotation", sent.Load())
}

func TestShutdownDrainsThenAnswersInFlightReviews(t *testing.T) {
	d := newServingDir(t)
	d.issue()
	drainStarted, drained, closedListeners := make(chan struct{}), make(chan time.Time), make(chan struct{})
	r := startServer(t, d, time.Hour, func(s *Server) {
		s.drainTimer = func(time.Duration) <-chan time.Time { close(drainStarted); return drained }
		// Shutdown calls this once it has closed the listeners.
		s.webhook.RegisterOnShutdown(func() { close(closedListeners) })
	})
	r.mustBeReady(t)
	body := request{op: admissionv1.Create, resource: "pods", object: podYAML}.body(t)

	// An in-flight review: the body arrives in two halves, the second after
	// the server has stopped accepting connections.
	pr, pw := io.Pipe()
	inFlight := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, r.url(PathMutateEnforce), pr)
		req.Header.Set("Content-Type", "application/json")
		resp, err := r.client.Do(req)
		if err == nil {
			var answer admissionv1.AdmissionReview
			err = json.NewDecoder(resp.Body).Decode(&answer)
			resp.Body.Close()
			if err == nil && (resp.StatusCode != http.StatusOK || answer.Response == nil || !strings.Contains(string(answer.Response.Patch), "preStop")) {
				err = fmt.Errorf("answer %d %+v, want 200 with a preStop patch", resp.StatusCode, answer.Response)
			}
		}
		inFlight <- err
	}()
	if _, err := pw.Write(body[:len(body)/2]); err != nil {
		t.Fatal(err)
	}

	r.cancel()
	<-drainStarted
	if code, body := r.probe(t, "/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d %q once shutdown began, want 503", code, body)
	}
	if _, err := r.postReview(body); err != nil {
		t.Errorf("a review sent while draining failed: %v", err)
	}
	select {
	case err := <-inFlight:
		t.Fatalf("the in-flight review ended before its body was sent: %v", err)
	default:
	}

	close(drained)
	<-closedListeners
	if conn, err := net.DialTimeout("tcp", r.Addr().String(), time.Second); err == nil {
		conn.Close()
		t.Error("the webhook port accepts connections after the drain")
	}
	if code, body := r.probe(t, "/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d %q while in-flight reviews finish, want 503", code, body)
	}
	if _, err := pw.Write(body[len(body)/2:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	select {
	case err := <-inFlight:
		if err != nil {
			t.Errorf("the in-flight review failed: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the in-flight review got no answer within 5s")
	}
	select {
	case <-r.stopped:
		if r.runErr != nil {
			t.Errorf("Run = %v, want nil after a clean shutdown", r.runErr)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s of the last review")
	}
	if logs := r.logs.String(); !strings.Contains(logs, "every in-flight review was answered") {
		t.Errorf("shutdown was not logged as clean:\n%s", logs)
	}
}

func TestNewSaysWhatIsMissing(t *testing.T) {
	d := newServingDir(t)
	reloader, err := certs.NewReloader(d.dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	engine, err := policies.New(&v1alpha1.Configuration{}, "")
	if err != nil {
		t.Fatal(err)
	}
	inUse, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer inUse.Close()
	tests := map[string]struct {
		cfg  Config
		want string
	}{
		"Without an engine":     {Config{Certificates: reloader}, "engine is required"},
		"Without certificates":  {Config{Engine: engine}, "certificates are required"},
		"With a negative drain": {Config{Engine: engine, Certificates: reloader, DrainDelay: -time.Second}, "drain delay -1s must not be negative"},
		"With an address in use": {Config{Engine: engine, Certificates: reloader, Listen: inUse.Addr().String(), ProbeListen: "127.0.0.1:0"},
			"listen on " + inUse.Addr().String()},
		"With a probe address in use": {Config{Engine: engine, Certificates: reloader, Listen: "127.0.0.1:0", ProbeListen: inUse.Addr().String()},
			"listen on " + inUse.Addr().String()},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := New(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestReadinessWaitsForTheReadyCondition(t *testing.T) {
	d := newServingDir(t)
	d.issue()
	var caInjected atomic.Bool
	r := startServer(t, d, 0, func(c *Config) {
		c.Ready = func() error {
			if !caInjected.Load() {
				return errors.New("the CA is not in the webhook configurations yet")
			}
			return nil
		}
	})
	if code, body := r.probe(t, "/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "the CA is not in the webhook configurations yet") {
		t.Errorf("/readyz = %d %q with a certificate but the condition unmet, want 503 saying why", code, body)
	}
	caInjected.Store(true)
	r.mustBeReady(t)
}
