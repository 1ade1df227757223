package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gracekeeper/gracekeeper/e2e/bench"
	"github.com/gracekeeper/gracekeeper/policies/policytest"
)

// Part 5: bounds. gracekeeper serve as the chart runs it (GOMEMLIMIT three
// quarters of the 256Mi limit, the default budget, no mutual TLS) under the
// reviews that cost the most: container-heavy objects up to the largest the
// API server accepts, abandoned reviews, slow bodies, and a serving pair from
// another CA. Run it alone with -parts bounds.

// chartGoMemLimit is the GOMEMLIMIT the chart sets under its 256Mi limit.
const chartGoMemLimit = chartMemoryLimit / 4 * 3

// chartTimeout is the timeout the chart's webhook configurations give
// (timeoutSeconds 5), which the API server says in the URL.
const chartTimeout = "?timeout=5s"

type boundsResult struct {
	growth        []growthRow
	growthRSS     int64
	heavy         heavyRun
	abandoned     abandonedRun
	slowBody      slowBodyRun
	refusal       refusalRun
	serverCommand string

	// judgedContainers is the most containers gracekeeper judges in a pod
	// spec, as the server answered (judgedContainers).
	judgedContainers int
}

type growthRow struct {
	kind, path string
	containers int
	bodyBytes  int
	reviews    int
	p50, max   time.Duration
	cpu        time.Duration // server CPU per review
	alloc      float64       // bytes allocated per review (go_memstats_alloc_bytes_total)
	answer     string
}

type heavyRun struct {
	bodyBytes     int
	single        time.Duration
	copies        int
	codes         map[int]int
	elapsed       time.Duration
	peakRSS       int64
	answerExcerpt string
}

type abandonedRun struct {
	idle, loaded time.Duration
	reviews      int
	abandoned    int64
	errors       int
}

type slowBodyRun struct {
	reviews, timeouts, failures int
	p50, p99                    time.Duration
}

type refusalRun struct {
	refusals          string
	ready             int
	handshakeOK       bool
	logLine           string
	secondsToRefusal  float64
	readyBodyAfterAll string
}

// boundsServer starts gracekeeper serve with the chart's settings.
func boundsServer(ctx context.Context, opts *options, dir string) (*serverProcess, string, string, *serverFiles, error) {
	files, err := writeServerFiles(ctx, opts.gracekeeper, dir)
	if err != nil {
		return nil, "", "", nil, err
	}
	ports, err := freePorts(2)
	if err != nil {
		return nil, "", "", nil, err
	}
	url := fmt.Sprintf("https://127.0.0.1:%d", ports[0])
	probe := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	args := []string{"-i", fmt.Sprintf("GOMEMLIMIT=%d", chartGoMemLimit), opts.gracekeeper, "serve", "--tls-dir", files.tlsDir,
		"--listen", strings.TrimPrefix(url, "https://"), "--probe-listen", strings.TrimPrefix(probe, "http://"),
		"--config", files.configPath, "--drain-delay", "0s"}
	p, err := startServer("env", args, filepath.Join(dir, "server.log"))
	if err != nil {
		return nil, "", "", nil, err
	}
	if err := p.waitReady(ctx, probe+"/readyz", files.roots); err != nil {
		return nil, "", "", nil, errors.Join(err, p.stop())
	}
	return p, url, probe, files, nil
}

func runBounds(ctx context.Context, opts *options, tmp string, logf func(string, ...any)) (*boundsResult, error) {
	r := &boundsResult{}
	steps := []struct {
		name string
		do   func(ctx context.Context, p *serverProcess, url, probe string, files *serverFiles) error
	}{
		{"growth", r.measureGrowth},
		{"heavy", r.measureHeavy},
		{"abandoned", r.measureAbandoned},
		{"slow-body", r.measureSlowBodies},
		{"refusal", func(ctx context.Context, p *serverProcess, url, probe string, files *serverFiles) error {
			return r.measureRefusal(ctx, opts.gracekeeper, p, url, probe, files)
		}},
	}
	for _, s := range steps {
		dir := filepath.Join(tmp, "bounds", s.name)
		p, url, probe, files, err := boundsServer(ctx, opts, dir)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		r.serverCommand = shellJoin(append([]string{"env"}, p.cmd.Args[1:]...))
		logf("bounds: %s", s.name)
		err = s.do(ctx, p, url, probe, files)
		if err != nil {
			err = fmt.Errorf("%s: %w\n%s", s.name, err, p.tail())
		}
		if err := errors.Join(err, p.stop()); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func boundsClient(roots *x509.CertPool, timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots}, MaxIdleConnsPerHost: 64, DisableCompression: true}}
}

// post sends one review and returns its status, answer and latency.
func post(ctx context.Context, client *http.Client, url string, body []byte) (int, []byte, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, time.Since(start), err
	}
	answer, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, answer, time.Since(start), err
}

// allocated reads go_memstats_alloc_bytes_total from the server's metrics.
func allocated(probe string) (float64, error) {
	resp, err := http.Get(probe + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return metricValue(resp.Body, "go_memstats_alloc_bytes_total")
}

func metricValue(r io.Reader, name string) (float64, error) {
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
	for scanner.Scan() {
		if value, ok := strings.CutPrefix(scanner.Text(), name+" "); ok {
			return strconv.ParseFloat(value, 64)
		}
	}
	return 0, fmt.Errorf("metric %s not found", name)
}

// growthCase is a row group of the growth table: reviews of one kind sent
// to one path, of each container count.
type growthCase struct {
	kind, path string
	counts     []int
}

// growthCases are the container counts of the growth table: judged up to
// bound, the most gracekeeper judges (judgedContainers), answered unjudged
// past it, up to the largest Pod.
func growthCases(bound int) []growthCase {
	counts := func(n ...int) []int {
		n = slices.DeleteFunc(n, func(c int) bool { return c > policytest.LargestPodContainers })
		slices.Sort(n)
		return slices.Compact(n)
	}
	return []growthCase{
		{"Pod", "/mutate/enforce", counts(1, 10, 100, bound, bound+1, 16_000, policytest.LargestPodContainers)},
		{"Deployment", "/validate/enforce", counts(1, 100, bound, 16_000, policytest.LargestPodContainers)},
		{"Deployment", "/mutate/enforce", []int{16_000}},
	}
}

func (r *boundsResult) measureGrowth(ctx context.Context, p *serverProcess, url, probe string, files *serverFiles) error {
	client := boundsClient(files.roots, 30*time.Second)
	defer client.CloseIdleConnections()
	bound, err := judgedContainers(ctx, client, url)
	if err != nil {
		return err
	}
	r.judgedContainers = bound
	for _, c := range growthCases(bound) {
		for _, n := range c.counts {
			body, err := policytest.ContainerHeavyReview(c.kind, n)
			if err != nil {
				return err
			}
			reviews := min(200, max(5, 20_000/n))
			if _, _, _, err := post(ctx, client, url+c.path+chartTimeout, body); err != nil {
				return err
			}
			cpu0, err := bench.CPUTime(p.pid())
			if err != nil {
				return err
			}
			alloc0, err := allocated(probe)
			if err != nil {
				return err
			}
			var latencies []time.Duration
			var answer []byte
			for range reviews {
				code, a, d, err := post(ctx, client, url+c.path+chartTimeout, body)
				if err != nil || code != http.StatusOK {
					return fmt.Errorf("%s of %d containers: %d %v %.300s", c.kind, n, code, err, a)
				}
				latencies, answer = append(latencies, d), a
			}
			cpu1, err := bench.CPUTime(p.pid())
			if err != nil {
				return err
			}
			alloc1, err := allocated(probe)
			if err != nil {
				return err
			}
			slices.Sort(latencies)
			row := growthRow{kind: c.kind, path: c.path, containers: n, bodyBytes: len(body), reviews: reviews,
				p50: bench.Quantile(latencies, 0.5), max: latencies[len(latencies)-1],
				cpu: (cpu1 - cpu0) / time.Duration(reviews), alloc: (alloc1 - alloc0) / float64(reviews), answer: summarize(answer)}
			r.growth = append(r.growth, row)
		}
	}
	peak, err := bench.PeakRSS(p.pid())
	r.growthRSS = peak
	return err
}

// summarize says what an answer was: judged (with a patch or warnings),
// past the bound, or denied.
func summarize(answer []byte) string {
	if bytes.Contains(answer, []byte(`"allowed":false`)) {
		if bytes.Contains(answer, []byte("more than the ")) {
			return "past the bound: denied"
		}
		return "denied"
	}
	resp, err := decodeAnswer(answer)
	switch {
	case err != nil:
		return "unreadable: " + err.Error()
	case bytes.Contains(answer, []byte("more than the ")):
		return "past the bound: allowed unchanged, with a warning"
	case len(resp.Patch) > 2:
		return "judged: patched"
	case len(resp.Warnings) > 0:
		return "judged: warnings"
	}
	return "judged: nothing to say"
}

func (r *boundsResult) measureHeavy(ctx context.Context, p *serverProcess, url, probe string, files *serverFiles) error {
	body, err := policytest.ContainerHeavyReview("Pod", policytest.LargestPodContainers)
	if err != nil {
		return err
	}
	client := boundsClient(files.roots, 30*time.Second)
	defer client.CloseIdleConnections()
	code, answer, d, err := post(ctx, client, url+"/mutate/enforce"+chartTimeout, body)
	if err != nil || code != http.StatusOK {
		return fmt.Errorf("one review: %d %v %.300s", code, err, answer)
	}
	r.heavy = heavyRun{bodyBytes: len(body), single: d, copies: 32, codes: map[int]int{}}
	resp, err := decodeAnswer(answer)
	if err == nil && len(resp.Warnings) > 0 {
		r.heavy.answerExcerpt = resp.Warnings[0]
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	started := time.Now()
	for range r.heavy.copies {
		wg.Go(func() {
			code, _, _, err := post(ctx, client, url+"/mutate/enforce"+chartTimeout, body)
			if err != nil {
				code = -1
			}
			mu.Lock()
			r.heavy.codes[code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	r.heavy.elapsed = time.Since(started)
	r.heavy.peakRSS, err = bench.PeakRSS(p.pid())
	return err
}

// typicalP50 sends n typical Pod CREATEs one at a time and returns the p50.
func typicalP50(ctx context.Context, client *http.Client, url string, n int) (time.Duration, int, error) {
	body, err := policytest.PodCreateReview(policytest.TypicalContainers)
	if err != nil {
		return 0, 0, err
	}
	var latencies []time.Duration
	failures := 0
	for range n {
		code, _, d, err := post(ctx, client, url+"/mutate/enforce"+chartTimeout, body)
		if err != nil || code != http.StatusOK {
			failures++
			continue
		}
		latencies = append(latencies, d)
	}
	if len(latencies) == 0 {
		return 0, failures, errors.New("no review answered")
	}
	slices.Sort(latencies)
	return bench.Quantile(latencies, 0.5), failures, nil
}

func (r *boundsResult) measureAbandoned(ctx context.Context, p *serverProcess, url, probe string, files *serverFiles) error {
	client := boundsClient(files.roots, 5*time.Second)
	defer client.CloseIdleConnections()
	const reviews = 500
	if _, _, err := typicalP50(ctx, client, url, 50); err != nil { // warm-up
		return err
	}
	idle, _, err := typicalP50(ctx, client, url, reviews)
	if err != nil {
		return err
	}
	heavy, err := policytest.ContainerHeavyReview("Deployment", 16_000)
	if err != nil {
		return err
	}
	// Four callers send a Deployment of 16,000 containers each and give up
	// 5 ms in, as an API server whose timeout passed; the typical reviews
	// follow at once. Before the bounds, such reviews went on for 72 s each.
	heavyClient := boundsClient(files.roots, 0)
	defer heavyClient.CloseIdleConnections()
	var abandoned atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			reqCtx, done := context.WithTimeout(ctx, 5*time.Millisecond)
			defer done()
			if _, _, _, err := post(reqCtx, heavyClient, url+"/validate/enforce"+chartTimeout, heavy); err != nil {
				abandoned.Add(1)
			}
		})
	}
	wg.Wait()
	loaded, failures, err := typicalP50(ctx, client, url, reviews)
	r.abandoned = abandonedRun{idle: idle, loaded: loaded, reviews: reviews, abandoned: abandoned.Load(), errors: failures}
	return err
}

func (r *boundsResult) measureSlowBodies(ctx context.Context, p *serverProcess, url, probe string, files *serverFiles) error {
	stop, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	addr := strings.TrimPrefix(url, "https://")
	for range 3 {
		wg.Go(func() {
			for stop.Err() == nil {
				conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: files.roots})
				if err != nil {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				fmt.Fprintf(conn, "POST /mutate/enforce HTTP/1.1\r\nHost: gracekeeper\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{", maxReviewBodyBytes)
				for stop.Err() == nil {
					time.Sleep(100 * time.Millisecond)
					if _, err := conn.Write([]byte(" ")); err != nil {
						break
					}
				}
				conn.Close()
			}
		})
	}
	time.Sleep(500 * time.Millisecond) // the slow bodies are in
	body, err := policytest.PodCreateReview(policytest.TypicalContainers)
	if err != nil {
		return err
	}
	client := boundsClient(files.roots, 5*time.Second) // the chart's timeoutSeconds
	defer client.CloseIdleConnections()
	const reviews = 1000
	var mu sync.Mutex
	var latencies []time.Duration
	var next atomic.Int64
	var reviewers sync.WaitGroup
	for range 8 {
		reviewers.Go(func() {
			for next.Add(1) <= reviews {
				code, _, d, err := post(ctx, client, url+"/mutate/enforce"+chartTimeout, body)
				mu.Lock()
				switch {
				case err != nil && (errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "Timeout")):
					r.slowBody.timeouts++
				case err != nil || code != http.StatusOK:
					r.slowBody.failures++
				default:
					latencies = append(latencies, d)
				}
				mu.Unlock()
			}
		})
	}
	reviewers.Wait()
	cancel()
	wg.Wait()
	slices.Sort(latencies)
	r.slowBody.reviews = reviews
	if len(latencies) > 0 {
		r.slowBody.p50, r.slowBody.p99 = bench.Quantile(latencies, 0.5), bench.Quantile(latencies, 0.99)
	}
	return nil
}

func (r *boundsResult) measureRefusal(ctx context.Context, gracekeeper string, p *serverProcess, url, probe string, files *serverFiles) error {
	// The pair only: ca.crt stays the bundle the webhook configurations carry.
	if err := writeServingFrom(ctx, gracekeeper, files.tlsDir, filepath.Join(filepath.Dir(files.tlsDir), "other")); err != nil {
		return err
	}
	started := time.Now()
	for time.Since(started) < 30*time.Second {
		resp, err := http.Get(probe + "/metrics")
		if err != nil {
			return err
		}
		v, _ := metricValue(resp.Body, "gracekeeper_certificate_refusals_total")
		resp.Body.Close()
		if v > 0 {
			r.refusal.refusals = strconv.FormatFloat(v, 'f', -1, 64)
			r.refusal.secondsToRefusal = time.Since(started).Seconds()
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	resp, err := http.Get(probe + "/readyz")
	if err != nil {
		return err
	}
	ready, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	r.refusal.ready, r.refusal.readyBodyAfterAll = resp.StatusCode, strings.TrimSpace(string(ready))
	conn, err := tls.Dial("tcp", strings.TrimPrefix(url, "https://"), &tls.Config{RootCAs: files.roots})
	if err == nil {
		conn.Close()
		r.refusal.handshakeOK = true
	}
	for line := range strings.SplitSeq(p.tail(), "\n") {
		if strings.Contains(line, "refused a new certificate") {
			r.refusal.logLine = line
		}
	}
	return nil
}

func (r *report) writeBounds(b *bytes.Buffer) {
	br := r.bounds
	fmt.Fprintf(b, "\n## 5. Bounds: container-heavy and adversarial reviews\n\n")
	fmt.Fprintf(b, "`gracekeeper serve` as the chart runs it: GOMEMLIMIT %s (three quarters of the chart's %s limit), the default in-flight budget "+
		"(half of GOMEMLIMIT), no mutual TLS, a fresh process for each table below, every request with the chart's `?timeout=5s`:\n\n```\n%s\n```\n\n",
		mib(chartGoMemLimit), mib(chartMemoryLimit), br.serverCommand)
	fmt.Fprintf(b, "The objects are the cheapest containers to send and the dearest to judge: a name each (`{\"name\":\"2b750\"}`, 17 bytes; webhooks run before validation), "+
		"up to %d in a Pod, the most that fit in the API server's 3 MiB request limit. gracekeeper judges pod specs of up to %d containers "+
		"(the largest Pod it patched, found by bisection through the server), "+
		"and answers a larger one without decoding its containers, as the failure policy would: the mutating webhook allows it unchanged with a warning, "+
		"the enforce validating webhook denies it.\n\n", policytest.LargestPodContainers, br.judgedContainers)
	fmt.Fprintf(b, "### Growth from 1 container to the largest Pod\n\n")
	fmt.Fprintf(b, "Reviews sent one at a time. *CPU* is the server process's CPU per review; *allocated* the Go heap allocated per review (`go_memstats_alloc_bytes_total`); "+
		"*per container* divides by the containers. Linear growth shows as a flat cost per container; past the bound it falls, since the containers are only counted. "+
		"Peak RSS of this process over the whole table: %s.\n\n", mib(br.growthRSS))
	fmt.Fprintf(b, "| object | path | containers | body | reviews | p50 | slowest | CPU per review | CPU per container | allocated per review | allocated per container | answer |\n")
	fmt.Fprintf(b, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
	for _, g := range br.growth {
		fmt.Fprintf(b, "| %s | `%s` | %d | %s | %d | %.2f ms | %.2f ms | %s | %s | %s | %s | %s |\n",
			g.kind, g.path, g.containers, kb(g.bodyBytes), g.reviews, ms(g.p50), ms(g.max), duration(float64(g.cpu)), duration(float64(g.cpu)/float64(g.containers)),
			bytesCell(g.alloc), bytesCell(g.alloc/float64(g.containers)), g.answer)
	}
	h := br.heavy
	fmt.Fprintf(b, "\n### The largest Pod, once and 32 at a time\n\n")
	fmt.Fprintf(b, "A Pod CREATE of %d containers (%s): answered in %.1f ms alone (\"%s\"). Then %d copies at once: answered by status %s in %s. "+
		"Peak RSS (VmHWM) of the process: **%s**, %.0f%% of the chart's %s limit.\n",
		policytest.LargestPodContainers, mib(int64(h.bodyBytes)), ms(h.single), h.answerExcerpt, h.copies, codesText(h.codes), h.elapsed.Round(time.Millisecond),
		mib(h.peakRSS), 100*float64(h.peakRSS)/chartMemoryLimit, mib(chartMemoryLimit))
	a := br.abandoned
	fmt.Fprintf(b, "\n### Abandoned reviews\n\n")
	fmt.Fprintf(b, "Four callers at once send a Deployment review of 16,000 containers each and give up 5 ms in (%d of the 4 were abandoned before their answer), "+
		"then one caller sends %d typical Pod CREATEs one at a time. "+
		"p50 of the typical reviews: %.2f ms idle, %.2f ms right after the abandoned ones: **%.2f×** (%d failed).\n",
		a.abandoned, a.reviews, ms(a.idle), ms(a.loaded), float64(a.loaded)/float64(a.idle), a.errors)
	s := br.slowBody
	fmt.Fprintf(b, "\n### Slow bodies\n\n")
	fmt.Fprintf(b, "Three connections each claim a %s body and send a byte every 100 ms (reconnecting when cut off), while 8 callers send %d typical Pod CREATEs with a 5 s timeout, the chart's. "+
		"**%d timed out**, %d failed otherwise; p50 %.2f ms, p99 %.2f ms.\n", mib(maxReviewBodyBytes), s.reviews, s.timeouts, s.failures, ms(s.p50), ms(s.p99))
	f := br.refusal
	fmt.Fprintf(b, "\n### A serving pair from another CA\n\n")
	fmt.Fprintf(b, "A pair issued by another CA is written over tls.crt and tls.key, ca.crt left as the webhook configurations carry it. "+
		"`gracekeeper_certificate_refusals_total` = %s after %.1f s; `/readyz` = %d (%s); a handshake by a caller that trusts ca.crt succeeds: %v. The log line:\n\n```\n%s\n```\n",
		f.refusals, f.secondsToRefusal, f.ready, f.readyBodyAfterAll, f.handshakeOK, f.logLine)
}

func codesText(codes map[int]int) string {
	var keys []int
	for k := range codes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		name := strconv.Itoa(k)
		if k == -1 {
			name = "no answer"
		}
		parts = append(parts, fmt.Sprintf("%s: %d", name, codes[k]))
	}
	return strings.Join(parts, ", ")
}
