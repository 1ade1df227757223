package webhook

import (
	"fmt"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestRequestsCannotGrowTheMetricsWithoutBound(t *testing.T) {
	fx := newFixture(t, "")
	const kinds = maxUnhandledKinds + 8
	for i := range kinds {
		r := request{op: admissionv1.Create, resource: "replicasets", object: `{apiVersion: apps/v1, kind: ReplicaSet, metadata: {name: web, namespace: shop}}`,
			kind: &metav1.GroupVersionKind{Group: "example.com", Version: "v1", Kind: fmt.Sprintf("Made%d", i)}}
		fx.review(t, PathValidateEnforce, r)
	}
	families, err := fx.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]int{}
	for _, family := range families {
		series[family.GetName()] = len(family.GetMetric())
		for _, m := range family.GetMetric() {
			for _, l := range m.GetLabel() {
				switch {
				case l.GetName() == "resource_namespace" && l.GetValue() != "":
					t.Errorf("%s has namespace %q: a label per namespace multiplies the histograms", family.GetName(), l.GetValue())
				case l.GetName() == "resource_kind" && l.GetValue() != "other":
					t.Errorf("%s has made-up kind %q, want other", family.GetName(), l.GetValue())
				}
			}
		}
	}
	if got := series["gracekeeper_unhandled_requests_total"]; got != maxUnhandledKinds+1 {
		t.Errorf("gracekeeper_unhandled_requests_total has %d series after %d made-up kinds, want %d and other", got, kinds, maxUnhandledKinds)
	}
	if got := fx.counter(t, "gracekeeper_unhandled_requests_total", "kind", "other"); got != kinds-maxUnhandledKinds {
		t.Errorf(`gracekeeper_unhandled_requests_total{kind="other"} = %v, want %d`, got, kinds-maxUnhandledKinds)
	}
	if got := series["kubewebhook_validating_webhook_review_duration_seconds"]; got != 1 {
		t.Errorf("kubewebhook_validating_webhook_review_duration_seconds has %d series, want 1", got)
	}
}
