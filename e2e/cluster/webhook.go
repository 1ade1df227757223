package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gracekeeper/gracekeeper/certs"
	"github.com/gracekeeper/gracekeeper/deploy"
)

const (
	webhookName = "gracekeeper"
	// WebhookNamespace is the release namespace the chart is rendered for.
	// Nothing runs there: gracekeeper runs on loopback.
	WebhookNamespace = "gracekeeper-system"
	// namespacesPath is the mode-label check, which every install has.
	namespacesPath = "/validate/namespaces"
)

// webhook is the gracekeeper process and what it takes to start it again.
type webhook struct {
	Binary    string   `json:"binary"`
	Args      []string `json:"args"`
	Port      int      `json:"port"`
	ProbePort int      `json:"probePort"`
	CADir     string   `json:"caDir"`
	TLSDir    string   `json:"tlsDir"`

	proc *process
}

// StartWebhook runs `gracekeeper serve` on free loopback ports with a
// serving certificate from a CA of its own, and registers the chart's
// webhook configurations, rendered with values, against it. Only each
// webhook's clientConfig changes: the URL keeps the chart's service path.
// The policy configuration is the config.yaml of the chart's ConfigMap, so
// values drive the webhook as they do in a real install. extraArgs are
// appended to the serve command line and win over the harness's flags.
//
// It returns once the API server calls the webhook: a dry-run Namespace
// with a mistyped mode label is denied. Calling it again restarts the
// webhook with the new values, on the same ports and certificates.
//
// The certificates are the harness's, as with certificates.mode provided:
// make up and the e2e suite restart the webhook often and keep one caBundle
// across restarts. StartBuiltinWebhook runs the chart's default, builtin.
func (c *Cluster) StartWebhook(ctx context.Context, binary string, values map[string]any, extraArgs ...string) (err error) {
	defer c.withWebhookLog("start webhook", &err)
	binary, err = filepath.Abs(binary)
	if err != nil {
		return fmt.Errorf("resolve gracekeeper binary: %w", err)
	}
	w, err := c.prepareWebhook()
	if err != nil {
		return err
	}
	ca, err := certs.LoadCA(w.CADir)
	if err != nil {
		return err
	}
	install, err := renderForLoopback(values, w.Port, ca.CertPEM)
	if err != nil {
		return err
	}
	if err := c.StopWebhook(); err != nil {
		return err
	}
	configPath := filepath.Join(c.Dir, "webhook", "config.yaml")
	if err := os.WriteFile(configPath, []byte(install.config), 0o644); err != nil {
		return fmt.Errorf("write webhook config: %w", err)
	}
	w.Binary = binary
	w.Args = c.serveArgs(w, configPath, extraArgs...)
	if err := c.RestartWebhook(ctx); err != nil {
		return err
	}
	if err := c.applyWebhookConfigurations(ctx, install.mutating, install.validating); err != nil {
		return err
	}
	if !install.hasNamespaceCheck {
		return nil
	}
	return c.waitForWebhookCalls(ctx)
}

// withWebhookLog adds what was being done and the webhook's last log lines
// to a start's error, if any.
func (c *Cluster) withWebhookLog(what string, err *error) {
	if *err != nil {
		*err = fmt.Errorf("%s: %w\n==> gracekeeper log <==\n%s", what, *err, c.Tail(webhookName, 25))
	}
}

// serveArgs is the command line of w serving on loopback with the
// cluster's kubeconfig and the configuration at configPath, then more.
func (c *Cluster) serveArgs(w *webhook, configPath string, more ...string) []string {
	return append([]string{"serve",
		"--tls-dir=" + w.TLSDir,
		fmt.Sprintf("--listen=127.0.0.1:%d", w.Port),
		fmt.Sprintf("--probe-listen=127.0.0.1:%d", w.ProbePort),
		"--kubeconfig=" + c.Kubeconfig,
		"--config=" + configPath,
		// Nothing routes traffic to it through endpoints, so it need not drain.
		"--drain-delay=0s",
	}, more...)
}

// waitForWebhookCalls waits until the API server calls the webhook: it
// denies a dry-run Namespace with a mistyped mode label. The API server picks
// up webhook configurations through an informer; the mutating one is written
// first, so it is in effect by then too.
func (c *Cluster) waitForWebhookCalls(ctx context.Context) error {
	return c.waitFor(ctx, "the API server to call the webhook (deny a dry-run Namespace labelled gracekeeper.io/mode=not-a-mode)",
		func(ctx context.Context) (bool, error) {
			_, err := c.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
				ObjectMeta: metav1.ObjectMeta{Name: "gracekeeper-e2e-probe", Labels: map[string]string{"gracekeeper.io/mode": "not-a-mode"}},
			}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			return err != nil && strings.Contains(err.Error(), "denied the request"), nil
		})
}

// prepareWebhook picks the ports and writes the CA and serving certificate
// the first time; later starts reuse them, so the registered caBundle stays
// valid.
func (c *Cluster) prepareWebhook() (*webhook, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.webhook != nil {
		return c.webhook, nil
	}
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	w := &webhook{
		Port: ports[0], ProbePort: ports[1],
		CADir:  filepath.Join(c.Dir, "webhook", "ca"),
		TLSDir: filepath.Join(c.Dir, "webhook", "tls"),
	}
	ca, err := certs.GenerateCA("gracekeeper e2e CA", 365*24*time.Hour)
	if err != nil {
		return nil, err
	}
	if err := ca.Write(w.CADir); err != nil {
		return nil, err
	}
	if err := issueServing(ca, w.TLSDir); err != nil {
		return nil, err
	}
	c.webhook = w
	return w, nil
}

func issueServing(ca *certs.CA, tlsDir string) error {
	certPEM, keyPEM, err := ca.Issue([]string{"127.0.0.1", "localhost"}, 30*24*time.Hour)
	if err != nil {
		return err
	}
	return certs.WriteServing(tlsDir, ca.CertPEM, certPEM, keyPEM)
}

// loopbackInstall is what the chart installs, made to run on loopback.
type loopbackInstall struct {
	mutating   *admissionregistrationv1.MutatingWebhookConfiguration
	validating *admissionregistrationv1.ValidatingWebhookConfiguration
	// config is the policy configuration from the chart's ConfigMap.
	config string
	// hasNamespaceCheck tells whether the mode-label entry is registered.
	hasNamespaceCheck bool
	// objects is the whole rendered chart.
	objects []*unstructured.Unstructured
}

// renderForLoopback renders the chart with values and points every webhook
// at https://127.0.0.1:port with the path the chart gives its Service, and
// at caPEM. Nothing else in the configurations changes.
func renderForLoopback(values map[string]any, port int, caPEM []byte) (*loopbackInstall, error) {
	objs, err := deploy.RenderChart(WebhookNamespace, values)
	if err != nil {
		return nil, fmt.Errorf("render chart: %w", err)
	}
	install := loopbackInstall{objects: objs}
	install.mutating, install.validating, err = deploy.WebhookConfigurations(objs)
	if err != nil {
		return nil, err
	}
	for i := range install.mutating.Webhooks {
		if _, err := pointAtLoopback(&install.mutating.Webhooks[i].ClientConfig, port, caPEM); err != nil {
			return nil, fmt.Errorf("webhook %s: %w", install.mutating.Webhooks[i].Name, err)
		}
	}
	for i := range install.validating.Webhooks {
		path, err := pointAtLoopback(&install.validating.Webhooks[i].ClientConfig, port, caPEM)
		if err != nil {
			return nil, fmt.Errorf("webhook %s: %w", install.validating.Webhooks[i].Name, err)
		}
		install.hasNamespaceCheck = install.hasNamespaceCheck || path == namespacesPath
	}
	for _, obj := range objs {
		config, found, err := unstructured.NestedString(obj.Object, "data", "config.yaml")
		if obj.GetKind() == "ConfigMap" && found && err == nil {
			install.config = config
			return &install, nil
		}
	}
	return nil, errors.New("the rendered chart has no ConfigMap with config.yaml")
}

// pointAtLoopback replaces a clientConfig that names the chart's Service by
// the loopback URL with the same path, which it returns.
func pointAtLoopback(cc *admissionregistrationv1.WebhookClientConfig, port int, caPEM []byte) (path string, err error) {
	if cc.Service == nil || cc.Service.Path == nil {
		return "", errors.New("clientConfig has no service path")
	}
	path = *cc.Service.Path
	url := fmt.Sprintf("https://127.0.0.1:%d%s", port, path)
	*cc = admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: caPEM}
	return path, nil
}

// applyWebhookConfigurations creates the configurations, or replaces them.
func (c *Cluster) applyWebhookConfigurations(ctx context.Context, mutating *admissionregistrationv1.MutatingWebhookConfiguration, validating *admissionregistrationv1.ValidatingWebhookConfiguration) error {
	admission := c.client.AdmissionregistrationV1()
	if err := createOrReplace(ctx, admission.MutatingWebhookConfigurations(), "MutatingWebhookConfiguration", mutating); err != nil {
		return err
	}
	return createOrReplace(ctx, admission.ValidatingWebhookConfigurations(), "ValidatingWebhookConfiguration", validating)
}

// createOrReplace creates obj through api, a client-go typed client, or
// replaces the stored object of its name.
func createOrReplace[T metav1.Object](ctx context.Context, api interface {
	Create(context.Context, T, metav1.CreateOptions) (T, error)
	Get(context.Context, string, metav1.GetOptions) (T, error)
	Update(context.Context, T, metav1.UpdateOptions) (T, error)
}, kind string, obj T) error {
	if _, err := api.Create(ctx, obj, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
		var old T
		if old, err = api.Get(ctx, obj.GetName(), metav1.GetOptions{}); err == nil {
			obj.SetResourceVersion(old.GetResourceVersion())
			_, err = api.Update(ctx, obj, metav1.UpdateOptions{})
		}
		if err != nil {
			return fmt.Errorf("update %s %s: %w", kind, obj.GetName(), err)
		}
	} else if err != nil {
		return fmt.Errorf("create %s %s: %w", kind, obj.GetName(), err)
	}
	return nil
}

// StopWebhook stops the gracekeeper process (SIGTERM, then SIGKILL after
// 5 s) and leaves its configurations registered, as in an outage. It does
// nothing if the webhook is not running.
func (c *Cluster) StopWebhook() error {
	c.mu.Lock()
	w := c.webhook
	if w == nil || w.proc == nil {
		c.mu.Unlock()
		return nil
	}
	w.proc.stopped = true
	c.mu.Unlock()
	return w.proc.stop(5 * time.Second)
}

// RestartWebhook starts the webhook stopped by StopWebhook again, with the
// same binary, flags, ports and certificate directory, and waits for its
// /readyz. It is an error if the webhook is running.
func (c *Cluster) RestartWebhook(ctx context.Context) error {
	c.mu.Lock()
	w := c.webhook
	c.mu.Unlock()
	if w == nil || w.Binary == "" {
		return errors.New("restart webhook: StartWebhook was never called")
	}
	if w.proc != nil && w.proc.running() {
		return errors.New("restart webhook: it is running")
	}
	p, err := c.startRecorded(webhookName, w.Binary, nil, w.Args)
	if err != nil {
		return err
	}
	c.mu.Lock()
	w.proc = p
	err = c.saveState()
	c.mu.Unlock()
	if err != nil {
		return err
	}
	return c.waitFor(ctx, "gracekeeper /readyz", func(ctx context.Context) (bool, error) {
		return httpOK(ctx, c.WebhookProbeURL()+"/readyz"), nil
	})
}

// RotateWebhookCert issues a new serving certificate from the same CA and
// swaps the files in the TLS directory, as cert-manager renews a Secret.
// The running webhook is expected to pick it up without restarting.
func (c *Cluster) RotateWebhookCert() error {
	w, err := c.currentWebhook()
	if err != nil {
		return err
	}
	ca, err := certs.LoadCA(w.CADir)
	if err != nil {
		return err
	}
	return issueServing(ca, w.TLSDir)
}

// WebhookProbeURL is the base URL of the webhook's plain-HTTP port, which
// serves /healthz, /readyz and /metrics. It is empty before StartWebhook.
func (c *Cluster) WebhookProbeURL() string {
	w, err := c.currentWebhook()
	if err != nil {
		return ""
	}
	return fmt.Sprintf("http://127.0.0.1:%d", w.ProbePort)
}

// WebhookURL is the base URL of the webhook's HTTPS port, which the API
// server calls. It is empty before StartWebhook.
func (c *Cluster) WebhookURL() string {
	w, err := c.currentWebhook()
	if err != nil {
		return ""
	}
	return fmt.Sprintf("https://127.0.0.1:%d", w.Port)
}

// WebhookTLSDir is the directory the webhook reads ca.crt, tls.crt and
// tls.key from. It is empty before StartWebhook.
func (c *Cluster) WebhookTLSDir() string {
	w, err := c.currentWebhook()
	if err != nil {
		return ""
	}
	return w.TLSDir
}

func (c *Cluster) currentWebhook() (*webhook, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.webhook == nil {
		return nil, errors.New("the webhook was never started")
	}
	return c.webhook, nil
}
