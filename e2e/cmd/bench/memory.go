package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/gracekeeper/gracekeeper/e2e/bench"
	"github.com/gracekeeper/gracekeeper/policies/policytest"
)

// Part 4: memory under maximum-size reviews. The chart's container limit is
// 256Mi, and the chart sets GOMEMLIMIT to three quarters of it.
const (
	chartMemoryLimit    = 256 << 20
	memoryConcurrency   = 32
	memoryReviewsEach   = 2
	maxReviewBodyBytes  = 6 << 20
	memoryPadEntryBytes = 48
)

// memoryResult is part 4: the peak RSS of gracekeeper serve judging
// maximum-size reviews from many callers at once, as the chart runs it and
// without its memory bounds.
type memoryResult struct {
	bodyBytes int
	runs      []memoryRun
}

type memoryRun struct {
	name, command string
	peakRSS       int64
	elapsed       time.Duration
}

// bounded is the run as the chart runs it.
func (m *memoryResult) bounded() memoryRun { return m.runs[0] }

// bigPodReview is the typical Pod CREATE padded with labels to just under
// the maximum body: many small map entries, which cost more memory to decode
// than one long string.
func bigPodReview() ([]byte, error) {
	body, err := policytest.PodCreateReview(policytest.TypicalContainers)
	if err != nil {
		return nil, err
	}
	var pad strings.Builder
	pad.WriteString(`"labels":{`)
	for i := 0; len(body)+pad.Len()+memoryPadEntryBytes < maxReviewBodyBytes-1024; i++ {
		fmt.Fprintf(&pad, `"pad-%07d":"%033d",`, i, i)
	}
	padded := bytes.Replace(body, []byte(`"labels":{`), []byte(pad.String()), 1)
	if len(padded) == len(body) {
		return nil, errors.New("the Pod CREATE review has no labels to pad")
	}
	return padded, nil
}

// runMemory sends memoryConcurrency callers' maximum-size reviews to a fresh
// gracekeeper serve, first as the chart runs it (GOMEMLIMIT three quarters
// of the container limit, the default in-flight budget), then without its bounds (no
// GOMEMLIMIT, a budget that holds every review at once), and reads each
// process's peak RSS.
func runMemory(ctx context.Context, opts *options, tmp string, logf func(string, ...any)) (_ *memoryResult, err error) {
	files, err := writeServerFiles(ctx, opts.gracekeeper, filepath.Join(tmp, "memory"))
	if err != nil {
		return nil, err
	}
	body, err := bigPodReview()
	if err != nil {
		return nil, err
	}
	result := &memoryResult{bodyBytes: len(body)}
	setups := []struct {
		name string
		env  []string
		args []string
	}{
		{fmt.Sprintf("as the chart runs it: GOMEMLIMIT=%s, default budget", mib(chartGoMemLimit)),
			[]string{fmt.Sprintf("GOMEMLIMIT=%d", chartGoMemLimit)}, nil},
		{"without memory bounds: no GOMEMLIMIT, a budget for every review at once", nil,
			[]string{fmt.Sprintf("--max-inflight-bytes=%d", memoryConcurrency*maxReviewBodyBytes)}},
	}
	for i, s := range setups {
		ports, err := freePorts(2)
		if err != nil {
			return nil, err
		}
		url := fmt.Sprintf("https://127.0.0.1:%d", ports[0])
		// env(1) execs the server, which keeps its PID.
		args := append(append(append([]string{"-i"}, s.env...), opts.gracekeeper, "serve", "--tls-dir", files.tlsDir,
			"--listen", strings.TrimPrefix(url, "https://"), "--probe-listen", fmt.Sprintf("127.0.0.1:%d", ports[1]),
			"--config", files.configPath, "--drain-delay", "0s"), s.args...)
		p, err := startServer("env", args, filepath.Join(tmp, "memory", fmt.Sprintf("server-%d.log", i)))
		if err != nil {
			return nil, err
		}
		run, err := loadBigReviews(ctx, p, url, fmt.Sprintf("http://127.0.0.1:%d/readyz", ports[1]), body, files.roots)
		if err == nil {
			// The budget the server chose, as it logged it.
			var budget int64
			budget, err = servedBudget(p)
			run.name = fmt.Sprintf("%s (%s)", s.name, mib(budget))
		}
		err = errors.Join(err, p.stop())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		run.command = shellJoin(append([]string{"env"}, args...))
		logf("memory, %s: peak RSS %s in %s", run.name, mib(run.peakRSS), run.elapsed.Round(time.Millisecond))
		result.runs = append(result.runs, run)
	}
	return result, nil
}

func loadBigReviews(ctx context.Context, p *serverProcess, url, readyURL string, body []byte, roots *x509.CertPool) (memoryRun, error) {
	if err := p.waitReady(ctx, readyURL, roots); err != nil {
		return memoryRun{}, err
	}
	res, err := bench.Load(ctx, bench.LoadOptions{
		// The API server says its timeout in the URL; 30s is the most a
		// webhook configuration may give, and callers wait that long for room.
		URL: url + loadPath + "?timeout=30s", Body: body, RootCAs: roots,
		Concurrency: memoryConcurrency, Requests: memoryConcurrency * memoryReviewsEach, Timeout: 3 * time.Minute,
		Check: func(answer []byte) error {
			if !bytes.Contains(answer, []byte(`"allowed":true`)) {
				return fmt.Errorf("review not allowed: %.300s", answer)
			}
			return nil
		},
	})
	if err != nil {
		return memoryRun{}, fmt.Errorf("%w\n%s", err, p.tail())
	}
	peak, err := bench.PeakRSS(p.pid())
	return memoryRun{peakRSS: peak, elapsed: res.Elapsed}, err
}

func (r *report) writeMemory(b *bytes.Buffer) {
	m := r.memory
	fmt.Fprintf(b, "\n## 4. Memory under maximum-size reviews\n\n")
	fmt.Fprintf(b, "%d callers at once each send %d Pod CREATE reviews of %s (the typical pod padded with labels to the maximum body), "+
		"to a fresh `gracekeeper serve` per row. The chart's memory limit is %s. Peak RSS is VmHWM after the run.\n\n",
		memoryConcurrency, memoryReviewsEach, mib(int64(m.bodyBytes)), mib(chartMemoryLimit))
	fmt.Fprintf(b, "| server | peak RSS (VmHWM) | of the chart's limit | wall time |\n|---|--:|--:|--:|\n")
	for _, run := range m.runs {
		fmt.Fprintf(b, "| %s | %s | %.0f%% | %s |\n", run.name, mib(run.peakRSS), 100*float64(run.peakRSS)/chartMemoryLimit, run.elapsed.Round(time.Millisecond))
	}
	fmt.Fprintf(b, "\nThe servers ran as:\n\n```\n")
	for _, run := range m.runs {
		fmt.Fprintf(b, "%s\n", run.command)
	}
	fmt.Fprintf(b, "```\n")
}
