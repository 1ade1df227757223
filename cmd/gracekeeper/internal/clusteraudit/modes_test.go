package clusteraudit

import (
	"encoding/json"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gracekeeper/gracekeeper/policies"
)

// modeCase is a namespace and its mode under each install.
type modeCase struct {
	name      string
	namespace string
	label     string
	// optIn, clusterEnforce and clusterAudit are the modes under the chart's
	// default install, scope cluster with defaultMode enforce, and with audit.
	optIn, clusterEnforce, clusterAudit policies.Mode
}

var modeCases = []modeCase{
	{"A namespace labelled enforce is in enforce mode under every install.", "shop", "enforce", "enforce", "enforce", "enforce"},
	{"A namespace labelled audit is in audit mode under every install.", "shop", "audit", "audit", "audit", "audit"},
	{"A namespace labelled off is never covered.", "shop", "off", "off", "off", "off"},
	{"An unlabelled namespace is covered only by a cluster-wide install, in its default mode.", "shop", "", "off", "enforce", "audit"},
	{"A mistyped label counts as no label under an opt-in install and as the default mode under a cluster-wide one.", "shop", "enforcee", "off", "enforce", "audit"},
	{"kube-system is never covered, whatever its label.", "kube-system", "enforce", "off", "off", "off"},
	{"kube-node-lease is never covered.", "kube-node-lease", "", "off", "off", "off"},
}

var installs = []struct {
	name   string
	values map[string]any
	flags  []string
	want   func(modeCase) policies.Mode
}{
	{"opt-in", nil, []string{"--scope", "optIn"}, func(c modeCase) policies.Mode { return c.optIn }},
	{"cluster-wide enforce", map[string]any{"scope": "cluster"}, []string{"--scope", "cluster"}, func(c modeCase) policies.Mode { return c.clusterEnforce }},
	{"cluster-wide audit", map[string]any{"scope": "cluster", "defaultMode": "audit"}, []string{"--scope", "cluster", "--default-mode", "audit"}, func(c modeCase) policies.Mode { return c.clusterAudit }},
}

// modeOf audits one namespace and returns the mode the report gives it.
func modeOf(t *testing.T, objects []runtime.Object, c modeCase, flags ...string) (policies.Mode, *auditReport) {
	t.Helper()
	tc := newTestCluster(append(objects, namespaceObj(c.namespace, c.label))...)
	out, _, err := tc.audit(t, append([]string{"-n", c.namespace, "-o", "json"}, flags...)...)
	if err != nil {
		t.Fatal(err)
	}
	var report auditReport
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatal(err)
	}
	return report.Namespaces[0].Mode, &report
}

func TestModesFollowTheInstalledWebhookSelectors(t *testing.T) {
	for _, install := range installs {
		webhooks := chartWebhooks(t, install.values)
		for _, c := range modeCases {
			t.Run(install.name+": "+c.name, func(t *testing.T) {
				got, report := modeOf(t, webhooks, c)
				if report.ModesFrom != "webhook" {
					t.Fatalf("modes come from %q, want webhook", report.ModesFrom)
				}
				if want := install.want(c); got != want {
					t.Errorf("mode %s, want %s", got, want)
				}
			})
		}
	}
}

func TestWithoutWebhooksTheFlagsResolveModesAsTheChartWould(t *testing.T) {
	for _, install := range installs {
		for _, c := range modeCases {
			t.Run(install.name+": "+c.name, func(t *testing.T) {
				got, report := modeOf(t, nil, c, install.flags...)
				if report.ModesFrom != "flags" {
					t.Fatalf("modes come from %q, want flags", report.ModesFrom)
				}
				if want := install.want(c); got != want {
					t.Errorf("mode %s, want %s", got, want)
				}
			})
		}
	}
}

func TestNamespacesTheChartExemptsAreNotScanned(t *testing.T) {
	webhooks := chartWebhooks(t, map[string]any{"exemptNamespaces": []any{"legacy-apps"}})
	for _, ns := range []string{"legacy-apps", "gracekeeper"} {
		_, report := modeOf(t, webhooks, modeCase{namespace: ns, label: "enforce"})
		if got := report.Namespaces[0]; !got.Excluded || got.Mode != policies.ModeOff {
			t.Errorf("namespace %s: excluded %t, mode %s; want excluded and off (the selectors name it in NotIn)", ns, got.Excluded, got.Mode)
		}
	}
}

func TestDisagreeingConfigurationsAreNoted(t *testing.T) {
	optIn, cluster := chartWebhooks(t, nil), chartWebhooks(t, map[string]any{"scope": "cluster"})
	mode, report := modeOf(t, []runtime.Object{optIn[0], cluster[1]}, modeCase{namespace: "plain"})
	if mode != policies.ModeOff {
		t.Errorf("the report follows the mutating configuration (opt-in: off), got %s", mode)
	}
	want := "namespace plain: mutatingwebhookconfiguration/gracekeeper puts it in off mode, validatingwebhookconfiguration/gracekeeper in enforce mode; the report shows the first"
	if len(report.Notes) != 1 || report.Notes[0] != want {
		t.Errorf("notes %q, want %q", report.Notes, want)
	}
}
