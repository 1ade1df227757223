package policies

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/gracekeeper/gracekeeper/policies/api/v1alpha1"
)

// recreate-strategy reads a Deployment's spec.strategy.type on CREATE and
// UPDATE, the stored object's on UPDATE, and whether its pods can surge (see
// surgeOf). Recreate stops every pod before starting new ones. It is denied on
// CREATE and on an UPDATE that switches to it; a Deployment that already was
// Recreate only gets a warning (the ratchet), so rollout restart, set image and
// finalizer removal keep working on it.
//
// The advice is the rolling setting the pods can use: maxUnavailable 0 with a
// surge, or, for pods bound to the node's ports, one pod at a time
// (maxUnavailable 1, maxSurge 0), which needs no free port anywhere. Pods that
// mount a PersistentVolumeClaim may keep Recreate, with a warning.
const strategyTypeField = "/spec/strategy/type"

func checkRecreateStrategy(ev *evaluation) []Finding {
	d, ok := ev.review.Object.(*appsv1.Deployment)
	if !ok || ev.review.SubResource != "" || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		return nil
	}
	ref := ev.ref()
	problem := "strategy Recreate stops every pod before new ones start"
	pods := surgeOf(&d.Spec.Template.Spec)
	if pods.hostBound == "" && !pods.canSurge() {
		return []Finding{{Rule: RuleRecreateStrategy, Action: ActionWarn, Object: ref, Field: strategyTypeField,
			Message: fmt.Sprintf("strategy Recreate allowed because %s; every rollout is an outage", pods.why())}}
	}
	rolling := map[string]any{"maxUnavailable": 0, "maxSurge": ev.cfg.RollingUpdate.MaxSurge}
	advice := fmt.Sprintf("maxUnavailable: 0 and maxSurge: %s", ev.cfg.RollingUpdate.MaxSurge)
	if pods.hostBound != "" {
		rolling = map[string]any{"maxUnavailable": 1, "maxSurge": 0}
		advice = oneAtATime + " (" + pods.why() + ", so it cannot surge)"
	}
	old, ok := ev.review.OldObject.(*appsv1.Deployment)
	ratchet := ok && ev.review.Operation == Update && old.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType
	switch {
	case ratchet || ev.cfg.Recreate == v1alpha1.RecreateWarn:
		return []Finding{{Rule: RuleRecreateStrategy, Action: ActionWarn, Object: ref, Field: strategyTypeField,
			Message: problem + "; switch to RollingUpdate with " + advice}}
	case ev.cfg.Recreate == v1alpha1.RecreateConvert:
		return []Finding{{Rule: RuleRecreateStrategy, Action: ActionPatch, Object: ref,
			Message: fmt.Sprintf("convert strategy Recreate to RollingUpdate (maxUnavailable %v, maxSurge %v)", rolling["maxUnavailable"], rolling["maxSurge"]),
			// Field by field, so strategy fields this build does not know survive.
			Patch: []PatchOp{replace(strategyTypeField, appsv1.RollingUpdateDeploymentStrategyType),
				set(d.Spec.Strategy.RollingUpdate != nil, "/spec/strategy/rollingUpdate", rolling)}}}
	}
	return []Finding{{Rule: RuleRecreateStrategy, Action: ActionDeny, Object: ref, Field: strategyTypeField, Message: problem,
		Hint: fmt.Sprintf("Use strategy RollingUpdate with %s, and %q to restart", advice, "kubectl rollout restart "+ref)}}
}
