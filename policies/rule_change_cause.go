package policies

import (
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gracekeeper/gracekeeper/policies/api/v1alpha1"
)

// change-cause reads, on a CREATE or an UPDATE of a kind with a rollout
// history (Kind.History: Deployment, StatefulSet, DaemonSet), spec.template,
// the old object's spec.template, metadata.annotations and the request's
// user and field manager. When the template changes it sets the
// kubernetes.io/change-cause annotation, which `kubectl rollout history`
// prints for each revision, to one line saying what changed, by whom, with
// what tool. The controllers copy the workload's annotations to the revision
// they create: the deployment controller to the ReplicaSet, the StatefulSet
// and DaemonSet controllers to the ControllerRevision.
//
// It never replaces a change-cause the request itself writes (a value other
// than the stored one, or one an applied manifest declares),
// except the one `kubectl rollout undo` copies back from the old ReplicaSet,
// which describes that revision and not the rollback. It says nothing when the
// template is unchanged (scale, labels, status), for system actors, and to
// `check` and `audit`, whose objects are not a change anyone makes (they name
// no requester).
var changeCauseRule = rule{
	id:    RuleChangeCause,
	check: checkChangeCause,
	help: "A write that changes the pod template of a Deployment, StatefulSet or DaemonSet gets the " +
		"kubernetes.io/change-cause annotation that \"kubectl rollout history\" shows: what changed, by whom, with what " +
		"tool, or the revision a rollback restores. A change-cause the request writes itself is kept. Set changeCause: off " +
		"in the configuration to record nothing.",
	rank:              4,
	objectPatchesOnly: true,
}

func checkChangeCause(ev *evaluation) []Finding {
	r := ev.review
	if ev.cfg.ChangeCause != v1alpha1.ChangeCauseRecord || r.SubResource != "" || r.User.Username == "" ||
		IsSystemActor(r.User) || (r.Operation != Create && r.Operation != Update) {
		return nil
	}
	c := templateChangeOf(r)
	if c == nil {
		return nil
	}
	obj, err := meta.Accessor(r.Object)
	if err != nil || obj.GetName()+obj.GetGenerateName() == "" {
		// An object the API server would refuse (and JSON whose metadata may be absent).
		return nil
	}
	annotations := obj.GetAnnotations()
	current, has := annotations[ChangeCauseAnnotation]
	rollback := c.rollbackIn(r.History)
	if has && current != "" {
		previous := annotationsOf(r.OldObject)[ChangeCauseAnnotation]
		switch {
		case declaredByManifest(obj, current):
			// Even on a revert in Git, whose manifest brings its old line back.
			return nil
		case rollback != nil && rollback.ChangeCause == current:
			// kubectl rollout undo's copy of the restored revision's line.
		case r.Operation == Create || current != previous:
			return nil
		}
	}
	line := c.line(r, rollback)
	if has && current == line {
		return nil
	}
	f := Finding{Rule: RuleChangeCause, Action: ActionPatch, Object: ev.ref(),
		Message: fmt.Sprintf("set %s to %q", ChangeCauseAnnotation, line)}
	if annotations == nil {
		f.Patch = []PatchOp{add("/metadata/annotations", map[string]string{ChangeCauseAnnotation: line})}
	} else {
		f.Patch = []PatchOp{set(has, "/metadata/annotations/"+escapePointer(ChangeCauseAnnotation), line)}
	}
	return []Finding{f}
}

// declaredByManifest reports whether an applied manifest declares the
// object's change-cause: the one last applied with client-side `kubectl
// apply` (its last-applied-configuration annotation holds this value), or
// one server-side applied (an Apply entry of managedFields owns the
// annotation; the API server records there only what the applied
// configuration holds, not what webhooks add). It is the manifest's own, and
// replacing it would make each apply fight over it.
func declaredByManifest(obj metav1.Object, value string) bool {
	for _, m := range obj.GetManagedFields() {
		if m.Operation != metav1.ManagedFieldsOperationApply || m.FieldsV1 == nil {
			continue
		}
		var fields struct {
			Metadata struct {
				Annotations map[string]json.RawMessage `json:"f:annotations"`
			} `json:"f:metadata"`
		}
		if json.Unmarshal(m.FieldsV1.GetRawBytes(), &fields) == nil && fields.Metadata.Annotations["f:"+ChangeCauseAnnotation] != nil {
			return true
		}
	}
	applied := obj.GetAnnotations()[corev1.LastAppliedConfigAnnotation]
	if applied == "" {
		return false
	}
	var manifest struct {
		Metadata struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
	}
	return json.Unmarshal([]byte(applied), &manifest) == nil && manifest.Metadata.Annotations[ChangeCauseAnnotation] == value
}
