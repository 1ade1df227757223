package deploy

import (
	"encoding/json"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/gracekeeper/gracekeeper/policies"
	"github.com/gracekeeper/gracekeeper/policies/api/v1alpha1"
)

// gracekeeper's own install must pass gracekeeper: every workload the chart
// renders is evaluated as `gracekeeper check --strict` would, with the
// configuration the chart itself ships, loaded by the binary's own loader.
func TestEveryRenderedWorkloadPassesGracekeeperCheck(t *testing.T) {
	for name, values := range valueSets {
		t.Run(name, func(t *testing.T) {
			objs := render(t, "gracekeeper", values)
			cm := find[corev1.ConfigMap](t, objs, "ConfigMap", "gracekeeper-config")
			cfg, err := v1alpha1.Parse([]byte(cm.Data["config.yaml"]))
			if err != nil {
				t.Fatalf("the chart's config.yaml is rejected by the binary: %v", err)
			}
			engine, err := policies.New(cfg, "v1.33.0")
			if err != nil {
				t.Fatal(err)
			}
			checked := 0
			for _, obj := range objs {
				data, err := json.Marshal(obj.Object)
				if err != nil {
					t.Fatal(err)
				}
				typed, err := policies.Decode(obj.GroupVersionKind(), data)
				if errors.Is(err, policies.ErrUnknownKind) {
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				findings := engine.Evaluate(&policies.Review{Operation: policies.Create, Kind: obj.GetKind(),
					Namespace: obj.GetNamespace(), Name: obj.GetName(), Object: typed})
				for _, f := range findings {
					t.Errorf("%s %s: %s %s: %s", obj.GetKind(), obj.GetName(), f.Action, f.Rule, f.Message)
				}
				checked++
			}
			if checked == 0 {
				t.Fatal("no workload was rendered")
			}
		})
	}
}
