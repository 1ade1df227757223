package admission

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	utilnet "k8s.io/apimachinery/pkg/util/net"

	"github.com/gracekeeper/gracekeeper/policies"
	"github.com/gracekeeper/gracekeeper/policies/policytest"
)

func TestDecide(t *testing.T) {
	hook := []policies.PatchOp{op("add", "/spec/containers/0/lifecycle", `{"preStop":{"sleep":{"seconds":5}}}`)}
	patch := policies.Finding{Rule: policies.RulePreStopHook, Action: policies.ActionPatch, Object: "pod/web",
		Message: `add preStop sleep 5s to container "app"`, Patch: hook}
	onPods := policies.Finding{Rule: policies.RulePreStopHook, Action: policies.ActionPatch, Object: "deployment/nginx", OnPods: true,
		Message: `add preStop sleep 5s to container "nginx" in the pods of deployment/nginx`,
		Patch:   []policies.PatchOp{op("add", "/spec/template/spec/containers/0/lifecycle", `{"preStop":{"sleep":{"seconds":5}}}`)}}
	warn := policies.Finding{Rule: policies.RuleReadinessProbe, Action: policies.ActionWarn, Object: "pod/web",
		Message: `container "app" has no readinessProbe, so a rollout cannot wait for it to serve`}
	deny := policies.Finding{Rule: policies.RuleWorkloadDelete, Action: policies.ActionDeny, Object: "deployment/nginx",
		Message: "deleting deployment/nginx stops all 3 of its pods",
		Hint:    `to restart or update it, use "kubectl rollout restart deployment/nginx" or "kubectl apply"`}
	otherDeny := policies.Finding{Rule: policies.RuleRecreateStrategy, Action: policies.ActionDeny, Object: "deployment/nginx",
		Message: "strategy Recreate stops every pod before new ones start"}
	reported := func(mode policies.Mode, pairs ...any) []Reported {
		var out []Reported
		for i := 0; i < len(pairs); i += 2 {
			out = append(out, Reported{Finding: pairs[i].(policies.Finding), Mode: mode, Outcome: pairs[i+1].(Outcome)})
		}
		return out
	}

	podCreate := &policies.Review{Operation: policies.Create, Kind: "Pod"}
	deploymentCreate := &policies.Review{Operation: policies.Create, Kind: "Deployment"}

	tests := []struct {
		name     string
		webhook  Webhook
		review   *policies.Review
		mode     policies.Mode
		findings []policies.Finding
		want     Decision
	}{
		{
			name:    "Nothing found: the mutating webhook allows, with an empty (not null) patch.",
			webhook: Mutating, review: podCreate,
			mode: policies.ModeEnforce,
			want: Decision{Allowed: true, Patch: []policies.PatchOp{}},
		},
		{
			name:    "A request the mutating webhook does not judge is allowed, with an empty patch.",
			webhook: Mutating,
			mode:    policies.ModeEnforce,
			want:    Decision{Allowed: true, Patch: []policies.PatchOp{}},
		},
		{
			name:    "Nothing found: the validating webhook allows, with no patch.",
			webhook: Validating, review: deploymentCreate,
			mode: policies.ModeEnforce,
			want: Decision{Allowed: true},
		},
		{
			name:    "Enforce applies a patch and passes a warning.",
			webhook: Mutating, review: podCreate,
			mode:     policies.ModeEnforce,
			findings: []policies.Finding{patch, warn},
			want: Decision{Allowed: true, Patch: hook,
				Warnings: []string{`gracekeeper readiness-probe: container "app" has no readinessProbe, so a rollout cannot wait for it to serve`},
				Reported: reported(policies.ModeEnforce, patch, OutcomePatched, warn, OutcomeWarned)},
		},
		{
			name:    "Enforce leaves a workload's template alone and says what its pods will get.",
			webhook: Validating, review: deploymentCreate,
			mode:     policies.ModeEnforce,
			findings: []policies.Finding{onPods},
			want: Decision{Allowed: true,
				Warnings: []string{`gracekeeper prestop-hook: will add preStop sleep 5s to container "nginx" in the pods of deployment/nginx`},
				Reported: reported(policies.ModeEnforce, onPods, OutcomeWarned)},
		},
		{
			name:    "Enforce denies with the problem and the alternative; a denied request carries no warnings and no patch, so only the denial is reported.",
			webhook: Mutating, review: podCreate,
			mode:     policies.ModeEnforce,
			findings: []policies.Finding{warn, deny, patch},
			want: Decision{Allowed: false, Patch: []policies.PatchOp{},
				Message: `gracekeeper workload-delete: deleting deployment/nginx stops all 3 of its pods. ` +
					`to restart or update it, use "kubectl rollout restart deployment/nginx" or "kubectl apply"`,
				Reported: reported(policies.ModeEnforce, deny, OutcomeDenied)},
		},
		{
			name:    "Enforce names every denial in one message.",
			webhook: Validating, review: deploymentCreate,
			mode:     policies.ModeEnforce,
			findings: []policies.Finding{otherDeny, deny},
			want: Decision{Allowed: false,
				Message: `gracekeeper recreate-strategy: strategy Recreate stops every pod before new ones start; ` +
					`gracekeeper workload-delete: deleting deployment/nginx stops all 3 of its pods. ` +
					`to restart or update it, use "kubectl rollout restart deployment/nginx" or "kubectl apply"`,
				Reported: reported(policies.ModeEnforce, otherDeny, OutcomeDenied, deny, OutcomeDenied)},
		},
		{
			name:    `Audit changes and denies nothing, and reports each patch and denial as "would ...", keeping the patch for logs; warnings come most important first.`,
			webhook: Mutating, review: podCreate,
			mode:     policies.ModeAudit,
			findings: []policies.Finding{patch, deny, warn, onPods},
			want: Decision{Allowed: true, Patch: []policies.PatchOp{},
				Warnings: []string{
					`gracekeeper [audit] workload-delete: would deny: deleting deployment/nginx stops all 3 of its pods`,
					`gracekeeper [audit] prestop-hook: would add preStop sleep 5s to container "app"`,
					`gracekeeper [audit] prestop-hook: would add preStop sleep 5s to container "nginx" in the pods of deployment/nginx`,
					`gracekeeper [audit] readiness-probe: container "app" has no readinessProbe, so a rollout cannot wait for it to serve`,
				},
				Reported: reported(policies.ModeAudit, patch, OutcomeWouldPatch, deny, OutcomeWouldDeny, warn, OutcomeWarned, onPods, OutcomeWouldPatch)},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Decide(tc.webhook, tc.mode, tc.review, tc.findings)
			if g, w := policytest.NormalJSON(t, got), policytest.NormalJSON(t, tc.want); g != w {
				t.Errorf("decision differs\ngot:\n%s\nwant:\n%s", g, w)
			}
			if tc.webhook == Mutating && got.Patch == nil {
				t.Errorf("the patch is nil; the mutating webhook must always return a valid patch")
			}
			for _, w := range got.Warnings {
				assertValidWarning(t, w)
			}
		})
	}
}

// Warnings must survive the API server: valid UTF-8, no control characters,
// and short enough not to be truncated.
func TestDecideWarningsAreShortSingleLineUTF8(t *testing.T) {
	tests := []struct {
		name    string
		message string
		want    string
	}{
		{
			name:    "Control characters from user values become spaces.",
			message: "container \"a\nb\" has\ta \x00 \u0085 \x7f value",
			want:    `gracekeeper readiness-probe: container "a b" has a       value`,
		},
		{
			name:    "Invalid UTF-8 becomes the replacement character.",
			message: "container \"\xff\" has none",
			want:    "gracekeeper readiness-probe: container \"\uFFFD\" has none",
		},
		{
			name:    "A long ASCII message is cut to 240 bytes, ending in an ellipsis.",
			message: strings.Repeat("a", 300),
			want:    "gracekeeper readiness-probe: " + strings.Repeat("a", 240-len("gracekeeper readiness-probe: ")-3) + "...",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(Validating, policies.ModeEnforce, &policies.Review{Operation: policies.Create, Kind: "Deployment"},
				[]policies.Finding{{Rule: policies.RuleReadinessProbe, Action: policies.ActionWarn, Message: tc.message}})
			if len(d.Warnings) != 1 || d.Warnings[0] != tc.want {
				t.Errorf("warnings are %q, want [%q]", d.Warnings, tc.want)
			}
			for _, w := range d.Warnings {
				assertValidWarning(t, w)
			}
		})
	}

	// A cut must not split a multi-byte character, at any offset.
	for _, r := range []string{"é", "日", "🚀"} {
		for pad := range 4 {
			message := strings.Repeat("x", pad) + strings.Repeat(r, 200)
			for _, mode := range []policies.Mode{policies.ModeEnforce, policies.ModeAudit} {
				for _, action := range []policies.Action{policies.ActionWarn, policies.ActionPatch, policies.ActionDeny} {
					t.Run(fmt.Sprintf("%s padded %d, %s %s", r, pad, mode, action), func(t *testing.T) {
						d := Decide(Validating, mode, &policies.Review{Operation: policies.Create, Kind: "Deployment"},
							[]policies.Finding{{Rule: policies.RuleReadinessProbe, Action: action, OnPods: true, Message: message}})
						for _, w := range d.Warnings {
							assertValidWarning(t, w)
							if !strings.HasSuffix(w, "...") {
								t.Errorf("a cut warning does not end in an ellipsis: %q", w)
							}
						}
						if strings.ContainsAny(d.Message, "\n\r") || !utf8.ValidString(d.Message) {
							t.Errorf("the denial is not one valid line: %q", d.Message)
						}
					})
				}
			}
		}
	}
}

func TestDenialTextIsOneLine(t *testing.T) {
	got := DenialText(policies.Finding{Rule: policies.RuleModeLabel, Message: "label gracekeeper.io/mode=\"a\nb\" is not a mode", Hint: "use\renforce"})
	want := `gracekeeper mode-label: label gracekeeper.io/mode="a b" is not a mode. use enforce`
	if got != want {
		t.Errorf("DenialText is %q, want %q", got, want)
	}
}

// assertValidWarning checks a warning the way the API server does before it
// sends the Warning header, and that it stays below its 256-character cut.
func assertValidWarning(t testing.TB, w string) {
	t.Helper()
	if _, err := utilnet.NewWarningHeader(299, "-", w); err != nil {
		t.Errorf("the API server would drop warning %q: %v", w, err)
	}
	if len(w) > maxWarning {
		t.Errorf("warning is %d bytes, over %d: %q", len(w), maxWarning, w)
	}
}

// A workload's CREATE and UPDATE pass through both webhooks; each finding
// must reach the user once, from the webhook that sees the request.
func TestEachFindingIsAnsweredByOneWebhook(t *testing.T) {
	var (
		workloadPatch = policies.Finding{Rule: policies.RuleRollingUpdate, Action: policies.ActionPatch, Message: "set maxUnavailable", Patch: []policies.PatchOp{replace("/spec/replicas", 1)}}
		templatePatch = policies.Finding{Rule: policies.RulePreStopHook, Action: policies.ActionPatch, OnPods: true, Message: "add preStop", Patch: []policies.PatchOp{replace("/spec/template", 1)}}
		denial        = policies.Finding{Rule: policies.RuleWorkloadDelete, Action: policies.ActionDeny, Message: "deleting"}
		warning       = policies.Finding{Rule: policies.RuleReadinessProbe, Action: policies.ActionWarn, Message: "no readinessProbe"}
		all           = []policies.Finding{workloadPatch, templatePatch, denial, warning}
	)
	tests := map[string]struct {
		review               *policies.Review
		mutating, validating []policies.Finding
	}{
		"The mutating webhook patches a workload's own object; the validating one says the rest": {
			review:   &policies.Review{Operation: policies.Create, Kind: "Deployment"},
			mutating: []policies.Finding{workloadPatch}, validating: []policies.Finding{templatePatch, denial, warning},
		},
		"A workload's UPDATE is split the same way": {
			review:   &policies.Review{Operation: policies.Update, Kind: "StatefulSet"},
			mutating: []policies.Finding{workloadPatch}, validating: []policies.Finding{templatePatch, denial, warning},
		},
		"The mutating webhook answers everything about a pod's CREATE, which the validating configuration does not see": {
			review:   &policies.Review{Operation: policies.Create, Kind: "Pod"},
			mutating: all,
		},
		"The validating webhook answers a pod's DELETE, which the mutating configuration does not see": {
			review:     &policies.Review{Operation: policies.Delete, Kind: "Pod"},
			mutating:   []policies.Finding{workloadPatch},
			validating: []policies.Finding{templatePatch, denial, warning},
		},
		"The validating webhook answers a pod's subresource": {
			review:     &policies.Review{Operation: policies.Create, Kind: "Pod", SubResource: "eviction"},
			mutating:   []policies.Finding{workloadPatch},
			validating: []policies.Finding{templatePatch, denial, warning},
		},
	}
	rules := func(reported []Reported) []policies.RuleID {
		var ids []policies.RuleID
		for _, r := range reported {
			ids = append(ids, r.Rule)
		}
		return ids
	}
	ids := func(findings []policies.Finding) []policies.RuleID {
		var ids []policies.RuleID
		for _, f := range findings {
			ids = append(ids, f.Rule)
		}
		return ids
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			// Audit, where nothing is denied, so every answered finding is reported.
			mutating := Decide(Mutating, policies.ModeAudit, tt.review, all)
			validating := Decide(Validating, policies.ModeAudit, tt.review, all)
			if got, want := rules(mutating.Reported), ids(tt.mutating); !slices.Equal(got, want) {
				t.Errorf("the mutating webhook reports %v, want %v", got, want)
			}
			if got, want := rules(validating.Reported), ids(tt.validating); !slices.Equal(got, want) {
				t.Errorf("the validating webhook reports %v, want %v", got, want)
			}
			if got := len(mutating.Warnings) + len(validating.Warnings); got != len(all) {
				t.Errorf("the user reads %d warnings about %d findings: %q and %q", got, len(all), mutating.Warnings, validating.Warnings)
			}
		})
	}
}

func op(kind, path, value string) policies.PatchOp {
	return policies.PatchOp{Op: kind, Path: path, Value: json.RawMessage(value)}
}

func replace(path string, value any) policies.PatchOp {
	return policies.PatchOp{Op: "replace", Path: path, Value: value}
}
