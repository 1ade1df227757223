package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/gracekeeper/gracekeeper/policies/policytest"
)

// boundedWebhook answers Pod CREATEs as gracekeeper's enforce mutating
// webhook does around its bound: a patch for a pod of at most bound
// containers, none (and a warning) for a larger one. It counts the reviews.
func boundedWebhook(t *testing.T, bound int, reviews *int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*reviews++
		var review admissionv1.AdmissionReview
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
			t.Errorf("not a review: %v", err)
			http.Error(w, "not a review", http.StatusBadRequest)
			return
		}
		var pod struct {
			Spec struct{ Containers []json.RawMessage }
		}
		if err := json.Unmarshal(review.Request.Object.Raw, &pod); err != nil {
			t.Errorf("not a pod: %v", err)
		}
		resp := &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
		if len(pod.Spec.Containers) <= bound {
			resp.Patch = []byte(`[{"op":"add","path":"/spec/containers/0/lifecycle","value":{}}]`)
		} else {
			resp.Warnings = []string{"more than the bound"}
		}
		review.Request, review.Response = nil, resp
		_ = json.NewEncoder(w).Encode(review)
	})
}

func TestJudgedContainersFindsTheLargestPodThatIsPatched(t *testing.T) {
	for _, bound := range []int{1, 2, 700, 1000, 1024, 1025} {
		reviews := 0
		srv := httptest.NewTLSServer(boundedWebhook(t, bound, &reviews))
		got, err := judgedContainers(context.Background(), srv.Client(), srv.URL)
		srv.Close()
		if err != nil || got != bound {
			t.Errorf("bound %d: judgedContainers = %d, %v", bound, got, err)
		}
		if reviews > 2*12 {
			t.Errorf("bound %d: %d reviews, want no more than a doubling and a bisection", bound, reviews)
		}
	}
}

func TestJudgedContainersSaysWhenNothingIsJudged(t *testing.T) {
	reviews := 0
	srv := httptest.NewTLSServer(boundedWebhook(t, 0, &reviews))
	defer srv.Close()
	if got, err := judgedContainers(context.Background(), srv.Client(), srv.URL); err == nil || !strings.Contains(err.Error(), "not even of one") {
		t.Errorf("judgedContainers = %d, %v; want an error saying no pod is patched", got, err)
	}
}

func TestJudgedContainersSaysAServerErrorAndTheCount(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	if _, err := judgedContainers(context.Background(), srv.Client(), srv.URL); err == nil || !strings.Contains(err.Error(), "a Pod of 1 containers: 503") {
		t.Errorf("err = %v, want the count and the status", err)
	}
}

func TestGrowthCasesStayWithinTheLargestPod(t *testing.T) {
	if got, want := growthCases(1000)[0].counts, []int{1, 10, 100, 1000, 1001, 16_000, policytest.LargestPodContainers}; !slices.Equal(got, want) {
		t.Errorf("Pod counts for a bound of 1000 = %v, want %v", got, want)
	}
	// A server that judges every Pod the API server accepts: no count past it, none twice.
	if got, want := growthCases(policytest.LargestPodContainers)[1].counts, []int{1, 100, 16_000, policytest.LargestPodContainers}; !slices.Equal(got, want) {
		t.Errorf("Deployment counts with no bound = %v, want %v", got, want)
	}
}

func TestServedBudgetReadsTheMemoryBoundsLine(t *testing.T) {
	dir := t.TempDir()
	write := func(log string) *serverProcess {
		path := filepath.Join(dir, "server.log")
		if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
			t.Fatal(err)
		}
		return &serverProcess{log: path}
	}
	p := write(`{"level":"INFO","msg":"policy configuration loaded"}
not JSON
{"level":"INFO","msg":"memory bounds","goMemoryLimitBytes":201326592,"maxInFlightBytes":100663296,"mutualTLS":false}
`)
	if got, err := servedBudget(p); err != nil || got != 100663296 {
		t.Errorf("servedBudget = %d, %v; want 100663296", got, err)
	}
	p = write(`{"level":"INFO","msg":"memory bounds","goMemoryLimitBytes":0}` + "\n")
	if _, err := servedBudget(p); err == nil || !strings.Contains(err.Error(), "maxInFlightBytes") {
		t.Errorf("err = %v, want one naming maxInFlightBytes", err)
	}
}

func TestGracekeeperModulesReadABinarysBuildInformation(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	modules, err := gracekeeperModules(self)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(modules, func(m string) bool { return strings.HasPrefix(m, "k8s.io/api v") }) {
		t.Errorf("modules = %q, want k8s.io/api with its version", modules)
	}
	notBinary := filepath.Join(t.TempDir(), "gracekeeper")
	if err := os.WriteFile(notBinary, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := gracekeeperModules(notBinary); err == nil || !strings.Contains(err.Error(), notBinary) {
		t.Errorf("err = %v, want one naming the file", err)
	}
}
