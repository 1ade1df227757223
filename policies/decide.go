package policies

import (
	"fmt"
	"strings"
	"unicode"
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

// Webhook is the admission webhook a request passes through. The API server
// sends a workload's CREATE and UPDATE through both, the mutating one first.
type Webhook string

const (
	Mutating   Webhook = "mutating"
	Validating Webhook = "validating"
)

// Decision is one webhook's answer to one request.
type Decision struct {
	Allowed bool
	// Message explains a denial: every deny finding, each with its alternative.
	Message string
	// Patch holds the enforced mutations. The mutating webhook always answers
	// a patch, empty (never nil) when nothing changes; the validating one nil.
	Patch []PatchOp
	// Warnings are single-line, short and free of control characters, as the
	// API server requires. A denied request carries none: the denial says it all.
	Warnings []string
	// Reported are the findings this answer gives the user, with their
	// outcome, for metrics and logs.
	Reported []Reported
	// Limit is set when the review was past a bound (see DecideLimit) and
	// this answer is the failure policy's, not the rules'.
	Limit *LimitError
}

// Decide returns webhook w's answer to review r with its findings in a mode;
// r is nil for a request the webhook does not judge, which is allowed.
//
// It is the one place where enforce and audit differ: audit denies and
// mutates nothing and reports each patch and denial as a "would ..."
// warning. It gives each finding to one webhook (see answers), so that a
// user reads each warning once.
func Decide(w Webhook, mode Mode, r *Review, findings []Finding) Decision {
	d := Decision{Allowed: true}
	if w == Mutating {
		d.Patch = []PatchOp{}
	}
	var denials []string
	var warnings []pendingWarning
	for _, f := range findings {
		if !w.answers(r, f) {
			continue
		}
		rep := Reported{Finding: f, Mode: mode}
		warn := func(outcome Outcome, message string) {
			rep.Outcome = outcome
			warnings = append(warnings, pendingWarning{rank: warningRank(f, outcome), text: warning(mode, f.Rule, message)})
		}
		switch {
		case f.Action == ActionWarn:
			warn(OutcomeWarned, f.Message)
		case mode == ModeAudit && f.Action == ActionDeny:
			warn(OutcomeWouldDeny, "would deny: "+f.Message)
		case mode == ModeAudit:
			warn(OutcomeWouldPatch, "would "+f.Message)
		case f.Action == ActionDeny:
			rep.Outcome = OutcomeDenied
			denials = append(denials, DenialText(f))
		case f.OnPods:
			// Enforced on the pods when the controller creates them; said here, on
			// the workload's own request, where a person sees it.
			warn(OutcomeWarned, "will "+f.Message)
		default:
			rep.Outcome = OutcomePatched
			d.Patch = append(d.Patch, f.Patch...)
		}
		d.Reported = append(d.Reported, rep)
	}
	if len(d.Patch) > MaxPatchOps {
		return DecideLimit(w, mode, &LimitError{Object: reviewObject(r), What: "patch operations", Count: len(d.Patch), Max: MaxPatchOps})
	}
	// Each finding stays in Reported, for the log; the warnings are what the
	// API server lets the user read.
	d.Warnings = fitWarnings(mode, warnings)
	if len(denials) > 0 {
		d.Allowed = false
		d.Message = strings.Join(denials, "; ")
		d.Warnings = nil
		if d.Patch != nil {
			d.Patch = []PatchOp{}
		}
		// Only the denials reached the user: count and log nothing else.
		denied := d.Reported[:0]
		for _, rep := range d.Reported {
			if rep.Outcome == OutcomeDenied {
				denied = append(denied, rep)
			}
		}
		d.Reported = denied
	}
	return d
}

// DecideLimit is webhook w's answer to a review past a bound of one
// answer (MaxContainers, MaxFindings, MaxPatchOps), which gracekeeper does
// not judge: what the chart's failurePolicy would do had gracekeeper not
// answered, said to the user. The enforce validating webhook denies, as Fail
// does: a guard that lets what it cannot check through would be bypassed by
// making an object large. The mutating webhook and audit mode allow, as
// Ignore does, with a warning that nothing was changed or checked.
func DecideLimit(w Webhook, mode Mode, limit *LimitError) Decision {
	d := Decision{Allowed: true, Limit: limit}
	if w == Mutating {
		d.Patch = []PatchOp{}
	}
	const split = "; keep pod specs within the bound (split the containers into several workloads), or set gracekeeper.io/mode: off on the namespace"
	switch {
	case w == Validating && mode == ModeEnforce:
		d.Allowed = false
		d.Message = singleLine("gracekeeper: denied unchecked, as failurePolicy Fail would: " + limit.Error() + split)
	case w == Mutating:
		d.Warnings = []string{cutWarning(singleLine(warningPrefix(mode) + "not mutated, no preStop hook or grace period added: " + limit.Error() + split))}
	default:
		d.Warnings = []string{cutWarning(singleLine(warningPrefix(mode) + "not checked: " + limit.Error() + split))}
	}
	return d
}

// answers reports whether webhook w answers finding f of review r. A
// workload's CREATE and UPDATE pass through both webhooks: the mutating one
// answers the patches to the request's own object, the validating one the
// rest (denials, warnings, and the pod template findings the Pods will get,
// said on the workload's request where a person reads them). The validating
// configuration sees a Pod only on DELETE and through subresources, and the
// mutating one its CREATE, where the mutating webhook answers every finding.
func (w Webhook) answers(r *Review, f Finding) bool {
	if r.Kind == "Pod" && r.SubResource == "" && r.Operation != Delete {
		return w == Mutating
	}
	return (w == Mutating) == f.IsMutation()
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
	return singleLine(warningPrefix(mode) + string(rule) + ": " + message)
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
