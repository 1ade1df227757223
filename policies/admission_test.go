package policies_test

import (
	"github.com/gracekeeper/gracekeeper/policies"
	"github.com/gracekeeper/gracekeeper/webhook/admission"
)

// The tests of package policies read package admission's answers through
// policies.Decide (see decide_test.go).
func init() {
	policies.SetDecide(func(w policies.Webhook, mode policies.Mode, r *policies.Review, findings []policies.Finding) policies.Decision {
		d := admission.Decide(admission.Webhook(w), mode, r, findings)
		reported := make([]policies.Finding, len(d.Reported))
		for i, rep := range d.Reported {
			reported[i] = rep.Finding
		}
		return policies.Decision{Allowed: d.Allowed, Message: d.Message, Patch: d.Patch, Warnings: d.Warnings, Reported: reported, Limit: d.Limit}
	})
}
