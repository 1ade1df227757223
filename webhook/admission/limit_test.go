package admission

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gracekeeper/gracekeeper/policies"
)

func TestDecideLimitAnswersAsTheFailurePolicyWould(t *testing.T) {
	limit := &policies.LimitError{Object: "deployment/web", What: "containers", Count: 178000, Max: policies.MaxContainers}
	t.Run("The enforce validating webhook denies, saying the bound and what to do.", func(t *testing.T) {
		d := DecideLimit(Validating, policies.ModeEnforce, limit)
		if d.Allowed || d.Patch != nil || len(d.Warnings) != 0 || d.Limit != limit {
			t.Fatalf("got %+v, want a denial", d)
		}
		for _, want := range []string{"denied unchecked, as failurePolicy Fail would", "deployment/web has 178000 containers, more than the 1000", "gracekeeper.io/mode: off"} {
			if !strings.Contains(d.Message, want) {
				t.Errorf("message %q, want it to say %q", d.Message, want)
			}
		}
	})
	for _, mode := range []policies.Mode{policies.ModeEnforce, policies.ModeAudit} {
		t.Run(fmt.Sprintf("The mutating webhook in %s allows with no patch and a warning.", mode), func(t *testing.T) {
			d := DecideLimit(Mutating, mode, limit)
			if !d.Allowed || d.Patch == nil || len(d.Patch) != 0 || len(d.Warnings) != 1 {
				t.Fatalf("got %+v, want allowed with an empty patch and one warning", d)
			}
			w := d.Warnings[0]
			if !strings.HasPrefix(w, warningPrefix(mode)+"not mutated") || !strings.Contains(w, "178000 containers") || len(w) > maxWarning {
				t.Errorf("warning %q, want it to say nothing was mutated and why, within %d bytes", w, maxWarning)
			}
		})
	}
	t.Run("The audit validating webhook allows with a warning.", func(t *testing.T) {
		d := DecideLimit(Validating, policies.ModeAudit, limit)
		if !d.Allowed || len(d.Warnings) != 1 || !strings.Contains(d.Warnings[0], "not checked: deployment/web has 178000 containers") {
			t.Errorf("got %+v, want allowed with a warning", d)
		}
	})
}

func TestDecideCapsThePatchOperations(t *testing.T) {
	r := &policies.Review{Operation: policies.Create, Kind: "Pod", Namespace: "shop", Name: "web"}
	var findings []policies.Finding
	for i := range policies.MaxPatchOps + 1 {
		findings = append(findings, policies.Finding{Rule: policies.RulePreStopHook, Action: policies.ActionPatch, Object: "pod/web",
			Message: fmt.Sprintf("add preStop to container %q", fmt.Sprint("c", i)),
			Patch:   []policies.PatchOp{{Op: "add", Path: fmt.Sprintf("/spec/containers/%d/lifecycle", i), Value: map[string]any{}}}})
	}
	d := Decide(Mutating, policies.ModeEnforce, r, findings)
	if d.Limit == nil || d.Limit.What != "patch operations" || d.Limit.Count != policies.MaxPatchOps+1 || len(d.Patch) != 0 || !d.Allowed {
		t.Fatalf("got limit %v and %d patch operations, want the patch-operations limit and no patch", d.Limit, len(d.Patch))
	}
	if d.Limit.Metric() != "patch-operations" {
		t.Errorf("metric label %q", d.Limit.Metric())
	}
}
