package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// reviewTime is the mean time gracekeeper spent on the reviews of one
// webhook and kind, by its own metrics.
type reviewTime struct {
	webhook, kind string
	reviews       int
	mean          time.Duration
}

// reviewTimes reads kubewebhook's review duration histograms from the
// webhook's /metrics, for the reviews of one namespace. They time the
// review itself (decoding the object, the engine, logs and metrics), not
// the HTTP request or the decoding of the AdmissionReview around it.
func reviewTimes(ctx context.Context, metricsURL, namespace string) ([]reviewTime, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metricsURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("get webhook metrics: %w", err)
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("get webhook metrics: %s: %v", resp.Status, err)
	}
	type key struct{ webhook, kind string }
	sums, counts := map[key]float64{}, map[key]float64{}
	for line := range strings.Lines(string(text)) {
		name, labels, value, ok := parseSample(line)
		if !ok || labels["resource_namespace"] != namespace {
			continue
		}
		for _, webhook := range []string{"mutating", "validating"} {
			k := key{webhook, labels["resource_kind"]}
			switch name {
			case "kubewebhook_" + webhook + "_webhook_review_duration_seconds_sum":
				sums[k] += value
			case "kubewebhook_" + webhook + "_webhook_review_duration_seconds_count":
				counts[k] += value
			}
		}
	}
	var times []reviewTime
	for k, n := range counts {
		if n > 0 {
			times = append(times, reviewTime{webhook: k.webhook, kind: k.kind, reviews: int(n),
				mean: time.Duration(sums[k] / n * float64(time.Second))})
		}
	}
	slices.SortFunc(times, func(a, b reviewTime) int {
		return strings.Compare(a.kind+a.webhook, b.kind+b.webhook)
	})
	return times, nil
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
