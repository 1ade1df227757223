package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/kubernetes"

	"github.com/gracekeeper/gracekeeper/certs"
	"github.com/gracekeeper/gracekeeper/policies"
)

// Defaults for Config.
const (
	DefaultListen          = ":8443"
	DefaultProbeListen     = ":8080"
	DefaultShutdownTimeout = 15 * time.Second
)

// Timeouts of both servers. The API server waits at most 30s for a webhook.
// Its connections idle out after 90s; the server's idle timeout is longer,
// so the client closes first and never reuses a connection being closed.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 120 * time.Second
)

// maxHeaderBytes bounds a request's headers on both servers. They are read
// before a review takes room in the in-flight budget, and net/http's default
// of 1 MiB a connection would let callers hold memory outside it. The API
// server, kubelet probes and Prometheus send well under 1 KiB; a bearer
// token from a webhook kubeconfig is a few KiB.
const maxHeaderBytes = 32 << 10

// Config configures a Server.
type Config struct {
	// Engine judges the reviews. Required.
	Engine *policies.Engine
	// Certificates serves the HTTPS certificate and reloads it; readiness fails
	// while it has no valid one. Required.
	Certificates *certs.Reloader
	// Logger defaults to discarding logs.
	Logger *slog.Logger
	// Listen is the HTTPS address of the webhook paths (DefaultListen).
	Listen string
	// ProbeListen is the plain-HTTP address of /healthz, /readyz and /metrics
	// (DefaultProbeListen).
	ProbeListen string
	// DrainDelay is how long the server keeps answering reviews after Run's
	// context ends, with readiness failing, so that the endpoints drop it
	// before it stops. 0 stops at once.
	DrainDelay time.Duration
	// ShutdownTimeout bounds the wait for in-flight reviews after the drain
	// (DefaultShutdownTimeout).
	ShutdownTimeout time.Duration
	// ClientCAs, when set, requires every caller of the webhook port to
	// present a client certificate that this bundle verifies (mutual TLS);
	// readiness fails while no bundle is loaded. Nil accepts any caller.
	ClientCAs *certs.ClientCAs
	// MaxInFlightBytes bounds the bytes of review bodies read or judged at
	// once; more reviews wait (DefaultMaxInFlightBytes). It must hold at least
	// one maximum-size review.
	MaxInFlightBytes int64
	// Client makes the reads admission.Reads lists (get and list only): the
	// pod of an eviction with a grace override, the workload of a denied
	// /scale, what a namespace under DELETE holds and a workload's rollout
	// history. Without one, such evictions are answered with an error,
	// /scale exemption annotations are not seen, a namespace DELETE keeps
	// its guard and change-cause recognises no rollback.
	Client kubernetes.Interface
	// Ready, when set, is one more condition readiness waits for, such as
	// the builtin certificate rotation's CA being in the webhook
	// configurations; it returns why the server is not ready yet.
	Ready func() error
}

func (c *Config) defaults() error {
	switch {
	case c.Engine == nil:
		return errors.New("engine is required")
	case c.Certificates == nil:
		return errors.New("certificates are required")
	case c.DrainDelay < 0:
		return fmt.Errorf("drain delay %s must not be negative", c.DrainDelay)
	case c.ShutdownTimeout < 0:
		return fmt.Errorf("shutdown timeout %s must not be negative", c.ShutdownTimeout)
	case c.MaxInFlightBytes != 0 && c.MaxInFlightBytes < maxBodyBytes:
		return fmt.Errorf("in-flight budget of %d bytes must hold at least one review of the maximum %d bytes", c.MaxInFlightBytes, maxBodyBytes)
	}
	if c.MaxInFlightBytes == 0 {
		c.MaxInFlightBytes = DefaultMaxInFlightBytes
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.ProbeListen == "" {
		c.ProbeListen = DefaultProbeListen
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	return nil
}

// Server is the admission webhook: the webhook paths over HTTPS, and the
// probes and metrics over plain HTTP.
type Server struct {
	cfg                Config
	webhook, probe     *http.Server
	webhookLn, probeLn net.Listener
	// draining fails readiness once shutdown has begun, and closes
	// connections after each answer.
	draining atomic.Bool
	conns    connections
	// drainTimer and idleSweeps are the clock of the drain; tests replace them.
	drainTimer func(time.Duration) <-chan time.Time
	idleSweeps func() (<-chan time.Time, func())
}

// New builds a Server and binds its addresses, so a port in use fails at
// start-up. Run serves them and closes them when it returns.
func New(cfg Config) (*Server, error) {
	if err := cfg.defaults(); err != nil {
		return nil, fmt.Errorf("webhook server: %w", err)
	}
	reg := prometheus.NewRegistry()
	cfg.Logger = slog.New(boundFields(cfg.Logger.Handler()))
	m, err := newMetrics(reg, cfg.Certificates)
	if err != nil {
		return nil, err
	}
	if cfg.ClientCAs != nil {
		if err := registerClientCAMetrics(reg, cfg.ClientCAs); err != nil {
			return nil, err
		}
	}
	handler := newWebhookHandler(cfg.Engine, parentReader{cfg.Client}, m, cfg.Logger)
	s := &Server{cfg: cfg, drainTimer: time.After, idleSweeps: func() (<-chan time.Time, func()) {
		t := time.NewTicker(idleSweepInterval)
		return t.C, t.Stop
	}}
	handler = closeWhileDraining(&s.draining, newReviewBudget(cfg.MaxInFlightBytes, m).limit(handler))
	errorLog := newServerErrorLog(cfg.Logger)
	s.webhook = boundedServer(handler, errorLog)
	s.webhook.TLSConfig = serverTLSConfig(cfg.Certificates, cfg.ClientCAs)
	s.webhook.ConnState = s.conns.track
	// Not nil: HTTP/1.1 only. The API server needs no more, and HTTP/2
	// would add a protocol's worth of attack surface.
	s.webhook.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
	s.probe = boundedServer(s.probeMux(reg), errorLog)
	if s.webhookLn, err = net.Listen("tcp", cfg.Listen); err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	if s.probeLn, err = net.Listen("tcp", cfg.ProbeListen); err != nil {
		s.webhookLn.Close()
		return nil, fmt.Errorf("listen on %s: %w", cfg.ProbeListen, err)
	}
	return s, nil
}

// boundedServer is an http.Server of handler with the time and header limits
// both ports share.
func boundedServer(handler http.Handler, errorLog *log.Logger) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: readHeaderTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          errorLog,
	}
}

// Addr is the bound HTTPS address.
func (s *Server) Addr() net.Addr { return s.webhookLn.Addr() }

// ProbeAddr is the bound plain-HTTP address.
func (s *Server) ProbeAddr() net.Addr { return s.probeLn.Addr() }

func (s *Server) probeMux(reg *prometheus.Registry) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := s.ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return mux
}

// ready is nil while the server should receive reviews: it has a valid
// certificate and is not shutting down.
func (s *Server) ready() error {
	if s.draining.Load() {
		return errors.New("shutting down")
	}
	if s.cfg.ClientCAs != nil {
		if err := s.cfg.ClientCAs.Ready(); err != nil {
			return err
		}
	}
	if s.cfg.Ready != nil {
		if err := s.cfg.Ready(); err != nil {
			return err
		}
	}
	return s.cfg.Certificates.Ready()
}

// Run serves until ctx ends, then shuts down gracefully: readiness fails at
// once, reviews are still answered for the drain delay, then the servers stop
// accepting and in-flight reviews get up to the shutdown timeout to complete.
// It returns nil after a clean shutdown, or the error that stopped a server.
func (s *Server) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	certsCtx, stopCerts := context.WithCancel(context.Background())
	defer stopCerts()
	wg.Go(func() { s.cfg.Certificates.Run(certsCtx) })
	if s.cfg.ClientCAs != nil {
		wg.Go(func() { s.cfg.ClientCAs.Run(certsCtx) })
	}

	served := make(chan error, 2)
	wg.Go(func() { served <- serving("webhook", s.webhook.ServeTLS(s.webhookLn, "", "")) })
	wg.Go(func() { served <- serving("probe", s.probe.Serve(s.probeLn)) })
	s.cfg.Logger.Info("serving admission reviews", "listen", s.Addr().String(), "probeListen", s.ProbeAddr().String())

	var failed error
	select {
	case failed = <-served:
		s.draining.Store(true)
	case <-ctx.Done():
		s.draining.Store(true)
		s.cfg.Logger.Info("shutting down: readiness fails, reviews are answered with Connection: close for the drain delay", "drainDelay", s.cfg.DrainDelay)
		failed = s.drain(served)
	}
	return errors.Join(failed, s.shutdown())
}

// drain waits for the drain delay, or a server's failure, and meanwhile
// closes the connections that stay idle, which answers alone would not reach.
func (s *Server) drain(served <-chan error) error {
	drained := s.drainTimer(s.cfg.DrainDelay)
	sweeps, stop := s.idleSweeps()
	defer stop()
	var idle map[net.Conn]uint64
	for {
		select {
		case <-drained:
			return nil
		case err := <-served:
			return err
		case <-sweeps:
			idle = s.conns.closeIdle(idle)
		}
	}
}

// serving is a server's error, nil when it was shut down.
func serving(name string, err error) error {
	if err == nil || errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("%s server: %w", name, err)
}

// shutdown stops the webhook server, waiting for in-flight reviews, then the
// probe server, which reported not-ready until then.
func (s *Server) shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := errors.Join(stop(ctx, "webhook", s.webhook), stop(ctx, "probe", s.probe)); err != nil {
		return err
	}
	s.cfg.Logger.Info("shut down: every in-flight review was answered")
	return nil
}

// stop shuts a server down gracefully, and closes it when ctx ends first.
func stop(ctx context.Context, name string, srv *http.Server) error {
	if err := srv.Shutdown(ctx); err != nil {
		srv.Close()
		return fmt.Errorf("shut down %s server: %w", name, err)
	}
	return nil
}
