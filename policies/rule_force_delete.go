package policies

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// force-delete reads a pod DELETE's options, or a pods/eviction CREATE's
// deleteOptions (kubectl drain --grace-period), for gracePeriodSeconds, and
// the stored pod's terminationGracePeriodSeconds, preStop hooks and what
// protectsShutdown reads. A grace override that does not outlast the pod's
// longest preStop sleep (0, or --now's 1) kills the containers before they
// drain: it is a force delete. It is judged only on a pod whose shutdown
// gracekeeper protects, the same pods for a delete and an eviction: a pod
// with no container running (ContainerCreating, ImagePullBackOff,
// CrashLoopBackOff), a Job's, a run-once or mirror pod has no hook to cut
// short, and a pod stuck Terminating must stay force-deletable. The
// kubelet's final delete comes from system:nodes, never judged; node
// terminators (see nodeTerminators) are exempt.
var forceDeleteRule = rule{
	id:    RuleForceDelete,
	check: checkForceDelete,
	help: "A grace override on a running pod's delete or eviction (--grace-period=0, --now, drain " +
		"--grace-period) that does not outlast its preStop sleep skips its graceful shutdown. Only pods with a container " +
		"running are judged (not ContainerCreating, ImagePullBackOff or CrashLoopBackOff, Job or mirror pods). A pod stuck " +
		"Terminating can still be force-deleted; node terminators (Karpenter, cluster-autoscaler) are exempt.",
	rank:   1,
	parent: evictedPodNeeded,
}

// evictedPodNeeded decides, for an eviction, whether its pod must be read:
// only a grace override is judged by the pod's state; PodDisruptionBudgets
// govern the others.
func evictedPodNeeded(r *Review, _ []Finding) (needed, decides bool) {
	e, ok := r.Object.(*policyv1.Eviction)
	if !ok || r.SubResource == "" {
		return false, false
	}
	return r.SubResource == "eviction" && e.DeleteOptions != nil && e.DeleteOptions.GracePeriodSeconds != nil, true
}

func checkForceDelete(ev *evaluation) []Finding {
	pod, options, evicting := deletedPod(ev.review)
	if pod == nil || options == nil || options.GracePeriodSeconds == nil {
		return nil
	}
	grace := *options.GracePeriodSeconds
	if grace < 0 {
		grace = 1 // as the API server's rest.BeforeDelete treats it
	}
	own := effectiveGracePeriod(&pod.Spec)
	sleep := longestPreStopSleep(&pod.Spec)
	if grace >= own || (grace > 0 && grace > sleep) || !ev.protectsShutdown(pod) {
		return nil // no shorter than the pod's own, outlasts its preStop sleep, or nothing to protect
	}
	ref := ev.ref()
	verb := "deleting"
	if evicting {
		verb = "evicting"
	}
	message := fmt.Sprintf("%s running %s with grace period %ds kills it during its %ds preStop sleep, before it drains", verb, ref, grace, sleep)
	switch {
	case grace == 0 && evicting:
		message = fmt.Sprintf("evicting running %s with grace period 0 skips its preStop hook and drain", ref)
	case grace == 0:
		message = fmt.Sprintf("force-deleting running %s (grace period 0) skips its preStop hook and drain", ref)
	}
	hint := fmt.Sprintf("Delete it gracefully with %q", "kubectl delete "+ref)
	if evicting {
		hint = fmt.Sprintf("Evict it without a grace override (kubectl drain without --grace-period), so it gets its own %ds", own)
	} else if advice := restarterOfPod(pod).advice(); advice != "" {
		hint += "; to restart its pods, " + advice
	}
	hint += ". A pod stuck Terminating can still be force-deleted"
	if strings.HasPrefix(ev.review.User.Username, serviceAccountPrefix) {
		hint += ". " + nodeTerminatorHint
	}
	return []Finding{{Rule: RuleForceDelete, Action: ActionDeny, Object: ref, Message: message, Hint: hint}}
}

// deletedPod returns the pod a request deletes and the options it deletes
// with: a pod DELETE's stored pod, or the pod an eviction names (read by the
// webhook into Parent) with the Eviction's deleteOptions.
func deletedPod(r *Review) (pod *corev1.Pod, options *metav1.DeleteOptions, evicting bool) {
	switch {
	case r.Operation == Delete && r.SubResource == "":
		pod, _ = r.OldObject.(*corev1.Pod)
		return pod, r.DeleteOptions, false
	case r.Operation == Create && r.SubResource == "eviction":
		eviction, ok := r.Object.(*policyv1.Eviction)
		pod, _ = r.Parent.(*corev1.Pod)
		if !ok {
			return nil, nil, true
		}
		return pod, eviction.DeleteOptions, true
	}
	return nil, nil, false
}

// longestPreStopSleep is the longest delay before SIGTERM that a preStop hook
// of a regular container or a native sidecar adds, as readPreStop reads it.
func longestPreStopSleep(spec *corev1.PodSpec) int64 {
	var longest int64
	for i := range spec.Containers {
		longest = max(longest, readPreStop(&spec.Containers[i]).seconds)
	}
	for i := range spec.InitContainers {
		if c := &spec.InitContainers[i]; isSidecar(c) {
			longest = max(longest, readPreStop(c).seconds)
		}
	}
	return longest
}
