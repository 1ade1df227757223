// Package selftest is "gracekeeper selftest", the chart's helm test: it proves
// the installed webhook answers.
package selftest

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/gracekeeper/gracekeeper/cmd/gracekeeper/internal/cli"
)

const (
	// selftestPod is the name of the Pod selftest sends; it is never stored.
	selftestPod = "gracekeeper-selftest"
	// selftestRetry bounds the retries of a failed dry-run create.
	selftestRetry = 30 * time.Second
)

// Run proves the installed webhook answers: it sends a server-side dry-run
// create of a Pod to a namespace in enforce mode and checks that the Pod came
// back with gracekeeper's preStop hook. The chart runs it as its helm test.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := cli.NewFlagSet("selftest", "Usage: gracekeeper selftest --namespace NAME [kubectl connection flags]\n\n"+
		"Sends a server-side dry-run create of a Pod to NAME, a namespace labelled\n"+
		"gracekeeper.io/mode=enforce, and fails unless gracekeeper injected its\n"+
		"preStop hook. Nothing is stored. Needs create on pods in NAME.", stderr)
	// kubectl's connection flags, --namespace among them: the namespace in
	// enforce mode to send the dry-run Pod to.
	connection := cli.ConnectionFlags(flags, true)
	if err := cli.ParseFlags(flags, args); err != nil {
		return err
	}
	namespace := connection.Namespace
	if namespace == nil || *namespace == "" {
		return fmt.Errorf("%w: --namespace is required", cli.ErrUsage)
	}
	client, err := cli.Clientset(connection)
	if err != nil {
		return err
	}
	return selftest(ctx, client, *namespace, stdout)
}

// selftest sends the dry-run Pod to namespace and checks gracekeeper's
// answer.
func selftest(ctx context.Context, client kubernetes.Interface, namespace string, stdout io.Writer) error {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: selftestPod},
		// Restricted, so that a namespace enforcing that Pod Security level
		// admits it.
		Spec: corev1.PodSpec{
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   ptr.To(true),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name: "app", Image: "gracekeeper.invalid/selftest",
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
			}},
		},
	}
	// A namespace created just before (the chart's test hook) has no default
	// ServiceAccount for a moment, which the API server's admission requires:
	// that error is retried for selftestRetry.
	var got *corev1.Pod
	err := wait.PollUntilContextTimeout(ctx, time.Second, selftestRetry, true, func(ctx context.Context) (bool, error) {
		var err error
		got, err = client.CoreV1().Pods(namespace).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil && strings.Contains(err.Error(), "service account") {
			fmt.Fprintf(stdout, "dry-run create of pod %s/%s: %v; retrying\n", namespace, selftestPod, err)
			return false, nil
		}
		return true, err
	})
	if err != nil {
		return fmt.Errorf("dry-run create of pod %s/%s: %w", namespace, selftestPod, err)
	}
	hook := got.Spec.Containers[0].Lifecycle
	if hook == nil || hook.PreStop == nil {
		return fmt.Errorf("the API server admitted pod %s/%s without gracekeeper's preStop hook: "+
			"check that namespace %s is labelled gracekeeper.io/mode=enforce and that the webhook is ready; "+
			"apiserver_admission_webhook_fail_open_count counts calls that failed open", namespace, selftestPod, namespace)
	}
	grace := "unset"
	if got.Spec.TerminationGracePeriodSeconds != nil {
		grace = fmt.Sprintf("%ds", *got.Spec.TerminationGracePeriodSeconds)
	}
	fmt.Fprintf(stdout, "gracekeeper answered: pod %s/%s (dry run) came back with a preStop hook (%s) and terminationGracePeriodSeconds %s\n",
		namespace, selftestPod, describeHook(hook.PreStop), grace)
	return nil
}

func describeHook(h *corev1.LifecycleHandler) string {
	switch {
	case h.Sleep != nil:
		return fmt.Sprintf("sleep %ds", h.Sleep.Seconds)
	case h.Exec != nil:
		return fmt.Sprintf("exec %q", h.Exec.Command)
	}
	return "another action"
}
