package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gracekeeper/gracekeeper/certs"
	"github.com/gracekeeper/gracekeeper/policies"
	"github.com/gracekeeper/gracekeeper/policies/api/v1alpha1"
	"github.com/gracekeeper/gracekeeper/policies/policytest"
)

// BenchmarkServed sends each review as the API server does, one at a time
// over one keep-alive HTTPS connection, to the whole Server (TLS, the
// in-flight budget, the handler, JSON logs at info level written to a file
// as `gracekeeper serve` writes them to its stderr), and beside it to
// policies/policytest.Minimal behind a plain net/http TLS server, as e2e/bench/noop
// serves it: the API server's per-call latency of each, without the API
// server. BenchmarkReview measures the handler alone.
func BenchmarkServed(b *testing.B) {
	reviews, err := policytest.NewReviews()
	if err != nil {
		b.Fatal(err)
	}
	deploymentCreate := createOf(b, reviews.DeploymentUpdate)
	cases := []benchCase{
		// The calls of part 3 of make bench: a Pod CREATE needing a patch, and
		// a Deployment CREATE's validating call.
		{"pod-create", PathMutateEnforce, reviews.PodCreate, `"path":"/spec/containers/1/lifecycle"`},
		{"deployment-create-validate", PathValidateEnforce, deploymentCreate, `will add preStop`},
	}
	dir := b.TempDir()
	pair, roots := servedPair(b, dir)
	gracekeeper := servedGracekeeper(b, dir)
	for _, c := range cases {
		floor := servedFloor(b, pair, floorFor(b, benchHandler(b), c.path, c.body))
		b.Run(c.name+"/gracekeeper", func(b *testing.B) { benchServed(b, gracekeeper, roots, c) })
		b.Run(c.name+"/floor", func(b *testing.B) { benchServed(b, floor, roots, c) })
	}
}

// createOf is the CREATE of an UPDATE review's object.
func createOf(b *testing.B, update []byte) []byte {
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(update, &review); err != nil {
		b.Fatal(err)
	}
	review.Request.Operation, review.Request.OldObject = admissionv1.Create, runtime.RawExtension{}
	review.Request.Options = runtime.RawExtension{Raw: []byte(`{"kind":"CreateOptions","apiVersion":"meta.k8s.io/v1"}`)}
	data, err := json.Marshal(review)
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// servedPair writes a serving pair for 127.0.0.1 into dir and returns it
// with the roots that verify it.
func servedPair(b *testing.B, dir string) (tls.Certificate, *x509.CertPool) {
	ca, err := certs.GenerateCA("gracekeeper bench CA", time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue([]string{"127.0.0.1"}, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	for name, data := range map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		b.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	return pair, roots
}

// servedGracekeeper runs the Server with the default configuration, logging
// as serve does by default, to a file, and returns its base URL.
func servedGracekeeper(b *testing.B, dir string) string {
	// Not beside the certificates, whose directory the reloader watches.
	logs, err := os.Create(filepath.Join(b.TempDir(), "gracekeeper.log"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { logs.Close() })
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	reloader, err := certs.NewReloader(dir, logger)
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := v1alpha1.Load("")
	if err != nil {
		b.Fatal(err)
	}
	engine, err := policies.New(cfg, testServerVersion)
	if err != nil {
		b.Fatal(err)
	}
	srv, err := New(Config{Engine: engine, Certificates: reloader, Logger: logger, Listen: "127.0.0.1:0", ProbeListen: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- srv.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-stopped; err != nil {
			b.Error(err)
		}
	})
	return "https://" + srv.Addr().String()
}

// servedFloor serves handler as e2e/bench/noop does and returns its base URL.
func servedFloor(b *testing.B, pair tls.Certificate, handler http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{
		Handler:           handler,
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}},
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() {
		if err := srv.ServeTLS(ln, "", ""); !errors.Is(err, http.ErrServerClosed) {
			b.Error(err)
		}
	}()
	b.Cleanup(func() { srv.Close() })
	return "https://" + ln.Addr().String()
}

// benchServed checks the first answer, then measures the reviews, each
// waiting for the last, on one connection.
func benchServed(b *testing.B, base string, roots *x509.CertPool, c benchCase) {
	transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, MaxIdleConnsPerHost: 1}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second}
	url := base + c.path + "?timeout=10s"
	post := func() []byte {
		resp, err := client.Post(url, "application/json", bytes.NewReader(c.body))
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("POST %s = %d %s %v", c.path, resp.StatusCode, data, err)
		}
		return data
	}
	if answer := post(); !strings.Contains(string(answer), `"allowed":true`) {
		b.Fatalf("POST %s answered %s, want it allowed", c.path, answer)
	}
	var conns atomic.Int64
	client.Transport = &countingTransport{transport, &conns}
	b.ReportAllocs()
	stop := policytest.MeasureCPU(b)
	for b.Loop() {
		post()
	}
	stop()
	b.ReportMetric(float64(conns.Load()), "conns")
}

type countingTransport struct {
	*http.Transport
	conns *atomic.Int64
}

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
		if !i.Reused {
			t.conns.Add(1)
		}
	}}
	return t.Transport.RoundTrip(r.WithContext(httptrace.WithClientTrace(r.Context(), trace)))
}
