package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"reflect"
	"runtime/debug"
	"strings"

	"github.com/slok/kubewebhook/v2/pkg/model"
	kwhwebhook "github.com/slok/kubewebhook/v2/pkg/webhook"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
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
func newWebhookHandler(engine *policies.Engine, parents parentReader, m *metrics, logger *slog.Logger) http.Handler {
	return recoverPanics(logger, m, newWebhookMux(engine, parents, m, logger))
}

// newWebhookMux routes each path to its reviewer. Only POST is routed, so
// any other method gets a 405.
func newWebhookMux(engine *policies.Engine, parents parentReader, m *metrics, logger *slog.Logger) *http.ServeMux {
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
		mux.Handle("POST "+p.path, rv.handler())
	}
	return mux
}

// reviewHandler is the HTTP side of one webhook path: it reads the body,
// decodes the AdmissionReview once, checks it, hands it to the kubewebhook
// webhook (the reviewer, measured by kubewebhook's recorder) and writes its
// answer as kubewebhook's own handler does. That handler cannot take a
// review already decoded, and decodes case-insensitively, so it is not used.
type reviewHandler struct {
	webhook  kwhwebhook.Webhook
	reviewer *reviewer
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
		h.reviewer.answerOversized(w, r)
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
	review, err := decodeAdmissionReview(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ar := model.NewAdmissionReviewV1(review)
	status := http.StatusOK
	answer := &admissionv1.AdmissionResponse{UID: review.Request.UID}
	resp, err := h.webhook.Review(r.Context(), ar)
	switch resp := resp.(type) {
	case nil:
		// An internal error: the API server applies the failurePolicy.
		status = http.StatusInternalServerError
		answer.Result = &metav1.Status{Status: metav1.StatusFailure, Message: err.Error()}
	case *model.ValidatingAdmissionResponse:
		answer.Allowed, answer.Warnings = resp.Allowed, resp.Warnings
		if !resp.Allowed {
			answer.Result = &metav1.Status{Status: metav1.StatusFailure, Code: http.StatusBadRequest, Message: resp.Message}
		}
	case *model.MutatingAdmissionResponse:
		answer.Allowed, answer.Warnings, answer.Patch = true, resp.Warnings, resp.JSONPatchPatch
		answer.PatchType = ptr.To(admissionv1.PatchTypeJSONPatch)
	}
	if err != nil && resp != nil {
		status, answer = http.StatusInternalServerError, &admissionv1.AdmissionResponse{UID: review.Request.UID,
			Result: &metav1.Status{Status: metav1.StatusFailure, Message: err.Error()}}
	}
	data, err := json.Marshal(admissionv1.AdmissionReview{TypeMeta: review.TypeMeta, Response: answer})
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

// decodeAdmissionReview decodes a body into an admission.k8s.io/v1
// AdmissionReview, once, case-sensitively as the API server writes it, and
// says what is wrong with a body that is not one, or whose request has a
// shape the API server never sends. The objects stay raw: each path decodes
// them into the type it judges.
func decodeAdmissionReview(body []byte) (*admissionv1.AdmissionReview, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, errors.New("empty body: send an admission.k8s.io/v1 AdmissionReview")
	}
	var review admissionv1.AdmissionReview
	strict, err := sigsjson.UnmarshalStrict(body, &review, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		// Only a body that does not decode is read again, to say why.
		if err := checkTypeMeta(body); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("malformed AdmissionReview: %w", err)
	}
	if err := checkKind(review.TypeMeta); err != nil {
		return nil, err
	}
	if err := checkStrict(strict); err != nil {
		return nil, err
	}
	if err := checkRequest(review.Request); err != nil {
		return nil, err
	}
	return &review, nil
}

// checkStrict refuses a field given twice, and a field that differs only in
// case from one the review has: a case-insensitive reader (as kubewebhook's
// is) would take it for the other, so the body means two things. Other
// unknown fields are a newer API server's, and are ignored.
func checkStrict(strict []error) error {
	for _, err := range strict {
		var fieldErr sigsjson.FieldError
		if !errors.As(err, &fieldErr) || !strings.HasPrefix(err.Error(), "unknown field ") {
			return fmt.Errorf("malformed AdmissionReview: %w", err)
		}
		path := fieldErr.FieldPath()
		field := path[strings.LastIndex(path, ".")+1:]
		if known, ok := reviewFieldNames[strings.ToLower(field)]; ok && known != field {
			return fmt.Errorf("malformed AdmissionReview: field %q differs only in case from %q; JSON field names are case-sensitive", path, known)
		}
	}
	return nil
}

// reviewFieldNames maps the lower-cased JSON names of the fields an
// AdmissionReview's envelope has to their spelling.
var reviewFieldNames = func() map[string]string {
	names := map[string]string{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || t == reflect.TypeFor[runtime.RawExtension]() {
			return
		}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name != "" && name != "-" {
				names[strings.ToLower(name)] = name
			}
			walk(f.Type)
		}
	}
	walk(reflect.TypeFor[admissionv1.AdmissionReview]())
	return names
}()

// checkRequest refuses a request without what every answer needs, or of a
// shape the API server never sends: those are crafted, and allowing them by
// default would let a caller pass the guards.
func checkRequest(req *admissionv1.AdmissionRequest) error {
	switch {
	case req == nil:
		return errors.New("AdmissionReview has no request")
	case req.UID == "":
		return errors.New("AdmissionReview request has no uid, which the response must echo")
	}
	object, oldObject := !absent(req.Object.Raw), !absent(req.OldObject.Raw)
	switch req.Operation {
	case admissionv1.Create:
		if !object {
			return errors.New("AdmissionReview request is a CREATE without an object")
		}
	case admissionv1.Update:
		if !object || !oldObject {
			return errors.New("AdmissionReview request is an UPDATE without both object and oldObject")
		}
	case admissionv1.Delete:
		if !oldObject {
			return errors.New("AdmissionReview request is a DELETE without an oldObject")
		}
	case admissionv1.Connect:
	default:
		return fmt.Errorf("AdmissionReview request has operation %q: want CREATE, UPDATE, DELETE or CONNECT", req.Operation)
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
