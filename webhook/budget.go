package webhook

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/sync/semaphore"
)

// DefaultMaxInFlightBytes is the in-flight budget when no memory limit is
// known: room for eight maximum-size reviews.
const DefaultMaxInFlightBytes = 8 * maxBodyBytes

// defaultReviewWait bounds the wait for room in the budget when the caller
// says nothing: the API server's default webhook timeout. The API server says
// its own timeout in the URL's timeout parameter, at most maxReviewWait (the
// largest timeoutSeconds a webhook configuration may set); a longer one is
// not the API server's and is cut, so that no caller can wait for good.
const (
	defaultReviewWait = 10 * time.Second
	maxReviewWait     = 30 * time.Second
)

// reviewWait is how long a review to url may wait for room in the budget.
func reviewWait(url *url.URL) time.Duration {
	d, err := time.ParseDuration(url.Query().Get("timeout"))
	if err != nil || d <= 0 {
		return defaultReviewWait
	}
	return min(d, maxReviewWait)
}

// MaxInFlightBytesFor is the default budget under a Go memory limit of
// memoryLimit bytes: a sixteenth of it. A review takes up to about ten times
// its size while it is read, decoded and judged (65 MiB for a 6 MiB Pod of
// many labels, measured by make bench), and the process needs the rest. It is
// never less than one maximum-size review. A non-positive limit means none.
func MaxInFlightBytesFor(memoryLimit int64) int64 {
	if memoryLimit <= 0 {
		return DefaultMaxInFlightBytes
	}
	return max(memoryLimit/16, maxBodyBytes)
}

// reviewBudget bounds the bytes of review bodies being read or judged at
// once. A review takes its Content-Length from the budget (the maximum body
// size when the length is not given) before its body is read, and gives it
// back once answered. A review that finds no room waits, in arrival order,
// until there is room, its caller leaves, or its timeout passes; only then is
// it answered 503.
type reviewBudget struct {
	sem     *semaphore.Weighted
	size    int64
	metrics *metrics
	// onWait, if set, is called when a review of weight bytes starts to wait.
	onWait func(weight int64)
}

func newReviewBudget(size int64, m *metrics) *reviewBudget {
	return &reviewBudget{sem: semaphore.NewWeighted(size), size: size, metrics: m}
}

// wait waits for room for a review that found none, and answers it 503 when
// its caller leaves or its timeout passes first; false means it was answered.
func (b *reviewBudget) wait(w http.ResponseWriter, r *http.Request, weight int64) bool {
	if b.onWait != nil {
		b.onWait(weight)
	}
	wait := reviewWait(r.URL)
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	started := time.Now()
	if err := b.sem.Acquire(ctx, weight); err != nil {
		b.metrics.budgetTimeouts.Inc()
		why := fmt.Sprintf("its timeout of %s passed", wait)
		if r.Context().Err() != nil {
			why = "its caller went away"
		}
		http.Error(w, fmt.Sprintf("gracekeeper is busy: this review of %d bytes waited %s for room among the %d bytes of reviews judged at once (serve --max-inflight-bytes), and %s; add replicas or memory if this recurs",
			weight, time.Since(started).Round(time.Millisecond), b.size, why), http.StatusServiceUnavailable)
		return false
	}
	return true
}

func (b *reviewBudget) limit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		weight := r.ContentLength
		if weight < 0 || weight > maxBodyBytes {
			weight = maxBodyBytes
		}
		// Room is usually there: only a review that waits needs a timeout.
		if !b.sem.TryAcquire(weight) && !b.wait(w, r, weight) {
			return
		}
		defer b.sem.Release(weight)
		b.metrics.inFlightBytes.Add(float64(weight))
		defer b.metrics.inFlightBytes.Sub(float64(weight))
		// The server's read and write deadlines run from the request's
		// start: the wait must not eat the time to read and answer it.
		rc := http.NewResponseController(w)
		rc.SetReadDeadline(time.Now().Add(readTimeout))
		rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		next.ServeHTTP(w, r)
	})
}
