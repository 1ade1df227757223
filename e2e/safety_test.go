//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// System actors are never sent to the guards: rollouts, garbage collection
// and namespace deletion pass, with the webhook up or down.
func TestSystemActorsAreNeverBlocked(t *testing.T) {
	ns := namespace(t, "system", "enforce")
	deployNginx(t, ns, 3)

	t.Run("ReplicaSet scale-downs during a rollout are not warned", func(t *testing.T) {
		before := counter(metrics(t), "gracekeeper_findings_total", `rule="pod-delete"`)
		mustKubectl(t, "-n", ns, "rollout", "restart", "deployment/nginx")
		rolloutStatus(t, ns, "deployment/nginx")
		if after := counter(metrics(t), "gracekeeper_findings_total", `rule="pod-delete"`); after != before {
			t.Errorf("pod-delete findings went from %v to %v during a rollout: the replicaset-controller must not be judged", before, after)
		}
	})
	t.Run("deleting an enforce namespace with serving Deployments completes once annotated", func(t *testing.T) {
		// The namespace controller then deletes the Deployments in an enforce
		// namespace: it is a system actor, never judged.
		mustKubectl(t, "annotate", "namespace", ns, "gracekeeper.io/exempt=workload-delete", "gracekeeper.io/exempt-reason=end of test")
		deleteNamespaceAndWait(t, ns)
	})
	t.Run("with the webhook down, pods are still created and namespaces still deleted", func(t *testing.T) {
		down := namespace(t, "outage", "enforce")
		if err := env.cluster.StopWebhook(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := env.cluster.RestartWebhook(ctx); err != nil {
				t.Fatal(err)
			}
		}()
		mustKubectl(t, "-n", down, "create", "deployment", "nginx", "--image=nginx:1.18", "--replicas=2")
		rolloutStatus(t, down, "deployment/nginx")
		deleteNamespaceAndWait(t, down)
	})
}

func deleteNamespaceAndWait(t *testing.T, ns string) {
	t.Helper()
	mustKubectl(t, "delete", "namespace", ns, "--wait=false")
	eventually(t, 2*time.Minute, "namespace "+ns+" to be gone", func() (bool, error) {
		_, err := env.cluster.Client().CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
}

// A serving certificate renewed by cert-manager is picked up without one
// failed admission: every pod created meanwhile was mutated.
func TestCertificateRotationLosesNoAdmission(t *testing.T) {
	ns := namespace(t, "rotation", "enforce")
	failOpenBefore := apiserverFailOpen(t)
	expiryBefore := counter(metrics(t), "gracekeeper_certificate_expiry_timestamp_seconds")
	client := env.cluster.Client().CoreV1().Pods(ns)
	ctx := context.Background()
	// Bounded: at most 1000 dry-run creates or 60 s; it stops once the new
	// certificate has been served for 200 admissions.
	deadline := time.Now().Add(time.Minute)
	rotatedAt, reloadedAt := -1, -1
	i := 0
	for ; i < 1000 && time.Now().Before(deadline) && (reloadedAt < 0 || i < reloadedAt+200); i++ {
		if i == 100 {
			time.Sleep(time.Second) // the new certificate must outlive the old one measurably
			if err := env.cluster.RotateWebhookCert(); err != nil {
				t.Fatal(err)
			}
			rotatedAt = i
		}
		if rotatedAt >= 0 && reloadedAt < 0 && i%20 == 0 &&
			counter(metrics(t), "gracekeeper_certificate_expiry_timestamp_seconds") > expiryBefore {
			reloadedAt = i
		}
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%d", i)},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx"}}},
		}
		got, err := client.Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
		if l := got.Spec.Containers[0].Lifecycle; l == nil || l.PreStop == nil {
			t.Fatalf("pod %d was admitted without mutation: the webhook call failed (open)", i)
		}
	}
	t.Logf("%d pods admitted; certificate rotated before pod %d, served from pod %d", i, rotatedAt, reloadedAt)
	if reloadedAt < 0 {
		t.Fatal("the webhook never served the renewed certificate")
	}
	if after := apiserverFailOpen(t); after != failOpenBefore {
		t.Errorf("apiserver_admission_webhook_fail_open_count for gracekeeper went from %v to %v", failOpenBefore, after)
	}
}

// apiserverFailOpen reads how often the API server ignored a failed call to gracekeeper.
func apiserverFailOpen(t *testing.T) float64 {
	t.Helper()
	text := mustKubectl(t, "get", "--raw", "/metrics").stdout
	return counter(text, "apiserver_admission_webhook_fail_open_count", "gracekeeper")
}
