package report

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gracekeeper/gracekeeper/policies"
	"github.com/gracekeeper/gracekeeper/policies/api/v1alpha1"
	"github.com/gracekeeper/gracekeeper/policies/policytest"
)

// docs/rules.md is written from policies.RuleHelp, one heading per rule id:
// the anchors SARIF's helpUri points at. UPDATE_GOLDEN=1 rewrites it.
func TestRulesDocHasAnAnchorPerRule(t *testing.T) {
	var b strings.Builder
	b.WriteString("# Rules\n\n<!-- Written from policies.RuleHelp by the tests of cmd/gracekeeper/internal/report: UPDATE_GOLDEN=1 go test ./cmd/gracekeeper/internal/report -->\n\n")
	b.WriteString("Each rule's id, as findings, exemptions, metrics and the SARIF `helpUri` anchors name it. The\n")
	b.WriteString("README's Rules table says what each judges and its default action; Configuration says how to\n")
	b.WriteString("change an action or switch a rule off.\n")
	for _, id := range policies.ReportedRules() {
		fmt.Fprintf(&b, "\n## %s\n\n%s\n", id, policies.RuleHelp(id))
		if !strings.HasPrefix(RulesDoc, "https://github.com/gracekeeper/gracekeeper/blob/main/docs/") {
			t.Fatalf("RulesDoc %s is not in docs/", RulesDoc)
		}
	}
	policytest.Golden(t, filepath.Join("..", "..", "..", "..", "docs", "rules.md"), []byte(b.String()))
}

func TestRuleNameIsTheIdInPascalCase(t *testing.T) {
	if got := RuleName(policies.RuleTerminationGracePeriod); got != "TerminationGracePeriod" {
		t.Errorf("RuleName = %q", got)
	}
}

// The README's Rules table has one row per rule id, in the configuration's
// order (v1alpha1.RuleIDs), and names no other.
func TestReadmeRulesTableHasARowPerRule(t *testing.T) {
	var rows []string
	for line := range strings.Lines(policytest.DocSection(t, filepath.Join("..", "..", "..", "..", "README.md"), "Rules")) {
		if id, ok := strings.CutPrefix(line, "| `"); ok {
			id, _, _ = strings.Cut(id, "`")
			rows = append(rows, id)
		}
	}
	if !slices.Equal(rows, v1alpha1.RuleIDs) {
		t.Errorf("README.md's Rules table has rows %q, want one per rule id %q", rows, v1alpha1.RuleIDs)
	}
}
