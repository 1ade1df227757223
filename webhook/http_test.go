package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gracekeeper/gracekeeper/policies"
)

func TestBadRequestsGetAClearAnswer(t *testing.T) {
	valid := request{op: admissionv1.Create, resource: "pods", object: podYAML}.body(t)
	tests := map[string]struct {
		method, path, contentType string
		body                      []byte
		wantCode                  int
		wantBody                  string
	}{
		"A body that is not JSON gets a 400 saying so": {
			body: []byte("{not json"), wantCode: http.StatusBadRequest, wantBody: "body is not a JSON AdmissionReview",
		},
		"An empty body gets a 400 saying so": {
			body: nil, wantCode: http.StatusBadRequest, wantBody: "empty body",
		},
		"A review with no request gets a 400 saying so": {
			body: []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`), wantCode: http.StatusBadRequest, wantBody: "AdmissionReview has no request",
		},
		"A review with no uid gets a 400 saying so": {
			body: []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"operation":"CREATE"}}`), wantCode: http.StatusBadRequest, wantBody: "no uid",
		},
		"A v1beta1 review gets a 400 naming the version to send": {
			body:     bytes.Replace(valid, []byte(`"admission.k8s.io/v1"`), []byte(`"admission.k8s.io/v1beta1"`), 1),
			wantCode: http.StatusBadRequest, wantBody: `body is apiVersion "admission.k8s.io/v1beta1" kind "AdmissionReview": send an admission.k8s.io/v1 AdmissionReview`,
		},
		"A review whose request has the wrong JSON types gets a 400": {
			body: []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","operation":7}}`), wantCode: http.StatusBadRequest, wantBody: "malformed AdmissionReview",
		},
		"A body with both apiVersion and APIVERSION gets a 400: a case-insensitive reader would take it for another version": {
			body:     bytes.Replace(valid, []byte(`"apiVersion":"admission.k8s.io/v1"`), []byte(`"apiVersion":"admission.k8s.io/v1","APIVERSION":"admission.k8s.io/v1beta1"`), 1),
			wantCode: http.StatusBadRequest, wantBody: `field "APIVERSION" differs only in case from "apiVersion"`,
		},
		"A request field spelled in another case gets a 400 naming it": {
			body:     bytes.Replace(valid, []byte(`"operation":"CREATE"`), []byte(`"operation":"CREATE","Operation":"DELETE"`), 1),
			wantCode: http.StatusBadRequest, wantBody: `field "request.Operation" differs only in case from "operation"`,
		},
		"A field given twice gets a 400": {
			body:     bytes.Replace(valid, []byte(`"operation":"CREATE"`), []byte(`"operation":"CREATE","operation":"DELETE"`), 1),
			wantCode: http.StatusBadRequest, wantBody: `duplicate field "request.operation"`,
		},
		"A field a newer API server may add is ignored": {
			body:     bytes.Replace(valid, []byte(`"operation":"CREATE"`), []byte(`"operation":"CREATE","someFutureField":{"a":1}`), 1),
			wantCode: http.StatusOK, wantBody: `"uid":"uid-create-pods"`,
		},
		"A DELETE without an oldObject gets a 400, never an allow": {
			body:     request{op: admissionv1.Delete, resource: "deployments"}.body(t),
			wantCode: http.StatusBadRequest, wantBody: "a DELETE without an oldObject",
		},
		"An UPDATE with a null object gets a 400, never an allow": {
			body:     request{op: admissionv1.Update, resource: "pods", oldObject: podYAML}.body(t),
			wantCode: http.StatusBadRequest, wantBody: "an UPDATE without both object and oldObject",
		},
		"A CREATE without an object gets a 400, never an allow": {
			body:     request{op: admissionv1.Create, resource: "pods"}.body(t),
			wantCode: http.StatusBadRequest, wantBody: "a CREATE without an object",
		},
		"A lower-case operation gets a 400, never an allow": {
			body:     request{op: "delete", resource: "deployments", oldObject: fmt.Sprintf(deploymentYAML, "", rollingStrategy)}.body(t),
			wantCode: http.StatusBadRequest, wantBody: `operation "delete": want CREATE, UPDATE, DELETE or CONNECT`,
		},
		"A wrong Content-Type gets a 400 naming the one to send": {
			contentType: "text/plain", body: valid, wantCode: http.StatusBadRequest, wantBody: `Content-Type "text/plain" is not supported: send an AdmissionReview as application/json`,
		},
		"A missing Content-Type gets a 400": {
			contentType: "-", body: valid, wantCode: http.StatusBadRequest, wantBody: `Content-Type "" is not supported`,
		},
		"A Content-Type with a charset is accepted": {
			contentType: "application/json; charset=utf-8", body: valid, wantCode: http.StatusOK, wantBody: `"uid":"uid-create-pods"`,
		},
		"A review larger than the limit is answered as the failure policy would, from its first bytes": {
			body:     slices.Concat(valid[:len(valid)-1], []byte(`,"padding":"`+strings.Repeat("x", int(maxBodyBytes))+`"}`)),
			wantCode: http.StatusOK, wantBody: `"uid":"uid-create-pods","allowed":true,"patch":"W10=","patchType":"JSONPatch","warnings":["gracekeeper not mutated`,
		},
		"A body larger than the limit that is no review gets a 413": {
			body:     []byte(`{"padding":"` + strings.Repeat("x", int(maxBodyBytes)) + `"}`),
			wantCode: http.StatusRequestEntityTooLarge, wantBody: fmt.Sprintf("request body is larger than the %d bytes", maxBodyBytes),
		},
		"A GET on a webhook path gets a 405": {
			method: http.MethodGet, wantCode: http.StatusMethodNotAllowed,
		},
		"A path that is not a webhook gets a 404": {
			path: "/mutate/everything", body: valid, wantCode: http.StatusNotFound,
		},
	}
	fx := newFixture(t, "")
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			method, path, contentType := tt.method, tt.path, tt.contentType
			if method == "" {
				method = http.MethodPost
			}
			if path == "" {
				path = PathMutateEnforce
			}
			req := httptest.NewRequest(method, path, bytes.NewReader(tt.body))
			switch contentType {
			case "":
				req.Header.Set("Content-Type", "application/json")
			case "-":
			default:
				req.Header.Set("Content-Type", contentType)
			}
			rec := httptest.NewRecorder()
			fx.handler.ServeHTTP(rec, req)
			if rec.Code != tt.wantCode || !strings.Contains(rec.Body.String(), tt.wantBody) {
				t.Errorf("%s %s = %d %q, want %d containing %q", method, path, rec.Code, truncate(rec.Body.String()), tt.wantCode, tt.wantBody)
			}
		})
	}
	if got := fx.counter(t, "gracekeeper_internal_errors_total"); got != 0 {
		t.Errorf("bad requests counted %v internal errors, want 0: they are the client's", got)
	}
}

func truncate(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

func TestRequestsAreDecodedByKindAndSubresource(t *testing.T) {
	scaleToZero := request{op: admissionv1.Update, resource: "deployments/scale",
		object: fmt.Sprintf(scaleYAML, 0), oldObject: fmt.Sprintf(scaleYAML, 3)}

	t.Run("A Scale sent to the scale subresource is read as a Scale", func(t *testing.T) {
		fx := newFixture(t, "")
		resp := fx.review(t, PathValidateEnforce, scaleToZero)
		if resp.Allowed || !slices.Equal(deniedRules(message(resp)), []policies.RuleID{policies.RuleScaleToZero}) {
			t.Errorf("scale to zero answered allowed=%v %q, want a denial reading the Scale's replicas 3 -> 0", resp.Allowed, message(resp))
		}
	})

	t.Run("A Scale body sent as a Deployment is an internal error, never an empty Deployment", func(t *testing.T) {
		fx := newFixture(t, "")
		r := scaleToZero
		r.resource = "deployments"
		rec := fx.post(PathValidateEnforce, r.body(t))
		if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), "object is autoscaling/v1 Scale, want apps/v1 Deployment") {
			t.Errorf("POST = %d %q, want 500 naming the kind mismatch", rec.Code, rec.Body.String())
		}
		if got := fx.counter(t, "gracekeeper_internal_errors_total"); got != 1 {
			t.Errorf("internal errors = %v, want 1", got)
		}
	})

	t.Run("An object that does not decode is an internal error, left to the failurePolicy", func(t *testing.T) {
		fx := newFixture(t, "")
		r := request{op: admissionv1.Create, resource: "deployments", object: `{apiVersion: apps/v1, kind: Deployment, metadata: {name: web}, spec: {replicas: three}}`}
		rec := fx.post(PathValidateEnforce, r.body(t))
		var answer admissionv1.AdmissionReview
		if err := json.Unmarshal(rec.Body.Bytes(), &answer); rec.Code != http.StatusInternalServerError || err != nil || answer.Response == nil ||
			!strings.Contains(answer.Response.Result.Message, "gracekeeper cannot read apps/v1 Deployment web") {
			t.Errorf("POST = %d %q, want a 500 AdmissionReview saying gracekeeper cannot read the Deployment", rec.Code, rec.Body.String())
		}
		if got := fx.counter(t, "gracekeeper_internal_errors_total"); got != 1 {
			t.Errorf("internal errors = %v, want 1", got)
		}
		if !strings.Contains(fx.logs.String(), `"msg":"admission review failed"`) {
			t.Errorf("the internal error was not logged: %s", fx.logs.String())
		}
	})

	unhandled := map[string]struct {
		path    string
		request request
		kind    string
	}{
		"A Job is allowed and counted": {
			path:    PathValidateEnforce,
			request: request{op: admissionv1.Create, resource: "jobs", object: `{apiVersion: batch/v1, kind: Job, metadata: {name: backup, namespace: shop}}`},
			kind:    "batch/v1 Job",
		},
		"A deployment's status subresource is allowed and counted": {
			path:    PathMutateEnforce,
			request: request{op: admissionv1.Update, resource: "deployments/status", object: fmt.Sprintf(deploymentYAML, "", rollingStrategy), oldObject: fmt.Sprintf(deploymentYAML, "", rollingStrategy)},
			kind:    "apps/v1 Deployment",
		},
		"A CronJob sent to the mutating path is allowed and counted": {
			path:    PathMutateEnforce,
			request: request{op: admissionv1.Create, resource: "cronjobs", object: `{apiVersion: batch/v1, kind: CronJob, metadata: {name: backup, namespace: shop}}`},
			kind:    "batch/v1 CronJob",
		},
		"A Deployment sent to the namespaces path is allowed and counted": {
			path:    PathValidateNamespaces,
			request: request{op: admissionv1.Create, resource: "deployments", object: fmt.Sprintf(deploymentYAML, "", recreateStrategy)},
			kind:    "apps/v1 Deployment",
		},
		"A scale subresource of another kind than Scale is allowed and counted": {
			path: PathValidateEnforce,
			request: request{op: admissionv1.Update, resource: "deployments/scale", object: fmt.Sprintf(scaleYAML, 0), oldObject: fmt.Sprintf(scaleYAML, 3),
				kind: &metav1.GroupVersionKind{Group: "autoscaling", Version: "v2", Kind: "Scale"}},
			kind: "autoscaling/v2 Scale",
		},
	}
	for name, tt := range unhandled {
		t.Run(name, func(t *testing.T) {
			fx := newFixture(t, "")
			resp := fx.review(t, tt.path, tt.request)
			if !resp.Allowed || resp.Result != nil || len(resp.Warnings) > 0 {
				t.Errorf("answer = allowed %v, status %+v, warnings %q; want allowed with nothing said", resp.Allowed, resp.Result, resp.Warnings)
			}
			if strings.HasPrefix(tt.path, "/mutate/") && string(resp.Patch) != "[]" {
				t.Errorf("patch = %s, want []", resp.Patch)
			}
			if got := fx.counter(t, "gracekeeper_unhandled_requests_total", "kind", tt.kind); got != 1 {
				t.Errorf("gracekeeper_unhandled_requests_total{kind=%q} = %v, want 1", tt.kind, got)
			}
			if got := fx.counter(t, "gracekeeper_internal_errors_total"); got != 0 {
				t.Errorf("internal errors = %v, want 0", got)
			}
		})
	}
}

func TestAPanicIsRecoveredLoggedAndCounted(t *testing.T) {
	fx := newFixture(t, "")
	logger := slog.New(slog.NewJSONHandler(fx.logs, nil))
	h := recoverPanics(logger, fx.metrics, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("engine bug")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, PathValidateEnforce, nil))
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), "internal error") {
		t.Errorf("answer = %d %q, want 500 internal error", rec.Code, rec.Body.String())
	}
	if got := fx.counter(t, "gracekeeper_internal_errors_total"); got != 1 {
		t.Errorf("internal errors = %v, want 1", got)
	}
	if logs := fx.logs.String(); !strings.Contains(logs, `"panic":"engine bug"`) || !strings.Contains(logs, `"path":"/validate/enforce"`) {
		t.Errorf("the panic was not logged with its path: %s", logs)
	}
}

func TestDryRunGetsTheSameAnswerIsLoggedAndNotCounted(t *testing.T) {
	fx := newFixture(t, "")
	r := request{op: admissionv1.Create, resource: "pods", object: podYAML}
	wet := fx.review(t, PathMutateEnforce, r)
	r.dryRun = true
	dry := fx.review(t, PathMutateEnforce, r)
	if string(dry.Patch) != string(wet.Patch) || dry.Allowed != wet.Allowed || !slices.Equal(dry.Warnings, wet.Warnings) {
		t.Errorf("dry run answer = %s %q, want the same as without: %s %q", dry.Patch, dry.Warnings, wet.Patch, wet.Warnings)
	}
	var dryRunLines int
	for _, line := range fx.logLines(t) {
		if line["msg"] == "review" && line["dryRun"] == true {
			dryRunLines++
		}
	}
	if dryRunLines != 1 {
		t.Errorf("%d review lines say dryRun true, want 1:\n%s", dryRunLines, fx.logs.String())
	}
	// A dry run changes nothing: only the real request is counted.
	for _, rule := range []string{"prestop-hook", "termination-grace-period"} {
		if got := fx.counter(t, "gracekeeper_findings_total", "rule", rule, "action", "patched"); got != 1 {
			t.Errorf("gracekeeper_findings_total{rule=%q} = %v, want 1: the dry run is not counted", rule, got)
		}
	}
}

func TestEachReviewWithFindingsIsLoggedOnceAndEachFindingCounted(t *testing.T) {
	fx := newFixture(t, "")
	fx.review(t, PathMutateEnforce, request{op: admissionv1.Create, resource: "pods", object: podYAML})
	fx.review(t, PathValidateAudit, request{op: admissionv1.Delete, resource: "deployments",
		oldObject: fmt.Sprintf(deploymentYAML, "", rollingStrategy), options: backgroundDelete})
	// A clean request logs nothing at info level.
	fx.review(t, PathMutateEnforce, request{op: admissionv1.Create, resource: "pods", object: runningPodYAML})

	lines := fx.logLines(t)
	if len(lines) != 2 {
		t.Fatalf("%d log lines, want 2 (one per review with findings):\n%s", len(lines), fx.logs.String())
	}
	first := lines[0]
	want := map[string]any{
		"msg": "review", "level": "INFO", "webhook": "mutate-enforce", "uid": "uid-create-pods", "operation": "CREATE",
		"object": "pod/web-7d9f8b6c5d-x2x4k", "namespace": "shop", "mode": "enforce", "user": "jane@example.com",
		"patched": "prestop-hook,termination-grace-period",
	}
	for k, v := range want {
		if first[k] != v {
			t.Errorf("log field %s = %v, want %v", k, first[k], v)
		}
	}
	for _, detail := range []string{"message", "patch", "rule", "denied", "warned"} {
		if _, ok := first[detail]; ok {
			t.Errorf("the info line has %s = %v; the finding's detail is logged at debug level", detail, first[detail])
		}
	}
	if lines[1]["would-deny"] != "workload-delete" || lines[1]["mode"] != "audit" || lines[1]["webhook"] != "validate-audit" {
		t.Errorf("audit line = %v, want workload-delete would-deny in audit mode", lines[1])
	}

	counts := map[[3]string]float64{
		{"prestop-hook", "enforce", "patched"}:             1,
		{"termination-grace-period", "enforce", "patched"}: 1,
		{"workload-delete", "audit", "would-deny"}:         1,
	}
	for labels, want := range counts {
		if got := fx.counter(t, "gracekeeper_findings_total", "rule", labels[0], "mode", labels[1], "action", labels[2]); got != want {
			t.Errorf("gracekeeper_findings_total%v = %v, want %v", labels, got, want)
		}
	}
}

func TestAnAPIServerOlderThan1_33GetsExecSleepHooks(t *testing.T) {
	fx := newFixture(t, `serverVersion: "v1.32.4"`)
	resp := fx.review(t, PathMutateEnforce, request{op: admissionv1.Create, resource: "pods", object: podYAML})
	want := `{"op":"add","path":"/spec/containers/0/lifecycle","value":{"preStop":{"exec":{"command":["sleep","5"]}}}}`
	if !strings.Contains(string(resp.Patch), want) {
		t.Errorf("patch = %s, want it to contain %s", resp.Patch, want)
	}
}

// The API server's audit log records what gracekeeper did through the
// answer's auditAnnotations, as it records pod-security-admission's verdicts.
func TestAnswersTellTheAuditLogWhatWasDone(t *testing.T) {
	fx := newFixture(t, "")
	patched := fx.review(t, PathMutateEnforce, request{op: admissionv1.Create, resource: "pods", object: podYAML})
	if got := patched.AuditAnnotations; len(got) != 1 || got["patched"] != "prestop-hook,termination-grace-period" {
		t.Errorf("auditAnnotations of a patched pod = %v, want patched: prestop-hook,termination-grace-period", got)
	}
	denied := fx.review(t, PathValidateEnforce, request{op: admissionv1.Delete, resource: "deployments",
		oldObject: fmt.Sprintf(deploymentYAML, "", rollingStrategy), options: backgroundDelete})
	if got := denied.AuditAnnotations; denied.Allowed || len(got) != 1 || got["denied"] != "workload-delete" {
		t.Errorf("auditAnnotations of a denied delete = %v, want denied: workload-delete", got)
	}
	clean := fx.review(t, PathMutateEnforce, request{op: admissionv1.Create, resource: "pods", object: runningPodYAML})
	if clean.AuditAnnotations != nil {
		t.Errorf("auditAnnotations of a clean pod = %v, want none", clean.AuditAnnotations)
	}
}
