//go:build e2e

// These tests start real control planes, so they run only with -tags e2e
// (make e2e), and then fail, not skip, when the binaries are missing.

package cluster_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gracekeeper/gracekeeper/e2e/cluster"
)

// binDir is where e2e/tools/build.sh puts the binaries; GRACEKEEPER_E2E_BIN
// points elsewhere.
func binDir(t *testing.T) string {
	dir := os.Getenv("GRACEKEEPER_E2E_BIN")
	if dir == "" {
		dir = filepath.Join("..", "..", ".cache", "bin", "v1.37.2")
	}
	if err := cluster.CheckBinaries(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startCluster starts a cluster that is stopped when the test ends, and
// prints the tails of its logs if the test failed.
func startCluster(ctx context.Context, t *testing.T) *cluster.Cluster {
	t.Helper()
	started := time.Now()
	c, err := cluster.Start(ctx, cluster.Options{BinDir: binDir(t), Progress: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cluster ready in %s", time.Since(started).Round(100*time.Millisecond))
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(c.Tails(40))
		}
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	})
	return c
}

func TestADeploymentRollsOutToReadyPodsOnTheKwokNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	started := time.Now()
	c := startCluster(ctx, t)

	out, _, err := c.Kubectl(ctx, "version", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var version struct {
		ClientVersion struct{ GitVersion string } `json:"clientVersion"`
		ServerVersion struct{ GitVersion string } `json:"serverVersion"`
	}
	if err := json.Unmarshal([]byte(out), &version); err != nil {
		t.Fatalf("decode kubectl version: %v\n%s", err, out)
	}
	if version.ServerVersion.GitVersion != "v1.37.2" || version.ClientVersion.GitVersion != "v1.37.2" {
		t.Errorf("kubectl version: server %q, client %q; want v1.37.2 for both", version.ServerVersion.GitVersion, version.ClientVersion.GitVersion)
	}

	mustKubectl(ctx, t, c, "create", "namespace", "smoke")
	mustKubectl(ctx, t, c, "-n", "smoke", "create", "deployment", "nginx", "--image=nginx:1.18", "--replicas=2")
	mustKubectl(ctx, t, c, "-n", "smoke", "rollout", "status", "deployment/nginx", "--timeout=3m")
	t.Logf("deployment rolled out %s after start", time.Since(started).Round(100*time.Millisecond))

	pods, err := c.Client().CoreV1().Pods("smoke").List(ctx, metav1.ListOptions{LabelSelector: "app=nginx"})
	if err != nil {
		t.Fatal(err)
	}
	ready := 0
	for _, pod := range pods.Items {
		if pod.Spec.NodeName == cluster.NodeName && pod.Status.Phase == corev1.PodRunning && podReady(&pod) {
			ready++
		}
	}
	if ready != 2 || len(pods.Items) != 2 {
		t.Errorf("%d of %d pods are Running and Ready on %s, want 2 of 2", ready, len(pods.Items), cluster.NodeName)
	}

	dir := c.Dir
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("after Stop, the cluster dir %s still exists (stat: %v)", dir, err)
	}
	if c.Healthy(ctx) {
		t.Error("after Stop, the API server still answers /readyz")
	}
	t.Logf("whole run, stop included: %s", time.Since(started).Round(100*time.Millisecond))
}

func TestTheAPIServerCallsTheWebhookAcrossRestartsAndCertRotation(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	binary := filepath.Join(t.TempDir(), "gracekeeper")
	if err := cluster.BuildGracekeeper(ctx, binary); err != nil {
		t.Fatal(err)
	}
	c := startCluster(ctx, t)
	if err := c.StartWebhook(ctx, binary, nil); err != nil {
		t.Fatal(err)
	}
	mustKubectl(ctx, t, c, "create", "namespace", "typo")

	// A mistyped mode label is denied only if the API server reached the
	// webhook through the registered URL and trusted its certificate.
	labelIsDenied := func(when string) {
		t.Helper()
		_, stderr, err := c.Kubectl(ctx, "label", "namespace", "typo", "gracekeeper.io/mode=enforc")
		if err == nil || !strings.Contains(stderr, "denied") {
			t.Errorf("%s: kubectl label gracekeeper.io/mode=enforc: err %v, stderr %q; want a denial", when, err, stderr)
		}
	}
	labelIsDenied("after StartWebhook")

	if err := c.RotateWebhookCert(); err != nil {
		t.Fatal(err)
	}
	labelIsDenied("after RotateWebhookCert")

	if err := c.StopWebhook(); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.Get(c.WebhookProbeURL() + "/readyz"); err == nil {
		resp.Body.Close()
		t.Errorf("after StopWebhook, /readyz still answers %s", resp.Status)
	}
	if err := c.RestartWebhook(ctx); err != nil {
		t.Fatal(err)
	}
	labelIsDenied("after RestartWebhook")
}

func mustKubectl(ctx context.Context, t *testing.T, c *cluster.Cluster, args ...string) string {
	t.Helper()
	out, _, err := c.Kubectl(ctx, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func podReady(pod *corev1.Pod) bool {
	for _, cond := range pod.Status.Conditions {
		if cond.Type == corev1.PodReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}
