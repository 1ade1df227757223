// Package webhook serves the policy engine to the Kubernetes API server as a
// mutating and validating admission webhook. It only adapts admission reviews
// to the engine and its decisions to admission responses; the rules live in
// package policies.
package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	kwhhttp "github.com/slok/kubewebhook/v2/pkg/http"
	"github.com/slok/kubewebhook/v2/pkg/model"
	kwhwebhook "github.com/slok/kubewebhook/v2/pkg/webhook"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gracekeeper/gracekeeper/policies"
)

// reviewer is one webhook path: a kind of webhook, a mode and the resources
// it judges. It implements kubewebhook's webhook.Webhook directly, so patches
// are the engine's explicit operations, never a diff of re-marshalled objects
// (which would drop fields the compiled k8s.io/api does not know).
type reviewer struct {
	id      string
	webhook policies.Webhook
	mode    policies.Mode
	targets map[resource]target
	engine  *policies.Engine
	parents parentReader
	metrics *metrics
	logger  *slog.Logger
}

// maxBodyBytes caps a review's body, at kubewebhook's own limit. The API
// server sends far less: it refuses request bodies over 3 MiB, and etcd
// stores objects up to 1.5 MiB.
const maxBodyBytes = kwhhttp.MaxRequestBodyBytes

// handler serves the reviewer over HTTP, measured by kubewebhook's recorder:
// reviewHandler decodes each review once and hands it to the reviewer.
func (rv *reviewer) handler() http.Handler {
	return reviewHandler{webhook: kwhwebhook.NewMeasuredWebhook(rv.metrics.recorder, rv), reviewer: rv}
}

func (rv *reviewer) ID() string { return rv.id }

func (rv *reviewer) Kind() model.WebhookKind {
	if rv.webhook == policies.Mutating {
		return model.WebhookKindMutating
	}
	return model.WebhookKindValidating
}

// Review answers one admission review. A request of a resource the path does
// not judge is allowed: under failurePolicy Fail an error would block it.
//
// A request the path judges but whose objects do not decode is an internal
// error, answered with an error (HTTP 500), so the API server applies the
// webhook's failurePolicy. The API server has already decoded these objects, so
// this means gracekeeper cannot read them; allowing would silently switch the
// guards off, against a failurePolicy the operator chose to be Fail.
func (rv *reviewer) Review(ctx context.Context, ar model.AdmissionReview) (model.AdmissionResponse, error) {
	review, ok := ar.OriginalAdmissionReview.(*admissionv1.AdmissionReview)
	if !ok || review.Request == nil {
		return nil, rv.fail(ctx, fmt.Errorf("gracekeeper reads admission.k8s.io/v1 reviews with a request, got %T", ar.OriginalAdmissionReview))
	}
	req := review.Request
	t, ok := targetOf(rv.targets, req)
	if !ok {
		kind := policies.FormatGVK(schema.GroupVersionKind(req.Kind))
		rv.metrics.countUnhandled(kind)
		rv.logger.WarnContext(ctx, "allowed a request this path does not judge; the webhook configuration sends more than it should",
			"webhook", rv.id, "kind", kind, "resource", req.Resource.Resource, "subResource", req.SubResource,
			"operation", req.Operation, "namespace", req.Namespace, "name", req.Name)
		return rv.respond(policies.Decide(rv.webhook, rv.mode, nil, nil))
	}
	r, err := decodeReview(req, t)
	var findings []policies.Finding
	if limit := (*policies.LimitError)(nil); err != nil && !errors.As(err, &limit) {
		return nil, rv.fail(ctx, fmt.Errorf("gracekeeper cannot read %s %s: %w", policies.FormatGVK(t.object), objectName(req), err),
			"uid", req.UID, "operation", req.Operation)
	}
	if err == nil {
		findings, err = rv.evaluate(ctx, r)
	}
	var d policies.Decision
	if limit := (*policies.LimitError)(nil); errors.As(err, &limit) {
		d = policies.DecideLimit(rv.webhook, rv.mode, limit)
	} else if ctx.Err() != nil {
		// The API server has given up (its timeout) or the caller left: stop,
		// so the review's share of the budget goes back at once.
		rv.metrics.abandoned.Inc()
		rv.logger.WarnContext(ctx, "stopped judging a review whose caller has gone or whose timeout passed",
			"webhook", rv.id, "uid", req.UID, "operation", req.Operation, "namespace", req.Namespace, "name", req.Name, "err", context.Cause(ctx))
		return nil, fmt.Errorf("review abandoned: %w", context.Cause(ctx))
	} else if err != nil {
		return nil, rv.fail(ctx, fmt.Errorf("gracekeeper cannot judge %s %s: %w", policies.FormatGVK(t.object), objectName(req), err),
			"uid", req.UID, "operation", req.Operation)
	} else {
		d = policies.Decide(rv.webhook, rv.mode, r, findings)
	}
	if d.Limit != nil {
		rv.metrics.limits.WithLabelValues(rv.id, d.Limit.Metric()).Inc()
		rv.logger.WarnContext(ctx, "answered a review past a bound as the failure policy would, without judging it",
			"webhook", rv.id, "uid", req.UID, "operation", req.Operation, "namespace", req.Namespace, "name", req.Name,
			"limit", d.Limit.Metric(), "count", d.Limit.Count, "max", d.Limit.Max, "allowed", d.Allowed)
	} else {
		rv.report(ctx, req, r, d)
	}
	return rv.respond(d)
}

func (rv *reviewer) respond(d policies.Decision) (model.AdmissionResponse, error) {
	// kubewebhook's mutating response is always allowed; a validating one is
	// how any denial is written, whatever the path.
	if rv.webhook == policies.Validating || !d.Allowed {
		return &model.ValidatingAdmissionResponse{Allowed: d.Allowed, Message: d.Message, Warnings: d.Warnings}, nil
	}
	patch, err := json.Marshal(d.Patch)
	if err != nil {
		return nil, rv.fail(context.Background(), fmt.Errorf("encode patch: %w", err))
	}
	return &model.MutatingAdmissionResponse{JSONPatchPatch: patch, Warnings: d.Warnings}, nil
}

// maxFindingLines bounds the finding lines one review logs. Findings are per
// container, and a Pod may hold as many as fit in 3 MiB: 100,000 containers
// made 200,000 lines (69 MB). Ordinary reviews log a handful.
const maxFindingLines = 100

// report counts every reported finding and logs each, one line each (see
// findingDetail for the patch), up to maxFindingLines, then one line saying
// how many were not logged. A dry run (kubectl diff, server-side dry run)
// changes nothing, so it is logged but not counted:
// gracekeeper_findings_total counts what happened to stored objects.
func (rv *reviewer) report(ctx context.Context, req *admissionv1.AdmissionRequest, r *policies.Review, d policies.Decision) {
	if !r.DryRun {
		rv.metrics.countReported(d.Reported)
	}
	for i, f := range d.Reported {
		if i == maxFindingLines {
			rv.logger.WarnContext(ctx, "more findings than logged for one review",
				"webhook", rv.id, "uid", req.UID, "operation", r.Operation, "namespace", r.Namespace,
				"logged", maxFindingLines, "notLogged", len(d.Reported)-maxFindingLines)
			break
		}
		attrs := []any{
			"webhook", rv.id, "uid", req.UID, "operation", r.Operation,
			"object", f.Object, "namespace", r.Namespace,
			"rule", f.Rule, "outcome", f.Outcome, "mode", f.Mode,
			"user", r.User.Username, "message", f.Message,
		}
		rv.logger.InfoContext(ctx, "finding", append(attrs, findingDetail(ctx, rv.logger, r, f)...)...)
	}
}

// fail counts and logs an internal error and returns it for kubewebhook,
// which answers HTTP 500 with its message.
func (rv *reviewer) fail(ctx context.Context, err error, attrs ...any) error {
	rv.metrics.internalErrors.Inc()
	rv.logger.ErrorContext(ctx, "admission review failed", append([]any{"webhook", rv.id, "err", err}, attrs...)...)
	return err
}

// objectName is the request's namespace/name, bounded: answers quote it.
func objectName(req *admissionv1.AdmissionRequest) string {
	if req.Namespace == "" {
		return boundText(req.Name)
	}
	return boundText(req.Namespace) + "/" + boundText(req.Name)
}

// patchLog logs a patch as JSON with either slog handler: embedded by the
// JSON handler, as text by the text handler.
type patchLog []policies.PatchOp

func (p patchLog) MarshalJSON() ([]byte, error) {
	if p == nil {
		return []byte("[]"), nil
	}
	return json.Marshal([]policies.PatchOp(p))
}

func (p patchLog) MarshalText() ([]byte, error) { return p.MarshalJSON() }
