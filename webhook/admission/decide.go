package admission

import (
	"fmt"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

	"github.com/gracekeeper/gracekeeper/policies"
)

// Outcome is what became of a finding in a mode; it labels metrics, logs
// and audit annotations.
type Outcome string

const (
	OutcomePatched    Outcome = "patched"
	OutcomeDenied     Outcome = "denied"
	OutcomeWarned     Outcome = "warned"
	OutcomeWouldPatch Outcome = "would-patch"
	OutcomeWouldDeny  Outcome = "would-deny"
)

// outcomes lists every outcome, in the order logs and audit annotations say them.
var outcomes = []Outcome{OutcomePatched, OutcomeDenied, OutcomeWarned, OutcomeWouldPatch, OutcomeWouldDeny}

// Reported is a finding with its outcome in the request's mode.
type Reported struct {
	policies.Finding
	Mode    policies.Mode `json:"mode"`
	Outcome Outcome       `json:"outcome"`
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
	Patch []policies.PatchOp
	// Warnings are single-line, short and free of control characters, as the
	// API server requires. A denied request carries none: the denial says it all.
	Warnings []string
	// Reported are the findings this answer gives the user, with their
	// outcome, for metrics, logs and audit annotations.
	Reported []Reported
	// Limit is set when the review was past a bound (see DecideLimit) and
	// this answer is the failure policy's, not the rules'.
	Limit *policies.LimitError
}

// Decide returns webhook w's answer to review r with its findings in a mode;
// r is nil for a request the webhook does not judge, which is allowed.
//
// It is the one place where enforce and audit differ: audit denies and
// mutates nothing and reports each patch and denial as a "would ..."
// warning. It gives each finding to one webhook (see answers), so that a
// user reads each warning once.
func Decide(w Webhook, mode policies.Mode, r *policies.Review, findings []policies.Finding) Decision {
	d := Decision{Allowed: true}
	if w == Mutating {
		d.Patch = []policies.PatchOp{}
	}
	var denials []string
	var warnings []pendingWarning
	if len(findings) > 0 {
		// One allocation each, not append's 1, 2, 4...
		d.Reported = make([]Reported, 0, len(findings))
		warnings = make([]pendingWarning, 0, len(findings))
	}
	whole := r != nil && mutatingOnly[operationOn{r.Kind, r.SubResource, admissionregistrationv1.OperationType(r.Operation)}]
	for _, f := range findings {
		if !w.answers(whole, f) {
			continue
		}
		rep := Reported{Finding: f, Mode: mode}
		// warn says the finding as a warning; lead is what comes before its
		// message ("would ", "will ").
		warn := func(outcome Outcome, lead string) {
			rep.Outcome = outcome
			warnings = append(warnings, pendingOf(mode, f, warningRank(f, outcome), lead))
		}
		switch {
		case f.Action == policies.ActionWarn:
			warn(OutcomeWarned, "")
		case mode == policies.ModeAudit && f.Action == policies.ActionDeny:
			warn(OutcomeWouldDeny, "would deny: ")
		case mode == policies.ModeAudit:
			warn(OutcomeWouldPatch, "would ")
		case f.Action == policies.ActionDeny:
			rep.Outcome = OutcomeDenied
			denials = append(denials, DenialText(f))
		case f.OnPods:
			// Enforced on the pods when the controller creates them; said here, on
			// the workload's own request, where a person sees it.
			warn(OutcomeWarned, "will ")
		default:
			rep.Outcome = OutcomePatched
			d.Patch = append(d.Patch, f.Patch...)
		}
		d.Reported = append(d.Reported, rep)
	}
	if len(d.Reported) == 0 {
		d.Reported = nil
	}
	if len(d.Patch) > policies.MaxPatchOps {
		return DecideLimit(w, mode, &policies.LimitError{Object: policies.ReviewObject(r), What: "patch operations", Count: len(d.Patch), Max: policies.MaxPatchOps})
	}
	// Each finding stays in Reported, for the log; the warnings are what the
	// API server lets the user read.
	d.Warnings = fitWarnings(mode, warnings)
	if len(denials) > 0 {
		d.Allowed = false
		d.Message = strings.Join(denials, "; ")
		d.Warnings = nil
		if d.Patch != nil {
			d.Patch = []policies.PatchOp{}
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
func DecideLimit(w Webhook, mode policies.Mode, limit *policies.LimitError) Decision {
	d := Decision{Allowed: true, Limit: limit}
	if w == Mutating {
		d.Patch = []policies.PatchOp{}
	}
	const split = "; keep pod specs within the bound (split the containers into several workloads), or set gracekeeper.io/mode: off on the namespace"
	switch {
	case w == Validating && mode == policies.ModeEnforce:
		d.Allowed = false
		d.Message = policies.SingleLine("gracekeeper: denied unchecked, as failurePolicy Fail would: " + limit.Error() + split)
	case w == Mutating:
		d.Warnings = []string{cutWarning(policies.SingleLine(warningPrefix(mode) + "not mutated, no preStop hook or grace period added: " + limit.Error() + split))}
	default:
		d.Warnings = []string{cutWarning(policies.SingleLine(warningPrefix(mode) + "not checked: " + limit.Error() + split))}
	}
	return d
}

// answers reports whether webhook w answers finding f of a request. A
// request that only the mutating entries receive (whole, see mutatingOnly:
// a Pod's CREATE) is answered whole by the mutating webhook. Any other is
// split: the mutating webhook answers the patches to the request's own
// object, the validating one the rest (denials, warnings, and the pod
// template findings the Pods will get, said on a workload's request where a
// person reads them).
func (w Webhook) answers(whole bool, f policies.Finding) bool {
	if whole {
		return w == Mutating
	}
	return (w == Mutating) == f.IsMutation()
}

// operationOn is an operation on a kind's resource or subresource.
type operationOn struct {
	kind, subResource string
	operation         admissionregistrationv1.OperationType
}

// mutatingOnly are the operations that mutating entries receive and no
// validating entry does, from the entry table.
var mutatingOnly = func() map[operationOn]bool {
	by := map[operationOn]map[Webhook]bool{}
	for _, e := range entries {
		for _, rq := range e.requests() {
			for _, op := range rq.operations {
				k := operationOn{rq.kind.GVK.Kind, rq.subResource, op}
				if by[k] == nil {
					by[k] = map[Webhook]bool{}
				}
				by[k][e.Webhook] = true
			}
		}
	}
	only := map[operationOn]bool{}
	for k, webhooks := range by {
		if webhooks[Mutating] && !webhooks[Validating] {
			only[k] = true
		}
	}
	return only
}()

// DenialText is a deny finding as the user reads it: rule, problem, alternative.
func DenialText(f policies.Finding) string {
	return fmt.Sprintf("gracekeeper %s: %s", f.Rule, f.Explanation())
}

// warning is a finding's message (or its Containers) as the user reads it.
func warning(mode policies.Mode, rule policies.RuleID, message string) string {
	return policies.SingleLine(warningPrefix(mode) + string(rule) + ": " + message)
}
