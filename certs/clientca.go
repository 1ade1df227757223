package certs

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ClientCAs is the CA bundle that verifies the certificates of the webhook's
// callers (mutual TLS), read from a PEM file and reloaded when it changes,
// like the serving pair. A file that cannot be read, holds no certificate, or
// holds none valid now (so would verify no caller) keeps the previous bundle;
// the failure is logged and counted by Failures.
type ClientCAs struct {
	file   string
	logger *slog.Logger
	resync time.Duration
	// now is the clock the validity checks read; tests set it.
	now func() time.Time

	current  atomic.Pointer[caBundle]
	failures atomic.Uint64

	mu       sync.Mutex // serialises reloads and guards the fields below
	lastSeen string
	lastErr  error
	// early is a refused bundle with a certificate not valid yet, put in
	// service once that certificate is.
	early *caBundle
}

// caBundle is a loaded bundle: its pool, and its certificates for their
// validity periods.
type caBundle struct {
	pool  *x509.CertPool
	certs []*x509.Certificate
}

// validAt says why no certificate of the bundle is valid at now, nil when
// one is.
func (b *caBundle) validAt(now time.Time) error {
	for _, cert := range b.certs {
		if validAt(cert, now) {
			return nil
		}
	}
	return fmt.Errorf("no CA certificate in it is valid now (%s): it would verify no caller", validities(b.certs))
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
	c := &ClientCAs{file: file, logger: logger, resync: resync, now: time.Now}
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
	if b := c.current.Load(); b != nil {
		return b.pool
	}
	return x509.NewCertPool()
}

// Ready returns nil while a bundle is loaded and a certificate in it is
// valid, and otherwise says why not.
func (c *ClientCAs) Ready() error {
	if b := c.current.Load(); b != nil {
		if err := b.validAt(c.now()); err != nil {
			return fmt.Errorf("client CA from %s: %w", c.file, err)
		}
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
	seen := fingerprint(data, nil, nil, err)
	if seen == c.lastSeen {
		// A refused bundle that was not valid yet is tried again, quietly.
		if c.early != nil && c.early.validAt(c.now()) == nil {
			c.use(c.early)
		}
		return
	}
	c.lastSeen = seen
	c.early = nil
	var bundle *caBundle
	if err == nil {
		bundle, err = parseBundle(data)
	}
	// The first bundle is kept even if no certificate in it is valid now,
	// so that Ready can say why; later ones must be better than that.
	if err == nil && c.current.Load() != nil {
		if err = bundle.validAt(c.now()); err != nil && bundle.early(c.now()) {
			c.early = bundle
		}
	}
	if err != nil {
		c.lastErr = fmt.Errorf("load client CA from %s: %w", c.file, err)
		c.failures.Add(1)
		c.logger.Error("client CA reload failed, keeping the current client CA", "file", c.file, "err", err, "failures", c.failures.Load())
		return
	}
	c.use(bundle)
}

// use puts b in service.
func (c *ClientCAs) use(b *caBundle) {
	c.early = nil
	c.lastErr = nil
	c.current.Store(b)
	c.logger.Info("loaded client CA", "file", c.file, "certificates", len(b.certs))
}

// parseBundle reads every CERTIFICATE block of a PEM bundle.
func parseBundle(data []byte) (*caBundle, error) {
	b := &caBundle{pool: x509.NewCertPool()}
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(b.certs)+1, err)
		}
		b.pool.AddCert(cert)
		b.certs = append(b.certs, cert)
	}
	if len(b.certs) == 0 {
		return nil, errors.New("it holds no PEM certificate")
	}
	return b, nil
}

// early reports whether a certificate of the bundle is not valid yet at now.
func (b *caBundle) early(now time.Time) bool {
	for _, cert := range b.certs {
		if now.Before(cert.NotBefore) {
			return true
		}
	}
	return false
}

// validities lists the validity periods of certs, for an error message.
func validities(certs []*x509.Certificate) string {
	periods := make([]string, len(certs))
	for i, cert := range certs {
		periods[i] = fmt.Sprintf("%q from %s to %s", cert.Subject.CommonName,
			cert.NotBefore.UTC().Format(time.RFC3339), cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return strings.Join(periods, ", ")
}
