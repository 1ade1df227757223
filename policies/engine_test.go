package policies

import (
	"slices"
	"strings"
	"testing"

	"github.com/gracekeeper/gracekeeper/policies/api/v1alpha1"
	"github.com/gracekeeper/gracekeeper/policies/policytest"
)

func TestRegistryMatchesTheConfigurationsRuleIDs(t *testing.T) {
	if err := validateRegistry(); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, id := range ruleIDs() {
		ids = append(ids, string(id))
	}
	slices.Sort(ids)
	want := slices.Sorted(slices.Values(v1alpha1.RuleIDs))
	if !slices.Equal(ids, want) {
		t.Errorf("registered rules %q, configuration knows %q", ids, want)
	}
}

func TestNativeSleepFollowsTheAPIServerVersion(t *testing.T) {
	tests := []struct {
		name          string
		config        string
		serverVersion string
		want          bool
	}{
		{"auto picks the native sleep action on 1.37.", "", "v1.37.2", true},
		{"auto picks the native sleep action on 1.33.0 exactly.", "", "v1.33.0", true},
		{"auto reads a provider's version suffix.", "", "v1.33.5-gke.1080000", true},
		{"auto picks exec on 1.32, whose oldest kubelets (1.29) lack the sleep action.", "", "v1.32.9", false},
		{"auto picks exec on 1.30.", "", "v1.30.0", false},
		{"auto picks exec when the version is unknown.", "", "", false},
		{"The configured serverVersion wins over discovery.", `serverVersion: "1.33"`, "v1.30.0", true},
		{"action sleep is native on any version.", "preStop: {action: sleep}", "v1.30.0", true},
		{"action exec is exec on any version.", "preStop: {action: exec}", "v1.37.2", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := newEngine(t, tc.config, tc.serverVersion).NativeSleep(); got != tc.want {
				t.Errorf("NativeSleep() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestTheExemptionAnnotationNeverSilencesTheModeLabelCheck(t *testing.T) {
	for _, exempt := range []string{"all", "mode-label"} {
		t.Run(exempt, func(t *testing.T) {
			ns := namespace(t, `{metadata: {labels: {gracekeeper.io/mode: enforc}, annotations: {gracekeeper.io/exempt: `+exempt+`, gracekeeper.io/exempt-reason: migration}}}`)
			// The denial it answers: admission's TestTheExemptionAnnotationNeverSilencesTheModeLabelDenial.
			findings := only(RuleModeLabel, defaultEngine(t).Evaluate(create(ns)))
			if len(findings) != 1 || findings[0].Action != ActionDeny || !strings.Contains(findings[0].Message, `label gracekeeper.io/mode="enforc" is not a mode`) {
				t.Errorf("a Namespace labelled enforc and annotated exempt=%s: findings %s; want the typo denied", exempt, policytest.NormalJSON(t, findings))
			}
		})
	}
}
