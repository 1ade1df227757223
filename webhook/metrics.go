package webhook

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	kwhprometheus "github.com/slok/kubewebhook/v2/pkg/metrics/prometheus"
	kwhwebhook "github.com/slok/kubewebhook/v2/pkg/webhook"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gracekeeper/gracekeeper/webhook/admission"
)

// metrics are gracekeeper's own, next to kubewebhook's review durations.
type metrics struct {
	// recorder is kubewebhook's review-duration recorder (see measure).
	recorder       kwhwebhook.MetricsRecorder
	findings       *prometheus.CounterVec
	internalErrors prometheus.Counter
	unhandled      *prometheus.CounterVec
	inFlightBytes  prometheus.Gauge
	budgetTimeouts prometheus.Counter
	limits         *prometheus.CounterVec
	abandoned      prometheus.Counter

	mu             sync.Mutex
	unhandledKinds map[string]bool
}

// maxUnhandledKinds and maxKindLabelBytes bound the kind label of the
// unhandled counter: anyone who can reach the port can make up kinds. The
// longest real group/version/kind is 253+1+63+1+63 bytes.
const (
	maxUnhandledKinds = 32
	maxKindLabelBytes = 384
)

// certificateSource is what the metrics read from the certificate reloader.
type certificateSource interface {
	NotAfter() time.Time
	Failures() uint64
	Refusals() uint64
}

// newMetrics registers every metric the server exports on reg, which must be
// private: the Go and process collectors are registered here too. A nil
// certificates leaves the certificate metrics out (handler tests).
func newMetrics(reg *prometheus.Registry, certificates certificateSource) (*metrics, error) {
	recorder, err := kwhprometheus.NewRecorder(kwhprometheus.RecorderConfig{Registry: reg})
	if err != nil {
		return nil, fmt.Errorf("create kubewebhook metrics recorder: %w", err)
	}
	m := &metrics{
		recorder:       recorder,
		unhandledKinds: map[string]bool{},
		findings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gracekeeper_findings_total",
			Help: "Findings reported in admission responses, by rule, mode and what became of them (patched, denied, warned, would-patch, would-deny).",
		}, []string{"rule", "mode", "action"}),
		internalErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gracekeeper_internal_errors_total",
			Help: "Admission reviews answered with an error (the API server then applies the webhook's failurePolicy), and recovered panics.",
		}),
		unhandled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gracekeeper_unhandled_requests_total",
			Help: "Admission reviews of a kind or subresource the path does not judge, answered allowed. Non-zero means the webhook configuration sends more than it should.",
		}, []string{"kind"}),
		inFlightBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gracekeeper_inflight_review_bytes",
			Help: "Estimated memory of the reviews being judged now (ten times the body plus 512 bytes per JSON object, at most the budget); bounded by serve --max-inflight-bytes.",
		}),
		budgetTimeouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gracekeeper_review_budget_timeouts_total",
			Help: "Reviews answered 503 because they waited for room under --max-inflight-bytes until their timeout passed or their caller left.",
		}),
		limits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gracekeeper_review_limits_total",
			Help: "Reviews past a bound of one answer (limit: containers, findings, patch-operations, bytes), answered as the failure policy would without judging them: denied by the enforce validating webhook, allowed unchanged with a warning otherwise.",
		}, []string{"webhook", "limit"}),
		abandoned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gracekeeper_reviews_abandoned_total",
			Help: "Reviews stopped before they were answered because their caller left or their timeout (the API server's, from the request URL) passed; their budget share is given back at once.",
		}),
	}
	cs := []prometheus.Collector{
		m.findings, m.internalErrors, m.unhandled, m.inFlightBytes, m.budgetTimeouts, m.limits, m.abandoned,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	}
	if certificates != nil {
		cs = append(cs,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "gracekeeper_certificate_expiry_timestamp_seconds",
				Help: "Expiry (Unix time) of the serving certificate in use; 0 while none is loaded.",
			}, func() float64 {
				notAfter := certificates.NotAfter()
				if notAfter.IsZero() {
					return 0
				}
				return float64(notAfter.Unix())
			}),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "gracekeeper_certificate_reload_failures_total",
				Help: "Serving certificate loads that failed; the previous certificate stays in use.",
			}, func() float64 { return float64(certificates.Failures()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "gracekeeper_certificate_refusals_total",
				Help: "Serving certificate pairs that loaded but were refused, because they were not valid now or not for the served names; the previous certificate stays in use.",
			}, func() float64 { return float64(certificates.Refusals()) }),
		)
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}

// registerClientCAMetrics exports the reload failures of the client CA
// bundle of mutual TLS on reg.
func registerClientCAMetrics(reg *prometheus.Registry, clientCAs interface{ Failures() uint64 }) error {
	err := reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "gracekeeper_client_ca_reload_failures_total",
		Help: "Client CA bundles (serve --client-ca-file) that did not load, or held no certificate valid now; the previous bundle stays in use.",
	}, func() float64 { return float64(clientCAs.Failures()) }))
	if err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	return nil
}

func (m *metrics) countReported(reported []admission.Reported) {
	for _, r := range reported {
		m.findings.WithLabelValues(string(r.Rule), string(r.Mode), string(r.Outcome)).Inc()
	}
}

// countUnhandled counts a request of a kind the path does not judge, under
// "other" once maxUnhandledKinds kinds have been seen, or when the kind is
// not one the API server could send.
func (m *metrics) countUnhandled(kind string) {
	if !plausibleKind(kind) {
		kind = "other"
	}
	m.mu.Lock()
	if !m.unhandledKinds[kind] {
		if len(m.unhandledKinds) < maxUnhandledKinds {
			m.unhandledKinds[kind] = true
		} else {
			kind = "other"
		}
	}
	m.mu.Unlock()
	m.unhandled.WithLabelValues(kind).Inc()
}

// plausibleKind reports whether kind is short enough, and spelled with the
// characters a group, version and kind may hold.
func plausibleKind(kind string) bool {
	if kind == "" || len(kind) > maxKindLabelBytes {
		return false
	}
	for _, c := range kind {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '/' || c == ' ') {
			return false
		}
	}
	return true
}

// measure records a review in kubewebhook's Prometheus histograms, with the
// data kubewebhook's own measured webhook gave them, so that their names and
// labels stay the dashboard's and the alerts': the mutating histogram for an
// allowed answer of the mutating webhook, the validating one for the rest
// (a denial is written as a validating answer). An internal error is not
// measured there: internalErrors counts it. The labels are bounded: the
// namespace is dropped (it would multiply every histogram by the cluster's
// namespaces), and a kind the webhook does not judge, which a request can
// make up, is "other".
func (m *metrics) measure(ctx context.Context, rv *admission.Reviewer, req *admissionv1.AdmissionRequest, a admission.Answer, took time.Duration) {
	if a.Err != nil {
		return
	}
	kind := req.Kind
	if req.RequestKind != nil {
		kind = *req.RequestKind
	}
	data := kwhwebhook.MeasureOpCommonData{
		WebhookID:              rv.ID(),
		WebhookType:            string(admission.Validating),
		AdmissionReviewVersion: admissionv1.SchemeGroupVersion.Version,
		Duration:               took,
		Success:                true,
		ResourceName:           req.Name,
		Operation:              strings.ToLower(string(req.Operation)),
		ResourceKind:           "other",
		DryRun:                 req.DryRun != nil && *req.DryRun,
		WarningsNumber:         len(a.Response.Warnings),
	}
	if admission.Judges(schema.GroupVersionKind(kind)) {
		data.ResourceKind = strings.Trim(kind.Group+"/"+kind.Version+"/"+kind.Kind, "/")
	}
	if rv.Webhook() == admission.Validating || !a.Response.Allowed {
		m.recorder.MeasureValidatingWebhookReviewOp(ctx, kwhwebhook.MeasureValidatingOpData{MeasureOpCommonData: data, Allowed: a.Response.Allowed})
		return
	}
	data.WebhookType = string(admission.Mutating)
	m.recorder.MeasureMutatingWebhookReviewOp(ctx, kwhwebhook.MeasureMutatingOpData{MeasureOpCommonData: data,
		Mutated: len(a.Response.Patch) > 0 && string(a.Response.Patch) != "[]"})
}
