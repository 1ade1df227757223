//go:build e2e

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/gracekeeper/gracekeeper/policies"
)

// gpuNode adds a kwok node with one nvidia.com/gpu, tainted so only pods
// that tolerate it (the GPU pods here) land on it, and removes it when the
// test ends.
func gpuNode(t *testing.T, name string) {
	t.Helper()
	capacity := corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods: resource.MustParse("110"), "nvidia.com/gpu": resource.MustParse("1"),
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
			Labels: map[string]string{corev1.LabelHostname: name, corev1.LabelOSStable: "linux", "type": "kwok", "gpu": "true"}},
		Spec:   corev1.NodeSpec{Taints: []corev1.Taint{{Key: "nvidia.com/gpu", Value: "present", Effect: corev1.TaintEffectNoSchedule}}},
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
	}
	ctx := context.Background()
	nodes := env.cluster.Client().CoreV1().Nodes()
	if _, err := nodes.Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nodes.Delete(context.Background(), name, metav1.DeleteOptions{}) })
	eventually(t, time.Minute, "node "+name+" Ready", func() (bool, error) {
		return env.cluster.NodeReady(ctx, name)
	})
}

// gpuSingleton is field case N01's one-GPU inference server, pinned to the
// GPU node, with the given strategy.
func gpuSingleton(t *testing.T, strategy map[string]any) string {
	t.Helper()
	var d map[string]any
	if err := yaml.Unmarshal([]byte(fieldCase(t, "recreate-strategy/fail-field-N01-gpu-singleton-recreate.yaml")), &d); err != nil {
		t.Fatal(err)
	}
	delete(d["metadata"].(map[string]any), "namespace")
	spec := d["spec"].(map[string]any)
	spec["strategy"] = strategy
	pod := spec["template"].(map[string]any)["spec"].(map[string]any)
	pod["nodeSelector"] = map[string]any{"gpu": "true"}
	pod["tolerations"] = []any{map[string]any{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}}
	out, err := yaml.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// TestAOneGPUSingletonRestartsOnItsOnlyGPU (field case N01): on a node with
// exactly one GPU, a surge pod can never schedule. gracekeeper keeps the
// user's Recreate (or maxSurge 0) and says what the rollout costs; the
// restart completes, with no Pending pod.
func TestAOneGPUSingletonRestartsOnItsOnlyGPU(t *testing.T) {
	gpuNode(t, "gpu-node-1")
	for _, tc := range []struct {
		name     string
		strategy map[string]any
		rule     policies.RuleID
		stored   string
	}{
		{"Recreate", map[string]any{"type": "Recreate"}, policies.RuleRecreateStrategy, "Recreate  "},
		{"maxSurge 0, maxUnavailable 1", map[string]any{"type": "RollingUpdate", "rollingUpdate": map[string]any{"maxSurge": 0, "maxUnavailable": 1}},
			policies.RuleRollingUpdate, "RollingUpdate 0 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := namespace(t, "gpu", "enforce")
			r := mustKubectlIn(t, gpuSingleton(t, tc.strategy), "-n", ns, "apply", "-f", "-")
			warned(t, r, policies.ModeEnforce, tc.rule, policies.RulePreStopHook)
			assertContains(t, "the warning", strings.Join(gracekeeperWarnings(r), "\n"), "nvidia.com/gpu", "the 1 replica")
			got := strategyOf(t, ns, "deployment/llm-server", "{.spec.strategy.type} {.spec.strategy.rollingUpdate.maxSurge} {.spec.strategy.rollingUpdate.maxUnavailable}")
			if got != tc.stored {
				t.Fatalf("stored strategy %q, want the user's %q: gracekeeper must not turn it into a surge", got, tc.stored)
			}
			rolloutStatus(t, ns, "deployment/llm-server")

			before := map[string]bool{}
			for _, p := range pods(t, ns, "llm-server") {
				before[p.Name] = true
			}
			r = mustKubectl(t, "-n", ns, "rollout", "restart", "deployment/llm-server")
			assertContains(t, "the restart's warning", strings.Join(gracekeeperWarnings(r), "\n"), "nvidia.com/gpu", "the 1 replica")
			rolloutStatus(t, ns, "deployment/llm-server")
			for _, p := range pods(t, ns, "llm-server") {
				if p.Status.Phase == corev1.PodPending && p.DeletionTimestamp == nil {
					t.Errorf("pod %s is Pending after the restart: %v", p.Name, p.Status.Conditions)
				}
			}
			// Recreate waits until the old pod is gone; maxSurge 0 only until it
			// is terminating, so the new pod may wait a moment for the GPU the
			// terminating pod still holds (FailedScheduling), then starts. Only
			// the restart's pods count: the first pod may have waited for a node
			// the scheduler had not seen yet.
			events := mustKubectl(t, "-n", ns, "get", "events", "--field-selector", "reason=FailedScheduling",
				"-o", "custom-columns=POD:.involvedObject.name,MESSAGE:.message", "--no-headers")
			for line := range strings.Lines(strings.TrimSpace(events.stdout)) {
				pod, _, _ := strings.Cut(line, " ")
				if tc.rule == policies.RuleRecreateStrategy && !before[pod] {
					t.Errorf("the Recreate restart's pod waited for the GPU: %s", strings.TrimSpace(line))
				}
			}
		})
	}
}

// rolloutCRD is a minimal stand-in for Argo Rollouts' CustomResourceDefinition:
// the same group, version, names and /scale subresource, any fields.
const rolloutCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: rollouts.argoproj.io}
spec:
  group: argoproj.io
  names: {kind: Rollout, listKind: RolloutList, plural: rollouts, singular: rollout, shortNames: [ro]}
  scope: Namespaced
  versions:
  - name: v1alpha1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
    subresources:
      status: {}
      scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas}
`

const canaryAllDown = `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  strategy:
    canary: {maxUnavailable: "100%", maxSurge: 0, steps: [{setWeight: 20}]}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 40
      containers:
      - name: web
        image: registry.example/web:1
        readinessProbe: {httpGet: {path: /ready, port: 8080}}
        lifecycle: {preStop: {sleep: {seconds: 5}}}
`

// TestArgoRolloutsAreGuardedLikeDeployments: through the real API server, a
// Rollout's all-pods-down canary is patched, and scaling it to zero through
// its CRD's /scale or deleting it is denied with Argo's own commands; the
// Rollout's own exemption annotation (read by the webhook with a raw GET)
// lets a deliberate scale to zero through.
func TestArgoRolloutsAreGuardedLikeDeployments(t *testing.T) {
	mustKubectlIn(t, rolloutCRD, "apply", "-f", "-")
	// Waits until the CRD is gone: audit tests must not find a kind they may not list.
	t.Cleanup(func() { kubectl(t, "delete", "crd", "rollouts.argoproj.io", "--timeout=60s") })
	mustKubectl(t, "wait", "--for=condition=Established", "crd/rollouts.argoproj.io", "--timeout=60s")
	ns := namespace(t, "argo", "enforce")

	var r result
	eventually(t, time.Minute, "the Rollout kind to be served", func() (bool, error) {
		r = kubectlIn(t, canaryAllDown, "-n", ns, "apply", "-f", "-")
		return r.err == nil, nil
	})
	if got := strategyOf(t, ns, "rollout/web", "{.spec.strategy.canary.maxUnavailable} {.spec.strategy.canary.maxSurge}"); got != "0 25%" {
		t.Errorf("stored canary maxUnavailable, maxSurge = %q, want %q", got, "0 25%")
	}

	r = kubectl(t, "-n", ns, "scale", "rollout/web", "--replicas=0")
	denied(t, r, policies.RuleScaleToZero)
	assertContains(t, "the hint", r.stderr, "kubectl argo rollouts restart web")

	r = kubectl(t, "-n", ns, "delete", "rollout", "web")
	denied(t, r, policies.RuleWorkloadDelete)
	assertContains(t, "the hint", r.stderr, "kubectl argo rollouts restart web")

	mustKubectl(t, "-n", ns, "annotate", "rollout/web", "gracekeeper.io/exempt=scale-to-zero", "gracekeeper.io/exempt-reason=decommission")
	mustKubectl(t, "-n", ns, "scale", "rollout/web", "--replicas=0")
	if got := strategyOf(t, ns, "rollout/web", "{.spec.replicas}"); got != "0" {
		t.Errorf("replicas after the exempted scale = %q, want 0", got)
	}
}
