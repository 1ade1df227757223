package policies

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/gracekeeper/gracekeeper/policies/api/v1alpha1"
)

// recreate-strategy reads a Deployment's spec.strategy.type and spec.replicas
// on CREATE and UPDATE, the stored object's type on UPDATE, its controller
// ownerReference and deletionTimestamp, and whether its pods can surge (see
// surgeOf). Recreate stops every pod before starting new ones. It is denied on
// CREATE and on an UPDATE that switches to it; a Deployment that already was
// Recreate only gets a warning (the ratchet), so rollout restart, set image and
// finalizer removal keep working on it.
//
// Recreate on pods that cannot surge (a GPU, a node's ports, a node-local
// directory, a claim) is the user's decision: it is kept, with a warning that
// says what every rollout costs and how to avoid it. So is Recreate on an
// object an operator manages (as update-strategy treats OnDelete) or one being
// deleted. Otherwise the advice is maxUnavailable 0 with a surge.
const strategyTypeField = "/spec/strategy/type"

var recreateStrategyRule = rule{
	id:    RuleRecreateStrategy,
	check: checkRecreateStrategy,
	help: "strategy Recreate stops every pod before new ones start: each rollout is an outage. Use " +
		"RollingUpdate with maxUnavailable: 0 and a surge, and \"kubectl rollout restart\" to restart. Pods that cannot " +
		"surge (a GPU, a hostPath directory, a host port, hostname anti-affinity, a PVC) and operator-owned objects keep " +
		"Recreate, with a warning: run 2+ replicas with a PodDisruptionBudget, or leave room for a second copy.",
	rank: 1,
}

func checkRecreateStrategy(ev *evaluation) []Finding {
	d, ok := ev.review.Object.(*appsv1.Deployment)
	if !ok || ev.review.SubResource != "" || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		return nil
	}
	ref := ev.ref()
	problem := "strategy Recreate stops every pod before new ones start"
	warn := func(message string) []Finding {
		return []Finding{{Rule: RuleRecreateStrategy, Action: ActionWarn, Object: ref, Field: strategyTypeField, Message: message}}
	}
	pods := surgeOf(&d.Spec.Template.Spec, d.Spec.Template.Labels)
	if !pods.canSurge() {
		want := replicas(d.Spec.Replicas)
		return warn(fmt.Sprintf("Recreate kept as %s: each rollout takes %s down; %s",
			pods.why(), allReplicas(want), downtimeAdvice(want)))
	}
	advice := fmt.Sprintf("maxUnavailable: 0 and maxSurge: %s", ev.cfg.RollingUpdate.MaxSurge)
	old, ok := ev.review.OldObject.(*appsv1.Deployment)
	ratchet := ok && ev.review.Operation == Update && old.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType
	switch {
	case ratchet || ev.cfg.Recreate == v1alpha1.RecreateWarn:
		return warn(problem + "; switch to RollingUpdate with " + advice)
	case controlled(d):
		return warn(problem + "; allowed because an operator manages it")
	case d.DeletionTimestamp != nil:
		return warn(problem + "; allowed because it is being deleted")
	case ev.cfg.Recreate == v1alpha1.RecreateConvert:
		rolling := map[string]any{"maxUnavailable": 0, "maxSurge": ev.cfg.RollingUpdate.MaxSurge}
		return []Finding{{Rule: RuleRecreateStrategy, Action: ActionPatch, Object: ref,
			Message: fmt.Sprintf("convert strategy Recreate to RollingUpdate (maxUnavailable %v, maxSurge %v)", rolling["maxUnavailable"], rolling["maxSurge"]),
			// Field by field, so strategy fields this build does not know survive.
			Patch: []PatchOp{replace(strategyTypeField, appsv1.RollingUpdateDeploymentStrategyType),
				set(d.Spec.Strategy.RollingUpdate != nil, "/spec/strategy/rollingUpdate", rolling)}}}
	}
	return []Finding{{Rule: RuleRecreateStrategy, Action: ActionDeny, Object: ref, Field: strategyTypeField, Message: problem,
		Hint: fmt.Sprintf("Use strategy RollingUpdate with %s, and %q to restart. %s", advice, "kubectl rollout restart "+ref,
			manifestExemptHint(RuleRecreateStrategy, "keep Recreate (pods that must never run twice)"))}}
}
