package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// stepTime is the mean duration of one step of admission, from a
// histogram of the API server's or gracekeeper's metrics.
type stepTime struct {
	// what the step is, for the report.
	what  string
	calls int
	mean  time.Duration
}

// histogramMeans reads the histogram name from Prometheus text and returns
// the mean of each group of its series, grouped by the value of the label
// by; what names a group from that value.
func histogramMeans(text, name, by string, what func(group string) string) []stepTime {
	sums, counts := map[string]float64{}, map[string]float64{}
	for line := range strings.Lines(text) {
		sample, labels, value, ok := parseSample(line)
		if !ok {
			continue
		}
		switch sample {
		case name + "_sum":
			sums[labels[by]] += value
		case name + "_count":
			counts[labels[by]] += value
		}
	}
	var steps []stepTime
	for group, n := range counts {
		if n > 0 {
			steps = append(steps, stepTime{what: what(group), calls: int(n), mean: time.Duration(sums[group] / n * float64(time.Second))})
		}
	}
	slices.SortFunc(steps, func(a, b stepTime) int { return strings.Compare(a.what, b.what) })
	return steps
}

// parseSample reads one sample line of the Prometheus text format:
// name{label="value",...} value.
func parseSample(line string) (name string, labels map[string]string, value float64, ok bool) {
	line = strings.TrimSpace(line)
	if line == "" || strings.HasPrefix(line, "#") {
		return "", nil, 0, false
	}
	open, end := strings.IndexByte(line, '{'), strings.LastIndexByte(line, '}')
	if open < 0 || end < open {
		return "", nil, 0, false
	}
	value, err := strconv.ParseFloat(strings.TrimSpace(line[end+1:]), 64)
	if err != nil {
		return "", nil, 0, false
	}
	labels = map[string]string{}
	for pair := range strings.SplitSeq(line[open+1:end], `",`) {
		k, v, _ := strings.Cut(pair, `="`)
		labels[k] = strings.TrimSuffix(v, `"`)
	}
	return line[:open], labels, value, true
}

// admissionSteps are the mean durations, over the whole run, of what the
// API server's admission did for the benchmark's requests, by its own
// metrics and gracekeeper's: each call to a webhook as the API server timed
// it, gracekeeper's own part of each review, and each mutation of the
// in-tree MutatingAdmissionPolicy. (The API server times a
// ValidatingAdmissionPolicy only when it denies or fails.)
func admissionSteps(apiServerMetrics, gracekeeperMetrics string) []stepTime {
	var steps []stepTime
	for _, s := range histogramMeans(apiServerMetrics, "apiserver_admission_webhook_admission_duration_seconds", "name",
		func(name string) string { return "kube-apiserver: webhook call, " + name }) {
		// The mode-label check sees only the namespaces the benchmark creates.
		if !strings.HasPrefix(s.what, "kube-apiserver: webhook call, namespaces.") {
			steps = append(steps, s)
		}
	}
	for _, kind := range []string{"mutating", "validating"} {
		steps = append(steps, histogramMeans(gracekeeperMetrics, "kubewebhook_"+kind+"_webhook_review_duration_seconds", "resource_kind",
			func(resourceKind string) string { return "gracekeeper: " + kind + " review, " + resourceKind })...)
	}
	return append(steps, histogramMeans(apiServerMetrics, "apiserver_mutating_admission_policy_check_duration_seconds", "policy",
		func(policy string) string { return "kube-apiserver: one mutation of MutatingAdmissionPolicy " + policy })...)
}

// getText GETs a plain-HTTP URL.
func getText(ctx context.Context, url string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("get %s: %w", url, err)
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("get %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("get %s: %s", url, resp.Status)
	}
	return string(text), nil
}

// webhookCallMetric is the API server's histogram of its calls to each
// admission webhook, labelled by the webhook's name (and type, operation,
// rejected), in seconds: the time from encoding the AdmissionReview to
// having the answer decoded, HTTPS round trip and webhook included
// (k8s.io/apiserver/pkg/admission/metrics).
const webhookCallMetric = "apiserver_admission_webhook_admission_duration_seconds"

// callHistogram is a histogram of webhookCallMetric for one webhook,
// summed over its other labels.
type callHistogram struct {
	// buckets are the cumulative counts by upper bound in seconds (le),
	// +Inf left out.
	buckets    map[float64]float64
	sum, count float64
}

// callHistograms reads webhookCallMetric from the API server's metrics in
// Prometheus text, by webhook name.
func callHistograms(text string) map[string]*callHistogram {
	byName := map[string]*callHistogram{}
	get := func(name string) *callHistogram {
		h := byName[name]
		if h == nil {
			h = &callHistogram{buckets: map[float64]float64{}}
			byName[name] = h
		}
		return h
	}
	for line := range strings.Lines(text) {
		sample, labels, value, ok := parseSample(line)
		if !ok {
			continue
		}
		switch sample {
		case webhookCallMetric + "_bucket":
			if le, err := strconv.ParseFloat(labels["le"], 64); err == nil && !math.IsInf(le, 1) {
				get(labels["name"]).buckets[le] += value
			}
		case webhookCallMetric + "_sum":
			get(labels["name"]).sum += value
		case webhookCallMetric + "_count":
			get(labels["name"]).count += value
		}
	}
	return byName
}

// since is what the histogram gained after before (nil: nothing before).
func (h *callHistogram) since(before *callHistogram) *callHistogram {
	d := &callHistogram{buckets: map[float64]float64{}, sum: h.sum, count: h.count}
	maps.Copy(d.buckets, h.buckets)
	if before != nil {
		d.sum -= before.sum
		d.count -= before.count
		for le, n := range before.buckets {
			d.buckets[le] -= n
		}
	}
	return d
}

// mean is the mean call, exact from the histogram's sum and count; 0
// without calls.
func (h *callHistogram) mean() time.Duration {
	if h == nil || h.count == 0 {
		return 0
	}
	return time.Duration(h.sum / h.count * float64(time.Second))
}

// bounds are the histogram's upper bounds, in increasing order.
func (h *callHistogram) bounds() []float64 {
	return slices.Sorted(maps.Keys(h.buckets))
}

// callsSince is, by webhook name, the calls the API server made between
// two readings of its metrics.
func callsSince(before, after map[string]*callHistogram) map[string]*callHistogram {
	calls := map[string]*callHistogram{}
	for name, h := range after {
		if d := h.since(before[name]); d.count > 0 {
			calls[name] = d
		}
	}
	return calls
}
