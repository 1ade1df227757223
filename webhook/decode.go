package webhook

import (
	"bytes"
	"fmt"

	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	sigsjson "sigs.k8s.io/json"

	"github.com/gracekeeper/gracekeeper/policies"
)

// resource is what a request addresses: a resource and a subresource.
type resource struct {
	group, resource, subResource string
}

// target says how to decode the objects of one resource for the engine.
type target struct {
	// kind is the kind the engine judges: the parent's for a subresource.
	kind string
	// object is the kind of the objects the request carries, and new returns
	// one to decode them into.
	object schema.GroupVersionKind
	new    func() runtime.Object
}

var (
	podGVK        = corev1.SchemeGroupVersion.WithKind("Pod")
	namespaceGVK  = corev1.SchemeGroupVersion.WithKind("Namespace")
	deploymentGVK = appsv1.SchemeGroupVersion.WithKind("Deployment")
	statefulGVK   = appsv1.SchemeGroupVersion.WithKind("StatefulSet")
	daemonGVK     = appsv1.SchemeGroupVersion.WithKind("DaemonSet")
	scaleGVK      = autoscalingv1.SchemeGroupVersion.WithKind("Scale")
)

// workloadTargets are served on the mutate and validate paths. A scale
// subresource carries an autoscaling/v1 Scale, never the parent object: a
// typed decoder would silently turn it into an empty Deployment.
var workloadTargets = map[resource]target{
	{"", "pods", ""}:                  {"Pod", podGVK, func() runtime.Object { return &corev1.Pod{} }},
	{"apps", "deployments", ""}:       {"Deployment", deploymentGVK, func() runtime.Object { return &appsv1.Deployment{} }},
	{"apps", "statefulsets", ""}:      {"StatefulSet", statefulGVK, func() runtime.Object { return &appsv1.StatefulSet{} }},
	{"apps", "daemonsets", ""}:        {"DaemonSet", daemonGVK, func() runtime.Object { return &appsv1.DaemonSet{} }},
	{"apps", "deployments", "scale"}:  {"Deployment", scaleGVK, func() runtime.Object { return &autoscalingv1.Scale{} }},
	{"apps", "statefulsets", "scale"}: {"StatefulSet", scaleGVK, func() runtime.Object { return &autoscalingv1.Scale{} }},
}

// namespaceTargets are served on the /validate/namespaces path only.
var namespaceTargets = map[resource]target{
	{"", "namespaces", ""}: {"Namespace", namespaceGVK, func() runtime.Object { return &corev1.Namespace{} }},
}

// targetOf finds how to decode a request. It reads the request's kind and
// resource, the ones the API server converted the objects to, not
// requestKind/requestResource, which name what the client sent. A resource
// in another version than the one gracekeeper decodes is not handled.
func targetOf(targets map[resource]target, req *admissionv1.AdmissionRequest) (target, bool) {
	t, ok := targets[resource{req.Resource.Group, req.Resource.Resource, req.SubResource}]
	if !ok || req.Kind.Group != t.object.Group || req.Kind.Version != t.object.Version || req.Kind.Kind != t.object.Kind {
		return target{}, false
	}
	return t, true
}

// decodeReview turns an admission request into the engine's typed review.
// Object and OldObject stay nil when the request carries none (DELETE has
// no new object, CREATE no old one): never a typed nil.
func decodeReview(req *admissionv1.AdmissionRequest, t target) (*policies.Review, error) {
	r := &policies.Review{
		Operation:   policies.Operation(req.Operation),
		Kind:        t.kind,
		SubResource: req.SubResource,
		Namespace:   req.Namespace,
		Name:        req.Name,
		User:        policies.UserInfo{Username: req.UserInfo.Username, Groups: req.UserInfo.Groups},
		DryRun:      req.DryRun != nil && *req.DryRun,
	}
	var err error
	if r.Object, err = decodeObject(req.Object.Raw, t); err != nil {
		return nil, fmt.Errorf("decode object: %w", err)
	}
	if r.OldObject, err = decodeObject(req.OldObject.Raw, t); err != nil {
		return nil, fmt.Errorf("decode oldObject: %w", err)
	}
	if req.Operation == admissionv1.Delete && !absent(req.Options.Raw) {
		r.DeleteOptions = &metav1.DeleteOptions{}
		if err := sigsjson.UnmarshalCaseSensitivePreserveInts(req.Options.Raw, r.DeleteOptions); err != nil {
			return nil, fmt.Errorf("decode DELETE options: %w", err)
		}
	}
	return r, nil
}

// decodeObject decodes raw into the target's type, as the API server does:
// case-sensitive, and ignoring fields newer than the compiled k8s.io/api.
// An object that names another kind is refused rather than read as this one.
func decodeObject(raw []byte, t target) (runtime.Object, error) {
	if absent(raw) {
		return nil, nil
	}
	// The kind is decoded with the object, in one pass: JSON decoding is
	// most of what a review costs. Only an object that does not decode is
	// read again, for a kind that would explain why.
	obj := t.new()
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(raw, obj); err != nil {
		var meta metav1.TypeMeta
		if sigsjson.UnmarshalCaseSensitivePreserveInts(raw, &meta) == nil {
			if err := checkObjectKind(meta.GroupVersionKind(), t); err != nil {
				return nil, err
			}
		}
		return nil, err
	}
	if err := checkObjectKind(obj.GetObjectKind().GroupVersionKind(), t); err != nil {
		return nil, err
	}
	return obj, nil
}

// checkObjectKind refuses an object that names another kind than the
// target's; one that names none is read as the target's.
func checkObjectKind(got schema.GroupVersionKind, t target) error {
	if !got.Empty() && got != t.object {
		return fmt.Errorf("object is %s, want %s", formatGVK(got), formatGVK(t.object))
	}
	return nil
}

func absent(raw []byte) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}

// formatGVK spells a kind as in an apiVersion field: "apps/v1 Deployment", "v1 Pod".
func formatGVK(gvk schema.GroupVersionKind) string {
	return gvk.GroupVersion().String() + " " + gvk.Kind
}
