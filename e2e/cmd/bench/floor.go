package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/gracekeeper/gracekeeper/deploy"
	"github.com/gracekeeper/gracekeeper/e2e/cluster"
)

// floorLabel selects the namespaces of the minimal webhook's configurations.
const floorLabel = "bench.gracekeeper.io/floor"

// floorWebhookName names the minimal webhook's configurations.
const floorWebhookName = "bench-floor"

// startFloorWebhook runs the minimal webhook (e2e/bench/noop
// --minimal-patch) on loopback with the cluster webhook's serving
// certificate, and registers for it copies of gracekeeper's enforce entries
// (rules, matchConditions, policies, all as the chart renders them), so that
// it gets exactly the calls gracekeeper gets: one copy answering "[]" for
// the namespace labelled empty, one answering gracekeeper's own patch of the
// typical pod for the namespace labelled patch.
func startFloorWebhook(ctx context.Context, c *cluster.Cluster, opts *options, logf func(string, ...any)) (*serverProcess, error) {
	dir, err := os.MkdirTemp(opts.tmp, "floor-")
	if err != nil {
		return nil, err
	}
	binary := filepath.Join(dir, "noop")
	logf("building the minimal webhook (e2e/bench/noop)")
	if err := buildGo(ctx, binary, "./e2e/bench/noop"); err != nil {
		return nil, err
	}
	patch, err := servedPodPatch(ctx, opts, filepath.Join(dir, "gracekeeper"))
	if err != nil {
		return nil, err
	}
	patchPath := filepath.Join(dir, "patch.json")
	if err := os.WriteFile(patchPath, patch, 0o644); err != nil {
		return nil, err
	}
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	tlsDir := c.WebhookTLSDir()
	caPEM, err := os.ReadFile(filepath.Join(tlsDir, "ca.crt"))
	if err != nil {
		return nil, fmt.Errorf("read the cluster webhook's CA: %w", err)
	}
	url := fmt.Sprintf("https://127.0.0.1:%d", ports[0])
	p, err := startServer(binary, []string{"--tls-dir", tlsDir, "--listen", strings.TrimPrefix(url, "https://"), "--minimal-patch", patchPath},
		filepath.Join(dir, "floor.log"))
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	if err := p.waitReady(ctx, url+"/readyz", roots); err != nil {
		return nil, errors.Join(fmt.Errorf("minimal webhook: %w", err), p.stop())
	}
	if err := registerFloorWebhooks(ctx, c.Client(), url, caPEM); err != nil {
		return nil, errors.Join(err, p.stop())
	}
	return p, nil
}

// registerFloorWebhooks creates the minimal webhook's configurations from
// the chart's enforce entries.
func registerFloorWebhooks(ctx context.Context, client kubernetes.Interface, url string, caPEM []byte) error {
	objs, err := deploy.RenderChart(cluster.WebhookNamespace, nil)
	if err != nil {
		return fmt.Errorf("render chart: %w", err)
	}
	mutating, validating, err := deploy.WebhookConfigurations(objs)
	if err != nil {
		return err
	}
	floorMutating := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: floorWebhookName}}
	floorValidating := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: floorWebhookName}}
	for _, variant := range []string{"empty", "patch"} {
		selector := &metav1.LabelSelector{MatchLabels: map[string]string{floorLabel: variant}}
		for _, w := range mutating.Webhooks {
			if strings.HasPrefix(w.Name, "enforce.") {
				w.Name = variant + ".mutate.floor.gracekeeper.io"
				w.ClientConfig = admissionregistrationv1.WebhookClientConfig{URL: ptr.To(url + "/mutate/" + variant), CABundle: caPEM}
				w.NamespaceSelector = selector
				floorMutating.Webhooks = append(floorMutating.Webhooks, w)
			}
		}
		for _, w := range validating.Webhooks {
			if strings.HasPrefix(w.Name, "enforce.") {
				w.Name = variant + ".validate.floor.gracekeeper.io"
				w.ClientConfig = admissionregistrationv1.WebhookClientConfig{URL: ptr.To(url + "/validate"), CABundle: caPEM}
				w.NamespaceSelector = selector
				floorValidating.Webhooks = append(floorValidating.Webhooks, w)
			}
		}
	}
	if len(floorMutating.Webhooks) != 2 || len(floorValidating.Webhooks) != 2 {
		return fmt.Errorf("the chart renders %d mutating and %d validating enforce entries, want one of each", len(floorMutating.Webhooks)/2, len(floorValidating.Webhooks)/2)
	}
	api := client.AdmissionregistrationV1()
	if _, err := api.MutatingWebhookConfigurations().Create(ctx, floorMutating, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create the minimal webhook's MutatingWebhookConfiguration: %w", err)
	}
	if _, err := api.ValidatingWebhookConfigurations().Create(ctx, floorValidating, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create the minimal webhook's ValidatingWebhookConfiguration: %w", err)
	}
	return nil
}

// apiServerCalls reads the API server's histograms of its webhook calls,
// by webhook name.
func apiServerCalls(ctx context.Context, client kubernetes.Interface) (map[string]*callHistogram, error) {
	text, err := client.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("get the API server's metrics: %w", err)
	}
	return callHistograms(string(text)), nil
}

// isGracekeeper tells whether a webhook name is one of gracekeeper's
// workload entries (not the minimal webhook's copies, not the namespace
// mode-label check).
func isGracekeeper(name string) bool {
	return strings.HasSuffix(name, ".gracekeeper.io") && !strings.Contains(name, ".floor.") && !strings.HasPrefix(name, "namespaces.")
}

// gracekeeperCalls is how many calls the API server made to gracekeeper's
// workload entries, of calls by webhook name.
func gracekeeperCalls(calls map[string]*callHistogram) int {
	var n float64
	for name, h := range calls {
		if isGracekeeper(name) {
			n += h.count
		}
	}
	return int(n)
}
