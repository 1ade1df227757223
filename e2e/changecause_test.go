//go:build e2e

package e2e

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// historyRow is one row of `kubectl rollout history`: "3         rollout restart by admin via kubectl-rollout".
var historyRow = regexp.MustCompile(`(?m)^(\d+)\s+(.*\S)\s*$`)

// rolloutHistory returns `kubectl rollout history`'s CHANGE-CAUSE column by revision.
func rolloutHistory(t *testing.T, ns, workload string) (map[string]string, string) {
	t.Helper()
	out := mustKubectl(t, "-n", ns, "rollout", "history", workload).stdout
	rows := map[string]string{}
	for _, m := range historyRow.FindAllStringSubmatch(out, -1) {
		rows[m[1]] = m[2]
	}
	return rows, out
}

// assertHistory fails unless the history has exactly the revisions of want,
// each with its change-cause.
func assertHistory(t *testing.T, got map[string]string, out string, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("revisions %v, want %v:\n%s", got, want, out)
	}
	for rev, cause := range want {
		if got[rev] != cause {
			t.Errorf("revision %s: CHANGE-CAUSE %q, want %q:\n%s", rev, got[rev], cause, out)
		}
	}
}

// The article's steps, replayed in an enforced namespace: every revision
// `kubectl rollout history` lists says what changed, by whom, with what tool,
// and the rollback says which revision it restored, so `rollout undo
// --to-revision` can pick the right one without opening each revision.
func TestRolloutHistorySaysWhatChanged(t *testing.T) {
	ns := namespace(t, "change-cause", "enforce")
	const (
		setImage = "image nginx=nginx:1.20.1 (was nginx:1.18) by admin via kubectl-set"
		restart  = "rollout restart by admin via kubectl-rollout"
	)

	t.Run("deployment", func(t *testing.T) {
		mustKubectl(t, "-n", ns, "create", "deployment", "nginx", "--image=nginx:1.18")
		mustKubectl(t, "-n", ns, "scale", "deployment", "nginx", "--replicas=2")
		rolloutStatus(t, ns, "deployment/nginx")
		created, out := rolloutHistory(t, ns, "deployment/nginx")
		assertHistory(t, created, out, map[string]string{"1": "created with image nginx=nginx:1.18 by admin via kubectl-create"})
		mustKubectl(t, "-n", ns, "set", "image", "deployment/nginx", "nginx=nginx:1.20.1")
		rolloutStatus(t, ns, "deployment/nginx")
		mustKubectl(t, "-n", ns, "rollout", "restart", "deployment/nginx")
		rolloutStatus(t, ns, "deployment/nginx")
		mustKubectl(t, "-n", ns, "rollout", "undo", "deployment/nginx", "--to-revision=1")
		rolloutStatus(t, ns, "deployment/nginx")

		// The controller renumbers the restored ReplicaSet: revision 1 becomes 4.
		// kubectl rollout undo sends no field manager.
		want := map[string]string{"2": setImage, "3": restart, "4": "rollback to revision 1 (image nginx=nginx:1.18) by admin"}
		got, out := rolloutHistory(t, ns, "deployment/nginx")
		t.Logf("kubectl rollout history deployment nginx:\n%s", out)
		assertHistory(t, got, out, want)
		for rev, cause := range want {
			detail := mustKubectl(t, "-n", ns, "rollout", "history", "deployment", "nginx", "--revision="+rev).stdout
			if !strings.Contains(detail, "kubernetes.io/change-cause: "+cause) {
				t.Errorf("--revision=%s does not show %q:\n%s", rev, cause, detail)
			}
			if rev == "4" {
				t.Logf("kubectl rollout history deployment nginx --revision=4:\n%s", detail)
			}
		}
		// kubectl scale and kubectl label never reach change-cause: the line stays the rollback's.
		mustKubectl(t, "-n", ns, "scale", "deployment", "nginx", "--replicas=3")
		mustKubectl(t, "-n", ns, "label", "deployment", "nginx", "team=web")
		cause := mustKubectl(t, "-n", ns, "get", "deployment", "nginx", "-o", `jsonpath={.metadata.annotations.kubernetes\.io/change-cause}`).stdout
		if cause != want["4"] {
			t.Errorf("after scale and label, the change-cause is %q, want %q", cause, want["4"])
		}
	})

	// A StatefulSet's and a DaemonSet's history are their ControllerRevisions,
	// which the controllers annotate with the workload's annotations when
	// they create them. A rollback reuses the old ControllerRevision under a
	// new number and keeps its annotations, so the restored revision shows
	// the line it was created with.
	for _, tc := range []struct {
		kind, manifest string
		scale          bool
	}{
		{"statefulset", `
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: nginx-sts}
spec:
  replicas: 1
  serviceName: nginx-sts
  selector: {matchLabels: {app: nginx-sts}}
  template:
    metadata: {labels: {app: nginx-sts}}
    spec:
      containers:
      - {name: nginx, image: "nginx:1.18", readinessProbe: {tcpSocket: {port: 80}}}
`, true},
		{"daemonset", `
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: nginx-ds}
spec:
  selector: {matchLabels: {app: nginx-ds}}
  template:
    metadata: {labels: {app: nginx-ds}}
    spec:
      containers:
      - {name: nginx, image: "nginx:1.18", readinessProbe: {tcpSocket: {port: 80}}}
`, false},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			name := "nginx-sts"
			if tc.kind == "daemonset" {
				name = "nginx-ds"
			}
			workload := tc.kind + "/" + name
			mustKubectlIn(t, tc.manifest, "-n", ns, "apply", "-f", "-")
			rolloutStatus(t, ns, workload)
			if tc.scale {
				mustKubectl(t, "-n", ns, "scale", workload, "--replicas=2")
				rolloutStatus(t, ns, workload)
			}
			mustKubectl(t, "-n", ns, "set", "image", workload, "nginx=nginx:1.20.1")
			rolloutStatus(t, ns, workload)
			mustKubectl(t, "-n", ns, "rollout", "restart", workload)
			rolloutStatus(t, ns, workload)
			mustKubectl(t, "-n", ns, "rollout", "undo", workload, "--to-revision=1")
			rolloutStatus(t, ns, workload)

			created := "created with image nginx=nginx:1.18 by admin via kubectl-client-side-apply"
			want := map[string]string{"2": setImage, "3": restart, "4": created}
			got, out := rolloutHistory(t, ns, workload)
			t.Logf("kubectl rollout history %s:\n%s", workload, out)
			assertHistory(t, got, out, want)
			// The workload itself says what the last write did.
			cause := mustKubectl(t, "-n", ns, "get", workload, "-o", `jsonpath={.metadata.annotations.kubernetes\.io/change-cause}`).stdout
			if wantCause := "rollback to revision 1 (image nginx=nginx:1.18) by admin"; cause != wantCause {
				t.Errorf("the %s's change-cause is %q, want %q", tc.kind, cause, wantCause)
			}
			// --revision=N prints only the revision's pod template, where the
			// change-cause is not (k8s.io/kubectl pkg/polymorphichelpers/history.go, printHistory).
			detail := mustKubectl(t, "-n", ns, "rollout", "history", workload, "--revision=2").stdout
			assertContains(t, "--revision=2", detail, "nginx:1.20.1")
			t.Logf("kubectl rollout history %s --revision=2:\n%s", workload, detail)
		})
	}
}

// GitOps tools apply what Git holds again and again; the change-cause, which
// Git does not hold, must not make them fight: a re-apply of an unchanged
// manifest leaves the template alone, so change-cause writes nothing, and the
// revision keeps its line. kubectl apply (client-side, as Argo CD syncs by
// default) and server-side apply (Flux's kustomize-controller, Argo CD's
// ServerSideApply=true) each get a manifest applied three times, the second
// with a new image.
func TestReapplyingAManifestDoesNotFightOverTheChangeCause(t *testing.T) {
	ns := namespace(t, "change-cause-gitops", "enforce")
	manifest := func(name, image string) string {
		return `
apiVersion: apps/v1
kind: Deployment
metadata: {name: ` + name + `}
spec:
  replicas: 1
  selector: {matchLabels: {app: ` + name + `}}
  template:
    metadata: {labels: {app: ` + name + `}}
    spec:
      containers:
      - {name: web, image: "` + image + `", readinessProbe: {tcpSocket: {port: 80}}}
`
	}
	resourceVersion := func(name string) string {
		return mustKubectl(t, "-n", ns, "get", "deployment", name, "-o", "jsonpath={.metadata.resourceVersion}").stdout
	}
	changeCause := func(name string) string {
		return mustKubectl(t, "-n", ns, "get", "deployment", name, "-o", `jsonpath={.metadata.annotations.kubernetes\.io/change-cause}`).stdout
	}
	for _, tc := range []struct {
		name, manager string
		apply         []string
	}{
		{"csa", "kubectl-client-side-apply", []string{"apply", "-f", "-"}},
		{"ssa", "kustomize-controller", []string{"apply", "--server-side", "--field-manager=kustomize-controller", "-f", "-"}},
	} {
		t.Run(tc.manager, func(t *testing.T) {
			apply := func(image string) result {
				return mustKubectlIn(t, manifest(tc.name, image), append([]string{"-n", ns}, tc.apply...)...)
			}
			apply("nginx:1.18")
			apply("nginx:1.20.1")
			rolloutStatus(t, ns, "deployment/"+tc.name)
			want := "image web=nginx:1.20.1 (was nginx:1.18) by admin via " + tc.manager
			after := changeCause(tc.name)
			t.Logf("%s: after the image change the Deployment's change-cause is %q", tc.manager, after)
			if after != want {
				t.Errorf("change-cause %q, want %q", after, want)
			}
			// The re-sync: the same manifest again, twice.
			apply("nginx:1.20.1")
			// Until the old pod is gone (kwok removes it up to its 30 s grace
			// period after the rollout), the controller writes the
			// Deployment's status.terminatingReplicas, a new resourceVersion.
			eventually(t, 2*time.Minute, "the old pod to be gone", func() (bool, error) {
				all, err := env.cluster.Client().CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + tc.name})
				if err != nil {
					return false, err
				}
				for _, p := range all.Items {
					if p.DeletionTimestamp != nil {
						return false, nil
					}
				}
				left := strategyOf(t, ns, "deployment/"+tc.name, "{.status.terminatingReplicas}")
				return left == "" || left == "0", nil
			})
			settled := resourceVersion(tc.name)
			t.Logf("%s: after re-applying the same manifest the change-cause is %q", tc.manager, changeCause(tc.name))
			r := apply("nginx:1.20.1")
			if again := resourceVersion(tc.name); again != settled {
				t.Errorf("re-applying the same manifest wrote the Deployment again (resourceVersion %s, then %s): %s", settled, again, r.stdout)
			}
			if diff := kubectlIn(t, manifest(tc.name, "nginx:1.20.1"), "-n", ns, "diff", "-f", "-"); diff.err != nil || diff.stdout != "" {
				t.Errorf("kubectl diff of the applied manifest shows drift: %s", diff)
			}
			got, out := rolloutHistory(t, ns, "deployment/"+tc.name)
			if got["2"] != want {
				t.Errorf("revision 2: %q, want %q:\n%s", got["2"], want, out)
			}

			// A manifest that declares its own change-cause keeps it, even
			// when a later release leaves the line as it was.
			own := tc.name + "-own"
			declared := func(image string) string {
				return strings.Replace(manifest(own, image), "metadata: {name: "+own+"}",
					"metadata: {name: "+own+", annotations: {kubernetes.io/change-cause: \"release 7\"}}", 1)
			}
			mustKubectlIn(t, declared("nginx:1.18"), append([]string{"-n", ns}, tc.apply...)...)
			mustKubectlIn(t, declared("nginx:1.20.1"), append([]string{"-n", ns}, tc.apply...)...)
			if cause := changeCause(own); cause != "release 7" {
				t.Errorf("the manifest's own change-cause became %q, want %q", cause, "release 7")
			}
		})
	}
}
