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

func TestMinimalDecodesTheReviewAndAnswersWithoutJudging(t *testing.T) {
	reviews, err := policytest.NewReviews()
	if err != nil {
		t.Fatal(err)
	}
	patch := []byte(`[{"op":"add","path":"/spec/terminationGracePeriodSeconds","value":30}]`)
	mux := MinimalMux(patch)
	tests := []struct {
		name, path string
		body       []byte
		wantCode   int
		wantPatch  string
	}{
		{"The patch path answers the patch it was given.", "/mutate/patch", reviews.PodCreate, http.StatusOK, string(patch)},
		{"The empty path answers an empty patch.", "/mutate/empty", reviews.PodCreate, http.StatusOK, "[]"},
		{"The patch path answers an empty patch to other kinds.", "/mutate/patch", reviews.DeploymentUpdate, http.StatusOK, "[]"},
		{"The validating path answers no patch, for an UPDATE with both objects.", "/validate", reviews.DeploymentUpdate, http.StatusOK, ""},
		{"A body that is no review is refused.", "/validate", []byte("{"), http.StatusBadRequest, ""},
		{"An object that does not decode is refused.", "/mutate/empty",
			bytes.Replace(reviews.PodCreate, []byte(`"containers":[`), []byte(`"containers":7,"x":[`), 1), http.StatusBadRequest, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, tc.path, bytes.NewReader(tc.body)))
			if rec.Code != tc.wantCode {
				t.Fatalf("POST %s = %d %s, want %d", tc.path, rec.Code, rec.Body, tc.wantCode)
			}
			if tc.wantCode != http.StatusOK {
				return
			}
			var answer admissionv1.AdmissionReview
			if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil || answer.Response == nil || !answer.Response.Allowed || answer.Response.UID == "" {
				t.Fatalf("answer %s is not an allowed review echoing the uid: %v", rec.Body, err)
			}
			if string(answer.Response.Patch) != tc.wantPatch {
				t.Errorf("patch = %s, want %s", answer.Response.Patch, tc.wantPatch)
			}
		})
	}
}
