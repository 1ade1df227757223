package policies

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/gracekeeper/gracekeeper/policies/api/v1alpha1"
)

// recreate-strategy reads a Deployment's spec.strategy.type on CREATE and
// UPDATE, and on UPDATE the stored object's. Recreate stops every pod before
// starting new ones. It is denied on CREATE and on an UPDATE that switches to
// it; a Deployment that already was Recreate only gets a warning (the ratchet),
// so rollout restart, set image and finalizer removal keep working on it.
const strategyTypeField = "/spec/strategy/type"

func checkRecreateStrategy(ev *evaluation) []Finding {
	d, ok := ev.review.Object.(*appsv1.Deployment)
	if !ok || ev.review.SubResource != "" || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		return nil
	}
	ref := ev.ref()
	problem := "strategy Recreate stops every pod before new ones start"
	if why := cannotSurge(&d.Spec.Template); why != "" {
		return []Finding{{Rule: RuleRecreateStrategy, Action: ActionWarn, Object: ref, Field: strategyTypeField,
			Message: fmt.Sprintf("strategy Recreate allowed because the pod %s; every rollout is an outage", why)}}
	}
	if old, ok := ev.review.OldObject.(*appsv1.Deployment); ok && ev.review.Operation == Update &&
		old.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		return []Finding{{Rule: RuleRecreateStrategy, Action: ActionWarn, Object: ref, Field: strategyTypeField,
			Message: problem + "; switch to RollingUpdate with maxUnavailable: 0"}}
	}
	switch ev.cfg.Recreate {
	case v1alpha1.RecreateWarn:
		return []Finding{{Rule: RuleRecreateStrategy, Action: ActionWarn, Object: ref, Field: strategyTypeField,
			Message: problem + "; switch to RollingUpdate with maxUnavailable: 0"}}
	case v1alpha1.RecreateConvert:
		surge := ev.cfg.RollingUpdate.MaxSurge
		return []Finding{{Rule: RuleRecreateStrategy, Action: ActionPatch, Object: ref,
			Message: fmt.Sprintf("convert strategy Recreate to RollingUpdate (maxUnavailable 0, maxSurge %s)", surge),
			// Field by field, so strategy fields this build does not know survive.
			Patch: []PatchOp{replace("/spec/strategy/type", appsv1.RollingUpdateDeploymentStrategyType),
				set(d.Spec.Strategy.RollingUpdate != nil, "/spec/strategy/rollingUpdate",
					map[string]any{"maxUnavailable": 0, "maxSurge": surge})}}}
	}
	return []Finding{{Rule: RuleRecreateStrategy, Action: ActionDeny, Object: ref, Field: strategyTypeField, Message: problem,
		Hint: fmt.Sprintf("Use strategy RollingUpdate with maxUnavailable: 0, and %q to restart", "kubectl rollout restart "+ref)}}
}
