//go:build e2e

package e2e

// The paths to a destructive restart that real users take besides the
// direct ones (issue 10): grace overrides on delete and eviction, namespace
// deletion, ReplicaSets, large scale-downs, kubectl scale of an exempted
// workload, and the Argo CD recipe.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gracekeeper/gracekeeper/policies"
)

// runningPod waits for a pod of the app that the (kwok) kubelet runs and
// returns its name.
func runningPod(t *testing.T, ns, app string) string {
	t.Helper()
	var name string
	eventually(t, time.Minute, "a running pod of "+app, func() (bool, error) {
		for _, p := range pods(t, ns, app) {
			if p.Spec.NodeName != "" && p.Status.Phase == "Running" {
				name = p.Name
				return true, nil
			}
		}
		return false, nil
	})
	return name
}

// evict posts an Eviction for a pod as kubectl drain does, with deleteOptions
// as JSON ("" for none).
func evict(t *testing.T, ns, pod, deleteOptions string) result {
	t.Helper()
	body := fmt.Sprintf(`{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":%q,"namespace":%q}`, pod, ns)
	if deleteOptions != "" {
		body += `,"deleteOptions":` + deleteOptions
	}
	body += "}"
	return kubectlIn(t, body, "create", "--raw", fmt.Sprintf("/api/v1/namespaces/%s/pods/%s/eviction", ns, pod), "-f", "-")
}

func TestGraceOverridesThatCutThePreStopSleepAreForceDeletes(t *testing.T) {
	ns := namespace(t, "grace", "enforce")
	deployNginx(t, ns, 3) // its pods get gracekeeper's preStop sleep of 5s

	t.Run("kubectl delete pod --now (grace 1) is denied", func(t *testing.T) {
		pod := runningPod(t, ns, "nginx")
		r := kubectl(t, "-n", ns, "delete", "pod", pod, "--now", "--wait=false")
		denied(t, r, policies.RuleForceDelete)
		assertContains(t, "denial", r.stderr, "grace period 1s", "5s preStop sleep")
	})
	t.Run("kubectl delete pod --grace-period=3 is denied", func(t *testing.T) {
		pod := runningPod(t, ns, "nginx")
		denied(t, kubectl(t, "-n", ns, "delete", "pod", pod, "--grace-period=3", "--wait=false"), policies.RuleForceDelete)
	})
	t.Run("a grace period that outlasts the preStop sleep gets the pod-delete warning", func(t *testing.T) {
		pod := runningPod(t, ns, "nginx")
		r := mustKubectl(t, "-n", ns, "delete", "pod", pod, "--grace-period=10", "--wait=false")
		warned(t, r, policies.ModeEnforce, policies.RulePodDelete)
	})

	t.Run("an eviction with deleteOptions.gracePeriodSeconds 0 (kubectl drain --grace-period=0) is denied", func(t *testing.T) {
		pod := runningPod(t, ns, "nginx")
		denied(t, evict(t, ns, pod, `{"gracePeriodSeconds":0}`), policies.RuleForceDelete)
		if p, err := env.cluster.Client().CoreV1().Pods(ns).Get(context.Background(), pod, metav1.GetOptions{}); err != nil || p.DeletionTimestamp != nil {
			t.Errorf("the pod must be left running, got %v (err %v)", p.DeletionTimestamp, err)
		}
	})
	t.Run("an eviction with a grace override of 2 is denied", func(t *testing.T) {
		denied(t, evict(t, ns, runningPod(t, ns, "nginx"), `{"gracePeriodSeconds":2}`), policies.RuleForceDelete)
	})
	t.Run("an eviction without a grace override never reaches gracekeeper and evicts", func(t *testing.T) {
		const reviews = "kubewebhook_validating_webhook_review_duration_seconds_count"
		before := counter(metrics(t), reviews, `resource_kind="policy/v1/Eviction"`)
		if before == 0 {
			t.Fatalf("no Eviction reviews counted yet; the denials above must have been reviewed")
		}
		pod := runningPod(t, ns, "nginx")
		if r := evict(t, ns, pod, ""); r.err != nil {
			t.Fatalf("eviction without a grace override: %s", r)
		}
		if after := counter(metrics(t), reviews, `resource_kind="policy/v1/Eviction"`); after != before {
			t.Errorf("Eviction reviews went from %v to %v: the matchCondition must keep evictions without a grace override away", before, after)
		}
	})

	t.Run("in audit mode an eviction with grace 0 is allowed with a would-deny warning", func(t *testing.T) {
		audit := namespace(t, "grace-audit", "audit")
		deployNginx(t, audit, 1)
		r := evict(t, audit, runningPod(t, audit, "nginx"), `{"gracePeriodSeconds":0}`)
		if r.err != nil {
			t.Fatalf("audit must not deny: %s", r)
		}
		warned(t, r, policies.ModeAudit, policies.RuleForceDelete)
		assertContains(t, "audit eviction", strings.Join(gracekeeperWarnings(r), "\n"), "would deny")
	})
}

func TestNamespaceDeletionIsGuardedLikeItsWorkloads(t *testing.T) {
	nsManifest := func(name, mode string) string {
		path := filepath.Join(commaFreeTempDir(t), "namespace.yaml")
		m := fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n  labels: {gracekeeper.io/mode: %s}\n", name, mode)
		if err := os.WriteFile(path, []byte(m), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	exists := func(ns string) bool {
		_, err := env.cluster.Client().CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{})
		return !apierrors.IsNotFound(err)
	}

	ns := namespace(t, "nsdelete", "enforce")
	deployNginx(t, ns, 2)
	t.Run("kubectl delete namespace of an enforce namespace is denied with the two-step", func(t *testing.T) {
		r := kubectl(t, "delete", "namespace", ns, "--wait=false")
		denied(t, r, policies.RuleWorkloadDelete)
		assertContains(t, "the two-step", r.stderr, "gracekeeper.io/exempt=workload-delete", "gracekeeper.io/mode=off")
		if !exists(ns) {
			t.Fatal("the namespace must still exist")
		}
	})
	t.Run("kubectl replace --force -f namespace.yaml (Argo CD Replace+Force) is denied", func(t *testing.T) {
		denied(t, kubectl(t, "replace", "--force", "-f", nsManifest(ns, "enforce")), policies.RuleWorkloadDelete)
		if n := len(pods(t, ns, "nginx")); n != 2 {
			t.Errorf("the namespace's pods must keep running, %d left", n)
		}
	})
	t.Run("annotated to exempt workload-delete, it deletes", func(t *testing.T) {
		mustKubectl(t, "annotate", "namespace", ns, "gracekeeper.io/exempt=workload-delete", "gracekeeper.io/exempt-reason=decommissioned")
		deleteNamespaceAndWait(t, ns)
	})
	t.Run("relabelled to off, it deletes", func(t *testing.T) {
		off := namespace(t, "nsdelete-off", "enforce")
		mustKubectl(t, "label", "namespace", off, "gracekeeper.io/mode=off", "--overwrite")
		// The API server matches a namespace DELETE by the labels its informer has.
		eventually(t, 30*time.Second, "the relabelled namespace to delete", func() (bool, error) {
			return kubectl(t, "delete", "namespace", off, "--wait=false").err == nil, nil
		})
	})
	t.Run("an audit namespace deletes with a would-deny warning", func(t *testing.T) {
		audit := namespace(t, "nsdelete-audit", "audit")
		// An empty namespace deletes without a word (TestAnEmptyNamespaceDeletesFreely).
		mustKubectl(t, "-n", audit, "create", "deployment", "web", "--image=registry.example/web:1", "--replicas=1")
		r := mustKubectl(t, "delete", "namespace", audit, "--wait=false")
		warned(t, r, policies.ModeAudit, policies.RuleWorkloadDelete)
		assertContains(t, "audit namespace delete", strings.Join(gracekeeperWarnings(r), "\n"), "would deny")
	})
	t.Run("an unlabelled namespace deletes without a word", func(t *testing.T) {
		plain := namespace(t, "nsdelete-plain", "")
		if w := gracekeeperWarnings(mustKubectl(t, "delete", "namespace", plain, "--wait=false")); len(w) > 0 {
			t.Errorf("no gracekeeper warnings expected, got %q", w)
		}
	})
	t.Run("with scope cluster and defaultMode enforce, an unlabelled namespace is denied", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := env.cluster.StartWebhook(ctx, env.binary, map[string]any{"scope": "cluster", "defaultMode": "enforce"}); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := env.cluster.StartWebhook(context.Background(), env.binary, nil); err != nil {
				t.Fatal(err)
			}
		}()
		plain := namespace(t, "nsdelete-cluster", "")
		mustKubectl(t, "-n", plain, "create", "deployment", "web", "--image=registry.example/web:1", "--replicas=1")
		eventually(t, 30*time.Second, "the cluster-scope configuration to judge "+plain, func() (bool, error) {
			r := kubectl(t, "delete", "namespace", plain, "--dry-run=server")
			return r.err != nil && slices.Contains(namedRules(r.stderr), string(policies.RuleWorkloadDelete)), nil
		})
		// Opted out: no mode to wait for, so created by hand.
		off := "nsdelete-cluster-off"
		mustKubectl(t, "create", "namespace", off)
		mustKubectl(t, "label", "namespace", off, "gracekeeper.io/mode=off")
		t.Cleanup(func() { removeNamespace(off) })
		eventually(t, 30*time.Second, "the opted-out namespace to delete", func() (bool, error) {
			return kubectl(t, "delete", "namespace", off, "--wait=false").err == nil, nil
		})
	})
}

func TestReplicaSetsAreGuardedLikeTheirDeployments(t *testing.T) {
	ns := namespace(t, "replicasets", "enforce")
	manifest := deployNginx(t, ns, 3)
	mustKubectl(t, "-n", ns, "delete", "deployment", "nginx", "--cascade=orphan")
	rs, err := env.cluster.Client().AppsV1().ReplicaSets(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=nginx"})
	if err != nil || len(rs.Items) != 1 {
		t.Fatalf("want the one orphaned ReplicaSet, got %v (err %v)", rs, err)
	}
	name := rs.Items[0].Name

	t.Run("kubectl scale rs --replicas=0 is denied", func(t *testing.T) {
		denied(t, kubectl(t, "-n", ns, "scale", "rs/"+name, "--replicas=0"), policies.RuleScaleToZero)
	})
	t.Run("kubectl patch rs to 0 replicas is denied", func(t *testing.T) {
		denied(t, kubectl(t, "-n", ns, "patch", "rs/"+name, "-p", `{"spec":{"replicas":0}}`), policies.RuleScaleToZero)
	})
	t.Run("kubectl delete rs is denied", func(t *testing.T) {
		denied(t, kubectl(t, "-n", ns, "delete", "rs/"+name, "--wait=false"), policies.RuleWorkloadDelete)
	})
	t.Run("the Deployment applied again adopts it, and its rollout (the deployment controller) passes", func(t *testing.T) {
		mustKubectl(t, "-n", ns, "apply", "-f", manifest)
		rolloutStatus(t, ns, "deployment/nginx")
		mustKubectl(t, "-n", ns, "set", "image", "deployment/nginx", "nginx=nginx:1.20.1")
		rolloutStatus(t, ns, "deployment/nginx")
	})
}

// Field case 22: the usual migration to an HPA drops spec.replicas from the
// manifest; the next apply defaults it to 1 and stops five of six pods.
func TestLargeScaleDownsAreWarnedAboutNamingTheCause(t *testing.T) {
	ns := namespace(t, "scaledown", "enforce")
	withReplicas := `apiVersion: apps/v1
kind: Deployment
metadata: {name: hpa-web}
spec:
  replicas: 6
  selector: {matchLabels: {app: hpa-web}}
  template:
    metadata: {labels: {app: hpa-web}}
    spec:
      containers:
      - name: web
        image: registry.example/web:5
`
	withoutReplicas := strings.Replace(withReplicas, "  replicas: 6\n", "", 1)

	t.Run("kubectl apply without spec.replicas names the dropped field", func(t *testing.T) {
		mustKubectlIn(t, withReplicas, "-n", ns, "apply", "-f", "-")
		r := mustKubectlIn(t, withoutReplicas, "-n", ns, "apply", "-f", "-")
		warned(t, r, policies.ModeEnforce, policies.RuleScaleDown)
		// The cause, which is the point of the warning.
		assertContains(t, "client-side apply", strings.Join(gracekeeperWarnings(r), "\n"), "dropped spec.replicas", "edit-last-applied")
	})
	t.Run("kubectl apply --server-side without spec.replicas names the dropped field", func(t *testing.T) {
		mustKubectlIn(t, strings.Replace(withReplicas, "hpa-web", "ssa-web", -1), "-n", ns, "apply", "--server-side", "-f", "-")
		r := mustKubectlIn(t, strings.Replace(withoutReplicas, "hpa-web", "ssa-web", -1), "-n", ns, "apply", "--server-side", "-f", "-")
		warned(t, r, policies.ModeEnforce, policies.RuleScaleDown)
		assertContains(t, "server-side apply", strings.Join(gracekeeperWarnings(r), "\n"), "dropped spec.replicas", "--field-manager")
	})
	t.Run("kubectl scale by more than half is warned about; by half is not", func(t *testing.T) {
		mustKubectl(t, "-n", ns, "scale", "deployment/hpa-web", "--replicas=6")
		if w := gracekeeperWarnings(mustKubectl(t, "-n", ns, "scale", "deployment/hpa-web", "--replicas=3")); len(w) > 0 {
			t.Errorf("6 to 3 is half: no warning expected, got %q", w)
		}
		r := mustKubectl(t, "-n", ns, "scale", "deployment/hpa-web", "--replicas=1")
		warned(t, r, policies.ModeEnforce, policies.RuleScaleDown)
	})
}

// Item 8: a Scale carries no annotations; the webhook reads the Deployment's.
func TestKubectlScaleHonoursTheWorkloadsExemptionAnnotation(t *testing.T) {
	ns := namespace(t, "scaleexempt", "enforce")
	deployNginx(t, ns, 2)
	r := kubectl(t, "-n", ns, "scale", "deployment/nginx", "--replicas=0")
	denied(t, r, policies.RuleScaleToZero)
	// Read, the Deployment had no annotation: the hint says what works on /scale.
	assertContains(t, "hint", r.stderr, "then scale again")
	mustKubectl(t, "-n", ns, "annotate", "deployment/nginx", "gracekeeper.io/exempt=scale-to-zero", "gracekeeper.io/exempt-reason=nightly stop")
	mustKubectl(t, "-n", ns, "scale", "deployment/nginx", "--replicas=0")
}

// A stricter configuration: podDelete and scaleDown deny, and the Argo CD
// exemption of install.md.
func TestStrictConfigurationSparesSystemActorsAndKeepsTheArgoCDRecipeTrue(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := env.cluster.StartWebhook(ctx, env.binary, map[string]any{"config": map[string]any{
		"podDelete": "deny", "scaleDown": "deny",
		"exemptions": []any{map[string]any{"rules": []any{"workload-delete"}, "serviceAccounts": []any{"argocd/argocd-application-controller"}}},
	}}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := env.cluster.StartWebhook(context.Background(), env.binary, nil); err != nil {
			t.Fatal(err)
		}
	}()
	ns := namespace(t, "strict", "enforce")
	manifest := deployNginx(t, ns, 6)

	// Field case 06: DRA device-taint eviction deletes pods as its own account.
	for _, controller := range []string{"device-taint-eviction-controller", "pod-garbage-collector"} {
		t.Run(controller+" deletes a pod under podDelete: deny", func(t *testing.T) {
			pod := runningPod(t, ns, "nginx")
			mustKubectl(t, "-n", ns, "delete", "pod", pod, "--wait=false", "--as=system:serviceaccount:kube-system:"+controller)
		})
	}
	t.Run("a person deleting a pod is denied under podDelete: deny", func(t *testing.T) {
		denied(t, kubectl(t, "-n", ns, "delete", "pod", runningPod(t, ns, "nginx"), "--wait=false"), policies.RulePodDelete)
	})
	t.Run("a scale from 6 to 1 is denied under scaleDown: deny", func(t *testing.T) {
		denied(t, kubectl(t, "-n", ns, "scale", "deployment/nginx", "--replicas=1"), policies.RuleScaleDown)
	})

	// Field case 12. The application controller may do what cluster-admin does.
	const argocd = "system:serviceaccount:argocd:argocd-application-controller"
	mustKubectl(t, "create", "clusterrolebinding", "e2e-argocd-"+ns, "--clusterrole=cluster-admin", "--serviceaccount=argocd:argocd-application-controller")
	t.Cleanup(func() { kubectl(t, "delete", "clusterrolebinding", "e2e-argocd-"+ns) })
	waitForAccess(t, argocd, "delete", "deployments.apps", ns)
	t.Run("Argo CD's Replace=true,Force=true sync of a serving Deployment is denied despite the exemption", func(t *testing.T) {
		mustKubectl(t, "-n", ns, "annotate", "deployment/nginx", "argocd.argoproj.io/sync-options=Replace=true,Force=true")
		forced := strings.Replace(readFile(t, manifest), "  labels: {app: nginx}\n", "  labels: {app: nginx}\n  annotations: {argocd.argoproj.io/sync-options: \"Replace=true,Force=true\"}\n", 1)
		if forced == readFile(t, manifest) {
			t.Fatal("could not annotate the manifest")
		}
		r := kubectlIn(t, forced, "-n", ns, "replace", "--force", "-f", "-", "--as="+argocd)
		denied(t, r, policies.RuleWorkloadDelete)
		assertContains(t, "denial", r.stderr, "Force=true")
	})
	t.Run("Argo CD pruning a serving Deployment passes", func(t *testing.T) {
		mustKubectl(t, "-n", ns, "annotate", "deployment/nginx", "argocd.argoproj.io/sync-options-")
		mustKubectl(t, "-n", ns, "delete", "deployment/nginx", "--wait=false", "--as="+argocd)
	})
}

// A denial's hint must work for the request it denies: kubectl apply --force
// deletes because a plain apply failed on an immutable field, and a
// Deployment's ReplicaSet restarts with its Deployment.
func TestWorkloadDenialsNameWhatWorks(t *testing.T) {
	ns := namespace(t, "hints", "enforce")
	manifest := deployNginx(t, ns, 2)
	rs, err := env.cluster.Client().AppsV1().ReplicaSets(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=nginx"})
	if err != nil || len(rs.Items) != 1 {
		t.Fatalf("want the Deployment's one ReplicaSet, got %v (err %v)", rs, err)
	}
	name := rs.Items[0].Name

	t.Run("kubectl delete rs of a Deployment's ReplicaSet names the Deployment's rollout restart", func(t *testing.T) {
		r := kubectl(t, "-n", ns, "delete", "rs/"+name, "--wait=false")
		denied(t, r, policies.RuleWorkloadDelete)
		assertContains(t, "hint", r.stderr, `"kubectl rollout restart deployment/nginx"`)
	})
	t.Run("kubectl scale rs --replicas=0 of a Deployment's ReplicaSet names the Deployment's rollout restart", func(t *testing.T) {
		r := kubectl(t, "-n", ns, "scale", "rs/"+name, "--replicas=0")
		denied(t, r, policies.RuleScaleToZero)
		assertContains(t, "hint", r.stderr, `"kubectl rollout restart deployment/nginx"`)
	})
	t.Run("kubectl apply --force of a new selector is denied, naming the orphan delete, which works", func(t *testing.T) {
		changed := strings.ReplaceAll(readFile(t, manifest), "{app: nginx}", "{app: nginx-v2}")
		if r := kubectlIn(t, changed, "-n", ns, "apply", "-f", "-"); r.err == nil || !strings.Contains(r.stderr, "immutable") {
			t.Fatalf("a plain apply of a new selector must fail as immutable: %s", r)
		}
		r := kubectlIn(t, changed, "-n", ns, "apply", "--force", "-f", "-")
		denied(t, r, policies.RuleWorkloadDelete)
		assertContains(t, "hint", r.stderr, `"kubectl delete deployment/nginx --cascade=orphan"`)
		mustKubectl(t, "-n", ns, "delete", "deployment/nginx", "--cascade=orphan", "--wait=false")
		eventually(t, 30*time.Second, "the orphan delete to finish", func() (bool, error) {
			_, err := env.cluster.Client().AppsV1().Deployments(ns).Get(context.Background(), "nginx", metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
		mustKubectlIn(t, changed, "-n", ns, "apply", "-f", "-")
		rolloutStatus(t, ns, "deployment/nginx")
	})
}
