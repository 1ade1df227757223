//go:build e2e

package e2e

// Issue 19, part B (do no harm): the third round of field cases that run
// live, through the real API server and kubectl. N04: pods with no container
// running are not "running pods"; N06: a node terminator's short delete;
// N13: apply --prune; N22: an empty namespace; N24: evictions with a grace
// override; N25: DeleteCollection; N29: an operator's pod deletes.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gracekeeper/gracekeeper/policies"
)

// Field case N04: pods bound to a node that has no kubelet stay Pending with
// no container started. Force-deleting one, or evicting one with grace 0,
// cuts no preStop hook short and is let through, the same for both paths.
func TestPodsWithNoContainerRunningMayBeForceDeleted(t *testing.T) {
	ns := namespace(t, "pending", "enforce")
	ctx := context.Background()
	ghost := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: ns + "-ghost", Labels: map[string]string{"kubernetes.io/hostname": ns + "-ghost"}}}
	if _, err := env.cluster.Client().CoreV1().Nodes().Create(ctx, ghost, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.cluster.Client().CoreV1().Nodes().Delete(context.Background(), ghost.Name, metav1.DeleteOptions{})
	})
	mustKubectlIn(t, fmt.Sprintf(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"stuck"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"stuck"}},
 "template":{"metadata":{"labels":{"app":"stuck"}},"spec":{"nodeName":%q,"containers":[{"name":"stuck","image":"registry.example/stuck:1",
 "readinessProbe":{"httpGet":{"path":"/","port":80}}}]}}}}`, ghost.Name), "-n", ns, "apply", "-f", "-")
	var stuck []string
	eventually(t, time.Minute, "two pods bound to the node without a kubelet", func() (bool, error) {
		stuck = stuck[:0]
		for _, p := range pods(t, ns, "stuck") {
			if p.Spec.NodeName == ghost.Name && p.Status.Phase == corev1.PodPending && p.Spec.Containers[0].Lifecycle != nil {
				stuck = append(stuck, p.Name)
			}
		}
		return len(stuck) == 2, nil
	})

	t.Run("kubectl delete pod --force --grace-period=0 of a Pending pod is allowed", func(t *testing.T) {
		r := mustKubectl(t, "-n", ns, "delete", "pod", stuck[0], "--force", "--grace-period=0", "--wait=false")
		if rules := namedRules(strings.Join(gracekeeperWarnings(r), "\n")); len(rules) > 0 {
			t.Errorf("a pod with no container running gets no finding, got %q", gracekeeperWarnings(r))
		}
	})
	t.Run("an eviction with grace 0 of a Pending pod is allowed", func(t *testing.T) {
		if r := evict(t, ns, stuck[1], `{"gracePeriodSeconds":0}`); r.err != nil {
			t.Fatalf("eviction: %s", r)
		}
	})
	t.Run("a running pod is still protected", func(t *testing.T) {
		deployNginx(t, ns, 1)
		denied(t, kubectl(t, "-n", ns, "delete", "pod", runningPod(t, ns, "nginx"), "--force", "--grace-period=0", "--wait=false"), policies.RuleForceDelete)
	})
}

// Field case N06: Karpenter deletes a node's last pods with the time left as
// grace period; the node goes either way. Its service account is exempt, and
// any other service account's denial names the exemption to configure.
func TestNodeTerminatorsMayCutTheGracePeriod(t *testing.T) {
	ns := namespace(t, "nodeterm", "enforce")
	deployNginx(t, ns, 2) // gracekeeper's 5 s preStop sleep
	for _, sa := range []string{"kube-system:karpenter", "ops:node-reaper"} {
		name := strings.ReplaceAll(sa, ":", "-")
		mustKubectl(t, "-n", ns, "create", "rolebinding", name, "--clusterrole=admin", "--serviceaccount="+sa)
		waitForAccess(t, "system:serviceaccount:"+sa, "delete", "pods", ns)
	}
	t.Run("Karpenter's delete with 4 s left is allowed", func(t *testing.T) {
		mustKubectl(t, "-n", ns, "delete", "pod", runningPod(t, ns, "nginx"), "--grace-period=4", "--wait=false",
			"--as=system:serviceaccount:kube-system:karpenter")
	})
	t.Run("another service account's is denied, naming the exemption", func(t *testing.T) {
		r := kubectl(t, "-n", ns, "delete", "pod", runningPod(t, ns, "nginx"), "--grace-period=4", "--wait=false",
			"--as=system:serviceaccount:ops:node-reaper")
		denied(t, r, policies.RuleForceDelete)
		assertContains(t, "denial", r.stderr, "node-termination tool", "exempt its service account from force-delete")
	})
}

// Field case N29 (with podDelete: deny): an operator rolling its OnDelete
// StatefulSet deletes one pod at a time; that is allowed, a person's delete
// is not.
func TestAnOperatorRollingItsStatefulSetByPodDeletesIsAllowed(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := env.cluster.StartWebhook(ctx, env.binary, map[string]any{"config": map[string]any{"podDelete": "deny"}}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := env.cluster.StartWebhook(context.Background(), env.binary, nil); err != nil {
			t.Fatal(err)
		}
	}()
	ns := namespace(t, "operator", "enforce")
	mustKubectlIn(t, `{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"vmstorage"},"spec":{"replicas":2,"serviceName":"vmstorage",
 "selector":{"matchLabels":{"app":"vmstorage"}},"template":{"metadata":{"labels":{"app":"vmstorage"}},"spec":{"containers":[{"name":"vmstorage",
 "image":"victoriametrics/vmstorage:v1.102.1-cluster","readinessProbe":{"httpGet":{"path":"/health","port":8482}}}]}}}}`, "-n", ns, "apply", "-f", "-")
	rolloutStatus(t, ns, "statefulset/vmstorage")
	mustKubectl(t, "-n", ns, "create", "rolebinding", "vm-operator", "--clusterrole=admin", "--serviceaccount="+ns+":vm-operator")
	waitForAccess(t, "system:serviceaccount:"+ns+":vm-operator", "delete", "pods", ns)

	t.Run("the operator's service account deletes a pod of its StatefulSet", func(t *testing.T) {
		r := mustKubectl(t, "-n", ns, "delete", "pod", "vmstorage-0", "--wait=false", "--as=system:serviceaccount:"+ns+":vm-operator")
		if w := gracekeeperWarnings(r); len(w) > 0 {
			t.Errorf("an operator's rollout gets no finding, got %q", w)
		}
	})
	t.Run("a person's delete of the same pods is denied, with advice that works if it is OnDelete", func(t *testing.T) {
		r := kubectl(t, "-n", ns, "delete", "pod", "vmstorage-1", "--wait=false")
		denied(t, r, policies.RulePodDelete)
		assertContains(t, "denial", r.stderr, `"kubectl rollout restart statefulset/vmstorage"`, "updateStrategy OnDelete", "one at a time")
	})
}

// Field cases N13, N24 and N25: kubectl apply --prune, evictions with a grace
// override and a DELETE of a whole collection, which pass today: kept.
func TestBulkPathsAndGraceOverridesKeepTheirAnswers(t *testing.T) {
	ns := namespace(t, "bulk", "enforce")

	t.Run("N13: kubectl apply --prune of a running Deployment missing from the set is denied; the rest applies", func(t *testing.T) {
		deployment := func(name string) string {
			return fmt.Sprintf(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":%q,"namespace":%q,"labels":{"bundle":"shop"}},"spec":{"replicas":2,"selector":{"matchLabels":{"app":%[1]q}},"template":{"metadata":{"labels":{"app":%[1]q}},"spec":{"containers":[{"name":"a","image":"registry.example/a:1"}]}}}}`, name, ns)
		}
		mustKubectlIn(t, `{"apiVersion":"v1","kind":"List","items":[`+deployment("prune-a")+","+deployment("prune-b")+`]}`, "apply", "-f", "-")
		rolloutStatus(t, ns, "deployment/prune-b")
		r := kubectlIn(t, `{"apiVersion":"v1","kind":"List","items":[`+deployment("prune-a")+`]}`,
			"apply", "--prune", "-l", "bundle=shop", "--prune-allowlist=apps/v1/Deployment", "-f", "-")
		denied(t, r, policies.RuleWorkloadDelete)
		assertContains(t, "denial", r.stderr, "deployment/prune-b")
		if _, err := env.cluster.Client().AppsV1().Deployments(ns).Get(context.Background(), "prune-b", metav1.GetOptions{}); err != nil {
			t.Errorf("prune-b must keep running: %v", err)
		}
	})

	t.Run("N24: evictions with a grace override: the pod's own allowed, 10 s under a 15 s sleep denied, 60 s allowed", func(t *testing.T) {
		mustKubectlIn(t, `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"longstop"},"spec":{"replicas":3,"selector":{"matchLabels":{"app":"longstop"}},
 "template":{"metadata":{"labels":{"app":"longstop"}},"spec":{"containers":[{"name":"app","image":"registry.example/app:1","readinessProbe":{"httpGet":{"path":"/","port":80}},
 "lifecycle":{"preStop":{"exec":{"command":["/bin/sh","-c","sleep 15 && kill -TERM 1"]}}}}]}}}}`, "-n", ns, "apply", "-f", "-")
		rolloutStatus(t, ns, "deployment/longstop")
		var running []corev1.Pod
		for _, p := range pods(t, ns, "longstop") {
			if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
				running = append(running, p)
			}
		}
		if len(running) < 3 {
			t.Fatalf("want 3 running pods, got %d", len(running))
		}
		own := *running[0].Spec.TerminationGracePeriodSeconds
		if own != 40 {
			t.Errorf("grace period = %d, want 40 (the 15 s sleep + 25 s)", own)
		}
		if r := evict(t, ns, running[0].Name, fmt.Sprintf(`{"gracePeriodSeconds":%d}`, own)); r.err != nil {
			t.Errorf("cluster-autoscaler's eviction (the pod's own grace) must pass: %s", r)
		}
		denied(t, evict(t, ns, running[1].Name, `{"gracePeriodSeconds":10}`), policies.RuleForceDelete)
		if r := evict(t, ns, running[2].Name, `{"gracePeriodSeconds":60}`); r.err != nil {
			t.Errorf("drain --grace-period=60 must pass: %s", r)
		}
	})

	t.Run("N25: a DeleteCollection stops at the running Deployment", func(t *testing.T) {
		for _, n := range []string{"coll-a", "coll-b", "coll-c"} {
			mustKubectl(t, "-n", ns, "create", "deployment", n, "--image=registry.example/c:1", "--replicas=0")
			mustKubectl(t, "-n", ns, "label", "deployment", n, "coll=yes")
		}
		mustKubectl(t, "-n", ns, "scale", "deployment", "coll-b", "--replicas=2")
		r := kubectl(t, "delete", "--raw", "/apis/apps/v1/namespaces/"+ns+"/deployments?labelSelector=coll%3Dyes")
		if r.err == nil || !strings.Contains(r.stderr, "gracekeeper workload-delete") || !strings.Contains(r.stderr, "deployment/coll-b") {
			t.Fatalf("want the collection delete denied at coll-b: %s", r)
		}
		if _, err := env.cluster.Client().AppsV1().Deployments(ns).Get(context.Background(), "coll-b", metav1.GetOptions{}); err != nil {
			t.Errorf("coll-b must keep running: %v", err)
		}
		_, err := env.cluster.Client().AppsV1().Deployments(ns).Get(context.Background(), "coll-a", metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("coll-a (0 replicas, before coll-b) is deleted, as install.md says; got err %v", err)
		}
	})
}

// Field case N22: a namespace DELETE is judged by what the namespace holds.
func TestAnEmptyNamespaceDeletesFreely(t *testing.T) {
	t.Run("an empty enforce namespace (a closed pull request's preview) deletes", func(t *testing.T) {
		ns := namespace(t, "preview", "enforce")
		r := mustKubectl(t, "delete", "namespace", ns, "--wait=false")
		if w := gracekeeperWarnings(r); len(w) > 0 {
			t.Errorf("no finding expected, got %q", w)
		}
	})
	t.Run("one whose Deployment is scaled to 0 deletes", func(t *testing.T) {
		ns := namespace(t, "preview-stopped", "enforce")
		mustKubectl(t, "-n", ns, "create", "deployment", "web", "--image=registry.example/web:1", "--replicas=0")
		mustKubectl(t, "delete", "namespace", ns, "--wait=false")
	})
	t.Run("one that holds a running Deployment is denied, naming it", func(t *testing.T) {
		ns := namespace(t, "preview-busy", "enforce")
		deployNginx(t, ns, 2)
		r := kubectl(t, "delete", "namespace", ns, "--wait=false")
		denied(t, r, policies.RuleWorkloadDelete)
		assertContains(t, "denial", r.stderr, "deletes deployment/nginx (2 pods)")
	})
}

// Fault kind 7: check reads a file as kubectl does. The real kubectl refuses
// an alias whose anchor is in an earlier --- document, and so does check
// (exit 2, naming the line); an alias within its own document passes both.
func TestCheckRefusesWhatKubectlRefuses(t *testing.T) {
	dir := commaFreeTempDir(t)
	write := func(name, text string) string {
		path := dir + "/" + name
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	const configMap = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: base\n  labels: &labels\n    app: web\n"
	const service = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  labels: %s\nspec:\n  ports: [{port: 80}]\n"
	for _, tc := range []struct {
		name, text string
		refused    bool
	}{
		{"an alias to an anchor in an earlier document", configMap + "---\n" + fmt.Sprintf(service, "*labels"), true},
		{"an alias to an anchor in its own document", configMap + "  annotations: *labels\n---\n" + fmt.Sprintf(service, "{app: web}"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := write(strings.ReplaceAll(tc.name, " ", "-")+".yaml", tc.text)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			k := kubectl(t, "create", "--dry-run=client", "-o", "name", "-f", path)
			out, err := exec.CommandContext(ctx, env.binary, "check", "-f", path).CombinedOutput()
			code := 0
			if exit, ok := err.(*exec.ExitError); ok {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if refused := k.err != nil; refused != tc.refused {
				t.Fatalf("kubectl refused = %v, want %v: %s", refused, tc.refused, k)
			}
			switch {
			case tc.refused && (code != 2 || !strings.Contains(string(out), path+":12: kubectl cannot read this file") ||
				!strings.Contains(string(out), "unknown anchor 'labels'")):
				t.Errorf("check exit %d, want 2 naming line 12 as kubectl refuses it (%s):\n%s", code, k.stderr, out)
			case !tc.refused && code != 0:
				t.Errorf("check exit %d, want 0 as kubectl reads it:\n%s", code, out)
			}
		})
	}
}

// Field case N20: a kind: List (kubectl get -o yaml) holding a Recreate
// Deployment; check reads its items and exits 1 on the denial, never 0.
func TestCheckReadsTheItemsOfAList(t *testing.T) {
	path := commaFreeTempDir(t) + "/current.yaml"
	const list = `apiVersion: v1
kind: List
metadata:
  resourceVersion: ""
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: legacy-api
    namespace: shop
  spec:
    replicas: 3
    strategy:
      type: Recreate
    selector:
      matchLabels: {app: legacy-api}
    template:
      metadata:
        labels: {app: legacy-api}
      spec:
        containers:
        - name: api
          image: registry.example/api:1.0
          readinessProbe:
            httpGet: {path: /healthz, port: 8080}
`
	if err := os.WriteFile(path, []byte(list), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, env.binary, "check", "-f", path).CombinedOutput()
	exit, ok := err.(*exec.ExitError)
	if !ok || exit.ExitCode() != 1 || !strings.Contains(string(out), "DENY   recreate-strategy") {
		t.Errorf("check of a List holding a Recreate Deployment: %v, want exit 1 with the recreate-strategy denial:\n%s", err, out)
	}
}
