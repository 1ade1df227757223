package policies

import (
	"testing"
	"unicode/utf8"

	utilnet "k8s.io/apimachinery/pkg/util/net"
)

// Webhook, Decision and Decide stand, in this package's tests, for package
// admission's, which decides what each webhook answers: the rule tests and
// the golden files of testdata/rules pin those answers. Package admission
// imports this one, so only an external test can call it: admission_test.go
// sets decide.
type Webhook string

const (
	Mutating   Webhook = "mutating"
	Validating Webhook = "validating"
)

// Decision is admission.Decision, with the findings reported.
type Decision struct {
	Allowed  bool
	Message  string
	Patch    []PatchOp
	Warnings []string
	Reported []Finding
	Limit    *LimitError
}

var decide func(w Webhook, mode Mode, r *Review, findings []Finding) Decision

// SetDecide is for admission_test.go.
func SetDecide(f func(w Webhook, mode Mode, r *Review, findings []Finding) Decision) { decide = f }

// Decide is admission.Decide.
func Decide(w Webhook, mode Mode, r *Review, findings []Finding) Decision {
	return decide(w, mode, r, findings)
}

// assertValidWarning checks a warning the way the API server does before it
// sends the Warning header, and that it stays below its 256-character cut.
func assertValidWarning(t testing.TB, w string) {
	t.Helper()
	if _, err := utilnet.NewWarningHeader(299, "-", w); err != nil {
		t.Errorf("the API server would drop warning %q: %v", w, err)
	}
	if len(w) > 240 || !utf8.ValidString(w) {
		t.Errorf("warning is %d bytes, over 240, or not UTF-8: %q", len(w), w)
	}
}
