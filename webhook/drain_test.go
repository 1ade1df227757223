package webhook

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
)

// tcpBalancer spreads connections over backends, as kube-proxy does for a
// Service: it picks a backend per connection and knows nothing of HTTP.
type tcpBalancer struct {
	ln net.Listener

	mu       sync.Mutex
	backends []string
	next     int
	conns    []net.Conn
}

func newTCPBalancer(t *testing.T, backends ...string) *tcpBalancer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &tcpBalancer{ln: ln, backends: backends}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		b.mu.Lock()
		for _, c := range b.conns {
			c.Close()
		}
		b.mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { b.proxy(client) })
		}
	})
	return b
}

// remove stops sending new connections to backend, as the endpoints
// controller does once the backend's readiness fails.
func (b *tcpBalancer) remove(backend string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.backends = slices.DeleteFunc(b.backends, func(s string) bool { return s == backend })
}

func (b *tcpBalancer) proxy(client net.Conn) {
	defer client.Close()
	b.mu.Lock()
	target := b.backends[b.next%len(b.backends)]
	b.next++
	b.mu.Unlock()
	backend, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer backend.Close()
	b.mu.Lock()
	b.conns = append(b.conns, client, backend)
	b.mu.Unlock()
	go func() {
		io.Copy(backend, client)
		backend.(*net.TCPConn).CloseWrite()
	}()
	io.Copy(client, backend)
}

func TestADrainingReplicaBehindATCPBalancerFailsNoRequest(t *testing.T) {
	d := newServingDir(t)
	d.issue()
	drainStarted, drained := make(chan struct{}), make(chan time.Time)
	sweeps := make(chan time.Time)
	draining := startServer(t, d, time.Hour, func(s *Server) {
		s.drainTimer = func(time.Duration) <-chan time.Time { close(drainStarted); return drained }
		s.idleSweeps = func() (<-chan time.Time, func()) { return sweeps, func() {} }
	})
	staying := startServer(t, d, 0)
	lb := newTCPBalancer(t, draining.Addr().String(), staying.Addr().String())
	body := request{op: admissionv1.Create, resource: "pods", object: podYAML}.body(t)

	roots := x509.NewCertPool()
	roots.AddCert(d.ca.Cert)
	var (
		sent, failed, closing atomic.Int64
		firstErr              atomic.Value
		stop                  = make(chan struct{})
		wg                    sync.WaitGroup
		milestones            = map[int64]chan struct{}{}
		mu                    sync.Mutex
	)
	loadDone := make(chan struct{})
	// reach waits until n reviews were sent.
	reach := func(n int64) {
		t.Helper()
		mu.Lock()
		ch := make(chan struct{})
		if sent.Load() >= n {
			close(ch)
		} else {
			milestones[n] = ch
		}
		mu.Unlock()
		select {
		case <-ch:
		case <-loadDone:
			t.Fatalf("the load ended after %d reviews, before %d", sent.Load(), n)
		}
	}
	// Bounded load: 4 callers, each with its own keep-alive connections, at
	// most 4000 reviews each and 60s in all.
	deadline := time.Now().Add(60 * time.Second)
	for range 4 {
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
		defer client.CloseIdleConnections()
		wg.Go(func() {
			for i := 0; i < 4000 && time.Now().Before(deadline); i++ {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Post("https://"+lb.ln.Addr().String()+PathMutateEnforce, "application/json", bytes.NewReader(body))
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.Close {
						closing.Add(1)
					}
					if err == nil && resp.StatusCode != http.StatusOK {
						err = &net.AddrError{Err: resp.Status, Addr: "answer"}
					}
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
				n := sent.Add(1)
				mu.Lock()
				for m, ch := range milestones {
					if n >= m {
						close(ch)
						delete(milestones, m)
					}
				}
				mu.Unlock()
			}
		})
	}
	go func() {
		wg.Wait()
		close(loadDone)
	}()
	defer func() {
		close(stop)
		<-loadDone
		if n := failed.Load(); n > 0 {
			t.Errorf("%d of %d reviews failed while a replica drained; first: %v", n, sent.Load(), firstErr.Load())
		}
		t.Logf("%d reviews, %d answers said Connection: close", sent.Load(), closing.Load())
	}()

	reach(100)
	draining.cancel()
	<-drainStarted
	if code, _ := draining.probe(t, "/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz = %d while draining, want 503", code)
	}
	lb.remove(draining.Addr().String())
	reach(sent.Load() + 300)
	// Two sweeps close the connections idle through both.
	sweeps <- time.Time{}
	sweeps <- time.Time{}
	close(drained)
	<-draining.stopped
	if draining.runErr != nil {
		t.Errorf("Run = %v, want a clean shutdown", draining.runErr)
	}
	reach(sent.Load() + 300)
	if closing.Load() == 0 {
		t.Error("no answer said Connection: close while the replica drained")
	}
}
