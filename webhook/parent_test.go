package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/yaml"
)

// evictionYAML is what kubectl drain --grace-period=N sends to pods/eviction.
const evictionYAML = `
apiVersion: policy/v1
kind: Eviction
metadata: {name: web-7d9f8b6c5d-x2x4k, namespace: shop}
deleteOptions: %s
`

const scaleOfWebYAML = `
apiVersion: autoscaling/v1
kind: Scale
metadata: {name: web, namespace: shop}
spec: {replicas: %d}
`

func decodeYAML[T runtime.Object](t *testing.T, y string, into T) T {
	t.Helper()
	if err := yaml.UnmarshalStrict([]byte(y), into); err != nil {
		t.Fatalf("%v\n%s", err, y)
	}
	return into
}

// The webhook reads a subresource request's parent only when the answer
// depends on it, and answers as the docs say when the read fails.
func TestParentsAreReadWhenTheAnswerDependsOnThem(t *testing.T) {
	running := decodeYAML(t, runningPodYAML, &corev1.Pod{})
	annotated := decodeYAML(t, fmt.Sprintf(deploymentYAML, `gracekeeper.io/exempt: scale-to-zero, gracekeeper.io/exempt-reason: nightly stop`, rollingStrategy), &appsv1.Deployment{})
	plain := decodeYAML(t, fmt.Sprintf(deploymentYAML, "", rollingStrategy), &appsv1.Deployment{})
	evict := func(options string) request {
		return request{op: admissionv1.Create, resource: "pods/eviction", object: fmt.Sprintf(evictionYAML, options)}
	}
	scaleToZero := request{op: admissionv1.Update, resource: "deployments/scale", object: fmt.Sprintf(scaleOfWebYAML, 0), oldObject: fmt.Sprintf(scaleOfWebYAML, 3)}

	tests := []struct {
		name    string
		objects []runtime.Object
		request request
		// failRead makes every get fail, as without RBAC.
		failRead bool
		// reads is how many gets the webhook makes.
		reads   int
		allowed bool
		message string
	}{
		{name: "kubectl drain --grace-period=0 of a running pod is denied.", objects: []runtime.Object{running},
			request: evict(`{gracePeriodSeconds: 0}`), reads: 1,
			message: "gracekeeper force-delete: evicting running pod/web-7d9f8b6c5d-x2x4k with grace period 0 skips its preStop hook and drain"},
		{name: "An eviction with a grace override shorter than the preStop sleep is denied.", objects: []runtime.Object{running},
			request: evict(`{gracePeriodSeconds: 1}`), reads: 1,
			message: "gracekeeper force-delete: evicting running pod/web-7d9f8b6c5d-x2x4k with grace period 1s kills it during its 5s preStop sleep"},
		{name: "An eviction with a grace override longer than the preStop sleep is allowed.", objects: []runtime.Object{running},
			request: evict(`{gracePeriodSeconds: 20}`), reads: 1, allowed: true},
		{name: "An eviction without a grace override reads nothing and is allowed.", objects: []runtime.Object{running},
			request: evict(`{}`), reads: 0, allowed: true},
		{name: "An eviction of a pod that is gone is allowed: the API server answers 404.",
			request: evict(`{gracePeriodSeconds: 0}`), reads: 1, allowed: true},
		{name: "kubectl scale to 0 of a Deployment annotated to exempt scale-to-zero is allowed.", objects: []runtime.Object{annotated},
			request: scaleToZero, reads: 1, allowed: true},
		{name: "kubectl scale to 0 of a Deployment without the annotation is denied: annotate, then scale again.", objects: []runtime.Object{plain},
			request: scaleToZero, reads: 1,
			message: `gracekeeper.io/exempt-reason=<why>", then scale again`},
		{name: "kubectl scale up reads nothing.", objects: []runtime.Object{plain},
			request: request{op: admissionv1.Update, resource: "deployments/scale", object: fmt.Sprintf(scaleOfWebYAML, 4), oldObject: fmt.Sprintf(scaleOfWebYAML, 3)},
			reads:   0, allowed: true},
		{name: "A /scale whose Deployment cannot be read keeps the denial that says what works without it.", failRead: true,
			request: scaleToZero, reads: 1,
			message: `a Scale carries no annotations and gracekeeper could not read deployment/web's`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewClientset(tt.objects...)
			reads := 0
			client.PrependReactor("get", "*", func(action k8stesting.Action) (bool, runtime.Object, error) {
				reads++
				if tt.failRead {
					return true, nil, errors.New(`deployments.apps "web" is forbidden`)
				}
				return false, nil, nil
			})
			fx := newFixtureReading(t, "", client)
			resp := fx.review(t, "/validate/enforce", tt.request)
			if resp.Allowed != tt.allowed {
				t.Errorf("allowed = %v, want %v (%s)", resp.Allowed, tt.allowed, resp.Result)
			}
			if tt.message != "" && (resp.Result == nil || !strings.Contains(resp.Result.Message, tt.message)) {
				t.Errorf("denial %v, want it to contain %q", resp.Result, tt.message)
			}
			if reads != tt.reads {
				t.Errorf("the webhook read %d objects, want %d", reads, tt.reads)
			}
		})
	}
}

// An eviction whose pod cannot be read is an internal error, which the
// webhook configuration's failurePolicy decides: allowing it would switch
// force-delete off without a word.
func TestAnEvictionWhosePodCannotBeReadIsAnError(t *testing.T) {
	for name, fx := range map[string]*fixture{
		"without an API client": newFixture(t, ""),
		"when the read fails": func() *fixture {
			client := fake.NewClientset()
			client.PrependReactor("get", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
				return true, nil, context.DeadlineExceeded
			})
			return newFixtureReading(t, "", client)
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			r := request{op: admissionv1.Create, resource: "pods/eviction", object: fmt.Sprintf(evictionYAML, `{gracePeriodSeconds: 0}`)}
			rec := fx.post("/validate/enforce", r.body(t))
			if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), "gracekeeper cannot judge policy/v1 Eviction shop/web-7d9f8b6c5d-x2x4k") {
				t.Errorf("POST = %d %q, want a 500 that names the eviction", rec.Code, rec.Body.String())
			}
		})
	}
}
