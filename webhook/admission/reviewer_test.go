package admission

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/gracekeeper/gracekeeper/policies"
)

// fakeParents answers every read with parent or err, and counts the reads.
type fakeParents struct {
	parent runtime.Object
	err    error
	reads  int
}

func (p *fakeParents) Parent(context.Context, *policies.Review) (runtime.Object, error) {
	p.reads++
	return p.parent, p.err
}

func (p *fakeParents) History(context.Context, *policies.Review) (*policies.History, error) {
	p.reads++
	return nil, p.err
}

func newTestReviewer(t *testing.T, w Webhook, mode policies.Mode, parents Parents) *Reviewer {
	t.Helper()
	engine := engineWith(t, "")
	for _, p := range Paths() {
		if p.Entry.Name != EntryNamespaces && p.Entry.Webhook == w && p.Mode == mode {
			return NewReviewer(p, engine, parents, slog.New(slog.DiscardHandler))
		}
	}
	t.Fatalf("no %s path in mode %s", w, mode)
	return nil
}

// raw is a YAML object as the API server sends it, in JSON.
func raw(t *testing.T, y string) runtime.RawExtension {
	t.Helper()
	data, err := yaml.YAMLToJSON([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return runtime.RawExtension{Raw: data}
}

const deploymentYAML = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, annotations: {%s}}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  strategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 0, maxSurge: 25%%}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: app, image: nginx, lifecycle: {preStop: {sleep: {seconds: 5}}}, readinessProbe: {httpGet: {path: /, port: 80}}}
`

const podYAML = `
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: shop}
spec:
  terminationGracePeriodSeconds: 10
  containers:
  - {name: app, image: nginx}
`

func scaleRequest(t *testing.T, replicas, old int) *admissionv1.AdmissionRequest {
	scale := `{apiVersion: autoscaling/v1, kind: Scale, metadata: {name: web, namespace: shop}, spec: {replicas: %d}}`
	return &admissionv1.AdmissionRequest{UID: "uid-scale", Operation: admissionv1.Update, Namespace: "shop", Name: "web",
		Kind:     metav1.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"},
		Resource: metav1.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, SubResource: "scale",
		Object: raw(t, fmt.Sprintf(scale, replicas)), OldObject: raw(t, fmt.Sprintf(scale, old)),
		UserInfo: authenticationv1.UserInfo{Username: "jane@example.com"}}
}

func decode[T runtime.Object](t *testing.T, y string, into T) T {
	t.Helper()
	if err := yaml.UnmarshalStrict([]byte(y), into); err != nil {
		t.Fatal(err)
	}
	return into
}

// The reviewer reads a /scale's workload through Parents only when the
// answer depends on it, and judges again with it.
func TestTheReviewerReadsTheParentThroughParents(t *testing.T) {
	annotated := decode(t, fmt.Sprintf(deploymentYAML, `gracekeeper.io/exempt: scale-to-zero, gracekeeper.io/exempt-reason: nightly stop`), &appsv1.Deployment{})
	plain := decode(t, fmt.Sprintf(deploymentYAML, ""), &appsv1.Deployment{})
	tests := []struct {
		name    string
		parents *fakeParents
		req     *admissionv1.AdmissionRequest
		reads   int
		allowed bool
		says    string
	}{
		{"Scaling up reads nothing.", &fakeParents{parent: plain}, scaleRequest(t, 4, 3), 0, true, ""},
		{"Scaling to 0 an exempt Deployment is allowed once it is read.", &fakeParents{parent: annotated}, scaleRequest(t, 0, 3), 1, true, ""},
		{"Scaling to 0 a Deployment without the exemption is denied: annotate, then scale again.", &fakeParents{parent: plain}, scaleRequest(t, 0, 3), 1, false, "then scale again"},
		{"A Deployment that cannot be read keeps the first answer, which says what works without it.",
			&fakeParents{err: errors.New("forbidden")}, scaleRequest(t, 0, 3), 1, false, "gracekeeper could not read deployment/web's"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestReviewer(t, Validating, policies.ModeEnforce, tt.parents).Review(t.Context(), tt.req)
			if a.Err != nil || a.Response.UID != tt.req.UID {
				t.Fatalf("answer err %v, uid %q, want an answer to %q", a.Err, a.Response.UID, tt.req.UID)
			}
			if a.Response.Allowed != tt.allowed || (tt.says != "" && !strings.Contains(a.Response.Result.Message, tt.says)) {
				t.Errorf("allowed %v %v, want allowed %v saying %q", a.Response.Allowed, a.Response.Result, tt.allowed, tt.says)
			}
			if tt.parents.reads != tt.reads {
				t.Errorf("%d reads, want %d", tt.parents.reads, tt.reads)
			}
		})
	}
}

func TestAnEvictionWhosePodCannotBeReadIsAnInternalError(t *testing.T) {
	req := &admissionv1.AdmissionRequest{UID: "uid-evict", Operation: admissionv1.Create, Namespace: "shop", Name: "web-1",
		Kind:     metav1.GroupVersionKind{Group: "policy", Version: "v1", Kind: "Eviction"},
		Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"}, SubResource: "eviction",
		Object: raw(t, `{apiVersion: policy/v1, kind: Eviction, metadata: {name: web-1, namespace: shop}, deleteOptions: {gracePeriodSeconds: 0}}`)}
	a := newTestReviewer(t, Validating, policies.ModeEnforce, &fakeParents{err: context.DeadlineExceeded}).Review(t.Context(), req)
	if a.Err == nil || a.Abandoned || a.Response.Result == nil || !strings.Contains(a.Response.Result.Message, "gracekeeper cannot judge policy/v1 Eviction shop/web-1") {
		t.Errorf("answer %+v, want an internal error naming the eviction", a)
	}
	running := decode(t, `{apiVersion: v1, kind: Pod, metadata: {name: web-1, namespace: shop, ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-7d9f8b6c5d, uid: 5c1e0f52, controller: true}]},
  spec: {nodeName: node-1, containers: [{name: app, image: nginx, lifecycle: {preStop: {sleep: {seconds: 5}}}}]}, status: {phase: Running}}`, &corev1.Pod{})
	a = newTestReviewer(t, Validating, policies.ModeEnforce, &fakeParents{parent: running}).Review(t.Context(), req)
	if a.Err != nil || a.Response.Allowed || !strings.Contains(a.Response.Result.Message, "gracekeeper force-delete: evicting running pod/web-1 with grace period 0") {
		t.Errorf("answer %v %v, want the force-delete denial once the pod is read", a.Err, a.Response.Result)
	}
}

func podCreate(t *testing.T) *admissionv1.AdmissionRequest {
	return &admissionv1.AdmissionRequest{UID: "uid-pod", Operation: admissionv1.Create, Namespace: "shop", Name: "web-1",
		Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
		Object: raw(t, podYAML)}
}

// Each answer says in its audit annotations which rules did what, under
// keys the API server accepts once it prefixes them with the webhook's name.
func TestAnswersCarryAuditAnnotations(t *testing.T) {
	mutate := newTestReviewer(t, Mutating, policies.ModeEnforce, &fakeParents{}).Review(t.Context(), podCreate(t))
	if got := mutate.Response.AuditAnnotations; len(got) != 2 || got["patched"] != "prestop-hook,termination-grace-period" || got["warned"] != "readiness-probe" {
		t.Errorf("audit annotations %v, want patched: prestop-hook,termination-grace-period and warned: readiness-probe", got)
	}
	if mutate.Response.PatchType == nil || *mutate.Response.PatchType != admissionv1.PatchTypeJSONPatch || !strings.Contains(string(mutate.Response.Patch), "/spec/containers/0/lifecycle") {
		t.Errorf("patch %s, want the preStop hook", mutate.Response.Patch)
	}
	audit := newTestReviewer(t, Mutating, policies.ModeAudit, &fakeParents{}).Review(t.Context(), podCreate(t))
	if got := audit.Response.AuditAnnotations; got["would-patch"] != "prestop-hook,termination-grace-period" || got["warned"] != "readiness-probe" {
		t.Errorf("audit-mode annotations %v, want would-patch and warned", got)
	}
	clean := podCreate(t)
	clean.Object = raw(t, `{apiVersion: v1, kind: Pod, metadata: {name: ok, namespace: shop}, spec: {terminationGracePeriodSeconds: 30, containers: [{name: app, image: nginx, lifecycle: {preStop: {sleep: {seconds: 5}}}, readinessProbe: {httpGet: {path: /, port: 80}}}]}}`)
	if a := newTestReviewer(t, Mutating, policies.ModeEnforce, &fakeParents{}).Review(t.Context(), clean); a.Response.AuditAnnotations != nil {
		t.Errorf("a clean pod has audit annotations %v, want none", a.Response.AuditAnnotations)
	}

	// Every rule in every outcome: still valid keys, and values bounded by the rules.
	var d Decision
	for _, o := range outcomes {
		for _, id := range policies.ReportedRules() {
			for range 1000 {
				d.Reported = append(d.Reported, Reported{Finding: policies.Finding{Rule: id}, Outcome: o})
			}
		}
	}
	annotations := d.auditAnnotations()
	if len(annotations) != len(outcomes) {
		t.Errorf("%d annotations, want one per outcome: %v", len(annotations), annotations)
	}
	for key, value := range annotations {
		if errs := validation.IsQualifiedName("namespaces.validate.gracekeeper.io/" + key); len(errs) > 0 {
			t.Errorf("key %q is not a qualified name once prefixed: %v", key, errs)
		}
		if len(value) > 1024 || strings.Count(value, ",") != len(policies.ReportedRules())-1 {
			t.Errorf("%s = %q (%d bytes), want each rule once", key, value, len(value))
		}
	}
}

func TestARequestThePathDoesNotJudgeIsAllowed(t *testing.T) {
	req := podCreate(t)
	req.Kind, req.Resource = metav1.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, metav1.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	a := newTestReviewer(t, Mutating, policies.ModeEnforce, &fakeParents{}).Review(t.Context(), req)
	if a.Err != nil || !a.Response.Allowed || string(a.Response.Patch) != "[]" || a.Unhandled != "v1 ConfigMap" || a.Review != nil {
		t.Errorf("answer %+v, want allowed with an empty patch, unhandled v1 ConfigMap", a)
	}
}

func TestAReviewWhoseCallerHasGoneIsAbandoned(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	a := newTestReviewer(t, Mutating, policies.ModeEnforce, &fakeParents{}).Review(ctx, podCreate(t))
	if !a.Abandoned || a.Err == nil || a.Response.UID != "uid-pod" {
		t.Errorf("answer %+v, want abandoned with an error", a)
	}
}

func TestObjectsThatDoNotDecodeAreAnInternalError(t *testing.T) {
	req := podCreate(t)
	req.Object = runtime.RawExtension{Raw: []byte(`{"apiVersion":"v1","kind":"Pod","spec":{"containers":"nope"}}`)}
	req.DryRun = ptr.To(true)
	a := newTestReviewer(t, Mutating, policies.ModeEnforce, &fakeParents{}).Review(t.Context(), req)
	if a.Err == nil || a.Abandoned || !strings.Contains(a.Err.Error(), "gracekeeper cannot read v1 Pod shop/web-1") {
		t.Errorf("answer %+v, want an internal error naming the pod", a)
	}
}
