package policies

import (
	"strconv"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// replicas is a Deployment's or StatefulSet's desired count: absent means 1.
func replicas(r *int32) int32 {
	if r == nil {
		return defaultReplicas
	}
	return *r
}

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
