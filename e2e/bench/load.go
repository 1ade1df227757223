package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// LoadOptions configure Load.
type LoadOptions struct {
	// URL is where every review is POSTed: an https URL on loopback.
	URL string
	// Body is the AdmissionReview sent, every time.
	Body []byte
	// RootCAs verify the server's certificate.
	RootCAs *x509.CertPool
	// Concurrency is the number of clients, each with its own keep-alive
	// connection, each sending its next review when the last is answered.
	Concurrency int
	// Warmup reviews are sent first, on the same connections, and not measured.
	Warmup int
	// Requests is the number of reviews measured.
	Requests int
	// Timeout bounds the whole run, warm-up included.
	Timeout time.Duration
	// Check, if set, judges each answer's body; an error stops the run.
	Check func(body []byte) error
}

// LoadResult is a measured run.
type LoadResult struct {
	// Latencies of every measured review, sorted.
	Latencies []time.Duration
	// Elapsed is the wall time of the measured reviews.
	Elapsed time.Duration
}

// Throughput is the measured reviews per second.
func (r LoadResult) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(len(r.Latencies)) / r.Elapsed.Seconds()
}

// Load runs a closed-loop load test: Concurrency clients over keep-alive
// TLS connections send Warmup, then Requests reviews, each client sending
// its next review when its last one is answered. It stops by itself: after
// Requests reviews, or with an error at the first failed review or when
// Timeout passes.
func Load(ctx context.Context, opts LoadOptions) (LoadResult, error) {
	if opts.Concurrency < 1 || opts.Requests < 1 || opts.Timeout <= 0 {
		return LoadResult{}, fmt.Errorf("load options: concurrency %d, requests %d and timeout %s must be positive",
			opts.Concurrency, opts.Requests, opts.Timeout)
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	transport := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: opts.RootCAs, MinVersion: tls.VersionTLS12},
		MaxConnsPerHost:     opts.Concurrency,
		MaxIdleConnsPerHost: opts.Concurrency,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport}

	if opts.Warmup > 0 {
		if _, err := run(ctx, client, opts, opts.Warmup); err != nil {
			return LoadResult{}, fmt.Errorf("warm-up: %w", err)
		}
	}
	started := time.Now()
	latencies, err := run(ctx, client, opts, opts.Requests)
	elapsed := time.Since(started)
	if err != nil {
		return LoadResult{}, err
	}
	slices.Sort(latencies)
	return LoadResult{Latencies: latencies, Elapsed: elapsed}, nil
}

// run sends n reviews from opts.Concurrency clients and returns each one's
// latency.
func run(ctx context.Context, client *http.Client, opts LoadOptions, n int) ([]time.Duration, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	latencies := make([]time.Duration, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range opts.Concurrency {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				start := time.Now()
				if err := send(ctx, client, opts); err != nil {
					cancel(fmt.Errorf("review %d of %d: %w", i+1, n, err))
					return
				}
				latencies[i] = time.Since(start)
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("stopped after %s, before %d reviews were answered", opts.Timeout, n)
		}
		return nil, err
	}
	return latencies, nil
}

func send(ctx context.Context, client *http.Client, opts LoadOptions) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, opts.URL, bytes.NewReader(opts.Body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	// Reading the whole body lets the connection be reused.
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("answered %s: %s", resp.Status, bytes.TrimSpace(body))
	}
	if opts.Check != nil {
		return opts.Check(body)
	}
	return nil
}
