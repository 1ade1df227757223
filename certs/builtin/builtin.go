// Package builtin issues and rotates gracekeeper's own webhook certificates
// (certificates.mode: builtin), so that no cert-manager is needed.
//
// The work is done by github.com/open-policy-agent/cert-controller, the
// rotator Gatekeeper runs: it keeps a CA and a serving pair in a Secret,
// writes the CA into the caBundle of the named MutatingWebhookConfiguration
// and ValidatingWebhookConfiguration (and again whenever someone else, such as
// a helm upgrade, changes them), and renews the serving pair LookaheadInterval
// before it expires. This package adds what gracekeeper needs around it:
//
//   - The pair in the Secret is written to a directory (ca.crt, tls.crt,
//     tls.key; never the CA key), where certs.Reloader picks it up with its
//     checks. Writing it here rather than mounting the Secret means a renewal
//     is served within a second, not after the kubelet's sync period, and
//     gracekeeper can run outside a pod (the e2e cluster runs it on loopback).
//   - Several replicas need no leader election, as in Gatekeeper: every
//     replica runs the rotator, and the Secret's resourceVersion makes
//     concurrent renewals conflict, so one wins and the others read its pair.
//   - Ready reports an error until the pair is on disk and the CA is in the
//     webhook configurations.
//
// A renewal of the serving pair keeps the CA, so the caBundle does not
// change. The CA itself lives 10 years and is replaced, with the caBundle,
// LookaheadInterval before it expires.
package builtin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/gracekeeper/gracekeeper/certs"
)

const (
	// DefaultValidity is the serving certificate's lifetime, as cert-controller's.
	DefaultValidity = 365 * 24 * time.Hour
	// caValidity is the CA's lifetime. It is replaced, with the caBundle, a
	// quarter of the serving validity before it expires.
	caValidity = 10 * 365 * 24 * time.Hour
	// maxCheckInterval bounds how often the rotator looks at the expiry when
	// no event wakes it (cert-controller's default).
	maxCheckInterval = 12 * time.Hour
	// caOrganization is the Organization of the CA's subject.
	caOrganization = "gracekeeper"
	// fieldOwner is the field manager of the caBundle writes, so server-side
	// applies (helm v4) leave them alone.
	fieldOwner = "gracekeeper"
)

// Config says what to issue, where to keep it and where to write the CA.
type Config struct {
	// Secret holds the CA and serving pair. It must exist (the chart creates
	// it empty); gracekeeper fills and renews it. Required.
	Secret types.NamespacedName
	// Dir is where the serving pair is written for certs.Reloader. Required.
	Dir string
	// DNSNames are the names the serving certificate is issued for; the first
	// is its Common Name. At least one is required.
	DNSNames []string
	// WebhookConfiguration names the MutatingWebhookConfiguration and the
	// ValidatingWebhookConfiguration whose caBundle gets the CA. Required.
	WebhookConfiguration string
	// Validity is the serving certificate's lifetime (DefaultValidity). It
	// is renewed when a quarter of it is left.
	Validity time.Duration
	// Logger defaults to discarding logs.
	Logger *slog.Logger
}

func (c *Config) defaults() error {
	switch {
	case c.Secret.Namespace == "" || c.Secret.Name == "":
		return errors.New("the certificate Secret's namespace and name are required")
	case c.Dir == "":
		return errors.New("the certificate directory is required")
	case len(c.DNSNames) == 0:
		return errors.New("at least one DNS name for the serving certificate is required")
	case c.WebhookConfiguration == "":
		return errors.New("the webhook configuration name is required")
	case c.Validity < 0:
		return fmt.Errorf("certificate validity %s must not be negative", c.Validity)
	}
	if c.Validity == 0 {
		c.Validity = DefaultValidity
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// lookahead is how long before expiry a certificate is renewed.
func (c *Config) lookahead() time.Duration { return c.Validity / 4 }

// checkInterval is how often the rotator checks the expiry: often enough to
// renew well within the lookahead window.
func (c *Config) checkInterval() time.Duration {
	return min(maxCheckInterval, max(time.Second, c.lookahead()/4))
}

// Rotation runs the rotator and the Secret-to-directory writer.
type Rotation struct {
	cfg     Config
	mgr     manager.Manager
	isReady chan struct{}
}

// New prepares the rotation against the API server of restConfig. Nothing
// runs until Run.
func New(restConfig *rest.Config, cfg Config) (*Rotation, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("certificate directory: %w", err)
	}
	ctrl.SetLogger(logr.FromSlogHandler(cfg.Logger.Handler()))
	mgr, err := ctrl.NewManager(restConfig, manager.Options{
		// gracekeeper serves its own /metrics and probes.
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		// The manager's cache reads only the one Secret (get, list and watch
		// by name); cert-controller keeps a namespaced cache of its own.
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {
				Namespaces: map[string]cache.Config{cfg.Secret.Namespace: {}},
				Field:      fields.OneTermEqualSelector("metadata.name", cfg.Secret.Name),
			},
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("certificate rotation: %w", err)
	}
	r := &Rotation{cfg: cfg, mgr: mgr, isReady: make(chan struct{})}
	if err := rotator.AddRotator(mgr, &rotator.CertRotator{
		SecretKey:      cfg.Secret,
		CertDir:        cfg.Dir,
		CAName:         cfg.WebhookConfiguration + "-ca",
		CAOrganization: caOrganization,
		DNSName:        cfg.DNSNames[0],
		ExtraDNSNames:  cfg.DNSNames[1:],
		IsReady:        r.isReady,
		Webhooks: []rotator.WebhookInfo{
			{Name: cfg.WebhookConfiguration, Type: rotator.Mutating},
			{Name: cfg.WebhookConfiguration, Type: rotator.Validating},
		},
		FieldOwner:             fieldOwner,
		CaCertDuration:         caValidity,
		ServerCertDuration:     cfg.Validity,
		LookaheadInterval:      cfg.lookahead(),
		RotationCheckFrequency: cfg.checkInterval(),
		// Each replica rotates; the Secret's resourceVersion settles races.
		RequireLeaderElection: false,
	}); err != nil {
		return nil, fmt.Errorf("certificate rotation: %w", err)
	}
	if err := mgr.Add(manager.RunnableFunc(r.writeSecretToDir)); err != nil {
		return nil, fmt.Errorf("certificate rotation: %w", err)
	}
	return r, nil
}

// Run rotates until ctx ends. It returns an error when the rotation cannot go
// on: the Secret cannot be read or written, or the CA could not be written
// into the webhook configurations in time (cert-controller gives up after
// about 17 minutes of retries). The pair in use stays in the directory.
func (r *Rotation) Run(ctx context.Context) error {
	if err := r.mgr.Start(ctx); err != nil {
		return fmt.Errorf("certificate rotation (Secret %s, webhook configurations %s): %w", r.cfg.Secret, r.cfg.WebhookConfiguration, err)
	}
	return nil
}

// Ready is nil once the serving pair is in the directory and the CA in the
// webhook configurations' caBundle, and says what is missing before.
func (r *Rotation) Ready() error {
	select {
	case <-r.isReady:
		return nil
	default:
		return fmt.Errorf("the builtin certificate rotation has not yet written the serving certificate from Secret %s and its CA into webhook configurations %s",
			r.cfg.Secret, r.cfg.WebhookConfiguration)
	}
}

// writeSecretToDir writes the Secret's serving pair and CA certificate to the
// directory each time they change, until ctx ends.
func (r *Rotation) writeSecretToDir(ctx context.Context) error {
	informer, err := r.mgr.GetCache().GetInformer(ctx, &corev1.Secret{})
	if err != nil {
		return fmt.Errorf("watch Secret %s: %w", r.cfg.Secret, err)
	}
	write := func(obj any) {
		secret, ok := obj.(*corev1.Secret)
		if !ok || secret.Namespace != r.cfg.Secret.Namespace || secret.Name != r.cfg.Secret.Name {
			return
		}
		if err := writePair(r.cfg.Dir, secret.Data); err != nil {
			r.cfg.Logger.Error("cannot write the certificate Secret's pair to the certificate directory; the pair in use stays", "secret", r.cfg.Secret.String(), "dir", r.cfg.Dir, "err", err)
		}
	}
	if _, err := informer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    write,
		UpdateFunc: func(_, obj any) { write(obj) },
	}); err != nil {
		return fmt.Errorf("watch Secret %s: %w", r.cfg.Secret, err)
	}
	<-ctx.Done()
	return nil
}

// writePair writes data's ca.crt, tls.crt and tls.key to dir when they are
// all there and differ from what dir holds. A Secret not yet filled is
// skipped; whether the pair is good is certs.Reloader's call.
func writePair(dir string, data map[string][]byte) error {
	caPEM, certPEM, keyPEM := data[certs.CACertFile], data[certs.CertFile], data[certs.KeyFile]
	if len(caPEM) == 0 || len(certPEM) == 0 || len(keyPEM) == 0 {
		return nil
	}
	if same(filepath.Join(dir, certs.CertFile), certPEM) && same(filepath.Join(dir, certs.KeyFile), keyPEM) &&
		same(filepath.Join(dir, certs.CACertFile), caPEM) {
		return nil
	}
	return certs.WriteServing(dir, caPEM, certPEM, keyPEM)
}

func same(path string, data []byte) bool {
	onDisk, err := os.ReadFile(path)
	return err == nil && bytes.Equal(onDisk, data)
}

// RunWith runs serve and the rotation until ctx ends. If the rotation stops
// with an error, serve's context ends too, so the server drains and stops,
// and RunWith returns that error: a pod that can no longer renew its
// certificate is restarted rather than left to serve until it expires.
func (r *Rotation) RunWith(ctx context.Context, serve func(context.Context) error) error {
	serveCtx, stop := context.WithCancel(ctx)
	defer stop()
	rotationErr := make(chan error, 1)
	go func() {
		err := r.Run(serveCtx)
		if err != nil {
			r.cfg.Logger.Error("certificate rotation stopped, shutting down", "err", err)
			stop()
		}
		rotationErr <- err
	}()
	err := serve(serveCtx)
	stop()
	return errors.Join(err, <-rotationErr)
}

// ParseSecret reads a Secret reference written namespace/name.
func ParseSecret(ref string) (types.NamespacedName, error) {
	namespace, name, ok := strings.Cut(ref, "/")
	if !ok || namespace == "" || name == "" || strings.Contains(name, "/") {
		return types.NamespacedName{}, fmt.Errorf("the Secret %q: want namespace/name", ref)
	}
	return types.NamespacedName{Namespace: namespace, Name: name}, nil
}
