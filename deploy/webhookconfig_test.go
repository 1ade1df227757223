// Chart tests: the webhook configurations (selectors, paths, rules, failure policies,
// matchConditions).

package deploy

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gracekeeper/gracekeeper/policies"
	"github.com/gracekeeper/gracekeeper/webhook/admission"
)

// systemUsers and systemGroups are the actors the engine never judges; the
// chart's matchConditions must keep each of them away from the guards.
var systemUsers, systemGroups = policies.SystemActors()

func expr(key string, op metav1.LabelSelectorOperator, values ...string) metav1.LabelSelectorRequirement {
	return metav1.LabelSelectorRequirement{Key: key, Operator: op, Values: values}
}

func TestNamespaceSelectorsFollowScopeAndDefaultMode(t *testing.T) {
	systemNamespaces := []string{"kube-system", "kube-public", "kube-node-lease"}
	tests := []struct {
		name       string
		namespace  string
		values     string
		wantMode   map[string]metav1.LabelSelectorRequirement
		wantExempt []string
	}{
		{
			name:      "By default only namespaces labelled enforce or audit are covered, each by its own entry.",
			namespace: "gracekeeper",
			wantMode: map[string]metav1.LabelSelectorRequirement{
				"enforce": expr("gracekeeper.io/mode", metav1.LabelSelectorOpIn, "enforce"),
				"audit":   expr("gracekeeper.io/mode", metav1.LabelSelectorOpIn, "audit"),
			},
			wantExempt: append(systemNamespaces, "gracekeeper"),
		},
		{
			name:      "Cluster scope in enforce covers every namespace not labelled audit or off.",
			namespace: "gracekeeper",
			values:    "scope: cluster\ndefaultMode: enforce\n",
			wantMode: map[string]metav1.LabelSelectorRequirement{
				"enforce": expr("gracekeeper.io/mode", metav1.LabelSelectorOpNotIn, "audit", "off"),
				"audit":   expr("gracekeeper.io/mode", metav1.LabelSelectorOpIn, "audit"),
			},
			wantExempt: append(systemNamespaces, "gracekeeper"),
		},
		{
			name:      "Cluster scope in audit audits every namespace not labelled enforce or off.",
			namespace: "gracekeeper",
			values:    "scope: cluster\ndefaultMode: audit\n",
			wantMode: map[string]metav1.LabelSelectorRequirement{
				"enforce": expr("gracekeeper.io/mode", metav1.LabelSelectorOpIn, "enforce"),
				"audit":   expr("gracekeeper.io/mode", metav1.LabelSelectorOpNotIn, "enforce", "off"),
			},
			wantExempt: append(systemNamespaces, "gracekeeper"),
		},
		{
			name:      "defaultMode is ignored in opt-in scope.",
			namespace: "gracekeeper",
			values:    "scope: optIn\ndefaultMode: audit\n",
			wantMode: map[string]metav1.LabelSelectorRequirement{
				"enforce": expr("gracekeeper.io/mode", metav1.LabelSelectorOpIn, "enforce"),
				"audit":   expr("gracekeeper.io/mode", metav1.LabelSelectorOpIn, "audit"),
			},
			wantExempt: append(systemNamespaces, "gracekeeper"),
		},
		{
			name:      "Exempt namespaces join the system namespaces and the release namespace, each once.",
			namespace: "platform",
			values:    "exemptNamespaces: [ci, kube-system, monitoring]\n",
			wantMode: map[string]metav1.LabelSelectorRequirement{
				"enforce": expr("gracekeeper.io/mode", metav1.LabelSelectorOpIn, "enforce"),
				"audit":   expr("gracekeeper.io/mode", metav1.LabelSelectorOpIn, "audit"),
			},
			wantExempt: append(systemNamespaces, "platform", "ci", "monitoring"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mutating, validating := webhooks(t, render(t, tt.namespace, tt.values))
			check := func(name string, selector, objectSelector *metav1.LabelSelector, mode string) {
				t.Helper()
				want := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
					tt.wantMode[mode],
					expr("kubernetes.io/metadata.name", metav1.LabelSelectorOpNotIn, tt.wantExempt...),
				}}
				if !reflect.DeepEqual(selector, want) {
					t.Errorf("%s namespaceSelector = %v, want %v", name, selector, want)
				}
				if objectSelector != nil {
					t.Errorf("%s has an objectSelector %v, want none", name, objectSelector)
				}
			}
			for _, w := range mutating.Webhooks {
				check(w.Name, w.NamespaceSelector, w.ObjectSelector, strings.Split(w.Name, ".")[0])
			}
			for _, w := range validating.Webhooks {
				if w.Name == "namespaces.validate.gracekeeper.io" {
					// Matched against the namespace's own labels, so a typo in
					// the label must not make the entry skip it.
					if w.NamespaceSelector != nil {
						t.Errorf("%s has namespaceSelector %v, want none", w.Name, w.NamespaceSelector)
					}
					wantObject := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{expr("gracekeeper.io/mode", metav1.LabelSelectorOpExists)}}
					if !reflect.DeepEqual(w.ObjectSelector, wantObject) {
						t.Errorf("%s objectSelector = %v, want %v", w.Name, w.ObjectSelector, wantObject)
					}
					continue
				}
				check(w.Name, w.NamespaceSelector, w.ObjectSelector, strings.Split(w.Name, ".")[0])
			}
		})
	}
}

func TestWebhookEntriesRouteEachModeToItsPath(t *testing.T) {
	objs := render(t, "gracekeeper", "")
	mutating, validating := webhooks(t, objs)
	service := find[corev1.Service](t, objs, "Service", "gracekeeper")

	// The names and paths are the entry table's, in its order.
	type entry struct{ name, path string }
	var gotMutating, gotValidating, wantMutating, wantValidating []entry
	for _, w := range mutating.Webhooks {
		gotMutating = append(gotMutating, entry{w.Name, *w.ClientConfig.Service.Path})
	}
	for _, w := range validating.Webhooks {
		gotValidating = append(gotValidating, entry{w.Name, *w.ClientConfig.Service.Path})
	}
	entryOf := map[string]admission.Entry{}
	for _, p := range admission.Paths() {
		e := entry{p.Entry.WebhookName(p.Mode), p.Path}
		entryOf[e.name] = p.Entry
		if p.Entry.Webhook == admission.Mutating {
			wantMutating = append(wantMutating, e)
		} else {
			wantValidating = append(wantValidating, e)
		}
	}
	// What the API server calls: the table must name these.
	if want := []entry{{"enforce.mutate.gracekeeper.io", "/mutate/enforce"}, {"audit.mutate.gracekeeper.io", "/mutate/audit"}}; !reflect.DeepEqual(wantMutating, want) {
		t.Errorf("the entry table's mutating entries = %v, want %v", wantMutating, want)
	}
	if want := []entry{
		{"enforce.validate.gracekeeper.io", "/validate/enforce"},
		{"audit.validate.gracekeeper.io", "/validate/audit"},
		{"namespaces.validate.gracekeeper.io", "/validate/namespaces"},
	}; !reflect.DeepEqual(wantValidating, want) {
		t.Errorf("the entry table's validating entries = %v, want %v", wantValidating, want)
	}
	if !reflect.DeepEqual(gotMutating, wantMutating) {
		t.Errorf("mutating entries = %v, want %v", gotMutating, wantMutating)
	}
	if !reflect.DeepEqual(gotValidating, wantValidating) {
		t.Errorf("validating entries = %v, want %v", gotValidating, wantValidating)
	}

	checkCommon := func(name string, cc admissionregistrationv1.WebhookClientConfig, sideEffects *admissionregistrationv1.SideEffectClass, versions []string, matchPolicy *admissionregistrationv1.MatchPolicyType, timeout *int32) {
		t.Helper()
		s := cc.Service
		if s == nil || s.Name != service.Name || s.Namespace != service.Namespace || s.Port == nil || !servicePortTargets(service, *s.Port, "https") {
			t.Errorf("%s clientConfig.service = %+v, want the Service %s/%s on a port that targets https", name, s, service.Namespace, service.Name)
		}
		if sideEffects == nil || *sideEffects != admissionregistrationv1.SideEffectClassNone {
			t.Errorf("%s sideEffects = %v, want None: dry-run requests must reach it", name, sideEffects)
		}
		if !reflect.DeepEqual(versions, []string{"v1"}) {
			t.Errorf("%s admissionReviewVersions = %v, want [v1]", name, versions)
		}
		if matchPolicy == nil || *matchPolicy != admissionregistrationv1.Equivalent {
			t.Errorf("%s matchPolicy = %v, want Equivalent", name, matchPolicy)
		}
		if timeout == nil || *timeout != 5 {
			t.Errorf("%s timeoutSeconds = %v, want 5", name, timeout)
		}
	}
	for _, w := range mutating.Webhooks {
		checkCommon(w.Name, w.ClientConfig, w.SideEffects, w.AdmissionReviewVersions, w.MatchPolicy, w.TimeoutSeconds)
		if want := entryOf[w.Name].Rules(); !reflect.DeepEqual(w.Rules, want) {
			t.Errorf("%s rules = %+v, want the entry table's %+v", w.Name, w.Rules, want)
		}
		if w.ReinvocationPolicy == nil || *w.ReinvocationPolicy != admissionregistrationv1.IfNeededReinvocationPolicy {
			t.Errorf("%s reinvocationPolicy = %v, want IfNeeded", w.Name, w.ReinvocationPolicy)
		}
		// Its matchConditions are admission.MatchConditions (TestChartMatchConditionsFollowTheConfiguration);
		// that controller-created pods still reach it is proven in package admission
		// (TestMatchConditionsSkipGracefulObjects).
	}
	for _, w := range validating.Webhooks {
		checkCommon(w.Name, w.ClientConfig, w.SideEffects, w.AdmissionReviewVersions, w.MatchPolicy, w.TimeoutSeconds)
		if want := entryOf[w.Name].Rules(); !reflect.DeepEqual(w.Rules, want) {
			t.Errorf("%s rules = %+v, want the entry table's %+v", w.Name, w.Rules, want)
		}
		evictions := slices.ContainsFunc(w.MatchConditions, func(c admissionregistrationv1.MatchCondition) bool {
			return c.Name == "only-evictions-with-a-grace-override" && strings.Contains(c.Expression, "object.deleteOptions.gracePeriodSeconds")
		})
		getsEvictions := slices.ContainsFunc(w.Rules, func(r admissionregistrationv1.RuleWithOperations) bool {
			return slices.Contains(r.Resources, "pods/eviction")
		})
		if evictions != getsEvictions {
			t.Errorf("%s: an entry gets evictions exactly when it keeps those without a grace override away (%v)", w.Name, w.MatchConditions)
		}
	}
}

func TestFailurePoliciesAndTimeoutComeFromValues(t *testing.T) {
	ignore, fail := admissionregistrationv1.Ignore, admissionregistrationv1.Fail
	tests := []struct {
		name    string
		values  string
		want    map[string]admissionregistrationv1.FailurePolicyType
		timeout int32
	}{
		{
			name:    "By default every entry fails open.",
			want:    map[string]admissionregistrationv1.FailurePolicyType{"enforce.mutate": ignore, "audit.mutate": ignore, "enforce.validate": ignore, "audit.validate": ignore, "namespaces.validate": ignore},
			timeout: 5,
		},
		{
			name:    "Fail applies to the enforce entries and the namespace check, never to audit, which only warns.",
			values:  "failurePolicy: {mutating: Fail, validating: Fail, namespaces: Fail}\ntimeoutSeconds: 10\n",
			want:    map[string]admissionregistrationv1.FailurePolicyType{"enforce.mutate": fail, "audit.mutate": ignore, "enforce.validate": fail, "audit.validate": ignore, "namespaces.validate": fail},
			timeout: 10,
		},
		{
			name:    "Each configuration's policy is set on its own.",
			values:  "failurePolicy: {validating: Fail}\n",
			want:    map[string]admissionregistrationv1.FailurePolicyType{"enforce.mutate": ignore, "audit.mutate": ignore, "enforce.validate": fail, "audit.validate": ignore, "namespaces.validate": ignore},
			timeout: 5,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mutating, validating := webhooks(t, render(t, "gracekeeper", tt.values))
			got := map[string]admissionregistrationv1.FailurePolicyType{}
			var timeouts []int32
			for _, w := range mutating.Webhooks {
				got[strings.TrimSuffix(w.Name, ".gracekeeper.io")] = *w.FailurePolicy
				timeouts = append(timeouts, *w.TimeoutSeconds)
			}
			for _, w := range validating.Webhooks {
				got[strings.TrimSuffix(w.Name, ".gracekeeper.io")] = *w.FailurePolicy
				timeouts = append(timeouts, *w.TimeoutSeconds)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("failure policies = %v, want %v", got, tt.want)
			}
			for _, timeout := range timeouts {
				if timeout != tt.timeout {
					t.Errorf("timeoutSeconds = %v, want %d everywhere", timeouts, tt.timeout)
					break
				}
			}
		})
	}
}

func TestMatchConditionsKeepSystemActorsAwayFromTheGuards(t *testing.T) {
	tests := []struct {
		name       string
		values     string
		wantUsers  []string
		wantGroups []string
	}{
		{
			name:       "By default the kubelets, the controller manager and its named controllers are excluded.",
			wantUsers:  systemUsers,
			wantGroups: systemGroups,
		},
		{
			name:       "Exempt users and groups are excluded along with the system actors.",
			values:     "exemptUsers: [break-glass, \"o'brien\"]\nexemptGroups: [sre]\n",
			wantUsers:  append(slices.Clone(systemUsers), "break-glass", "o'brien"),
			wantGroups: append(slices.Clone(systemGroups), "sre"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, validating := webhooks(t, render(t, "gracekeeper", tt.values))
			for _, w := range validating.Webhooks {
				var all strings.Builder
				for _, c := range w.MatchConditions {
					if strings.HasPrefix(c.Name, "exclude-system-and-exempt-") {
						all.WriteString(c.Expression + "\n")
					}
				}
				expressions := all.String()
				for _, actor := range append(slices.Clone(tt.wantUsers), tt.wantGroups...) {
					if !strings.Contains(expressions, fmt.Sprintf("%q", actor)) {
						t.Errorf("%s matchConditions do not exclude %q:\n%s", w.Name, actor, expressions)
					}
				}
				// A blanket exclusion would also exempt add-ons and CI accounts in kube-system.
				for _, blanket := range []string{"kube-system:*", "startsWith", "matches("} {
					if strings.Contains(expressions, blanket) {
						t.Errorf("%s matchConditions contain %q, want an explicit list:\n%s", w.Name, blanket, expressions)
					}
				}
				if !strings.Contains(expressions, "request.userInfo.username") || !strings.Contains(expressions, "request.userInfo.groups") {
					t.Errorf("%s matchConditions do not test both the user and the groups:\n%s", w.Name, expressions)
				}
			}
		})
	}
}

func TestWebhookConfigurationsNeedsBoth(t *testing.T) {
	var withoutValidating []*unstructured.Unstructured
	for _, obj := range render(t, "gracekeeper", "") {
		if obj.GetKind() != "ValidatingWebhookConfiguration" {
			withoutValidating = append(withoutValidating, obj)
		}
	}
	if _, _, err := WebhookConfigurations(withoutValidating); err == nil || !strings.Contains(err.Error(), "validating false") {
		t.Errorf("error = %v, want one that says the validating configuration is missing", err)
	}
}
