//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gracekeeper/gracekeeper/policies"
)

// The seed scenario: a Deployment created, scaled and exposed the usual way,
// then updated and restarted, must keep serving throughout.
func TestGracefulRolloutsKeepEveryEndpointReady(t *testing.T) {
	ns := namespace(t, "rollout", "enforce")

	r := mustKubectl(t, "-n", ns, "create", "deployment", "nginx", "--image=nginx:1.18")
	warned(t, r, policies.ModeEnforce, policies.RulePreStopHook, policies.RuleReadinessProbe)
	mustKubectl(t, "-n", ns, "scale", "deployment", "nginx", "--replicas=2")
	mustKubectl(t, "-n", ns, "scale", "deployment", "nginx", "--replicas=3")
	mustKubectl(t, "-n", ns, "expose", "deployment", "nginx", "--port=80", "--type=NodePort")
	rolloutStatus(t, ns, "deployment/nginx")

	t.Run("every pod gets a native sleep preStop hook and a sufficient grace period", func(t *testing.T) {
		assertGracefulPods(t, ns, "nginx", 3)
	})
	t.Run("the stored Deployment is not rewritten by the pod rules", func(t *testing.T) {
		d, err := env.cluster.Client().AppsV1().Deployments(ns).Get(context.Background(), "nginx", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if l := d.Spec.Template.Spec.Containers[0].Lifecycle; l != nil {
			t.Errorf("the template must stay as the user wrote it (no GitOps drift), got lifecycle %+v", l)
		}
		if g := *d.Spec.Template.Spec.TerminationGracePeriodSeconds; g != 30 {
			t.Errorf("template grace period changed to %d", g)
		}
	})

	eventually(t, time.Minute, "3 ready endpoints", func() (bool, error) {
		n, err := readyEndpoints(context.Background(), ns, "nginx")
		return n == 3, err
	})
	for _, step := range [][]string{
		{"set", "image", "deployment/nginx", "nginx=nginx:1.20.1"},
		{"rollout", "restart", "deployment/nginx"},
	} {
		t.Run("kubectl "+strings.Join(step[:2], " ")+" never drops below 3 ready endpoints", func(t *testing.T) {
			stop := sampleEndpoints(t, ns, "nginx")
			mustKubectl(t, append([]string{"-n", ns}, step...)...)
			rolloutStatus(t, ns, "deployment/nginx")
			lowest, samples := stop()
			t.Logf("lowest ready endpoints %d over %d samples", lowest, samples)
			if lowest < 3 {
				t.Errorf("ready endpoints fell to %d during the rollout", lowest)
			}
			assertGracefulPods(t, ns, "nginx", 3)
		})
	}

	t.Run("rollout history lists every revision and undo restores nginx:1.18", func(t *testing.T) {
		history := mustKubectl(t, "-n", ns, "rollout", "history", "deployment/nginx").stdout
		for _, rev := range []string{"1 ", "2 ", "3 "} {
			if !strings.Contains(history, "\n"+rev) {
				t.Errorf("revision %s missing from:\n%s", rev, history)
			}
		}
		rev := revisionWithImage(t, ns, "nginx", "nginx:1.18")
		mustKubectl(t, "-n", ns, "rollout", "undo", "deployment/nginx", "--to-revision="+rev)
		rolloutStatus(t, ns, "deployment/nginx")
		for _, p := range pods(t, ns, "nginx") {
			if img := p.Spec.Containers[0].Image; img != "nginx:1.18" {
				t.Errorf("pod %s runs %s after undo", p.Name, img)
			}
		}
		assertGracefulPods(t, ns, "nginx", 3)
	})
}

// The contrast: the same restart of a Recreate Deployment, where gracekeeper
// is not installed, takes every endpoint down.
func TestWithoutGracekeeperARecreateRestartDropsToZero(t *testing.T) {
	ns := namespace(t, "unguarded", "")
	mustKubectlIn(t, readFile(t, nginxManifest(t, 3, "Recreate")), "-n", ns, "apply", "-f", "-")
	rolloutStatus(t, ns, "deployment/nginx")
	eventually(t, time.Minute, "3 ready endpoints", func() (bool, error) {
		n, err := readyEndpoints(context.Background(), ns, "nginx")
		return n == 3, err
	})
	stop := sampleEndpoints(t, ns, "nginx")
	mustKubectl(t, "-n", ns, "rollout", "restart", "deployment/nginx")
	rolloutStatus(t, ns, "deployment/nginx")
	lowest, samples := stop()
	t.Logf("lowest ready endpoints %d over %d samples", lowest, samples)
	if lowest != 0 {
		t.Errorf("a Recreate restart should have dropped to 0 ready endpoints, lowest was %d", lowest)
	}
}

// assertGracefulPods checks the pods of an app carry the injected hook.
func assertGracefulPods(t *testing.T, ns, app string, want int) {
	t.Helper()
	eventually(t, time.Minute, fmt.Sprintf("%d live pods of %s", want, app), func() (bool, error) {
		return len(pods(t, ns, app)) == want, nil
	})
	for _, p := range pods(t, ns, app) {
		for _, c := range p.Spec.Containers {
			if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil || c.Lifecycle.PreStop.Sleep.Seconds != 5 {
				t.Errorf("pod %s container %s: want a native preStop sleep of 5s (API server 1.37), got %+v", p.Name, c.Name, c.Lifecycle)
			}
		}
		if g := p.Spec.TerminationGracePeriodSeconds; g == nil || *g < 30 {
			t.Errorf("pod %s: grace period %v does not cover preStop 5s + shutdown 25s", p.Name, g)
		}
	}
}

// revisionWithImage finds the rollout revision whose template ran image.
func revisionWithImage(t *testing.T, ns, app, image string) string {
	t.Helper()
	list, err := env.cluster.Client().AppsV1().ReplicaSets(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		t.Fatal(err)
	}
	var found *appsv1.ReplicaSet
	for i, rs := range list.Items {
		if rs.Spec.Template.Spec.Containers[0].Image == image {
			found = &list.Items[i]
		}
	}
	if found == nil {
		t.Fatalf("no ReplicaSet ran %s", image)
	}
	return found.Annotations["deployment.kubernetes.io/revision"]
}
