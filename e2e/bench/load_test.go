package bench

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gracekeeper/gracekeeper/policies/policytest"
)

// tlsServer serves h over TLS on loopback and returns its URL and CA.
func tlsServer(t *testing.T, h http.Handler) (string, *x509.CertPool) {
	t.Helper()
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return srv.URL, pool
}

func TestLoadSendsEveryReviewToTheNoopServerAndMeasuresEach(t *testing.T) {
	mux, err := NoopMux()
	if err != nil {
		t.Fatal(err)
	}
	var answered atomic.Int64
	url, pool := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		answered.Add(1)
		mux.ServeHTTP(w, r)
	}))
	reviews, err := policytest.NewReviews()
	if err != nil {
		t.Fatal(err)
	}
	res, err := Load(context.Background(), LoadOptions{
		URL: url + "/mutate/enforce", Body: reviews.PodCreate, RootCAs: pool,
		Concurrency: 4, Warmup: 20, Requests: 200, Timeout: time.Minute,
		Check: func(body []byte) error {
			if !bytes.Contains(body, []byte(`"allowed":true`)) {
				return errors.New("not allowed")
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := answered.Load(); got != 220 {
		t.Errorf("server answered %d reviews, want 220 (20 warm-up, 200 measured)", got)
	}
	if len(res.Latencies) != 200 {
		t.Fatalf("measured %d latencies, want 200", len(res.Latencies))
	}
	for i, l := range res.Latencies {
		if l <= 0 || (i > 0 && l < res.Latencies[i-1]) {
			t.Fatalf("latencies are not positive and sorted: %v", res.Latencies)
		}
	}
	if res.Throughput() <= 0 {
		t.Errorf("throughput = %v, want positive", res.Throughput())
	}
}

func TestLoadStopsAtTheFirstFailedReview(t *testing.T) {
	var answered atomic.Int64
	url, pool := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if answered.Add(1) == 10 {
			http.Error(w, "boom", http.StatusInternalServerError)
		}
	}))
	_, err := Load(context.Background(), LoadOptions{
		URL: url, Body: []byte("{}"), RootCAs: pool, Concurrency: 2, Requests: 10000, Timeout: time.Minute,
	})
	if err == nil || !strings.Contains(err.Error(), "500") || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("err = %v, want the 500 and its message", err)
	}
	if got := answered.Load(); got > 100 {
		t.Errorf("server answered %d reviews after the failure, want the run stopped", got)
	}
}

func TestLoadStopsWhenItsTimeIsUp(t *testing.T) {
	url, pool := tlsServer(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		time.Sleep(20 * time.Millisecond)
	}))
	started := time.Now()
	_, err := Load(context.Background(), LoadOptions{
		URL: url, Body: []byte("{}"), RootCAs: pool, Concurrency: 2, Requests: 1000000, Timeout: 300 * time.Millisecond,
	})
	if err == nil || !strings.Contains(err.Error(), "stopped after 300ms") {
		t.Errorf("err = %v, want a timeout", err)
	}
	if took := time.Since(started); took > 5*time.Second {
		t.Errorf("Load took %s to stop", took)
	}
}
