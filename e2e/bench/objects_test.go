package bench

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/gracekeeper/gracekeeper/policies/policytest"
)

func TestEveryReviewIsAnsweredByTheFloor(t *testing.T) {
	reviews, err := policytest.NewReviews()
	if err != nil {
		t.Fatal(err)
	}
	mux, err := NoopMux()
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		path string
		body []byte
		kind string
	}{
		"A pod create is answered by the no-op mutating webhook.":        {"/mutate/enforce", reviews.PodCreate, "Pod"},
		"A Deployment update is answered by the no-op mutating webhook.": {"/mutate/enforce", reviews.DeploymentUpdate, "Deployment"},
		"A scale update is answered by the no-op validating webhook.":    {"/validate/enforce", reviews.ScaleUpdate, "Scale"},
		"A pod delete is answered by the no-op validating webhook.":      {"/validate/enforce", reviews.PodDelete, "Pod"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var sent admissionv1.AdmissionReview
			if err := json.Unmarshal(tt.body, &sent); err != nil {
				t.Fatal(err)
			}
			if sent.Request.Kind.Kind != tt.kind {
				t.Errorf("review is of kind %s, want %s", sent.Request.Kind.Kind, tt.kind)
			}
			req := httptest.NewRequest(http.MethodPost, tt.path, bytes.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, req)
			var answer admissionv1.AdmissionReview
			if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil || rec.Code != http.StatusOK {
				t.Fatalf("answer %d %q: %v", rec.Code, rec.Body, err)
			}
			if !answer.Response.Allowed || answer.Response.UID != sent.Request.UID {
				t.Errorf("answer %s, want allowed with the request's uid", rec.Body)
			}
			if answer.Response.Patch != nil && string(answer.Response.Patch) != "[]" {
				t.Errorf("the no-op webhook patched: %s", answer.Response.Patch)
			}
		})
	}
}
