package certs

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"
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
// passed to the hook set with WithFailureHook. A pair that reads well but is
// not valid now, not for the served names, or (when the directory holds
// ca.crt, as a cert-manager Secret does) does not chain to that CA bundle, is
// refused: it never replaces a pair in service, and is logged, counted by
// Refusals and passed to the same hook. ca.crt is the bundle the webhook
// configurations carry (cert-manager's cainjector and the chart's own modes
// write caBundle from it), so a pair from another CA would fail every
// handshake of the API server.
type Reloader struct {
	dir       string
	logger    *slog.Logger
	resync    time.Duration
	onFailure func(error)
	onLoad    func(*x509.Certificate)
	// names are the served names a new pair must be valid for; empty means
	// the names of the pair in service.
	names []string
	// now is the clock the validity checks read; tests set it.
	now func() time.Time

	current atomic.Pointer[tls.Certificate]
	// roots is the CA bundle of dir/ca.crt, nil when there is none.
	roots    atomic.Pointer[[]*x509.Certificate]
	failures atomic.Uint64
	refusals atomic.Uint64

	mu sync.Mutex // serialises reloads and guards the fields below
	// lastSeen fingerprints the last files read (or the error reading them),
	// so unchanged files are neither swapped again nor counted twice.
	lastSeen string
	lastErr  error
	// early is a refused pair that was not valid yet, put in service once it
	// is acceptable.
	early *tls.Certificate
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

// WithServedNames sets the DNS names or IP addresses a new pair must be
// valid for to replace the pair in service, and the first pair too. Without
// it a new pair must be valid for every name of the pair in service.
func WithServedNames(names ...string) Option {
	return func(r *Reloader) { r.names = names }
}

// WithLoadHook calls hook with the leaf of each pair put in service. The hook
// runs on the reloading goroutine and must not block.
func WithLoadHook(hook func(*x509.Certificate)) Option {
	return func(r *Reloader) { r.onLoad = hook }
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
	r := &Reloader{dir: dir, logger: logger, resync: DefaultResyncInterval, now: time.Now}
	for _, opt := range opts {
		opt(r)
	}
	r.reload()
	return r, nil
}

// Run watches the directory and reloads the pair on change until ctx is done.
// It reacts to events on tls.crt, tls.key and the kubelet's ..data symlink,
// and rereads the files every resync interval in case an event is missed.
func (r *Reloader) Run(ctx context.Context) {
	watchDir(ctx, r.dir, []string{CertFile, KeyFile, CACertFile}, r.resync, r.logger, r.reload)
}

// GetCertificate serves the current pair; use it as tls.Config.GetCertificate.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if cert := r.current.Load(); cert != nil {
		return cert, nil
	}
	return nil, fmt.Errorf("no certificate loaded from %s", r.dir)
}

// Ready returns nil when a pair is loaded, its certificate is within its
// validity period and, when the directory holds ca.crt, chains to that
// bundle: a caller that trusts the bundle can complete a handshake. It
// otherwise says why not.
func (r *Reloader) Ready() error {
	cert := r.current.Load()
	if cert == nil {
		r.mu.Lock()
		defer r.mu.Unlock()
		return fmt.Errorf("no certificate loaded from %s: %w", r.dir, r.lastErr)
	}
	if err := chainValidity(cert, r.now()); err != nil {
		return fmt.Errorf("certificate from %s: %w", r.dir, err)
	}
	if err := chainsTo(cert, r.bundle()); err != nil {
		return fmt.Errorf("certificate in service from %s: %w", r.dir, err)
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

// Refusals counts the pairs that loaded but were refused, since the Reloader
// was created, because they were not valid now or not for the served names.
func (r *Reloader) Refusals() uint64 {
	return r.refusals.Load()
}

// reload reads the pair and swaps it in if the files changed and are valid.
func (r *Reloader) reload() {
	r.mu.Lock()
	defer r.mu.Unlock()

	certPEM, keyPEM, caPEM, err := r.read()
	seen := fingerprint(certPEM, keyPEM, caPEM, err)
	if seen != r.lastSeen && (err != nil || !consistent(certPEM, keyPEM, caPEM)) {
		// New files caught mid-update: a kubelet ..data swap between two
		// reads, or a writer (certs.WriteServing, builtin mode) replacing
		// ca.crt, tls.key and tls.crt one after another. Read once more after
		// it settles, so that only files that stay broken count as a failure
		// or refusal. Files already seen (the periodic resync) are not read
		// again.
		time.Sleep(settleDelay)
		certPEM, keyPEM, caPEM, err = r.read()
		seen = fingerprint(certPEM, keyPEM, caPEM, err)
	}
	if seen == r.lastSeen {
		// A refused pair that was not valid yet is tried again, quietly.
		if r.early != nil && r.acceptable(r.early, r.now()) == nil {
			r.use(r.early)
		}
		return
	}
	r.lastSeen = seen
	r.early = nil

	var cert *tls.Certificate
	var roots []*x509.Certificate
	if err == nil {
		cert, err = parsePair(certPEM, keyPEM)
	}
	if err == nil {
		roots, err = parseRoots(caPEM)
	}
	if err != nil {
		r.failures.Add(1)
		r.refuse(fmt.Errorf("load certificate from %s: %w", r.dir, err), "certificate reload failed, keeping the current certificate",
			"failures", r.failures.Load())
		return
	}
	// The bundle callers trust is what it is, whichever pair serves: Ready
	// reports a pair in service that does not chain to it.
	r.roots.Store(&roots)
	now := r.now()
	if err := r.acceptable(cert, now); err != nil {
		if now.Before(cert.Leaf.NotBefore) {
			r.early = cert
		}
		r.refusals.Add(1)
		r.refuse(fmt.Errorf("refused certificate from %s: %w", r.dir, err), "refused a new certificate, keeping the current certificate",
			"serial", cert.Leaf.SerialNumber.Text(16), "refusals", r.refusals.Load())
		return
	}
	r.use(cert)
}

// consistent reports whether the files hold a pair whose key matches its
// certificate and which chains to the CA bundle beside it.
func consistent(certPEM, keyPEM, caPEM []byte) bool {
	cert, err := parsePair(certPEM, keyPEM)
	if err != nil {
		return false
	}
	roots, err := parseRoots(caPEM)
	return err == nil && chainsTo(cert, roots) == nil
}

// use puts cert in service.
func (r *Reloader) use(cert *tls.Certificate) {
	r.early = nil
	r.lastErr = nil
	r.current.Store(cert)
	r.logger.Info("loaded serving certificate", "dir", r.dir,
		"serial", cert.Leaf.SerialNumber.Text(16), "dns_names", cert.Leaf.DNSNames,
		"ip_addresses", cert.Leaf.IPAddresses, "not_after", cert.Leaf.NotAfter)
	if r.onLoad != nil {
		r.onLoad(cert.Leaf)
	}
}

// refuse keeps the pair in service after a failed or refused load, and logs
// and reports why.
func (r *Reloader) refuse(err error, msg string, attrs ...any) {
	r.lastErr = err
	r.logger.Error(msg, append([]any{"dir", r.dir, "err", err}, attrs...)...)
	if r.onFailure != nil {
		r.onFailure(err)
	}
}

// acceptable says why cert may not be put in service at now: a pair in
// service is replaced only by one whose chain is valid now and whose leaf is
// for the served names
// (WithServedNames, else the names of the pair in service while that pair is
// valid). The first pair is
// checked against configured names only, so that Ready can say why an
// expired or early first pair is not usable.
func (r *Reloader) acceptable(cert *tls.Certificate, now time.Time) error {
	leaf, names := cert.Leaf, r.names
	if current := r.current.Load(); current != nil {
		if err := chainValidity(cert, now); err != nil {
			return err
		}
		// A pair in service that is not valid now serves no one: its names
		// must not keep out one that is.
		if len(names) == 0 && chainValidity(current, now) == nil {
			names = certificateNames(current.Leaf)
		}
	}
	for _, name := range names {
		if err := leaf.VerifyHostname(name); err != nil {
			return fmt.Errorf("it is not valid for the served name %q: %w", name, err)
		}
	}
	return chainsTo(cert, r.bundle())
}

// chainsTo says why a caller that trusts roots could not build cert's chain
// to them: each certificate, from the leaf, must be one of roots, or be
// signed by one of roots or by a CA certificate of the chain it is sent
// with. Nil roots (no ca.crt) trusts any. Validity in time is
// chainValidity's to say.
func chainsTo(cert *tls.Certificate, roots []*x509.Certificate) error {
	if roots == nil {
		return nil
	}
	var chain []*x509.Certificate
	for _, der := range cert.Certificate[1:] {
		if c, err := x509.ParseCertificate(der); err == nil {
			chain = append(chain, c)
		}
	}
	current := cert.Leaf
	for range len(chain) + 1 {
		for _, root := range roots {
			if current.Equal(root) || current.CheckSignatureFrom(root) == nil {
				return nil
			}
		}
		i := slices.IndexFunc(chain, func(c *x509.Certificate) bool { return current.CheckSignatureFrom(c) == nil })
		if i < 0 {
			break
		}
		current, chain = chain[i], slices.Delete(chain, i, i+1)
	}
	return fmt.Errorf("it does not chain to the CA bundle in %s, which the webhook configurations carry, so the API server would refuse every handshake: %q is signed by none of its %d certificates",
		CACertFile, current.Subject.String(), len(roots))
}

// bundle is the CA bundle of ca.crt, nil when there is none.
func (r *Reloader) bundle() []*x509.Certificate {
	if roots := r.roots.Load(); roots != nil {
		return *roots
	}
	return nil
}

// parseRoots reads the CA bundle of ca.crt; nil data (no file) is no bundle.
func parseRoots(caPEM []byte) ([]*x509.Certificate, error) {
	if caPEM == nil {
		return nil, nil
	}
	var roots []*x509.Certificate
	for rest := caPEM; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", CACertFile, err)
		}
		roots = append(roots, c)
	}
	if len(roots) == 0 {
		return nil, fmt.Errorf("%s holds no PEM certificate", CACertFile)
	}
	return roots, nil
}

// chainValidity says which certificate of cert's chain, the leaf ("it")
// first, is not valid at now: a caller verifies every one it is sent.
func chainValidity(cert *tls.Certificate, now time.Time) error {
	for i, der := range cert.Certificate {
		c, what := cert.Leaf, "it"
		if i > 0 {
			var err error
			if c, err = x509.ParseCertificate(der); err != nil {
				return fmt.Errorf("certificate %d of its chain: %w", i+1, err)
			}
			what = fmt.Sprintf("certificate %d of its chain (%q)", i+1, c.Subject.CommonName)
		}
		if now.Before(c.NotBefore) {
			return fmt.Errorf("%s is not valid before %s", what, c.NotBefore.UTC().Format(time.RFC3339))
		}
		if !now.Before(c.NotAfter) {
			return fmt.Errorf("%s expired at %s", what, c.NotAfter.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

// validAt reports whether now is within cert's validity period.
func validAt(cert *x509.Certificate, now time.Time) bool {
	return !now.Before(cert.NotBefore) && now.Before(cert.NotAfter)
}

// certificateNames are the DNS names and IP addresses a certificate is for.
func certificateNames(cert *x509.Certificate) []string {
	names := slices.Clone(cert.DNSNames)
	for _, ip := range cert.IPAddresses {
		names = append(names, ip.String())
	}
	return names
}

// read reads the pair and ca.crt, which may be absent (caPEM nil).
func (r *Reloader) read() (certPEM, keyPEM, caPEM []byte, err error) {
	if certPEM, err = os.ReadFile(filepath.Join(r.dir, CertFile)); err != nil {
		return nil, nil, nil, err
	}
	if keyPEM, err = os.ReadFile(filepath.Join(r.dir, KeyFile)); err != nil {
		return nil, nil, nil, err
	}
	if caPEM, err = os.ReadFile(filepath.Join(r.dir, CACertFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil, err
	}
	return certPEM, keyPEM, caPEM, nil
}

func fingerprint(certPEM, keyPEM, caPEM []byte, readErr error) string {
	if readErr != nil {
		return "error: " + readErr.Error()
	}
	h := sha256.New()
	h.Write(certPEM)
	h.Write([]byte{0})
	h.Write(keyPEM)
	h.Write([]byte{0})
	if caPEM != nil {
		h.Write(caPEM)
	}
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
	// Callers parse every certificate they are sent, not only the leaf.
	for i, der := range cert.Certificate[1:] {
		if _, err := x509.ParseCertificate(der); err != nil {
			return nil, fmt.Errorf("certificate %d in %s: %w", i+2, CertFile, err)
		}
	}
	return &cert, nil
}
