//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/gracekeeper/gracekeeper/certs"
	"github.com/gracekeeper/gracekeeper/deploy"
)

// Every alert of the chart's PrometheusRule and every query of its Grafana
// dashboard names only metrics that gracekeeper or the API server expose, as
// scraped from the live /metrics of both. Many series exist only once
// something happened (a finding, a denial, a call that failed open), so the
// test first makes each of those happen.
func TestAlertsAndDashboardNameOnlyExposedMetrics(t *testing.T) {
	objs, err := deploy.RenderChart("gracekeeper", map[string]any{
		"metrics": map[string]any{"prometheusRule": map[string]any{"enabled": true}, "dashboard": map[string]any{"enabled": true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	queries, err := deploy.MonitoringQueries(objs)
	if err != nil {
		t.Fatal(err)
	}

	makeEverySeriesAppear(t)

	exposed := map[string]string{}
	for _, source := range []struct{ name, text string }{
		{"the API server", mustKubectl(t, "get", "--raw", "/metrics").stdout},
		{"gracekeeper", metrics(t)},
	} {
		for name := range sampleNames(t, source.text) {
			exposed[name] = source.name
		}
	}
	checked := 0
	for _, q := range queries {
		names, err := deploy.MetricNames(q.Expr)
		if err != nil {
			t.Errorf("%s: %q: %v", q.Source, q.Expr, err)
			continue
		}
		for _, n := range names {
			checked++
			if exposed[n] == "" {
				t.Errorf("%s names %s, which neither the API server nor gracekeeper exposes: %s", q.Source, n, q.Expr)
			}
		}
	}
	if len(queries) < 20 || checked < len(queries) {
		t.Errorf("checked %d metric names in %d queries; want every alert and dashboard query", checked, len(queries))
	}
}

// makeEverySeriesAppear drives the calls whose series the alerts and the
// dashboard read: a patch, a denial, a request the matchConditions keep
// away, a review of a kind gracekeeper does not judge, and calls that fail
// open and fail (to a webhook of the test's own that nothing serves).
func makeEverySeriesAppear(t *testing.T) {
	t.Helper()
	ns := namespace(t, "monitoring", "enforce")
	// A patch (mutating review) and, from the Deployment controller's own
	// writes, requests the matchConditions keep away from the guards.
	mustKubectl(t, "-n", ns, "apply", "-f", nginxManifest(t, 1, ""))
	rolloutStatus(t, ns, "deployment/nginx")
	// A denial (validating review).
	if r := kubectl(t, "-n", ns, "delete", "deployment", "nginx", "--wait=false"); r.err == nil {
		t.Fatalf("the delete of a running Deployment in an enforced namespace was allowed: %s", r)
	}
	postUnhandledReview(t)

	ctx := context.Background()
	unreachable := "https://127.0.0.1:1/"
	entry := func(name string, policy admissionregistrationv1.FailurePolicyType) admissionregistrationv1.ValidatingWebhook {
		return admissionregistrationv1.ValidatingWebhook{
			Name:                    name,
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: &unreachable},
			Rules:                   []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create}, Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}}}},
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}},
			FailurePolicy:           &policy,
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
			TimeoutSeconds:          ptr.To[int32](2),
		}
	}
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-" + ns + "-unreachable"},
		Webhooks:   []admissionregistrationv1.ValidatingWebhook{entry("fail-open.e2e.test", admissionregistrationv1.Ignore), entry("fail.e2e.test", admissionregistrationv1.Fail)},
	}
	client := env.cluster.Client().AdmissionregistrationV1().ValidatingWebhookConfigurations()
	if _, err := client.Create(ctx, vwc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	defer client.Delete(ctx, vwc.Name, metav1.DeleteOptions{})
	// The configuration reaches the API server's admission through an
	// informer: create until the call is refused by the failing entry.
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		r := kubectl(t, "-n", ns, "create", "configmap", fmt.Sprintf("c%d", time.Now().UnixNano()))
		return r.err != nil && strings.Contains(r.stderr, "fail.e2e.test"), nil
	})
	if err != nil {
		t.Fatalf("the unreachable webhook never refused a ConfigMap: %v", err)
	}
}

// postUnhandledReview sends gracekeeper a review of a kind it does not
// judge, as a webhook configuration that sends too much would.
func postUnhandledReview(t *testing.T) {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM([]byte(readFile(t, filepath.Join(env.cluster.WebhookTLSDir(), certs.CACertFile))))
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: "e2e-unhandled", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "ConfigMap"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "configmaps"},
			Operation: admissionv1.Create, Namespace: "default", Name: "x",
			Object: runtime.RawExtension{Raw: []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"default"}}`)},
		},
	}
	body, err := json.Marshal(review)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	resp, err := client.Post(env.cluster.WebhookURL()+"/validate/enforce", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(answer), `"allowed":true`) {
		t.Fatalf("review of a ConfigMap: HTTP %d %s, want it allowed", resp.StatusCode, answer)
	}
}

// sampleNames returns the names of the series a Prometheus scrape of text
// stores: a histogram's _bucket, _sum and _count, a summary's _sum and _count.
func sampleNames(t *testing.T, text string) map[string]bool {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	names := map[string]bool{}
	for name, f := range families {
		if len(f.GetMetric()) == 0 {
			continue
		}
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			names[name], names[name+"_sum"], names[name+"_count"] = true, true, true
		default:
			names[name] = true
		}
	}
	if len(names) == 0 || !slices.ContainsFunc([]string{"gracekeeper_internal_errors_total", "apiserver_request_total"}, func(n string) bool { return names[n] }) {
		t.Fatalf("the scrape holds no known series: %d names", len(names))
	}
	return names
}
