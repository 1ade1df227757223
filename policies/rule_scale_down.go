package policies

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gracekeeper/gracekeeper/policies/api/v1alpha1"
)

// lastAppliedAnnotation is where client-side `kubectl apply` keeps the
// manifest it applied last, to compute the next three-way merge.
const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// scale-down reads spec.replicas of a Deployment, StatefulSet, ReplicaSet or Rollout,
// and of the Scale sent to their /scale subresource, on UPDATE together with
// the stored value; and, to name the cause, kubectl's last-applied-configuration
// annotation and the managedFields of both objects. One write that stops more
// than half of a workload's pods at once leaves the rest to carry the load
// (to zero is scale-to-zero's). The usual cause is a manifest that dropped
// spec.replicas for an autoscaler: the API server then defaults it to 1.
// For a DaemonSet it reads the template's nodeSelector and required node
// affinity (see daemonSetNarrowed).
var scaleDownRule = rule{
	id:    RuleScaleDown,
	check: checkScaleDown,
	help: "One write that takes a workload down by more than half of its replicas leaves the rest to carry the " +
		"load. A manifest applied without spec.replicas (to hand it to an HPA) resets it to 1: remove it from the last " +
		"applied configuration first. Scale down in steps.",
	rank: 1,
}

func checkScaleDown(ev *evaluation) []Finding {
	r := ev.review
	if f := daemonSetNarrowed(ev); f != nil {
		return []Finding{*f}
	}
	before, now, ok := replicasChange(r)
	if !ok || now == 0 || 2*now >= before || ownerScalesReplicaSet(ev) {
		return nil
	}
	ref := ev.ref()
	f := Finding{Rule: RuleScaleDown, Action: ActionWarn, Object: ref,
		Message: fmt.Sprintf("scaling %s from %d to %d replicas stops %d pods at once", ref, before, now, before-now)}
	// Kept short: a warning past 240 characters is cut.
	switch droppedReplicas(r.OldObject, r.Object) {
	case clientSideApply:
		f.Message += ": apply dropped spec.replicas (default 1); for an HPA, first remove it with kubectl apply edit-last-applied"
	case serverSideApply:
		f.Message += ": apply dropped spec.replicas (default 1); for an HPA, first apply it alone under another --field-manager"
	}
	if ev.cfg.ScaleDown == v1alpha1.GuardDeny {
		f.Action = ActionDeny
		f.Hint = "Scale down in steps of at most half. " + exemptHint(ev, RuleScaleDown, "scale it down at once on purpose",
			fmt.Sprintf(`kubectl patch %s -p '{"spec":{"replicas":%d}}'`, ref, now))
	}
	return []Finding{f}
}

// daemonSetNarrowed judges the DaemonSet's form of a scale-down. A DaemonSet
// has no replicas: it runs a pod on each node its template's nodeSelector and
// required node affinity admit. An UPDATE that adds a nodeSelector pair, or
// changes the required node affinity, makes the DaemonSet controller delete
// the pod on every node that no longer matches, at once and outside the
// rolling update's maxUnavailable; "scaling a DaemonSet to zero" with a label
// no node has (kube-downscaler, a k9s plugin) stops every pod. Which nodes
// carry the label is not in the request, so this only ever warns: narrowing a
// DaemonSet to a pool is routine, and a label every node has changes nothing.
// The node count is status.desiredNumberScheduled of the stored object.
func daemonSetNarrowed(ev *evaluation) *Finding {
	r := ev.review
	ds, ok := r.Object.(*appsv1.DaemonSet)
	old, okOld := r.OldObject.(*appsv1.DaemonSet)
	if !ok || !okOld || r.Operation != Update || r.SubResource != "" || old.Status.DesiredNumberScheduled <= 0 {
		return nil
	}
	nodes := old.Status.DesiredNumberScheduled
	before, now := &old.Spec.Template.Spec, &ds.Spec.Template.Spec
	ref := ev.ref()
	stops := fmt.Sprintf("the DaemonSet controller deletes at once, outside maxUnavailable, the pod on each of its %d nodes", nodes)
	for _, k := range slices.Sorted(maps.Keys(now.NodeSelector)) {
		if v, had := before.NodeSelector[k]; !had || v != now.NodeSelector[k] {
			return &Finding{Rule: RuleScaleDown, Action: ActionWarn, Object: ref, Field: "/spec/template/spec/nodeSelector",
				Message: fmt.Sprintf("nodeSelector %s=%s is new: %s without that label", k, now.NodeSelector[k], stops)}
		}
	}
	if required := requiredNodeAffinity(now); required != nil && !equality.Semantic.DeepEqual(required, requiredNodeAffinity(before)) {
		return &Finding{Rule: RuleScaleDown, Action: ActionWarn, Object: ref, Field: "/spec/template/spec/affinity/nodeAffinity",
			Message: fmt.Sprintf("the required node affinity changed: %s it no longer admits", stops)}
	}
	return nil
}

func requiredNodeAffinity(spec *corev1.PodSpec) *corev1.NodeSelector {
	if spec.Affinity == nil || spec.Affinity.NodeAffinity == nil {
		return nil
	}
	return spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution
}

// How spec.replicas left an applied manifest.
const (
	clientSideApply = "client-side apply"
	serverSideApply = "server-side apply"
)

// droppedReplicas tells whether an UPDATE lost spec.replicas because the
// applied manifest no longer has it: kubectl's last applied configuration
// had it before and lacks it now, or a server-side apply manager owned it
// before and no longer does. "" for any other write.
func droppedReplicas(old, obj runtime.Object) string {
	oldMeta, err1 := meta.Accessor(old)
	newMeta, err2 := meta.Accessor(obj)
	if err1 != nil || err2 != nil {
		return "" // a Scale: kubectl scale names its count
	}
	if was, ok := appliedReplicas(oldMeta.GetAnnotations()); ok && was {
		if now, ok := appliedReplicas(newMeta.GetAnnotations()); ok && !now {
			return clientSideApply
		}
	}
	owned := appliers(newMeta.GetManagedFields())
	for manager, ownedReplicas := range appliers(oldMeta.GetManagedFields()) {
		if stillOwned, applied := owned[manager]; ownedReplicas && applied && !stillOwned {
			return serverSideApply
		}
	}
	return ""
}

// appliedReplicas reports whether kubectl's last applied configuration sets
// spec.replicas; ok is false without a readable annotation.
func appliedReplicas(annotations map[string]string) (has, ok bool) {
	raw, found := annotations[lastAppliedAnnotation]
	if !found {
		return false, false
	}
	var applied struct {
		Spec map[string]json.RawMessage `json:"spec"`
	}
	if json.Unmarshal([]byte(raw), &applied) != nil {
		return false, false
	}
	_, has = applied.Spec["replicas"]
	return has, true
}

// appliers maps each server-side apply manager to whether it owns spec.replicas.
func appliers(entries []metav1.ManagedFieldsEntry) map[string]bool {
	m := map[string]bool{}
	for _, e := range entries {
		if e.Operation != metav1.ManagedFieldsOperationApply || e.Subresource != "" {
			continue
		}
		var fields struct {
			Spec map[string]json.RawMessage `json:"f:spec"`
		}
		owns := false
		if e.FieldsV1 != nil && json.Unmarshal(e.FieldsV1.GetRawBytes(), &fields) == nil {
			_, owns = fields.Spec["f:replicas"]
		}
		m[e.Manager] = m[e.Manager] || owns
	}
	return m
}
