package admission

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/gracekeeper/gracekeeper/policies"
	"github.com/gracekeeper/gracekeeper/policies/api/v1alpha1"
)

// What each webhook answers to requests whose findings policies' own tests
// pin: the answer is this package's.

// engineWith is an engine of the configuration file's text ("" for all
// defaults) on a current API server.
func engineWith(t testing.TB, config string) *policies.Engine {
	t.Helper()
	cfg, err := v1alpha1.Parse([]byte(config))
	if err != nil {
		t.Fatalf("parse config %q: %v", config, err)
	}
	engine, err := policies.New(cfg, "v1.37.2")
	if err != nil {
		t.Fatal(err)
	}
	return engine
}

// alice is an ordinary user running kubectl.
var alice = policies.UserInfo{Username: "alice@example.com", Groups: []string{"system:authenticated"}}

func TestAPodOfMaxContainersIsPatchedWhole(t *testing.T) {
	p := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"}}
	for i := range policies.MaxContainers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: fmt.Sprintf("c%d", i), Image: "nginx"})
	}
	r := &policies.Review{Operation: policies.Create, Kind: "Pod", Namespace: "shop", Name: "web", Object: p, User: alice}
	findings := engineWith(t, "").Evaluate(r)
	d := Decide(Mutating, policies.ModeEnforce, r, findings)
	if d.Limit != nil || len(d.Patch) <= policies.MaxContainers-1 {
		t.Errorf("Decide: limit %v, %d patch operations, want a patch per container", d.Limit, len(d.Patch))
	}
}

func TestTheExemptionAnnotationNeverSilencesTheModeLabelDenial(t *testing.T) {
	for _, exempt := range []string{"all", "mode-label"} {
		t.Run(exempt, func(t *testing.T) {
			ns := &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: metav1.ObjectMeta{
				Name: "shop", Labels: map[string]string{"gracekeeper.io/mode": "enforc"},
				Annotations: map[string]string{"gracekeeper.io/exempt": exempt, "gracekeeper.io/exempt-reason": "migration"}}}
			r := &policies.Review{Operation: policies.Create, Kind: "Namespace", Name: "shop", Object: ns, User: alice}
			d := Decide(Validating, policies.ModeEnforce, r, engineWith(t, "").Evaluate(r))
			if d.Allowed || !strings.Contains(d.Message, `gracekeeper mode-label: label gracekeeper.io/mode="enforc" is not a mode`) {
				t.Errorf("a Namespace labelled enforc and annotated exempt=%s: allowed %v, message %q; want the typo denied", exempt, d.Allowed, d.Message)
			}
		})
	}
}

// The API server may run DELETE admission twice for one request: with the
// options as sent, then after rewriting them. The same input must give the
// same answer.
func TestForceDeleteIsAnsweredAlikeWhenEvaluatedTwice(t *testing.T) {
	engine := engineWith(t, "")
	pod := func(running bool) *corev1.Pod {
		p := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: metav1.ObjectMeta{
			Name: "nginx-7c5ddbdf54-x8r2f", Namespace: "shop", Labels: map[string]string{"app": "nginx", "pod-template-hash": "7c5ddbdf54"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "nginx-7c5ddbdf54", UID: "1b3f", Controller: ptr.To(true)}}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx:1.18"}}}}
		if running {
			p.Spec.NodeName, p.Status.Phase = "node-1", corev1.PodRunning
		}
		return p
	}
	for _, tc := range []struct {
		name    string
		running bool
		allowed bool
	}{
		{"a running pod is denied both times", true, false},
		{"an unscheduled pod passes both times", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &policies.Review{Operation: policies.Delete, Kind: "Pod", Namespace: "shop", Name: "nginx-7c5ddbdf54-x8r2f",
				OldObject: pod(tc.running), DeleteOptions: &metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, User: alice}
			first := Decide(Validating, policies.ModeEnforce, r, engine.Evaluate(r))
			second := Decide(Validating, policies.ModeEnforce, r, engine.Evaluate(r))
			if !reflect.DeepEqual(first, second) {
				t.Errorf("the second answer differs\nfirst:  %+v\nsecond: %+v", first, second)
			}
			if first.Allowed != tc.allowed {
				t.Errorf("allowed = %v, want %v: %+v", first.Allowed, tc.allowed, first)
			}
		})
	}
}

func TestScaleDownInAuditModeWouldDeny(t *testing.T) {
	scale := func(replicas int32) *autoscalingv1.Scale {
		return &autoscalingv1.Scale{TypeMeta: metav1.TypeMeta{APIVersion: "autoscaling/v1", Kind: "Scale"},
			ObjectMeta: metav1.ObjectMeta{Name: "nginx", Namespace: "shop"}, Spec: autoscalingv1.ScaleSpec{Replicas: replicas}}
	}
	r := &policies.Review{Operation: policies.Update, Kind: "Deployment", SubResource: "scale", Namespace: "shop", Name: "nginx",
		Object: scale(1), OldObject: scale(6), User: alice}
	d := Decide(Validating, policies.ModeAudit, r, engineWith(t, "scaleDown: deny").Evaluate(r))
	if !d.Allowed || len(d.Warnings) != 1 || d.Warnings[0] != "gracekeeper [audit] scale-down: would deny: scaling deployment/nginx from 6 to 1 replicas stops 5 pods at once" {
		t.Errorf("audit answer %+v, want allowed with one would-deny warning", d)
	}
}
