//go:build e2e

package realnode

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/gracekeeper/gracekeeper/deploy"
)

// podCreateInterval paces the pods created while gracekeeper's own pods
// roll: 5 a second, each kept Pending by a node selector nothing matches.
const podCreateInterval = 200 * time.Millisecond

// TestGracekeeperPods disrupts gracekeeper's own pods while pods are created
// in an enforce namespace: no creation may fail, none may be admitted
// without its preStop hook, and the API server may never fail open.
func TestGracekeeperPods(t *testing.T) {
	ns := namespace(t, "admitted", "enforce")
	selector := gracekeeperSelector(t)

	t.Run("kubectl rollout restart deployment/gracekeeper loses no admission", func(t *testing.T) {
		measureAdmissions(t, ns, func() {
			kubectl(t, "-n", gracekeeperNamespace, "rollout", "restart", "deployment/"+deploy.ReleaseName)
			kubectl(t, "-n", gracekeeperNamespace, "rollout", "status", "deployment/"+deploy.ReleaseName, "--timeout=3m")
			waitSettled(t, gracekeeperNamespace, selector, 2)
		})
	})

	t.Run("deleting one of its 2 pods loses no admission", func(t *testing.T) {
		pods, err := env.node.Client().CoreV1().Pods(gracekeeperNamespace).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
		if err != nil || len(pods.Items) != 2 {
			t.Fatalf("gracekeeper pods: %v, %v; want 2", pods, err)
		}
		measureAdmissions(t, ns, func() {
			kubectl(t, "-n", gracekeeperNamespace, "delete", "pod", pods.Items[0].Name, "--wait=false")
			waitSettled(t, gracekeeperNamespace, selector, 2) // replaced, and the deleted one gone
		})
	})

	t.Run("a forced certificate rotation, then deleting one of its pods, loses no admission", func(t *testing.T) {
		secrets := env.node.Client().CoreV1().Secrets(gracekeeperNamespace)
		before, err := secrets.Get(context.Background(), tlsSecret, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		caPEM := before.Data["ca.crt"]
		if len(caPEM) == 0 || len(before.Data["tls.crt"]) == 0 {
			t.Fatalf("Secret %s holds no builtin CA and serving pair: keys %v", tlsSecret, slices.Collect(maps.Keys(before.Data)))
		}
		served := servedCertificates(t, selector, caPEM)
		measureAdmissions(t, ns, func() {
			// A forced rotation: without a serving pair in the Secret,
			// gracekeeper issues a new one from the same CA.
			forced := before.DeepCopy()
			delete(forced.Data, "tls.crt")
			delete(forced.Data, "tls.key")
			if _, err := secrets.Update(context.Background(), forced, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			var renewed []byte
			waitFor(t, time.Minute, "every gracekeeper pod to serve a renewed certificate from the Secret", func() bool {
				after, err := secrets.Get(context.Background(), tlsSecret, metav1.GetOptions{})
				if err != nil || len(after.Data["tls.crt"]) == 0 || bytes.Equal(after.Data["tls.crt"], before.Data["tls.crt"]) {
					return false
				}
				renewed = after.Data["tls.crt"]
				now := servedCertificates(t, selector, caPEM)
				for _, cert := range now {
					if !bytes.Equal(cert, pemBlock(renewed)) {
						return false
					}
				}
				return len(now) == 2
			})
			pods, err := env.node.Client().CoreV1().Pods(gracekeeperNamespace).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
			if err != nil || len(pods.Items) != 2 {
				t.Fatalf("gracekeeper pods: %v, %v; want 2", pods, err)
			}
			kubectl(t, "-n", gracekeeperNamespace, "delete", "pod", pods.Items[0].Name, "--wait=false")
			waitSettled(t, gracekeeperNamespace, selector, 2)
			after, err := secrets.Get(context.Background(), tlsSecret, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(after.Data["ca.crt"], caPEM) {
				t.Error("the forced rotation of the serving pair replaced the CA")
			}
			t.Logf("MEASURED rotations: 1 forced renewal served by both pods (before: %d pods served the first pair), then a pod deleted", len(served))
		})
		checkCABundle(t, caPEM)
	})

	t.Run("helm test passes", func(t *testing.T) {
		if err := helmTest(env.node, 2*time.Minute); err != nil {
			// kubectl logs cannot reach the kubelet here: read the log file.
			logs, _ := filepath.Glob(filepath.Join(StateDir, "pods", gracekeeperNamespace+"_"+deploy.ReleaseName+"-test_*", "*", "*.log"))
			var text []string
			for _, l := range logs {
				data, _ := os.ReadFile(l)
				text = append(text, l+":\n"+string(data))
			}
			t.Fatalf("helm test %s: %v\n%s", deploy.ReleaseName, err, strings.Join(text, "\n"))
		}
	})

	t.Run("its own Deployment and pods pass its own rules", func(t *testing.T) {
		assertOwnPodsPass(t, ns)
	})
}

func gracekeeperSelector(t *testing.T) string {
	t.Helper()
	d, err := env.node.Client().AppsV1().Deployments(gracekeeperNamespace).Get(context.Background(), deploy.ReleaseName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return metav1.FormatLabelSelector(d.Spec.Selector)
}

// measureAdmissions creates pods in ns from before disrupt until after it
// returns, and fails on any failed creation, any pod admitted without its
// preStop hook, and any call of the API server that failed open.
func measureAdmissions(t *testing.T, ns string, disrupt func()) {
	t.Helper()
	failOpenBefore := failOpenCount(t)
	// gracekeeper warns each pod has no readiness probe; the pods are
	// checked for their hook instead of printing those.
	config := env.node.RESTConfig()
	config.WarningHandler = rest.NoWarnings{}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		t.Fatal(err)
	}
	var created, failed, unhooked atomic.Int64
	var mu sync.Mutex
	var problems []string
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(podCreateInterval)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			wg.Go(func() {
				pod, err := createPendingPod(client, ns, fmt.Sprintf("p-%d-%d", time.Now().Unix(), i))
				created.Add(1)
				problem := ""
				switch {
				case err != nil:
					failed.Add(1)
					problem = err.Error()
				case pod.Spec.Containers[0].Lifecycle == nil || pod.Spec.Containers[0].Lifecycle.PreStop == nil:
					unhooked.Add(1)
					problem = "pod " + pod.Name + " admitted without a preStop hook"
				}
				if problem != "" {
					mu.Lock()
					problems = append(problems, time.Now().Format("15:04:05.000")+" "+problem)
					mu.Unlock()
				}
			})
		}
	})
	time.Sleep(2 * time.Second)
	started := time.Now()
	disrupt()
	took := time.Since(started).Round(100 * time.Millisecond)
	time.Sleep(3 * time.Second)
	close(done)
	wg.Wait()
	failOpen := failOpenCount(t) - failOpenBefore
	t.Logf("MEASURED %d pods created over %s of disruption: %d failed, %d without a preStop hook; the API server failed open %d times",
		created.Load(), took, failed.Load(), unhooked.Load(), failOpen)
	if created.Load() < 10 {
		t.Errorf("only %d pods were created: the disruption was not covered", created.Load())
	}
	if failed.Load() > 0 || unhooked.Load() > 0 || failOpen > 0 {
		t.Errorf("want no failed creation, no pod without its hook and no fail-open call; got %d, %d, %d:\n%s",
			failed.Load(), unhooked.Load(), failOpen, strings.Join(problems, "\n"))
	}
}

// createPendingPod creates a pod that no node runs, so that only admission
// is exercised, and returns it as admitted.
func createPendingPod(client kubernetes.Interface, ns, name string) (*corev1.Pod, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "admitted"}},
		Spec: corev1.PodSpec{
			NodeSelector: map[string]string{"gracekeeper.io/e2e-no-such-node": "true"},
			Containers:   []corev1.Container{{Name: "app", Image: appImage, ImagePullPolicy: corev1.PullNever}},
		},
	}, metav1.CreateOptions{})
}

// failOpenCount sums the API server's apiserver_admission_webhook_fail_open_count
// over gracekeeper's webhooks: each is a call that failed and was let through.
func failOpenCount(t *testing.T) int {
	t.Helper()
	metrics, err := env.node.Client().Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil {
		t.Fatalf("read the API server's metrics: %v", err)
	}
	total := 0
	for _, line := range strings.Split(string(metrics), "\n") {
		if !strings.HasPrefix(line, "apiserver_admission_webhook_fail_open_count{") || !strings.Contains(line, `.gracekeeper.io"`) {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			t.Fatalf("parse metric line %q: %v", line, err)
		}
		total += int(v)
	}
	return total
}

// assertOwnPodsPass submits gracekeeper's running Deployment, and a pod of
// its template, to the enforce namespace ns with a server-side dry run:
// gracekeeper must neither warn nor change them.
func assertOwnPodsPass(t *testing.T, ns string) {
	t.Helper()
	client := env.node.Client()
	live, err := client.AppsV1().Deployments(gracekeeperNamespace).Get(context.Background(), deploy.ReleaseName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The pod's service account must exist where it is submitted.
	if _, err := client.CoreV1().ServiceAccounts(ns).Create(context.Background(), &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: live.Spec.Template.Spec.ServiceAccountName},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deployment := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: live.Name, Labels: live.Labels},
		Spec:       live.Spec,
	}
	var admitted appsv1.Deployment
	submitDryRun(t, ns, deployment, &admitted)
	if !reflect.DeepEqual(admitted.Spec.Strategy, deployment.Spec.Strategy) ||
		!reflect.DeepEqual(admitted.Spec.RevisionHistoryLimit, deployment.Spec.RevisionHistoryLimit) ||
		!reflect.DeepEqual(admitted.Spec.Template.Spec.Containers[0].Lifecycle, deployment.Spec.Template.Spec.Containers[0].Lifecycle) ||
		!reflect.DeepEqual(admitted.Spec.Template.Spec.TerminationGracePeriodSeconds, deployment.Spec.Template.Spec.TerminationGracePeriodSeconds) {
		t.Errorf("gracekeeper changed its own Deployment:\nsubmitted %+v\nadmitted  %+v", deployment.Spec, admitted.Spec)
	}

	pod := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: live.Name + "-pod", Labels: live.Spec.Template.Labels},
		Spec:       live.Spec.Template.Spec,
	}
	var admittedPod corev1.Pod
	submitDryRun(t, ns, pod, &admittedPod)
	if !reflect.DeepEqual(admittedPod.Spec.Containers[0].Lifecycle, pod.Spec.Containers[0].Lifecycle) ||
		!reflect.DeepEqual(admittedPod.Spec.TerminationGracePeriodSeconds, pod.Spec.TerminationGracePeriodSeconds) {
		t.Errorf("gracekeeper changed its own pod: lifecycle %+v grace %v, submitted %+v grace %v",
			admittedPod.Spec.Containers[0].Lifecycle, *admittedPod.Spec.TerminationGracePeriodSeconds,
			pod.Spec.Containers[0].Lifecycle, *pod.Spec.TerminationGracePeriodSeconds)
	}
}

// submitDryRun creates obj in ns with kubectl create --dry-run=server, as a
// user would, fails on a gracekeeper warning, and decodes what was admitted.
func submitDryRun(t *testing.T, ns string, obj any, admitted any) {
	t.Helper()
	manifest, err := yaml.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, stderr, err := env.node.KubectlInput(ctx, string(manifest), "-n", ns, "create", "--dry-run=server", "-o", "json", "-f", "-")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stderr, "gracekeeper") {
		t.Errorf("gracekeeper warned about its own %T:\n%s", obj, stderr)
	}
	if err := json.Unmarshal([]byte(out), admitted); err != nil {
		t.Fatalf("decode the admitted object: %v\n%s", err, out)
	}
}

// tlsSecret is the Secret the chart's builtin certificates live in.
var tlsSecret = deploy.ReleaseName + "-tls"

// servedCertificates dials each ready gracekeeper pod's webhook port at its
// pod IP, verifies the certificate against caPEM for the Service's name as
// the API server does, and returns each pod's leaf (DER).
func servedCertificates(t *testing.T, selector string, caPEM []byte) [][]byte {
	t.Helper()
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("the Secret's ca.crt holds no certificate")
	}
	pods, err := env.node.Client().CoreV1().Pods(gracekeeperNamespace).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	var leaves [][]byte
	for _, pod := range pods.Items {
		if pod.Status.PodIP == "" || pod.DeletionTimestamp != nil {
			continue
		}
		dialer := &net.Dialer{Timeout: 2 * time.Second}
		conn, err := tls.DialWithDialer(dialer, "tcp", net.JoinHostPort(pod.Status.PodIP, "8443"),
			&tls.Config{RootCAs: roots, ServerName: deploy.ReleaseName + "." + gracekeeperNamespace + ".svc"})
		if err != nil {
			t.Logf("pod %s: %v", pod.Name, err)
			continue
		}
		leaves = append(leaves, conn.ConnectionState().PeerCertificates[0].Raw)
		conn.Close()
	}
	return leaves
}

// pemBlock is the DER of the first PEM block of data.
func pemBlock(data []byte) []byte {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil
	}
	return block.Bytes
}

// checkCABundle fails unless every webhook of both configurations trusts caPEM.
func checkCABundle(t *testing.T, caPEM []byte) {
	t.Helper()
	admission := env.node.Client().AdmissionregistrationV1()
	mutating, err := admission.MutatingWebhookConfigurations().Get(context.Background(), deploy.ReleaseName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	validating, err := admission.ValidatingWebhookConfigurations().Get(context.Background(), deploy.ReleaseName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range mutating.Webhooks {
		if !bytes.Equal(w.ClientConfig.CABundle, caPEM) {
			t.Errorf("mutating webhook %s does not trust the Secret's CA", w.Name)
		}
	}
	for _, w := range validating.Webhooks {
		if !bytes.Equal(w.ClientConfig.CABundle, caPEM) {
			t.Errorf("validating webhook %s does not trust the Secret's CA", w.Name)
		}
	}
}

// waitFor polls cond every 500 ms until it holds, or fails after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
