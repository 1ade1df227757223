package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"runtime/debug"
	"strings"
	"time"

	apiversion "k8s.io/apimachinery/pkg/version"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"

	"github.com/gracekeeper/gracekeeper/certs"
	"github.com/gracekeeper/gracekeeper/certs/builtin"
	"github.com/gracekeeper/gracekeeper/cmd/gracekeeper/internal/cli"
	"github.com/gracekeeper/gracekeeper/policies"
	"github.com/gracekeeper/gracekeeper/policies/api/v1alpha1"
	"github.com/gracekeeper/gracekeeper/webhook"
	"github.com/gracekeeper/gracekeeper/webhook/admission"
)

// discoveryTimeout bounds the start-up call for the API server's version.
const discoveryTimeout = 10 * time.Second

func runServe(ctx context.Context, args []string, _, stderr io.Writer) error {
	var paths []string
	for _, p := range admission.Paths() {
		paths = append(paths, p.Path)
	}
	flags := cli.NewFlagSet("serve", "Usage: gracekeeper serve [flags]\n\n"+
		"Serves the admission webhook over HTTPS, at\n"+strings.Join(paths, ", ")+",\n"+
		"and /healthz, /readyz and /metrics over plain HTTP. On SIGTERM it fails readiness, keeps\n"+
		"serving for --drain-delay, then waits up to --shutdown-timeout for in-flight reviews.", stderr)
	tlsDir := flags.String("tls-dir", "/etc/gracekeeper/tls", "directory holding tls.crt and tls.key, reloaded when they change")
	listen := flags.String("listen", webhook.DefaultListen, "HTTPS address of the webhook")
	probeListen := flags.String("probe-listen", webhook.DefaultProbeListen, "plain-HTTP address of /healthz, /readyz and /metrics")
	configPath := flags.String("config", "", "policy configuration file (kind Configuration, gracekeeper.io/v1alpha1); empty means every default")
	// kubectl's connection flags (--kubeconfig, --context, --server...): used
	// to find the API server's version and read pods and workloads when not
	// running in a cluster.
	connection := cli.ConnectionFlags(flags, false)
	drainDelay := flags.Duration("drain-delay", 10*time.Second, "how long to keep serving after SIGTERM while readiness fails")
	shutdownTimeout := flags.Duration("shutdown-timeout", webhook.DefaultShutdownTimeout, "how long in-flight reviews may take after the drain delay")
	logFormat := flags.String("log-format", "json", "log format: json or text")
	logLevel := flags.String("log-level", "info", "log level: debug, info, warn or error (debug adds each finding's full JSON patch)")
	clientCAFile := flags.String("client-ca-file", "", "PEM CA bundle that must verify the client certificate of every caller of the webhook port (mutual TLS), reloaded when it changes; empty accepts any caller")
	serverNames := flags.String("tls-server-names", "", "comma-separated DNS names or IPs a new serving certificate must be valid for to be used; empty means the names of the certificate in use")
	certSecret := flags.String("cert-secret", "", "namespace/name of an existing Secret in which gracekeeper issues and renews its own CA and serving certificate (for the names of --tls-server-names), writes the pair to --tls-dir and the CA into the caBundle of --webhook-configuration; empty means --tls-dir is filled by someone else")
	webhookConfiguration := flags.String("webhook-configuration", "", "with --cert-secret: name of the MutatingWebhookConfiguration and ValidatingWebhookConfiguration whose caBundle gets the CA")
	certValidity := flags.Duration("cert-validity", builtin.DefaultValidity, "with --cert-secret: lifetime of the serving certificate, renewed when a quarter of it is left")
	maxInFlight := flags.Int64("max-inflight-bytes", 0, "estimated memory of the reviews judged at once, each charged ten times its body plus 512 bytes per JSON object; more reviews wait for room within their timeout, and one that fits goes ahead of a larger one. 0 means half the Go memory limit (GOMEMLIMIT), or 48 MiB without one")
	if err := cli.ParseFlags(flags, args); err != nil {
		return err
	}
	if err := cmp.Or(cli.NotNegative("drain-delay", *drainDelay), cli.Positive("shutdown-timeout", *shutdownTimeout),
		cli.NotNegative("max-inflight-bytes", *maxInFlight)); err != nil {
		return err
	}
	logger, err := newLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		return fmt.Errorf("%w: %w", cli.ErrUsage, err)
	}
	var clientCAs *certs.ClientCAs
	if *clientCAFile != "" {
		if clientCAs, err = certs.NewClientCAs(*clientCAFile, logger, 0); err != nil {
			return fmt.Errorf("%w: --client-ca-file: %w", cli.ErrUsage, err)
		}
	}

	cfg, err := v1alpha1.Load(*configPath)
	if err != nil {
		return err
	}
	engine, err := policies.New(cfg, serverVersion(ctx, cfg, connection, logger))
	if err != nil {
		return fmt.Errorf("policy engine: %w", err)
	}
	preStop := "exec sleep"
	if engine.NativeSleep() {
		preStop = "sleep action"
	}
	logger.Info("policy configuration loaded", "config", *configPath, "preStopHook", preStop)

	var reloaderOptions []certs.Option
	if names := splitList(*serverNames); len(names) > 0 {
		reloaderOptions = append(reloaderOptions, certs.WithServedNames(names...))
	}
	var rotation *builtin.Rotation
	if *certSecret != "" {
		if rotation, err = newRotation(*certSecret, *tlsDir, *webhookConfiguration, *serverNames, *certValidity, connection, logger); err != nil {
			return err
		}
	}
	reloader, err := certs.NewReloader(*tlsDir, logger, reloaderOptions...)
	if err != nil {
		return err
	}
	memoryLimit := debug.SetMemoryLimit(-1)
	if memoryLimit == math.MaxInt64 {
		memoryLimit = 0
	}
	if *maxInFlight == 0 {
		*maxInFlight = webhook.MaxInFlightBytesFor(memoryLimit)
	}
	logger.Info("memory bounds", "goMemoryLimitBytes", memoryLimit, "maxInFlightBytes", *maxInFlight, "mutualTLS", clientCAs != nil)
	cfgWebhook := webhook.Config{
		Engine:           engine,
		Certificates:     reloader,
		Logger:           logger,
		Listen:           *listen,
		ProbeListen:      *probeListen,
		DrainDelay:       *drainDelay,
		ShutdownTimeout:  *shutdownTimeout,
		ClientCAs:        clientCAs,
		MaxInFlightBytes: *maxInFlight,
		Client:           apiClient(connection, logger),
	}
	if rotation != nil {
		cfgWebhook.Ready = rotation.Ready
	}
	srv, err := webhook.New(cfgWebhook)
	if err != nil {
		return err
	}
	if rotation != nil {
		return rotation.RunWith(ctx, srv.Run)
	}
	return srv.Run(ctx)
}

// newRotation prepares the builtin certificate rotation of --cert-secret.
func newRotation(secretRef, tlsDir, webhookConfiguration, serverNames string, validity time.Duration, connection genericclioptions.RESTClientGetter, logger *slog.Logger) (*builtin.Rotation, error) {
	secret, err := builtin.ParseSecret(secretRef)
	if err != nil {
		return nil, fmt.Errorf("%w: --cert-secret: %w", cli.ErrUsage, err)
	}
	names := splitList(serverNames)
	switch {
	case webhookConfiguration == "":
		return nil, fmt.Errorf("%w: --cert-secret needs --webhook-configuration, the name of the webhook configurations to write the CA into", cli.ErrUsage)
	case len(names) == 0:
		return nil, fmt.Errorf("%w: --cert-secret needs --tls-server-names, the DNS names to issue the serving certificate for", cli.ErrUsage)
	}
	if err := cli.Positive("cert-validity", validity); err != nil {
		return nil, err
	}
	restConfig, err := connection.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("--cert-secret: client configuration: %w", err)
	}
	return builtin.New(restConfig, builtin.Config{
		Secret: secret, Dir: tlsDir, DNSNames: names, WebhookConfiguration: webhookConfiguration,
		Validity: validity, Logger: logger,
	})
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want json or text", format)
}

// serverVersion finds the API server's version, which decides whether the
// preStop hook can use the native sleep action. It asks only when the
// configuration leaves that open, and never fails: without an answer the
// engine falls back to exec sleep, which works on every version.
func serverVersion(ctx context.Context, cfg *v1alpha1.Configuration, connection genericclioptions.RESTClientGetter, logger *slog.Logger) string {
	if cfg.ServerVersion != "" || cfg.PreStop.Action != v1alpha1.PreStopAuto {
		return ""
	}
	v, err := discoverVersion(ctx, connection)
	if err != nil {
		logger.Warn("cannot find the API server version; preStop hooks use exec sleep, which needs a sleep binary in the image. Set serverVersion in the configuration to choose",
			"err", err)
		return ""
	}
	logger.Info("found the API server version", "version", v)
	return v
}

// discoverVersion asks the API server for its version, through --kubeconfig
// when given, else the in-cluster service account.
func discoverVersion(ctx context.Context, connection genericclioptions.RESTClientGetter) (string, error) {
	restConfig, err := connection.ToRESTConfig()
	if err != nil {
		return "", fmt.Errorf("client configuration: %w", err)
	}
	restConfig.Timeout = discoveryTimeout
	client, err := discovery.NewDiscoveryClientForConfig(restConfig)
	if err != nil {
		return "", fmt.Errorf("discovery client: %w", err)
	}
	body, err := client.RESTClient().Get().AbsPath("/version").Do(ctx).Raw()
	if err != nil {
		return "", fmt.Errorf("get /version: %w", err)
	}
	var info apiversion.Info
	if err := json.Unmarshal(body, &info); err != nil {
		return "", fmt.Errorf("decode /version: %w", err)
	}
	return info.GitVersion, nil
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(value string) []string {
	var items []string
	for item := range strings.SplitSeq(value, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}

// apiClient is the client the webhook reads the pod of an eviction and the
// workload of a /scale with. Without one gracekeeper still serves, and says so.
func apiClient(connection genericclioptions.RESTClientGetter, logger *slog.Logger) kubernetes.Interface {
	restConfig, err := connection.ToRESTConfig()
	if err == nil {
		// Reads come one per eviction during a drain: keep client-side
		// throttling from eating the read's timeout.
		restConfig.QPS, restConfig.Burst = 50, 100
		var client kubernetes.Interface
		if client, err = kubernetes.NewForConfig(restConfig); err == nil {
			return client
		}
	}
	logger.Warn("no API client: evictions with a grace override are answered with an error, and /scale requests do not see exemption annotations",
		"err", err)
	return nil
}
