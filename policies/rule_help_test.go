package policies

import "testing"

func TestEveryReportedRuleHasHelp(t *testing.T) {
	for _, id := range ReportedRules() {
		if RuleHelp(id) == "" {
			t.Errorf("rule %s has no help text in rule_help.go", id)
		}
	}
	if len(ruleHelp) != len(ReportedRules()) {
		t.Errorf("rule_help.go has %d entries for %d rules", len(ruleHelp), len(ReportedRules()))
	}
}
