package cli

import (
	"fmt"
	"strings"

	"github.com/gracekeeper/gracekeeper/policies"
)

// Tally counts findings by action; the reports of check and audit embed it,
// so its fields are part of their JSON.
type Tally struct {
	Denials  int `json:"denials"`
	Patches  int `json:"patches"`
	Warnings int `json:"warnings"`
}

// Count adds findings to the tally.
func (t *Tally) Count(findings []policies.Finding) {
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

// Add adds another tally to this one.
func (t *Tally) Add(o Tally) {
	t.Denials += o.Denials
	t.Patches += o.Patches
	t.Warnings += o.Warnings
}

// String is "1 denial, 2 patches, 0 warnings".
func (t Tally) String() string {
	return fmt.Sprintf("%s, %s, %s", Plural(t.Denials, "denial"), Plural(t.Patches, "patch"), Plural(t.Warnings, "warning"))
}

// FindingLine is one finding as the text reports print it: action, rule, text.
func FindingLine(f policies.Finding) string {
	return fmt.Sprintf("%-5s  %-24s  %s", strings.ToUpper(string(f.Action)), f.Rule, FindingText(f))
}

// FindingText is the message, with the graceful alternative for a denial.
func FindingText(f policies.Finding) string {
	if f.Action == policies.ActionDeny {
		return f.Explanation()
	}
	return f.Message
}

// Plural is "1 pod", "2 pods", "2 patches".
func Plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	if strings.HasSuffix(word, "ch") {
		return fmt.Sprintf("%d %ses", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
