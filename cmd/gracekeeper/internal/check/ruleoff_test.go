package check

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gracekeeper/gracekeeper/cmd/gracekeeper/internal/report"
	"github.com/gracekeeper/gracekeeper/policies"
	"github.com/gracekeeper/gracekeeper/policies/api/v1alpha1"
)

// offConfig switches each rule off in the style of the configuration file.
var offConfig = map[string]string{
	v1alpha1.RulePreStopHook:            "preStop: {action: off}",
	v1alpha1.RuleTerminationGracePeriod: "terminationGracePeriod: off",
	v1alpha1.RuleRollingUpdate:          "rollingUpdate: {action: off}",
	v1alpha1.RuleRecreateStrategy:       "recreate: off",
	v1alpha1.RuleRevisionHistory:        "revisionHistory: {action: off}",
	v1alpha1.RuleUpdateStrategy:         "updateStrategy: off",
	v1alpha1.RuleScaleToZero:            "scaleToZero: off",
	v1alpha1.RuleScaleDown:              "scaleDown: off",
	v1alpha1.RuleWorkloadDelete:         "workloadDelete: off",
	v1alpha1.RulePodDelete:              "podDelete: off",
	v1alpha1.RuleForceDelete:            "forceDelete: off",
	v1alpha1.RuleReadinessProbe:         "readinessProbe: off",
	v1alpha1.RuleModeLabel:              "modeLabel: off",
	v1alpha1.RuleChangeCause:            "changeCause: off",
}

func rulesFound(t *testing.T, args ...string) []policies.RuleID {
	t.Helper()
	out, errOut, err := runCheckIn(t, "", append(args, "-o", "json")...)
	if exitCode(err) == 2 {
		t.Fatalf("%v: %s", err, errOut)
	}
	var rep report.Check
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	var ids []policies.RuleID
	for _, o := range rep.Objects {
		for _, f := range o.Findings {
			if !slices.Contains(ids, f.Rule) {
				ids = append(ids, f.Rule)
			}
		}
	}
	return ids
}

// Across the rule fixtures, switching a rule off in the configuration takes
// its findings away and leaves the others' as they were.
func TestEveryRuleSwitchedOffInTheConfigurationReportsNothing(t *testing.T) {
	if len(offConfig) != len(v1alpha1.RuleIDs) {
		t.Fatalf("offConfig covers %d rules, there are %d", len(offConfig), len(v1alpha1.RuleIDs))
	}
	dir := t.TempDir()
	switchedOff := map[policies.RuleID]bool{}
	for _, path := range ruleFixtureManifests(t) {
		before := rulesFound(t, path)
		for _, id := range before {
			config := filepath.Join(dir, string(id)+".yaml")
			if err := os.WriteFile(config, []byte(offConfig[string(id)]+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			after := rulesFound(t, path, "--config", config)
			want := slices.DeleteFunc(slices.Clone(before), func(r policies.RuleID) bool { return r == id })
			if !slices.Equal(after, want) {
				t.Errorf("%s with %q: rules %q, want %q", path, offConfig[string(id)], after, want)
			}
			switchedOff[id] = true
		}
	}
	if len(switchedOff) < 8 {
		t.Errorf("the fixtures exercised only %d rules' switches", len(switchedOff))
	}
}
