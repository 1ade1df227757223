package policies

import (
	"strconv"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// specReplicas reads spec.replicas from a Scale or an object whose kind has it.
func specReplicas(obj runtime.Object) (int32, bool) {
	if s, ok := obj.(*autoscalingv1.Scale); ok {
		return s.Spec.Replicas, true
	}
	if k := kindOf(obj); k != nil && k.replicas != nil {
		return replicas(k.replicas(obj)), true
	}
	return 0, false
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }

// allReplicas says "the 1 replica" or "all 3 replicas".
func allReplicas(n int32) string {
	if n == 1 {
		return "the 1 replica"
	}
	return "all " + itoa(n) + " replicas"
}

// allPods says "its 1 pod" or "all 3 of its pods".
func allPods(n int32) string {
	if n == 1 {
		return "its 1 pod"
	}
	return "all " + itoa(n) + " of its pods"
}

// replicasChange reads spec.replicas before and after an UPDATE of an object
// whose kind has replicas, or of its /scale; ok is false for any other request.
func replicasChange(r *Review) (before, now int32, ok bool) {
	if r.Operation != Update {
		return 0, 0, false
	}
	now, okNew := specReplicas(r.Object)
	before, okOld := specReplicas(r.OldObject)
	return before, now, okNew && okOld
}

// controlled reports whether an object has a controller ownerReference: an
// operator (or another controller) writes it, and its strategy is the
// operator's to choose. Every strategy rule warns, never patches or denies,
// on such an object.
func controlled(obj runtime.Object) bool {
	o, ok := obj.(metav1.Object)
	return ok && metav1.GetControllerOfNoCopy(o) != nil
}
