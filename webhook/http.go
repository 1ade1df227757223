package webhook

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"runtime/debug"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsjson "sigs.k8s.io/json"

	"github.com/gracekeeper/gracekeeper/policies"
)

// Paths the webhook configurations call. The mode is in the path: the API
// server picks the entry by the namespace's mode label.
const (
	PathMutateEnforce      = "/mutate/enforce"
	PathMutateAudit        = "/mutate/audit"
	PathValidateEnforce    = "/validate/enforce"
	PathValidateAudit      = "/validate/audit"
	PathValidateNamespaces = "/validate/namespaces"
)

// newWebhookHandler serves every webhook path, with panics recovered.
func newWebhookHandler(engine *policies.Engine, parents parentReader, m *metrics, logger *slog.Logger) (http.Handler, error) {
	mux, err := newWebhookMux(engine, parents, m, logger)
	if err != nil {
		return nil, err
	}
	return recoverPanics(logger, m, mux), nil
}

// newWebhookMux routes each path to its reviewer. Only POST is routed, so
// any other method gets a 405.
func newWebhookMux(engine *policies.Engine, parents parentReader, m *metrics, logger *slog.Logger) (*http.ServeMux, error) {
	paths := []struct {
		path    string
		webhook policies.Webhook
		mode    policies.Mode
		route   policies.Route
	}{
		{PathMutateEnforce, policies.Mutating, policies.ModeEnforce, policies.RouteWorkloads},
		{PathMutateAudit, policies.Mutating, policies.ModeAudit, policies.RouteWorkloads},
		{PathValidateEnforce, policies.Validating, policies.ModeEnforce, policies.RouteWorkloads},
		{PathValidateAudit, policies.Validating, policies.ModeAudit, policies.RouteWorkloads},
		// Always enforce: a typo in the mode label must be denied whatever
		// mode the namespace meant to choose.
		{PathValidateNamespaces, policies.Validating, policies.ModeEnforce, policies.RouteNamespaces},
	}
	mux := http.NewServeMux()
	for _, p := range paths {
		rv := &reviewer{
			id:      strings.ReplaceAll(strings.TrimPrefix(p.path, "/"), "/", "-"),
			webhook: p.webhook, mode: p.mode, targets: targetsOf(p.route),
			engine: engine, parents: parents, metrics: m, logger: logger,
		}
		h, err := rv.handler()
		if err != nil {
			return nil, fmt.Errorf("webhook %s: %w", p.path, err)
		}
		mux.Handle("POST "+p.path, checkRequest(h))
	}
	return mux, nil
}

// checkRequest answers a request kubewebhook cannot handle with a 4xx and a
// message that says what was wrong, and passes the others on. kubewebhook's
// own answers are terser, and it panics on a review without a request.
func checkRequest(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		contentType := r.Header.Get("Content-Type")
		if mediaType, _, err := mime.ParseMediaType(contentType); err != nil || mediaType != "application/json" {
			http.Error(w, fmt.Sprintf("Content-Type %q is not supported: send an AdmissionReview as application/json", contentType), http.StatusBadRequest)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
		if err != nil {
			if tooLarge := (*http.MaxBytesError)(nil); errors.As(err, &tooLarge) {
				http.Error(w, fmt.Sprintf("request body is larger than the %d bytes an AdmissionReview may have", maxBodyBytes), http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, "read request body: "+err.Error(), http.StatusBadRequest)
			return
		}
		if err := checkReview(body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

// checkReview says what is wrong with a body that is not an
// admission.k8s.io/v1 AdmissionReview with a request to answer.
func checkReview(body []byte) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return errors.New("empty body: send an admission.k8s.io/v1 AdmissionReview")
	}
	// A well-formed review is read in one pass: JSON decoding is most of
	// what a review costs, and kubewebhook decodes the body again. Only a
	// body that does not decode is read again, to say why.
	var review admissionv1.AdmissionReview
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(body, &review); err != nil {
		if err := checkTypeMeta(body); err != nil {
			return err
		}
		return fmt.Errorf("malformed AdmissionReview: %w", err)
	}
	if err := checkKind(review.TypeMeta); err != nil {
		return err
	}
	switch {
	case review.Request == nil:
		return errors.New("AdmissionReview has no request")
	case review.Request.UID == "":
		return errors.New("AdmissionReview request has no uid, which the response must echo")
	}
	return nil
}

// checkTypeMeta says what is wrong with a body that is not JSON, or not an
// AdmissionReview.
func checkTypeMeta(body []byte) error {
	var typeMeta metav1.TypeMeta
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(body, &typeMeta); err != nil {
		return fmt.Errorf("body is not a JSON AdmissionReview: %w", err)
	}
	return checkKind(typeMeta)
}

func checkKind(typeMeta metav1.TypeMeta) error {
	if typeMeta.APIVersion != admissionv1.SchemeGroupVersion.String() || typeMeta.Kind != "AdmissionReview" {
		return fmt.Errorf("body is apiVersion %q kind %q: send an admission.k8s.io/v1 AdmissionReview", boundText(typeMeta.APIVersion), boundText(typeMeta.Kind))
	}
	return nil
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
