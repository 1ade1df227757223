package policies

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gracekeeper/gracekeeper/policies/api/v1alpha1"
)

// workload-delete reads, on DELETE, the stored Deployment's or StatefulSet's
// spec.replicas, a DaemonSet's status.desiredNumberScheduled, and the delete
// options' propagationPolicy. Deleting a running workload to recreate it
// (delete -f then apply -f, replace --force) stops every pod. An Orphan delete
// keeps the pods running and is how immutable fields are changed, so it passes.
func checkWorkloadDelete(ev *evaluation) []Finding {
	r := ev.review
	if r.Operation != Delete || r.SubResource != "" {
		return nil
	}
	k := kindOf(r.OldObject)
	if k == nil || k.running == nil {
		return nil
	}
	running := k.running(r.OldObject)
	if running <= 0 || isOrphan(r.DeleteOptions) {
		return nil
	}
	ref := ev.ref()
	f := Finding{Rule: RuleWorkloadDelete, Action: ActionDeny, Object: ref,
		Message: fmt.Sprintf("deleting %s stops %s", ref, allPods(running)),
		Hint: fmt.Sprintf(`To restart or update it, use "kubectl rollout restart %s" or "kubectl apply". To decommission it, run "kubectl annotate %s %s=%s %s=<why>", then delete it`,
			ref, ref, ExemptAnnotation, RuleWorkloadDelete, ExemptReasonAnnotation)}
	if ev.cfg.WorkloadDelete == v1alpha1.GuardWarn {
		f.Action, f.Message, f.Hint = ActionWarn, f.Message+fmt.Sprintf(`; to restart, use "kubectl rollout restart %s"`, ref), ""
	}
	return []Finding{f}
}

func isOrphan(o *metav1.DeleteOptions) bool {
	if o == nil {
		return false
	}
	if o.PropagationPolicy != nil {
		return *o.PropagationPolicy == metav1.DeletePropagationOrphan
	}
	return o.OrphanDependents != nil && *o.OrphanDependents // still sent by old clients
}
