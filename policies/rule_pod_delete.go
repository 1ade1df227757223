package policies

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/gracekeeper/gracekeeper/policies/api/v1alpha1"
)

// pod-delete reads, on a direct pod DELETE, the stored pod (see
// protectsShutdown), its controller ownerReference and the labels that name
// its real owner (see restarterOfPod), and the requester. Deleting pods by
// hand to restart them skips the rollout's surge and readiness checks;
// deleting a bare pod loses it for good. Evictions (drain) use pods/eviction,
// which PDBs govern, and never reach this rule.
//
// An operator's service account deleting pods of a StatefulSet, a DaemonSet
// or a custom controller's pods is their rollout (OnDelete StatefulSets are
// rolled by deleting one pod at a time), so it gets no finding: gracekeeper
// cannot see the owner's strategy, and denying would halt every upgrade.
var podDeleteRule = rule{
	id:    RulePodDelete,
	check: checkPodDelete,
	help: "Deleting a controller's pod is a restart without a rollout: use its owner's restart (\"kubectl rollout " +
		"restart\" for a Deployment). A bare pod is not recreated at all. Pods with no container running, a service account " +
		"rolling a StatefulSet, DaemonSet or custom controller by deleting pods, and node terminators are left alone.",
	rank: 1,
}

func checkPodDelete(ev *evaluation) []Finding {
	r := ev.review
	pod, ok := r.OldObject.(*corev1.Pod)
	if !ok || r.Operation != Delete || r.SubResource != "" || !ev.protectsShutdown(pod) {
		return nil
	}
	restart := restarterOfPod(pod)
	if operatorRollout(r.User, restart) || restart.kind == "ReplicationController" {
		return nil // deleting pods one at a time is how these restart
	}
	ref := ev.ref()
	f := Finding{Rule: RulePodDelete, Action: ActionWarn, Object: ref}
	switch command := restart.command(); {
	case restart.kind == "":
		f.Message = fmt.Sprintf("%s has no controller: nothing will recreate it", ref)
	case command != "":
		f.Message = fmt.Sprintf("to restart pods, use %q instead of deleting them", command) + restart.caveat()
	case restart.advice() == "":
		f.Message = fmt.Sprintf("%s belongs to %s, which no command restarts gracefully", ref, objectRef(restart.kind, restart.name))
	default:
		f.Message = fmt.Sprintf("to restart pods, %s, instead of deleting them by hand", restart.advice())
	}
	if ev.cfg.PodDelete == v1alpha1.GuardDeny {
		f.Action, f.Message = ActionDeny, "deleting pods by hand: "+f.Message
		f.Hint = annotateThen(ref, RulePodDelete, "remove a pod on purpose", "delete it")
	}
	return []Finding{f}
}

// operatorRollout reports whether a pod DELETE is a controller's own rollout
// mechanism: a service account (system actors never get here) deleting a pod
// whose owner may be rolled by pod deletes (a StatefulSet or DaemonSet, whose
// strategy may be OnDelete, or a kind that is not a built-in controller).
func operatorRollout(u UserInfo, owner restarter) bool {
	if !strings.HasPrefix(u.Username, serviceAccountPrefix) {
		return false
	}
	switch owner.kind {
	case "", "Deployment", "ReplicaSet", "ReplicationController", "Rollout", "DeploymentConfig", "Job", "CronJob", "Node":
		return false
	}
	return true
}
