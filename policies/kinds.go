package policies

import (
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// NewObject returns an empty typed object for an apiVersion and kind the
// engine evaluates, or false for any other.
func NewObject(apiVersion, kind string) (runtime.Object, bool) {
	switch apiVersion + "/" + kind {
	case "v1/Pod":
		return &corev1.Pod{}, true
	case "v1/Namespace":
		return &corev1.Namespace{}, true
	case "apps/v1/Deployment":
		return &appsv1.Deployment{}, true
	case "apps/v1/StatefulSet":
		return &appsv1.StatefulSet{}, true
	case "apps/v1/DaemonSet":
		return &appsv1.DaemonSet{}, true
	case "apps/v1/ReplicaSet":
		return &appsv1.ReplicaSet{}, true
	case "batch/v1/Job":
		return &batchv1.Job{}, true
	case "batch/v1/CronJob":
		return &batchv1.CronJob{}, true
	case "autoscaling/v1/Scale":
		return &autoscalingv1.Scale{}, true
	}
	return nil, false
}
