package bench

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
)

func TestTheTypicalPodIsAboutFiveKilobytes(t *testing.T) {
	var review admissionv1.AdmissionReview
	body, err := PodCreateReview(TypicalContainers)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(body, &review); err != nil {
		t.Fatal(err)
	}
	if n := len(review.Request.Object.Raw); n < 4000 || n > 6500 {
		t.Errorf("the typical pod is %d bytes of JSON, want about 5 KB", n)
	}
	var pod corev1.Pod
	if err := json.Unmarshal(review.Request.Object.Raw, &pod); err != nil {
		t.Fatal(err)
	}
	for _, c := range pod.Spec.Containers {
		if c.Lifecycle != nil || c.ReadinessProbe == nil || len(c.Env) == 0 || len(c.VolumeMounts) == 0 {
			t.Errorf("container %s: want probes, env and mounts and no preStop hook", c.Name)
		}
	}
}

func TestEveryReviewIsAnsweredByTheFloor(t *testing.T) {
	reviews, err := NewReviews()
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
