package admission_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apiserver/pkg/admission"
	celplugin "k8s.io/apiserver/pkg/admission/plugin/cel"
	apiserverwebhook "k8s.io/apiserver/pkg/admission/plugin/webhook"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/matchconditions"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/cel/environment"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/gracekeeper/gracekeeper/certs"
	"github.com/gracekeeper/gracekeeper/deploy"
	"github.com/gracekeeper/gracekeeper/policies"
	"github.com/gracekeeper/gracekeeper/policies/api/v1alpha1"
	"github.com/gracekeeper/gracekeeper/webhook"
	gkadmission "github.com/gracekeeper/gracekeeper/webhook/admission"
)

// The differential test of the generated matchConditions: each request is
// given to the CEL of every webhook entry whose rules match it, compiled and
// evaluated by the API server's own libraries (k8s.io/apiserver, as
// kube-apiserver v1.37 runs them), and to gracekeeper's webhook server
// (webhook.New) on that entry's path. A request the CEL skips must get nothing from gracekeeper: no
// patch, no denial, no warning. A CEL error fails too: under failurePolicy
// Ignore the API server would skip the webhook on it.

// diffConfigs are configurations that change what the expressions read,
// with the chart values they need.
var diffConfigs = []struct{ config, values string }{
	{"", ""},
	{"shutdownSeconds: 0\npreStop: {skipOwnerKinds: []}\n", ""},
	{"shutdownSeconds: 40\nrevisionHistory: {minimum: 10}\nrecreate: convert\n", "terminationGracePeriodSeconds: 60\n"},
	{"preStop: {sleepSeconds: 1, skipOwnerKinds: [Deployment, Job]}\nrollingUpdate: {action: warn}\nrevisionHistory: {minimum: 0, action: deny}\nrecreate: warn\nworkloadDelete: warn\npodDelete: deny\n", ""},
	{"changeCause: off\n", ""},
}

// diffEnv is the chart's webhook configurations and gracekeeper serving them
// under one configuration.
type diffEnv struct {
	server  *server
	entries []diffEntry
}

// testServerVersion selects the native preStop sleep action.
const testServerVersion = "v1.37.2"

// server is gracekeeper's webhook server (webhook.New) under one
// configuration, on loopback with a certificate of its own CA, called over
// HTTPS as the API server calls it. It reads no parents: it has no client.
type server struct {
	url    string
	client *http.Client
}

func newServer(t *testing.T, config string) *server {
	t.Helper()
	cfg, err := v1alpha1.Parse([]byte(config))
	if err != nil {
		t.Fatalf("parse configuration: %v", err)
	}
	engine, err := policies.New(cfg, testServerVersion)
	if err != nil {
		t.Fatalf("policy engine: %v", err)
	}
	ca, err := certs.GenerateCA("gracekeeper-test-ca", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue([]string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := certs.WriteServing(dir, ca.CertPEM, certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	reloader, err := certs.NewReloader(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := webhook.New(webhook.Config{Engine: engine, Certificates: reloader, Listen: "127.0.0.1:0", ProbeListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.CertPEM)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	t.Cleanup(func() {
		client.CloseIdleConnections()
		stop()
		if err := <-done; err != nil {
			t.Errorf("the webhook server stopped with %v", err)
		}
	})
	return &server{url: "https://" + srv.Addr().String(), client: client}
}

// post sends a body to a path as the API server does and returns the
// status and the body answered.
func (s *server) post(t *testing.T, path string, body []byte) (int, []byte) {
	t.Helper()
	resp, err := s.client.Post(s.url+path, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	return resp.StatusCode, answer
}

// resources maps each resource an entry receives ("pods",
// "deployments/scale") to its group-version-resource and the kind of the
// objects sent for it, as the API server fills them in, from the entry table.
var resources = func() map[string]resourceKind {
	m := map[string]resourceKind{}
	for _, e := range gkadmission.Entries() {
		for _, r := range e.Rules() {
			for _, resource := range r.Resources {
				name, sub, _ := strings.Cut(resource, "/")
				gvr := metav1.GroupVersionResource{Group: r.APIGroups[0], Version: r.APIVersions[0], Resource: name}
				kind := map[string]schema.GroupVersionKind{"scale": policies.ScaleGVK, "eviction": policies.EvictionGVK}[sub]
				for _, k := range policies.Kinds() {
					if sub == "" && k.GVK.Group == gvr.Group && k.Resource == name {
						kind = k.GVK
					}
				}
				m[resource] = resourceKind{gvr, metav1.GroupVersionKind(kind)}
			}
		}
	}
	return m
}()

type resourceKind struct {
	gvr  metav1.GroupVersionResource
	kind metav1.GroupVersionKind
}

type diffEntry struct {
	name    string
	path    string
	rules   []admissionregistrationv1.RuleWithOperations
	matcher matchconditions.Matcher
}

// renderWebhooks renders the chart's webhook configurations with a configuration and chart values.
func renderWebhooks(t *testing.T, config, chartValues string) (*admissionregistrationv1.MutatingWebhookConfiguration, *admissionregistrationv1.ValidatingWebhookConfiguration) {
	t.Helper()
	values := map[string]any{}
	if err := yaml.Unmarshal([]byte(chartValues), &values); err != nil {
		t.Fatal(err)
	}
	if config != "" {
		var c map[string]any
		if err := yaml.Unmarshal([]byte(config), &c); err != nil {
			t.Fatal(err)
		}
		values["config"] = c
	}
	objs, err := deploy.RenderChart("gracekeeper", values)
	if err != nil {
		t.Fatal(err)
	}
	mutating, validating, err := deploy.WebhookConfigurations(objs)
	if err != nil {
		t.Fatal(err)
	}
	return mutating, validating
}

func newDiffEnv(t *testing.T, config, chartValues string) *diffEnv {
	t.Helper()
	mutating, validating := renderWebhooks(t, config, chartValues)
	compiler := celplugin.NewConditionCompiler(environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()))
	// Fail, so that an evaluation error is reported rather than read as a skip.
	fail := admissionregistrationv1.Fail
	env := &diffEnv{server: newServer(t, config)}
	for _, w := range mutating.Webhooks {
		w.FailurePolicy = &fail
		acc := apiserverwebhook.NewMutatingWebhookAccessor(w.Name, mutating.Name, &w)
		env.entries = append(env.entries, diffEntry{w.Name, *w.ClientConfig.Service.Path, w.Rules, acc.GetCompiledMatcher(compiler)})
	}
	for _, w := range validating.Webhooks {
		w.FailurePolicy = &fail
		acc := apiserverwebhook.NewValidatingWebhookAccessor(w.Name, validating.Name, &w)
		env.entries = append(env.entries, diffEntry{w.Name, *w.ClientConfig.Service.Path, w.Rules, acc.GetCompiledMatcher(compiler)})
	}
	for _, e := range env.entries {
		if len(e.rules) == 0 {
			t.Fatalf("webhook %s has no rules", e.name)
		}
	}
	return env
}

// diffRequest is one admission request with typed objects, as the API server holds it.
type diffRequest struct {
	name              string
	op                admissionv1.Operation
	resource          string // a key of resources: "pods", "deployments/scale"...
	object, oldObject runtime.Object
	options           *metav1.DeleteOptions
	user              authenticationv1.UserInfo
}

// skips evaluates the request against every entry that matches its rules and
// returns the entries whose matchConditions skip it.
func (env *diffEnv) skips(t *testing.T, r diffRequest) []diffEntry {
	t.Helper()
	res := resources[r.resource]
	gvr := schema.GroupVersionResource(res.gvr)
	gvk := schema.GroupVersionKind(res.kind)
	_, sub, _ := strings.Cut(r.resource, "/")
	name, namespace := objectMeta(r)
	var object, oldObject runtime.Object
	if r.object != nil {
		object = r.object
	}
	if r.oldObject != nil {
		oldObject = r.oldObject
	}
	var options runtime.Object
	if r.options != nil {
		options = r.options
	}
	attrs := admission.NewAttributesRecord(object, oldObject, gvk, namespace, name, gvr, sub,
		admission.Operation(r.op), options, false, &user.DefaultInfo{Name: r.user.Username, Groups: r.user.Groups})
	var skipped []diffEntry
	for _, e := range env.entries {
		if !rulesMatch(e.rules, r.op, gvr, sub) {
			continue
		}
		versioned := &admission.VersionedAttributes{Attributes: attrs, VersionedKind: gvk,
			VersionedObject: admission.NewLazyObject(object), VersionedOldObject: admission.NewLazyObject(oldObject)}
		result := e.matcher.Match(context.Background(), versioned, nil, nil)
		if result.Error != nil {
			t.Fatalf("%s: the matchConditions of %s fail to evaluate: %v", r.name, e.name, result.Error)
		}
		if !result.Matches {
			skipped = append(skipped, e)
		}
	}
	return skipped
}

// rulesMatch is the API server's rule match for the rules gracekeeper uses
// (no wildcards).
func rulesMatch(rules []admissionregistrationv1.RuleWithOperations, op admissionv1.Operation, gvr schema.GroupVersionResource, sub string) bool {
	resource := gvr.Resource
	if sub != "" {
		resource += "/" + sub
	}
	for _, r := range rules {
		if slices.Contains(r.Operations, admissionregistrationv1.OperationType(op)) &&
			slices.Contains(r.APIGroups, gvr.Group) && slices.Contains(r.APIVersions, gvr.Version) &&
			slices.Contains(r.Resources, resource) {
			return true
		}
	}
	return false
}

// answer posts the request to an entry's path and returns what gracekeeper
// said beyond a plain allow, "" for nothing.
func (env *diffEnv) answer(t *testing.T, r diffRequest, path string) string {
	t.Helper()
	body := reviewBody(t, r)
	code, raw := env.server.post(t, path, body)
	if code != 200 {
		return fmt.Sprintf("HTTP %d %s", code, raw)
	}
	var answer admissionv1.AdmissionReview
	if err := json.Unmarshal(raw, &answer); err != nil || answer.Response == nil {
		t.Fatalf("%s: answer is not an AdmissionReview: %v %s", r.name, err, raw)
	}
	resp := answer.Response
	var said []string
	if !resp.Allowed {
		said = append(said, "denied: "+resp.Result.Message)
	}
	if len(resp.Patch) > 0 && string(resp.Patch) != "[]" {
		said = append(said, "patch "+string(resp.Patch))
	}
	for _, w := range resp.Warnings {
		said = append(said, "warning: "+w)
	}
	return strings.Join(said, "; ")
}

func reviewBody(t *testing.T, r diffRequest) []byte {
	t.Helper()
	res := resources[r.resource]
	_, sub, _ := strings.Cut(r.resource, "/")
	name, namespace := objectMeta(r)
	raw := func(o runtime.Object) []byte {
		if o == nil {
			return nil
		}
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: types.UID("uid-diff"), Kind: res.kind, Resource: res.gvr, SubResource: sub,
			RequestKind: &res.kind, RequestResource: &res.gvr, RequestSubResource: sub,
			Name: name, Namespace: namespace, Operation: r.op, UserInfo: r.user,
			Object: runtime.RawExtension{Raw: raw(r.object)}, OldObject: runtime.RawExtension{Raw: raw(r.oldObject)},
			DryRun: ptr.To(false),
		},
	}
	if r.options != nil {
		review.Request.Options = runtime.RawExtension{Raw: raw(r.options)}
	}
	body, err := json.Marshal(review)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func objectMeta(r diffRequest) (name, namespace string) {
	for _, o := range []runtime.Object{r.oldObject, r.object} {
		if m, ok := o.(metav1.Object); ok && o != nil {
			name, namespace = m.GetName(), m.GetNamespace()
		}
	}
	return name, namespace
}

func TestMatchConditionsNeverSkipWhatGracekeeperWouldChange(t *testing.T) {
	requests := generatedRequests(rand.New(rand.NewPCG(13, 2026)), 400)
	requests = append(requests, fixtureRequests(t)...)
	for i, c := range diffConfigs {
		t.Run(fmt.Sprintf("config %d", i), func(t *testing.T) {
			config := c.config
			env := newDiffEnv(t, config, c.values)
			skipped := map[string]int{}
			for _, r := range requests {
				for _, e := range env.skips(t, r) {
					skipped[e.name]++
					if said := env.answer(t, r, e.path); said != "" {
						t.Errorf("the matchConditions of %s skip %s, but gracekeeper says: %s\nconfiguration:\n%s\nrequest:\n%s",
							e.name, r.name, said, config, reviewBody(t, r))
					}
				}
			}
			// The test is only as strong as what it skips: every entry must skip something.
			for _, e := range env.entries {
				if skipped[e.name] == 0 {
					t.Errorf("the matchConditions of %s skipped none of %d requests", e.name, len(requests))
				}
			}
			t.Logf("skipped per entry: %v of %d requests", skipped, len(requests))
		})
	}
}

func TestMatchConditionsSkipGracefulObjects(t *testing.T) {
	env := newDiffEnv(t, "", "")
	alice := authenticationv1.UserInfo{Username: "alice@example.com", Groups: []string{"system:authenticated"}}
	controller := authenticationv1.UserInfo{Username: "system:serviceaccount:kube-system:deployment-controller",
		Groups: []string{"system:serviceaccounts", "system:authenticated"}}
	replicaSetController := authenticationv1.UserInfo{Username: "system:serviceaccount:kube-system:replicaset-controller"}
	ungraceful := gracefulDeployment()
	ungraceful.Spec.Template.Spec.Containers[0].Lifecycle = nil
	tests := []struct {
		name string
		r    diffRequest
		// want lists the entries that must skip the request; the others must call.
		want []string
	}{
		{"A graceful Pod CREATE calls nobody.", diffRequest{op: admissionv1.Create, resource: "pods", object: gracefulPod(), user: replicaSetController},
			[]string{"enforce.mutate.gracekeeper.io", "audit.mutate.gracekeeper.io"}},
		{"A Pod CREATE without hooks calls the mutating webhook.", diffRequest{op: admissionv1.Create, resource: "pods", object: ungracefulPod(), user: replicaSetController},
			nil},
		{"A graceful Deployment CREATE calls only the mutating webhook, which records its change-cause.", diffRequest{op: admissionv1.Create, resource: "deployments", object: gracefulDeployment(), user: alice},
			[]string{"enforce.validate.gracekeeper.io", "audit.validate.gracekeeper.io"}},
		{"A Deployment whose pods need hooks calls both webhooks: the validating one says so.", diffRequest{op: admissionv1.Create, resource: "deployments", object: ungraceful, user: alice},
			nil},
		{"An UPDATE of a graceful Deployment that leaves its template alone (kubectl scale, label) calls nobody.",
			diffRequest{op: admissionv1.Update, resource: "deployments", object: withReplicas(gracefulDeployment(), 5), oldObject: gracefulDeployment(), user: alice},
			[]string{"enforce.mutate.gracekeeper.io", "audit.mutate.gracekeeper.io", "enforce.validate.gracekeeper.io", "audit.validate.gracekeeper.io"}},
		{"The deployment controller's write of a Deployment calls nobody, even one gracekeeper would patch.",
			diffRequest{op: admissionv1.Update, resource: "deployments", object: withRevisionHistory(ungraceful, 1), oldObject: ungraceful, user: controller},
			[]string{"enforce.mutate.gracekeeper.io", "audit.mutate.gracekeeper.io", "enforce.validate.gracekeeper.io", "audit.validate.gracekeeper.io"}},
		{"A person's write of that Deployment calls both.",
			diffRequest{op: admissionv1.Update, resource: "deployments", object: withRevisionHistory(ungraceful, 1), oldObject: ungraceful, user: alice},
			nil},
		{"A DELETE of a Deployment scaled to 0 calls nobody.", diffRequest{op: admissionv1.Delete, resource: "deployments", oldObject: withReplicas(gracefulDeployment(), 0), user: alice},
			[]string{"enforce.validate.gracekeeper.io", "audit.validate.gracekeeper.io"}},
		{"A DELETE of a running Deployment calls the validating webhook.", diffRequest{op: admissionv1.Delete, resource: "deployments", oldObject: gracefulDeployment(), user: alice},
			nil},
		// Past MaxContainers the expressions stop before walking the
		// containers, and gracekeeper answers without judging (DecideLimit).
		{"A graceful Pod of more containers than gracekeeper judges calls the mutating webhook.",
			diffRequest{op: admissionv1.Create, resource: "pods", object: withGracefulContainers(gracefulPod(), policies.MaxContainers+1), user: replicaSetController},
			nil},
		{"A graceful Pod of as many containers as gracekeeper judges calls nobody.",
			diffRequest{op: admissionv1.Create, resource: "pods", object: withGracefulContainers(gracefulPod(), policies.MaxContainers), user: replicaSetController},
			[]string{"enforce.mutate.gracekeeper.io", "audit.mutate.gracekeeper.io"}},
		{"A graceful Deployment of more containers than gracekeeper judges calls both webhooks.",
			diffRequest{op: admissionv1.Create, resource: "deployments", object: withGracefulContainers(gracefulDeployment(), policies.MaxContainers+1), user: alice},
			nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.r.name = tc.name
			var got []string
			for _, e := range env.skips(t, tc.r) {
				got = append(got, e.name)
			}
			slices.Sort(got)
			slices.Sort(tc.want)
			if !slices.Equal(got, tc.want) {
				t.Errorf("skipped by %q, want %q", got, tc.want)
			}
		})
	}
}

// fixtureRequests turns the engine's rule fixtures (policies/testdata) into
// requests; those of kinds no entry sends are kept, and match nothing.
func fixtureRequests(t *testing.T) []diffRequest {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "..", "policies", "testdata", "rules", "*", "*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures under policies/testdata/rules: %v", err)
	}
	resourceOf := map[string]string{"Pod": "pods", "Deployment": "deployments", "StatefulSet": "statefulsets",
		"DaemonSet": "daemonsets", "Namespace": "namespaces", "ReplicaSet": "replicasets"}
	var out []diffRequest
	for _, path := range paths {
		if strings.HasSuffix(path, ".golden.yaml") {
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var f fixtureDoc
		if err := yaml.Unmarshal(data, &f); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if f.Kind != "Review" {
			f = fixtureDoc{Kind: f.Kind}
			if f.Object, err = yaml.YAMLToJSON(data); err != nil {
				t.Fatal(err)
			}
		}
		r := diffRequest{name: path, op: f.Operation, options: f.Options,
			user: authenticationv1.UserInfo{Username: "alice@example.com", Groups: []string{"system:authenticated"}}}
		if r.op == "" {
			r.op = admissionv1.Create
		}
		if f.User != nil {
			r.user = *f.User
		}
		decode := func(raw json.RawMessage) runtime.Object {
			if len(raw) == 0 || string(raw) == "null" {
				return nil
			}
			var meta metav1.TypeMeta
			if err := json.Unmarshal(raw, &meta); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			obj, err := policies.Decode(meta.GroupVersionKind(), raw)
			if errors.Is(err, policies.ErrUnknownKind) {
				return nil
			}
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if f.Resource == "" {
				f.Resource = meta.Kind
			}
			return obj
		}
		r.object, r.oldObject = decode(f.Object), decode(f.OldObject)
		resource, ok := resourceOf[f.Resource]
		if !ok || (r.object == nil && r.oldObject == nil) {
			continue
		}
		if f.SubResource != "" {
			resource += "/" + f.SubResource
		}
		r.resource = resource
		out = append(out, r)
	}
	return out
}

// fixtureDoc is a rule fixture: a Review (policies/testdata/README.md) or a manifest.
type fixtureDoc struct {
	Kind        string                     `json:"kind"`
	Operation   admissionv1.Operation      `json:"operation"`
	Resource    string                     `json:"resource"`
	SubResource string                     `json:"subResource"`
	User        *authenticationv1.UserInfo `json:"user"`
	Options     *metav1.DeleteOptions      `json:"options"`
	Object      json.RawMessage            `json:"object"`
	OldObject   json.RawMessage            `json:"oldObject"`
}

// The generator starts from graceful objects and varies, at random, every
// field a rule reads, most often one or two at a time, so that the requests
// cluster around the line between skipped and called.

func gracefulContainer(name string) corev1.Container {
	return corev1.Container{
		Name: name, Image: "registry.example/" + name + ":1",
		ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(8080)}}},
		Lifecycle:      &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 5}}},
	}
}

func gracefulPodSpec() corev1.PodSpec {
	return corev1.PodSpec{
		RestartPolicy:                 corev1.RestartPolicyAlways,
		TerminationGracePeriodSeconds: ptr.To[int64](30),
		Containers:                    []corev1.Container{gracefulContainer("app"), gracefulContainer("proxy")},
	}
}

func gracefulPod() *corev1.Pod {
	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "web-abc12", Namespace: "shop", Labels: map[string]string{"app": "web"}},
		Spec:       gracefulPodSpec(),
	}
}

// withGracefulContainers gives a Pod's or a Deployment's pod spec n graceful containers.
func withGracefulContainers[T *corev1.Pod | *appsv1.Deployment](o T, n int) T {
	var spec *corev1.PodSpec
	switch o := any(o).(type) {
	case *corev1.Pod:
		spec = &o.Spec
	case *appsv1.Deployment:
		spec = &o.Spec.Template.Spec
	}
	spec.Containers = nil
	for i := range n {
		spec.Containers = append(spec.Containers, gracefulContainer(fmt.Sprintf("c%d", i)))
	}
	return o
}

func ungracefulPod() *corev1.Pod {
	p := gracefulPod()
	p.Spec.Containers[1].Lifecycle = nil
	return p
}

func gracefulDeployment() *appsv1.Deployment {
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{
				MaxUnavailable: ptr.To(intstr.FromString("25%")), MaxSurge: ptr.To(intstr.FromString("25%"))}},
			RevisionHistoryLimit: ptr.To[int32](10),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       gracefulPodSpec(),
			},
		},
	}
}

func withRevisionHistory(d *appsv1.Deployment, n int32) *appsv1.Deployment {
	d = d.DeepCopy()
	d.Spec.RevisionHistoryLimit = &n
	return d
}

func withReplicas(d *appsv1.Deployment, n int32) *appsv1.Deployment {
	d = d.DeepCopy()
	d.Spec.Replicas = &n
	return d
}

// pick returns one of the values at random.
func pick[T any](rng *rand.Rand, values ...T) T { return values[rng.IntN(len(values))] }

// maybe is true with probability 1 in n.
func maybe(rng *rand.Rand, n int) bool { return rng.IntN(n) == 0 }

var (
	intOrStrings = []*intstr.IntOrString{nil, ptr.To(intstr.FromInt32(0)), ptr.To(intstr.FromInt32(1)), ptr.To(intstr.FromInt32(2)),
		ptr.To(intstr.FromInt32(3)), ptr.To(intstr.FromInt32(10)), ptr.To(intstr.FromInt32(-1)), ptr.To(intstr.FromString("0%")),
		ptr.To(intstr.FromString("25%")), ptr.To(intstr.FromString("99%")), ptr.To(intstr.FromString("100%")),
		ptr.To(intstr.FromString("150%")), ptr.To(intstr.FromString("50 %")), ptr.To(intstr.FromString("+50%")), ptr.To(intstr.FromString("two"))}
	int32s = []*int32{nil, ptr.To[int32](-1), ptr.To[int32](0), ptr.To[int32](1), ptr.To[int32](2), ptr.To[int32](3), ptr.To[int32](5), ptr.To[int32](10), ptr.To[int32](100)}
	int64s = []*int64{nil, ptr.To[int64](-1), ptr.To[int64](0), ptr.To[int64](1), ptr.To[int64](5), ptr.To[int64](25), ptr.To[int64](29), ptr.To[int64](30),
		ptr.To[int64](31), ptr.To[int64](45), ptr.To[int64](60), ptr.To[int64](3600), ptr.To[int64](1 << 40)}
	hooks = []*corev1.LifecycleHandler{
		nil,
		{Sleep: &corev1.SleepAction{Seconds: 5}}, {Sleep: &corev1.SleepAction{Seconds: 0}}, {Sleep: &corev1.SleepAction{Seconds: -3}},
		{Sleep: &corev1.SleepAction{Seconds: 20}}, {Sleep: &corev1.SleepAction{Seconds: 40}}, {Sleep: &corev1.SleepAction{Seconds: 1 << 33}},
		{Exec: &corev1.ExecAction{Command: []string{"sleep", "5"}}}, {Exec: &corev1.ExecAction{Command: []string{"sleep", "35"}}},
		{Exec: &corev1.ExecAction{Command: []string{"sleep", "0"}}}, {Exec: &corev1.ExecAction{Command: []string{"sleep", "5s"}}},
		{Exec: &corev1.ExecAction{Command: []string{"sleep", "99999999999"}}}, {Exec: &corev1.ExecAction{Command: []string{"/bin/sleep", "5"}}},
		{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "sleep 10"}}}, {Exec: &corev1.ExecAction{Command: []string{"nginx", "-s", "quit"}}},
		{Exec: &corev1.ExecAction{}},
		{HTTPGet: &corev1.HTTPGetAction{Path: "/drain", Port: intstr.FromInt32(8080)}},
		{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}},
		{Sleep: &corev1.SleepAction{Seconds: 5}, Exec: &corev1.ExecAction{Command: []string{"sleep", "50"}}},
	}
)

// varyPodSpec changes the pod spec's fields the pod rules read, each with a
// small probability.
func varyPodSpec(rng *rand.Rand, spec *corev1.PodSpec, meta *metav1.ObjectMeta) {
	if maybe(rng, 3) {
		spec.TerminationGracePeriodSeconds = pick(rng, int64s...)
	}
	if maybe(rng, 8) {
		spec.RestartPolicy = pick(rng, corev1.RestartPolicy(""), corev1.RestartPolicyNever, corev1.RestartPolicyOnFailure, corev1.RestartPolicyAlways)
	}
	if maybe(rng, 6) {
		spec.Containers = spec.Containers[:pick(rng, 0, 1, 1)]
	}
	if maybe(rng, 8) {
		spec.Containers = append(spec.Containers, gracefulContainer("extra"))
	}
	for i := range spec.Containers {
		c := &spec.Containers[i]
		if maybe(rng, 3) {
			switch rng.IntN(4) {
			case 0:
				c.Lifecycle = nil
			case 1:
				c.Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}
			default:
				c.Lifecycle = &corev1.Lifecycle{PreStop: pick(rng, hooks...)}
			}
		}
		if maybe(rng, 6) {
			c.ReadinessProbe = nil
		}
		if maybe(rng, 10) {
			c.Ports = []corev1.ContainerPort{{ContainerPort: 8080, HostPort: pick[int32](rng, 0, 8080)}}
		}
		if maybe(rng, 10) {
			// Pods that hold a device cannot surge (see surgeOf).
			name := pick[corev1.ResourceName](rng, "nvidia.com/gpu", "amd.com/gpu", "cpu", "kubernetes.io/thing")
			c.Resources.Limits = corev1.ResourceList{name: apiresource.MustParse(pick(rng, "0", "1", "2"))}
		}
	}
	if maybe(rng, 8) {
		init := gracefulContainer("init")
		init.Lifecycle, init.ReadinessProbe = nil, nil
		if maybe(rng, 2) {
			init.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways) // a native sidecar
			init.Lifecycle = &corev1.Lifecycle{PreStop: pick(rng, hooks...)}
		}
		spec.InitContainers = []corev1.Container{init}
	}
	if maybe(rng, 12) {
		spec.HostNetwork = true
	}
	if maybe(rng, 10) {
		spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}}
	}
	if maybe(rng, 12) {
		spec.OS = &corev1.PodOS{Name: corev1.Windows}
	}
	if maybe(rng, 12) {
		spec.Volumes = append(spec.Volumes, corev1.Volume{Name: "node-data", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/lib/app"}}})
		if len(spec.Containers) > 0 {
			spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "node-data", MountPath: "/data", ReadOnly: maybe(rng, 3)}}
		}
	}
	if maybe(rng, 12) {
		spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
			TopologyKey:   pick(rng, corev1.LabelHostname, corev1.LabelTopologyZone),
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": pick(rng, "web", "other")}}}}}}
	}
	if maybe(rng, 15) {
		spec.ResourceClaims = []corev1.PodResourceClaim{{Name: "gpu", ResourceClaimTemplateName: ptr.To("one-gpu")}}
	}
	varyMeta(rng, meta)
}

// varyMeta changes the annotations and owners the rules read.
func varyMeta(rng *rand.Rand, meta *metav1.ObjectMeta) {
	if maybe(rng, 8) {
		meta.Annotations = map[string]string{}
		switch rng.IntN(5) {
		case 0:
			meta.Annotations["kubernetes.io/config.mirror"] = "abc"
		case 1:
			meta.Annotations["gracekeeper.io/exempt"] = pick(rng, "all", "prestop-hook", "readiness-probe,termination-grace-period", "no-such-rule")
		case 2:
			meta.Annotations["gracekeeper.io/exempt"] = pick(rng, "all", "workload-delete", "scale-to-zero", "pod-delete")
			meta.Annotations["gracekeeper.io/exempt-reason"] = "decommissioning"
		default:
			meta.Annotations["example.com/note"] = "unrelated"
		}
	}
	if maybe(rng, 5) {
		ref := metav1.OwnerReference{APIVersion: "apps/v1", Kind: pick(rng, "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob", "Workflow"),
			Name: "owner", UID: "u1", Controller: ptr.To(!maybe(rng, 4))}
		meta.OwnerReferences = []metav1.OwnerReference{ref}
	}
	if maybe(rng, 12) {
		meta.DeletionTimestamp = &metav1.Time{Time: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
	}
}

// scaleResources are the /scale resources the validating entry receives,
// from the entry table: deployments/scale...
var scaleResources = func() []string {
	var out []string
	e, _ := gkadmission.EntryOf(gkadmission.EntryValidate)
	for _, r := range e.Rules() {
		for _, resource := range r.Resources {
			if strings.HasSuffix(resource, "/scale") {
				out = append(out, resource)
			}
		}
	}
	return out
}()

// generatedRequests returns n requests of each kind of request the webhook
// entries receive.
func generatedRequests(rng *rand.Rand, n int) []diffRequest {
	users := []authenticationv1.UserInfo{
		{Username: "alice@example.com", Groups: []string{"system:authenticated"}},
		{Username: "system:serviceaccount:kube-system:deployment-controller", Groups: []string{"system:serviceaccounts"}},
		{Username: "system:serviceaccount:kube-system:replicaset-controller"},
		{Username: "system:node:node-1", Groups: []string{"system:nodes"}},
		{Username: "system:serviceaccount:kube-system:helm-controller"},
	}
	user := func() authenticationv1.UserInfo {
		if maybe(rng, 3) {
			return pick(rng, users...)
		}
		return users[0]
	}
	var out []diffRequest
	add := func(r diffRequest) {
		r.name = fmt.Sprintf("generated %s %s #%d", r.op, r.resource, len(out))
		out = append(out, r)
	}
	for range n {
		// Pods: CREATE and DELETE.
		pod := gracefulPod()
		varyPodSpec(rng, &pod.Spec, &pod.ObjectMeta)
		add(diffRequest{op: admissionv1.Create, resource: "pods", object: pod, user: user()})
		old := pod.DeepCopy()
		old.Spec.NodeName = pick(rng, "", "node-1", "node-1")
		old.Status.Phase = pick(rng, corev1.PodRunning, corev1.PodRunning, corev1.PodPending, corev1.PodSucceeded, corev1.PodFailed)
		var options *metav1.DeleteOptions
		if maybe(rng, 2) {
			options = &metav1.DeleteOptions{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "DeleteOptions"},
				GracePeriodSeconds: pick(rng, nil, ptr.To[int64](0), ptr.To[int64](1), ptr.To[int64](30))}
		}
		add(diffRequest{op: admissionv1.Delete, resource: "pods", oldObject: old, options: options, user: user()})

		// Workloads: CREATE, UPDATE, DELETE, and the scale subresource.
		for _, resource := range []string{"deployments", "statefulsets", "daemonsets"} {
			obj := generatedWorkload(rng, resource)
			add(diffRequest{op: admissionv1.Create, resource: resource, object: obj, user: user()})
			oldObj := obj.DeepCopyObject()
			if maybe(rng, 2) {
				oldObj = generatedWorkload(rng, resource)
			}
			add(diffRequest{op: admissionv1.Update, resource: resource, object: obj, oldObject: oldObj, user: user()})
			var options *metav1.DeleteOptions
			if maybe(rng, 3) {
				options = &metav1.DeleteOptions{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "DeleteOptions"},
					PropagationPolicy: ptr.To(pick(rng, metav1.DeletePropagationOrphan, metav1.DeletePropagationForeground, metav1.DeletePropagationBackground))}
			}
			add(diffRequest{op: admissionv1.Delete, resource: resource, oldObject: obj, options: options, user: user()})
		}
		// Every /scale the validating entry receives (ReplicaSets' and
		// Rollouts' too: the same Scale, read by the same rules).
		for _, resource := range scaleResources {
			scale := func() *autoscalingv1.Scale {
				s := &autoscalingv1.Scale{TypeMeta: metav1.TypeMeta{APIVersion: "autoscaling/v1", Kind: "Scale"},
					ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"}, Spec: autoscalingv1.ScaleSpec{Replicas: pick[int32](rng, 0, 0, 1, 3, 10)}}
				if maybe(rng, 10) {
					s.Annotations = map[string]string{"gracekeeper.io/exempt": "scale-to-zero"}
				}
				return s
			}
			add(diffRequest{op: admissionv1.Update, resource: resource, object: scale(), oldObject: scale(), user: pick(rng, user(),
				authenticationv1.UserInfo{Username: "system:serviceaccount:argo-rollouts:argo-rollouts"})})
		}

		// Namespaces.
		ns := &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: metav1.ObjectMeta{Name: "shop",
			Labels: map[string]string{"gracekeeper.io/mode": pick(rng, "enforce", "audit", "off", "Enforce", "enforced", "")}}}
		if maybe(rng, 6) {
			ns.Annotations = map[string]string{"gracekeeper.io/exempt": pick(rng, "all", "mode-label", "nope")}
		}
		add(diffRequest{op: pick(rng, admissionv1.Create, admissionv1.Update), resource: "namespaces", object: ns, oldObject: nil, user: user()})
	}
	for i := range out {
		if out[i].op == admissionv1.Update && out[i].resource == "namespaces" {
			out[i].oldObject = out[i].object.DeepCopyObject()
		}
	}
	return out
}

// generatedWorkload is a graceful workload of the resource, varied.
func generatedWorkload(rng *rand.Rand, resource string) runtime.Object {
	d := gracefulDeployment()
	tmpl := d.Spec.Template.DeepCopy()
	varyPodSpec(rng, &tmpl.Spec, &tmpl.ObjectMeta)
	tmpl.DeletionTimestamp, tmpl.OwnerReferences = nil, nil
	meta := d.ObjectMeta
	varyMeta(rng, &meta)
	revision := d.Spec.RevisionHistoryLimit
	if maybe(rng, 4) {
		revision = pick(rng, int32s...)
	}
	replicas := d.Spec.Replicas
	if maybe(rng, 4) {
		replicas = pick(rng, int32s...)
	}
	switch resource {
	case "deployments":
		d.ObjectMeta, d.Spec.Template, d.Spec.RevisionHistoryLimit, d.Spec.Replicas = meta, *tmpl, revision, replicas
		if maybe(rng, 4) {
			d.Spec.Strategy.Type = pick(rng, appsv1.DeploymentStrategyType(""), appsv1.RecreateDeploymentStrategyType, appsv1.RollingUpdateDeploymentStrategyType, "BlueGreen")
		}
		if maybe(rng, 3) {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxUnavailable: pick(rng, intOrStrings...), MaxSurge: pick(rng, intOrStrings...)}
		}
		if maybe(rng, 6) {
			// The fenceposts: no surge on small counts takes every pod down.
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: pick(rng, ptr.To(intstr.FromInt32(0)), ptr.To(intstr.FromString("0%"))),
				MaxUnavailable: pick(rng, nil, ptr.To(intstr.FromString("25%")), ptr.To(intstr.FromString("10%")), ptr.To(intstr.FromInt32(1)))}
		}
		if maybe(rng, 10) {
			d.Spec.Strategy.RollingUpdate = nil
		}
		return d
	case "statefulsets":
		s := &appsv1.StatefulSet{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"}, ObjectMeta: meta,
			Spec: appsv1.StatefulSetSpec{Replicas: replicas, Selector: d.Spec.Selector, Template: *tmpl, RevisionHistoryLimit: revision,
				UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
					RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](0)}}}}
		if maybe(rng, 4) {
			s.Spec.UpdateStrategy.Type = pick(rng, appsv1.StatefulSetUpdateStrategyType(""), appsv1.OnDeleteStatefulSetStrategyType)
		}
		if maybe(rng, 3) {
			s.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = pick(rng, intOrStrings...)
			s.Spec.UpdateStrategy.RollingUpdate.Partition = pick(rng, int32s...)
		}
		return s
	default:
		ds := &appsv1.DaemonSet{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "DaemonSet"}, ObjectMeta: meta,
			Spec: appsv1.DaemonSetSpec{Selector: d.Spec.Selector, Template: *tmpl, RevisionHistoryLimit: revision,
				UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
					RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: ptr.To(intstr.FromInt32(1)), MaxSurge: ptr.To(intstr.FromInt32(0))}}}}
		if maybe(rng, 4) {
			ds.Spec.UpdateStrategy.Type = pick(rng, appsv1.DaemonSetUpdateStrategyType(""), appsv1.OnDeleteDaemonSetStrategyType)
		}
		if maybe(rng, 3) {
			ds.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{MaxUnavailable: pick(rng, intOrStrings...), MaxSurge: pick(rng, intOrStrings...)}
		}
		ds.Status.DesiredNumberScheduled = pick[int32](rng, 0, 0, 1, 3)
		if maybe(rng, 4) {
			// A nodeSelector no node may have stops the pods (scale-down).
			ds.Spec.Template.Spec.NodeSelector = map[string]string{"pool": pick(rng, "a", "b")}
		}
		return ds
	}
}

// TestMatchConditionsPassAPIServerValidation compiles every generated
// expression as kube-apiserver validates a new webhook configuration: in the
// environment for new expressions, which admits fewer libraries than the one
// stored expressions run in.
func TestMatchConditionsPassAPIServerValidation(t *testing.T) {
	compiler := celplugin.NewCompiler(environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()))
	for _, c := range diffConfigs {
		mutating, validating := renderWebhooks(t, c.config, c.values)
		var conditions []admissionregistrationv1.MatchCondition
		for _, w := range mutating.Webhooks {
			conditions = append(conditions, w.MatchConditions...)
		}
		for _, w := range validating.Webhooks {
			conditions = append(conditions, w.MatchConditions...)
		}
		for _, mc := range conditions {
			result := compiler.CompileCELExpression(&matchconditions.MatchCondition{Name: mc.Name, Expression: mc.Expression},
				celplugin.OptionalVariableDeclarations{HasAuthorizer: true}, environment.NewExpressions)
			if result.Error != nil {
				t.Errorf("matchCondition %s does not compile as a new expression: %v", mc.Name, result.Error)
			}
		}
	}
}
