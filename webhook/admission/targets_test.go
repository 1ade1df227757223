package admission

import (
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gracekeeper/gracekeeper/policies"
)

func TestTargetOfDecodesEachResourceAsTheAPIServerSendsIt(t *testing.T) {
	deployment := schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	tests := []struct {
		entry           EntryName
		group, resource string
		sub             string
		kind            schema.GroupVersionKind
		wantOK          bool
		wantKind        string
		wantObject      schema.GroupVersionKind
	}{
		{EntryValidate, "apps", "deployments", "", deployment, true, "Deployment", deployment},
		// kubectl scale: a Scale, judged as its Deployment.
		{EntryValidate, "apps", "deployments", "scale", policies.ScaleGVK, true, "Deployment", policies.ScaleGVK},
		{EntryValidate, "apps", "replicasets", "scale", policies.ScaleGVK, true, "ReplicaSet", policies.ScaleGVK},
		{EntryValidate, "argoproj.io", "rollouts", "scale", policies.ScaleGVK, true, policies.RolloutGVK.Kind, policies.ScaleGVK},
		// kubectl drain: an Eviction, judged as its Pod.
		{EntryValidate, "", "pods", "eviction", policies.EvictionGVK, true, "Pod", policies.EvictionGVK},
		// A Scale sent as the object itself, or the object in another version, is not handled.
		{EntryValidate, "apps", "deployments", "scale", deployment, false, "", schema.GroupVersionKind{}},
		{EntryValidate, "apps", "deployments", "", schema.GroupVersionKind{Group: "apps", Version: "v1beta2", Kind: "Deployment"}, false, "", schema.GroupVersionKind{}},
		// What an entry does not receive is not handled there.
		{EntryValidate, "apps", "deployments", "status", deployment, false, "", schema.GroupVersionKind{}},
		{EntryValidate, "batch", "jobs", "", schema.GroupVersionKind{Group: "batch", Version: "v1", Kind: "Job"}, false, "", schema.GroupVersionKind{}},
		{EntryMutate, "apps", "deployments", "scale", policies.ScaleGVK, false, "", schema.GroupVersionKind{}},
		{EntryMutate, "apps", "replicasets", "", schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "ReplicaSet"}, false, "", schema.GroupVersionKind{}},
		{EntryMutate, "", "pods", "", schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, true, "Pod", schema.GroupVersionKind{Version: "v1", Kind: "Pod"}},
		{EntryNamespaces, "", "namespaces", "", schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, true, "Namespace", schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}},
		{EntryNamespaces, "", "pods", "", schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, false, "", schema.GroupVersionKind{}},
	}
	for _, tt := range tests {
		e, _ := EntryOf(tt.entry)
		req := &admissionv1.AdmissionRequest{
			Kind:        metav1.GroupVersionKind(tt.kind),
			Resource:    metav1.GroupVersionResource{Group: tt.group, Version: tt.kind.Version, Resource: tt.resource},
			SubResource: tt.sub,
		}
		got, ok := targetOf(targetsOf(e), req)
		if ok != tt.wantOK || got.kind.GVK.Kind != tt.wantKind || got.object != tt.wantObject {
			t.Errorf("%s: %s %s/%s as %s = (%s, %s, %v), want (%s, %s, %v)", tt.entry, tt.group, tt.resource, tt.sub, tt.kind,
				got.kind.GVK.Kind, got.object, ok, tt.wantKind, tt.wantObject, tt.wantOK)
		}
	}
}
