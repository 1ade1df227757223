package admission

import (
	"strings"
)

// OutcomeRules are the rules of the findings of one outcome in an answer.
type OutcomeRules struct {
	Outcome Outcome
	// Rules are the rule ids, each once in the order first reported,
	// comma-separated: "prestop-hook,termination-grace-period".
	Rules string
}

// Rules lists, outcome by outcome (patched, denied, warned, would-patch,
// would-deny), the rules of d's reported findings; outcomes without one are
// left out. It takes time linear in the findings, and each list is bounded
// by the number of rules, whatever the number of findings.
func (d Decision) Rules() []OutcomeRules {
	if len(d.Reported) == 0 {
		return nil
	}
	type key struct {
		outcome Outcome
		rule    string
	}
	named := map[key]bool{}
	byOutcome := map[Outcome][]string{}
	for _, rep := range d.Reported {
		k := key{rep.Outcome, string(rep.Rule)}
		if named[k] {
			continue
		}
		named[k] = true
		byOutcome[rep.Outcome] = append(byOutcome[rep.Outcome], k.rule)
	}
	var out []OutcomeRules
	for _, o := range outcomes {
		if rules := byOutcome[o]; len(rules) > 0 {
			out = append(out, OutcomeRules{Outcome: o, Rules: strings.Join(rules, ",")})
		}
	}
	return out
}

// auditAnnotations are what the API server writes in its audit log for this
// answer, as pod-security-admission records its verdicts: one key per
// outcome ("patched", "denied", "warned", "would-patch", "would-deny") whose
// value lists its rule ids. The API server prefixes each key with the
// webhook's name in its configuration ("pods.gracekeeper.io/patched") and
// requires the whole key to be a qualified name, which these are. Values are
// bounded by the number of rules, not findings. nil when nothing was found
// (an answer past a bound included: its metric and log line say so).
func (d Decision) auditAnnotations() map[string]string {
	rules := d.Rules()
	if len(rules) == 0 {
		return nil
	}
	annotations := make(map[string]string, len(rules))
	for _, r := range rules {
		annotations[string(r.Outcome)] = r.Rules
	}
	return annotations
}
