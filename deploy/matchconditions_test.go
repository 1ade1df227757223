package deploy

import (
	"reflect"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/gracekeeper/gracekeeper/policies/api/v1alpha1"
	"github.com/gracekeeper/gracekeeper/webhook/admission"
)

// TestMatchConditionsTemplate fails when the chart's generated template is
// stale. UPDATE_GOLDEN=1 rewrites it.
func TestMatchConditionsTemplate(t *testing.T) {
	checkGenerated(t, MatchConditionsTemplatePath, MatchConditionsTemplate, "the matchConditions")
}

// TestChartMatchConditionsFollowTheConfiguration renders the chart with
// configurations that change what the expressions read, and wants on every
// entry exactly what admission.MatchConditions gives for the configuration the
// chart's ConfigMap carries.
func TestChartMatchConditionsFollowTheConfiguration(t *testing.T) {
	for name, values := range map[string]string{
		"defaults":                     "",
		"longer shutdown":              "terminationGracePeriodSeconds: 60\nconfig: {shutdownSeconds: 40}\n",
		"no shutdown time":             "config: {shutdownSeconds: 0}\n",
		"no owner kind skipped":        "config: {preStop: {skipOwnerKinds: []}}\n",
		"other owner kinds skipped":    "config: {preStop: {sleepSeconds: 10, skipOwnerKinds: [Job, Workflow]}}\n",
		"revision history minimum 0":   "config: {revisionHistory: {minimum: 0}}\n",
		"revision history minimum 10":  "config: {revisionHistory: {minimum: 10, action: warn}}\n",
		"break-glass users and groups": "exemptUsers: [break-glass, \"o'brien\"]\nexemptGroups: [sre, system:nodes]\n",
		"cluster scope":                "scope: cluster\nconfig: {shutdownSeconds: 5, recreate: convert}\n",
	} {
		t.Run(name, func(t *testing.T) {
			v := readValues(t, values)
			objs := render(t, "gracekeeper", values)
			cm := find[corev1.ConfigMap](t, objs, "ConfigMap", "gracekeeper-config")
			cfg, err := v1alpha1.Parse([]byte(cm.Data["config.yaml"]))
			if err != nil {
				t.Fatalf("the chart's configuration does not parse: %v", err)
			}
			users, _ := v["exemptUsers"].([]any)
			groups, _ := v["exemptGroups"].([]any)
			want := func(entry admission.EntryName) []admissionregistrationv1.MatchCondition {
				conditions, err := admission.MatchConditions(entry, cfg, stringList(users), stringList(groups))
				if err != nil {
					t.Fatal(err)
				}
				out := make([]admissionregistrationv1.MatchCondition, len(conditions))
				for i, c := range conditions {
					out[i] = admissionregistrationv1.MatchCondition{Name: c.Name, Expression: c.Expression}
				}
				return out
			}
			mutating, validating := webhooks(t, objs)
			for _, w := range mutating.Webhooks {
				if got := w.MatchConditions; !reflect.DeepEqual(got, want(admission.EntryMutate)) {
					t.Errorf("%s matchConditions\n%+v\nwant\n%+v", w.Name, got, want(admission.EntryMutate))
				}
			}
			for _, w := range validating.Webhooks {
				entry := admission.EntryValidate
				if w.Name == "namespaces.validate.gracekeeper.io" {
					entry = admission.EntryNamespaces
				}
				if got := w.MatchConditions; !reflect.DeepEqual(got, want(entry)) {
					t.Errorf("%s matchConditions\n%+v\nwant\n%+v", w.Name, got, want(entry))
				}
			}
		})
	}
}

func stringList(items []any) []string {
	out := make([]string, len(items))
	for i, item := range items {
		out[i] = item.(string)
	}
	return out
}
