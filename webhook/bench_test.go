package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/gracekeeper/gracekeeper/policies"
	"github.com/gracekeeper/gracekeeper/policies/api/v1alpha1"
	"github.com/gracekeeper/gracekeeper/policies/policytest"
)

// The benchmarks send each review through the whole HTTP handler, as the
// server runs it (decoding and checks, the engine, metrics and JSON logs),
// JSON in and JSON out. Each has a floor beside it: the same review through
// policies/policytest.Minimal, which only decodes the review and its objects with
// sigs.k8s.io/json and encodes an answer carrying gracekeeper's own patch.
// `make bench` runs them and reports the ratios.

// benchCase is one review, the path the API server sends it to, and what
// gracekeeper's answer must say (in its patch, warnings or message), so that
// no benchmark measures a failure.
type benchCase struct {
	name, path string
	body       []byte
	says       string
}

func BenchmarkReview(b *testing.B) {
	reviews, err := policytest.NewReviews()
	if err != nil {
		b.Fatal(err)
	}
	cases := []benchCase{
		// Pods are only sent to the mutating webhook on CREATE.
		{"pod-create", PathMutateEnforce, reviews.PodCreate, `"path":"/spec/containers/1/lifecycle"`},
		// A person's write of a Deployment goes through both webhooks.
		{"deployment-update-mutate", PathMutateEnforce, reviews.DeploymentUpdate, `[]`},
		{"deployment-update-validate", PathValidateEnforce, reviews.DeploymentUpdate, `will add preStop`},
		{"scale-update", PathValidateEnforce, reviews.ScaleUpdate, ``},
		{"pod-delete", PathValidateEnforce, reviews.PodDelete, `kubectl rollout restart deployment/web`},
	}
	handler := benchHandler(b)
	for _, c := range cases {
		floor := floorFor(b, handler, c.path, c.body)
		b.Run(c.name+"/gracekeeper", func(b *testing.B) { benchServe(b, handler, c.path, c.body, c.says) })
		b.Run(c.name+"/floor", func(b *testing.B) { benchServe(b, floor, c.path, c.body, "") })
	}
}

// BenchmarkReviewPodContainers is the growth curve: a pod with more
// containers costs more, and the cost per container must stay flat.
func BenchmarkReviewPodContainers(b *testing.B) {
	handler := benchHandler(b)
	for _, n := range []int{1, 10, 50} {
		body, err := policytest.PodCreateReview(n)
		if err != nil {
			b.Fatal(err)
		}
		// Every container gets its hook, the last one too.
		lastHook := fmt.Sprintf(`"path":"/spec/containers/%d/lifecycle"`, n-1)
		b.Run(fmt.Sprintf("containers=%d/gracekeeper", n), func(b *testing.B) { benchServe(b, handler, PathMutateEnforce, body, lastHook) })
		floor := floorFor(b, handler, PathMutateEnforce, body)
		b.Run(fmt.Sprintf("containers=%d/floor", n), func(b *testing.B) { benchServe(b, floor, PathMutateEnforce, body, "") })
	}
}

// benchHandler is the server's handler with the default configuration and
// the JSON logs of `gracekeeper serve`, written nowhere.
func benchHandler(b *testing.B) http.Handler {
	b.Helper()
	cfg, err := v1alpha1.Load("")
	if err != nil {
		b.Fatal(err)
	}
	engine, err := policies.New(cfg, testServerVersion)
	if err != nil {
		b.Fatal(err)
	}
	m, err := newMetrics(prometheus.NewRegistry(), nil)
	if err != nil {
		b.Fatal(err)
	}
	return newWebhookHandler(engine, parentReader{}, m, slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo})))
}

// floorFor is the decode-and-encode floor of a review: policies/policytest.Minimal
// answering the patch gracekeeper answers, so that both encode the same
// (Minimal answers "[]" to other kinds than Pod, as gracekeeper does here).
func floorFor(b *testing.B, handler http.Handler, path string, body []byte) http.Handler {
	b.Helper()
	var answer admissionv1.AdmissionReview
	rec := serve(handler, path, body)
	if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil || answer.Response == nil {
		b.Fatalf("POST %s = %d %s, want an AdmissionReview", path, rec.Code, rec.Body)
	}
	return policytest.Minimal(answer.Response.Patch)
}

// benchServe checks that the handler allows the review and says what it
// should, then measures it.
func benchServe(b *testing.B, h http.Handler, path string, body []byte, says string) {
	rec := serve(h, path, body)
	var answer admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil || rec.Code != http.StatusOK || answer.Response == nil {
		b.Fatalf("POST %s = %d %s, want 200 with an AdmissionReview", path, rec.Code, rec.Body)
	}
	said := fmt.Sprintf("%s %q", answer.Response.Patch, answer.Response.Warnings)
	if !answer.Response.Allowed || !strings.Contains(said, says) {
		b.Fatalf("POST %s answered %s, want it allowed, saying %s", path, said, says)
	}
	b.ReportAllocs()
	stop := policytest.MeasureCPU(b)
	for b.Loop() {
		serve(h, path, body)
	}
	stop()
}

func serve(h http.Handler, path string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}
