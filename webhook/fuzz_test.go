package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/gracekeeper/gracekeeper/policies"
	"github.com/gracekeeper/gracekeeper/policies/policytest"
)

var fuzzPaths = []string{PathMutateEnforce, PathMutateAudit, PathValidateEnforce, PathValidateAudit, PathValidateNamespaces}

// FuzzReview sends arbitrary bodies to every webhook path, without the panic
// recovery, so a panic fails the fuzz. Whatever the body, the answer is a 200
// AdmissionReview for the request's uid, a 4xx for a bad request, or a 500
// AdmissionReview for an object gracekeeper cannot read.
func FuzzReview(f *testing.F) {
	seeds := []request{
		{op: admissionv1.Create, resource: "pods", object: podYAML},
		{op: admissionv1.Create, resource: "deployments", object: riskyDeploymentYAML},
		{op: admissionv1.Update, resource: "deployments", object: fmt.Sprintf(deploymentYAML, "", recreateStrategy), oldObject: fmt.Sprintf(deploymentYAML, "", rollingStrategy)},
		{op: admissionv1.Update, resource: "deployments/scale", object: fmt.Sprintf(scaleYAML, 0), oldObject: fmt.Sprintf(scaleYAML, 3)},
		{op: admissionv1.Update, resource: "statefulsets", object: fmt.Sprintf(statefulSetYAML, 0, "OnDelete"), oldObject: fmt.Sprintf(statefulSetYAML, 2, "RollingUpdate")},
		{op: admissionv1.Delete, resource: "daemonsets", oldObject: daemonSetYAML, options: backgroundDelete},
		{op: admissionv1.Delete, resource: "pods", oldObject: runningPodYAML, options: forceDelete},
		{op: admissionv1.Create, resource: "namespaces", object: fmt.Sprintf(namespaceYAML, "enforec")},
	}
	for i, r := range seeds {
		for path := range fuzzPaths {
			f.Add(uint8(path), r.body(f))
		}
		f.Add(uint8(i), bytes.ReplaceAll(r.body(f), []byte(`"spec"`), []byte(`"spec":null,"x"`)))
	}
	// Container-heavy reviews, at the bound and past it.
	for _, kind := range []string{"Pod", "Deployment"} {
		for _, n := range []int{policies.MaxContainers, policies.MaxContainers + 1} {
			body, err := policytest.ContainerHeavyReview(kind, n)
			if err != nil {
				f.Fatal(err)
			}
			for path := range fuzzPaths {
				f.Add(uint8(path), body)
			}
		}
	}
	for _, body := range []string{
		"", "null", "[]", "{}", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`,
		`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1"}}`,
		`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","kind":{"group":"apps","version":"v1","kind":"Deployment"},"resource":{"group":"apps","version":"v1","resource":"deployments"},"operation":"DELETE","options":"x"}}`,
		`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","kind":{"version":"v1","kind":"Pod"},"resource":{"version":"v1","resource":"pods"},"operation":"CREATE","object":{"kind":"Pod","spec":{"containers":[{}]}}}}`,
	} {
		f.Add(uint8(0), []byte(body))
	}

	fx := newFixture(f, "")
	mux := newWebhookMux(fx.engine, parentReader{}, fx.metrics, slog.New(slog.DiscardHandler))
	f.Fuzz(func(t *testing.T, path uint8, body []byte) {
		p := fuzzPaths[int(path)%len(fuzzPaths)]
		req := httptest.NewRequest(http.MethodPost, p, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)

		switch rec.Code {
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			if strings.TrimSpace(rec.Body.String()) == "" {
				t.Errorf("%d without a message", rec.Code)
			}
			return
		case http.StatusOK, http.StatusInternalServerError:
		default:
			t.Fatalf("POST %s = %d %q, want 200, 400, 413 or 500", p, rec.Code, rec.Body.String())
		}
		var sent, answer admissionv1.AdmissionReview
		if err := json.Unmarshal(body, &sent); err != nil || sent.Request == nil {
			t.Fatalf("a body the server accepted does not decode: %v", err)
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil || answer.Response == nil {
			t.Fatalf("answer %d is not an AdmissionReview with a response: %v: %s", rec.Code, err, rec.Body.String())
		}
		resp := answer.Response
		if resp.UID != sent.Request.UID {
			t.Errorf("response uid %q, want %q", resp.UID, sent.Request.UID)
		}
		if rec.Code == http.StatusInternalServerError {
			return
		}
		if !resp.Allowed && (resp.Result == nil || resp.Result.Code != http.StatusBadRequest || resp.Result.Message == "") {
			t.Errorf("a denial without a 400 status and message: %+v", resp.Result)
		}
		if resp.Patch != nil {
			if _, err := jsonpatch.DecodePatch(resp.Patch); err != nil {
				t.Errorf("patch %s is not a JSON Patch: %v", resp.Patch, err)
			}
		}
		for _, w := range resp.Warnings {
			if len(w) > 256 || strings.ContainsFunc(w, unicode.IsControl) {
				t.Errorf("warning the API server would truncate or drop: %q", w)
			}
		}
	})
}
