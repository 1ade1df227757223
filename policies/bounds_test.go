package policies

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// containers gives a pod spec n containers with neither a hook nor a probe,
// as the adversarial reviews do: every one is a finding.
func withContainers(spec *corev1.PodSpec, n int) {
	spec.Containers = make([]corev1.Container, n)
	for i := range spec.Containers {
		spec.Containers[i] = corev1.Container{Name: fmt.Sprintf("c%d", i), Image: "nginx"}
	}
}

func TestEvaluateContextBoundsTheContainersJudged(t *testing.T) {
	e := defaultEngine(t)
	t.Run("A pod spec of MaxContainers is judged: every container gets its hook.", func(t *testing.T) {
		p := pod(t)
		withContainers(&p.Spec, MaxContainers)
		findings, err := e.EvaluateContext(context.Background(), create(p))
		if err != nil {
			t.Fatalf("EvaluateContext: %v", err)
		}
		if got := len(only(RulePreStopHook, findings)); got != MaxContainers {
			t.Errorf("%d preStop findings, want %d", got, MaxContainers)
		}
		d := Decide(Mutating, ModeEnforce, create(p), findings)
		if d.Limit != nil || len(d.Patch) <= MaxContainers-1 {
			t.Errorf("Decide: limit %v, %d patch operations, want a patch per container", d.Limit, len(d.Patch))
		}
	})
	t.Run("One more container, in a Deployment's template, is past the bound before any rule runs.", func(t *testing.T) {
		d := deployment(t)
		withContainers(&d.Spec.Template.Spec, MaxContainers)
		d.Spec.Template.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox"}}
		_, err := e.EvaluateContext(context.Background(), create(d))
		var limit *LimitError
		if !errors.As(err, &limit) || limit.What != "containers" || limit.Count != MaxContainers+1 || limit.Max != MaxContainers {
			t.Fatalf("EvaluateContext = %v, want a containers LimitError of %d", err, MaxContainers+1)
		}
		if want := fmt.Sprintf("deployment/nginx has %d containers, more than the %d", MaxContainers+1, MaxContainers); !strings.Contains(err.Error(), want) {
			t.Errorf("error %q, want it to say %q", err, want)
		}
	})
	t.Run("A review whose caller has gone is not judged.", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := e.EvaluateContext(ctx, create(pod(t))); !errors.Is(err, context.Canceled) {
			t.Errorf("EvaluateContext after cancel = %v, want context.Canceled", err)
		}
	})
}

func TestDecideLimitAnswersAsTheFailurePolicyWould(t *testing.T) {
	limit := &LimitError{Object: "deployment/web", What: "containers", Count: 178000, Max: MaxContainers}
	t.Run("The enforce validating webhook denies, saying the bound and what to do.", func(t *testing.T) {
		d := DecideLimit(Validating, ModeEnforce, limit)
		if d.Allowed || d.Patch != nil || len(d.Warnings) != 0 || d.Limit != limit {
			t.Fatalf("got %+v, want a denial", d)
		}
		for _, want := range []string{"denied unchecked, as failurePolicy Fail would", "deployment/web has 178000 containers, more than the 1000", "gracekeeper.io/mode: off"} {
			if !strings.Contains(d.Message, want) {
				t.Errorf("message %q, want it to say %q", d.Message, want)
			}
		}
	})
	for _, mode := range []Mode{ModeEnforce, ModeAudit} {
		t.Run(fmt.Sprintf("The mutating webhook in %s allows with no patch and a warning.", mode), func(t *testing.T) {
			d := DecideLimit(Mutating, mode, limit)
			if !d.Allowed || d.Patch == nil || len(d.Patch) != 0 || len(d.Warnings) != 1 {
				t.Fatalf("got %+v, want allowed with an empty patch and one warning", d)
			}
			w := d.Warnings[0]
			if !strings.HasPrefix(w, warningPrefix(mode)+"not mutated") || !strings.Contains(w, "178000 containers") || len(w) > maxWarning {
				t.Errorf("warning %q, want it to say nothing was mutated and why, within %d bytes", w, maxWarning)
			}
		})
	}
	t.Run("The audit validating webhook allows with a warning.", func(t *testing.T) {
		d := DecideLimit(Validating, ModeAudit, limit)
		if !d.Allowed || len(d.Warnings) != 1 || !strings.Contains(d.Warnings[0], "not checked: deployment/web has 178000 containers") {
			t.Errorf("got %+v, want allowed with a warning", d)
		}
	})
}

func TestDecideCapsThePatchOperations(t *testing.T) {
	p := pod(t)
	r := create(p)
	var findings []Finding
	for i := range MaxPatchOps + 1 {
		findings = append(findings, Finding{Rule: RulePreStopHook, Action: ActionPatch, Object: "pod/web",
			Message: fmt.Sprintf("add preStop to container %q", fmt.Sprint("c", i)),
			Patch:   []PatchOp{{Op: "add", Path: fmt.Sprintf("/spec/containers/%d/lifecycle", i), Value: map[string]any{}}}})
	}
	d := Decide(Mutating, ModeEnforce, r, findings)
	if d.Limit == nil || d.Limit.What != "patch operations" || d.Limit.Count != MaxPatchOps+1 || len(d.Patch) != 0 || !d.Allowed {
		t.Fatalf("got limit %v and %d patch operations, want the patch-operations limit and no patch", d.Limit, len(d.Patch))
	}
	if d.Limit.Metric() != "patch-operations" {
		t.Errorf("metric label %q", d.Limit.Metric())
	}
}
