package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"runtime/debug"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gracekeeper/gracekeeper/policies"
	"github.com/gracekeeper/gracekeeper/webhook/admission"
)

// newWebhookHandler serves every webhook path, with panics recovered.
func newWebhookHandler(engine *policies.Engine, parents admission.Parents, m *metrics, logger *slog.Logger) http.Handler {
	return recoverPanics(logger, m, newWebhookMux(engine, parents, m, logger))
}

// newWebhookMux routes each path of the entry table to its reviewer. Only POST is routed, so
// any other method gets a 405.
func newWebhookMux(engine *policies.Engine, parents admission.Parents, m *metrics, logger *slog.Logger) *http.ServeMux {
	mux := http.NewServeMux()
	for _, p := range admission.Paths() {
		mux.Handle("POST "+p.Path, reviewHandler{
			reviewer: admission.NewReviewer(p, engine, parents, logger),
			metrics:  m, logger: logger,
		})
	}
	return mux
}

// reviewHandler is the HTTP side of one webhook path: it reads the body,
// decodes the AdmissionReview and its objects once (Reviewer.Decode), hands
// its request to the path's reviewer, measures, counts and logs the answer
// (see serve) and writes it.
type reviewHandler struct {
	reviewer *admission.Reviewer
	metrics  *metrics
	logger   *slog.Logger
}

func (h reviewHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	contentType := r.Header.Get("Content-Type")
	if mediaType, _, err := mime.ParseMediaType(contentType); err != nil || mediaType != "application/json" {
		http.Error(w, fmt.Sprintf("Content-Type %q is not supported: send an AdmissionReview as application/json", contentType), http.StatusBadRequest)
		return
	}
	// The budget reads the body before it charges a review's cost; without
	// it (handler tests) the body is read here.
	body, read := bodyOf(r.Context())
	if !read && r.ContentLength > maxBodyBytes {
		h.answerOversized(w, r)
		return
	}
	if !read {
		var err error
		if body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes)); err != nil {
			if tooLarge := (*http.MaxBytesError)(nil); errors.As(err, &tooLarge) {
				answerTooLarge(w)
				return
			}
			http.Error(w, "read request body: "+err.Error(), http.StatusBadRequest)
			return
		}
	}
	review, err := h.reviewer.Decode(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	answer := h.serve(r.Context(), review.Request)
	status := http.StatusOK
	if answer.Err != nil {
		// An internal error: the API server applies the failurePolicy.
		status = http.StatusInternalServerError
	}
	writeReview(w, status, review.TypeMeta, answer.Response)
}

// writeReview writes resp in an AdmissionReview of typeMeta.
func writeReview(w http.ResponseWriter, status int, typeMeta metav1.TypeMeta, resp *admissionv1.AdmissionResponse) {
	data, err := json.Marshal(admissionv1.AdmissionReview{TypeMeta: typeMeta, Response: resp})
	if err != nil {
		http.Error(w, "encode the AdmissionReview response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(data) // the API server has gone: nobody to tell
}

// answerTooLarge answers a body over maxBodyBytes.
func answerTooLarge(w http.ResponseWriter) {
	http.Error(w, fmt.Sprintf("request body is larger than the %d bytes an AdmissionReview may have", maxBodyBytes), http.StatusRequestEntityTooLarge)
}

// recoverPanics answers a panic with a 500, and logs and counts it, rather
// than let net/http drop the connection with nothing said.
func recoverPanics(logger *slog.Logger, m *metrics, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler {
				panic(p) // net/http's own way to abort a response
			}
			m.internalErrors.Inc()
			logger.ErrorContext(r.Context(), "recovered from a panic while handling a request",
				"path", r.URL.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			http.Error(w, "internal error: gracekeeper could not answer this request", http.StatusInternalServerError)
		}()
		next.ServeHTTP(w, r)
	})
}
