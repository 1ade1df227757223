package policies

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gracekeeper/gracekeeper/policies/api/v1alpha1"
)

// workload-delete reads, on DELETE, the stored Deployment's, StatefulSet's or
// ReplicaSet's spec.replicas, a DaemonSet's status.desiredNumberScheduled, the delete
// options' propagationPolicy, and Argo CD's sync-options annotation. Deleting a
// running workload to recreate it (delete -f then apply -f, replace --force)
// stops every pod. An Orphan delete keeps the pods running and is how
// immutable fields are changed, so it passes. A CD tool exempted from this
// rule to prune is not exempted from force-replacing (see forceReplaced).
var workloadDeleteRule = rule{
	id:    RuleWorkloadDelete,
	check: checkWorkloadDelete,
	help: "Deleting a Deployment, StatefulSet or ReplicaSet with replicas, a DaemonSet with scheduled pods, " +
		"or a namespace that holds one (which deletes every workload in it) stops the service. Use the owner's restart " +
		"(\"kubectl rollout restart\" where it works), or " +
		"delete with --cascade=orphan; annotate the object with an exemption to decommission it.",
	rank:   1,
	parent: namespaceWorkloadsNeeded,
}

// namespaceWorkloadsNeeded decides, for a namespace DELETE, whether what the
// namespace holds (a *NamespaceWorkloads) must be read: when anything is
// denied or warned about.
func namespaceWorkloadsNeeded(r *Review, findings []Finding) (needed, decides bool) {
	if r.SubResource != "" || r.Kind != "Namespace" || r.Operation != Delete {
		return false, false
	}
	return denies(findings), true
}

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
	restart := restarterOfWorkload(ev)
	advice := "To restart or update it, " + restart.advice()
	if r.Kind != "ReplicaSet" {
		if restart.command() == "" || restart.caveat() != "" {
			advice = fmt.Sprintf(`To restart it, %s; to update it, use`, restart.advice())
		} else {
			advice += " or"
		}
		// kubectl apply --force and replace --force delete because an
		// immutable field changed, which a plain apply cannot do.
		advice += fmt.Sprintf(` "kubectl apply"; to change an immutable field such as the selector, "kubectl delete %s --cascade=orphan" (its pods keep running), then apply`, ref)
	}
	decommission := annotateThen(ref, RuleWorkloadDelete, "decommission it", "delete it")
	f := Finding{Rule: RuleWorkloadDelete, Action: ActionDeny, Object: ref,
		Message: fmt.Sprintf("deleting %s stops %s", ref, allPods(running)),
		Hint:    advice + ". " + decommission}
	if force := forceReplaced(r); force != nil {
		f.Message += fmt.Sprintf(": its %s, so %s deletes and recreates it", force.marker, force.tool)
		f.Hint = force.instead + ". " + decommission
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
	//lint:ignore SA1019 deprecated, not removed: old clients still send it, and the API server still honours it
	return o.OrphanDependents != nil && *o.OrphanDependents
}

// argoSyncOptionsAnnotation holds Argo CD's per-resource sync options.
const argoSyncOptionsAnnotation = "argocd.argoproj.io/sync-options"

// fluxForceKey, as an annotation or a label with the value "enabled", makes
// Flux's kustomize-controller delete and recreate the object when an apply
// fails on an immutable field (fluxcd/kustomize-controller#787; the
// Kustomization's spec.force does it for every object, and cannot be seen here).
const fluxForceKey = "kustomize.toolkit.fluxcd.io/force"

// sveltosForceAnnotation, present with any value (even ""), makes Sveltos
// delete and recreate the object when an update is rejected (projectsveltos
// libsveltos' deployer, HasForceRecreateAnnotation; addon-controller#1910).
const sveltosForceAnnotation = "projectsveltos.io/forceRecreate"

// forceMarker is a CD tool's per-object switch that turns a sync into a
// delete and recreate.
type forceMarker struct {
	tool, marker string
	// instead is the advice that keeps the sync without the recreate.
	instead string
}

// forceReplaced returns the force marker of the deleted object, nil for
// none: Argo CD's sync option Force=true, with Replace=true (kubectl replace
// --force, on every sync) or without (kubectl apply --force, when an apply
// fails), Flux's force annotation or label, and Sveltos' forceRecreate
// annotation. Such a DELETE from the CD
// tool is a restart, not a prune, so a requester exemption of
// workload-delete does not cover it; only the object's own exemption
// annotation does. Options set on the Argo CD Application or the Flux
// Kustomization rather than the object cannot be seen here.
func forceReplaced(r *Review) *forceMarker {
	if r.Operation != Delete {
		return nil
	}
	for _, option := range strings.Split(annotationsOf(r.OldObject)[argoSyncOptionsAnnotation], ",") {
		if strings.EqualFold(strings.ReplaceAll(option, " ", ""), "Force=true") {
			return &forceMarker{tool: "Argo CD", marker: argoSyncOptionsAnnotation + " has Force=true",
				instead: fmt.Sprintf("Remove Force=true from %s (Replace=true alone replaces it in place; ServerSideApply=true syncs objects too big to apply)", argoSyncOptionsAnnotation)}
		}
	}
	if _, ok := annotationsOf(r.OldObject)[sveltosForceAnnotation]; ok {
		return &forceMarker{tool: "Sveltos", marker: "annotation " + sveltosForceAnnotation + " is set",
			instead: fmt.Sprintf("Remove the annotation %s (Sveltos then reports the rejected update instead of recreating it)", sveltosForceAnnotation)}
	}
	if m, err := meta.Accessor(r.OldObject); err == nil && m != nil {
		for _, where := range []string{"annotation", "label"} {
			values := m.GetAnnotations()
			if where == "label" {
				values = m.GetLabels()
			}
			if strings.EqualFold(values[fluxForceKey], "enabled") {
				return &forceMarker{tool: "Flux", marker: fmt.Sprintf("%s %s is enabled", where, fluxForceKey),
					instead: fmt.Sprintf("Remove the %s %s (Flux then reports the failed apply instead of recreating it); to change an immutable field, delete it with --cascade=orphan and let Flux apply it", where, fluxForceKey)}
			}
		}
	}
	return nil
}

// namespaceDelete judges the DELETE of a namespace that the mode paths cover
// (enforce or audit, by its own labels): the namespace controller then deletes
// every workload in it, which workload-delete refused to delete one by one.
// It judges what the namespace holds (Review.Parent, a *NamespaceWorkloads
// the webhook lists): one with no workload that runs pods (a preview
// namespace whose apps are gone) is deleted freely. When that could not be
// read, any such namespace is guarded, as documented. The two-step is the
// namespace's own exemption annotation, or a mode label of off.
func namespaceDelete(ev *evaluation) []Finding {
	ref := ev.ref()
	message := fmt.Sprintf("deleting %s deletes every workload in it at once (gracekeeper could not list them)", ref)
	if held, ok := ev.review.Parent.(*NamespaceWorkloads); ok {
		if len(held.Running) == 0 && !held.More {
			return nil
		}
		message = fmt.Sprintf("deleting %s deletes %s", ref, held.describe())
	}
	f := Finding{Rule: RuleWorkloadDelete, Action: ActionDeny, Object: ref, Message: message,
		Hint: annotateThen(ref, RuleWorkloadDelete, "decommission it",
			fmt.Sprintf(`delete it (or run "kubectl label %s %s=off --overwrite" first)`, ref, ModeLabel))}
	if ev.cfg.WorkloadDelete == v1alpha1.GuardWarn {
		f.Action, f.Hint = ActionWarn, ""
	}
	return []Finding{f}
}
