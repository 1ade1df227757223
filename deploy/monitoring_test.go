// Chart tests: the PrometheusRule and the Grafana dashboard. That their
// metrics exist is checked against a live API server and gracekeeper by the
// end-to-end test TestAlertsAndDashboardNameOnlyExposedMetrics.

package deploy

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

const monitoringValues = "metrics: {prometheusRule: {enabled: true, labels: {release: prometheus}}, dashboard: {enabled: true}}\n"

func TestAlertsCoverWhatTheIssueAsks(t *testing.T) {
	objs := render(t, "gracekeeper", monitoringValues)
	queries, err := MonitoringQueries(objs)
	if err != nil {
		t.Fatal(err)
	}
	alerts := map[string]string{}
	for _, q := range queries {
		if name, ok := strings.CutPrefix(q.Source, "alert "); ok {
			alerts[name] = q.Expr
		}
	}
	for alert, metric := range map[string]string{
		"GracekeeperCertificateExpiresSoon": "gracekeeper_certificate_expiry_timestamp_seconds",
		"GracekeeperCallsFailOpen":          "apiserver_admission_webhook_fail_open_count",
		"GracekeeperInternalErrors":         "gracekeeper_internal_errors_total",
		"GracekeeperDenials":                "gracekeeper_findings_total",
	} {
		names, err := MetricNames(alerts[alert])
		if err != nil || !slices.Contains(names, metric) {
			t.Errorf("alert %s = %q (%v), want it on %s", alert, alerts[alert], err, metric)
		}
	}
	if want := "< 1209600"; !strings.HasSuffix(alerts["GracekeeperCertificateExpiresSoon"], want) {
		t.Errorf("certificate alert %q, want 14 days (%s)", alerts["GracekeeperCertificateExpiresSoon"], want)
	}
	if !strings.Contains(alerts["GracekeeperInternalErrors"], `namespace="gracekeeper"`) ||
		!strings.Contains(alerts["GracekeeperCallsFailOpen"], `name=~".*\\.gracekeeper\\.io"`) {
		t.Errorf("alerts do not select gracekeeper's namespace and webhooks: %v", alerts)
	}
	queries, err = MonitoringQueries(render(t, "gracekeeper", "metrics: {prometheusRule: {enabled: true, certificateExpiryDays: 3}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range queries {
		if q.Source == "alert GracekeeperCertificateExpiresSoon" && !strings.HasSuffix(q.Expr, "< 259200") {
			t.Errorf("certificateExpiryDays 3: %q", q.Expr)
		}
	}
	for _, obj := range objs {
		if obj.GetKind() == "PrometheusRule" && obj.GetLabels()["release"] != "prometheus" {
			t.Errorf("PrometheusRule labels %v lack release=prometheus", obj.GetLabels())
		}
	}
	if q, err := MonitoringQueries(render(t, "gracekeeper", "")); err != nil || len(q) != 0 {
		t.Errorf("the defaults render monitoring queries %v (%v); both are off by default", q, err)
	}
}

func TestEveryMonitoringQueryParses(t *testing.T) {
	queries, err := MonitoringQueries(render(t, "gracekeeper", monitoringValues))
	if err != nil {
		t.Fatal(err)
	}
	if len(queries) < 20 {
		t.Fatalf("%d queries, want the alerts and the dashboard's", len(queries))
	}
	for _, q := range queries {
		names, err := MetricNames(q.Expr)
		if err != nil || len(names) == 0 {
			t.Errorf("%s: %q: names %v, error %v", q.Source, q.Expr, names, err)
		}
		for _, n := range names {
			if !strings.HasPrefix(n, "gracekeeper_") && !strings.HasPrefix(n, "kubewebhook_") && !strings.HasPrefix(n, "apiserver_") {
				t.Errorf("%s names %s, neither gracekeeper's nor the API server's", q.Source, n)
			}
		}
	}
}

func TestDashboardIsForTheGrafanaSidecar(t *testing.T) {
	objs := render(t, "gracekeeper", "metrics: {dashboard: {enabled: true, namespace: monitoring, annotations: {grafana_folder: Admission}}}\n")
	cm := find[corev1.ConfigMap](t, objs, "ConfigMap", "gracekeeper-dashboard")
	if cm.Labels["grafana_dashboard"] != "1" || cm.Namespace != "monitoring" || cm.Annotations["grafana_folder"] != "Admission" {
		t.Errorf("dashboard ConfigMap %v, want label grafana_dashboard=1, namespace monitoring and the folder annotation", cm.ObjectMeta)
	}
	if !strings.Contains(cm.Data["gracekeeper.json"], `"uid": "gracekeeper"`) {
		t.Errorf("the ConfigMap does not hold the dashboard")
	}
}

func TestMetricNames(t *testing.T) {
	names, err := MetricNames(`histogram_quantile(0.99, sum by (le) (rate(a_bucket{x="1"}[5m]))) / on() group_left b + {__name__="c"} - time()`)
	if err != nil || !slices.Equal(names, []string{"a_bucket", "b", "c"}) {
		t.Errorf("names %v (%v), want a_bucket, b, c", names, err)
	}
	for _, bad := range []string{`{__name__=~"gracekeeper_.*"}`, `rate(x[5m]`, `x{namespace=~"$namespace"}[$__rate_interval]`} {
		if _, err := MetricNames(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
