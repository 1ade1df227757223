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
		// What the mutating webhook answers: admission's TestAPodOfMaxContainersIsPatchedWhole.
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
