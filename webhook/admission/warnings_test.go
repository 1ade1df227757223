package admission

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gracekeeper/gracekeeper/policies"
)

func TestFitWarnings(t *testing.T) {
	// The findings of the prestop-hook and readiness-probe rules, with the
	// container they are about and their sentence for several.
	prestop := func(name string) pendingWarning {
		return pendingOf(policies.ModeAudit, policies.Finding{Rule: policies.RulePreStopHook, Container: name,
			Message:    fmt.Sprintf(`add preStop sleep 5s to container %q in the pods of deployment/web`, name),
			Containers: `add preStop sleep 5s to %s in the pods of deployment/web`}, 2, "would ")
	}
	readiness := func(name string) pendingWarning {
		return pendingOf(policies.ModeAudit, policies.Finding{Rule: policies.RuleReadinessProbe, Container: name,
			Message:    fmt.Sprintf(`container %q has no readinessProbe, so a rollout cannot wait for it to serve`, name),
			Containers: `%s have no readinessProbe, so a rollout cannot wait for them to serve`}, 4, "")
	}
	deny := pendingWarning{rank: 0, text: "gracekeeper [audit] recreate-strategy: would deny: strategy Recreate stops every pod before new ones start"}

	t.Run("Warnings that differ only in the container are one warning naming them.", func(t *testing.T) {
		got := fitWarnings(policies.ModeAudit, []pendingWarning{prestop("a"), readiness("a"), prestop("b"), readiness("b"), prestop("c")})
		want := []string{
			`gracekeeper [audit] prestop-hook: would add preStop sleep 5s to 3 containers ("a", "b", "c") in the pods of deployment/web`,
			`gracekeeper [audit] readiness-probe: 2 containers ("a", "b") have no readinessProbe, so a rollout cannot wait for them to serve`,
		}
		assertStrings(t, got, want)
	})
	t.Run("Only warnings of the same rank, rule and sentence for several containers are said together.", func(t *testing.T) {
		sleep10 := func(name string) pendingWarning {
			return pendingOf(policies.ModeAudit, policies.Finding{Rule: policies.RulePreStopHook, Container: name,
				Message:    fmt.Sprintf(`add preStop sleep 10s to container %q in the pods of deployment/web`, name),
				Containers: `add preStop sleep 10s to %s in the pods of deployment/web`}, 2, "would ")
		}
		enforced := pendingOf(policies.ModeEnforce, policies.Finding{Rule: policies.RulePreStopHook, Container: "c",
			Message:    `add preStop sleep 5s to container "c" in the pods of deployment/web`,
			Containers: `add preStop sleep 5s to %s in the pods of deployment/web`}, 2, "will ")
		// A finding that names a container in its message but has no
		// Container is a warning of its own.
		unnamed := pendingWarning{rank: 2, text: prestop("c").text}
		got := fitWarnings(policies.ModeAudit, []pendingWarning{prestop("a"), sleep10("b"), prestop("c"), sleep10("d"), enforced, unnamed})
		want := []string{
			`gracekeeper [audit] prestop-hook: would add preStop sleep 5s to 2 containers ("a", "c") in the pods of deployment/web`,
			`gracekeeper [audit] prestop-hook: would add preStop sleep 10s to 2 containers ("b", "d") in the pods of deployment/web`,
			`gracekeeper prestop-hook: will add preStop sleep 5s to container "c" in the pods of deployment/web`,
			prestop("c").text,
		}
		assertStrings(t, got, want)
	})
	t.Run("A single container's warning is left as it is, and duplicates are said once.", func(t *testing.T) {
		assertStrings(t, fitWarnings(policies.ModeAudit, []pendingWarning{prestop("a"), prestop("a")}), []string{prestop("a").text})
	})
	t.Run("The most important come first: denials to be, then rollouts, then pod patches, then readiness.", func(t *testing.T) {
		rolling := pendingWarning{rank: 1, text: "gracekeeper [audit] rolling-update: would set maxUnavailable from 100% to 0"}
		got := fitWarnings(policies.ModeAudit, []pendingWarning{readiness("a"), prestop("a"), rolling, deny})
		assertStrings(t, got, []string{deny.text, rolling.text, prestop("a").text, readiness("a").text})
	})
	t.Run("A long list names as many containers as fit in one warning, and counts the rest.", func(t *testing.T) {
		var pending []pendingWarning
		for i := range 30 {
			pending = append(pending, prestop(fmt.Sprintf("worker-%02d-sidecar-container", i)))
		}
		got := fitWarnings(policies.ModeAudit, pending)
		if len(got) != 1 || !strings.Contains(got[0], "to 30 containers (\"worker-00-sidecar-container\", ") ||
			!strings.Contains(got[0], " more) in the pods of deployment/web") || len(got[0]) > maxWarning {
			t.Errorf("got %q", got)
		}
	})
	t.Run("The largest Pod the API server accepts (178,000 containers) gets one warning per kind, naming the first and counting the rest.", func(t *testing.T) {
		const n = 178_000
		pending := make([]pendingWarning, 0, 2*n)
		for i := range n {
			name := fmt.Sprintf("c%d", i)
			pending = append(pending, prestop(name), readiness(name), prestop(name))
		}
		got := fitWarnings(policies.ModeAudit, pending)
		if len(got) != 2 {
			t.Fatalf("got %d warnings, want 2: %q", len(got), got)
		}
		for _, w := range got {
			if !strings.Contains(w, `178000 containers ("c0", "c1", `) || !strings.Contains(w, " more)") || len(w) > maxWarning {
				t.Errorf("got %q, want the count, the first names and the rest counted, within %d bytes", w, maxWarning)
			}
		}
	})
	t.Run("When every name fits but all but one would not with the count, every name is said.", func(t *testing.T) {
		// 240 bytes: the list of all names fits, and ", and 1 more" is longer than the last name.
		prefix := "gracekeeper x: " + strings.Repeat("p", 240-len("gracekeeper x: ")-len(`2 containers ("a", "b") y`)-1)
		got := containerList(prefix, " y", []string{"a", "b"})
		if want := prefix + `2 containers ("a", "b") y`; got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	})
	t.Run("What does not fit the budget is counted in a last warning, most important kept.", func(t *testing.T) {
		pending := []pendingWarning{readiness("a")}
		for i := range 40 {
			pending = append(pending, pendingWarning{rank: 1, text: fmt.Sprintf("gracekeeper [audit] rolling-update: finding number %02d %s", i, strings.Repeat("x", 150))})
		}
		got := fitWarnings(policies.ModeAudit, pending)
		total := 0
		for _, w := range got {
			total += utf8.RuneCountInString(w)
			if len(w) > maxWarning {
				t.Errorf("warning longer than %d: %q", maxWarning, w)
			}
		}
		if total > warningBudget {
			t.Errorf("%d runes of warnings, want at most %d", total, warningBudget)
		}
		last := got[len(got)-1]
		if !strings.HasPrefix(last, "gracekeeper [audit] ") || !strings.Contains(last, fmt.Sprintf("%d more warnings left out", 41-(len(got)-1))) {
			t.Errorf("last warning = %q, want the count of the %d left out", last, 41-(len(got)-1))
		}
		if !strings.Contains(got[0], "finding number 00") {
			t.Errorf("first warning = %q, want the first of the most important", got[0])
		}
		for _, w := range got {
			if strings.Contains(w, "readiness-probe") {
				t.Errorf("the least important warning was kept over more important ones: %q", w)
			}
		}
	})
	t.Run("A warning is cut on a character boundary.", func(t *testing.T) {
		got := fitWarnings(policies.ModeEnforce, []pendingWarning{{rank: 1, text: "gracekeeper x: " + strings.Repeat("é", 200)}})
		if !utf8.ValidString(got[0]) || len(got[0]) > maxWarning || !strings.HasSuffix(got[0], "...") {
			t.Errorf("got %q", got[0])
		}
	})
}

func assertStrings(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// Decide says the findings of several containers in one warning, from their
// Container and Containers, in the words of the webhook's outcome.
func TestDecideSaysSeveralContainersInOneWarning(t *testing.T) {
	var findings []policies.Finding
	for _, name := range []string{"app", "sidecar"} {
		findings = append(findings, policies.Finding{Rule: policies.RulePreStopHook, Action: policies.ActionPatch, OnPods: true,
			Object: "deployment/web", Container: name,
			Message:    fmt.Sprintf("add preStop sleep 5s to container %q in the pods of deployment/web", name),
			Containers: "add preStop sleep 5s to %s in the pods of deployment/web"})
	}
	r := &policies.Review{Operation: policies.Create, Kind: "Deployment", Namespace: "shop", Name: "web"}
	for mode, want := range map[policies.Mode]string{
		policies.ModeEnforce: `gracekeeper prestop-hook: will add preStop sleep 5s to 2 containers ("app", "sidecar") in the pods of deployment/web`,
		policies.ModeAudit:   `gracekeeper [audit] prestop-hook: would add preStop sleep 5s to 2 containers ("app", "sidecar") in the pods of deployment/web`,
	} {
		d := Decide(Validating, mode, r, findings)
		assertStrings(t, d.Warnings, []string{want})
		if len(d.Reported) != 2 {
			t.Errorf("%s: %d findings reported, want each of the 2", mode, len(d.Reported))
		}
	}
}
