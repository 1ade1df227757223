package certs

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// ClientCAs is the CA bundle that verifies the certificates of the webhook's
// callers (mutual TLS), read from a PEM file and reloaded when it changes,
// like the serving pair. A file that cannot be read or holds no certificate
// keeps the previous bundle; the failure is logged and counted by Failures.
type ClientCAs struct {
	file   string
	logger *slog.Logger
	resync time.Duration

	current  atomic.Pointer[x509.CertPool]
	failures atomic.Uint64

	mu       sync.Mutex // serialises reloads and guards the fields below
	lastSeen string
	lastErr  error
}

// NewClientCAs loads the PEM bundle at file. It fails only when file's
// directory does not exist; a missing or bad file leaves Ready reporting why.
// A non-positive resync keeps DefaultResyncInterval; a nil logger discards
// logs.
func NewClientCAs(file string, logger *slog.Logger, resync time.Duration) (*ClientCAs, error) {
	if file == "" {
		return nil, errors.New("client CA file is required")
	}
	if info, err := os.Stat(filepath.Dir(file)); err != nil || !info.IsDir() {
		return nil, fmt.Errorf("client CA file %s: its directory does not exist", file)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if resync <= 0 {
		resync = DefaultResyncInterval
	}
	c := &ClientCAs{file: file, logger: logger, resync: resync}
	c.reload()
	return c, nil
}

// Run watches the file and reloads it on change until ctx is done.
func (c *ClientCAs) Run(ctx context.Context) {
	watchDir(ctx, filepath.Dir(c.file), []string{filepath.Base(c.file)}, c.resync, c.logger, c.reload)
}

// Pool is the bundle in use: an empty pool, which verifies no caller, while
// none is loaded.
func (c *ClientCAs) Pool() *x509.CertPool {
	if pool := c.current.Load(); pool != nil {
		return pool
	}
	return x509.NewCertPool()
}

// Ready returns nil once a bundle is loaded, and otherwise says why not.
func (c *ClientCAs) Ready() error {
	if c.current.Load() != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Errorf("no client CA loaded from %s: %w", c.file, c.lastErr)
}

// Failures counts the loads that failed since ClientCAs was created.
func (c *ClientCAs) Failures() uint64 { return c.failures.Load() }

func (c *ClientCAs) reload() {
	c.mu.Lock()
	defer c.mu.Unlock()
	data, err := os.ReadFile(c.file)
	seen := fingerprint(data, nil, err)
	if seen == c.lastSeen {
		return
	}
	c.lastSeen = seen
	pool := x509.NewCertPool()
	if err == nil && !pool.AppendCertsFromPEM(data) {
		err = errors.New("it holds no PEM certificate")
	}
	if err != nil {
		c.lastErr = fmt.Errorf("load client CA from %s: %w", c.file, err)
		c.failures.Add(1)
		c.logger.Error("client CA reload failed, keeping the current client CA", "file", c.file, "err", err, "failures", c.failures.Load())
		return
	}
	c.lastErr = nil
	c.current.Store(pool)
	c.logger.Info("loaded client CA", "file", c.file)
}
