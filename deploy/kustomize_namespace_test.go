package deploy

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/gracekeeper/gracekeeper/policies/policytest"
)

// kustomize's namespace: field moves metadata.namespace, the webhook
// configurations' Service namespace and the ClusterRoleBinding's subjects,
// but not a namespace inside a string: the certificate's DNS names,
// --tls-server-names, cert-manager's inject-ca-from, or the own-namespace
// exclusion of the webhook configurations. TLS would then fail and the
// webhook fail open. deploy/kustomize/namespace is a ReplacementTransformer
// that moves every such field; an overlay lists it under transformers:, which
// runs after its namespace: field (a component's replacements run before it,
// and would copy the old namespace).
//
// The replacements are generated, not written: the chart is rendered in two
// namespaces, and every field that differs, apart from metadata.namespace, is
// one the transformer must move.

const namespaceKustomization = `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - replacements.yaml
`

// checksumPath is the pod template's hash of the ConfigMap, which holds the
// namespace; it only rolls the pods when the configuration changes, so the
// overlay keeps the base's.
const checksumPath = "spec.template.metadata.annotations.checksum/config"

// probeNamespace differs from kustomizeNamespace and appears nowhere else.
const probeNamespace = "nsprobe"

type replacementTarget struct {
	Select struct {
		Kind string `json:"kind"`
		Name string `json:"name"`
	} `json:"select"`
	FieldPaths []string           `json:"fieldPaths"`
	Options    *replacementOption `json:"options,omitempty"`
}

type replacementOption struct {
	Delimiter string `json:"delimiter"`
	Index     int    `json:"index"`
}

// namespaceReplacements is the ReplacementTransformer that copies the
// Service's namespace into every namespace-bound field.
func namespaceReplacements(t *testing.T) []byte {
	t.Helper()
	base := kustomizeObjects(t, kustomizeNamespace)
	probe := kustomizeObjects(t, probeNamespace)
	if len(base) != len(probe) {
		t.Fatalf("the chart renders %d objects in one namespace and %d in another", len(base), len(probe))
	}
	var targets []replacementTarget
	for i, obj := range base {
		if obj.GetKind() == "Namespace" {
			continue // kustomize renames it with the namespace: field.
		}
		for _, d := range stringDiffs(obj.Object, probe[i].Object, "") {
			if d.path == "metadata.namespace" || d.path == checksumPath {
				continue
			}
			target := replacementTarget{FieldPaths: []string{d.path}}
			target.Select.Kind, target.Select.Name = obj.GetKind(), obj.GetName()
			if d.old != kustomizeNamespace {
				opt, err := namespaceToken(d.old, d.new)
				if err != nil {
					t.Fatalf("%s %s %s: %v", obj.GetKind(), obj.GetName(), d.path, err)
				}
				target.Options = opt
			}
			targets = append(targets, target)
		}
	}
	doc := map[string]any{
		"apiVersion": "builtin",
		"kind":       "ReplacementTransformer",
		"metadata":   map[string]any{"name": "gracekeeper-namespace"},
		"replacements": []any{map[string]any{
			"source":  map[string]any{"kind": "Service", "name": ReleaseName, "fieldPath": "metadata.namespace"},
			"targets": targets,
		}},
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type stringDiff struct{ path, old, new string }

// stringDiffs walks two renders of one object and returns the string fields
// that differ, with their kustomize field paths: list entries by name or key
// when they have one, by index otherwise; keys with dots in brackets.
func stringDiffs(a, b any, prefix string) []stringDiff {
	join := func(elem string) string {
		if prefix == "" {
			return elem
		}
		return prefix + "." + elem
	}
	switch a := a.(type) {
	case map[string]any:
		bm, _ := b.(map[string]any)
		var out []stringDiff
		for _, k := range slices.Sorted(maps.Keys(a)) {
			elem := k
			if strings.Contains(k, ".") {
				elem = "[" + k + "]"
			}
			out = append(out, stringDiffs(a[k], bm[k], join(elem))...)
		}
		return out
	case []any:
		bl, _ := b.([]any)
		var out []stringDiff
		for i, item := range a {
			elem := fmt.Sprint(i)
			if m, ok := item.(map[string]any); ok {
				for _, key := range []string{"name", "key"} {
					if v, ok := m[key].(string); ok {
						elem = "[" + key + "=" + v + "]"
						break
					}
				}
			}
			var other any
			if i < len(bl) {
				other = bl[i]
			}
			out = append(out, stringDiffs(item, other, join(elem))...)
		}
		return out
	case string:
		if bs, _ := b.(string); bs != a {
			return []stringDiff{{path: prefix, old: a, new: bs}}
		}
	}
	return nil
}

// namespaceToken finds the one delimited token of old that is the namespace.
func namespaceToken(old, new string) (*replacementOption, error) {
	for _, delim := range []string{".", "/", "="} {
		o, n := strings.Split(old, delim), strings.Split(new, delim)
		if len(o) != len(n) {
			continue
		}
		var differ []int
		for i := range o {
			if o[i] != n[i] {
				differ = append(differ, i)
			}
		}
		if len(differ) == 1 && o[differ[0]] == kustomizeNamespace && n[differ[0]] == probeNamespace {
			return &replacementOption{Delimiter: delim, Index: differ[0]}, nil
		}
	}
	return nil, fmt.Errorf("%q holds the namespace in a way no delimiter isolates (it became %q)", old, new)
}

// buildOverlay builds an overlay of the embedded base, whose
// kustomization.yaml is kustomization.
func buildOverlay(t *testing.T, kustomization string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := renderKustomize("overlay", map[string]string{"/overlay/kustomization.yaml": kustomization})
	if err != nil {
		t.Fatalf("%v\n%s", err, kustomization)
	}
	return objs
}

// An overlay that sets namespace: and lists the transformer builds exactly
// what the chart renders in that namespace; without the transformer, it
// does not (the half-moved install the transformer exists for).
func TestKustomizeNamespaceOverlayMovesEveryNamespaceBoundField(t *testing.T) {
	if policytest.UpdatingGolden() {
		t.Skip("the embedded base predates this regeneration; run again without UPDATE_GOLDEN")
	}
	const ns = "platform-admission"
	chart := kustomizeObjects(t, ns)
	for _, obj := range chart {
		if obj.GetKind() == "Deployment" {
			unstructured.SetNestedField(obj.Object, checksum(t), strings.Split(checksumPath, ".")...)
		}
	}
	want := byID(t, chart)
	assertSameObjects(t, "the overlay in "+ns, byID(t, buildOverlay(t, "namespace: "+ns+"\nresources: [../kustomize]\ntransformers: [../kustomize/namespace]\n")), "the chart rendered there", want)

	halfMoved := byID(t, buildOverlay(t, "namespace: "+ns+"\nresources: [../kustomize]\n"))
	if reflect.DeepEqual(halfMoved, want) {
		t.Error("namespace: alone moved every field; the transformer is not needed, or the test cannot see what it moves")
	}
	// The names the serving certificate is issued for (builtin, the default)
	// stay behind without it, so TLS would fail.
	deployment, _ := yaml.Marshal(halfMoved["Deployment/"+ns+"/gracekeeper"])
	if !strings.Contains(string(deployment), "--tls-server-names=gracekeeper.gracekeeper.svc") {
		t.Errorf("without the transformer the serving certificate's names moved:\n%s", deployment)
	}
}

// checksum is the base's pod template hash.
func checksum(t *testing.T) string {
	t.Helper()
	for _, obj := range kustomizeObjects(t, kustomizeNamespace) {
		if obj.GetKind() == "Deployment" {
			v, _, _ := unstructured.NestedString(obj.Object, strings.Split(checksumPath, ".")...)
			return v
		}
	}
	t.Fatal("no Deployment")
	return ""
}
