// Package cleanup is "gracekeeper cleanup", the chart's pre-delete hook.
package cleanup

import (
	"context"
	"errors"
	"fmt"
	"io"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/gracekeeper/gracekeeper/cmd/gracekeeper/internal/cli"
)

// Run deletes gracekeeper's webhook configurations. The Helm chart runs
// it as a pre-delete hook: Helm 3 would otherwise delete them no earlier than
// the webhook's Deployment, leaving the API server calling a webhook that is
// gone.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := cli.NewFlagSet("cleanup", "Usage: gracekeeper cleanup --mutating NAME --validating NAME [--kubeconfig FILE] [kubectl connection flags]\n\n"+
		"Deletes the webhook configurations; ones already gone count as deleted.", stderr)
	mutating := flags.String("mutating", "", "name of the MutatingWebhookConfiguration to delete")
	validating := flags.String("validating", "", "name of the ValidatingWebhookConfiguration to delete")
	// kubectl's connection flags; the namespace is not one: the
	// configurations are cluster-scoped.
	connection := cli.ConnectionFlags(flags, false)
	if err := cli.ParseFlags(flags, args); err != nil {
		return err
	}
	if *mutating == "" && *validating == "" {
		return fmt.Errorf("%w: give --mutating, --validating or both", cli.ErrUsage)
	}

	client, err := cli.Clientset(connection)
	if err != nil {
		return err
	}
	return deleteWebhookConfigurations(ctx, client, *mutating, *validating, stdout)
}

// deleteWebhookConfigurations deletes the named configurations, skipping empty
// names. A configuration that does not exist is already cleaned up.
func deleteWebhookConfigurations(ctx context.Context, client kubernetes.Interface, mutating, validating string, stdout io.Writer) error {
	admission := client.AdmissionregistrationV1()
	deletions := []struct {
		kind, name string
		delete     func(context.Context, string, metav1.DeleteOptions) error
	}{
		{"mutatingwebhookconfiguration", mutating, admission.MutatingWebhookConfigurations().Delete},
		{"validatingwebhookconfiguration", validating, admission.ValidatingWebhookConfigurations().Delete},
	}
	var errs []error
	for _, d := range deletions {
		if d.name == "" {
			continue
		}
		err := d.delete(ctx, d.name, metav1.DeleteOptions{})
		switch {
		case err == nil:
			fmt.Fprintf(stdout, "%s %s deleted\n", d.kind, d.name)
		case apierrors.IsNotFound(err):
			fmt.Fprintf(stdout, "%s %s not found, nothing to delete\n", d.kind, d.name)
		default:
			errs = append(errs, fmt.Errorf("delete %s %s: %w", d.kind, d.name, err))
		}
	}
	return errors.Join(errs...)
}
