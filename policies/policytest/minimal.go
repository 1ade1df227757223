package policytest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	sigsjson "sigs.k8s.io/json"
)

// Minimal is the floor of any Go webhook: it reads the body, decodes the
// AdmissionReview and its object (the stored one too, when there is one)
// with sigs.k8s.io/json as the API server encodes them, and encodes an
// allowed answer. It judges nothing. A mutating answer (a path under
// /mutate/) carries podPatch for a Pod and "[]" for other kinds; a
// validating answer no patch.
//
// It is the floor of the handler benchmark, with gracekeeper's exact patch,
// and, served by e2e/bench/noop --minimal-patch (e2e/bench.MinimalMux), the
// floor of webhooks through the API server, with "[]" and with
// gracekeeper's patch.
func Minimal(podPatch []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 6<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var review admissionv1.AdmissionReview
		if err := sigsjson.UnmarshalCaseSensitivePreserveInts(body, &review); err != nil || review.Request == nil {
			http.Error(w, fmt.Sprintf("not an AdmissionReview with a request: %v", err), http.StatusBadRequest)
			return
		}
		for _, raw := range [][]byte{review.Request.Object.Raw, review.Request.OldObject.Raw} {
			if obj := newObject(review.Request.Kind); obj != nil && len(raw) > 0 {
				if err := sigsjson.UnmarshalCaseSensitivePreserveInts(raw, obj); err != nil {
					http.Error(w, "decode object: "+err.Error(), http.StatusBadRequest)
					return
				}
			}
		}
		answer := &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
		if strings.HasPrefix(r.URL.Path, "/mutate/") {
			answer.Patch, answer.PatchType = []byte("[]"), ptr.To(admissionv1.PatchTypeJSONPatch)
			if review.Request.Kind.Group == "" && review.Request.Kind.Kind == "Pod" {
				answer.Patch = podPatch
			}
		}
		data, err := json.Marshal(admissionv1.AdmissionReview{TypeMeta: review.TypeMeta, Response: answer})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(data)
	})
}

// newObject is an empty object of the kinds the benchmarks send, nil for others.
func newObject(kind metav1.GroupVersionKind) runtime.Object {
	switch kind.Group + "/" + kind.Kind {
	case "/Pod":
		return &corev1.Pod{}
	case "/Namespace":
		return &corev1.Namespace{}
	case "apps/Deployment":
		return &appsv1.Deployment{}
	case "apps/StatefulSet":
		return &appsv1.StatefulSet{}
	case "apps/DaemonSet":
		return &appsv1.DaemonSet{}
	case "autoscaling/Scale":
		return &autoscalingv1.Scale{}
	}
	return nil
}
