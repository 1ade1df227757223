package policies

import (
	"github.com/gracekeeper/gracekeeper/policies/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// rule is one check and its facts. Each rule_*.go declares its own, and the
// registry (rules, in engine.go) lists them.
type rule struct {
	id RuleID
	// pod rules judge a pod spec and read exemptions from the pods' own
	// annotations (see podRuleOff); the others from the reviewed object's.
	pod   bool
	check func(ev *evaluation) []Finding
	// help is what the rule looks at and what to do, a few sentences, for
	// code-scanning tools (see RuleHelp).
	help string
	// rank orders the rule's warnings in a response, most important first
	// (see WarningRank).
	rank int
	// parent, where the rule reads Review.Parent itself, answers for the
	// requests it decides whether the answer needs the parent read
	// (see NeedsParent); decides is false for the others.
	parent func(r *Review, findings []Finding) (needed, decides bool)
	// objectPatchesOnly: every finding of the rule is a patch to the
	// request's own object (Finding.IsMutation), which only a mutating
	// webhook answers, so an engine for a validating one skips the rule
	// (see Engine.WithoutObjectPatches).
	objectPatchesOnly bool
}

// settings is what an Engine is built with, which every evaluation reads.
type settings struct {
	cfg *v1alpha1.Configuration
	// nativeSleep: injected hooks use the preStop sleep action, not exec sleep.
	nativeSleep bool
	// exemptByUser holds, for each rule, the requesters the configuration exempts.
	exemptByUser map[RuleID]userSet
	// withoutObjectPatches: skip the rules whose findings are only patches
	// to the request's own object (see Engine.WithoutObjectPatches).
	withoutObjectPatches bool
}

// userSet is the users and groups an exemption of the configuration names.
type userSet struct {
	users, groups map[string]bool
}

func (s userSet) matches(u UserInfo) bool {
	if s.users[u.Username] {
		return true
	}
	for _, g := range u.Groups {
		if s.groups[g] {
			return true
		}
	}
	return false
}

// evaluation is the state of one Evaluate call, shared by the rules.
type evaluation struct {
	*settings
	review *Review
	// userExempt holds the rules the configuration switches off for this requester,
	// objectExempt those the reviewed object's annotation switches off.
	userExempt, objectExempt map[RuleID]bool
	// pods is the pod spec the pod rules judge, nil when the review has none.
	pods *podTarget
}

// podTarget is a pod spec under review: a Pod's own, or a workload's template.
// Pods and workloads share the pod rules through it, so a template reports
// exactly what its pods will get.
type podTarget struct {
	meta *metav1.ObjectMeta
	spec *corev1.PodSpec
	// path is the JSON pointer of spec in the reviewed object.
	path string
	// owner is "deployment/nginx" for a template, "" for a Pod.
	owner string
	// ownerKind is the controller kind that creates these pods ("" for a bare pod).
	ownerKind string
}
