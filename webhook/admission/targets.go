package admission

import (
	"slices"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

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
