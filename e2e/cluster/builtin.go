package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// builtinFlags are the serve flags of certificates.mode builtin, taken from
// the chart's Deployment so the harness runs what the chart runs.
var builtinFlags = []string{"--cert-secret=", "--webhook-configuration=", "--cert-validity="}

// StartBuiltinWebhook runs `gracekeeper serve` on free loopback ports with
// the chart's certificates.mode builtin: it creates the release namespace and
// the chart's empty Secret, registers the chart's webhook configurations
// (rendered with values) at https://localhost:<port> without any caBundle,
// and starts gracekeeper with the chart's --cert-secret,
// --webhook-configuration and --cert-validity flags and
// --tls-server-names=localhost. gracekeeper then issues the CA and the
// serving certificate, writes the CA into the configurations and serves.
// extraArgs are appended to the serve command line.
//
// It returns once /readyz answers (which waits for the caBundle) and the
// API server calls the webhook. Use it on a cluster of its own: it replaces
// any webhook StartWebhook registered.
func (c *Cluster) StartBuiltinWebhook(ctx context.Context, binary string, values map[string]any, extraArgs ...string) (err error) {
	defer c.withWebhookLog("start webhook with builtin certificates", &err)
	binary, err = filepath.Abs(binary)
	if err != nil {
		return fmt.Errorf("resolve gracekeeper binary: %w", err)
	}
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	install, err := renderForLoopback(values, ports[0], nil)
	if err != nil {
		return err
	}
	// The serving certificate has DNS names only: the API server calls localhost.
	for i := range install.mutating.Webhooks {
		localhost(install.mutating.Webhooks[i].ClientConfig.URL)
	}
	for i := range install.validating.Webhooks {
		localhost(install.validating.Webhooks[i].ClientConfig.URL)
	}
	var secret *corev1.Secret
	var args []string
	for _, obj := range install.objects {
		switch obj.GetKind() {
		case "Secret":
			secret = &corev1.Secret{}
			err = runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, secret)
		case "Deployment":
			var d appsv1.Deployment
			if err = runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &d); err == nil {
				args = slices.DeleteFunc(joinFlagValues(d.Spec.Template.Spec.Containers[0].Args), func(arg string) bool {
					return !slices.ContainsFunc(builtinFlags, func(flag string) bool { return strings.HasPrefix(arg, flag) })
				})
			}
		}
		if err != nil {
			return fmt.Errorf("decode the chart's %s: %w", obj.GetKind(), err)
		}
	}
	if secret == nil || len(args) != len(builtinFlags) {
		return fmt.Errorf("the chart rendered with these values has no builtin certificates (Secret %v, serve flags %v)", secret != nil, args)
	}
	if err := c.StopWebhook(); err != nil {
		return err
	}
	if _, err := c.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: WebhookNamespace}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", WebhookNamespace, err)
	}
	if _, err := c.client.CoreV1().Secrets(WebhookNamespace).Create(ctx, secret, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create Secret %s: %w", secret.Name, err)
	}
	if err := c.applyWebhookConfigurations(ctx, install.mutating, install.validating); err != nil {
		return err
	}
	dir := filepath.Join(c.Dir, "webhook")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	configPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(configPath, []byte(install.config), 0o644); err != nil {
		return fmt.Errorf("write webhook config: %w", err)
	}
	w := &webhook{Port: ports[0], ProbePort: ports[1], TLSDir: filepath.Join(dir, "builtin-tls"), Binary: binary}
	w.Args = c.serveArgs(w, configPath, append(append([]string{"--tls-server-names=localhost"}, args...), extraArgs...)...)
	c.mu.Lock()
	c.webhook = w
	c.mu.Unlock()
	if err := c.RestartWebhook(ctx); err != nil {
		return err
	}
	if !install.hasNamespaceCheck {
		return errors.New("the chart rendered with these values registers no namespace check to wait for")
	}
	return c.waitForWebhookCalls(ctx)
}

// localhost rewrites a loopback webhook URL from 127.0.0.1 to localhost.
func localhost(url *string) {
	*url = strings.Replace(*url, "https://127.0.0.1:", "https://localhost:", 1)
}

// joinFlagValues writes "--flag value" pairs of builtinFlags as "--flag=value":
// the chart passes --cert-secret and its value as two items, so that
// kustomize can move the namespace in the value.
func joinFlagValues(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		if slices.Contains(builtinFlags, args[i]+"=") && i+1 < len(args) {
			out = append(out, args[i]+"="+args[i+1])
			i++
			continue
		}
		out = append(out, args[i])
	}
	return out
}
