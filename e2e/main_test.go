//go:build e2e

// Package e2e runs gracekeeper behind a real kube-apiserver 1.37, driven by
// the real kubectl, in a cluster whose Deployments really roll out (kwok
// plays the node). One control plane and one webhook serve every test; each
// test works in namespaces of its own.
package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/gracekeeper/gracekeeper/e2e/cluster"
)

// env is the shared cluster, set up by TestMain.
var env struct {
	cluster *cluster.Cluster
	binary  string
}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	binDir := os.Getenv("GRACEKEEPER_E2E_BIN")
	if binDir == "" {
		binDir = filepath.Join("..", ".cache", "bin", "v1.37.2")
	}
	// make e2e builds these first; a cold build takes minutes, once.
	build, cancelBuild := context.WithTimeout(context.Background(), time.Hour)
	defer cancelBuild()
	if err := cluster.BuildBinaries(build, "..", binDir, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tmp, err := os.MkdirTemp("", "gracekeeper-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	env.binary = filepath.Join(tmp, "gracekeeper")
	if err := cluster.BuildGracekeeper(ctx, env.binary); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	started := time.Now()
	c, err := cluster.Start(ctx, cluster.Options{BinDir: binDir})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	env.cluster = c
	defer func() {
		if err := c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}()
	if err := c.StartWebhook(ctx, env.binary, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "e2e: cluster and webhook ready in %s\n", time.Since(started).Round(100*time.Millisecond))
	code := m.Run()
	if code != 0 {
		fmt.Fprintln(os.Stderr, c.Tails(30))
	}
	return code
}

// result is what a kubectl run showed the user.
type result struct {
	stdout, stderr string
	err            error
}

// warnings are the "Warning: ..." lines kubectl printed.
func (r result) warnings() []string {
	var out []string
	for _, line := range strings.Split(r.stderr, "\n") {
		if strings.HasPrefix(line, "Warning: ") {
			out = append(out, strings.TrimPrefix(line, "Warning: "))
		}
	}
	return out
}

func (r result) String() string {
	return fmt.Sprintf("err=%v\nstdout:\n%s\nstderr:\n%s", r.err, r.stdout, r.stderr)
}

// kubectl runs the real kubectl against the shared cluster.
func kubectl(t *testing.T, args ...string) result {
	t.Helper()
	return kubectlIn(t, "", args...)
}

func kubectlIn(t *testing.T, input string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stdout, stderr, err := env.cluster.KubectlInput(ctx, input, args...)
	return result{stdout, stderr, err}
}

// mustKubectl fails the test unless kubectl succeeds.
func mustKubectl(t *testing.T, args ...string) result {
	t.Helper()
	r := kubectl(t, args...)
	if r.err != nil {
		t.Fatalf("kubectl %s: %s", strings.Join(args, " "), r)
	}
	return r
}

var namespaceSeq atomic.Int32

// namespace creates a namespace for one test, labelled with mode ("" for
// none), and deletes it when the test ends. It returns once the API server
// routes the namespace's requests to the webhook entry of that mode: the
// label reaches webhook matching through an informer, so it polls.
func namespace(t *testing.T, prefix, mode string) string {
	t.Helper()
	name := fmt.Sprintf("%s-%d", prefix, namespaceSeq.Add(1))
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if mode != "" {
		ns.Labels = map[string]string{"gracekeeper.io/mode": mode}
	}
	ctx := context.Background()
	if _, err := env.cluster.Client().CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeNamespace(name) })
	if mode != "" {
		waitForMode(t, name, mode)
	}
	return name
}

// waitForMode polls with a server-side dry run until the namespace's
// requests reach the webhook in the given mode.
func waitForMode(t *testing.T, ns, mode string) {
	t.Helper()
	want := "gracekeeper prestop-hook: will add"
	if mode == "audit" {
		want = "gracekeeper [audit] prestop-hook: would add"
	}
	eventually(t, 30*time.Second, "namespace "+ns+" in mode "+mode, func() (bool, error) {
		r := kubectl(t, "-n", ns, "create", "deployment", "mode-probe", "--image=nginx", "--dry-run=server")
		return strings.Contains(r.stderr, want), nil
	})
}

// eventually polls cond every 250 ms until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last error
	err := wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(context.Context) (bool, error) {
		ok, err := cond()
		last = err
		return ok, nil
	})
	if err != nil {
		t.Fatalf("timed out after %s waiting for %s (last error: %v)", timeout, what, last)
	}
}

// metrics returns the webhook's /metrics text.
func metrics(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(env.cluster.WebhookProbeURL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}
