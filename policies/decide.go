package policies

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Outcome is what became of a finding in a mode; it labels metrics and logs.
type Outcome string

const (
	OutcomePatched    Outcome = "patched"
	OutcomeDenied     Outcome = "denied"
	OutcomeWarned     Outcome = "warned"
	OutcomeWouldPatch Outcome = "would-patch"
	OutcomeWouldDeny  Outcome = "would-deny"
)

// Reported is a finding with its outcome in the request's mode.
type Reported struct {
	Finding
	Mode    Mode    `json:"mode"`
	Outcome Outcome `json:"outcome"`
}

// Decision is the answer to one request.
type Decision struct {
	Allowed bool
	// Message explains a denial: every deny finding, each with its alternative.
	Message string
	// Patch holds the enforced mutations; empty (never nil) when nothing changes.
	Patch []PatchOp
	// Warnings are single-line, short and free of control characters, as the
	// API server requires. A denied request carries none: the denial says it all.
	Warnings []string
	Reported []Reported
}

// maxWarning keeps a warning under the API server's 256-character truncation.
const maxWarning = 240

// Decide applies a mode to findings. This is the one place where enforce and
// audit differ: audit denies and mutates nothing and reports each patch and
// denial as a "would ..." warning.
func Decide(mode Mode, findings []Finding) Decision {
	d := Decision{Allowed: true, Patch: []PatchOp{}}
	var denials []string
	for _, f := range findings {
		r := Reported{Finding: f, Mode: mode}
		switch {
		case f.Action == ActionWarn:
			r.Outcome = OutcomeWarned
			d.Warnings = append(d.Warnings, warning(mode, f.Rule, f.Message))
		case mode == ModeAudit && f.Action == ActionDeny:
			r.Outcome = OutcomeWouldDeny
			d.Warnings = append(d.Warnings, warning(mode, f.Rule, "would deny: "+f.Message))
		case mode == ModeAudit:
			r.Outcome = OutcomeWouldPatch
			d.Warnings = append(d.Warnings, warning(mode, f.Rule, "would "+f.Message))
		case f.Action == ActionDeny:
			r.Outcome = OutcomeDenied
			denials = append(denials, DenialText(f))
		case f.OnPods:
			// Enforced on the pods when the controller creates them; said here, on
			// the workload's own request, where a person sees it.
			r.Outcome = OutcomeWarned
			d.Warnings = append(d.Warnings, warning(mode, f.Rule, "will "+f.Message))
		default:
			r.Outcome = OutcomePatched
			d.Patch = append(d.Patch, f.Patch...)
		}
		d.Reported = append(d.Reported, r)
	}
	if len(denials) > 0 {
		d.Allowed = false
		d.Message = strings.Join(denials, "; ")
		d.Warnings = nil
		d.Patch = []PatchOp{}
		// Only the denials reached the user: count and log nothing else.
		denied := d.Reported[:0]
		for _, r := range d.Reported {
			if r.Outcome == OutcomeDenied {
				denied = append(denied, r)
			}
		}
		d.Reported = denied
	}
	return d
}

// DenialText is a deny finding as the user reads it: rule, problem, alternative.
func DenialText(f Finding) string {
	return fmt.Sprintf("gracekeeper %s: %s", f.Rule, f.Explanation())
}

// Explanation is the finding's problem and its graceful alternative, on one line.
func (f Finding) Explanation() string {
	s := f.Message
	if f.Hint != "" {
		s += ". " + f.Hint
	}
	return singleLine(s)
}

func warning(mode Mode, rule RuleID, message string) string {
	prefix := "gracekeeper "
	if mode == ModeAudit {
		prefix += "[audit] "
	}
	s := singleLine(prefix + string(rule) + ": " + message)
	if len(s) > maxWarning {
		// Cut on a character boundary: the API server drops invalid UTF-8.
		cut := maxWarning - len("...")
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}

// singleLine folds control characters (which make the API server drop a
// warning) into spaces; object names can carry them only through annotations,
// but messages quote user values.
func singleLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}
