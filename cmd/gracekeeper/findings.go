package main

import (
	"fmt"
	"strings"

	"github.com/gracekeeper/gracekeeper/policies"
)

// Helpers shared by the reports of "check" and "audit".

// findingTally counts findings by action.
type findingTally struct {
	Denials  int `json:"denials"`
	Patches  int `json:"patches"`
	Warnings int `json:"warnings"`
}

func (t *findingTally) count(findings []policies.Finding) {
	for _, f := range findings {
		switch f.Action {
		case policies.ActionDeny:
			t.Denials++
		case policies.ActionPatch:
			t.Patches++
		default:
			t.Warnings++
		}
	}
}

func (t *findingTally) add(o findingTally) {
	t.Denials += o.Denials
	t.Patches += o.Patches
	t.Warnings += o.Warnings
}

func (t findingTally) String() string {
	return fmt.Sprintf("%s, %s, %s", plural(t.Denials, "denial"), plural(t.Patches, "patch"), plural(t.Warnings, "warning"))
}

// findingLine is one finding as the text reports print it: action, rule, text.
func findingLine(f policies.Finding) string {
	return fmt.Sprintf("%-5s  %-24s  %s", strings.ToUpper(string(f.Action)), f.Rule, findingText(f))
}

// findingText is the message, with the graceful alternative for a denial.
func findingText(f policies.Finding) string {
	if f.Action == policies.ActionDeny {
		return f.Explanation()
	}
	return f.Message
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	if strings.HasSuffix(word, "ch") {
		return fmt.Sprintf("%d %ses", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
