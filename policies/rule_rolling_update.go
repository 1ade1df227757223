package policies

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/gracekeeper/gracekeeper/policies/api/v1alpha1"
)

// rolling-update reads a Deployment's spec.strategy.rollingUpdate and
// spec.replicas on CREATE and UPDATE. A maxUnavailable that lets every replica
// go down at once (100%, or any value resolving to >= replicas) becomes
// maxUnavailable 0 with a surge, so the rollout never drops below the desired
// count. Pods that cannot surge (PVC, hostPort) are only warned about.
const maxUnavailableField = "/spec/strategy/rollingUpdate/maxUnavailable"

func checkRollingUpdate(ev *evaluation) []Finding {
	d, ok := ev.review.Object.(*appsv1.Deployment)
	if !ok || ev.review.SubResource != "" || ev.review.Operation == Delete {
		return nil
	}
	s := d.Spec.Strategy
	if s.Type != "" && s.Type != appsv1.RollingUpdateDeploymentStrategyType {
		return nil
	}
	want := replicas(d.Spec.Replicas)
	if want == 0 {
		return nil
	}
	var unavailable, surge *intstr.IntOrString
	if s.RollingUpdate != nil {
		unavailable, surge = s.RollingUpdate.MaxUnavailable, s.RollingUpdate.MaxSurge
	}
	down := resolve(unavailable, want, false)
	if down < want {
		return nil
	}
	found := describeIntOrPercent(unavailable)
	problem := fmt.Sprintf("maxUnavailable %s lets %s go down at once", found, allReplicas(want))
	if why := cannotSurge(&d.Spec.Template); why != "" {
		return []Finding{{Rule: RuleRollingUpdate, Action: ActionWarn, Object: ev.ref(), Field: maxUnavailableField,
			Message: problem + "; left as is because the pod " + why + " and cannot surge"}}
	}
	switch ev.cfg.RollingUpdate.Action {
	case v1alpha1.MutationWarn:
		return []Finding{{Rule: RuleRollingUpdate, Action: ActionWarn, Object: ev.ref(), Field: maxUnavailableField, Message: problem + "; use maxUnavailable: 0"}}
	case v1alpha1.MutationDeny:
		return []Finding{{Rule: RuleRollingUpdate, Action: ActionDeny, Object: ev.ref(), Field: maxUnavailableField, Message: problem,
			Hint: fmt.Sprintf("Set spec.strategy.rollingUpdate.maxUnavailable: 0 and maxSurge: %s", ev.cfg.RollingUpdate.MaxSurge.String())}}
	}

	// Only a maxUnavailable that is present can resolve to every replica: an
	// absent one is the API default of 25%.
	const base = "/spec/strategy/rollingUpdate"
	patch := []PatchOp{replace(base+"/maxUnavailable", 0)}
	// maxUnavailable and maxSurge may not both be 0; an absent surge defaults to 25%.
	if surge != nil && resolve(surge, want, true) == 0 {
		patch = append(patch, replace(base+"/maxSurge", ev.cfg.RollingUpdate.MaxSurge))
	}
	surgeText := ev.cfg.RollingUpdate.MaxSurge.String()
	if surge != nil && resolve(surge, want, true) > 0 {
		surgeText = describeIntOrPercent(surge)
	}
	return []Finding{{Rule: RuleRollingUpdate, Action: ActionPatch, Object: ev.ref(), Patch: patch,
		Message: fmt.Sprintf("set maxUnavailable from %s to 0 (maxSurge %s) so a rollout keeps %s up", found, surgeText, allReplicas(want))}}
}

// resolve scales an int-or-percent against a replica count the way the
// deployment controller does: maxUnavailable rounds down, maxSurge rounds up.
// Absent means the API default of 25%.
func resolve(v *intstr.IntOrString, replicas int32, roundUp bool) int32 {
	value := intstr.FromString(defaultRollingUpdateMax)
	if v != nil {
		value = *v
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(&value, int(replicas), roundUp)
	if err != nil {
		return 0
	}
	return int32(n)
}

func describeIntOrPercent(v *intstr.IntOrString) string {
	if v == nil {
		return defaultRollingUpdateMax
	}
	return v.String()
}
