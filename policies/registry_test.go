package policies

import "testing"

func TestEveryReportedRuleHasHelp(t *testing.T) {
	for _, id := range ReportedRules() {
		if RuleHelp(id) == "" {
			t.Errorf("rule %s has no help text", id)
		}
	}
	if got := RuleHelp("no-such-rule"); got != "" {
		t.Errorf("RuleHelp of an unknown id = %q, want \"\"", got)
	}
}

// The warnings of one response are ordered by what the user must act on: a
// rollout that breaks before the pod patches, and advice last.
func TestWarningRank(t *testing.T) {
	want := map[RuleID]int{
		RuleReadinessProbe: 4, RuleChangeCause: 4,
		RuleRevisionHistory: 3,
		RulePreStopHook:     2, RuleTerminationGracePeriod: 2,
	}
	for _, id := range ReportedRules() {
		rank, ok := want[id]
		if !ok {
			rank = 1
		}
		if got := WarningRank(Finding{Rule: id}); got != rank {
			t.Errorf("WarningRank of %s = %d, want %d", id, got, rank)
		}
	}
}
