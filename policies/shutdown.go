package policies

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// protectsShutdown is the one predicate for "a pod whose shutdown
// gracekeeper protects", used by force-delete, pod-delete and the eviction
// guard, and (through ProtectsShutdown) by audit. It holds for a pod that
//   - serves (ev.serves: restartPolicy Always, not a mirror pod, not owned by
//     a kind in preStop.skipOwnerKinds such as Job): only those get a hook, so
//     the CREATE rules (prestop-hook, termination-grace-period) use this half;
//   - is scheduled (spec.nodeName), not finished (phase Succeeded/Failed) and not
//     already terminating (deletionTimestamp): the API server itself rewrites
//     the grace period of unscheduled and finished pods to 0 before admission
//     (pod strategy CheckGracefulDelete), and a pod stuck Terminating must stay
//     force-deletable;
//   - may have a container running (mayRun): the kubelet runs preStop hooks only
//     for running containers, so a pod in ContainerCreating, ImagePullBackOff
//     or CrashLoopBackOff with no container up has no hook to cut short.
func (ev *evaluation) protectsShutdown(pod *corev1.Pod) bool {
	if pod.Spec.NodeName == "" || pod.DeletionTimestamp != nil ||
		pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	t := &podTarget{meta: &pod.ObjectMeta, spec: &pod.Spec}
	if owner := metav1.GetControllerOfNoCopy(pod); owner != nil {
		t.ownerKind = owner.Kind
	}
	return ev.serves(t) && mayRun(pod)
}

// mayRun reports whether a container of the pod that the kubelet stops
// gracefully (a regular container or a native sidecar) may be running, from
// status.containerStatuses[].state.running and initContainerStatuses. Where
// the kubelet has reported no container status, phase Pending means none
// has started yet; any other phase, or no status at all (a status that
// could not be read), counts as running: do no harm.
func mayRun(pod *corev1.Pod) bool {
	sidecars := map[string]bool{}
	for i := range pod.Spec.InitContainers {
		if isSidecar(&pod.Spec.InitContainers[i]) {
			sidecars[pod.Spec.InitContainers[i].Name] = true
		}
	}
	reported := len(pod.Status.ContainerStatuses) > 0
	for _, s := range pod.Status.ContainerStatuses {
		if s.State.Running != nil {
			return true
		}
	}
	for _, s := range pod.Status.InitContainerStatuses {
		if sidecars[s.Name] {
			reported = true
			if s.State.Running != nil {
				return true
			}
		}
	}
	return !reported && pod.Status.Phase != corev1.PodPending
}

// nodeTerminators are the service accounts, as their own install docs and
// charts name them, of the tools that delete or evict the last pods of a node
// that is going away: Karpenter (kube-system or its own karpenter namespace;
// at a NodePool's terminationGracePeriod deadline it DELETEs each remaining
// pod with the time left as grace period, kubernetes-sigs/karpenter#916),
// cluster-autoscaler (its evictions carry min(pod's own, 600 s)) and the AWS
// node termination handler (spot interruptions, a 2-minute notice). The node
// goes either way: a denial only turns the time left into none. They are
// exempt from force-delete and pod-delete; other node terminators need the
// exemption named in nodeTerminatorHint (docs/install.md lists them).
var nodeTerminators = map[string]bool{
	serviceAccountPrefix + "kube-system:karpenter":                    true,
	serviceAccountPrefix + "karpenter:karpenter":                      true,
	serviceAccountPrefix + "kube-system:cluster-autoscaler":           true,
	serviceAccountPrefix + "kube-system:aws-node-termination-handler": true,
}

// nodeTerminatorRules are the rules nodeTerminators are exempt from.
var nodeTerminatorRules = []RuleID{RuleForceDelete, RulePodDelete}

// nodeTerminatorHint ends a force-delete denial of a service account's
// request: a node-termination tool under another name needs an exemption.
const nodeTerminatorHint = "If this is a node-termination tool (Karpenter, cluster-autoscaler, a spot termination " +
	"handler) deleting the pods of a node that is going away, exempt its service account from force-delete and " +
	"pod-delete in gracekeeper's configuration (exemptions; see docs/install.md)"
