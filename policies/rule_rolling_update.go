package policies

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/gracekeeper/gracekeeper/policies/api/v1alpha1"
)

// rolling-update reads, on CREATE and UPDATE of every workload kind with a
// rolling update:
//   - Deployment: spec.strategy.rollingUpdate, spec.replicas
//   - StatefulSet: spec.updateStrategy.rollingUpdate (maxUnavailable, partition), spec.replicas
//   - DaemonSet: spec.updateStrategy.rollingUpdate (maxUnavailable, maxSurge),
//     status.desiredNumberScheduled (the node count, when the object carries it)
//   - the pod template, for whether the pods can surge (see surgeOf)
//
// A maxUnavailable that lets every pod go down at once (100%, or any value that
// resolves to all of them) is replaced. Deployments whose pods can surge get
// maxUnavailable 0 with a surge, so a rollout never drops below the desired
// count. Pods that cannot surge, StatefulSets (which never surge) and
// DaemonSets (whose surge pod must fit on the same node, or the rollout hangs)
// roll one pod at a time: maxUnavailable 1, maxSurge 0. A DaemonSet surge
// asked of pods bound to the node's ports is replaced by the same. A
// Deployment whose pods mount a PersistentVolumeClaim is only warned about.
func checkRollingUpdate(ev *evaluation) []Finding {
	if ev.review.SubResource != "" || ev.review.Operation == Delete {
		return nil
	}
	var fix *rolloutFix
	switch o := ev.review.Object.(type) {
	case *appsv1.Deployment:
		if s := o.Spec.Strategy; s.Type == "" || s.Type == appsv1.RollingUpdateDeploymentStrategyType {
			return ev.deploymentRollout(o)
		}
	case *appsv1.StatefulSet:
		if s := o.Spec.UpdateStrategy; s.Type == "" || s.Type == appsv1.RollingUpdateStatefulSetStrategyType {
			fix = statefulSetRollout(o)
		}
	case *appsv1.DaemonSet:
		if s := o.Spec.UpdateStrategy; s.Type == "" || s.Type == appsv1.RollingUpdateDaemonSetStrategyType {
			fix = ev.daemonSetRollout(o)
		}
	}
	if fix == nil {
		return nil
	}
	return []Finding{ev.rolloutFinding(*fix)}
}

// rolloutFix is a rolling-update finding before the configured action
// (patch, deny or warn) shapes it.
type rolloutFix struct {
	// problem is what goes wrong: "maxUnavailable 100% lets all 3 replicas go down at once".
	problem string
	// field is where the setting lives, want the setting: "spec.strategy.rollingUpdate", "maxUnavailable: 1 and maxSurge: 0".
	field, want string
	// at is the JSON pointer of the value found, which reports point at.
	at string
	// done is the patch's message, patch its operations.
	done  string
	patch []PatchOp
}

func (ev *evaluation) rolloutFinding(fx rolloutFix) Finding {
	f := Finding{Rule: RuleRollingUpdate, Object: ev.ref(), Field: fx.at}
	switch ev.cfg.RollingUpdate.Action {
	case v1alpha1.MutationWarn:
		f.Action, f.Message = ActionWarn, fx.problem+"; set "+fx.want
	case v1alpha1.MutationDeny:
		f.Action, f.Message, f.Hint = ActionDeny, fx.problem, "Set "+fx.field+"."+fx.want
	default:
		f.Action, f.Message, f.Patch = ActionPatch, fx.done, fx.patch
	}
	return f
}

func (ev *evaluation) deploymentRollout(d *appsv1.Deployment) []Finding {
	want := replicas(d.Spec.Replicas)
	if want == 0 {
		return nil
	}
	var unavailable, surge *intstr.IntOrString
	if ru := d.Spec.Strategy.RollingUpdate; ru != nil {
		unavailable, surge = ru.MaxUnavailable, ru.MaxSurge
	}
	const field, base = "spec.strategy.rollingUpdate", "/spec/strategy/rollingUpdate"
	down := resolve(unavailable, want, false)
	up := resolve(surge, want, true)
	found := describeIntOrPercent(unavailable)
	problem := fmt.Sprintf("maxUnavailable %s lets %s go down at once", found, allReplicas(want))
	pods := surgeOf(&d.Spec.Template.Spec)
	at := base + "/maxUnavailable"

	switch {
	case pods.hostBound != "" && down == 0:
		if unavailable == nil {
			at = "/spec/template/spec" + pods.at // the strategy is the API's default
		}
		// Not patched: with a free node elsewhere the surge pod does start.
		return []Finding{{Rule: RuleRollingUpdate, Action: ActionWarn, Object: ev.ref(), Field: at,
			Message: fmt.Sprintf("maxUnavailable %s resolves to 0 with maxSurge %s, but %s: each surge pod needs a node whose ports are free, or the rollout hangs; set %s", found, describeIntOrPercent(surge), pods.why(), oneAtATime)}}
	case down < want:
		return nil
	case pods.hostBound != "":
		if want == 1 && down == 1 {
			return nil // one pod at a time is all a single pod that cannot surge allows
		}
		return []Finding{ev.rolloutFinding(oneAtATimeFix(problem+" and "+pods.why()+", so it cannot surge", field, base, found, unavailable, surge, up))}
	case !pods.canSurge():
		return []Finding{{Rule: RuleRollingUpdate, Action: ActionWarn, Object: ev.ref(), Field: at,
			Message: problem + "; left as is because " + pods.why() + " and cannot surge"}}
	}

	// Only a maxUnavailable that is present can resolve to every replica: an
	// absent one is the API default of 25%.
	patch := []PatchOp{replace(base+"/maxUnavailable", 0)}
	surgeText := describeIntOrPercent(surge)
	// maxUnavailable and maxSurge may not both be 0; an absent surge defaults to 25%.
	if up == 0 {
		patch = append(patch, replace(base+"/maxSurge", ev.cfg.RollingUpdate.MaxSurge))
		surgeText = ev.cfg.RollingUpdate.MaxSurge.String()
	}
	return []Finding{ev.rolloutFinding(rolloutFix{
		problem: problem, field: field, at: at, patch: patch,
		want: fmt.Sprintf("maxUnavailable: 0 and maxSurge: %s", surgeText),
		done: fmt.Sprintf("set maxUnavailable from %s to 0 (maxSurge %s) so a rollout keeps %s up", found, surgeText, allReplicas(want)),
	})}
}

// oneAtATime is the rolling setting for pods that cannot surge.
const oneAtATime = "maxUnavailable: 1 and maxSurge: 0"

// oneAtATimeFix sets maxUnavailable 1 and a present non-zero maxSurge to 0.
// An absent maxSurge is set only where its default surges (Deployments: 25%).
func oneAtATimeFix(problem, field, base, found string, unavailable, surge *intstr.IntOrString, up int32) rolloutFix {
	patch := []PatchOp{set(unavailable != nil, base+"/maxUnavailable", 1)}
	if up > 0 {
		patch = append(patch, set(surge != nil, base+"/maxSurge", 0))
	}
	return rolloutFix{problem: problem, field: field, at: base + "/maxUnavailable", want: oneAtATime, patch: patch,
		done: fmt.Sprintf("set maxUnavailable from %s to 1 and maxSurge to 0 so a rollout replaces one pod at a time", found)}
}

// statefulSetRollout: StatefulSet pods never surge. The controller rounds a
// percentage down and takes at least 1 (getStatefulSetMaxUnavailable in
// pkg/controller/statefulset), and pods below a partition keep their revision
// and stay up.
func statefulSetRollout(s *appsv1.StatefulSet) *rolloutFix {
	ru := s.Spec.UpdateStrategy.RollingUpdate
	if ru == nil || ru.MaxUnavailable == nil || (ru.Partition != nil && *ru.Partition > 0) {
		return nil
	}
	want := replicas(s.Spec.Replicas)
	down := max(resolve(ru.MaxUnavailable, want, false), 1)
	if want <= 1 || down < want {
		return nil
	}
	found := ru.MaxUnavailable.String()
	return &rolloutFix{
		problem: fmt.Sprintf("maxUnavailable %s lets %s go down at once", found, allReplicas(want)),
		field:   "spec.updateStrategy.rollingUpdate", want: "maxUnavailable: 1",
		at:    "/spec/updateStrategy/rollingUpdate/maxUnavailable",
		patch: []PatchOp{replace("/spec/updateStrategy/rollingUpdate/maxUnavailable", 1)},
		done:  fmt.Sprintf("set maxUnavailable from %s to 1 so a rollout replaces one pod at a time", found),
	}
}

// daemonSetRollout: the node count is known only from the status, so a
// count is judged against it and 100% always. The controller rounds both
// values up (pkg/controller/daemon/util UnavailableCount, SurgeCount); API
// validation wants exactly one of them non-zero. A surge pod must start on
// the same node, so pods bound to the node's ports can never surge there.
func (ev *evaluation) daemonSetRollout(d *appsv1.DaemonSet) *rolloutFix {
	ru := d.Spec.UpdateStrategy.RollingUpdate
	if ru == nil {
		return nil
	}
	const field, base = "spec.updateStrategy.rollingUpdate", "/spec/updateStrategy/rollingUpdate"
	nodes := d.Status.DesiredNumberScheduled
	if old, ok := ev.review.OldObject.(*appsv1.DaemonSet); ok && nodes == 0 {
		nodes = old.Status.DesiredNumberScheduled
	}
	found := "1"
	if ru.MaxUnavailable != nil {
		found = ru.MaxUnavailable.String()
	}
	up := int32(0) // absent means 0 here
	if ru.MaxSurge != nil {
		up = resolve(ru.MaxSurge, 100, true) // any non-zero value surges by at least 1
	}
	pods := surgeOf(&d.Spec.Template.Spec)
	var problem string
	at := base + "/maxUnavailable"
	switch {
	case pods.hostBound != "" && up > 0:
		problem = fmt.Sprintf("maxSurge %s starts a second pod on each node, which cannot run there because %s: the rollout hangs", ru.MaxSurge.String(), pods.why())
		at = base + "/maxSurge"
	case ru.MaxUnavailable == nil:
		return nil
	case isWholePercent(ru.MaxUnavailable):
		problem = fmt.Sprintf("maxUnavailable %s takes the pod on every node down at once", found)
	case nodes > 1 && resolve(ru.MaxUnavailable, nodes, true) >= nodes:
		problem = fmt.Sprintf("maxUnavailable %s takes the pods on all %d nodes down at once", found, nodes)
	default:
		return nil
	}
	fx := oneAtATimeFix(problem, field, base, found, ru.MaxUnavailable, ru.MaxSurge, up)
	fx.at = at
	return &fx
}

// isWholePercent reports whether v is a percentage of at least 100.
func isWholePercent(v *intstr.IntOrString) bool {
	if v.Type != intstr.String || !strings.HasSuffix(v.StrVal, "%") {
		return false
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(v, 100, false)
	return err == nil && n >= 100
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
