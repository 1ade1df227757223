package policies

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/gracekeeper/gracekeeper/policies/api/v1alpha1"
)

// rolling-update reads, on CREATE and UPDATE of every workload kind with a
// rolling update:
//   - Deployment: spec.strategy.rollingUpdate, spec.replicas
//   - Argo Rollout: spec.strategy.canary (maxUnavailable, maxSurge), spec.replicas, spec.workloadRef
//   - StatefulSet: spec.updateStrategy.rollingUpdate (maxUnavailable, partition), spec.replicas
//   - DaemonSet: spec.updateStrategy.rollingUpdate (maxUnavailable, maxSurge),
//     status.desiredNumberScheduled (the node count, when the object carries it)
//   - the pod template, for whether the pods can surge (see surgeOf)
//   - the controller ownerReference (see controlled)
//
// A strategy that lets every pod go down at once, as the controller resolves
// it (see fenceposts), is replaced. Deployments and Rollouts whose pods can
// surge get maxUnavailable 0 with a surge, so a rollout never drops below the
// desired count. Pods that cannot surge, StatefulSets (which never surge) and
// DaemonSets (whose surge pod must fit on the same node) roll one pod at a
// time: maxUnavailable 1, maxSurge 0, where that keeps pods up. A DaemonSet
// surge of pods bound to the node's ports is replaced by the same. What only
// a surge could fix on pods that cannot surge (one replica, a PVC), a surge
// that needs a free device or node, and operator-owned objects are warned
// about, never patched or denied.
var rollingUpdateRule = rule{
	id:    RuleRollingUpdate,
	check: checkRollingUpdate,
	help: "A rolling update must not let every pod of a Deployment, StatefulSet, DaemonSet or Argo Rollout " +
		"go down at once, as the controller resolves maxSurge and maxUnavailable (maxSurge: 0 on one replica takes it " +
		"down). gracekeeper sets maxUnavailable: 0 with a surge where pods can surge, and maxUnavailable: 1, maxSurge: 0 " +
		"(one pod at a time) on pods that cannot (a GPU or other extended resource, a hostPath directory, a host port, " +
		"hostname anti-affinity), StatefulSets and DaemonSets. A single such pod, PVC Deployments and operator-owned " +
		"objects are only warned about.",
	rank: 1,
}

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
	case *Rollout:
		return ev.rolloutCanary(o)
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
	// warnOnly reports a problem gracekeeper cannot fix safely: only problem is said.
	warnOnly bool
}

func (ev *evaluation) rolloutFinding(fx rolloutFix) Finding {
	f := Finding{Rule: RuleRollingUpdate, Object: ev.ref(), Field: fx.at}
	switch {
	case fx.warnOnly:
		f.Action, f.Message = ActionWarn, fx.problem
	case ev.cfg.RollingUpdate.Action == v1alpha1.MutationWarn:
		f.Action, f.Message = ActionWarn, fx.problem+"; set "+fx.want
	case controlled(ev.review.Object):
		// A patch would fight the operator's next write, and a denial stop it.
		f.Action, f.Message = ActionWarn, fx.problem+"; set "+fx.want+" (left as is because an operator manages it)"
	case ev.cfg.RollingUpdate.Action == v1alpha1.MutationDeny:
		f.Action, f.Message, f.Hint = ActionDeny, fx.problem, "Set "+fx.field+"."+fx.want+". "+
			manifestExemptHint(RuleRollingUpdate, "keep this strategy")
	default:
		f.Action, f.Message, f.Patch = ActionPatch, fx.done, fx.patch
	}
	return f
}

func (ev *evaluation) deploymentRollout(d *appsv1.Deployment) []Finding {
	var unavailable, surge *intstr.IntOrString
	if ru := d.Spec.Strategy.RollingUpdate; ru != nil {
		unavailable, surge = ru.MaxUnavailable, ru.MaxSurge
	}
	return ev.surgingRollout(surgingStrategy{
		replicas: d.Spec.Replicas, unavailable: unavailable, surge: surge,
		template: &d.Spec.Template, templatePath: "/spec/template",
		field: "spec.strategy.rollingUpdate", base: "/spec/strategy/rollingUpdate",
	})
}

// surgingStrategy is a rolling strategy that may surge: a Deployment's
// rollingUpdate, an Argo Rollout's canary.
type surgingStrategy struct {
	replicas           *int32
	unavailable, surge *intstr.IntOrString
	template           *corev1.PodTemplateSpec // nil when the object does not carry its pods' template
	templatePath       string
	field, base        string
	percentWithoutSign bool // Argo Rollouts reads "25" as 25%
}

// surgingRollout judges the strategy the controller will run (see
// fenceposts), for the object's replica count (absent means 1). A strategy
// that takes every pod down is fixed with a surge only where the pods can
// surge; otherwise one pod at a time where that keeps some up, else the
// user's choice is kept with a warning that says what it costs.
func (ev *evaluation) surgingRollout(st surgingStrategy) []Finding {
	want := replicas(st.replicas)
	if want <= 0 {
		return nil
	}
	up, down := fenceposts(st.surge, st.unavailable, want, st.percentWithoutSign)
	found := describeIntOrPercent(st.unavailable)
	problem := fmt.Sprintf("maxUnavailable %s lets %s go down at once", found, allReplicas(want))
	if resolveMax(st.unavailable, want, false, st.percentWithoutSign) == 0 {
		problem = fmt.Sprintf("maxUnavailable %s and maxSurge %s both resolve to 0 for %s, so the controller takes 1 down: %s at once",
			found, describeIntOrPercent(st.surge), replicaCount(want), allReplicas(want))
	}
	at := st.base + "/maxUnavailable"
	if st.template == nil {
		if down < want {
			return nil
		}
		return []Finding{{Rule: RuleRollingUpdate, Action: ActionWarn, Object: ev.ref(), Field: at,
			Message: problem + "; left as is because its pod template is in another object, so gracekeeper cannot tell whether the pods can surge"}}
	}
	pods := surgeOf(&st.template.Spec, st.template.Labels)

	switch {
	case down == 0 && pods.exclusive():
		if st.unavailable == nil {
			at = st.templatePath + "/spec" + pods.at // the strategy is the API's default
		}
		// Not patched: with spare capacity elsewhere the surge pod does start.
		advice := oneAtATime
		if strings.HasSuffix(pods.risk, "hangs") {
			advice += ", or keep spare capacity"
		}
		return []Finding{{Rule: RuleRollingUpdate, Action: ActionWarn, Object: ev.ref(), Field: at,
			Message: fmt.Sprintf("maxUnavailable %s resolves to 0 with maxSurge %s, but %s: %s; set %s", found, describeIntOrPercent(st.surge), pods.why(), pods.risk, advice)}}
	case down < want:
		return nil
	case pods.exclusive() && want > 1:
		return []Finding{ev.rolloutFinding(oneAtATimeFix(problem+" and "+pods.why()+", so it cannot surge", st.field, st.base, found, st.unavailable, st.surge, up))}
	case !pods.canSurge():
		// The user's choice, and the only one for a single pod that cannot surge.
		return []Finding{{Rule: RuleRollingUpdate, Action: ActionWarn, Object: ev.ref(), Field: at,
			Message: fmt.Sprintf("%s; kept as %s; %s", problem, pods.why(), downtimeAdvice(want))}}
	}

	patch := []PatchOp{set(st.unavailable != nil, st.base+"/maxUnavailable", 0)}
	surgeText := describeIntOrPercent(st.surge)
	// maxUnavailable and maxSurge may not both be 0.
	if up == 0 {
		patch = append(patch, set(st.surge != nil, st.base+"/maxSurge", ev.cfg.RollingUpdate.MaxSurge))
		surgeText = ev.cfg.RollingUpdate.MaxSurge.String()
	}
	return []Finding{ev.rolloutFinding(rolloutFix{
		problem: problem, field: st.field, at: at, patch: patch,
		want: fmt.Sprintf("maxUnavailable: 0 and maxSurge: %s", surgeText),
		done: fmt.Sprintf("set maxUnavailable from %s to 0 (maxSurge %s) so a rollout keeps %s up", found, surgeText, allReplicas(want)),
	})}
}

// fenceposts resolves maxSurge and maxUnavailable together against the
// desired replica count, as the deployment controller does
// (ResolveFenceposts in k8s.io/kubernetes pkg/controller/deployment/util;
// Argo Rollouts' canary copies it in utils/replicaset): a percent surge
// rounds up, a percent unavailable rounds down, and when both come to 0
// unavailable becomes 1. down is capped at the replica count (MaxUnavailable
// there). Absent values are the API default, 25%.
func fenceposts(surge, unavailable *intstr.IntOrString, replicas int32, percentWithoutSign bool) (up, down int32) {
	up = resolveMax(surge, replicas, true, percentWithoutSign)
	down = resolveMax(unavailable, replicas, false, percentWithoutSign)
	if up == 0 && down == 0 {
		down = 1
	}
	return up, min(down, replicas)
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
	pods := surgeOf(&d.Spec.Template.Spec, d.Spec.Template.Labels)
	var problem string
	at := base + "/maxUnavailable"
	switch {
	case pods.hostBound != "" && up > 0:
		problem = fmt.Sprintf("maxSurge %s starts a second pod on each node, which cannot run there because %s: the rollout hangs", ru.MaxSurge.String(), pods.why())
		at = base + "/maxSurge"
	case pods.held != "" && up > 0:
		// The node may have a second unit free: the user's choice is kept.
		return &rolloutFix{warnOnly: true, at: base + "/maxSurge",
			problem: fmt.Sprintf("maxSurge %s starts a second pod on each node beside the first, but %s: %s; set %s, or keep a spare unit on every node",
				ru.MaxSurge.String(), pods.why(), strings.Replace(pods.risk, "each surge pod", "each one", 1), oneAtATime)}
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

// resolve scales an int-or-percent against a replica count: maxUnavailable
// rounds down, maxSurge rounds up. Absent means the API default of 25%.
func resolve(v *intstr.IntOrString, replicas int32, roundUp bool) int32 {
	return resolveMax(v, replicas, roundUp, false)
}

// resolveMax is resolve, where percentWithoutSign reads a string without a
// "%" as a percent, as Argo Rollouts does (it scales with the lenient
// intstr.GetValueFromIntOrPercent). A value that does not parse, which API
// validation refuses, resolves to 0.
func resolveMax(v *intstr.IntOrString, replicas int32, roundUp, percentWithoutSign bool) int32 {
	value := intstr.FromString(defaultRollingUpdateMax)
	if v != nil {
		value = *v
	}
	if percentWithoutSign && value.Type == intstr.String && !strings.HasSuffix(value.StrVal, "%") {
		value = intstr.FromString(value.StrVal + "%")
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(&value, int(replicas), roundUp)
	if err != nil {
		return 0
	}
	return int32(n)
}

// replicaCount says "1 replica" or "3 replicas".
func replicaCount(n int32) string {
	if n == 1 {
		return "1 replica"
	}
	return itoa(n) + " replicas"
}

func describeIntOrPercent(v *intstr.IntOrString) string {
	if v == nil {
		return defaultRollingUpdateMax
	}
	return v.String()
}

// rolloutCanary judges a canary Rollout's maxSurge and maxUnavailable as
// the deployment controller's (Argo copies its fenceposts). A Rollout with a
// workloadRef has its pods' template in another object: its surge cannot be
// judged, only warned about.
func (ev *evaluation) rolloutCanary(r *Rollout) []Finding {
	c := r.Spec.Strategy.Canary
	if c == nil {
		return nil
	}
	st := surgingStrategy{replicas: r.Spec.Replicas, unavailable: c.MaxUnavailable, surge: c.MaxSurge,
		template: &r.Spec.Template, templatePath: "/spec/template",
		field: "spec.strategy.canary", base: "/spec/strategy/canary", percentWithoutSign: true}
	if r.Spec.WorkloadRef != nil {
		st.template = nil
	}
	return ev.surgingRollout(st)
}
