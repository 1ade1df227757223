package policies

import (
	policyv1 "k8s.io/api/policy/v1"
)

// NeedsParent reports whether the answer to a subresource request depends on
// its parent object, which the request does not carry: an eviction with a
// grace override is judged by the state of its pod, and a /scale that a
// guard denies or warns about may be exempted by its workload's annotation,
// and a namespace DELETE is judged by what the namespace holds (a
// *NamespaceWorkloads).
// findings are the engine's findings without the parent. Only then does the
// webhook read the parent (Review.Parent) and evaluate again, so an ordinary
// eviction or scale costs no API read.
func NeedsParent(r *Review, findings []Finding) bool {
	if r.Parent != nil {
		return false
	}
	if r.SubResource == "" {
		// A namespace DELETE is judged by what the namespace holds.
		return r.Kind == "Namespace" && r.Operation == Delete && denies(findings)
	}
	if e, ok := r.Object.(*policyv1.Eviction); ok {
		return r.SubResource == "eviction" && e.DeleteOptions != nil && e.DeleteOptions.GracePeriodSeconds != nil
	}
	return denies(findings)
}

// denies reports whether a finding denies or warns (is not a mutation).
func denies(findings []Finding) bool {
	for _, f := range findings {
		if !f.IsMutation() {
			return true
		}
	}
	return false
}
