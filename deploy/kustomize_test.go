package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/gracekeeper/gracekeeper/policies/policytest"
)

// The kustomize base is generated from the chart's default render, so the two
// cannot drift apart. UPDATE_GOLDEN=1 go test ./deploy -run TestKustomizeBase
// rewrites it.

const kustomizeNamespace = "gracekeeper"

// kustomizeFile groups the base's objects into files by kind.
var kustomizeFile = map[string]string{
	"Namespace":                      "namespace.yaml",
	"ResourceQuota":                  "namespace.yaml",
	"ServiceAccount":                 "serviceaccount.yaml",
	"ClusterRole":                    "serviceaccount.yaml",
	"ClusterRoleBinding":             "serviceaccount.yaml",
	"Role":                           "serviceaccount.yaml",
	"RoleBinding":                    "serviceaccount.yaml",
	"Secret":                         "certificates.yaml",
	"ConfigMap":                      "configmap.yaml",
	"Deployment":                     "deployment.yaml",
	"Service":                        "deployment.yaml",
	"PodDisruptionBudget":            "deployment.yaml",
	"Issuer":                         "certificates.yaml",
	"Certificate":                    "certificates.yaml",
	"MutatingWebhookConfiguration":   "webhooks.yaml",
	"ValidatingWebhookConfiguration": "webhooks.yaml",
}

// helmOnlyLabels are the labels that say Helm manages an object; the
// kustomize base must not claim that.
var helmOnlyLabels = []string{"helm.sh/chart", "app.kubernetes.io/managed-by"}

// kustomizeObjects is what the base must build to: the chart's default release
// objects without hooks or Helm's labels, plus the Namespace, which Helm
// leaves to --create-namespace.
func kustomizeObjects(t *testing.T, namespace string) []*unstructured.Unstructured {
	t.Helper()
	rendered, err := RenderChart(namespace, nil)
	if err != nil {
		t.Fatal(err)
	}
	ns := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1",
		"kind":       "Namespace",
		"metadata": map[string]any{
			"name": namespace,
			"labels": map[string]any{
				"app.kubernetes.io/part-of": "gracekeeper",
				// gracekeeper's own pods meet the restricted profile.
				"pod-security.kubernetes.io/enforce": "restricted",
			},
		},
	}}
	objs := []*unstructured.Unstructured{ns}
	for _, obj := range rendered {
		if IsHook(obj) {
			continue
		}
		obj = obj.DeepCopy()
		labels := obj.GetLabels()
		for _, l := range helmOnlyLabels {
			delete(labels, l)
		}
		obj.SetLabels(labels)
		objs = append(objs, obj)
	}
	return objs
}

// kustomizeBase renders the files of the kustomize base.
func kustomizeBase(t *testing.T) map[string][]byte {
	t.Helper()
	header := "# Generated from the Helm chart in deploy/helm/gracekeeper with its default\n" +
		"# values; do not edit. Regenerate: UPDATE_GOLDEN=1 go test ./deploy -run TestKustomizeBase\n"
	files := map[string][]byte{}
	var order []string
	for _, obj := range kustomizeObjects(t, kustomizeNamespace) {
		name, ok := kustomizeFile[obj.GetKind()]
		if !ok {
			t.Fatalf("kind %s has no file in the kustomize base: add it to kustomizeFile", obj.GetKind())
		}
		doc, err := yaml.Marshal(obj.Object)
		if err != nil {
			t.Fatal(err)
		}
		if _, seen := files[name]; !seen {
			order = append(order, name)
			files[name] = []byte(header)
		}
		files[name] = append(files[name], append([]byte("---\n"), doc...)...)
	}
	var kustomization bytes.Buffer
	kustomization.WriteString(header)
	kustomization.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n")
	for _, name := range order {
		fmt.Fprintf(&kustomization, "  - %s\n", name)
	}
	files["kustomization.yaml"] = kustomization.Bytes()
	files["namespace/kustomization.yaml"] = []byte(header + namespaceKustomization)
	files["namespace/replacements.yaml"] = append([]byte(header), namespaceReplacements(t)...)
	return files
}

func TestKustomizeBaseIsGeneratedFromTheChart(t *testing.T) {
	policytest.GoldenDir(t, KustomizeDir, kustomizeBase(t))
}

func TestKustomizeBaseBuildsTheChartsObjects(t *testing.T) {
	if policytest.UpdatingGolden() {
		t.Skip("the embedded base predates this regeneration; run again without UPDATE_GOLDEN")
	}
	built, err := RenderKustomize()
	if err != nil {
		t.Fatal(err)
	}
	assertSameObjects(t, "kustomize", byID(t, built), "the chart", byID(t, kustomizeObjects(t, kustomizeNamespace)))

	// The webhook configurations are what the e2e suite registers from the
	// chart, so check them on their own as well, as typed objects.
	kMutating, kValidating, err := WebhookConfigurations(built)
	if err != nil {
		t.Fatal(err)
	}
	chart, err := RenderChart(kustomizeNamespace, nil)
	if err != nil {
		t.Fatal(err)
	}
	cMutating, cValidating, err := WebhookConfigurations(chart)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(kMutating.Webhooks, cMutating.Webhooks) {
		t.Error("the kustomize base's mutating webhooks differ from the chart's")
	}
	if !reflect.DeepEqual(kValidating.Webhooks, cValidating.Webhooks) {
		t.Error("the kustomize base's validating webhooks differ from the chart's")
	}
	if !reflect.DeepEqual(kMutating.Annotations, cMutating.Annotations) || !reflect.DeepEqual(kValidating.Annotations, cValidating.Annotations) {
		t.Error("the kustomize base's webhook annotations (the CA injection) differ from the chart's")
	}
}

// assertSameObjects fails the test unless two sets of objects, indexed by
// byID, are equal.
func assertSameObjects(t *testing.T, gotName string, got map[string]any, wantName string, want map[string]any) {
	t.Helper()
	if !slices.Equal(sortedKeys(got), sortedKeys(want)) {
		t.Fatalf("%s builds %v, %s renders %v", gotName, sortedKeys(got), wantName, sortedKeys(want))
	}
	for id, w := range want {
		if !reflect.DeepEqual(got[id], w) {
			g, _ := yaml.Marshal(got[id])
			wy, _ := yaml.Marshal(w)
			t.Errorf("%s differs between %s and %s:\n%s:\n%s\n%s:\n%s", id, gotName, wantName, gotName, g, wantName, wy)
		}
	}
}

// byID indexes objects by kind, namespace and name, normalised through JSON
// so that numbers compare equal whichever decoder produced them.
func byID(t *testing.T, objs []*unstructured.Unstructured) map[string]any {
	t.Helper()
	out := map[string]any{}
	for _, obj := range objs {
		data, err := json.Marshal(obj.Object)
		if err != nil {
			t.Fatal(err)
		}
		var normalised any
		if err := json.Unmarshal(data, &normalised); err != nil {
			t.Fatal(err)
		}
		id := strings.Join([]string{obj.GetKind(), obj.GetNamespace(), obj.GetName()}, "/")
		if _, dup := out[id]; dup {
			t.Fatalf("%s appears twice", id)
		}
		out[id] = normalised
	}
	return out
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
