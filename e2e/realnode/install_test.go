//go:build e2e

package realnode

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/kube"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/gracekeeper/gracekeeper/deploy"
)

// gracekeeperNamespace is the release namespace.
const gracekeeperNamespace = "gracekeeper-system"

// installValues are the chart values of the real-node install: the defaults
// (certificates.mode builtin among them) but for the image, built here and
// never pulled.
func installValues() map[string]any {
	repo, tag, _ := strings.Cut(gracekeeperImage, ":")
	return map[string]any{
		"image": map[string]any{"repository": repo, "tag": tag, "pullPolicy": "Never"},
	}
}

// helmConfiguration is the Helm SDK's configuration for the node's cluster,
// with releases stored in Secrets as the helm CLI stores them. The helm CLI
// is the Helm SDK's action package with flags around it; no helm binary is
// needed.
func helmConfiguration(n *Node) (*action.Configuration, error) {
	flags := genericclioptions.NewConfigFlags(false)
	kubeconfig, namespace := n.Kubeconfig, gracekeeperNamespace
	flags.KubeConfig, flags.Namespace = &kubeconfig, &namespace
	cfg := action.NewConfiguration()
	cfg.SetLogger(slog.DiscardHandler)
	if err := cfg.Init(flags, gracekeeperNamespace, "secret"); err != nil {
		return nil, fmt.Errorf("helm configuration: %w", err)
	}
	return cfg, nil
}

// installGracekeeper runs `helm install gracekeeper deploy/helm/gracekeeper
// --namespace gracekeeper-system --create-namespace --wait` with the
// installValues, through the Helm SDK, and returns once the API server calls
// the webhook through its Service and kube-proxy.
func installGracekeeper(ctx context.Context, n *Node) error {
	chart, err := loader.Load(filepath.Join("..", "..", "deploy", deploy.ChartDir))
	if err != nil {
		return fmt.Errorf("load the chart: %w", err)
	}
	cfg, err := helmConfiguration(n)
	if err != nil {
		return err
	}
	install := action.NewInstall(cfg)
	install.ReleaseName, install.Namespace, install.CreateNamespace = deploy.ReleaseName, gracekeeperNamespace, true
	install.WaitStrategy, install.Timeout = kube.StatusWatcherStrategy, 3*time.Minute
	if _, err := install.RunWithContext(ctx, chart, installValues()); err != nil {
		return fmt.Errorf("helm install: %w\n%s", err, n.Tail("kubelet", 30))
	}
	client := n.Client()
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

// helmTest runs `helm test gracekeeper` through the Helm SDK: the chart's
// test hooks, which run `gracekeeper selftest` in a pod.
func helmTest(n *Node, timeout time.Duration) error {
	cfg, err := helmConfiguration(n)
	if err != nil {
		return err
	}
	test := action.NewReleaseTesting(cfg)
	test.Namespace, test.Timeout = gracekeeperNamespace, timeout
	_, shutdown, err := test.Run(deploy.ReleaseName)
	if shutdownErr := shutdown(); err == nil {
		err = shutdownErr
	}
	return err
}
