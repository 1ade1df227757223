//go:build e2e

package e2e

import (
	"context"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gracekeeper/gracekeeper/policies"
)

// deployNginx applies nginx.yaml (Service + Deployment) and waits for it.
func deployNginx(t *testing.T, ns string, replicas int) string {
	t.Helper()
	manifest := nginxManifest(t, replicas, "")
	mustKubectl(t, "-n", ns, "apply", "-f", manifest)
	rolloutStatus(t, ns, "deployment/nginx")
	return manifest
}

// denied fails unless gracekeeper's enforce entry denied r, naming each of rules.
func denied(t *testing.T, r result, rules ...policies.RuleID) {
	t.Helper()
	deniedBy(t, r, "enforce.validate.gracekeeper.io", rules...)
}

func TestEnforceDeniesDeleteAndRecreate(t *testing.T) {
	ns := namespace(t, "guards", "enforce")
	manifest := deployNginx(t, ns, 3)

	t.Run("kubectl delete -f is denied for the Deployment, but the Service in the same file is deleted", func(t *testing.T) {
		r := kubectl(t, "-n", ns, "delete", "-f", manifest, "--wait=false")
		denied(t, r, policies.RuleWorkloadDelete)
		assertContains(t, "kubectl goes on past the denial", r.stdout, `service "nginx" deleted`)
		if _, err := env.cluster.Client().AppsV1().Deployments(ns).Get(context.Background(), "nginx", metav1.GetOptions{}); err != nil {
			t.Errorf("the Deployment must still exist: %v", err)
		}
		mustKubectl(t, "-n", ns, "apply", "-f", manifest)
	})
	t.Run("kubectl replace --force is denied", func(t *testing.T) {
		denied(t, kubectl(t, "-n", ns, "replace", "--force", "-f", manifest), policies.RuleWorkloadDelete)
	})
	t.Run("kubectl scale --replicas=0 is denied through the scale subresource", func(t *testing.T) {
		denied(t, kubectl(t, "-n", ns, "scale", "deployment", "nginx", "--replicas=0"), policies.RuleScaleToZero)
	})
	t.Run("kubectl patch setting replicas to 0 is denied", func(t *testing.T) {
		denied(t, kubectl(t, "-n", ns, "patch", "deployment", "nginx", "-p", `{"spec":{"replicas":0}}`), policies.RuleScaleToZero)
	})
	t.Run("deleting a pod warns with a rollout restart hint", func(t *testing.T) {
		pod := pods(t, ns, "nginx")[0].Name
		r := mustKubectl(t, "-n", ns, "delete", "pod", pod, "--wait=false")
		warned(t, r, policies.ModeEnforce, policies.RulePodDelete)
	})
	t.Run("force-deleting a running pod is denied", func(t *testing.T) {
		eventually(t, time.Minute, "a running pod", func() (bool, error) {
			for _, p := range pods(t, ns, "nginx") {
				if p.Spec.NodeName != "" && p.Status.Phase == "Running" {
					return true, nil
				}
			}
			return false, nil
		})
		var pod string
		for _, p := range pods(t, ns, "nginx") {
			if p.Status.Phase == "Running" {
				pod = p.Name
			}
		}
		denied(t, kubectl(t, "-n", ns, "delete", "pod", pod, "--force", "--grace-period=0"), policies.RuleForceDelete)
	})
	t.Run("kubectl delete --cascade=orphan is allowed", func(t *testing.T) {
		mustKubectl(t, "-n", ns, "delete", "deployment", "nginx", "--cascade=orphan")
		if n := len(pods(t, ns, "nginx")); n == 0 {
			t.Error("orphaned pods must keep running")
		}
	})
}

func TestEnforceDeniesRecreateAndOnDelete(t *testing.T) {
	ns := namespace(t, "strategies", "enforce")
	t.Run("a Recreate Deployment is denied", func(t *testing.T) {
		denied(t, kubectl(t, "-n", ns, "apply", "-f", nginxManifest(t, 2, "Recreate")), policies.RuleRecreateStrategy)
	})
	t.Run("a StatefulSet with OnDelete is denied", func(t *testing.T) {
		r := kubectlIn(t, `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  selector: {matchLabels: {app: db}}
  updateStrategy: {type: OnDelete}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: postgres:16}]
`, "-n", ns, "apply", "-f", "-")
		denied(t, r, policies.RuleUpdateStrategy)
	})
	t.Run("with recreate: convert, a Recreate Deployment is stored as RollingUpdate", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := env.cluster.StartWebhook(ctx, env.binary, map[string]any{"config": map[string]any{"recreate": "convert"}}); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := env.cluster.StartWebhook(context.Background(), env.binary, nil); err != nil {
				t.Fatal(err)
			}
		}()
		mustKubectl(t, "-n", ns, "apply", "-f", nginxManifest(t, 2, "Recreate"))
		d, err := env.cluster.Client().AppsV1().Deployments(ns).Get(ctx, "nginx", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d.Spec.Strategy.Type != "RollingUpdate" || d.Spec.Strategy.RollingUpdate.MaxUnavailable.IntValue() != 0 {
			t.Errorf("want RollingUpdate with maxUnavailable 0, got %+v", d.Spec.Strategy)
		}
	})
}

func TestModeLabelTyposAreDenied(t *testing.T) {
	for _, mode := range []string{"", "audit"} {
		ns := namespace(t, "typo", mode)
		r := kubectl(t, "label", "namespace", ns, "gracekeeper.io/mode=enforc", "--overwrite")
		deniedBy(t, r, "namespaces.validate.gracekeeper.io", policies.RuleModeLabel)
	}
}

// The ratchet: workloads that predate enforcement keep working.
func TestARecreateDeploymentFromBeforeEnforcementStillRollsOut(t *testing.T) {
	ns := namespace(t, "ratchet", "")
	mustKubectl(t, "-n", ns, "apply", "-f", nginxManifest(t, 2, "Recreate"))
	rolloutStatus(t, ns, "deployment/nginx")
	mustKubectl(t, "label", "namespace", ns, "gracekeeper.io/mode=enforce")
	waitForMode(t, ns, "enforce")

	for _, step := range [][]string{
		{"rollout", "restart", "deployment/nginx"},
		{"set", "image", "deployment/nginx", "nginx=nginx:1.20.1"},
	} {
		r := mustKubectl(t, append([]string{"-n", ns}, step...)...)
		warned(t, r, policies.ModeEnforce, policies.RuleRecreateStrategy)
		rolloutStatus(t, ns, "deployment/nginx")
	}
}

func TestAuditAdmitsEverythingUnchangedWithWarnings(t *testing.T) {
	ns := namespace(t, "audit", "audit")
	before := metrics(t)
	r := mustKubectl(t, "-n", ns, "apply", "-f", nginxManifest(t, 2, "Recreate"))
	warned(t, r, policies.ModeAudit, policies.RuleRecreateStrategy, policies.RulePreStopHook)
	rolloutStatus(t, ns, "deployment/nginx")
	for _, p := range pods(t, ns, "nginx") {
		if p.Spec.Containers[0].Lifecycle != nil {
			t.Errorf("audit must not mutate pod %s", p.Name)
		}
	}

	steps := []struct {
		args []string
		want policies.RuleID
	}{
		{[]string{"scale", "deployment", "nginx", "--replicas=0"}, policies.RuleScaleToZero},
		{[]string{"scale", "deployment", "nginx", "--replicas=2"}, ""},
		{[]string{"delete", "deployment", "nginx", "--wait=false"}, policies.RuleWorkloadDelete},
	}
	for _, s := range steps {
		r := mustKubectl(t, append([]string{"-n", ns}, s.args...)...)
		if s.want != "" {
			warned(t, r, policies.ModeAudit, s.want)
		}
		if s.args[0] == "scale" && s.args[3] == "--replicas=2" {
			rolloutStatus(t, ns, "deployment/nginx")
		}
	}
	after := metrics(t)
	for _, outcome := range []string{"would-deny", "would-patch"} {
		if counter(after, "gracekeeper_findings_total", `mode="audit"`, `action="`+outcome+`"`) <=
			counter(before, "gracekeeper_findings_total", `mode="audit"`, `action="`+outcome+`"`) {
			t.Errorf("gracekeeper_findings_total{mode=audit,action=%s} did not grow", outcome)
		}
	}
}

func TestUnlabelledNamespacesAreNotTouched(t *testing.T) {
	ns := namespace(t, "plain", "")
	manifest := nginxManifest(t, 2, "Recreate")
	r := mustKubectl(t, "-n", ns, "apply", "-f", manifest)
	if w := gracekeeperWarnings(r); len(w) > 0 {
		t.Errorf("no gracekeeper warnings expected, got %q", w)
	}
	r = mustKubectl(t, "-n", ns, "delete", "-f", manifest, "--wait=false")
	if w := gracekeeperWarnings(r); len(w) > 0 {
		t.Errorf("no gracekeeper warnings expected, got %q", w)
	}
}

func TestServerSideDryRunGetsTheSameAnswerAndChangesNothing(t *testing.T) {
	ns := namespace(t, "dryrun", "enforce")
	r := mustKubectl(t, "-n", ns, "apply", "--dry-run=server", "-f", nginxManifest(t, 2, ""))
	warned(t, r, policies.ModeEnforce, policies.RulePreStopHook)
	denied(t, kubectl(t, "-n", ns, "apply", "--dry-run=server", "-f", nginxManifest(t, 2, "Recreate")), policies.RuleRecreateStrategy)
	if _, err := env.cluster.Client().AppsV1().Deployments(ns).Get(context.Background(), "nginx", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("a dry run must create nothing, got %v", err)
	}
}
