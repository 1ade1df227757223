package certs

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

const (
	// DefaultResyncInterval bounds how long a missed file event delays a reload.
	DefaultResyncInterval = 10 * time.Second
	// settleDelay lets a writer that replaces tls.crt and tls.key one after the
	// other finish before the pair is read, instead of counting a mismatch.
	settleDelay = 100 * time.Millisecond
	// kubeletDataLink is the symlink the kubelet renames over to swap a
	// Secret volume's contents atomically.
	kubeletDataLink = "..data"
)

// Reloader serves the certificate pair in a directory and reloads it when the
// files change, such as a cert-manager Secret mounted by the kubelet.
//
// A pair that cannot be read, is partial, or whose key does not match keeps
// the previous pair in service; the failure is logged, counted by Failures and
// passed to the hook set with WithFailureHook.
type Reloader struct {
	dir       string
	logger    *slog.Logger
	resync    time.Duration
	onFailure func(error)

	current  atomic.Pointer[tls.Certificate]
	failures atomic.Uint64

	mu sync.Mutex // serialises reloads and guards the fields below
	// lastSeen fingerprints the last files read (or the error reading them),
	// so unchanged files are neither swapped again nor counted twice.
	lastSeen string
	lastErr  error
}

// Option configures a Reloader.
type Option func(*Reloader)

// WithResyncInterval sets how often Run rereads the files whatever the file
// events say. A non-positive d keeps DefaultResyncInterval.
func WithResyncInterval(d time.Duration) Option {
	return func(r *Reloader) {
		if d > 0 {
			r.resync = d
		}
	}
}

// WithFailureHook calls hook with each failed load, for example to count it
// in a metric. The hook runs on the reloading goroutine and must not block.
func WithFailureHook(hook func(error)) Option {
	return func(r *Reloader) { r.onFailure = hook }
}

// NewReloader loads dir/tls.crt and dir/tls.key. It fails only when dir is
// not an existing directory, a configuration mistake that no later file event
// can repair. A missing or bad pair is not an error here: the Reloader is
// returned with Ready reporting why, so a server can start, report not-ready,
// and pick the pair up once it appears. A nil logger discards logs.
func NewReloader(dir string, logger *slog.Logger, opts ...Option) (*Reloader, error) {
	if dir == "" {
		return nil, errors.New("certificate directory is required")
	}
	info, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("certificate directory: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("certificate directory %s is not a directory", dir)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &Reloader{dir: dir, logger: logger, resync: DefaultResyncInterval}
	for _, opt := range opts {
		opt(r)
	}
	r.reload()
	return r, nil
}

// Run watches the directory and reloads the pair on change until ctx is done.
// It reacts to events on tls.crt, tls.key and the kubelet's ..data symlink,
// and rereads the files every resync interval in case an event is missed. If
// the directory cannot be watched (inotify limits, say) it logs a warning and
// relies on the resync alone.
func (r *Reloader) Run(ctx context.Context) {
	var events <-chan fsnotify.Event
	var watchErrs <-chan error
	if watcher, err := r.watch(); err != nil {
		r.logger.Warn("cannot watch certificate directory, reloading on resync only",
			"dir", r.dir, "resync", r.resync, "err", err)
	} else {
		defer watcher.Close()
		events, watchErrs = watcher.Events, watcher.Errors
	}
	// Catch a change made between NewReloader and the start of the watch.
	r.reload()

	resync := time.NewTicker(r.resync)
	defer resync.Stop()
	var settled <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case event, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if settled == nil && watched(event.Name) {
				settled = time.After(settleDelay)
			}
		case err, ok := <-watchErrs:
			if !ok {
				watchErrs = nil
				continue
			}
			r.logger.Warn("certificate directory watch error", "dir", r.dir, "err", err)
		case <-settled:
			settled = nil
			r.reload()
		case <-resync.C:
			r.reload()
		}
	}
}

func (r *Reloader) watch() (*fsnotify.Watcher, error) {
	watcher, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	if err := watcher.Add(r.dir); err != nil {
		watcher.Close()
		return nil, err
	}
	return watcher, nil
}

func watched(path string) bool {
	switch filepath.Base(path) {
	case CertFile, KeyFile, kubeletDataLink:
		return true
	}
	return false
}

// GetCertificate serves the current pair; use it as tls.Config.GetCertificate.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if cert := r.current.Load(); cert != nil {
		return cert, nil
	}
	return nil, fmt.Errorf("no certificate loaded from %s", r.dir)
}

// Ready returns nil when a pair is loaded and its certificate is within its
// validity period, and otherwise says why not.
func (r *Reloader) Ready() error {
	cert := r.current.Load()
	if cert == nil {
		r.mu.Lock()
		defer r.mu.Unlock()
		return fmt.Errorf("no certificate loaded from %s: %w", r.dir, r.lastErr)
	}
	now := time.Now()
	switch leaf := cert.Leaf; {
	case now.Before(leaf.NotBefore):
		return fmt.Errorf("certificate from %s is not valid before %s", r.dir, leaf.NotBefore.UTC().Format(time.RFC3339))
	case !now.Before(leaf.NotAfter):
		return fmt.Errorf("certificate from %s expired at %s", r.dir, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// NotAfter is the expiry of the served certificate, zero when none is loaded.
func (r *Reloader) NotAfter() time.Time {
	if cert := r.current.Load(); cert != nil {
		return cert.Leaf.NotAfter
	}
	return time.Time{}
}

// Failures counts the loads that failed since the Reloader was created.
func (r *Reloader) Failures() uint64 {
	return r.failures.Load()
}

// reload reads the pair and swaps it in if the files changed and are valid.
func (r *Reloader) reload() {
	r.mu.Lock()
	defer r.mu.Unlock()

	certPEM, keyPEM, err := r.read()
	seen := fingerprint(certPEM, keyPEM, err)
	if seen == r.lastSeen {
		return
	}
	r.lastSeen = seen

	var cert *tls.Certificate
	if err == nil {
		cert, err = parsePair(certPEM, keyPEM)
	}
	if err != nil {
		r.lastErr = fmt.Errorf("load certificate from %s: %w", r.dir, err)
		r.failures.Add(1)
		r.logger.Error("certificate reload failed, keeping the current certificate",
			"dir", r.dir, "err", err, "failures", r.failures.Load())
		if r.onFailure != nil {
			r.onFailure(r.lastErr)
		}
		return
	}
	r.lastErr = nil
	r.current.Store(cert)
	r.logger.Info("loaded serving certificate", "dir", r.dir,
		"serial", cert.Leaf.SerialNumber.Text(16), "dns_names", cert.Leaf.DNSNames,
		"ip_addresses", cert.Leaf.IPAddresses, "not_after", cert.Leaf.NotAfter)
}

func (r *Reloader) read() (certPEM, keyPEM []byte, err error) {
	if certPEM, err = os.ReadFile(filepath.Join(r.dir, CertFile)); err != nil {
		return nil, nil, err
	}
	if keyPEM, err = os.ReadFile(filepath.Join(r.dir, KeyFile)); err != nil {
		return nil, nil, err
	}
	return certPEM, keyPEM, nil
}

func fingerprint(certPEM, keyPEM []byte, readErr error) string {
	if readErr != nil {
		return "error: " + readErr.Error()
	}
	h := sha256.New()
	h.Write(certPEM)
	h.Write([]byte{0})
	h.Write(keyPEM)
	return string(h.Sum(nil))
}

func parsePair(certPEM, keyPEM []byte) (*tls.Certificate, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, err
		}
	}
	return &cert, nil
}
