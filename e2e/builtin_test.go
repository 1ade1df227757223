//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gracekeeper/gracekeeper/e2e/cluster"
)

// builtinValidity is the serving certificate's lifetime in the test: it is
// renewed when a quarter (10 s) is left, so every 30 s.
const builtinValidity = "40s"

// TestBuiltinCertificatesRotateWithoutLosingAnAdmission runs the chart's
// default certificates.mode builtin through the real API server, on a
// control plane of its own: gracekeeper fills the chart's empty Secret with a
// CA and a serving certificate, writes the CA into the webhook
// configurations, which the harness registered without any caBundle, and
// renews the certificate while pods are created 5 a second. Every creation
// must be admitted and mutated, the API server must never fail open, and the
// caBundle must not change across renewals. A caBundle wiped by someone else
// (an upgrade, a GitOps sync) is written back.
func TestBuiltinCertificatesRotateWithoutLosingAnAdmission(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := cluster.Start(ctx, cluster.Options{BinDir: env.cluster.BinDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(c.Tails(40))
		}
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	})
	values := map[string]any{"certificates": map[string]any{"builtin": map[string]any{"validity": builtinValidity}}}
	if err := c.StartBuiltinWebhook(ctx, env.binary, values); err != nil {
		t.Fatal(err)
	}
	// gracekeeper warns each pod has no readiness probe; the pods are
	// checked for their hook instead of printing those.
	config := c.RESTConfig()
	config.WarningHandler = rest.NoWarnings{}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		t.Fatal(err)
	}

	secret, err := client.CoreV1().Secrets(cluster.WebhookNamespace).Get(ctx, "gracekeeper-tls", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"ca.crt", "ca.key", "tls.crt", "tls.key"} {
		if len(secret.Data[key]) == 0 {
			t.Fatalf("Secret gracekeeper-tls has no %s after gracekeeper turned ready", key)
		}
	}
	caPEM := secret.Data["ca.crt"]
	checkCABundles(t, ctx, c, caPEM)
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("the Secret's ca.crt holds no certificate")
	}

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "builtin-rotation", Labels: map[string]string{"gracekeeper.io/mode": "enforce"}}}
	if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	failOpenBefore := counter(apiServerMetrics(t, c), "apiserver_admission_webhook_fail_open_count", "gracekeeper")

	// Bounded: 5 dry-run creates a second for at most 100 s; it stops once
	// two renewals were served and 50 pods admitted after the second.
	pods := client.CoreV1().Pods(ns.Name)
	served := []string{}
	var admitted, failed, unmutated, afterSecond int
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(100 * time.Second)
	for i := 0; time.Now().Before(deadline) && (len(served) < 3 || afterSecond < 50); i++ {
		<-tick.C
		if i%5 == 0 {
			cert, err := servedCertificate(c.WebhookURL(), roots)
			if err != nil {
				t.Errorf("the served certificate does not verify with the Secret's CA for localhost: %v", err)
			} else if len(served) == 0 || served[len(served)-1] != cert {
				served = append(served, cert)
			}
		}
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%d", i)},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx"}}},
		}
		got, err := pods.Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		switch {
		case err != nil:
			failed++
			t.Errorf("create pod %d: %v", i, err)
		case got.Spec.Containers[0].Lifecycle == nil || got.Spec.Containers[0].Lifecycle.PreStop == nil:
			unmutated++
		default:
			admitted++
		}
		if len(served) >= 3 {
			afterSecond++
		}
	}
	failOpen := counter(apiServerMetrics(t, c), "apiserver_admission_webhook_fail_open_count", "gracekeeper") - failOpenBefore
	t.Logf("builtin mode, validity %s: %d pods admitted and mutated, %d failed, %d without the hook, %v fail-open calls; %d renewals served (certificates %v)",
		builtinValidity, admitted, failed, unmutated, failOpen, len(served)-1, served)
	if len(served) < 3 {
		t.Errorf("%d renewals served in 100 s, want 2 with a %s validity", len(served)-1, builtinValidity)
	}
	if unmutated > 0 {
		t.Errorf("%d pods were admitted without the preStop hook", unmutated)
	}
	if failOpen != 0 {
		t.Errorf("apiserver_admission_webhook_fail_open_count for gracekeeper rose by %v", failOpen)
	}
	// Renewals keep the CA, so the caBundle the API server trusts never moved.
	checkCABundles(t, ctx, c, caPEM)

	t.Run("gracekeeper selftest, the chart's helm test, sees the hook come back", func(t *testing.T) {
		out, err := exec.Command(env.binary, "selftest", "--namespace="+ns.Name, "--kubeconfig="+c.Kubeconfig).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "came back with a preStop hook") {
			t.Errorf("gracekeeper selftest: %v\n%s", err, out)
		}
		out, err = exec.Command(env.binary, "selftest", "--namespace="+cluster.WebhookNamespace, "--kubeconfig="+c.Kubeconfig).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "without gracekeeper's preStop hook") {
			t.Errorf("gracekeeper selftest in its own, excluded, namespace: %v, want a failure saying the hook is missing\n%s", err, out)
		}
	})

	t.Run("a caBundle wiped by someone else is written back", func(t *testing.T) {
		validating := client.AdmissionregistrationV1().ValidatingWebhookConfigurations()
		config, err := validating.Get(ctx, "gracekeeper", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i := range config.Webhooks {
			config.Webhooks[i].ClientConfig.CABundle = nil
		}
		if _, err := validating.Update(ctx, config, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "gracekeeper to write the CA back into the ValidatingWebhookConfiguration", func() (bool, error) {
			config, err := validating.Get(ctx, "gracekeeper", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			for _, w := range config.Webhooks {
				if !bytes.Equal(w.ClientConfig.CABundle, caPEM) {
					return false, nil
				}
			}
			return true, nil
		})
	})
}

// checkCABundles fails unless every webhook of both configurations trusts caPEM.
func checkCABundles(t *testing.T, ctx context.Context, c *cluster.Cluster, caPEM []byte) {
	t.Helper()
	admission := c.Client().AdmissionregistrationV1()
	mutating, err := admission.MutatingWebhookConfigurations().Get(ctx, "gracekeeper", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	validating, err := admission.ValidatingWebhookConfigurations().Get(ctx, "gracekeeper", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var bundles []string
	for _, w := range mutating.Webhooks {
		bundles = append(bundles, w.Name+"="+string(w.ClientConfig.CABundle))
	}
	for _, w := range validating.Webhooks {
		bundles = append(bundles, w.Name+"="+string(w.ClientConfig.CABundle))
	}
	for _, b := range bundles {
		if name, bundle, _ := strings.Cut(b, "="); bundle != string(caPEM) {
			t.Errorf("webhook %s trusts caBundle %q, want the Secret's ca.crt", name, bundle)
		}
	}
}

// apiServerMetrics is the API server's /metrics text, read with kubectl.
func apiServerMetrics(t *testing.T, c *cluster.Cluster) string {
	t.Helper()
	stdout, stderr, err := c.Kubectl(context.Background(), "get", "--raw", "/metrics")
	if err != nil {
		t.Fatalf("kubectl get --raw /metrics: %v: %s", err, stderr)
	}
	return stdout
}

// servedCertificate names the certificate the webhook serves (its SHA-256;
// cert-controller gives every serving certificate cert 1), verified
// against roots for localhost, as the API server does.
func servedCertificate(webhookURL string, roots *x509.CertPool) (string, error) {
	addr := strings.TrimPrefix(webhookURL, "https://")
	conn, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "localhost", RootCAs: roots})
	if err != nil {
		return "", err
	}
	defer conn.Close()
	leaf := conn.ConnectionState().PeerCertificates[0]
	sum := sha256.Sum256(leaf.Raw)
	return fmt.Sprintf("%x (notAfter %s)", sum[:4], leaf.NotAfter.UTC().Format(time.TimeOnly)), nil
}
