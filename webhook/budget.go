package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// DefaultMaxInFlightBytes is the in-flight budget when no memory limit is
// known: room for eight maximum-size bodies, or hundreds of ordinary reviews.
const DefaultMaxInFlightBytes = 8 * maxBodyBytes

// defaultReviewWait bounds a review when the caller says nothing: the API
// server's default webhook timeout. The API server says its own timeout in
// the URL's timeout parameter, at most maxReviewWait (the largest
// timeoutSeconds a webhook configuration may set); a longer one is not the
// API server's and is cut, so that no caller can hold room for good.
const (
	defaultReviewWait = 10 * time.Second
	maxReviewWait     = 30 * time.Second
)

// bodyReadTimeout bounds the read of a review's body. The API server writes
// a review in one go right after its headers (k8s.io/apiserver's webhook
// client posts an in-memory body), so even 3 MiB arrive in milliseconds; a
// caller that trickles a body is cut off after this.
const bodyReadTimeout = 2 * time.Second

// The cost model of a review, in bytes of heap (see reviewCost).
const (
	// bytesCost is the heap per byte of body: the body, the raw objects the
	// envelope keeps, the decoded strings and maps (a map of short labels
	// takes about 9 bytes per byte of JSON).
	bytesCost = 10
	// objectCost is the heap per JSON object: each decodes into a Go struct
	// (a corev1.Container is 408 bytes; the slices holding them grow by
	// doubling).
	objectCost = 512
)

// reviewCost estimates the heap a review of this body takes while it is
// decoded and judged, from the body alone: bytesCost per byte and objectCost
// per '{'. A '{' inside a string is counted too, which only overestimates.
// A Pod of 178,000 minimal containers (3 MiB) costs 117 MiB by this model;
// its 3 MiB as a single label value, 30 MiB.
func reviewCost(body []byte) int64 {
	return int64(len(body))*bytesCost + int64(bytes.Count(body, []byte{'{'}))*objectCost
}

// reviewWait is how long a review to url may take, waiting for room included.
func reviewWait(url *url.URL) time.Duration {
	d, err := time.ParseDuration(url.Query().Get("timeout"))
	if err != nil || d <= 0 {
		return defaultReviewWait
	}
	return min(d, maxReviewWait)
}

// MaxInFlightBytesFor is the default budget under a Go memory limit of
// memoryLimit bytes: half of it, the other half left to the bodies being
// read (reserved, not yet allocated), the process and the garbage
// collector's headroom. It is never less than one maximum-size review. A non-positive
// limit means none.
func MaxInFlightBytesFor(memoryLimit int64) int64 {
	if memoryLimit <= 0 {
		return DefaultMaxInFlightBytes
	}
	return max(memoryLimit/2, maxBodyBytes)
}

// room is a weighted semaphore that admits any request that fits, in arrival
// order among those that fit: a large request waiting for room never holds
// back a small one behind it (golang.org/x/sync/semaphore is first in, first
// out). A large request can wait until its deadline while small ones pass;
// it is then answered 503, and the API server applies the failure policy.
type room struct {
	mu      sync.Mutex
	size    int64
	used    int64
	waiters []*roomWaiter
}

type roomWaiter struct {
	n     int64
	ready chan struct{} // closed once the waiter holds n
}

func newRoom(size int64) *room { return &room{size: size} }

// tryAcquire takes n if it fits now.
func (r *room) tryAcquire(n int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.used+n > r.size {
		return false
	}
	r.used += n
	return true
}

// acquire takes n, waiting until it fits or ctx ends.
func (r *room) acquire(ctx context.Context, n int64) error {
	r.mu.Lock()
	if r.used+n <= r.size {
		r.used += n
		r.mu.Unlock()
		return nil
	}
	w := &roomWaiter{n: n, ready: make(chan struct{})}
	r.waiters = append(r.waiters, w)
	r.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		r.mu.Lock()
		select {
		case <-w.ready:
			// Admitted meanwhile: give it back.
			r.mu.Unlock()
			r.release(n)
		default:
			for i, o := range r.waiters {
				if o == w {
					r.waiters = append(r.waiters[:i], r.waiters[i+1:]...)
					break
				}
			}
			r.mu.Unlock()
		}
		return ctx.Err()
	}
}

// release gives n back and admits every waiter that now fits.
func (r *room) release(n int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.used -= n
	if r.used < 0 {
		panic("webhook: review budget released more than it held")
	}
	waiting := r.waiters[:0]
	for _, w := range r.waiters {
		if r.used+w.n <= r.size {
			r.used += w.n
			close(w.ready)
			continue
		}
		waiting = append(waiting, w)
	}
	clear(r.waiters[len(waiting):])
	r.waiters = waiting
}

// reviewBudget bounds the memory of the reviews being read and judged. A
// review's body is read first, its length reserved in the read room (half
// the budget's size), within bodyReadTimeout (see readBody). The review is then charged its
// cost (reviewCost, at most the whole budget) before it is decoded, and
// gives it back once answered, or as soon as its caller leaves or its
// timeout (the API server's) passes: the review's context ends then, and the
// engine stops. Holders of judge room never wait for read room, so the two
// cannot block each other.
type reviewBudget struct {
	judge, read *room
	size        int64
	metrics     *metrics
	// onWait, if set, is called when a review of cost bytes starts to wait.
	onWait func(cost int64)
}

func newReviewBudget(size int64, m *metrics) *reviewBudget {
	return &reviewBudget{judge: newRoom(size), read: newRoom(max(size/2, maxBodyBytes)), size: size, metrics: m}
}

// busy answers 503 to a review that found no room in time.
func (b *reviewBudget) busy(w http.ResponseWriter, r *http.Request, wait time.Duration, started time.Time, what string) {
	b.metrics.budgetTimeouts.Inc()
	why := fmt.Sprintf("its timeout of %s passed", wait)
	if r.Context().Err() != nil {
		why = "its caller went away"
	}
	http.Error(w, fmt.Sprintf("gracekeeper is busy: this review waited %s for room %s among the %d bytes of reviews judged at once (serve --max-inflight-bytes), and %s; add replicas or memory if this recurs",
		time.Since(started).Round(time.Millisecond), what, b.size, why), http.StatusServiceUnavailable)
}

// readBody reads a body of at most maxBodyBytes, having first reserved its
// Content-Length (the maximum without one) in the read room, and returns it
// with the room it holds. The body's memory grows only as its bytes arrive,
// and the read must end within bodyReadTimeout of the reservation: a caller
// that trickles a body holds its reservation for that long at most.
func (b *reviewBudget) readBody(ctx context.Context, rc *http.ResponseController, body io.Reader, length int64) ([]byte, int64, error) {
	held := length
	if held < 0 || held > maxBodyBytes {
		held = maxBodyBytes
	}
	if !b.read.tryAcquire(held) {
		if err := b.read.acquire(ctx, held); err != nil {
			return nil, 0, err
		}
	}
	rc.SetReadDeadline(time.Now().Add(bodyReadTimeout))
	data, err := readAll(body, length)
	switch {
	case err != nil:
		b.read.release(held)
		return nil, 0, err
	case int64(len(data)) > maxBodyBytes:
		b.read.release(held)
		return nil, 0, &http.MaxBytesError{Limit: maxBodyBytes}
	}
	return data, held, nil
}

// readAll reads body, up to maxBodyBytes+1 bytes, into one buffer of its
// declared length when the request has one (the API server's always does),
// rather than io.ReadAll's doubling from 512 bytes: 11 KB and 6 allocations
// less per typical review in BenchmarkServed.
func readAll(body io.Reader, length int64) ([]byte, error) {
	if length < 0 || length > maxBodyBytes {
		return io.ReadAll(io.LimitReader(body, maxBodyBytes+1))
	}
	// bytes.MinRead spare bytes let ReadFrom see the end without growing.
	buf := bytes.NewBuffer(make([]byte, 0, length+bytes.MinRead))
	_, err := buf.ReadFrom(io.LimitReader(body, maxBodyBytes+1))
	return buf.Bytes(), err
}

func (b *reviewBudget) limit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started := time.Now()
		wait := reviewWait(r.URL)
		ctx, cancel := context.WithTimeout(r.Context(), wait)
		defer cancel()
		rc := http.NewResponseController(w)
		if r.ContentLength > maxBodyBytes {
			// Answered from its first bytes, the rest read into nothing
			// (answerOversized): nothing to charge.
			rc.SetReadDeadline(time.Now().Add(bodyReadTimeout))
			next.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		body, held, err := b.readBody(ctx, rc, r.Body, r.ContentLength)
		switch tooLarge := (*http.MaxBytesError)(nil); {
		case errors.As(err, &tooLarge):
			answerTooLarge(w)
			return
		case err != nil && ctx.Err() != nil:
			b.busy(w, r, wait, started, "to read its body")
			return
		case err != nil:
			http.Error(w, fmt.Sprintf("read request body within %s: %v; the API server sends a review at once", bodyReadTimeout, err), http.StatusBadRequest)
			return
		}
		// The body is in: no deadline but the review's own, which, when it
		// fires, ends the request's context (net/http's background read).
		deadline, _ := ctx.Deadline()
		rc.SetReadDeadline(deadline)
		cost := min(max(reviewCost(body), held), b.size)
		if !b.judge.tryAcquire(cost) {
			if b.onWait != nil {
				b.onWait(cost)
			}
			if err := b.judge.acquire(ctx, cost); err != nil {
				b.read.release(held)
				b.busy(w, r, wait, started, fmt.Sprintf("for its cost of %d bytes", cost))
				return
			}
		}
		b.read.release(held)
		defer b.judge.release(cost)
		b.metrics.inFlightBytes.Add(float64(cost))
		defer b.metrics.inFlightBytes.Sub(float64(cost))
		// The write deadline runs from the request's start: the wait must
		// not eat the time to answer.
		rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		next.ServeHTTP(w, r.WithContext(withBody(ctx, body)))
	})
}

// bodyKey carries a body the budget has read to the review handler.
type bodyKey struct{}

func withBody(ctx context.Context, body []byte) context.Context {
	return context.WithValue(ctx, bodyKey{}, body)
}

// bodyOf is the body the budget read, if it did.
func bodyOf(ctx context.Context) ([]byte, bool) {
	body, ok := ctx.Value(bodyKey{}).([]byte)
	return body, ok
}
