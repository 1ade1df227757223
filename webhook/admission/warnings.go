package admission

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gracekeeper/gracekeeper/policies"
)

// The API server keeps a limited amount of warning text per response
// (k8s.io/apiserver v0.37.2, pkg/endpoints/filters/warning.go, recorder.AddWarning):
// warnings are deduplicated and counted in runes of text; once one response's
// warnings pass truncateAtTotalRunes (4 * 1024), every warning is cut to
// truncateItemRunes (256) and, as soon as the total reaches 4096, every later
// one is dropped ("exceeded max warning header size, truncating" in its log).
// One workload request passes through both gracekeeper webhooks, mutating and
// validating, and their warnings share that budget, so each response keeps to
// half of it.
const (
	apiServerWarningRunes = 4 * 1024
	warningBudget         = apiServerWarningRunes / 2
)

// maxWarning keeps a warning under the API server's 256-rune truncation.
const maxWarning = 240

// pendingWarning is a warning before it is fitted into a response.
type pendingWarning struct {
	// rank orders warnings, most important first (see warningRank).
	rank int
	// text is the whole warning, not yet cut to maxWarning.
	text string
	// container is the container the warning is about, and several the
	// warning for several containers, with %s where their list goes (from
	// the finding's Container and Containers); both "" for a warning about
	// no container.
	container, several string
}

// pendingOf is finding f said in a mode with its rank, lead before its
// message ("would ", "will ").
func pendingOf(mode policies.Mode, f policies.Finding, rank int, lead string) pendingWarning {
	w := pendingWarning{rank: rank, text: warning(mode, f.Rule, lead+f.Message)}
	if f.Container != "" && strings.Contains(f.Containers, "%s") {
		w.container, w.several = f.Container, warning(mode, f.Rule, lead+f.Containers)
	}
	return w
}

// warningRank puts first what enforce mode would deny, then the rule's own
// rank (policies.WarningRank).
func warningRank(f policies.Finding, outcome Outcome) int {
	if outcome == OutcomeWouldDeny {
		return 0
	}
	return policies.WarningRank(f)
}

// fitWarnings turns one response's warnings into what the user can see:
//  1. warnings of several containers that differ only in the container
//     (same rank, mode, rule and rest of the sentence) are said in one, from
//     the findings' Containers ("would add preStop sleep 5s to 30 containers
//     ("a", "b", and 28 more) in the pods of deployment/x");
//  2. the rest stay as they are, once each, and all are ordered by rank, most
//     important first (stable within a rank);
//  3. each is cut to maxWarning, and they are kept while they fit in
//     warningBudget; the ones that do not are counted in a last warning that
//     says where the full list is (gracekeeper's log, `check`, `audit`).
//
// It takes time linear in the warnings: a Pod may hold 178,000 containers.
func fitWarnings(mode policies.Mode, pending []pendingWarning) []string {
	if len(pending) == 0 {
		return nil
	}
	type key struct {
		rank int
		// text is the warning of several containers (pendingWarning.several),
		// else the warning itself.
		text string
	}
	type group struct {
		first pendingWarning
		names []string
		named map[string]bool // names, for a linear check of repeats
	}
	var groups []*group
	byKey := map[key]*group{}
	for _, w := range pending {
		k := key{w.rank, w.text}
		if w.container != "" {
			k.text = w.several
		}
		if g := byKey[k]; g != nil {
			if w.container != "" && !g.named[w.container] {
				g.named[w.container] = true
				g.names = append(g.names, w.container)
			}
			continue
		}
		g := &group{first: w}
		if w.container != "" {
			g.names, g.named = []string{w.container}, map[string]bool{w.container: true}
		}
		byKey[k] = g
		groups = append(groups, g)
	}
	slices.SortStableFunc(groups, func(a, b *group) int { return a.first.rank - b.first.rank })

	texts := make([]string, 0, len(groups))
	for _, g := range groups {
		if len(g.names) < 2 {
			texts = append(texts, cutWarning(g.first.text))
			continue
		}
		prefix, suffix, _ := strings.Cut(g.first.several, "%s")
		texts = append(texts, cutWarning(containerList(prefix, suffix, g.names)))
	}
	total := 0
	for _, t := range texts {
		total += utf8.RuneCountInString(t)
	}
	if total <= warningBudget {
		return texts
	}
	var kept []string
	used := 0
	for i, t := range texts {
		more := moreWarnings(mode, len(texts)-i)
		if used+utf8.RuneCountInString(t)+utf8.RuneCountInString(more) > warningBudget {
			return append(kept, more)
		}
		kept = append(kept, t)
		used += utf8.RuneCountInString(t)
	}
	return kept
}

// containerList names as many containers as fit in one warning:
// `30 containers ("a", "b", and 28 more)`. Its work is bounded by what fits
// in maxWarning, not by the number of names: a Pod may hold 178,000
// containers (3 MiB of them), and rebuilding the list once per name dropped
// made the answer quadratic.
func containerList(prefix, suffix string, names []string) string {
	head := fmt.Sprintf("%s%d containers (", prefix, len(names))
	tail := ")" + suffix
	// Every name, when they all fit.
	full := len(head) + len(tail)
	for i, n := range names {
		if full > maxWarning {
			break
		}
		if i > 0 {
			full += len(", ")
		}
		full += len(strconv.Quote(n))
	}
	if full <= maxWarning {
		return head + joinQuoted(names) + tail
	}
	// Else the most names that fit before "and N more".
	shown, used := 0, len(head)+len(tail)
	for shown < len(names) {
		next := used + len(strconv.Quote(names[shown]))
		if shown > 0 {
			next += len(", ")
		}
		if next+len(moreNames(shown+1, len(names)-shown-1)) > maxWarning {
			break
		}
		used = next
		shown++
	}
	return head + joinQuoted(names[:shown]) + moreNames(shown, len(names)-shown) + tail
}

// joinQuoted is `"a", "b"`.
func joinQuoted(names []string) string {
	var list strings.Builder
	for i, n := range names {
		if i > 0 {
			list.WriteString(", ")
		}
		list.WriteString(strconv.Quote(n))
	}
	return list.String()
}

// moreNames counts the names not shown after the shown ones: ", and 28 more".
func moreNames(shown, rest int) string {
	switch {
	case rest == 0:
		return ""
	case shown == 0:
		return fmt.Sprintf("%d more", rest)
	}
	return fmt.Sprintf(", and %d more", rest)
}

// moreWarnings counts the warnings left out of a response, and says where they are.
func moreWarnings(mode policies.Mode, n int) string {
	return cutWarning(warningPrefix(mode) + fmt.Sprintf(
		"%d more warnings left out: the API server keeps 4 KiB of warnings; gracekeeper's log, gracekeeper check and gracekeeper audit have them all", n))
}

// cutWarning keeps a warning under the API server's 256-rune truncation,
// cutting on a character boundary: the API server drops invalid UTF-8.
func cutWarning(s string) string {
	if len(s) <= maxWarning {
		return s
	}
	cut := maxWarning - len("...")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// warningPrefix starts every warning: "gracekeeper ", and "[audit] " in audit mode.
func warningPrefix(mode policies.Mode) string {
	if mode == policies.ModeAudit {
		return "gracekeeper [audit] "
	}
	return "gracekeeper "
}
