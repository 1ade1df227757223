package policies

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gracekeeper/gracekeeper/policies/api/v1alpha1"
)

// pod-delete reads, on a direct pod DELETE, the stored pod's controller
// ownerReference, its pod-template-hash label and phase. Deleting pods by hand
// to restart them skips the rollout's surge and readiness checks; deleting a
// bare pod loses it for good. Evictions (drain) use pods/eviction, which PDBs
// govern, and never reach this rule.
func checkPodDelete(ev *evaluation) []Finding {
	r := ev.review
	pod, ok := r.OldObject.(*corev1.Pod)
	if !ok || r.Operation != Delete || r.SubResource != "" || !deletingServingPod(ev, pod) {
		return nil
	}
	ref := ev.ref()
	f := Finding{Rule: RulePodDelete, Action: ActionWarn, Object: ref}
	owner := metav1.GetControllerOfNoCopy(pod)
	if owner == nil {
		f.Message = fmt.Sprintf("%s has no controller: nothing will recreate it", ref)
	} else {
		restart := "kubectl rollout restart " + restartTarget(owner, pod)
		if name, ok := rolloutOfPod(owner, pod); ok {
			restart = "kubectl argo rollouts restart " + name
		}
		f.Message = fmt.Sprintf("to restart pods, use %q instead of deleting them", restart)
	}
	if ev.cfg.PodDelete == v1alpha1.GuardDeny {
		f.Action, f.Message = ActionDeny, "deleting pods by hand: "+f.Message
		f.Hint = fmt.Sprintf("To remove a pod on purpose, run %q, then delete it",
			fmt.Sprintf("kubectl annotate %s %s=%s %s=<why>", ref, ExemptAnnotation, RulePodDelete, ExemptReasonAnnotation))
	}
	return []Finding{f}
}

// deletingServingPod is false for deletes that are clean-up, not restarts:
// finished pods, pods already terminating, and pods that do not serve.
func deletingServingPod(ev *evaluation, pod *corev1.Pod) bool {
	if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	t := &podTarget{meta: &pod.ObjectMeta, spec: &pod.Spec}
	if owner := metav1.GetControllerOfNoCopy(pod); owner != nil {
		t.ownerKind = owner.Kind
	}
	return ev.serves(t)
}

// restartTarget names the workload to restart for a pod's controller: a
// ReplicaSet's name minus its pod-template-hash suffix is its Deployment.
func restartTarget(owner *metav1.OwnerReference, pod *corev1.Pod) string {
	if owner.Kind == "ReplicaSet" {
		if hash := pod.Labels[podTemplateHashLabel]; hash != "" {
			if name, ok := strings.CutSuffix(owner.Name, "-"+hash); ok {
				return "deployment/" + name
			}
		}
	}
	return objectRef(owner.Kind, owner.Name)
}

// rolloutsPodTemplateHashLabel is what Argo Rollouts labels its ReplicaSets'
// pods with, in place of the deployment controller's pod-template-hash.
const rolloutsPodTemplateHashLabel = "rollouts-pod-template-hash"

// rolloutOfPod names the Argo Rollout whose ReplicaSet owns a pod: the
// ReplicaSet's name minus its rollouts-pod-template-hash suffix.
func rolloutOfPod(owner *metav1.OwnerReference, pod *corev1.Pod) (string, bool) {
	hash := pod.Labels[rolloutsPodTemplateHashLabel]
	if owner.Kind != "ReplicaSet" || hash == "" {
		return "", false
	}
	return strings.CutSuffix(owner.Name, "-"+hash)
}
