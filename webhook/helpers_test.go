package webhook

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/gracekeeper/gracekeeper/policies"
	"github.com/gracekeeper/gracekeeper/policies/api/v1alpha1"
)

// testServerVersion selects the native preStop sleep action.
const testServerVersion = "v1.37.2"

// fixture is a webhook handler with its metrics and logs.
type fixture struct {
	engine  *policies.Engine
	handler http.Handler
	reg     *prometheus.Registry
	metrics *metrics
	logs    *bytes.Buffer
}

func newFixture(t testing.TB, configYAML string) *fixture {
	t.Helper()
	return newFixtureReading(t, configYAML, nil)
}

// newFixtureReading is a fixture whose webhook reads parents through client.
func newFixtureReading(t testing.TB, configYAML string, client kubernetes.Interface) *fixture {
	t.Helper()
	cfg, err := v1alpha1.Parse([]byte(configYAML))
	if err != nil {
		t.Fatalf("parse configuration: %v", err)
	}
	engine, err := policies.New(cfg, testServerVersion)
	if err != nil {
		t.Fatalf("policy engine: %v", err)
	}
	fx := &fixture{engine: engine, reg: prometheus.NewRegistry(), logs: &bytes.Buffer{}}
	if fx.metrics, err = newMetrics(fx.reg, nil); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewJSONHandler(fx.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	fx.handler = newWebhookHandler(engine, parentReader{client}, fx.metrics, logger)
	return fx
}

// newDebugFixture is a fixture that logs at debug level.
func newDebugFixture(t testing.TB) *fixture {
	t.Helper()
	fx := newFixture(t, "")
	logger := slog.New(slog.NewJSONHandler(fx.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	fx.handler = newWebhookHandler(fx.engine, parentReader{}, fx.metrics, logger)
	return fx
}

// post sends a body to a path as the API server does and returns the recorded answer.
func (fx *fixture) post(path string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	fx.handler.ServeHTTP(rec, req)
	return rec
}

// review posts a request and decodes the AdmissionReview answered, failing
// the test on anything but a 200 that echoes the request's uid.
func (fx *fixture) review(t *testing.T, path string, r request) *admissionv1.AdmissionResponse {
	t.Helper()
	rec := fx.post(path, r.body(t))
	if rec.Code != http.StatusOK {
		t.Fatalf("POST %s = %d %q, want 200", path, rec.Code, rec.Body.String())
	}
	var answer admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil {
		t.Fatalf("answer is not an AdmissionReview: %v\n%s", err, rec.Body.String())
	}
	if answer.APIVersion != "admission.k8s.io/v1" || answer.Kind != "AdmissionReview" || answer.Response == nil {
		t.Fatalf("answer is not an admission.k8s.io/v1 AdmissionReview with a response: %s", rec.Body.String())
	}
	if answer.Response.UID != r.uid() {
		t.Errorf("response uid = %q, want the request's %q", answer.Response.UID, r.uid())
	}
	return answer.Response
}

func (fx *fixture) counter(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	families, err := fx.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, family := range families {
		if family.GetName() != name {
			continue
		}
	metrics:
		for _, m := range family.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					found = found || (l.GetName() == labels[i] && l.GetValue() == labels[i+1])
				}
				if !found {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// logLines decodes the JSON log lines written so far.
func (fx *fixture) logLines(t *testing.T) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(fx.logs.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, line)
		}
		lines = append(lines, m)
	}
	return lines
}

// request is one admission request as the API server sends it. Objects are
// YAML for readability and sent as JSON.
type request struct {
	op admissionv1.Operation
	// resource is "pods", "deployments", "deployments/scale", "namespaces"...
	resource  string
	object    string
	oldObject string
	options   string
	user      string
	groups    []string
	dryRun    bool
	// kind overrides the kind the API server names (to send a mismatch).
	kind *metav1.GroupVersionKind
}

// resources maps a resource to its group-version-resource and the kind of
// the objects sent for it, as the API server fills them in: every kind in the
// engine's table, its scale subresource, and a status subresource the
// webhook does not judge.
var resources = func() map[string]resourceKind {
	m := map[string]resourceKind{}
	for _, k := range policies.Kinds() {
		gvr := metav1.GroupVersionResource{Group: k.GVK.Group, Version: k.GVK.Version, Resource: k.Resource}
		m[k.Resource] = resourceKind{gvr, metav1.GroupVersionKind(k.GVK)}
		m[k.Resource+"/scale"] = resourceKind{gvr, metav1.GroupVersionKind(policies.ScaleGVK)}
		m[k.Resource+"/status"] = resourceKind{gvr, metav1.GroupVersionKind(k.GVK)}
		m[k.Resource+"/eviction"] = resourceKind{gvr, metav1.GroupVersionKind(policies.EvictionGVK)}
	}
	return m
}()

type resourceKind struct {
	gvr  metav1.GroupVersionResource
	kind metav1.GroupVersionKind
}

func (r request) uid() types.UID {
	return types.UID("uid-" + strings.ToLower(string(r.op)) + "-" + strings.ReplaceAll(r.resource, "/", "-"))
}

func (r request) body(t testing.TB) []byte {
	t.Helper()
	res, ok := resources[r.resource]
	if !ok {
		t.Fatalf("no test resource %q", r.resource)
	}
	kind := res.kind
	if r.kind != nil {
		kind = *r.kind
	}
	_, sub, _ := strings.Cut(r.resource, "/")
	object, oldObject := toJSON(t, r.object), toJSON(t, r.oldObject)
	var meta struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	for _, raw := range [][]byte{oldObject, object} {
		if raw != nil {
			if err := json.Unmarshal(raw, &meta); err != nil {
				t.Fatal(err)
			}
		}
	}
	user := r.user
	if user == "" {
		user = "jane@example.com"
	}
	groups := r.groups
	if groups == nil {
		groups = []string{"system:authenticated"}
	}
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:                r.uid(),
			Kind:               kind,
			Resource:           res.gvr,
			SubResource:        sub,
			RequestKind:        &kind,
			RequestResource:    &res.gvr,
			RequestSubResource: sub,
			Name:               meta.Metadata.Name,
			Namespace:          meta.Metadata.Namespace,
			Operation:          r.op,
			UserInfo:           authenticationv1.UserInfo{Username: user, Groups: groups},
			Object:             runtime.RawExtension{Raw: object},
			OldObject:          runtime.RawExtension{Raw: oldObject},
			DryRun:             &r.dryRun,
			Options:            runtime.RawExtension{Raw: toJSON(t, r.options)},
		},
	}
	body, err := json.Marshal(review)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func toJSON(t testing.TB, y string) []byte {
	t.Helper()
	if y == "" {
		return nil
	}
	j, err := yaml.YAMLToJSON([]byte(y))
	if err != nil {
		t.Fatalf("test object is not YAML: %v\n%s", err, y)
	}
	return j
}

// The paths the tests post to; deploy's TestWebhookEntriesRouteEachModeToItsPath
// pins them against the entry table (admission.Paths).
const (
	PathMutateEnforce      = "/mutate/enforce"
	PathMutateAudit        = "/mutate/audit"
	PathValidateEnforce    = "/validate/enforce"
	PathValidateAudit      = "/validate/audit"
	PathValidateNamespaces = "/validate/namespaces"
)
