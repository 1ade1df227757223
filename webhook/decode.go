package webhook

import (
	"bytes"
	"fmt"
	"slices"

	admissionv1 "k8s.io/api/admission/v1"
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
	kind policies.Kind
	// object is the kind of the objects the request carries.
	object schema.GroupVersionKind
}

// targetsOf lists the resources the paths of a route judge, from the
// engine's table of kinds. A scale subresource carries an autoscaling/v1
// Scale, never the parent object; an eviction a policy/v1 Eviction.
func targetsOf(route policies.Route) map[resource]target {
	targets := map[resource]target{}
	for _, k := range policies.Kinds() {
		if !slices.Contains(k.Routes, route) {
			continue
		}
		targets[resource{k.GVK.Group, k.Resource, ""}] = target{k, k.GVK}
		if k.Scale {
			targets[resource{k.GVK.Group, k.Resource, "scale"}] = target{k, policies.ScaleGVK}
		}
		if k.Evict {
			targets[resource{k.GVK.Group, k.Resource, "eviction"}] = target{k, policies.EvictionGVK}
		}
	}
	return targets
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
		Kind:        t.kind.GVK.Kind,
		SubResource: req.SubResource,
		Namespace:   req.Namespace,
		Name:        req.Name,
		User:        policies.UserInfo{Username: req.UserInfo.Username, Groups: req.UserInfo.Groups},
		DryRun:      req.DryRun != nil && *req.DryRun,
	}
	// A pod spec past the bound is answered without being decoded: 178,000
	// containers would take 70 MB as Go structs.
	for _, raw := range [][]byte{req.Object.Raw, req.OldObject.Raw} {
		if err := policies.TooManyContainers(t.kind.GVK.Kind, req.Name, countContainers(raw)); err != nil {
			return nil, err
		}
	}
	var err error
	if r.Object, err = decodeObject(req.Object.Raw, t); err != nil {
		return nil, fmt.Errorf("decode object: %w", err)
	}
	if r.OldObject, err = decodeObject(req.OldObject.Raw, t); err != nil {
		return nil, fmt.Errorf("decode oldObject: %w", err)
	}
	if req.Operation != admissionv1.Delete && !absent(req.Options.Raw) {
		// CreateOptions or UpdateOptions (a PATCH arrives as UPDATE with
		// UpdateOptions). Only the field manager is read, for change-cause's
		// "via": options that do not decode name none.
		var options struct {
			FieldManager string `json:"fieldManager"`
		}
		if sigsjson.UnmarshalCaseSensitivePreserveInts(req.Options.Raw, &options) == nil {
			r.FieldManager = options.FieldManager
		}
	}
	if req.Operation == admissionv1.Delete && !absent(req.Options.Raw) {
		r.DeleteOptions = &metav1.DeleteOptions{}
		if err := sigsjson.UnmarshalCaseSensitivePreserveInts(req.Options.Raw, r.DeleteOptions); err != nil {
			return nil, fmt.Errorf("decode DELETE options: %w", err)
		}
	}
	return r, nil
}

// decodeObject decodes raw into the target's type, as the API server does;
// an absent object is nil.
func decodeObject(raw []byte, t target) (runtime.Object, error) {
	if absent(raw) {
		return nil, nil
	}
	return policies.Decode(t.object, raw)
}

// podSpecShape and objectShape are what countContainers decodes: the
// containers of a Pod's spec and of a template (spec.template, and a
// CronJob's spec.jobTemplate.spec.template), as elements that take no memory.
type podSpecShape struct {
	Containers          []struct{} `json:"containers"`
	InitContainers      []struct{} `json:"initContainers"`
	EphemeralContainers []struct{} `json:"ephemeralContainers"`
}

type templateShape struct {
	Spec podSpecShape `json:"spec"`
}

type objectShape struct {
	Spec struct {
		podSpecShape
		Template    templateShape `json:"template"`
		JobTemplate struct {
			Spec struct {
				Template templateShape `json:"template"`
			} `json:"spec"`
		} `json:"jobTemplate"`
	} `json:"spec"`
}

// countContainers counts the containers of an object's pod spec without
// decoding them; 0 when it has none or does not decode (decodeObject says why).
func countContainers(raw []byte) int {
	if absent(raw) {
		return 0
	}
	var shape objectShape
	if sigsjson.UnmarshalCaseSensitivePreserveInts(raw, &shape) != nil {
		return 0
	}
	count := func(s podSpecShape) int {
		return len(s.Containers) + len(s.InitContainers) + len(s.EphemeralContainers)
	}
	spec := shape.Spec
	return max(count(spec.podSpecShape), count(spec.Template.Spec), count(spec.JobTemplate.Spec.Template.Spec))
}

func absent(raw []byte) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}
