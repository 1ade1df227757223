//go:build e2e

package realnode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	// requestRate is the requests per second of the traffic, each on a new
	// connection, as clients that do not pool connections send them.
	requestRate = 100
	// requestTimeout bounds each request, connection included.
	requestTimeout = 2 * time.Second
	// maxRequests bounds one run of traffic (3 minutes at requestRate).
	maxRequests = 18000
)

// appManifest is the seed scenario: 3 replicas of a server that exits at
// once on SIGTERM, the default RollingUpdate, a readiness probe, a Service.
const appManifest = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  replicas: 3
  selector: {matchLabels: {app: app}}
  template:
    metadata:
      labels: {app: app}
    spec:
      containers:
      - name: app
        image: ` + appImage + `
        imagePullPolicy: Never
        ports: [{containerPort: 8080}]
        readinessProbe:
          httpGet: {path: /, port: 8080}
          periodSeconds: 2
---
apiVersion: v1
kind: Service
metadata:
  name: app
spec:
  selector: {app: app}
  ports: [{port: 80, targetPort: 8080}]
`

// rolloutSteps are the ways a user rolls a Deployment, each run in turn
// with traffic flowing; undo goes back to the first revision (appImage).
var rolloutSteps = []struct {
	name string
	args []string
}{
	{"kubectl set image", []string{"set", "image", "deployment/app", "app=" + appImage2}},
	{"kubectl rollout restart", []string{"rollout", "restart", "deployment/app"}},
	{"kubectl rollout undo --to-revision=1", []string{"rollout", "undo", "deployment/app", "--to-revision=1"}},
}

// TestRealTraffic sends requests through the app's ClusterIP during each
// rollout step: in an enforce namespace none may fail; in an unlabelled one,
// the control, each step must lose some, or the test could not tell.
func TestRealTraffic(t *testing.T) {
	for _, variant := range []struct{ name, mode string }{{"enforce", "enforce"}, {"unlabelled", ""}} {
		t.Run(variant.name, func(t *testing.T) {
			ns := namespace(t, "traffic-"+variant.name, variant.mode)
			kubectlIn(t, appManifest, "-n", ns, "apply", "-f", "-")
			kubectl(t, "-n", ns, "rollout", "status", "deployment/app", "--timeout=3m")
			assertPreStop(t, ns, variant.mode == "enforce")
			service, err := env.node.Client().CoreV1().Services(ns).Get(context.Background(), "app", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			ip := service.Spec.ClusterIP
			for _, step := range rolloutSteps {
				waitSettled(t, ns, "app=app", 3)
				// An UNREPLIED entry of an earlier run lives 120 s and sends a
				// new connection that reuses its source port to a gone pod.
				_ = exec.Command("conntrack", "-D", "-d", ip).Run()
				traffic := startTraffic("http://" + ip + "/")
				time.Sleep(2 * time.Second)
				started := time.Now()
				kubectl(t, append([]string{"-n", ns}, step.args...)...)
				kubectl(t, "-n", ns, "rollout", "status", "deployment/app", "--timeout=3m")
				waitSettled(t, ns, "app=app", 3) // the old pods are gone too
				took := time.Since(started).Round(100 * time.Millisecond)
				time.Sleep(2 * time.Second)
				r := traffic.stop()
				t.Logf("MEASURED %s, %s namespace: %d of %d requests failed (%s); rollout and termination took %s",
					step.name, variant.name, r.failed(), r.total, r.failures(), took)
				if r.total == 0 || (r.total >= maxRequests) {
					t.Errorf("%s: %d requests sent, want between 1 and %d", step.name, r.total, maxRequests)
				}
				switch {
				case variant.mode == "enforce" && r.failed() > 0:
					t.Errorf("%s in an enforce namespace lost %d of %d requests (%s), want 0", step.name, r.failed(), r.total, r.failures())
				case variant.mode == "" && r.failed() == 0:
					t.Errorf("%s in an unlabelled namespace lost no request of %d: the control shows nothing, so the test cannot tell gracekeeper's effect", step.name, r.total)
				}
			}
		})
	}
}

// assertPreStop checks that the app's pods have a preStop hook exactly when
// their namespace is enforced.
func assertPreStop(t *testing.T, ns string, want bool) {
	t.Helper()
	pods, err := env.node.Client().CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=app"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		got := p.Spec.Containers[0].Lifecycle != nil && p.Spec.Containers[0].Lifecycle.PreStop != nil
		if got != want {
			t.Fatalf("pod %s/%s has a preStop hook: %v, want %v", ns, p.Name, got, want)
		}
	}
}

// waitSettled waits until the selector's pods number replicas, all Ready,
// none terminating, and the Service's EndpointSlices list exactly them.
func waitSettled(t *testing.T, ns, selector string, replicas int) {
	t.Helper()
	client := env.node.Client()
	err := env.node.WaitFor(context.Background(), fmt.Sprintf("%d settled pods %s in %s", replicas, selector, ns), func(ctx context.Context) (bool, error) {
		pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil || len(pods.Items) != replicas {
			return false, nil
		}
		ips := map[string]bool{}
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil || !podReady(&p) {
				return false, nil
			}
			ips[p.Status.PodIP] = true
		}
		slices, err := client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		n := 0
		for _, s := range slices.Items {
			for _, e := range s.Endpoints {
				if len(e.Addresses) == 0 || !ips[e.Addresses[0]] {
					return false, nil
				}
				n++
			}
		}
		return n == replicas, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// kube-proxy applies endpoint changes at its next sync, at most 1 s on.
	time.Sleep(2 * time.Second)
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// traffic sends GETs at requestRate, each on a new connection with
// requestTimeout, until stopped or maxRequests are sent.
type traffic struct {
	total   atomic.Int64
	mu      sync.Mutex
	byError map[string]int
	done    chan struct{}
	wg      sync.WaitGroup
	sending sync.WaitGroup
}

// trafficResult counts one run's requests and failures by cause.
type trafficResult struct {
	total   int
	byError map[string]int
}

func (r trafficResult) failed() int {
	n := 0
	for _, c := range r.byError {
		n += c
	}
	return n
}

func (r trafficResult) failures() string {
	if len(r.byError) == 0 {
		return "none"
	}
	var parts []string
	for cause, n := range r.byError {
		parts = append(parts, fmt.Sprintf("%d %s", n, cause))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

func startTraffic(url string) *traffic {
	tr := &traffic{byError: map[string]int{}, done: make(chan struct{})}
	client := &http.Client{
		Timeout:   requestTimeout,
		Transport: &http.Transport{DisableKeepAlives: true, DialContext: (&net.Dialer{Timeout: requestTimeout}).DialContext},
	}
	tr.sending.Add(1)
	go func() {
		defer tr.sending.Done()
		tick := time.NewTicker(time.Second / requestRate)
		defer tick.Stop()
		for tr.total.Load() < maxRequests {
			select {
			case <-tr.done:
				return
			case <-tick.C:
			}
			tr.total.Add(1)
			tr.wg.Add(1)
			go func() {
				defer tr.wg.Done()
				if cause := get(client, url); cause != "" {
					tr.mu.Lock()
					tr.byError[cause]++
					tr.mu.Unlock()
				}
			}()
		}
	}()
	return tr
}

// get returns why a GET failed, or "" for a 200.
func get(client *http.Client, url string) string {
	resp, err := client.Get(url)
	if err != nil {
		return cause(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadAll(resp.Body); err != nil {
		return "read: " + cause(err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("status %d", resp.StatusCode)
	}
	return ""
}

func cause(err error) string {
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return "timeout"
	}
	for _, known := range []string{"connection refused", "connection reset by peer", "no route to host", "EOF"} {
		if strings.Contains(err.Error(), known) {
			return known
		}
	}
	return err.Error()
}

// stop ends the traffic and waits for the requests in flight.
func (tr *traffic) stop() trafficResult {
	close(tr.done)
	tr.sending.Wait()
	tr.wg.Wait()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return trafficResult{total: int(tr.total.Load()), byError: tr.byError}
}

var namespaceSeq atomic.Int32

// namespace creates a namespace labelled with mode ("" for none), deleted
// when the test ends, once its requests reach gracekeeper in that mode.
func namespace(t *testing.T, prefix, mode string) string {
	t.Helper()
	name := fmt.Sprintf("%s-%d", prefix, namespaceSeq.Add(1))
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if mode != "" {
		ns.Labels = map[string]string{"gracekeeper.io/mode": mode}
	}
	client := env.node.Client()
	if _, err := client.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = client.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	if mode == "" {
		return name
	}
	// The label reaches the API server's webhook matching through an informer.
	err := env.node.WaitFor(context.Background(), "namespace "+name+" in mode "+mode, func(ctx context.Context) (bool, error) {
		_, stderr, _ := env.node.Kubectl(ctx, "-n", name, "create", "deployment", "mode-probe", "--image="+appImage, "--dry-run=server")
		return strings.Contains(stderr, "gracekeeper prestop-hook: will add"), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return name
}
