package policies

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The table's accessors are read by the rules; a wrong template path would
// make every pod patch of that kind miss. Each kind's template path must
// address the template its accessor returns.
func TestEveryKindsTemplatePathAddressesItsTemplate(t *testing.T) {
	for _, k := range Kinds() {
		if k.template == nil {
			continue
		}
		t.Run(k.GVK.Kind, func(t *testing.T) {
			obj := k.new()
			k.template(obj).Spec.ServiceAccountName = "marker"
			data, err := json.Marshal(obj)
			if err != nil {
				t.Fatal(err)
			}
			patched, err := applyPatch(data, []PatchOp{replace(k.templatePath+"/spec/serviceAccountName", "moved")})
			if err != nil {
				t.Fatalf("template path %s does not address a template: %v", k.templatePath, err)
			}
			got, err := Decode(k.GVK, patched)
			if err != nil {
				t.Fatal(err)
			}
			if name := k.template(got).Spec.ServiceAccountName; name != "moved" {
				t.Errorf("a patch at %s changed something else: the template's serviceAccountName is %q", k.templatePath, name)
			}
		})
	}
}

func TestKindsAreListedOnce(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range Kinds() {
		for _, key := range []string{k.GVK.String(), k.GVK.Group + "/" + k.Resource, reflect.TypeOf(k.new()).String()} {
			if seen[key] {
				t.Errorf("%s is in the table twice", key)
			}
			seen[key] = true
		}
		if got, ok := KindOf(k.GVK); !ok || got.Resource != k.Resource {
			t.Errorf("KindOf(%s) = %v, %v", k.GVK, got.Resource, ok)
		}
		if kindOf(k.new()).GVK != k.GVK {
			t.Errorf("kindOf(%T) is not %s", k.new(), k.GVK)
		}
		if k.Scale && k.replicas == nil {
			t.Errorf("%s serves a scale subresource but has no replicas accessor for scale-to-zero", k.GVK)
		}
	}
}

func TestDecodeReadsAsTheAPIServerDoes(t *testing.T) {
	deploymentGVK := appsv1.SchemeGroupVersion.WithKind("Deployment")
	tests := map[string]struct {
		gvk  schema.GroupVersionKind
		json string
		// check inspects the decoded object; err is a substring of the error.
		check func(t *testing.T, obj any)
		err   string
	}{
		"A field name in another case is ignored, as the API server ignores it, not read as the field": {
			gvk:  deploymentGVK,
			json: `{"apiVersion":"apps/v1","kind":"Deployment","spec":{"Strategy":{"type":"Recreate"}}}`,
			check: func(t *testing.T, obj any) {
				if s := obj.(*appsv1.Deployment).Spec.Strategy.Type; s != "" {
					t.Errorf("strategy = %q, want none: Strategy is not strategy", s)
				}
			},
		},
		"A field newer than the compiled API is ignored": {
			gvk:  corev1.SchemeGroupVersion.WithKind("Pod"),
			json: `{"apiVersion":"v1","kind":"Pod","spec":{"futureField":{"on":true},"containers":[{"name":"app"}]}}`,
			check: func(t *testing.T, obj any) {
				if c := obj.(*corev1.Pod).Spec.Containers; len(c) != 1 || c[0].Name != "app" {
					t.Errorf("containers = %+v, want [app]", c)
				}
			},
		},
		"An object naming no kind is read as the kind asked for": {
			gvk:  autoscalingv1.SchemeGroupVersion.WithKind("Scale"),
			json: `{"spec":{"replicas":2}}`,
			check: func(t *testing.T, obj any) {
				if r := obj.(*autoscalingv1.Scale).Spec.Replicas; r != 2 {
					t.Errorf("replicas = %d, want 2", r)
				}
			},
		},
		"A Scale is refused as a Deployment, not read as an empty one": {
			gvk:  deploymentGVK,
			json: `{"apiVersion":"autoscaling/v1","kind":"Scale","spec":{"replicas":0}}`,
			err:  "object is autoscaling/v1 Scale, want apps/v1 Deployment",
		},
		"An object of another kind that does not decode says its kind": {
			gvk:  deploymentGVK,
			json: `{"apiVersion":"v1","kind":"Pod","spec":{"replicas":"three"}}`,
			err:  "object is v1 Pod, want apps/v1 Deployment",
		},
		"A kind the engine does not read is ErrUnknownKind": {
			gvk:  schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"},
			json: `{"apiVersion":"v1","kind":"ConfigMap"}`,
			err:  "gracekeeper reads no objects of this kind: v1 ConfigMap",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			obj, err := Decode(tt.gvk, []byte(tt.json))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Decode error = %v, want one saying %q", err, tt.err)
				}
				if strings.Contains(tt.err, "ConfigMap") && !errors.Is(err, ErrUnknownKind) {
					t.Errorf("error %v is not ErrUnknownKind", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, obj)
		})
	}
}
