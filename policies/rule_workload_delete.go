package policies

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gracekeeper/gracekeeper/policies/api/v1alpha1"
)

// workload-delete reads, on DELETE, the stored Deployment's, StatefulSet's or
// ReplicaSet's spec.replicas, a DaemonSet's status.desiredNumberScheduled, the delete
// options' propagationPolicy, and Argo CD's sync-options annotation. Deleting a
// running workload to recreate it (delete -f then apply -f, replace --force)
// stops every pod. An Orphan delete keeps the pods running and is how
// immutable fields are changed, so it passes. A CD tool exempted from this
// rule to prune is not exempted from force-replacing (see forceReplaced).
func checkWorkloadDelete(ev *evaluation) []Finding {
	r := ev.review
	if r.Operation != Delete || r.SubResource != "" {
		return nil
	}
	if _, ok := r.OldObject.(*corev1.Namespace); ok {
		return namespaceDelete(ev)
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
	restart := restartAdvice(ev)
	if r.Kind != "ReplicaSet" {
		// kubectl apply --force and replace --force delete because an
		// immutable field changed, which a plain apply cannot do.
		restart += fmt.Sprintf(` or "kubectl apply"; to change an immutable field such as the selector, "kubectl delete %s --cascade=orphan" (its pods keep running), then apply`, ref)
	}
	f := Finding{Rule: RuleWorkloadDelete, Action: ActionDeny, Object: ref,
		Message: fmt.Sprintf("deleting %s stops %s", ref, allPods(running)),
		Hint: fmt.Sprintf(`To restart or update it, %s. To decommission it, run "kubectl annotate %s %s=%s %s=<why>", then delete it`,
			restart, ref, ExemptAnnotation, RuleWorkloadDelete, ExemptReasonAnnotation)}
	if forceReplaced(r) {
		f.Message += fmt.Sprintf(": its %s has Force=true, so Argo CD deletes and recreates it", argoSyncOptionsAnnotation)
		f.Hint = fmt.Sprintf(`Remove Force=true from %s (Replace=true alone replaces it in place; ServerSideApply=true syncs objects too big to apply). To decommission it, run "kubectl annotate %s %s=%s %s=<why>", then delete it`,
			argoSyncOptionsAnnotation, ref, ExemptAnnotation, RuleWorkloadDelete, ExemptReasonAnnotation)
	}
	if ev.cfg.WorkloadDelete == v1alpha1.GuardWarn {
		f.Action, f.Message, f.Hint = ActionWarn, f.Message+"; to restart, "+restartAdvice(ev), ""
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

// argoSyncOptionsAnnotation holds Argo CD's per-resource sync options.
const argoSyncOptionsAnnotation = "argocd.argoproj.io/sync-options"

// forceReplaced reports whether the deleted object asks Argo CD to delete
// and recreate it on sync: Force=true, with Replace=true (kubectl replace
// --force, on every sync) or without (kubectl apply --force, when an apply
// fails). Such a DELETE from the CD tool is a restart, not a prune, so a
// requester exemption of workload-delete does not cover it; only the
// object's own exemption annotation does. Options set on the Application
// rather than the object cannot be seen here.
func forceReplaced(r *Review) bool {
	if r.Operation != Delete {
		return false
	}
	for _, option := range strings.Split(annotationsOf(r.OldObject)[argoSyncOptionsAnnotation], ",") {
		if strings.EqualFold(strings.ReplaceAll(option, " ", ""), "Force=true") {
			return true
		}
	}
	return false
}

// namespaceDelete judges the DELETE of a namespace that the mode paths cover
// (enforce or audit, by its own labels): the namespace controller then deletes
// every workload in it, which workload-delete refused to delete one by one.
// The webhook lists nothing, so any such namespace is guarded; the two-step is
// the namespace's own exemption annotation, or a mode label of off.
func namespaceDelete(ev *evaluation) []Finding {
	ref := ev.ref()
	f := Finding{Rule: RuleWorkloadDelete, Action: ActionDeny, Object: ref,
		Message: fmt.Sprintf("deleting %s deletes every workload in it at once", ref),
		Hint: fmt.Sprintf(`To decommission it, run "kubectl annotate %s %s=%s %s=<why>" or "kubectl label %s %s=off --overwrite", then delete it`,
			ref, ExemptAnnotation, RuleWorkloadDelete, ExemptReasonAnnotation, ref, ModeLabel)}
	if ev.cfg.WorkloadDelete == v1alpha1.GuardWarn {
		f.Action, f.Hint = ActionWarn, ""
	}
	return []Finding{f}
}

// restartAdvice says how to restart the reviewed workload's pods without
// stopping them. kubectl rollout restart has no ReplicaSet form: a
// Deployment's ReplicaSet (read from the object, or from the parent of a
// /scale) restarts with its Deployment, and a Deployment that selects a bare
// or orphaned ReplicaSet's pods adopts it and rolls out.
func restartAdvice(ev *evaluation) string {
	r := ev.review
	if r.Kind == RolloutGVK.Kind {
		// kubectl rollout has no Rollout form; Argo's kubectl plugin does.
		return fmt.Sprintf(`use "kubectl argo rollouts restart %s" (to roll back, "kubectl argo rollouts undo %s")`, r.Name, r.Name)
	}
	if r.Kind != "ReplicaSet" {
		return fmt.Sprintf(`use "kubectl rollout restart %s"`, ev.ref())
	}
	for _, obj := range []runtime.Object{r.OldObject, r.Object, r.Parent} {
		if rs, ok := obj.(*appsv1.ReplicaSet); ok {
			switch owner := metav1.GetControllerOfNoCopy(rs); {
			case owner != nil && owner.Kind == "Deployment":
				return fmt.Sprintf(`use "kubectl rollout restart %s"`, objectRef(owner.Kind, owner.Name))
			case owner != nil && owner.Kind == RolloutGVK.Kind && owner.APIVersion == RolloutGVK.GroupVersion().String():
				return fmt.Sprintf(`use "kubectl argo rollouts restart %s"`, owner.Name)
			}
			break
		}
	}
	return "apply a Deployment that selects its pods (it adopts them and rolls out)"
}
