//go:build e2e

package realnode

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/gracekeeper/gracekeeper/certs"
	"github.com/gracekeeper/gracekeeper/deploy"
)

const (
	// gracekeeperNamespace is the release namespace.
	gracekeeperNamespace = "gracekeeper-system"
	// servingSecret is the serving Secret provided in place of
	// cert-manager's, which does not run here.
	servingSecret = "gracekeeper-serving"
	// clientCASecret holds the CA of the client certificate the API server
	// presents to webhooks, for mutual TLS.
	clientCASecret = "gracekeeper-client-ca"
)

// installValues are the chart values of the real-node install: the image
// built here, never pulled; a serving Secret provided like `gracekeeper
// certs` writes one; mutual TLS with the API server's webhook client
// certificate; and the server version given, because the pods cannot reach
// the API server, which listens on the host's loopback only.
func installValues(caPEM []byte) map[string]any {
	repo, tag, _ := strings.Cut(gracekeeperImage, ":")
	return map[string]any{
		"image": map[string]any{"repository": repo, "tag": tag, "pullPolicy": "Never"},
		"certificates": map[string]any{
			"mode":     "provided",
			"provided": map[string]any{"secretName": servingSecret, "caBundle": base64.StdEncoding.EncodeToString(caPEM)},
		},
		"mutualTLS": map[string]any{"enabled": true, "clientCASecretName": clientCASecret},
		"config":    map[string]any{"serverVersion": "1.37"},
	}
}

// installGracekeeper installs the chart's release (not its hooks) with
// kubectl apply --server-side, as a user would, and returns once the API
// server calls the webhook through its Service and kube-proxy.
func installGracekeeper(ctx context.Context, n *Node) error {
	ca, err := certs.GenerateCA("gracekeeper real-node CA", 24*time.Hour)
	if err != nil {
		return err
	}
	service := deploy.ReleaseName + "." + gracekeeperNamespace + ".svc"
	certPEM, keyPEM, err := ca.Issue([]string{service, service + ".cluster.local"}, 24*time.Hour)
	if err != nil {
		return err
	}
	objs, err := deploy.RenderChart(gracekeeperNamespace, installValues(ca.CertPEM))
	if err != nil {
		return err
	}
	var docs []string
	for _, obj := range objs {
		if deploy.IsHook(obj) {
			continue
		}
		doc, err := yaml.Marshal(obj.Object)
		if err != nil {
			return err
		}
		docs = append(docs, string(doc))
	}
	client := n.Client()
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: gracekeeperNamespace}}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create namespace %s: %w", gracekeeperNamespace, err)
	}
	if _, err := client.CoreV1().Secrets(gracekeeperNamespace).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: servingSecret},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{"ca.crt": ca.CertPEM, corev1.TLSCertKey: certPEM, corev1.TLSPrivateKeyKey: keyPEM},
	}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create serving secret: %w", err)
	}
	clientCA, err := os.ReadFile(n.WebhookClientCA)
	if err != nil {
		return fmt.Errorf("read the API server's webhook client CA: %w", err)
	}
	if _, err := client.CoreV1().Secrets(gracekeeperNamespace).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: clientCASecret},
		Data:       map[string][]byte{"ca.crt": clientCA},
	}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create client CA secret: %w", err)
	}
	if _, _, err := n.KubectlInput(ctx, strings.Join(docs, "---\n"), "apply", "--server-side", "-f", "-"); err != nil {
		return err
	}
	if _, _, err := n.Kubectl(ctx, "-n", gracekeeperNamespace, "rollout", "status", "deployment/"+deploy.ReleaseName, "--timeout=3m"); err != nil {
		return fmt.Errorf("%w\n%s", err, n.Tail("kubelet", 30))
	}
	// The API server picks up the configurations through an informer, and
	// kube-proxy the endpoints: probe until a mistyped mode label is denied.
	return n.WaitFor(ctx, "the API server to call gracekeeper through its Service (deny a dry-run Namespace labelled gracekeeper.io/mode=not-a-mode)",
		func(ctx context.Context) (bool, error) {
			_, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
				ObjectMeta: metav1.ObjectMeta{Name: "gracekeeper-probe", Labels: map[string]string{"gracekeeper.io/mode": "not-a-mode"}},
			}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			return err != nil && strings.Contains(err.Error(), "denied the request"), nil
		})
}
