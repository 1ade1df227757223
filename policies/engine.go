package policies

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/version"

	"github.com/gracekeeper/gracekeeper/policies/api/v1alpha1"
)

// rules is the registry, in the order findings are reported. Each rule_*.go
// declares its rule: its id, check, help and warning rank.
var rules = []rule{
	modeLabelRule,
	forceDeleteRule,
	podDeleteRule,
	workloadDeleteRule,
	scaleToZeroRule,
	scaleDownRule,
	recreateStrategyRule,
	updateStrategyRule,
	rollingUpdateRule,
	revisionHistoryRule,
	changeCauseRule,
	preStopHookRule,
	terminationGracePeriodRule,
	readinessProbeRule,
}

// nativeSleepSince is the first API server minor at which every kubelet it
// supports (up to three minors older) has the preStop sleep action on by default.
var nativeSleepSince = version.MajorMinor(1, 33)

// Engine evaluates reviews against one configuration.
type Engine struct {
	settings
}

// New builds an engine. serverVersion is the API server's version as discovery
// reports it (e.g. "v1.37.2"); the config's serverVersion overrides it, and an
// unknown version selects the exec fallback.
func New(cfg *v1alpha1.Configuration, serverVersion string) (*Engine, error) {
	if err := validateRegistry(); err != nil {
		return nil, err
	}
	if cfg.ServerVersion != "" {
		serverVersion = cfg.ServerVersion
	}
	e := &Engine{settings{cfg: cfg, exemptByUser: map[RuleID]userSet{}}}
	switch cfg.PreStop.Action {
	case v1alpha1.PreStopSleep:
		e.nativeSleep = true
	case v1alpha1.PreStopAuto:
		if v, err := version.ParseGeneric(serverVersion); err == nil {
			e.nativeSleep = v.AtLeast(nativeSleepSince)
		}
	}
	for _, ex := range cfg.Exemptions {
		for _, id := range ex.Rules {
			ids := []RuleID{RuleID(id)}
			if id == v1alpha1.AllRules {
				ids = ruleIDs()
			}
			for _, id := range ids {
				set := e.exemptByUser[id]
				if set.users == nil {
					set = userSet{users: map[string]bool{}, groups: map[string]bool{}}
				}
				for _, u := range ex.Users {
					set.users[u] = true
				}
				for _, sa := range ex.ServiceAccounts {
					ns, name, _ := strings.Cut(sa, "/")
					set.users[serviceAccountPrefix+ns+":"+name] = true
				}
				for _, g := range ex.Groups {
					set.groups[g] = true
				}
				e.exemptByUser[id] = set
			}
		}
	}
	return e, nil
}

// WithoutObjectPatches is the engine for a webhook that answers no patch to
// the request's own object (a validating one, see Finding.IsMutation): it
// skips the rules whose every finding is such a patch (change-cause), so
// their findings are missing from what it returns and the rest is as e's.
// In BenchmarkServed, change-cause was about half the engine's time on a
// Deployment's validating call (7 of 15 µs).
func (e *Engine) WithoutObjectPatches() *Engine {
	v := *e
	v.withoutObjectPatches = true
	return &v
}

// NativeSleep reports whether injected hooks use the preStop sleep action
// rather than exec ["sleep", N].
func (e *Engine) NativeSleep() bool { return e.nativeSleep }

// validateRegistry keeps the registry and the configuration's list of ids in step.
func validateRegistry() error {
	ids := ruleIDs()
	seen := map[RuleID]bool{}
	for _, id := range ids {
		if seen[id] {
			return fmt.Errorf("rule %s registered twice", id)
		}
		seen[id] = true
		if !slices.Contains(v1alpha1.RuleIDs, string(id)) {
			return fmt.Errorf("rule %s is missing from v1alpha1.RuleIDs", id)
		}
	}
	if len(ids) != len(v1alpha1.RuleIDs) {
		return fmt.Errorf("v1alpha1.RuleIDs lists %d rules, the registry %d", len(v1alpha1.RuleIDs), len(ids))
	}
	return nil
}

func ruleIDs() []RuleID {
	ids := make([]RuleID, len(rules))
	for i, r := range rules {
		ids[i] = r.id
	}
	return ids
}

// Evaluate runs every rule that applies to the review and returns its findings,
// with exemptions applied. Mode is applied afterwards, by Decide. It judges
// every container; the webhook calls EvaluateContext, which is bounded.
func (e *Engine) Evaluate(r *Review) []Finding {
	findings, _ := e.evaluate(context.Background(), r)
	return findings
}

// evaluate is Evaluate, stopping between rules with ctx's error once ctx ends.
func (e *Engine) evaluate(ctx context.Context, r *Review) ([]Finding, error) {
	system := IsSystemActor(r.User)
	if system && r.Operation == Update {
		// A controller's own write of a workload (the deployment controller
		// writes each Deployment on every rollout) is never judged: the
		// mutating configuration does not send it (see MatchConditions).
		return nil, nil
	}
	ev := &evaluation{settings: &e.settings, review: r, userExempt: map[RuleID]bool{}, objectExempt: map[RuleID]bool{}}
	ev.pods = ev.findPodTarget()
	for id, set := range e.exemptByUser {
		if set.matches(r.User) {
			ev.userExempt[id] = true
		}
	}
	if nodeTerminators[r.User.Username] {
		for _, id := range nodeTerminatorRules {
			ev.userExempt[id] = true
		}
	}
	var findings []Finding
	keep := func(fs []Finding) {
		for _, f := range fs {
			// System actors are never denied or warned, not even about an
			// exemption annotation: they only get their pods mutated.
			if system && !f.IsMutation() {
				continue
			}
			findings = append(findings, f)
		}
	}
	keep(ev.objectExemptions())
	// A force-replace is not what a CD tool is exempted for: see forceReplaced.
	if forceReplaced(r) != nil {
		delete(ev.userExempt, RuleWorkloadDelete)
	}
	for _, rl := range rules {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		// The mode label's own check is never switched off by the annotation:
		// whoever can write a Namespace's label can write its annotation,
		// and a typo there switches enforcement off without a word.
		if (e.withoutObjectPatches && rl.objectPatchesOnly) || e.cfg.RuleOff(string(rl.id)) || ev.userExempt[rl.id] || (!rl.pod && rl.id != RuleModeLabel && ev.objectExempt[rl.id]) {
			continue
		}
		keep(rl.check(ev))
	}
	return findings, nil
}

// ProtectsShutdown reports whether the engine protects the shutdown of this
// pod as it is now (see protectsShutdown): audit lists only these pods.
func (e *Engine) ProtectsShutdown(pod *corev1.Pod) bool {
	ev := &evaluation{settings: &e.settings, review: &Review{}}
	return ev.protectsShutdown(pod)
}

// NeedsHistory reports whether the answer to r depends on its workload's
// rollout history, which the request does not carry (see needsHistory).
// findings are the engine's findings without the history. Only then does the
// webhook read the history (Review.History) and evaluate again, so a write
// that leaves the template alone costs no read.
func (e *Engine) NeedsHistory(r *Review, findings []Finding) bool {
	return needsHistory(e.cfg, r, findings)
}

// RuleHelp is a rule's help text: what it looks at and what to do, a few
// sentences, for code-scanning tools (the SARIF output of `gracekeeper
// check`). It is "" for an id that is not a rule.
func RuleHelp(id RuleID) string {
	if id == RuleExemption {
		return exemptionHelp
	}
	if r := ruleOf(id); r != nil {
		return r.help
	}
	return ""
}

// WarningRank orders the warnings of one response, most important first:
// what breaks a rollout (1), the pod patches (2), revision history (3), and
// last advice and records (4: readiness-probe, change-cause). A finding of
// RuleExemption ranks 1. What enforce mode would deny comes before all of
// them (0), which is the answer's to say, not the rule's.
func WarningRank(f Finding) int {
	if r := ruleOf(f.Rule); r != nil {
		return r.rank
	}
	return 1
}

// ReportedRules lists every id a finding can carry: the registered rules in
// report order, then RuleExemption.
func ReportedRules() []RuleID { return append(ruleIDs(), RuleExemption) }

// ruleOf is the registered rule with this id, nil for none.
func ruleOf(id RuleID) *rule {
	for i := range rules {
		if rules[i].id == id {
			return &rules[i]
		}
	}
	return nil
}

// EvaluateContext is Evaluate for the webhook: bounded and cancellable. It
// returns a *LimitError for a pod spec of more than MaxContainers containers
// (before any rule runs) or a review of more than MaxFindings findings, and
// ctx's error when ctx ends (the API server's timeout: nobody waits for the
// answer any more). gracekeeper check and audit call Evaluate, which judges
// every container: they have no caller waiting with a timeout.
func (e *Engine) EvaluateContext(ctx context.Context, r *Review) ([]Finding, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := TooManyContainers(r.Kind, (&evaluation{review: r}).name(), containersOf(r)); err != nil {
		return nil, err
	}
	findings, err := e.evaluate(ctx, r)
	if err != nil {
		return nil, err
	}
	if len(findings) > MaxFindings {
		return nil, &LimitError{Object: reviewObject(r), What: "findings", Count: len(findings), Max: MaxFindings}
	}
	return findings, nil
}

// NeedsParent reports whether the answer to a request depends on its parent
// object, which the request does not carry: an eviction with a grace
// override is judged by the state of its pod (force-delete), a namespace
// DELETE by what the namespace holds (workload-delete), and any other
// subresource request that a guard denies or warns about may be exempted by
// its parent's annotation (a Scale carries none). findings are the engine's
// findings without the parent. Only then does the webhook read the parent
// (Review.Parent) and evaluate again, so an ordinary eviction or scale costs
// no API read.
func NeedsParent(r *Review, findings []Finding) bool {
	if r.Parent != nil {
		return false
	}
	for _, rl := range rules {
		if rl.parent == nil {
			continue
		}
		if needed, decides := rl.parent(r, findings); decides {
			return needed
		}
	}
	return r.SubResource != "" && denies(findings)
}
