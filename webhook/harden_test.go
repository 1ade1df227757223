package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gracekeeper/gracekeeper/certs"
)

func TestTLS12OffersOnlyECDHEWithAEADSuites(t *testing.T) {
	d := newServingDir(t)
	d.issue()
	r := startServer(t, d, 0)
	base := r.client.Transport.(*http.Transport).TLSClientConfig
	for _, suite := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		if !slices.Contains(suite.SupportedVersions, tls.VersionTLS12) {
			continue
		}
		t.Run(suite.Name, func(t *testing.T) {
			config := base.Clone()
			config.MaxVersion = tls.VersionTLS12
			config.CipherSuites = []uint16{suite.ID}
			conn, err := tls.Dial("tcp", r.Addr().String(), config)
			if err == nil {
				conn.Close()
			}
			// The test certificate is ECDSA, so only the ECDSA suites can
			// complete; the RSA ones among aeadCipherSuites are offered too.
			want := slices.Contains(aeadCipherSuites, suite.ID) && strings.HasPrefix(suite.Name, "TLS_ECDHE_ECDSA_")
			if got := err == nil; got != want {
				t.Errorf("a TLS 1.2 handshake offering only %s succeeded: %v, want %v (err %v)", suite.Name, got, want, err)
			}
		})
	}
}

// bigPodReview is a pod review of about size bytes, padded by an annotation.
func bigPodReview(t *testing.T, size int) []byte {
	t.Helper()
	body := request{op: admissionv1.Create, resource: "pods", object: podYAML}.body(t)
	pad := fmt.Sprintf(`"metadata":{"annotations":{"pad":"%s"},`, strings.Repeat("x", size-len(body)))
	padded := bytes.Replace(body, []byte(`"metadata":{`), []byte(pad), 1)
	if len(padded) <= len(body) {
		t.Fatal("the review has no object metadata to pad")
	}
	return padded
}

func TestConcurrentBigReviewsWaitForTheBudgetThenSucceed(t *testing.T) {
	d := newServingDir(t)
	d.issue()
	// Room for one maximum-size review: the others wait their turn.
	r := startServer(t, d, 0, func(c *Config) { c.MaxInFlightBytes = maxBodyBytes })
	body := bigPodReview(t, 4<<20)
	// As the API server does, each caller says how long it waits; on a
	// loaded machine (or under -race) a 4 MiB review takes seconds.
	r.client.Timeout = 2 * time.Minute
	url := r.url(PathMutateEnforce) + "?timeout=2m"
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for range 3 {
		wg.Go(func() {
			resp, err := r.client.Post(url, "application/json", bytes.NewReader(body))
			if err != nil {
				errs <- err
				return
			}
			answer, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !bytes.Contains(answer, []byte(`"allowed":true`)) {
				errs <- fmt.Errorf("answer %d %.300s, want 200 allowed", resp.StatusCode, answer)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a big review failed instead of waiting: %v", err)
	}
	_, metrics := r.probe(t, "/metrics")
	for _, want := range []string{"gracekeeper_inflight_review_bytes 0", "gracekeeper_review_budget_timeouts_total 0"} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("/metrics lacks %q after the reviews", want)
		}
	}
}

// budgetFixture is a review budget in front of a handler that holds each
// request until it is released, or until its context ends.
type budgetFixture struct {
	budget   *reviewBudget
	handler  http.Handler
	entered  chan string
	release  chan struct{}
	waiting  chan int64
	timeouts prometheus.Counter
}

func newBudgetFixture(t *testing.T, size int64) *budgetFixture {
	m, err := newMetrics(prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &budgetFixture{entered: make(chan string, 8), release: make(chan struct{}), waiting: make(chan int64, 8), timeouts: m.budgetTimeouts}
	f.budget = newReviewBudget(size, m)
	f.budget.onWait = func(cost int64) { f.waiting <- cost }
	f.handler = f.budget.limit(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.entered <- r.URL.Path
		select {
		case <-f.release:
			io.WriteString(w, "answered")
		case <-r.Context().Done():
			http.Error(w, "abandoned", http.StatusInternalServerError)
		}
	}))
	return f
}

// serve sends a request with this body to path in the background.
func (f *budgetFixture) serve(ctx context.Context, path string, body []byte) <-chan *httptest.ResponseRecorder {
	done := make(chan *httptest.ResponseRecorder, 1)
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, path, bytes.NewReader(body))
	go func() {
		rec := httptest.NewRecorder()
		f.handler.ServeHTTP(rec, req)
		done <- rec
	}()
	return done
}

// costing is a body whose reviewCost is about cost bytes.
func costing(cost int64) []byte { return bytes.Repeat([]byte("x"), int(cost/bytesCost)) }

func TestAReviewWaitsForRoomInTheBudget(t *testing.T) {
	f := newBudgetFixture(t, 2<<20)
	first := f.serve(t.Context(), "/first", costing(1<<20))
	second := f.serve(t.Context(), "/second", costing(1<<20))
	<-f.entered
	<-f.entered
	third := f.serve(t.Context(), "/third", costing(1<<20))
	if w := <-f.waiting; w != reviewCost(costing(1<<20)) {
		t.Errorf("the waiting review costs %d bytes, want reviewCost of its body, %d", w, reviewCost(costing(1<<20)))
	}
	f.release <- struct{}{} // one of the first two answers
	if path := <-f.entered; path != "/third" {
		t.Errorf("%s entered, want the waiting review", path)
	}
	close(f.release)
	for _, done := range []<-chan *httptest.ResponseRecorder{first, second, third} {
		if rec := <-done; rec.Code != http.StatusOK || rec.Body.String() != "answered" {
			t.Errorf("answer %d %q, want 200 answered", rec.Code, rec.Body.String())
		}
	}
}

func TestAReviewThatFitsGoesAheadOfALargerOneWaiting(t *testing.T) {
	f := newBudgetFixture(t, 4<<20)
	defer close(f.release)
	held := f.serve(t.Context(), "/held", costing(3<<20))
	<-f.entered
	large := f.serve(t.Context(), "/large?timeout=1h", costing(2<<20))
	<-f.waiting
	// A small review arrives after the large one, and fits beside the held one.
	small := f.serve(t.Context(), "/small", costing(64<<10))
	if path := <-f.entered; path != "/small" {
		t.Fatalf("%s entered, want the small review, which fits, ahead of the large one waiting", path)
	}
	f.release <- struct{}{}
	f.release <- struct{}{}
	if path := <-f.entered; path != "/large" {
		t.Errorf("%s entered, want the large review once there is room", path)
	}
	f.release <- struct{}{}
	for _, done := range []<-chan *httptest.ResponseRecorder{held, small, large} {
		if rec := <-done; rec.Code != http.StatusOK {
			t.Errorf("answer %d %q, want 200", rec.Code, rec.Body.String())
		}
	}
}

func TestAReviewWhoseCallerLeavesGivesItsRoomBack(t *testing.T) {
	f := newBudgetFixture(t, 1<<20)
	defer close(f.release)
	ctx, cancel := context.WithCancel(t.Context())
	abandoned := f.serve(ctx, "/abandoned", costing(1<<20))
	<-f.entered
	cancel() // the API server's timeout, or its connection closed
	if rec := <-abandoned; rec.Code != http.StatusInternalServerError {
		t.Errorf("the abandoned review = %d, want the handler to have seen its context end", rec.Code)
	}
	// The whole budget is free again: a review of its size enters at once.
	next := f.serve(t.Context(), "/next", costing(1<<20))
	select {
	case path := <-f.entered:
		if path != "/next" {
			t.Errorf("%s entered, want /next", path)
		}
	case cost := <-f.waiting:
		t.Fatalf("a review of %d bytes waited: the abandoned review kept its room", cost)
	}
	f.release <- struct{}{}
	<-next
}

func TestAReviewIsStoppedAtTheAPIServersTimeout(t *testing.T) {
	f := newBudgetFixture(t, 1<<20)
	defer close(f.release)
	rec := <-f.serve(t.Context(), "/validate/enforce?timeout=50ms", costing(1<<10))
	<-f.entered
	f.budget.judge.mu.Lock()
	used := f.budget.judge.used
	f.budget.judge.mu.Unlock()
	if rec.Code != http.StatusInternalServerError || used != 0 {
		t.Errorf("answer %d, %d bytes still held; want the review's context ended by its timeout and its room back", rec.Code, used)
	}
}

func TestAWaitingReviewWhoseCallerLeavesGetsAClearError(t *testing.T) {
	tests := map[string]struct {
		path    string
		cancel  bool
		wantErr string
	}{
		"The caller goes away":              {path: "/validate/enforce", cancel: true, wantErr: "its caller went away"},
		"The API server's timeout runs out": {path: "/validate/enforce?timeout=1ms", wantErr: "its timeout of 1ms passed"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			f := newBudgetFixture(t, 1<<20)
			defer close(f.release)
			held := f.serve(t.Context(), "/held", costing(1<<20))
			<-f.entered
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			waiter := f.serve(ctx, tt.path, costing(64<<10))
			<-f.waiting
			if tt.cancel {
				cancel()
			}
			rec := <-waiter
			if body := rec.Body.String(); rec.Code != http.StatusServiceUnavailable || !strings.Contains(body, tt.wantErr) || !strings.Contains(body, "--max-inflight-bytes") {
				t.Errorf("answer %d %q, want 503 saying %q and naming --max-inflight-bytes", rec.Code, body, tt.wantErr)
			}
			f.release <- struct{}{}
			if rec := <-held; rec.Code != http.StatusOK {
				t.Errorf("the held review = %d, want 200", rec.Code)
			}
			if got := testutil.ToFloat64(f.timeouts); got != 1 {
				t.Errorf("gracekeeper_review_budget_timeouts_total = %v, want 1", got)
			}
		})
	}
}

func TestReviewCostFollowsTheObjectsNotOnlyTheBytes(t *testing.T) {
	label := []byte(`{"metadata":{"labels":{"a":"` + strings.Repeat("x", 1<<20) + `"}}}`)
	containers := []byte(`{"spec":{"containers":[` + strings.Repeat(`{"name":"c0001"},`, (1<<20)/17) + `]}}`)
	if reviewCost(containers) < 4*reviewCost(label) {
		t.Errorf("1 MiB of containers costs %d, 1 MiB of one label %d: want the containers charged for the structs they decode into", reviewCost(containers), reviewCost(label))
	}
	if got := reviewCost(label); got < 10<<20 {
		t.Errorf("1 MiB of label costs %d, want at least 10 MiB: the body, its copies and the decoded strings", got)
	}
}

func TestMadeUpKindsReachNeitherLabelsNorLogsWhole(t *testing.T) {
	d := newServingDir(t)
	d.issue()
	r := startServer(t, d, 0)
	kinds := map[string]string{
		"long":    strings.Repeat("K", 1<<20),
		"control": "Kind\n{evil=\"1\"}",
		"short":   "Made",
	}
	for _, kind := range kinds {
		body := request{op: admissionv1.Create, resource: "replicasets", object: `{apiVersion: apps/v1, kind: ReplicaSet, metadata: {name: web, namespace: shop}}`,
			kind: &metav1.GroupVersionKind{Group: "example.com", Version: "v1", Kind: kind}}.body(t)
		resp, err := r.client.Post(r.url(PathValidateEnforce), "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("answer %d, want 200 allowed", resp.StatusCode)
		}
	}
	_, metrics := r.probe(t, "/metrics")
	for _, want := range []string{
		`gracekeeper_unhandled_requests_total{kind="other"} 2`,
		`gracekeeper_unhandled_requests_total{kind="example.com/v1 Made"} 1`,
	} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if len(metrics) > 64<<10 {
		t.Errorf("/metrics is %d bytes after three made-up kinds", len(metrics))
	}
	warned := 0
	for line := range strings.SplitSeq(r.logs.String(), "\n") {
		if len(line) > 16<<10 {
			t.Errorf("a log line of %d bytes: %.200s", len(line), line)
		}
		if strings.Contains(line, "does not judge") {
			warned++
		}
	}
	if warned != 3 {
		t.Errorf("%d warnings of unhandled requests, want 3", warned)
	}
}

func TestLogFieldsAreBounded(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(boundFields(slog.NewJSONHandler(&buf, nil)))
	long := strings.Repeat("é", maxLogFieldBytes)
	logger.With("kept", "short").Info("event", "string", long, "err", errors.New(long),
		"operation", admissionv1.Operation(long), "patch", patchLog{{Op: "add", Path: "/" + long}},
		slog.Group("group", "inner", long))
	line := buf.String()
	if n := len(line); n > 6*maxLogFieldBytes {
		t.Errorf("log line is %d bytes, want each of its 5 long fields cut to %d", n, maxLogFieldBytes)
	}
	if got := strings.Count(line, "more bytes]"); got != 5 {
		t.Errorf("%d fields say they were cut, want 5:\n%.300s", got, line)
	}
	if !json.Valid([]byte(line)) || !strings.Contains(line, `"kept":"short"`) {
		t.Errorf("log line is not valid JSON with the short field kept:\n%.300s", line)
	}
}

func TestFindingsLogTheirFullPatchAtDebugLevel(t *testing.T) {
	fx := newDebugFixture(t)
	fx.review(t, PathMutateEnforce, request{op: admissionv1.Create, resource: "pods", object: podYAML})
	var findings []map[string]any
	for _, line := range fx.logLines(t) {
		if line["msg"] == "finding" {
			findings = append(findings, line)
		}
	}
	if len(findings) != 2 {
		t.Fatalf("%d finding lines at debug level, want 2 (prestop-hook, termination-grace-period):\n%s", len(findings), fx.logs.String())
	}
	f := findings[0]
	patch, _ := json.Marshal(f["patch"])
	if f["level"] != "DEBUG" || f["rule"] != "prestop-hook" || f["action"] != "patch" || f["uid"] != "uid-create-pods" ||
		!strings.Contains(string(patch), `{"op":"add","path":"/spec/containers/0/lifecycle","value":{"preStop":{"sleep":{"seconds":5}}}}`) ||
		!strings.Contains(fmt.Sprint(f["message"]), `container "app"`) {
		t.Errorf("debug finding line = %v, want the prestop-hook finding with its message and full patch", f)
	}
}

func TestTheDefaultBudgetFollowsTheMemoryLimit(t *testing.T) {
	tests := map[int64]int64{
		0:         DefaultMaxInFlightBytes,
		192 << 20: 96 << 20,
		16 << 20:  8 << 20,
		8 << 20:   maxBodyBytes,
	}
	for limit, want := range tests {
		if got := MaxInFlightBytesFor(limit); got != want {
			t.Errorf("MaxInFlightBytesFor(%d) = %d, want %d", limit, got, want)
		}
	}
}

func TestMutualTLSServesOnlyCallersWithAClientCertificateFromTheCA(t *testing.T) {
	d := newServingDir(t)
	d.issue()
	caFile := filepath.Join(t.TempDir(), "client-ca.crt")
	clientCA, err := certs.GenerateCA("API server client CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(caFile, clientCA.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	clientCAs, err := certs.NewClientCAs(caFile, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	r := startServer(t, d, 0, func(c *Config) { c.ClientCAs = clientCAs })
	r.mustBeReady(t)
	otherCA, err := certs.GenerateCA("another CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair := func(ca *certs.CA) []tls.Certificate {
		certPEM, keyPEM, err := ca.IssueClient("kube-apiserver", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return []tls.Certificate{cert}
	}
	body := request{op: admissionv1.Create, resource: "pods", object: podYAML}.body(t)
	tests := map[string]struct {
		certificates []tls.Certificate
		wantServed   bool
	}{
		"A caller with a certificate from the client CA is served": {pair(clientCA), true},
		"A caller without a certificate is refused":                {nil, false},
		"A caller with a certificate from another CA is refused":   {pair(otherCA), false},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			config := r.client.Transport.(*http.Transport).TLSClientConfig.Clone()
			config.Certificates = tt.certificates
			client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: config}}
			defer client.CloseIdleConnections()
			resp, err := client.Post(r.url(PathMutateEnforce), "application/json", bytes.NewReader(body))
			if err == nil {
				resp.Body.Close()
			}
			if served := err == nil && resp.StatusCode == http.StatusOK; served != tt.wantServed {
				t.Errorf("served = %v (err %v), want %v", served, err, tt.wantServed)
			}
		})
	}
	// A client CA that fails to reload is alerted on like the serving pair.
	if _, metrics := r.probe(t, "/metrics"); !strings.Contains(metrics, "\ngracekeeper_client_ca_reload_failures_total 0\n") {
		t.Error("/metrics lacks gracekeeper_client_ca_reload_failures_total 0")
	}
}

// The API server says its timeout (at most 30s) in the URL; a caller that
// asks for more must not hold a place in the budget's queue for good.
func TestAReviewWaitsAtMostTheAPIServersLongestTimeout(t *testing.T) {
	tests := map[string]time.Duration{
		"/validate/enforce?timeout=10s":   10 * time.Second,
		"/validate/enforce?timeout=30s":   30 * time.Second,
		"/validate/enforce?timeout=1h":    maxReviewWait,
		"/validate/enforce?timeout=1000h": maxReviewWait,
		"/validate/enforce":               defaultReviewWait,
		"/validate/enforce?timeout=-5s":   defaultReviewWait,
		"/validate/enforce?timeout=soon":  defaultReviewWait,
	}
	for path, want := range tests {
		u, err := url.Parse(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := reviewWait(u); got != want {
			t.Errorf("%s waits at most %s, want %s", path, got, want)
		}
	}
}

// Headers are read before a review takes room in the budget, so each
// connection could hold up to net/http's default of 1 MiB of them outside it
// (200 connections held 260 MiB). Neither port needs more than a few KiB.
func TestHeadersLargerThanAnyCallerSendsAreRefused(t *testing.T) {
	d := newServingDir(t)
	d.issue()
	r := startServer(t, d, 0)
	body := request{op: admissionv1.Create, resource: "pods", object: podYAML}.body(t)
	webhook := func(pad string) (*http.Request, *http.Client) {
		req, err := http.NewRequest(http.MethodPost, r.url(PathMutateEnforce), bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Pad", pad)
		return req, r.client
	}
	probe := func(pad string) (*http.Request, *http.Client) {
		req, err := http.NewRequest(http.MethodGet, "http://"+r.ProbeAddr().String()+"/metrics", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Pad", pad)
		return req, http.DefaultClient
	}
	for name, send := range map[string]func(string) (*http.Request, *http.Client){"webhook": webhook, "probe": probe} {
		for _, tt := range []struct {
			pad  int
			want int
		}{{pad: 8 << 10, want: http.StatusOK}, {pad: 256 << 10, want: http.StatusRequestHeaderFieldsTooLarge}} {
			req, client := send(strings.Repeat("p", tt.pad))
			resp, err := client.Do(req)
			if err != nil {
				t.Errorf("%s with %d bytes of headers: %v", name, tt.pad, err)
				continue
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("%s with %d bytes of headers = %d, want %d", name, tt.pad, resp.StatusCode, tt.want)
			}
		}
	}
}

// An answer that quotes a caller's text quotes it bounded: quoted whole, a
// 6 MiB apiVersion of DEL bytes made a 24 MiB answer, and 32 such reviews
// took the server past its memory limit with the budget holding two.
func TestAnswersDoNotQuoteCallerTextWhole(t *testing.T) {
	fx := newFixture(t, "")
	long := strings.Repeat("n", 1<<20)
	tests := map[string]struct {
		path string
		body []byte
		code int
	}{
		"An apiVersion of control characters": {
			path: PathValidateEnforce,
			body: []byte(`{"apiVersion":"` + strings.Repeat("\x7f", 1<<20) + `","kind":"AdmissionReview"}`),
			code: http.StatusBadRequest,
		},
		"A kind that is not AdmissionReview": {
			path: PathValidateEnforce,
			body: []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"` + long + `"}`),
			code: http.StatusBadRequest,
		},
		"The name of a pod that does not decode": {
			path: PathMutateEnforce,
			body: request{op: admissionv1.Create, resource: "pods",
				object: `{apiVersion: v1, kind: Pod, metadata: {name: ` + long + `, namespace: shop}, spec: {containers: oops}}`}.body(t),
			code: http.StatusInternalServerError,
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			rec := fx.post(tt.path, tt.body)
			if rec.Code != tt.code {
				t.Errorf("answer %d %.300s, want %d", rec.Code, rec.Body.String(), tt.code)
			}
			// Two quoted fields of 4 KiB, 4 bytes a character at worst.
			if rec.Body.Len() > 40<<10 {
				t.Errorf("answer of %d bytes to a %d-byte review: %.200s", rec.Body.Len(), len(tt.body), rec.Body.String())
			}
		})
	}
}

// Findings are per container, and a Pod may hold as many containers as fit
// in the API server's 3 MiB: any user who can create pods in an enforced
// namespace sent one of 100,000 containers and got 200,000 log lines (69 MB).
// A review logs one line at info level, and its findings at debug level up
// to a bound; the metric still counts every finding.
func TestTheLogOfOneReviewIsBounded(t *testing.T) {
	var containers strings.Builder
	const n = 3 * maxFindingLines
	for i := range n {
		fmt.Fprintf(&containers, "{name: c%d, image: app}, ", i)
	}
	many := request{op: admissionv1.Create, resource: "pods",
		object: `{apiVersion: v1, kind: Pod, metadata: {name: many, namespace: shop}, spec: {containers: [` + containers.String() + `]}}`}
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		t.Run(level.String(), func(t *testing.T) {
			fx := newFixture(t, "")
			if level == slog.LevelDebug {
				fx = newDebugFixture(t)
			}
			fx.review(t, PathMutateEnforce, many)
			reviews, findings, summaries := 0, 0, 0
			for _, line := range fx.logLines(t) {
				switch line["msg"] {
				case "review":
					reviews++
				case "finding":
					findings++
				case "more findings than logged for one review":
					summaries++
					if left, _ := line["notLogged"].(float64); int(left) < n-maxFindingLines {
						t.Errorf("the summary says %v findings were not logged, want at least %d", line["notLogged"], n-maxFindingLines)
					}
				}
			}
			wantFindings, wantSummaries := 0, 0
			if level == slog.LevelDebug {
				wantFindings, wantSummaries = maxFindingLines, 1
			}
			if reviews != 1 || findings != wantFindings || summaries != wantSummaries {
				t.Errorf("%d review lines, %d finding lines and %d summaries, want 1, %d and %d", reviews, findings, summaries, wantFindings, wantSummaries)
			}
			if got := fx.counter(t, "gracekeeper_findings_total", "rule", "prestop-hook"); got != n {
				t.Errorf("gracekeeper_findings_total{rule=prestop-hook} = %v, want %d: every finding is counted", got, n)
			}
		})
	}
}

// TestSlowBodiesDoNotHoldBackReviews: without mutual TLS (the default) any
// pod can reach the port. Connections that claim the largest body and
// trickle it hold room only until bodyReadTimeout, and only in the read room,
// so every ordinary review is still answered. The budget is the chart's
// default (GOMEMLIMIT three quarters of 256Mi).
func TestSlowBodiesDoNotHoldBackReviews(t *testing.T) {
	d := newServingDir(t)
	d.issue()
	r := startServer(t, d, 0, func(c *Config) { c.MaxInFlightBytes = MaxInFlightBytesFor(192 << 20) })
	tlsConfig := r.client.Transport.(*http.Transport).TLSClientConfig
	for range 3 {
		conn, err := tls.Dial("tcp", r.Addr().String(), tlsConfig)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: gracekeeper\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{\"apiVersion\":", PathMutateEnforce, maxBodyBytes)
		go func() { // a byte every 100ms, until the server cuts it off
			for {
				time.Sleep(100 * time.Millisecond)
				if _, err := conn.Write([]byte(" ")); err != nil {
					return
				}
			}
		}()
	}
	body := request{op: admissionv1.Create, resource: "pods", object: podYAML}.body(t)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for range 4 {
		wg.Go(func() {
			for range 25 {
				if _, err := r.postReview(body); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("an ordinary review failed beside 3 slow bodies: %v", err)
	}
}

func TestRefusedHandshakesAreLoggedAtABoundedRate(t *testing.T) {
	d := newServingDir(t)
	d.issue()
	r := startServer(t, d, 0)
	// A caller that trusts no CA of ours: every handshake is refused.
	started := time.Now()
	for range 200 {
		conn, err := tls.Dial("tcp", r.Addr().String(), &tls.Config{RootCAs: x509.NewCertPool()})
		if err == nil {
			conn.Close()
		}
	}
	// The server logs a refused handshake once the client has gone.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && !strings.Contains(r.logs.String(), "TLS handshake error") {
		time.Sleep(10 * time.Millisecond)
	}
	lines := strings.Count(r.logs.String(), "TLS handshake error")
	// The burst, and one a second since.
	if most := serverErrorBurst + serverErrorsPerSecond*int(time.Since(started).Seconds()+1); lines == 0 || lines > most {
		t.Errorf("%d log lines for 200 refused handshakes, want between 1 and %d", lines, most)
	}
}

func TestServerErrorLogSaysHowManyLinesItLeftOut(t *testing.T) {
	var buf bytes.Buffer
	l := newServerErrorLog(slog.New(slog.NewJSONHandler(&buf, nil)))
	for range serverErrorBurst + 5 {
		l.Print("http: TLS handshake error from 10.0.0.1:1234: EOF")
	}
	time.Sleep(time.Second + 100*time.Millisecond) // one more token
	l.Print("http: TLS handshake error from 10.0.0.1:1234: EOF")
	if got := strings.Count(buf.String(), "\n"); got != serverErrorBurst+1 {
		t.Errorf("%d lines logged, want the burst of %d and one more", got, serverErrorBurst)
	}
	if !strings.Contains(buf.String(), `"notLogged":5`) {
		t.Errorf("the last line does not say 5 were left out:\n%s", buf.String())
	}
}
