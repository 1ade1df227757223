//go:build e2e

package e2e

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/gracekeeper/gracekeeper/policies"
)

// The field cases of issue 11 are the policy engine's fixtures; these tests
// send them through the real API server.
const ruleFixtures = "../policies/testdata/rules"

var fixtureNamespace = regexp.MustCompile(`(?m)^  namespace: shop\n`)

// fieldCase reads a fixture's manifest (a Review's object), without its
// namespace so that it applies to the test's own.
func fieldCase(t *testing.T, path string) string {
	t.Helper()
	text := readFile(t, filepath.Join(ruleFixtures, path))
	var review struct {
		Kind   string         `json:"kind"`
		Object map[string]any `json:"object"`
	}
	if err := yaml.Unmarshal([]byte(text), &review); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if review.Kind == "Review" {
		meta, _ := review.Object["metadata"].(map[string]any)
		delete(meta, "namespace")
		object, err := yaml.Marshal(review.Object)
		if err != nil {
			t.Fatal(err)
		}
		return string(object)
	}
	return fixtureNamespace.ReplaceAllString(text, "")
}

// strategyOf reads a field of a stored workload with kubectl's JSONPath.
func strategyOf(t *testing.T, ns, workload, jsonPath string) string {
	t.Helper()
	return mustKubectl(t, "-n", ns, "get", workload, "-o", "jsonpath="+jsonPath).stdout
}

// TestPodsThatCannotSurgeRollOneAtATime: on the cluster's single node, a
// hostNetwork pod cannot run twice, so a surge pod stays Pending ("didn't have
// free ports") and the rollout never ends.
func TestPodsThatCannotSurgeRollOneAtATime(t *testing.T) {
	ns := namespace(t, "surge", "enforce")

	t.Run("a hostNetwork Deployment with maxSurge 0, maxUnavailable 1 is left alone, and rollout restart finishes (field case 02)", func(t *testing.T) {
		mustKubectlIn(t, fieldCase(t, "rolling-update/fail-field-02-hostnetwork-one-at-a-time.yaml"), "-n", ns, "apply", "-f", "-")
		got := strategyOf(t, ns, "deployment/edge-proxy", "{.spec.strategy.rollingUpdate.maxSurge} {.spec.strategy.rollingUpdate.maxUnavailable}")
		if got != "0 1" {
			t.Fatalf("stored maxSurge, maxUnavailable = %q, want %q: gracekeeper must not ask pods that cannot surge to surge", got, "0 1")
		}
		rolloutStatus(t, ns, "deployment/edge-proxy")
		mustKubectl(t, "-n", ns, "rollout", "restart", "deployment/edge-proxy")
		rolloutStatus(t, ns, "deployment/edge-proxy")
	})
	t.Run("a host port on a native sidecar is a host port too: three replicas at 100% roll one at a time", func(t *testing.T) {
		r := mustKubectlIn(t, fieldCase(t, "rolling-update/fail-native-sidecar-hostport-all-down.yaml"), "-n", ns, "create", "-f", "-", "--dry-run=server",
			"-o", "jsonpath={.spec.strategy.rollingUpdate.maxSurge} {.spec.strategy.rollingUpdate.maxUnavailable}")
		if r.stdout != "0 1" {
			t.Errorf("maxSurge, maxUnavailable after admission = %q, want %q", r.stdout, "0 1")
		}
	})
	t.Run("a hostNetwork Deployment with Recreate keeps it, with a warning that never asks it to surge (field case 02c)", func(t *testing.T) {
		r := mustKubectlIn(t, fieldCase(t, "recreate-strategy/fail-field-02c-hostnetwork-recreate.yaml"), "-n", ns, "apply", "-f", "-")
		warned(t, r, policies.ModeEnforce, policies.RuleRecreateStrategy, policies.RulePreStopHook)
		assertContains(t, "the warning", r.stderr, "uses hostNetwork", "takes the 1 replica down")
		if strings.Contains(r.stderr, "maxUnavailable: 0") {
			t.Errorf("the advice must not be the setting that hangs:\n%s", r.stderr)
		}
		if got := strategyOf(t, ns, "deployment/hostnet-scheduler", "{.spec.strategy.type}"); got != "Recreate" {
			t.Errorf("stored strategy %q, want the user's Recreate", got)
		}
	})
}

// TestStatefulSetAndDaemonSetRolloutsKeepPodsUp (field case 05): the API
// server accepts the patched strategies, which roll one pod at a time.
func TestStatefulSetAndDaemonSetRolloutsKeepPodsUp(t *testing.T) {
	ns := namespace(t, "rollouts", "enforce")
	for _, tc := range []struct{ fixture, workload string }{
		{"rolling-update/fail-field-05-statefulset-max-unavailable-100.yaml", "statefulset/cache"},
		{"rolling-update/fail-field-05-daemonset-max-unavailable-100.yaml", "daemonset/node-proxy"},
	} {
		t.Run(tc.workload, func(t *testing.T) {
			mustKubectlIn(t, fieldCase(t, tc.fixture), "-n", ns, "apply", "-f", "-")
			got := strategyOf(t, ns, tc.workload, "{.spec.updateStrategy.rollingUpdate.maxUnavailable}")
			if got != "1" {
				t.Errorf("stored maxUnavailable = %q, want 1", got)
			}
			rolloutStatus(t, ns, tc.workload)
		})
	}
}

// TestPatchedPodsAreValidAndGetTheGraceTheirHooksNeed applies field cases 03
// and 13 in enforce mode: every pod the controllers create passes API
// validation with its patches (a sleep never above the grace period, hooks
// merged into an existing lifecycle, native sidecars), and gets the grace
// period its existing hooks and sidecars need.
func TestPatchedPodsAreValidAndGetTheGraceTheirHooksNeed(t *testing.T) {
	ns := namespace(t, "hooks", "enforce")
	for _, tc := range []struct {
		fixture, app string
		grace        int64
		sleeps       map[string]int64 // container: preStop sleep action seconds
		postStart    string           // a container whose postStart hook must survive the merge
	}{
		{"termination-grace-period/fail-field-03-shell-sleep.yaml", "api-shell-sleep", 55, nil, ""},
		{"termination-grace-period/fail-field-03-absolute-path-sleep.yaml", "dns-abs-sleep", 50, nil, ""},
		{"termination-grace-period/fail-field-03-sleep-suffix.yaml", "web-sleep-suffix", 45, nil, ""},
		{"termination-grace-period/fail-field-03-control-plain-sleep.yaml", "control-plain-sleep", 45, nil, ""},
		{"termination-grace-period/fail-field-13a-native-sidecar.yaml", "v-native-sidecar", 35, map[string]int64{"app": 5}, "app"},
		{"prestop-hook/fail-field-13b-short-grace-exempt.yaml", "v-short-grace-exempt", 3, map[string]int64{"app": 3}, ""},
		{"prestop-hook/fail-field-13c-sleep-zero.yaml", "v-sleep-zero", 30, map[string]int64{"a": 0, "b": 5}, ""},
		{"termination-grace-period/fail-field-13d-grace-zero.yaml", "v-grace-zero", 30, map[string]int64{"app": 5}, ""},
	} {
		t.Run(tc.app, func(t *testing.T) {
			mustKubectlIn(t, fieldCase(t, tc.fixture), "-n", ns, "apply", "-f", "-")
			var pod corev1.Pod
			eventually(t, time.Minute, "a pod of "+tc.app, func() (bool, error) {
				ps := pods(t, ns, tc.app)
				if len(ps) > 0 {
					pod = ps[0]
				}
				return len(ps) > 0, nil
			})
			if got := *pod.Spec.TerminationGracePeriodSeconds; got != tc.grace {
				t.Errorf("terminationGracePeriodSeconds = %d, want %d", got, tc.grace)
			}
			for _, c := range pod.Spec.Containers {
				if c.Name == tc.postStart && (c.Lifecycle == nil || c.Lifecycle.PostStart == nil) {
					t.Errorf("container %s lost its postStart hook", c.Name)
				}
				want, ok := tc.sleeps[c.Name]
				if !ok {
					continue
				}
				if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil || c.Lifecycle.PreStop.Sleep.Seconds != want {
					t.Errorf("container %s preStop = %+v, want sleep %ds", c.Name, c.Lifecycle, want)
				}
			}
			events, err := env.cluster.Client().CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "reason=FailedCreate"})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range events.Items {
				if strings.HasPrefix(e.InvolvedObject.Name, tc.app) {
					t.Errorf("the controller failed to create a pod: %s", e.Message)
				}
			}
		})
	}
}

// TestWindowsPodsGetTheSleepActionNeverExecSleep (field case 01): on API
// server 1.37 a Windows pod gets the native sleep action, which the kubelet
// runs on Windows too, and the pod is valid. (Below 1.33 it gets no hook: the
// policy fixtures and check/audit/webhook agreement test cover that.)
func TestWindowsPodsGetTheSleepActionNeverExecSleep(t *testing.T) {
	ns := namespace(t, "windows", "enforce")
	mustKubectlIn(t, fieldCase(t, "prestop-hook/fail-field-01-windows-native-sleep.yaml"), "-n", ns, "apply", "-f", "-")
	var pod corev1.Pod
	eventually(t, time.Minute, "a pod of win-web", func() (bool, error) {
		ps := pods(t, ns, "win-web")
		if len(ps) > 0 {
			pod = ps[0]
		}
		return len(ps) > 0, nil
	})
	h := pod.Spec.Containers[0].Lifecycle
	if h == nil || h.PreStop == nil || h.PreStop.Sleep == nil || h.PreStop.Exec != nil {
		t.Errorf("a Windows pod's preStop = %+v, want the sleep action and never exec", h)
	}
}

// TestEveryRuleFindingReachesKubectl (field case 11): a Deployment with 30
// containers in audit mode has 63 findings, more than the API server keeps
// (4 KiB of warnings per response). Aggregated per rule and object, every
// rule's finding reaches kubectl, most important first.
func TestEveryRuleFindingReachesKubectl(t *testing.T) {
	ns := namespace(t, "warnings", "audit")
	r := mustKubectlIn(t, fieldCase(t, "readiness-probe/fail-field-11-many-containers-audit.yaml"), "-n", ns, "apply", "-f", "-")
	warned(t, r, policies.ModeAudit, policies.RuleRollingUpdate, policies.RuleRevisionHistory,
		policies.RulePreStopHook, policies.RuleTerminationGracePeriod, policies.RuleReadinessProbe)
	all := strings.Join(gracekeeperWarnings(r), "\n")
	// The aggregation itself (the sentences are pinned by the policies golden).
	if n := strings.Count(all, `30 containers ("worker-00-sidecar-container"`); n != 2 {
		t.Errorf("want the prestop-hook and readiness-probe findings of all 30 containers in one warning each; kubectl showed:\n%s", all)
	}
	if strings.Contains(all, "more warnings left out") {
		t.Errorf("nothing should be left out of this response:\n%s", all)
	}
	if i, j := strings.Index(all, "prestop-hook"), strings.Index(all, "readiness-probe"); i < 0 || j < i {
		t.Errorf("readiness advice must come after the pod patches:\n%s", all)
	}
}
