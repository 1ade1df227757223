// Package webhook serves gracekeeper's admission webhook over HTTPS: the
// server, its TLS, the memory budget of the reviews in flight, the drain on
// shutdown, metrics (gracekeeper's own counters, and the review-duration
// histograms of kubewebhook's Prometheus recorder, the one use of kubewebhook,
// which keeps their names and labels the dashboards'), logs (one line per
// review at info level, each finding at debug) and the client-go
// implementation of admission.Parents. It holds no rule and decides no
// answer: what each path answers is package admission's; the rules are
// package policies'.
package webhook

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/gracekeeper/gracekeeper/policies"
	"github.com/gracekeeper/gracekeeper/webhook/admission"
)

// maxBodyBytes caps a review's body: 6 MiB, twice the 3 MiB request body
// the API server accepts (a review carries the object and the old object),
// as kubewebhook's own handler caps it. etcd stores objects up to 1.5 MiB.
const maxBodyBytes = int64(6 << 20)

// serve has the path's reviewer answer req, and measures, counts and logs
// the answer.
func (h reviewHandler) serve(ctx context.Context, req *admissionv1.AdmissionRequest) admission.Answer {
	rv := h.reviewer
	start := time.Now()
	a := rv.Review(ctx, req)
	// Measured with its counting and logging, as kubewebhook measured it.
	defer func() { h.metrics.measure(ctx, rv, req, a, time.Since(start)) }()
	switch {
	case a.Abandoned:
		h.metrics.abandoned.Inc()
		h.logger.WarnContext(ctx, "stopped judging a review whose caller has gone or whose timeout passed",
			"webhook", rv.ID(), "uid", req.UID, "operation", req.Operation, "namespace", req.Namespace, "name", req.Name, "err", context.Cause(ctx))
	case a.Err != nil:
		h.metrics.internalErrors.Inc()
		h.logger.ErrorContext(ctx, "admission review failed", "webhook", rv.ID(), "err", a.Err, "uid", req.UID, "operation", req.Operation)
	case a.Unhandled != "":
		h.metrics.countUnhandled(a.Unhandled)
		h.logger.WarnContext(ctx, "allowed a request this path does not judge; the webhook configuration sends more than it should",
			"webhook", rv.ID(), "kind", a.Unhandled, "resource", req.Resource.Resource, "subResource", req.SubResource,
			"operation", req.Operation, "namespace", req.Namespace, "name", req.Name)
	case a.Decision.Limit != nil:
		h.logLimit(ctx, string(req.UID), a.Decision, "operation", req.Operation, "namespace", req.Namespace, "name", req.Name)
	default:
		h.report(ctx, req, a.Review, a.Decision)
	}
	return a
}

// logLimit counts and logs an answer past a bound.
func (h reviewHandler) logLimit(ctx context.Context, uid string, d admission.Decision, attrs ...any) {
	h.metrics.limits.WithLabelValues(h.reviewer.ID(), d.Limit.Metric()).Inc()
	h.logger.WarnContext(ctx, "answered a review past a bound as the failure policy would, without judging it",
		append(append([]any{"webhook", h.reviewer.ID(), "uid", uid}, attrs...),
			"limit", d.Limit.Metric(), "count", d.Limit.Count, "max", d.Limit.Max, "allowed", d.Allowed)...)
}

// maxFindingLines bounds the finding lines one review logs at debug level.
// Findings are per container, and a Pod may hold as many as fit in 3 MiB:
// 100,000 containers made 200,000 lines (69 MB). Ordinary reviews log a handful.
const maxFindingLines = 100

// report counts every reported finding, and logs one info line for a review
// with findings: who asked what, in which mode, and the rules of each
// outcome (the keys of the answer's audit annotations: patched, denied,
// warned, would-patch, would-deny). At debug level each finding follows on
// a line of its own, with its message, patch and hint, up to
// maxFindingLines. A dry run (kubectl diff, server-side dry run) changes
// nothing, so it is logged but not counted: gracekeeper_findings_total
// counts what happened to stored objects.
func (h reviewHandler) report(ctx context.Context, req *admissionv1.AdmissionRequest, r *policies.Review, d admission.Decision) {
	if len(d.Reported) == 0 {
		return
	}
	if !r.DryRun {
		h.metrics.countReported(d.Reported)
	}
	id := h.reviewer.ID()
	attrs := []any{
		"webhook", id, "uid", req.UID, "operation", r.Operation,
		"object", d.Reported[0].Object, "namespace", r.Namespace,
		"user", r.User.Username, "mode", h.reviewer.Mode(),
	}
	for _, o := range d.Rules() {
		attrs = append(attrs, string(o.Outcome), o.Rules)
	}
	if r.DryRun {
		attrs = append(attrs, "dryRun", true)
	}
	h.logger.InfoContext(ctx, "review", attrs...)
	if !h.logger.Enabled(ctx, slog.LevelDebug) {
		return
	}
	for i, f := range d.Reported {
		if i == maxFindingLines {
			h.logger.DebugContext(ctx, "more findings than logged for one review",
				"webhook", id, "uid", req.UID, "logged", maxFindingLines, "notLogged", len(d.Reported)-maxFindingLines)
			break
		}
		h.logger.DebugContext(ctx, "finding", findingDetail(id, req, f)...)
	}
}

// findingDetail is a finding's debug line: the finding whole, with the full
// JSON patch, which the short warnings leave out, and the hint.
func findingDetail(webhook string, req *admissionv1.AdmissionRequest, f admission.Reported) []any {
	detail := []any{
		"webhook", webhook, "uid", req.UID, "object", f.Object, "rule", f.Rule, "outcome", f.Outcome,
		"action", f.Action, "message", f.Message, "patch", patchLog(f.Patch),
	}
	if f.Hint != "" {
		detail = append(detail, "hint", f.Hint)
	}
	return detail
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
