package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/gracekeeper/gracekeeper/e2e/bench"
	"github.com/gracekeeper/gracekeeper/policies/policytest"
)

// loadPath is where the load test sends the typical Pod CREATE, on both
// servers: the mutating webhook of enforce mode.
const loadPath = "/mutate/enforce"

// loadResult is part 2.
type loadResult struct {
	bodyBytes int
	servers   []*serverLoad
}

// serverLoad is one server's figures, a run per round.
type serverLoad struct {
	name    string
	command string
	runs    []bench.LoadResult
	// cpuPerReview is the server's CPU time per review of each run.
	cpuPerReview []time.Duration
	peakRSS      int64
}

func (s *serverLoad) throughputs() []float64 {
	var out []float64
	for _, r := range s.runs {
		out = append(out, r.Throughput())
	}
	return out
}

// quantiles are the q-quantile of each run, in milliseconds.
func (s *serverLoad) quantiles(q float64) []float64 {
	var out []float64
	for _, r := range s.runs {
		out = append(out, ms(bench.Quantile(r.Latencies, q)))
	}
	return out
}

func (s *serverLoad) cpuMicros() []float64 {
	var out []float64
	for _, d := range s.cpuPerReview {
		out = append(out, float64(d)/float64(time.Microsecond))
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// serverFiles are what a benchmarked gracekeeper serve reads: a serving pair
// for loopback and a configuration that gives the API server's version, so
// that it asks no one for it.
type serverFiles struct {
	tlsDir, configPath string
	// roots verify the serving certificate.
	roots *x509.CertPool
}

func writeServerFiles(ctx context.Context, binary, dir string) (*serverFiles, error) {
	f := &serverFiles{tlsDir: filepath.Join(dir, "tls"), configPath: filepath.Join(dir, "config.yaml"), roots: x509.NewCertPool()}
	if err := generateServing(ctx, binary, f.tlsDir, filepath.Join(dir, "ca"), 24*time.Hour); err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(filepath.Join(f.tlsDir, "ca.crt"))
	if err != nil {
		return nil, err
	}
	f.roots.AppendCertsFromPEM(caPEM)
	if err := os.WriteFile(f.configPath, []byte("apiVersion: gracekeeper.io/v1alpha1\nkind: Configuration\nserverVersion: v1.37.2\n"), 0o644); err != nil {
		return nil, fmt.Errorf("write gracekeeper config: %w", err)
	}
	return f, nil
}

// runLoad starts gracekeeper and the no-op server on loopback and sends
// each the same reviews, alternating between them round by round.
func runLoad(ctx context.Context, opts *options, tmp string, logf func(string, ...any)) (_ *loadResult, err error) {
	dir := filepath.Join(tmp, "load")
	files, err := writeServerFiles(ctx, opts.gracekeeper, dir)
	if err != nil {
		return nil, err
	}
	tlsDir, configPath, roots := files.tlsDir, files.configPath, files.roots
	noopBinary := filepath.Join(dir, "noop")
	logf("building the no-op server (e2e/bench/noop)")
	if err := buildGo(ctx, noopBinary, "./e2e/bench/noop"); err != nil {
		return nil, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}

	body, err := policytest.PodCreateReview(policytest.TypicalContainers)
	if err != nil {
		return nil, err
	}
	result := &loadResult{bodyBytes: len(body)}
	gracekeeperURL := fmt.Sprintf("https://127.0.0.1:%d", ports[0])
	noopURL := fmt.Sprintf("https://127.0.0.1:%d", ports[2])
	servers := []struct {
		name, binary string
		args         []string
		url          string
		readyURL     string
		// check judges the first answer in full.
		check func([]byte) error
	}{
		{
			name: "gracekeeper serve", binary: opts.gracekeeper,
			args: []string{"serve", "--tls-dir", tlsDir, "--listen", strings.TrimPrefix(gracekeeperURL, "https://"),
				"--probe-listen", fmt.Sprintf("127.0.0.1:%d", ports[1]), "--config", configPath, "--drain-delay", "0s"},
			url:      gracekeeperURL,
			readyURL: fmt.Sprintf("http://127.0.0.1:%d/readyz", ports[1]),
			check:    checkPatched,
		},
		{
			name: "no-op kubewebhook", binary: noopBinary,
			args:     []string{"--tls-dir", tlsDir, "--listen", strings.TrimPrefix(noopURL, "https://")},
			url:      noopURL,
			readyURL: noopURL + "/readyz",
			check:    checkAllowed,
		},
	}
	procs := make([]*serverProcess, len(servers))
	defer func() {
		for _, p := range procs {
			if p != nil {
				err = errors.Join(err, p.stop())
			}
		}
	}()
	for i, s := range servers {
		p, err := startServer(s.binary, s.args, filepath.Join(dir, fmt.Sprintf("server-%d.log", i)))
		if err != nil {
			return nil, err
		}
		procs[i] = p
		if err := p.waitReady(ctx, s.readyURL, roots); err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		if err := verifyOnce(ctx, s.url+loadPath, body, roots, s.check); err != nil {
			return nil, fmt.Errorf("%s does not answer as it should: %w\n%s", s.name, err, p.tail())
		}
		result.servers = append(result.servers, &serverLoad{name: s.name, command: shellJoin(append([]string{filepath.Base(s.binary)}, s.args...))})
	}

	for round := range opts.loadRounds {
		order := []int{0, 1}
		if round%2 == 1 {
			order = []int{1, 0}
		}
		for _, i := range order {
			s, p, figures := servers[i], procs[i], result.servers[i]
			cpuBefore, err := bench.CPUTime(p.pid())
			if err != nil {
				return nil, err
			}
			res, err := bench.Load(ctx, bench.LoadOptions{
				URL: s.url + loadPath, Body: body, RootCAs: roots,
				Concurrency: opts.loadConcurrency, Warmup: opts.loadWarmup, Requests: opts.loadRequests, Timeout: opts.loadTimeout,
				// Every answer is checked, cheaply.
				Check: func(answer []byte) error {
					if !bytes.Contains(answer, []byte(`"allowed":true`)) {
						return fmt.Errorf("review not allowed: %s", answer)
					}
					return nil
				},
			})
			if err != nil {
				return nil, fmt.Errorf("%s: %w\n%s", s.name, err, p.tail())
			}
			cpuAfter, err := bench.CPUTime(p.pid())
			if err != nil {
				return nil, err
			}
			figures.runs = append(figures.runs, res)
			figures.cpuPerReview = append(figures.cpuPerReview, (cpuAfter-cpuBefore)/time.Duration(opts.loadWarmup+opts.loadRequests))
			logf("round %d, %s: %.0f reviews/s, p50 %.2f ms, p99 %.2f ms", round+1, s.name,
				res.Throughput(), ms(bench.Quantile(res.Latencies, 0.5)), ms(bench.Quantile(res.Latencies, 0.99)))
		}
	}
	for i, p := range procs {
		if result.servers[i].peakRSS, err = bench.PeakRSS(p.pid()); err != nil {
			return nil, err
		}
	}
	return result, nil
}

// verifyOnce sends one review and judges the whole answer.
func verifyOnce(ctx context.Context, url string, body []byte, roots *x509.CertPool, check func([]byte) error) error {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var answer bytes.Buffer
	if _, err := answer.ReadFrom(resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("answered %s: %s", resp.Status, answer.String())
	}
	return check(answer.Bytes())
}

func decodeAnswer(answer []byte) (*admissionv1.AdmissionResponse, error) {
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(answer, &review); err != nil || review.Response == nil {
		return nil, fmt.Errorf("answer is not an AdmissionReview with a response: %s", answer)
	}
	if !review.Response.Allowed {
		return nil, fmt.Errorf("review denied: %s", answer)
	}
	return review.Response, nil
}

// checkAllowed accepts an answer that allows the pod unchanged.
func checkAllowed(answer []byte) error {
	resp, err := decodeAnswer(answer)
	if err != nil {
		return err
	}
	if len(resp.Patch) > 0 && string(resp.Patch) != "[]" {
		return fmt.Errorf("the no-op server patched the pod: %s", resp.Patch)
	}
	return nil
}

// checkPatched accepts an answer whose patch gives every container of the
// typical pod a preStop hook, and the pod a grace period long enough for it.
func checkPatched(answer []byte) error {
	resp, err := decodeAnswer(answer)
	if err != nil {
		return err
	}
	patch, err := jsonpatch.DecodePatch(resp.Patch)
	if err != nil {
		return fmt.Errorf("patch %s: %w", resp.Patch, err)
	}
	podJSON, err := json.Marshal(policytest.AdmittedPod(policytest.TypicalContainers))
	if err != nil {
		return err
	}
	patched, err := patch.Apply(podJSON)
	if err != nil {
		return fmt.Errorf("apply patch %s: %w", resp.Patch, err)
	}
	var pod corev1.Pod
	if err := json.Unmarshal(patched, &pod); err != nil {
		return err
	}
	return gracefulPod(&pod)
}

// gracefulPod says what the preStop hook and grace period rules left undone
// on a pod: every container sleeps 5 s before SIGTERM, and the grace period
// covers that plus the default 25 s to drain.
func gracefulPod(pod *corev1.Pod) error {
	for _, c := range pod.Spec.Containers {
		if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil || c.Lifecycle.PreStop.Sleep.Seconds != 5 {
			return fmt.Errorf("container %s has no preStop sleep of 5s: %+v", c.Name, c.Lifecycle)
		}
	}
	if g := pod.Spec.TerminationGracePeriodSeconds; g == nil || *g < 30 {
		return fmt.Errorf("terminationGracePeriodSeconds %v, want at least 30", g)
	}
	return nil
}

// freePorts finds n free loopback ports.
func freePorts(n int) ([]int, error) {
	var ports []int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
