package policies

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// force-delete reads the delete options' gracePeriodSeconds and the stored
// pod's spec.nodeName, status.phase, terminationGracePeriodSeconds and
// deletionTimestamp. A grace period of 0 kills a running pod without its
// preStop hook or drain. The API server itself rewrites the options to 0 for
// unscheduled and finished pods, and a pod stuck Terminating (say on a dead
// node) must stay force-deletable, so only a live, scheduled, graceful pod is
// protected. The kubelet's final delete comes from system:nodes, never judged.
func checkForceDelete(ev *evaluation) []Finding {
	r := ev.review
	pod, ok := r.OldObject.(*corev1.Pod)
	if !ok || r.Operation != Delete || r.SubResource != "" || !isForce(r.DeleteOptions) {
		return nil
	}
	graceful := pod.Spec.TerminationGracePeriodSeconds == nil || *pod.Spec.TerminationGracePeriodSeconds > 0
	if pod.Spec.NodeName == "" || pod.DeletionTimestamp != nil || !graceful ||
		pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return nil
	}
	ref := ev.ref()
	hint := fmt.Sprintf("Delete it gracefully with %q", "kubectl delete "+ref)
	if owner := metav1.GetControllerOfNoCopy(pod); owner != nil {
		hint = fmt.Sprintf("Use %q, or delete it gracefully with %q", "kubectl rollout restart "+restartTarget(owner, pod), "kubectl delete "+ref)
	}
	return []Finding{{Rule: RuleForceDelete, Action: ActionDeny, Object: ref,
		Message: fmt.Sprintf("force-deleting running %s (grace period 0) skips its preStop hook and drain", ref),
		Hint:    hint + ". A pod stuck Terminating can still be force-deleted"}}
}

func isForce(o *metav1.DeleteOptions) bool {
	return o != nil && o.GracePeriodSeconds != nil && *o.GracePeriodSeconds == 0
}
