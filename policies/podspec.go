package policies

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// findPodTarget returns the pod spec the pod rules evaluate, or nil when the
// review carries none (DELETE, scale, other kinds, UPDATE of a pod).
func (ev *evaluation) findPodTarget() *podTarget {
	r := ev.review
	if r.Operation == Delete || r.SubResource != "" {
		return nil
	}
	if obj, ok := r.Object.(*corev1.Pod); ok {
		if r.Operation != Create {
			return nil // a pod's spec is immutable after creation
		}
		t := &podTarget{meta: &obj.ObjectMeta, spec: &obj.Spec, path: "/spec"}
		if ref := metav1.GetControllerOf(obj); ref != nil {
			t.ownerKind = ref.Kind
		}
		return t
	}
	if k := kindOf(r.Object); k != nil && k.template != nil {
		return ev.template(k.template(r.Object), k.templatePath)
	}
	return nil
}

func (ev *evaluation) template(t *corev1.PodTemplateSpec, path string) *podTarget {
	return &podTarget{meta: &t.ObjectMeta, spec: &t.Spec, path: path + "/spec", owner: ev.ref(), ownerKind: ev.review.Kind}
}

// serves reports whether the pods run a service that must shut down
// gracefully: restartPolicy Always, not a mirror pod, not owned by a kind the
// configuration skips (Jobs and CronJobs by default).
func (ev *evaluation) serves(t *podTarget) bool {
	if t.spec.RestartPolicy != "" && t.spec.RestartPolicy != corev1.RestartPolicyAlways {
		return false
	}
	if _, mirror := t.meta.Annotations[mirrorPodAnnotation]; mirror {
		return false
	}
	for _, kind := range ev.cfg.PreStop.SkipOwnerKinds {
		if kind == t.ownerKind {
			return false
		}
	}
	return true
}

// judges reports whether pod rule id judges t's pods: there are pods (t is
// not nil), they serve, and the rule is not off for them.
func (ev *evaluation) judges(t *podTarget, id RuleID) bool {
	return t != nil && !ev.podRuleOff(t, id) && ev.serves(t)
}

// podRuleOff reports whether a pod rule is switched off for these pods: by the
// requester's exemption, or by the pods' own annotation. A workload is judged by
// its template's annotations, which its pods inherit, so the template reports
// what the webhook will do to the pods.
func (ev *evaluation) podRuleOff(t *podTarget, id RuleID) bool {
	if ev.userExempt[id] {
		return true
	}
	ids, _, _ := parseExempt(t.meta.Annotations)
	return slices.Contains(ids, id)
}

// finding builds a pod-rule finding. A template's patch is marked OnPods and
// says whose pods get it.
func (t *podTarget) finding(id RuleID, action Action, ref string, message string, patch ...PatchOp) Finding {
	f := Finding{Rule: id, Action: action, Object: ref, Message: message, Patch: patch}
	if t.owner != "" && action == ActionPatch {
		f.Message += " in the pods of " + t.owner
		f.OnPods = true
	}
	return f
}

// containerFinding builds a pod-rule finding about container c: message says
// it of c, several of a list of containers, at its first %s. That %s comes
// before any text of the user's, which is written as it is (package
// admission cuts several at its first %s; it is no format string).
func (t *podTarget) containerFinding(id RuleID, action Action, ref string, c *corev1.Container, message, several string, patch ...PatchOp) Finding {
	f := t.finding(id, action, ref, message, patch...)
	f.Container = c.Name
	f.Containers = several + f.Message[len(message):]
	return f
}

// effectiveGracePeriod is a pod spec's effective terminationGracePeriodSeconds: the
// API server defaults an absent one to 30. It stays int64 so a long one is
// never truncated, and so never lowered.
func effectiveGracePeriod(spec *corev1.PodSpec) int64 {
	if spec.TerminationGracePeriodSeconds == nil {
		return int64(defaultGracePeriod)
	}
	return *spec.TerminationGracePeriodSeconds
}
