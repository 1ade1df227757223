//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gracekeeper/gracekeeper/policies"
)

// nginxManifest is what a user keeps in nginx.yaml: a Service and the
// Deployment behind it.
func nginxManifest(t *testing.T, replicas int, strategy string) string {
	t.Helper()
	if strategy == "" {
		strategy = "RollingUpdate"
	}
	m := fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: nginx
spec:
  selector: {app: nginx}
  ports:
  - port: 80
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx
  labels: {app: nginx}
spec:
  replicas: %d
  strategy: {type: %s}
  selector:
    matchLabels: {app: nginx}
  template:
    metadata:
      labels: {app: nginx}
    spec:
      containers:
      - name: nginx
        image: nginx:1.18
`, replicas, strategy)
	path := filepath.Join(commaFreeTempDir(t), "nginx.yaml")
	if err := os.WriteFile(path, []byte(m), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// rolloutStatus waits for a rollout to finish.
func rolloutStatus(t *testing.T, ns, workload string) {
	t.Helper()
	mustKubectl(t, "-n", ns, "rollout", "status", workload, "--timeout=150s")
}

// waitForAccess waits until user may do verb on resource in ns: the API
// server's RBAC authorizer reads bindings through an informer, so one just
// created may not count yet (Kubernetes' own e2e framework waits the same
// way: WaitForNamedAuthorizationUpdate).
func waitForAccess(t *testing.T, user, verb, resource, ns string) {
	t.Helper()
	eventually(t, time.Minute, user+" may "+verb+" "+resource, func() (bool, error) {
		r := kubectl(t, "-n", ns, "auth", "can-i", verb, resource, "--as="+user)
		return strings.TrimSpace(r.stdout) == "yes", r.err
	})
}

// pods lists the pods of an app label that are not terminating.
func pods(t *testing.T, ns, app string) []corev1.Pod {
	t.Helper()
	list, err := env.cluster.Client().CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		t.Fatal(err)
	}
	var live []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			live = append(live, p)
		}
	}
	return live
}

// readyEndpoints counts the ready endpoints of a Service's EndpointSlices.
func readyEndpoints(ctx context.Context, ns, service string) (int, error) {
	slices, err := env.cluster.Client().DiscoveryV1().EndpointSlices(ns).List(ctx,
		metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + service})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range slices.Items {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready == nil || *e.Conditions.Ready {
				n++
			}
		}
	}
	return n, nil
}

// sampleEndpoints samples a Service's ready endpoints until stop is called,
// which returns the lowest count seen and the number of samples.
func sampleEndpoints(t *testing.T, ns, service string) (stop func() (lowest, samples int)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	var wg sync.WaitGroup
	lowest, samples := 1<<30, 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			if n, err := readyEndpoints(ctx, ns, service); err == nil {
				lowest = min(lowest, n)
				samples++
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	return func() (int, int) {
		cancel()
		wg.Wait()
		return lowest, samples
	}
}

// gracekeeperWarnings keeps the warnings gracekeeper sent.
func gracekeeperWarnings(r result) []string {
	var out []string
	for _, w := range r.warnings() {
		if strings.HasPrefix(w, "gracekeeper") {
			out = append(out, w)
		}
	}
	return out
}

// messageRule finds the rule a gracekeeper warning or denial names:
// "gracekeeper prestop-hook: ..." and, in audit mode, "gracekeeper [audit]
// prestop-hook: ...". What follows is the rule's sentence, which the policies
// goldens pin; these tests check who answered, and with which rules.
var messageRule = regexp.MustCompile(`gracekeeper (\[audit\] )?([a-z]+(?:-[a-z]+)*): `)

// namedRules returns the rules text names, each as "rule" or "[audit] rule".
func namedRules(text string) []string {
	var rules []string
	for _, m := range messageRule.FindAllStringSubmatch(text, -1) {
		rules = append(rules, m[1]+m[2])
	}
	return rules
}

// assertRules fails unless got holds each rule, marked [audit] in audit mode.
func assertRules(t *testing.T, what string, got []string, mode policies.Mode, rules ...policies.RuleID) {
	t.Helper()
	for _, rule := range rules {
		want := string(rule)
		if mode == policies.ModeAudit {
			want = "[audit] " + want
		}
		if !slices.Contains(got, want) {
			t.Errorf("%s: want rule %s among %q", what, want, got)
		}
	}
}

// warned fails unless gracekeeper's warnings on r name each of rules, in mode.
func warned(t *testing.T, r result, mode policies.Mode, rules ...policies.RuleID) {
	t.Helper()
	assertRules(t, "warnings", namedRules(strings.Join(gracekeeperWarnings(r), "\n")), mode, rules...)
}

// deniedBy fails unless the webhook entry (e.g. enforce.validate.gracekeeper.io)
// denied r with a message naming each of rules.
func deniedBy(t *testing.T, r result, entry string, rules ...policies.RuleID) {
	t.Helper()
	if r.err == nil {
		t.Fatalf("want a denial, got success:\n%s", r)
	}
	prefix := fmt.Sprintf("admission webhook %q denied the request: ", entry)
	_, message, ok := strings.Cut(r.stderr, prefix)
	if !ok {
		t.Fatalf("want a denial by %s, got:\n%s", entry, r)
	}
	assertRules(t, "denial by "+entry, namedRules(message), policies.ModeEnforce, rules...)
}

func assertContains(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(got, want) {
			t.Errorf("%s: want %q in:\n%s", what, want, got)
		}
	}
}

// counter reads one sample of a Prometheus counter from metrics text, 0 when absent.
func counter(text, name string, labels ...string) float64 {
	total := 0.0
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		match := true
		for _, l := range labels {
			if !strings.Contains(line, l) {
				match = false
			}
		}
		if !match {
			continue
		}
		var v float64
		fields := strings.Fields(line)
		fmt.Sscan(fields[len(fields)-1], &v)
		total += v
	}
	return total
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func mustKubectlIn(t *testing.T, input string, args ...string) result {
	t.Helper()
	r := kubectlIn(t, input, args...)
	if r.err != nil {
		t.Fatalf("kubectl %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// commaFreeTempDir is a temporary directory whose path kubectl can take: it
// splits -f values on commas, which t.TempDir puts in from subtest names.
func commaFreeTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "gracekeeper-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// removeNamespace deletes a test namespace as its owner would: gracekeeper
// denies deleting an enforce-mode namespace, so it is annotated first (the
// deliberate two-step). Errors are ignored: this is clean-up.
func removeNamespace(name string) {
	ctx := context.Background()
	exempt := []byte(`{"metadata":{"annotations":{"gracekeeper.io/exempt":"workload-delete","gracekeeper.io/exempt-reason":"end of an e2e test"}}}`)
	_, _ = env.cluster.Client().CoreV1().Namespaces().Patch(ctx, name, types.MergePatchType, exempt, metav1.PatchOptions{})
	_ = env.cluster.Client().CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
}
