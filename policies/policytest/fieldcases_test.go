package policytest_test

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gracekeeper/gracekeeper/policies"
	"github.com/gracekeeper/gracekeeper/policies/policytest"
)

func TestFindingKeysReadTheEngineAndTheGoldenAlike(t *testing.T) {
	engine := []policies.Finding{
		{Rule: policies.RulePreStopHook, Action: policies.ActionPatch, Object: "deployment/web", Message: "add preStop",
			Patch: []policies.PatchOp{{Op: "add", Path: "/spec/x", Value: map[string]any{"seconds": 5, "a": "b"}}}},
		{Rule: policies.RuleReadinessProbe, Action: policies.ActionWarn, Object: "deployment/web", Message: "no probe",
			Patch: []policies.PatchOp{}},
		{Rule: policies.RuleChangeCause, Action: policies.ActionPatch, Message: "record who changed it"},
	}
	pinned := []policytest.Finding{
		{Rule: "readiness-probe", Action: "warn", Message: "no probe"},
		{Rule: "prestop-hook", Action: "patch", Message: "add preStop",
			Patch: json.RawMessage(`[{"value": {"a": "b", "seconds": 5}, "path": "/spec/x", "op": "add"}]`)},
	}
	want := []string{
		`prestop-hook patch add preStop [{"op":"add","path":"/spec/x","value":{"a":"b","seconds":5}}]`,
		"readiness-probe warn no probe null",
	}
	if got := policytest.FindingKeys(engine); !slices.Equal(got, want) {
		t.Errorf("FindingKeys(engine findings) = %q, want %q (change-cause left out)", got, want)
	}
	if got := policytest.FindingKeys(pinned); !slices.Equal(got, want) {
		t.Errorf("FindingKeys(golden findings) = %q, want %q", got, want)
	}
}

func TestFieldCasesLoadsEveryOrdinaryCreate(t *testing.T) {
	cases, err := policytest.FieldCases(filepath.Join("..", "testdata", "rules"))
	if err != nil {
		t.Fatal(err)
	}
	for _, fc := range cases {
		var meta struct {
			Metadata struct{ Name, Namespace string }
		}
		if err := json.Unmarshal(fc.Object, &meta); err != nil || meta.Metadata.Name == "" ||
			meta.Metadata.Namespace != policytest.FieldCaseNamespace {
			t.Errorf("%s: object metadata = %+v (%v), want a name in namespace %s", fc.Name, meta.Metadata, err, policytest.FieldCaseNamespace)
		}
		if fc.GVK.Kind == "" || !strings.Contains(fc.Config, "serverVersion: v1.") || !strings.Contains(fc.Name, "field") {
			t.Errorf("%s: kind %q, config %q: want a kind and a server version", fc.Name, fc.GVK.Kind, fc.Config)
		}
	}
	if len(cases) < 10 {
		t.Errorf("%d field cases, want every one under policies/testdata/rules", len(cases))
	}
	if _, err := policytest.FieldCases(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no field-case fixtures") {
		t.Errorf("FieldCases(an empty directory) = %v, want an error saying there are none", err)
	}
}
