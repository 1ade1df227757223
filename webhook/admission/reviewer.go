// Package admission is what the API server asks gracekeeper and what each
// webhook path answers, as pod-security-admission's admission package sits
// between its policy and its server: it decodes an AdmissionReview, judges
// its request with the policy engine (reading a subresource's parent through
// Parents when the answer depends on it), decides each webhook's answer in
// its mode (Decide, with the API server's warning budget) and writes it as an
// AdmissionResponse with its audit annotations. It knows nothing of HTTP
// and counts nothing; it logs only a parent read that failed. Package
// webhook serves it, and measures, counts and logs its answers.
//
// The one table of webhook entries (Entries: path, mutating or validating,
// modes, the resources and operations each receives) is here too, and the
// mux, the decoder's targets, the answers, the chart's rules:, its RBAC reads
// (Reads) and the matchConditions (MatchConditions) are derived from it.
// It holds no rule: those are package policies'.
//
// A review changes type four times: bytes to AdmissionReview
// (Reviewer.Decode, which decodes the objects with it) to policies.Review on
// the way in, findings to Decision to AdmissionResponse on the way out
// (Reviewer.Review).
package admission

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/gracekeeper/gracekeeper/policies"
)

// Reviewer answers the requests of one webhook path: a kind of webhook, a
// mode and the resources it judges. Patches are the engine's explicit
// operations, never a diff of re-marshalled objects (which would drop fields
// the compiled k8s.io/api does not know).
type Reviewer struct {
	id      string
	webhook Webhook
	mode    policies.Mode
	targets map[resource]target
	engine  *policies.Engine
	parents Parents
	logger  *slog.Logger
}

// NewReviewer is the reviewer of path p, which judges what p's entry
// receives, in p's mode. logger says when a parent or a rollout history
// could not be read. A validating path's engine skips the rules whose
// findings only a mutating webhook answers (Engine.WithoutObjectPatches).
func NewReviewer(p Path, engine *policies.Engine, parents Parents, logger *slog.Logger) *Reviewer {
	id := strings.ReplaceAll(strings.TrimPrefix(p.Path, "/"), "/", "-")
	if p.Entry.Webhook == Validating {
		engine = engine.WithoutObjectPatches()
	}
	return &Reviewer{id: id, webhook: p.Entry.Webhook, mode: p.Mode, targets: targetsOf(p.Entry), engine: engine, parents: parents, logger: logger}
}

// ID names the path in metrics and logs: "mutate-enforce".
func (rv *Reviewer) ID() string { return rv.id }

// Webhook is the kind of webhook the path is.
func (rv *Reviewer) Webhook() Webhook { return rv.webhook }

// Mode is the mode the path judges in.
func (rv *Reviewer) Mode() policies.Mode { return rv.mode }

// Answer is a reviewer's answer to one request, with what the webhook counts
// and logs.
type Answer struct {
	// Response is the AdmissionResponse to send, with the request's uid;
	// when Err is set it carries only the error, which the webhook sends
	// with HTTP 500 so that the API server applies the failurePolicy.
	Response *admissionv1.AdmissionResponse
	// Decision is the answer decided, zero when Err is set.
	Decision Decision
	// Review is the request as the engine judged it; nil when the path does
	// not judge it, or it was past a bound before it was decoded.
	Review *policies.Review
	// Unhandled is the kind ("apps/v1 Deployment") of a request the path
	// does not judge, which is allowed: under failurePolicy Fail an error
	// would block it. Non-empty means the webhook configuration sends more
	// than it should.
	Unhandled string
	// Err is an internal error: the request's objects do not decode, a
	// parent read failed for an eviction, or the review was abandoned.
	Err error
	// Abandoned is set, with Err, when the caller left or its timeout
	// passed before the review was judged.
	Abandoned bool
}

// Review answers one admission request, which Decode or
// DecodeAdmissionReview checked.
// A request of a resource the path does not judge is allowed.
//
// A request the path judges but whose objects do not decode is an internal
// error: the API server has already decoded these objects, so this means
// gracekeeper cannot read them; allowing would silently switch the guards
// off, against a failurePolicy the operator chose to be Fail.
func (rv *Reviewer) Review(ctx context.Context, req *admissionv1.AdmissionRequest) Answer {
	t, ok := targetOf(rv.targets, req)
	if !ok {
		a := rv.answer(req.UID, Decide(rv.webhook, rv.mode, nil, nil))
		a.Unhandled = policies.FormatGVK(schema.GroupVersionKind(req.Kind))
		return a
	}
	r, err := decodeReview(req, t)
	var findings []policies.Finding
	if limit := (*policies.LimitError)(nil); err != nil && !errors.As(err, &limit) {
		return rv.fail(req.UID, fmt.Errorf("gracekeeper cannot read %s %s: %w", policies.FormatGVK(t.object), objectName(req), err))
	}
	if err == nil {
		findings, err = rv.evaluate(ctx, r)
	}
	var d Decision
	if limit := (*policies.LimitError)(nil); errors.As(err, &limit) {
		d = DecideLimit(rv.webhook, rv.mode, limit)
	} else if ctx.Err() != nil {
		// The API server has given up (its timeout) or the caller left: stop,
		// so the review's share of the budget goes back at once.
		a := rv.fail(req.UID, fmt.Errorf("review abandoned: %w", context.Cause(ctx)))
		a.Abandoned = true
		return a
	} else if err != nil {
		return rv.fail(req.UID, fmt.Errorf("gracekeeper cannot judge %s %s: %w", policies.FormatGVK(t.object), objectName(req), err))
	} else {
		d = Decide(rv.webhook, rv.mode, r, findings)
	}
	a := rv.answer(req.UID, d)
	a.Review = r
	return a
}

// AnswerLimit answers, as the failure policy would (DecideLimit), the
// request uid past a bound before its review could be read: a body over
// what the webhook reads.
func (rv *Reviewer) AnswerLimit(uid types.UID, limit *policies.LimitError) Answer {
	return rv.answer(uid, DecideLimit(rv.webhook, rv.mode, limit))
}

// answer writes decision d as the response to the request uid.
func (rv *Reviewer) answer(uid types.UID, d Decision) Answer {
	resp := &admissionv1.AdmissionResponse{UID: uid, Allowed: d.Allowed, Warnings: d.Warnings, AuditAnnotations: d.auditAnnotations()}
	switch {
	case !d.Allowed:
		resp.Result = &metav1.Status{Status: metav1.StatusFailure, Code: http.StatusBadRequest, Message: d.Message}
	case rv.webhook == Mutating:
		patch, err := json.Marshal(d.Patch)
		if err != nil {
			return rv.fail(uid, fmt.Errorf("encode patch: %w", err))
		}
		resp.Patch, resp.PatchType = patch, ptr.To(admissionv1.PatchTypeJSONPatch)
	}
	return Answer{Response: resp, Decision: d}
}

// fail is the answer of an internal error.
func (rv *Reviewer) fail(uid types.UID, err error) Answer {
	return Answer{Err: err, Response: &admissionv1.AdmissionResponse{UID: uid,
		Result: &metav1.Status{Status: metav1.StatusFailure, Message: err.Error()}}}
}

// objectName is the request's namespace/name, bounded: answers quote it.
func objectName(req *admissionv1.AdmissionRequest) string {
	if req.Namespace == "" {
		return BoundText(req.Name)
	}
	return BoundText(req.Namespace) + "/" + BoundText(req.Name)
}

// judged are the kinds of the objects the paths decode.
var judged = func() map[schema.GroupVersionKind]bool {
	kinds := map[schema.GroupVersionKind]bool{}
	for _, e := range entries {
		for _, t := range targetsOf(e) {
			kinds[t.object] = true
		}
	}
	return kinds
}()

// Judges reports whether a path decodes objects of kind gvk (a Scale and an
// Eviction included): the kinds whose name bounded metric labels keep.
func Judges(gvk schema.GroupVersionKind) bool { return judged[gvk] }
