package selftest

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func TestSelftest(t *testing.T) {
	var dryRun []string
	// mutated answers the create as gracekeeper's webhook would.
	mutated := func(action k8stesting.Action) (bool, runtime.Object, error) {
		create := action.(k8stesting.CreateActionImpl)
		dryRun = create.CreateOptions.DryRun
		pod := create.Object.(*corev1.Pod).DeepCopy()
		grace := int64(35)
		pod.Spec.TerminationGracePeriodSeconds = &grace
		pod.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 5}}}
		return true, pod, nil
	}
	client := fake.NewClientset()
	// The first try meets a namespace whose default ServiceAccount is not
	// there yet, as right after the chart's test hook created it.
	tries := 0
	client.PrependReactor("create", "pods", func(action k8stesting.Action) (bool, runtime.Object, error) {
		if tries++; tries == 1 {
			return true, nil, errors.New(`pods "gracekeeper-selftest" is forbidden: error looking up service account team-a/default: serviceaccount "default" not found`)
		}
		return mutated(action)
	})
	var out bytes.Buffer
	if err := selftest(t.Context(), client, "team-a", &out); err != nil {
		t.Fatal(err)
	}
	if tries != 2 {
		t.Errorf("%d creates, want a retry after the missing ServiceAccount", tries)
	}
	if len(dryRun) != 1 || dryRun[0] != "All" {
		t.Errorf("the Pod was created with dryRun %v, want [All]: selftest must store nothing", dryRun)
	}
	if want := "pod team-a/gracekeeper-selftest (dry run) came back with a preStop hook (sleep 5s) and terminationGracePeriodSeconds 35s"; !strings.Contains(out.String(), want) {
		t.Errorf("output %q, want it to contain %q", out.String(), want)
	}

	// A denial is not retried: it says what is wrong.
	denying := fake.NewClientset()
	denials := 0
	denying.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		denials++
		return true, nil, errors.New(`admission webhook "enforce.validate.gracekeeper.io" denied the request`)
	})
	if err := selftest(t.Context(), denying, "team-a", &out); err == nil || !strings.Contains(err.Error(), "denied the request") || denials != 1 {
		t.Errorf("selftest against a denial = %v after %d creates, want the denial after 1", err, denials)
	}

	// Without the webhook (failed open, or the namespace not enforced) the
	// Pod comes back as sent.
	err := selftest(t.Context(), fake.NewClientset(), "team-a", &out)
	if err == nil || !strings.Contains(err.Error(), "admitted pod team-a/gracekeeper-selftest without gracekeeper's preStop hook") ||
		!strings.Contains(err.Error(), "labelled gracekeeper.io/mode=enforce") {
		t.Errorf("selftest without the webhook = %v, want an error naming the missing hook and the label", err)
	}
}
